/*
 * The rules of an HTTP shared cache, with no I/O: see lib/http_cache.h
 * for what each function decides.
 *
 * Everything here reads bytes a client or an origin sent, so every scan
 * is bounded by the slice it is given and every number saturates rather
 * than overflows: a field that does not parse is read as the RFCs say
 * (an invalid Expires is "already expired", an invalid Age is ignored,
 * an invalid If-Modified-Since is ignored), never as an error that stops
 * the request.  Where the RFCs leave a choice, the cache takes the one
 * that makes it store or serve less.
 */
#include <stdint.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_cache.h"
#include "lib/http_parse.h"

/* ------------------------------------------------------------------ */
/* Characters, slices, numbers                                          */
/* ------------------------------------------------------------------ */

static int
hc_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
hc_icase_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && http_icase_eq(a, b, an);
}

static struct http_slice
hc_trim(struct http_slice s)
{
	while (s.len > 0 && http_is_ws((unsigned char)s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && http_is_ws((unsigned char)s.p[s.len - 1]))
		s.len--;
	return s;
}

static int64_t
hc_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t
hc_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* A bounded writer: once a write does not fit, every later one fails too. */
struct hc_out {
	char *p;
	size_t size;
	size_t len;
	int ok;
};

static void
hc_out_bytes(struct hc_out *o, const char *s, size_t n)
{
	if (!o->ok || o->size - o->len < n) {
		o->ok = 0;
		return;
	}
	if (n > 0)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
hc_out_str(struct hc_out *o, const char *s)
{
	hc_out_bytes(o, s, strlen(s));
}

static void
hc_out_lower(struct hc_out *o, const char *s, size_t n)
{
	size_t i;

	if (!o->ok || o->size - o->len < n) {
		o->ok = 0;
		return;
	}
	for (i = 0; i < n; i++)
		o->p[o->len + i] = (char)http_lower((unsigned char)s[i]);
	o->len += n;
}

static void
hc_out_uint(struct hc_out *o, uint64_t u)
{
	char b[24];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	hc_out_bytes(o, b + i, sizeof(b) - i);
}

static void
hc_out_int(struct hc_out *o, int64_t v)
{
	if (v < 0)
		hc_out_str(o, "-");
	hc_out_uint(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

/* CT_OK with *len when every write fitted, else CT_ERROR. */
static int
hc_out_done(const struct hc_out *o, size_t *len)
{
	if (!o->ok)
		return CT_ERROR;
	*len = o->len;
	return CT_OK;
}

/* Whether name is one of names[0..n), in any case. */
static int
hc_name_in(struct http_slice name, const char *const *names, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (http_slice_eq(name, names[k]))
			return 1;
	return 0;
}

/* The next field named name from *i on, or NULL; *i moves past it. */
static const struct http_header *
hc_field_next(const struct http_head *h, const char *name, size_t *i)
{
	while (*i < h->nheaders) {
		const struct http_header *f = &h->headers[(*i)++];

		if (http_slice_eq(f->name, name))
			return f;
	}
	return NULL;
}

static size_t
hc_field_count(const struct http_head *h, const char *name)
{
	size_t i = 0, n = 0;

	while (hc_field_next(h, name, &i) != NULL)
		n++;
	return n;
}

/*
 * The next element of a comma-separated list (RFC 9110 5.6.1) from
 * *pos, whitespace trimmed, empty elements skipped; a quoted-string
 * keeps its commas.  Returns 0 at the end.
 */
static int
hc_list_next(struct http_slice v, size_t *pos, struct http_slice *e)
{
	size_t i = *pos, start;
	int quoted = 0;

	while (i < v.len && (v.p[i] == ',' || http_is_ws((unsigned char)v.p[i])))
		i++;
	if (i >= v.len) {
		*pos = i;
		return 0;
	}
	start = i;
	for (; i < v.len; i++) {
		if (quoted) {
			if (v.p[i] == '\\' && i + 1 < v.len)
				i++;
			else if (v.p[i] == '"')
				quoted = 0;
		} else if (v.p[i] == '"') {
			quoted = 1;
		} else if (v.p[i] == ',') {
			break;
		}
	}
	e->p = v.p + start;
	e->len = i - start;
	*e = hc_trim(*e);
	*pos = i < v.len ? i + 1 : i;
	return 1;
}

/* Whether any element of any field named name is token (case-insensitive). */
static int
hc_fields_list(const struct http_head *h, const char *name, const char *token)
{
	const struct http_header *f;
	struct http_slice e;
	size_t i = 0, pos;

	while ((f = hc_field_next(h, name, &i)) != NULL)
		for (pos = 0; hc_list_next(f->value, &pos, &e); )
			if (http_slice_eq(e, token))
				return 1;
	return 0;
}

/* Digits at *i, saturating; 0 if there are none. */
static int
hc_pos_read(struct http_slice s, size_t *i, uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < s.len && http_is_digit((unsigned char)s.p[*i])) {
		unsigned d = (unsigned)(s.p[*i] - '0');

		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
		(*i)++;
	}
	return *i > start;
}

int
http_cache_delta_parse(struct http_slice s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0)
		return CT_ERROR;
	for (i = 0; i < s.len; i++) {
		if (!http_is_digit((unsigned char)s.p[i]))
			return CT_ERROR;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
		if (v > HTTP_CACHE_DELTA_MAX)
			v = HTTP_CACHE_DELTA_MAX;
	}
	*out = (uint32_t)v;
	return CT_OK;
}

int
http_cache_field_listed(struct http_slice list, struct http_slice name)
{
	struct http_slice e;
	size_t pos = 0;

	while (hc_list_next(list, &pos, &e))
		if (hc_icase_eq(e.p, e.len, name.p, name.len))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Cache-Control                                                        */
/* ------------------------------------------------------------------ */

/* How a directive reads its argument; see struct http_cache_control. */
enum hc_cc_kind {
	HC_CC_RESTRICT,               /* no argument; held whatever follows */
	HC_CC_PERMIT,                 /* no argument; dropped with one */
	HC_CC_DELTA_ZERO,             /* delta-seconds; invalid is 0 */
	HC_CC_DELTA_MAX,              /* delta-seconds; invalid is HTTP_CACHE_DELTA_MAX */
	HC_CC_DELTA_DROP,             /* delta-seconds; invalid drops it */
	HC_CC_DELTA_OPTIONAL,         /* max-stale: bare is HTTP_CACHE_DELTA_MAX */
	HC_CC_FIELDS                  /* no-cache, private: bare or a list of field names */
};

struct hc_cc_def {
	const char *name;
	uint32_t flag;
	enum hc_cc_kind kind;
};

static const struct hc_cc_def hc_cc_defs[] = {
	{ "no-store",               HTTP_CC_NO_STORE,         HC_CC_RESTRICT },
	{ "no-cache",               HTTP_CC_NO_CACHE,         HC_CC_FIELDS },
	{ "private",                HTTP_CC_PRIVATE,          HC_CC_FIELDS },
	{ "public",                 HTTP_CC_PUBLIC,           HC_CC_PERMIT },
	{ "must-revalidate",        HTTP_CC_MUST_REVALIDATE,  HC_CC_RESTRICT },
	{ "proxy-revalidate",       HTTP_CC_PROXY_REVALIDATE, HC_CC_RESTRICT },
	{ "must-understand",        HTTP_CC_MUST_UNDERSTAND,  HC_CC_RESTRICT },
	{ "no-transform",           HTTP_CC_NO_TRANSFORM,     HC_CC_RESTRICT },
	{ "immutable",              HTTP_CC_IMMUTABLE,        HC_CC_PERMIT },
	{ "only-if-cached",         HTTP_CC_ONLY_IF_CACHED,   HC_CC_RESTRICT },
	{ "max-age",                HTTP_CC_MAX_AGE,          HC_CC_DELTA_ZERO },
	{ "s-maxage",               HTTP_CC_S_MAXAGE,         HC_CC_DELTA_ZERO },
	{ "max-stale",              HTTP_CC_MAX_STALE,        HC_CC_DELTA_OPTIONAL },
	{ "min-fresh",              HTTP_CC_MIN_FRESH,        HC_CC_DELTA_MAX },
	{ "stale-while-revalidate", HTTP_CC_SWR,              HC_CC_DELTA_DROP },
	{ "stale-if-error",         HTTP_CC_SIE,              HC_CC_DELTA_DROP },
};

/* One directive of a list element: name, and its argument if any. */
struct hc_directive {
	struct http_slice name;
	struct http_slice arg;        /* a quoted-string's content, without the quotes */
	unsigned has_arg:1;
	unsigned bad:1;               /* the element is not name [ "=" token / quoted-string ] */
};

/*
 * Reads an element.  Whitespace around '=' is accepted: it breaks no
 * grammar a sender could mean otherwise, and refusing it would turn
 * "max-age = 5" into "no max-age" rather than into an invalid one.
 */
static void
hc_directive_read(struct http_slice e, struct hc_directive *d)
{
	size_t i = 0, start;

	memset(d, 0, sizeof(*d));
	while (i < e.len && http_is_tchar((unsigned char)e.p[i]))
		i++;
	d->name.p = e.p;
	d->name.len = i;
	while (i < e.len && http_is_ws((unsigned char)e.p[i]))
		i++;
	if (i == e.len)
		return;
	d->has_arg = 1;
	if (e.p[i] != '=') {
		d->bad = 1;
		return;
	}
	i++;
	while (i < e.len && http_is_ws((unsigned char)e.p[i]))
		i++;
	if (i < e.len && e.p[i] == '"') {
		start = ++i;
		while (i < e.len && e.p[i] != '"')
			i += e.p[i] == '\\' ? 2 : 1;
		if (i >= e.len) {
			d->bad = 1;
			return;
		}
		d->arg.p = e.p + start;
		d->arg.len = i - start;
		i++;
	} else {
		start = i;
		while (i < e.len && http_is_tchar((unsigned char)e.p[i]))
			i++;
		d->arg.p = e.p + start;
		d->arg.len = i - start;
		if (d->arg.len == 0)
			d->bad = 1;
	}
	if (i != e.len)
		d->bad = 1;
}

static uint32_t *
hc_cc_value(struct http_cache_control *cc, uint32_t flag)
{
	switch (flag) {
	case HTTP_CC_MAX_AGE:
		return &cc->max_age;
	case HTTP_CC_S_MAXAGE:
		return &cc->s_maxage;
	case HTTP_CC_MAX_STALE:
		return &cc->max_stale;
	case HTTP_CC_MIN_FRESH:
		return &cc->min_fresh;
	case HTTP_CC_SWR:
		return &cc->swr;
	default:
		return &cc->sie;
	}
}

/* A directive with a number: the first sets it, a different later one spoils it. */
static void
hc_cc_delta(struct http_cache_control *cc, const struct hc_cc_def *def,
    const struct hc_directive *d)
{
	uint32_t *val = hc_cc_value(cc, def->flag), v = 0;
	int ok, seen = ((cc->flags | cc->invalid) & def->flag) != 0;

	if (def->kind == HC_CC_DELTA_OPTIONAL && !d->has_arg) {
		ok = 1;
		v = HTTP_CACHE_DELTA_MAX;
	} else {
		ok = !d->bad && d->has_arg && http_cache_delta_parse(d->arg, &v) == CT_OK;
	}
	if (ok && (!seen || ((cc->flags & def->flag) && *val == v))) {
		cc->flags |= def->flag;
		*val = v;
		return;
	}
	cc->invalid |= def->flag;
	switch (def->kind) {
	case HC_CC_DELTA_ZERO:
		cc->flags |= def->flag;
		*val = 0;
		break;
	case HC_CC_DELTA_MAX:
		cc->flags |= def->flag;
		*val = HTTP_CACHE_DELTA_MAX;
		break;
	default:
		cc->flags &= ~def->flag;
		*val = 0;
		break;
	}
}

/* no-cache and private: a list is kept only while it is the only form seen. */
static void
hc_cc_fields(struct http_cache_control *cc, const struct hc_cc_def *def,
    const struct hc_directive *d)
{
	struct http_slice *list = def->flag == HTTP_CC_NO_CACHE ? &cc->no_cache_fields :
	    &cc->private_fields;
	struct http_slice l = hc_trim(d->arg);
	int seen = (cc->flags & def->flag) != 0;

	cc->flags |= def->flag;
	if (d->bad)
		cc->invalid |= def->flag;
	if (seen || d->bad || !d->has_arg || l.len == 0) {
		list->p = NULL;
		list->len = 0;
		return;
	}
	*list = l;
}

static void
hc_cc_apply(struct http_cache_control *cc, const struct hc_directive *d)
{
	const struct hc_cc_def *def = NULL;
	size_t k;

	for (k = 0; k < CT_NELEM(hc_cc_defs); k++)
		if (http_slice_eq(d->name, hc_cc_defs[k].name)) {
			def = &hc_cc_defs[k];
			break;
		}
	if (def == NULL)
		return;
	switch (def->kind) {
	case HC_CC_RESTRICT:
		cc->flags |= def->flag;
		if (d->has_arg)
			cc->invalid |= def->flag;
		break;
	case HC_CC_PERMIT:
		if (d->has_arg || (cc->invalid & def->flag)) {
			cc->invalid |= def->flag;
			cc->flags &= ~def->flag;
		} else {
			cc->flags |= def->flag;
		}
		break;
	case HC_CC_FIELDS:
		hc_cc_fields(cc, def, d);
		break;
	default:
		hc_cc_delta(cc, def, d);
		break;
	}
}

void
http_cache_control_add(struct http_cache_control *cc, struct http_slice value)
{
	struct hc_directive d;
	struct http_slice e;
	size_t pos = 0;

	while (hc_list_next(value, &pos, &e)) {
		hc_directive_read(e, &d);
		if (d.name.len > 0)
			hc_cc_apply(cc, &d);
	}
}

void
http_cache_control_parse(const struct http_head *h, int request, struct http_cache_control *cc)
{
	const struct http_header *f;
	size_t i = 0, n = 0;

	memset(cc, 0, sizeof(*cc));
	while ((f = hc_field_next(h, "cache-control", &i)) != NULL) {
		http_cache_control_add(cc, f->value);
		n++;
	}
	if (request && n == 0 && hc_fields_list(h, "pragma", "no-cache"))
		cc->flags |= HTTP_CC_NO_CACHE;
}

/* ------------------------------------------------------------------ */
/* HTTP-date                                                            */
/* ------------------------------------------------------------------ */

static const char *const hc_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static const char *const hc_days[7] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};

static const char *const hc_days_long[7] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
};

/* now is clamped to years 0 to 9999, where every sum below fits. */
#define HC_TIME_MIN INT64_C(-62167219200)   /* 0000-01-01T00:00:00Z */
#define HC_TIME_MAX INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
hc_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t
hc_year_of(int64_t t)
{
	int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	return yoe + era * 400 + (mp >= 10);
}

static int
hc_days_in_month(int64_t y, int m)
{
	static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* A cursor over a date; every step fails once a byte does not fit. */
struct hc_scan {
	const char *p;
	size_t n;
	size_t i;
	int ok;
};

static void
hc_scan_lit(struct hc_scan *sc, const char *lit)
{
	size_t n = strlen(lit);

	if (sc->ok && sc->n - sc->i >= n && memcmp(sc->p + sc->i, lit, n) == 0)
		sc->i += n;
	else
		sc->ok = 0;
}

static int
hc_scan_digits(struct hc_scan *sc, size_t count)
{
	int v = 0;
	size_t k;

	if (!sc->ok || sc->n - sc->i < count) {
		sc->ok = 0;
		return 0;
	}
	for (k = 0; k < count; k++) {
		if (!http_is_digit((unsigned char)sc->p[sc->i + k])) {
			sc->ok = 0;
			return 0;
		}
		v = v * 10 + (sc->p[sc->i + k] - '0');
	}
	sc->i += count;
	return v;
}

/* Index of the name of names[] at the cursor, or -1. */
static int
hc_scan_name(struct hc_scan *sc, const char *const *names, int count)
{
	int k;

	for (k = 0; sc->ok && k < count; k++) {
		size_t n = strlen(names[k]);

		if (sc->n - sc->i >= n && memcmp(sc->p + sc->i, names[k], n) == 0) {
			sc->i += n;
			return k;
		}
	}
	sc->ok = 0;
	return -1;
}

struct hc_tm {
	int64_t year;
	int mon;                      /* 1..12 */
	int day;
	int hour;
	int min;
	int sec;
};

static void
hc_scan_time(struct hc_scan *sc, struct hc_tm *tm)
{
	tm->hour = hc_scan_digits(sc, 2);
	hc_scan_lit(sc, ":");
	tm->min = hc_scan_digits(sc, 2);
	hc_scan_lit(sc, ":");
	tm->sec = hc_scan_digits(sc, 2);
}

/* 00:00:00 to 23:59:60 (a leap second), and a day the month has. */
static int
hc_tm_valid(const struct hc_tm *tm)
{
	return tm->mon >= 1 && tm->mon <= 12 && tm->day >= 1 &&
	    tm->day <= hc_days_in_month(tm->year, tm->mon) &&
	    tm->hour <= 23 && tm->min <= 59 && tm->sec <= 60;
}

static int64_t
hc_tm_time(const struct hc_tm *tm)
{
	return hc_days_from_civil(tm->year, tm->mon, tm->day) * 86400 +
	    tm->hour * 3600 + tm->min * 60 + tm->sec;
}

/*
 * A two-digit year (RFC 9110 5.6.7): the latest year with those digits
 * whose date is not more than 50 years after now (50 years counted from
 * January 1 of now's year, leap days and all).
 */
static int
hc_rfc850_year(struct hc_tm *tm, int yy, int64_t now)
{
	int64_t cur = hc_year_of(now);
	int64_t limit = now + (hc_days_from_civil(cur + 50, 1, 1) -
	    hc_days_from_civil(cur, 1, 1)) * 86400;
	int64_t y;

	for (y = cur - cur % 100 + 100 + yy; y >= cur - 100; y -= 100) {
		tm->year = y;
		if (tm->day <= hc_days_in_month(y, tm->mon) && hc_tm_time(tm) <= limit)
			return 1;
	}
	return 0;
}

/*
 * The three forms of RFC 9110 5.6.7 as patterns: %a a day-name, %A a
 * long one, %d two digits of day, %e a day as two digits or SP DIGIT,
 * %m a month, %Y four digits of year, %y two, %T hh:mm:ss; any other
 * byte stands for itself.
 */
static const char *const hc_date_forms[] = {
	"%a, %d %m %Y %T GMT",        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	"%A, %d-%m-%y %T GMT",        /* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
	"%a %m %e %T %Y",             /* asctime-date: Sun Nov  6 08:49:37 1994 */
};

/* s against one form; *yy is the two-digit year, or -1. */
static int
hc_date_form(struct http_slice s, const char *form, struct hc_tm *tm, int *yy)
{
	struct hc_scan sc = { s.p, s.len, 0, 1 };
	char lit[2] = { 0, 0 };

	memset(tm, 0, sizeof(*tm));
	*yy = -1;
	for (; *form != '\0' && sc.ok; form++) {
		if (*form != '%') {
			lit[0] = *form;
			hc_scan_lit(&sc, lit);
			continue;
		}
		switch (*++form) {
		case 'a':
			hc_scan_name(&sc, hc_days, 7);
			break;
		case 'A':
			hc_scan_name(&sc, hc_days_long, 7);
			break;
		case 'd':
			tm->day = hc_scan_digits(&sc, 2);
			break;
		case 'e':
			if (sc.i < sc.n && sc.p[sc.i] == ' ') {
				sc.i++;
				tm->day = hc_scan_digits(&sc, 1);
			} else {
				tm->day = hc_scan_digits(&sc, 2);
			}
			break;
		case 'm':
			tm->mon = hc_scan_name(&sc, hc_months, 12) + 1;
			break;
		case 'Y':
			tm->year = hc_scan_digits(&sc, 4);
			break;
		case 'y':
			*yy = hc_scan_digits(&sc, 2);
			break;
		default:
			hc_scan_time(&sc, tm);
			break;
		}
	}
	return sc.ok && sc.i == sc.n;
}

int
http_cache_date_parse(struct http_slice s, int64_t now, int64_t *out)
{
	struct hc_tm tm;
	size_t k;
	int yy;

	now = now < HC_TIME_MIN ? HC_TIME_MIN : now > HC_TIME_MAX ? HC_TIME_MAX : now;
	for (k = 0; k < CT_NELEM(hc_date_forms); k++) {
		if (!hc_date_form(s, hc_date_forms[k], &tm, &yy))
			continue;
		if ((yy >= 0 && (tm.mon < 1 || !hc_rfc850_year(&tm, yy, now))) || !hc_tm_valid(&tm))
			return CT_ERROR;
		*out = hc_tm_time(&tm);
		return CT_OK;
	}
	return CT_ERROR;
}

/* The first field named name as a date, or CT_ERROR when absent or invalid. */
static int
hc_field_date(const struct http_head *h, const char *name, int64_t now, int64_t *out)
{
	const struct http_header *f = http_header_find(h, name);

	return f != NULL ? http_cache_date_parse(f->value, now, out) : CT_ERROR;
}

/* ------------------------------------------------------------------ */
/* Storing                                                              */
/* ------------------------------------------------------------------ */

int
http_cache_status_understood(int code)
{
	/* RFC 9110 15, RFC 6585 (428, 429, 431, 511), RFC 7725 (451). */
	return (code >= 200 && code <= 206) || (code >= 300 && code <= 305) ||
	    code == 307 || code == 308 || (code >= 400 && code <= 417) ||
	    code == 421 || code == 422 || code == 426 || code == 428 || code == 429 ||
	    code == 431 || code == 451 || (code >= 500 && code <= 505) || code == 511;
}

int
http_cache_status_heuristic(int code)
{
	switch (code) {
	case 200: case 203: case 204: case 206: case 300: case 301: case 308:
	case 404: case 405: case 410: case 414: case 501:
		return 1;
	default:
		return 0;
	}
}

static const char *const hc_store_names[] = {
	[HTTP_CACHE_STORE_OK] = "stored",
	[HTTP_CACHE_STORE_METHOD] = "method",
	[HTTP_CACHE_STORE_STATUS] = "status",
	[HTTP_CACHE_STORE_PARTIAL] = "partial",
	[HTTP_CACHE_STORE_NO_STORE_REQ] = "request-no-store",
	[HTTP_CACHE_STORE_NO_STORE] = "no-store",
	[HTTP_CACHE_STORE_PRIVATE] = "private",
	[HTTP_CACHE_STORE_AUTHORIZATION] = "authorization",
	[HTTP_CACHE_STORE_SET_COOKIE] = "set-cookie",
	[HTTP_CACHE_STORE_VARY_STAR] = "vary-star",
	[HTTP_CACHE_STORE_NO_FRESHNESS] = "no-freshness",
	[HTTP_CACHE_STORE_UNCACHEABLE] = "uncacheable",
};

const char *
http_cache_store_name(enum http_cache_store why)
{
	if ((size_t)why >= CT_NELEM(hc_store_names))
		return "unknown";
	return hc_store_names[why];
}

static unsigned
hc_method(struct http_slice m)
{
	if (http_slice_is(m, "GET"))
		return HTTP_CACHE_METHOD_GET;
	if (http_slice_is(m, "HEAD"))
		return HTTP_CACHE_METHOD_HEAD;
	return 0;
}

/* The status part of RFC 9111 3: final, and understood where it must be. */
static enum http_cache_store
hc_store_status(const struct http_response *resp, const struct http_cache_control *cc)
{
	if (resp->code < 200 || resp->code == 304)
		return HTTP_CACHE_STORE_STATUS;
	if ((cc->flags & HTTP_CC_MUST_UNDERSTAND) && !http_cache_status_understood(resp->code))
		return HTTP_CACHE_STORE_STATUS;
	if (resp->code == 206 || http_header_find(&resp->h, "content-range") != NULL)
		return HTTP_CACHE_STORE_PARTIAL;
	return HTTP_CACHE_STORE_OK;
}

/*
 * Whether resp, stored now, could ever be served: what http_cache_serve()
 * says at once to a request with no directives, or stale-if-error.  A
 * response with no validator that is stale on arrival (no-cache,
 * max-age=0, an Expires not after Date, no lifetime at all) would be
 * fetched anew by every request, and each would store it again and
 * evict an object that is of use.  Only a request's max-stale (RFC 9111
 * 4.2.4) could take it; that rare request does not pay for the evictions.
 * The request's time is taken as the response's: the age is the least
 * it can be, so a response that is stale here is stale for sure.
 */
static int
hc_servable(const struct http_response *resp, const struct http_cache_control *cc,
    const struct http_cache_store_opts *opts)
{
	struct http_cache_control none;
	struct http_cache_decision d;
	struct http_cache_meta m;

	memset(&none, 0, sizeof(none));
	http_cache_meta_make(&m, resp, cc, opts->response_time, opts->response_time,
	    opts->fallback);
	return http_cache_serve(&m, &none, opts->response_time, &d) != HTTP_CACHE_MISS ||
	    http_cache_stale_if_error(&m, &none, opts->response_time);
}

enum http_cache_store
http_cache_storable(const struct http_request *req, const struct http_cache_control *req_cc,
    const struct http_response *resp, const struct http_cache_control *resp_cc,
    const struct http_cache_store_opts *opts)
{
	unsigned methods = opts->methods != 0 ? opts->methods : HTTP_CACHE_METHOD_GET;
	enum http_cache_store st;

	if ((hc_method(req->method) & methods) == 0)
		return HTTP_CACHE_STORE_METHOD;
	if ((st = hc_store_status(resp, resp_cc)) != HTTP_CACHE_STORE_OK)
		return st;
	if (req_cc->flags & HTTP_CC_NO_STORE)
		return HTTP_CACHE_STORE_NO_STORE_REQ;
	/* 5.2.2.3: a cache that understands the status may ignore no-store then. */
	if ((resp_cc->flags & HTTP_CC_NO_STORE) && !(resp_cc->flags & HTTP_CC_MUST_UNDERSTAND))
		return HTTP_CACHE_STORE_NO_STORE;
	if ((resp_cc->flags & HTTP_CC_PRIVATE) && resp_cc->private_fields.len == 0)
		return HTTP_CACHE_STORE_PRIVATE;
	if (http_header_find(&req->h, "authorization") != NULL &&
	    !(resp_cc->flags & (HTTP_CC_MUST_REVALIDATE | HTTP_CC_PUBLIC | HTTP_CC_S_MAXAGE)))
		return HTTP_CACHE_STORE_AUTHORIZATION;
	if (!opts->allow_set_cookie && http_header_find(&resp->h, "set-cookie") != NULL)
		return HTTP_CACHE_STORE_SET_COOKIE;
	if (hc_fields_list(&resp->h, "vary", "*"))
		return HTTP_CACHE_STORE_VARY_STAR;
	if (http_header_find(&resp->h, "expires") == NULL &&
	    !(resp_cc->flags & (HTTP_CC_MAX_AGE | HTTP_CC_S_MAXAGE | HTTP_CC_PUBLIC)) &&
	    !http_cache_status_heuristic(resp->code) && opts->fallback == 0)
		return HTTP_CACHE_STORE_NO_FRESHNESS;
	if (!hc_servable(resp, resp_cc, opts))
		return HTTP_CACHE_STORE_UNCACHEABLE;
	return HTTP_CACHE_STORE_OK;
}

/* RFC 9111 3.1 and RFC 9110 7.6.1: fields that belong to one connection or one proxy. */
static const char *const hc_unstored[] = {
	"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding",
	"upgrade", "trailer", "proxy-authenticate", "proxy-authentication-info",
	"proxy-authorization",
};

int
http_cache_field_kept(struct http_slice name, const struct http_cache_control *cc,
    int allow_set_cookie)
{
	if (hc_name_in(name, hc_unstored, CT_NELEM(hc_unstored)))
		return 0;
	if (!allow_set_cookie && http_slice_eq(name, "set-cookie"))
		return 0;
	if (cc != NULL && (http_cache_field_listed(cc->private_fields, name) ||
	    http_cache_field_listed(cc->no_cache_fields, name)))
		return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Freshness and age                                                    */
/* ------------------------------------------------------------------ */

int64_t
http_cache_lifetime(const struct http_response *resp, const struct http_cache_control *cc,
    int64_t date, int64_t now, uint32_t fallback, enum http_cache_lifetime_src *src)
{
	int64_t expires, lm, lt;

	if (cc->flags & HTTP_CC_S_MAXAGE) {
		*src = HTTP_CACHE_LT_S_MAXAGE;
		return cc->s_maxage;
	}
	if (cc->flags & HTTP_CC_MAX_AGE) {
		*src = HTTP_CACHE_LT_MAX_AGE;
		return cc->max_age;
	}
	if (http_header_find(&resp->h, "expires") != NULL) {
		/* 4.2.1: two Expires may be taken as stale, and are. */
		*src = HTTP_CACHE_LT_EXPIRES;
		if (hc_field_count(&resp->h, "expires") != 1 ||
		    hc_field_date(&resp->h, "expires", now, &expires) != CT_OK)
			return 0;
		lt = hc_sub(expires, date);
		return lt > 0 ? lt : 0;
	}
	/* The operator's word before the cache's guess: see the header. */
	if (fallback > 0) {
		*src = HTTP_CACHE_LT_FALLBACK;
		return fallback;
	}
	if ((http_cache_status_heuristic(resp->code) || (cc->flags & HTTP_CC_PUBLIC)) &&
	    hc_field_date(&resp->h, "last-modified", now, &lm) == CT_OK && lm <= date) {
		*src = HTTP_CACHE_LT_HEURISTIC;
		lt = hc_sub(date, lm) / 10;
		return lt < HTTP_CACHE_HEURISTIC_MAX ? lt : HTTP_CACHE_HEURISTIC_MAX;
	}
	*src = HTTP_CACHE_LT_NONE;
	return 0;
}

void
http_cache_age_compute(int64_t date_value, int64_t age_value, int64_t request_time,
    int64_t response_time, struct http_cache_age *out)
{
	int64_t apparent = hc_sub(response_time, date_value);

	out->apparent_age = apparent > 0 ? apparent : 0;
	out->response_delay = hc_sub(response_time, request_time);
	out->corrected_age_value = hc_add(age_value, out->response_delay);
	out->corrected_initial_age = CT_MAX(out->apparent_age, out->corrected_age_value);
}

void
http_cache_meta_make(struct http_cache_meta *m, const struct http_response *resp,
    const struct http_cache_control *cc, int64_t request_time, int64_t response_time,
    uint32_t fallback)
{
	const struct http_header *f;
	enum http_cache_lifetime_src src;
	struct http_cache_validators v;
	struct http_cache_age age;
	uint32_t age_value = 0;

	memset(m, 0, sizeof(*m));
	m->request_time = request_time;
	m->response_time = response_time;
	if (hc_field_date(&resp->h, "date", response_time, &m->date) != CT_OK)
		m->date = response_time;
	if ((f = http_header_find(&resp->h, "age")) != NULL &&
	    http_cache_delta_parse(f->value, &age_value) != CT_OK)
		age_value = 0;
	http_cache_age_compute(m->date, age_value, request_time, response_time, &age);
	m->corrected_initial_age = age.corrected_initial_age;
	m->lifetime = http_cache_lifetime(resp, cc, m->date, response_time, fallback, &src);
	m->status = (uint16_t)resp->code;
	if (src == HTTP_CACHE_LT_HEURISTIC)
		m->flags |= HTTP_CACHE_M_HEURISTIC;
	if (cc->flags & HTTP_CC_NO_CACHE)
		m->flags |= HTTP_CACHE_M_NO_CACHE;
	if (cc->flags & (HTTP_CC_MUST_REVALIDATE | HTTP_CC_PROXY_REVALIDATE | HTTP_CC_S_MAXAGE))
		m->flags |= HTTP_CACHE_M_NO_STALE;
	if (cc->flags & HTTP_CC_IMMUTABLE)
		m->flags |= HTTP_CACHE_M_IMMUTABLE;
	if (cc->flags & HTTP_CC_SWR) {
		m->flags |= HTTP_CACHE_M_SWR;
		m->swr = cc->swr;
	}
	if (cc->flags & HTTP_CC_SIE) {
		m->flags |= HTTP_CACHE_M_SIE;
		m->sie = cc->sie;
	}
	/* A validator that does not parse would make a conditional request with none. */
	http_cache_validators(&resp->h, &v);
	if (v.if_none_match.len > 0 || v.if_modified_since.len > 0)
		m->flags |= HTTP_CACHE_M_VALIDATOR;
}

/* current_age, uncapped: the decisions compare it with lifetimes. */
static int64_t
hc_current_age(const struct http_cache_meta *m, int64_t now)
{
	return hc_add(m->corrected_initial_age, hc_sub(now, m->response_time));
}

int64_t
http_cache_age_current(const struct http_cache_meta *m, int64_t now)
{
	int64_t age = hc_current_age(m, now);

	return age < 0 ? 0 : age > HTTP_CACHE_DELTA_MAX ? HTTP_CACHE_DELTA_MAX : age;
}

/* ------------------------------------------------------------------ */
/* Serving                                                              */
/* ------------------------------------------------------------------ */

static enum http_cache_action
hc_forward(const struct http_cache_meta *m, const struct http_cache_control *req_cc)
{
	if (req_cc->flags & HTTP_CC_ONLY_IF_CACHED)
		return HTTP_CACHE_GATEWAY_TIMEOUT;
	if (m != NULL && (m->flags & HTTP_CACHE_M_VALIDATOR))
		return HTTP_CACHE_REVALIDATE;
	return HTTP_CACHE_MISS;
}

static enum http_cache_action
hc_serve(const struct http_cache_meta *m, const struct http_cache_control *req_cc, int64_t age)
{
	int64_t staleness;

	if ((m->flags & HTTP_CACHE_M_NO_CACHE) || (req_cc->flags & HTTP_CC_NO_CACHE))
		return hc_forward(m, req_cc);
	if ((req_cc->flags & HTTP_CC_MAX_AGE) && age > req_cc->max_age)
		return hc_forward(m, req_cc);
	if ((req_cc->flags & HTTP_CC_MIN_FRESH) && hc_sub(m->lifetime, age) < req_cc->min_fresh)
		return hc_forward(m, req_cc);
	if (m->lifetime > age)
		return HTTP_CACHE_HIT;
	if (m->flags & HTTP_CACHE_M_NO_STALE)
		return hc_forward(m, req_cc);
	staleness = hc_sub(age, m->lifetime);
	if ((req_cc->flags & HTTP_CC_MAX_STALE) && staleness <= req_cc->max_stale)
		return HTTP_CACHE_HIT_STALE;
	if ((m->flags & HTTP_CACHE_M_SWR) && staleness <= m->swr)
		return HTTP_CACHE_STALE_REVALIDATE;
	return hc_forward(m, req_cc);
}

enum http_cache_action
http_cache_serve(const struct http_cache_meta *m, const struct http_cache_control *req_cc,
    int64_t now, struct http_cache_decision *d)
{
	int64_t age;

	memset(d, 0, sizeof(*d));
	if (m == NULL) {
		d->action = hc_forward(NULL, req_cc);
		return d->action;
	}
	age = hc_current_age(m, now);
	d->age = http_cache_age_current(m, now);
	d->ttl = hc_sub(m->lifetime, age);
	d->action = hc_serve(m, req_cc, age);
	return d->action;
}

int
http_cache_stale_if_error(const struct http_cache_meta *m,
    const struct http_cache_control *req_cc, int64_t now)
{
	int64_t age = hc_current_age(m, now), staleness = hc_sub(age, m->lifetime);

	/* 4.2.4: no-cache forbids any use without validation, stale or not. */
	if ((m->flags & HTTP_CACHE_M_NO_CACHE) || (req_cc->flags & HTTP_CC_NO_CACHE))
		return 0;
	if (m->lifetime > age)
		return 1;
	if (m->flags & HTTP_CACHE_M_NO_STALE)
		return 0;
	return ((m->flags & HTTP_CACHE_M_SIE) && staleness <= m->sie) ||
	    ((req_cc->flags & HTTP_CC_SIE) && staleness <= req_cc->sie);
}

/* ------------------------------------------------------------------ */
/* Entity-tags and conditional requests                                 */
/* ------------------------------------------------------------------ */

/* An entity-tag (RFC 9110 8.8.3) at p: its length, or 0 if there is none. */
static size_t
hc_etag_scan(const char *p, size_t n, int *weak, struct http_slice *opaque)
{
	size_t i = 0;

	*weak = 0;
	if (n >= 2 && p[0] == 'W' && p[1] == '/') {
		*weak = 1;
		i = 2;
	}
	if (i >= n || p[i] != '"')
		return 0;
	opaque->p = p + i;
	for (i++; i < n && p[i] != '"'; i++) {
		unsigned char c = (unsigned char)p[i];

		/* etagc: %x21 / %x23-7E / obs-text */
		if (c < 0x21 || c == 0x7f)
			return 0;
	}
	if (i >= n)
		return 0;
	i++;
	opaque->len = (size_t)(p + i - opaque->p);
	return i;
}

/* One whole entity-tag, nothing around it. */
static int
hc_etag_parse(struct http_slice s, int *weak, struct http_slice *opaque)
{
	s = hc_trim(s);
	return s.len > 0 && hc_etag_scan(s.p, s.len, weak, opaque) == s.len;
}

int
http_cache_etag_match(struct http_slice a, struct http_slice b, int strong)
{
	struct http_slice oa, ob;
	int wa, wb;

	if (!hc_etag_parse(a, &wa, &oa) || !hc_etag_parse(b, &wb, &ob))
		return 0;
	if (strong && (wa || wb))
		return 0;
	return oa.len == ob.len && memcmp(oa.p, ob.p, oa.len) == 0;
}

/* The stored ETag if it is one valid entity-tag. */
static int
hc_stored_etag(const struct http_head *stored, struct http_slice *tag)
{
	const struct http_header *f = http_header_find(stored, "etag");
	struct http_slice opaque;
	int weak;

	if (f == NULL || !hc_etag_parse(f->value, &weak, &opaque))
		return 0;
	*tag = hc_trim(f->value);
	return 1;
}

/*
 * If-None-Match against the stored ETag: 1 if it matches (weakly), 0 if
 * not, -1 if a field is neither "*" nor a list of entity-tags.
 */
static int
hc_if_none_match(const struct http_head *req, const struct http_head *stored)
{
	const struct http_header *f;
	struct http_slice tag, opaque, mine;
	size_t i = 0, pos, used;
	int weak, have, match = 0;

	have = hc_stored_etag(stored, &mine);
	while ((f = hc_field_next(req, "if-none-match", &i)) != NULL) {
		if (http_slice_is(f->value, "*")) {
			match = 1;
			continue;
		}
		pos = 0;
		for (;;) {
			while (pos < f->value.len && (f->value.p[pos] == ',' ||
			    http_is_ws((unsigned char)f->value.p[pos])))
				pos++;
			if (pos == f->value.len)
				break;
			used = hc_etag_scan(f->value.p + pos, f->value.len - pos, &weak, &opaque);
			if (used == 0)
				return -1;
			tag.p = f->value.p + pos;
			tag.len = used;
			pos += used;
			if (pos < f->value.len && f->value.p[pos] != ',' &&
			    !http_is_ws((unsigned char)f->value.p[pos]))
				return -1;
			if (have && http_cache_etag_match(tag, mine, 0))
				match = 1;
		}
	}
	return match;
}

/* If-Modified-Since (RFC 9111 4.3.2): 1 not modified, 0 modified or ignored. */
static int
hc_if_modified_since(const struct http_head *req, const struct http_head *stored,
    int64_t received, int64_t now)
{
	int64_t ims, t;

	if (hc_field_count(req, "if-modified-since") != 1 ||
	    hc_field_date(req, "if-modified-since", now, &ims) != CT_OK || ims > now)
		return 0;
	if (hc_field_date(stored, "last-modified", now, &t) != CT_OK &&
	    hc_field_date(stored, "date", now, &t) != CT_OK)
		t = received;
	return t <= ims;
}

enum http_cache_cond
http_cache_conditional(const struct http_request *req, const struct http_head *stored,
    int stored_status, int64_t received, int64_t now)
{
	int inm;

	if (hc_method(req->method) == 0 || stored_status < 200 || stored_status > 299)
		return HTTP_CACHE_COND_FULL;
	if (http_header_find(&req->h, "if-match") != NULL ||
	    http_header_find(&req->h, "if-unmodified-since") != NULL)
		return HTTP_CACHE_COND_FORWARD;
	if (http_header_find(&req->h, "if-none-match") != NULL) {
		inm = hc_if_none_match(&req->h, stored);
		return inm == 1 ? HTTP_CACHE_COND_NOT_MODIFIED : HTTP_CACHE_COND_FULL;
	}
	return hc_if_modified_since(&req->h, stored, received, now) ?
	    HTTP_CACHE_COND_NOT_MODIFIED : HTTP_CACHE_COND_FULL;
}

void
http_cache_validators(const struct http_head *stored, struct http_cache_validators *v)
{
	const struct http_header *f = http_header_find(stored, "last-modified");
	int64_t t;

	memset(v, 0, sizeof(*v));
	hc_stored_etag(stored, &v->if_none_match);
	/* Any clock will do: a valid date parses whatever now is. */
	if (f != NULL && http_cache_date_parse(f->value, 0, &t) == CT_OK)
		v->if_modified_since = f->value;
}

/* ------------------------------------------------------------------ */
/* 304 updates                                                          */
/* ------------------------------------------------------------------ */

/* Fields a 304 does not bring into the stored head, beyond the unstored ones. */
static const char *const hc_not_updated[] = {
	"content-length", "content-range", "content-encoding", "transfer-encoding",
};

/* Whether a Connection field of h names name (RFC 9110 7.6.1). */
static int
hc_connection_names(const struct http_head *h, struct http_slice name)
{
	const struct http_header *c;
	size_t i = 0;

	while ((c = hc_field_next(h, "connection", &i)) != NULL)
		if (http_cache_field_listed(c->value, name))
			return 1;
	return 0;
}

static int
hc_update_takes(const struct http_head *nm, const struct http_header *f,
    const struct http_cache_control *cc, int allow_set_cookie)
{
	if (hc_name_in(f->name, hc_not_updated, CT_NELEM(hc_not_updated)))
		return 0;
	return http_cache_field_kept(f->name, cc, allow_set_cookie) &&
	    !hc_connection_names(nm, f->name);
}

void
http_cache_update_plan(const struct http_head *stored, const struct http_head *nm,
    int allow_set_cookie, enum http_cache_update *stored_plan, enum http_cache_update *nm_plan)
{
	struct http_cache_control cc;
	size_t i, j;

	/* The 304's Cache-Control replaces the stored one, if it has one. */
	http_cache_control_parse(http_header_find(nm, "cache-control") != NULL ? nm : stored,
	    0, &cc);
	for (j = 0; j < nm->nheaders; j++)
		nm_plan[j] = hc_update_takes(nm, &nm->headers[j], &cc, allow_set_cookie) ?
		    HTTP_CACHE_ADD : HTTP_CACHE_SKIP;
	for (i = 0; i < stored->nheaders; i++) {
		stored_plan[i] = HTTP_CACHE_KEEP;
		for (j = 0; j < nm->nheaders; j++)
			if (nm_plan[j] == HTTP_CACHE_ADD && hc_icase_eq(stored->headers[i].name.p,
			    stored->headers[i].name.len, nm->headers[j].name.p,
			    nm->headers[j].name.len)) {
				stored_plan[i] = HTTP_CACHE_DROP;
				break;
			}
	}
}

/*
 * A validator field of nm against the stored one: 0 when nm has none, 1
 * when they match (entity-tags strongly with strong set, else weakly;
 * dates equal), -1 when they differ or either does not parse.
 */
static int
hc_validator_cmp(const struct http_head *stored, const struct http_head *nm,
    const char *name, int strong, int64_t now)
{
	const struct http_header *f = http_header_find(nm, name);
	struct http_slice mine;
	int64_t a, b;

	if (f == NULL)
		return 0;
	if (http_slice_eq(f->name, "etag"))
		return hc_stored_etag(stored, &mine) &&
		    http_cache_etag_match(f->value, mine, strong) ? 1 : -1;
	return http_cache_date_parse(f->value, now, &a) == CT_OK &&
	    hc_field_date(stored, name, now, &b) == CT_OK && a == b ? 1 : -1;
}

int
http_cache_304_selects(const struct http_head *stored, const struct http_head *nm, int64_t now)
{
	const struct http_header *f = http_header_find(nm, "etag");
	struct http_slice opaque;
	int weak = 0, r;

	/* A strong tag selects by strong comparison, a weak one by weak. */
	if (f != NULL)
		(void)hc_etag_parse(f->value, &weak, &opaque);
	if ((r = hc_validator_cmp(stored, nm, "etag", !weak, now)) != 0)
		return r > 0;
	if ((r = hc_validator_cmp(stored, nm, "last-modified", 0, now)) != 0)
		return r > 0;
	return 1;
}

enum http_cache_head_fresh
http_cache_head_freshens(const struct http_head *stored, uint64_t stored_length,
    const struct http_response *head, int64_t now)
{
	const struct http_header *f;
	int etag, lm;
	uint64_t v;
	size_t i = 0;

	if (head->code != 200)
		return HTTP_CACHE_HEAD_NONE;
	etag = hc_validator_cmp(stored, &head->h, "etag", 0, now);
	lm = hc_validator_cmp(stored, &head->h, "last-modified", 0, now);
	if (etag < 0 || lm < 0 || (etag == 0 && lm == 0))
		return HTTP_CACHE_HEAD_STALE;
	/* A HEAD's Content-Length is the length a GET would have (RFC 9110 8.6). */
	if ((f = http_header_find(&head->h, "content-length")) != NULL &&
	    (!hc_pos_read(f->value, &i, &v) || i != f->value.len || v != stored_length))
		return HTTP_CACHE_HEAD_STALE;
	return HTTP_CACHE_HEAD_UPDATE;
}

/* ------------------------------------------------------------------ */
/* Range                                                                */
/* ------------------------------------------------------------------ */

enum http_cache_range
http_cache_range(struct http_slice range, uint64_t length, uint64_t *first, uint64_t *last)
{
	struct http_slice e;
	uint64_t a = 0, b = 0;
	size_t pos = 0, i, n = 0;
	int suffix = 0, has_last = 0;

	if (range.len < 6 || !hc_icase_eq(range.p, 6, "bytes=", 6))
		return HTTP_CACHE_RANGE_NONE;
	range.p += 6;
	range.len -= 6;
	while (hc_list_next(range, &pos, &e)) {
		if (++n > 1)
			return HTTP_CACHE_RANGE_NONE;
		i = 0;
		if (e.len > 0 && e.p[0] == '-') {
			suffix = 1;
			i = 1;
			if (!hc_pos_read(e, &i, &b))
				return HTTP_CACHE_RANGE_NONE;
		} else {
			if (!hc_pos_read(e, &i, &a) || i >= e.len || e.p[i] != '-')
				return HTTP_CACHE_RANGE_NONE;
			i++;
			has_last = hc_pos_read(e, &i, &b);
			if (has_last && b < a)
				return HTTP_CACHE_RANGE_NONE;
		}
		if (i != e.len)
			return HTTP_CACHE_RANGE_NONE;
	}
	if (n == 0)
		return HTTP_CACHE_RANGE_NONE;
	if (suffix) {
		if (b == 0)
			return HTTP_CACHE_RANGE_UNSATISFIABLE;
		if (length == 0)
			return HTTP_CACHE_RANGE_NONE;
		*first = length - (b < length ? b : length);
		*last = length - 1;
		return HTTP_CACHE_RANGE_PARTIAL;
	}
	if (a >= length)
		return HTTP_CACHE_RANGE_UNSATISFIABLE;
	*first = a;
	*last = has_last && b < length - 1 ? b : length - 1;
	return HTTP_CACHE_RANGE_PARTIAL;
}

int
http_cache_content_range_write(enum http_cache_range r, uint64_t first, uint64_t last,
    uint64_t length, char *out, size_t size, size_t *len)
{
	struct hc_out o = { out, size, 0, 1 };

	switch (r) {
	case HTTP_CACHE_RANGE_PARTIAL:
		if (first > last || last >= length)
			return CT_ERROR;
		hc_out_str(&o, "bytes ");
		hc_out_uint(&o, first);
		hc_out_str(&o, "-");
		hc_out_uint(&o, last);
		break;
	case HTTP_CACHE_RANGE_UNSATISFIABLE:
		hc_out_str(&o, "bytes *");
		break;
	default:
		return CT_ERROR;
	}
	hc_out_str(&o, "/");
	hc_out_uint(&o, length);
	return hc_out_done(&o, len);
}

int
http_cache_if_range(struct http_slice if_range, const struct http_head *stored, int64_t now)
{
	struct http_slice mine, opaque;
	int64_t when, lm, date;
	int weak;

	if_range = hc_trim(if_range);
	if (hc_etag_parse(if_range, &weak, &opaque))
		return !weak && hc_stored_etag(stored, &mine) &&
		    http_cache_etag_match(if_range, mine, 1);
	if (http_cache_date_parse(if_range, now, &when) != CT_OK ||
	    hc_field_date(stored, "last-modified", now, &lm) != CT_OK ||
	    hc_field_date(stored, "date", now, &date) != CT_OK)
		return 0;
	return when == lm && hc_sub(date, lm) >= 1;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

/* A byte of a host: reg-name (RFC 3986) and, in brackets, an IP literal. */
static int
hc_is_host_char(unsigned char c)
{
	return hc_is_alpha(c) || http_is_digit(c) ||
	    (c != 0 && strchr("-._~!$&'()*+;=%:[]", c) != NULL);
}

/*
 * Splits an authority's host and port and checks both.  A port is 1 to
 * 5 digits up to 65535, or empty (RFC 3986 allows "host:").
 */
static int
hc_authority_split(struct http_slice a, struct http_slice *host, int *port)
{
	size_t i, colon = a.len;
	uint32_t v = 0;

	if (a.len > 0 && a.p[0] == '[') {
		for (i = 1; i < a.len && a.p[i] != ']'; i++)
			;
		if (i == a.len)
			return 0;
		if (i + 1 < a.len) {
			if (a.p[i + 1] != ':')
				return 0;
			colon = i + 1;
		}
	} else {
		for (i = 0; i < a.len; i++)
			if (a.p[i] == ':') {
				colon = i;
				break;
			}
	}
	host->p = a.p;
	host->len = colon;
	for (i = 0; i < host->len; i++)
		if (!hc_is_host_char((unsigned char)host->p[i]) ||
		    (host->p[0] != '[' && (host->p[i] == ':' || host->p[i] == '[' || host->p[i] == ']')))
			return 0;
	*port = -1;
	if (colon == a.len || colon + 1 == a.len)
		return 1;
	for (i = colon + 1; i < a.len; i++) {
		if (!http_is_digit((unsigned char)a.p[i]))
			return 0;
		v = v * 10 + (uint32_t)(a.p[i] - '0');
		if (v > 65535)
			return 0;
	}
	*port = (int)v;
	return 1;
}

/* scheme "://" host [":" port], normalised; the part two keys of one origin share. */
static int
hc_origin_write(struct hc_out *o, struct http_slice scheme, struct http_slice authority)
{
	struct http_slice host;
	int port;

	if (scheme.len == 0 || !hc_authority_split(authority, &host, &port))
		return 0;
	if (host.len > 1 && host.p[host.len - 1] == '.')
		host.len--;
	hc_out_lower(o, scheme.p, scheme.len);
	hc_out_str(o, "://");
	hc_out_lower(o, host.p, host.len);
	if (port >= 0 && !(port == 80 && http_slice_eq(scheme, "http")) &&
	    !(port == 443 && http_slice_eq(scheme, "https"))) {
		hc_out_str(o, ":");
		hc_out_int(o, port);
	}
	return o->ok;
}

int
http_cache_key(struct http_slice scheme, struct http_slice host, struct http_slice path,
    char *out, size_t size, size_t *len)
{
	struct hc_out o = { out, size, 0, 1 };

	if (!hc_origin_write(&o, scheme, host))
		return CT_ERROR;
	if (path.len == 0)
		hc_out_str(&o, "/");
	hc_out_bytes(&o, path.p, path.len);
	return hc_out_done(&o, len);
}

/* A field value with the whitespace around its commas gone. */
static void
hc_vary_value(struct hc_out *o, struct http_slice v)
{
	size_t i, start = 0, end;

	v = hc_trim(v);
	for (i = 0; i <= v.len; i++) {
		if (i < v.len && v.p[i] != ',')
			continue;
		end = i;
		while (start < end && http_is_ws((unsigned char)v.p[start]))
			start++;
		while (end > start && http_is_ws((unsigned char)v.p[end - 1]))
			end--;
		hc_out_bytes(o, v.p + start, end - start);
		if (i < v.len)
			hc_out_str(o, ",");
		start = i + 1;
	}
}

/*
 * One name's part of the key: "name" LF, then "=" and the values joined
 * by "," for a present field, or "!" for an absent one, then LF.  No
 * field value holds a LF, so no two requests' parts can run together.
 */
static void
hc_vary_part(struct hc_out *o, struct http_slice name, const struct http_head *req)
{
	const struct http_header *f;
	size_t i;
	int n = 0;

	hc_out_lower(o, name.p, name.len);
	hc_out_str(o, "\n");
	for (i = 0; i < req->nheaders; i++) {
		f = &req->headers[i];
		if (!hc_icase_eq(f->name.p, f->name.len, name.p, name.len))
			continue;
		hc_out_str(o, n++ == 0 ? "=" : ",");
		hc_vary_value(o, f->value);
	}
	hc_out_str(o, n == 0 ? "!\n" : "\n");
}

int
http_cache_vary_key(const struct http_head *stored, const struct http_head *req,
    char *out, size_t size, size_t *len)
{
	struct hc_out o = { out, size, 0, 1 };
	const struct http_header *f;
	struct http_slice e;
	size_t i = 0, pos;

	if (hc_fields_list(stored, "vary", "*"))
		return CT_DECLINED;
	while ((f = hc_field_next(stored, "vary", &i)) != NULL)
		for (pos = 0; hc_list_next(f->value, &pos, &e); )
			hc_vary_part(&o, e, req);
	return hc_out_done(&o, len);
}

/* RFC 9110 9.2.1. */
static int
hc_method_safe(struct http_slice m)
{
	return http_slice_is(m, "GET") || http_slice_is(m, "HEAD") || http_slice_is(m, "OPTIONS") ||
	    http_slice_is(m, "TRACE");
}

/* The length of "scheme://authority" at the start of a key. */
static size_t
hc_key_origin_len(const char *k, size_t n)
{
	const char *s = memchr(k, ':', n), *p;

	if (s == NULL || (size_t)(k + n - s) < 3)
		return n;
	p = memchr(s + 3, '/', (size_t)(k + n - s - 3));
	return p != NULL ? (size_t)(p - k) : n;
}

/* The scheme of an absolute URI at the start of ref, or an empty slice. */
static struct http_slice
hc_uri_scheme(struct http_slice ref)
{
	struct http_slice s = { ref.p, 0 };
	size_t i;

	if (ref.len == 0 || !hc_is_alpha((unsigned char)ref.p[0]))
		return s;
	for (i = 1; i < ref.len; i++) {
		unsigned char c = (unsigned char)ref.p[i];

		if (c == ':') {
			s.len = i;
			return s;
		}
		if (!hc_is_alpha(c) && !http_is_digit(c) && c != '+' && c != '-' && c != '.')
			break;
	}
	return s;
}

/*
 * The key of a Location or Content-Location reference (RFC 3986 5.2),
 * resolved against the request's key (base, origin_len): absolute,
 * network-path, absolute-path, query-only, or a relative path merged
 * with the base's directory.  Its path is made what a request for it
 * would be keyed by afterwards: hc_ref_path().
 */
static int
hc_ref_key(struct hc_out *o, struct http_slice ref, const char *base, size_t base_len,
    size_t origin_len)
{
	struct http_slice scheme = hc_uri_scheme(ref), auth;
	const char *hash = memchr(ref.p, '#', ref.len), *q;
	size_t i, dir, path_len;

	if (hash != NULL)
		ref.len = (size_t)(hash - ref.p);
	if (scheme.len > 0) {
		ref.p += scheme.len + 1;
		ref.len -= scheme.len + 1;
		if (ref.len < 2 || ref.p[0] != '/' || ref.p[1] != '/')
			return 0;
	} else {
		scheme.p = base;
		scheme.len = (size_t)((const char *)memchr(base, ':', base_len) - base);
	}
	if (ref.len >= 2 && ref.p[0] == '/' && ref.p[1] == '/') {
		for (i = 2; i < ref.len && ref.p[i] != '/' && ref.p[i] != '?'; i++)
			;
		auth.p = ref.p + 2;
		auth.len = i - 2;
		if (memchr(auth.p, '@', auth.len) != NULL || !hc_origin_write(o, scheme, auth))
			return 0;
		ref.p += i;
		ref.len -= i;
		if (ref.len == 0 || ref.p[0] == '?')
			hc_out_str(o, "/");
	} else if (ref.len > 0 && ref.p[0] == '/') {
		hc_out_bytes(o, base, origin_len);
	} else if (ref.len == 0) {
		hc_out_bytes(o, base, base_len);
	} else {
		q = memchr(base + origin_len, '?', base_len - origin_len);
		path_len = (size_t)((q != NULL ? q : base + base_len) - (base + origin_len));
		if (ref.p[0] == '?') {
			hc_out_bytes(o, base, origin_len + path_len);
		} else {
			/* The base path up to its last '/' (a key's path has one). */
			for (dir = path_len; dir > 0 && base[origin_len + dir - 1] != '/'; dir--)
				;
			hc_out_bytes(o, base, origin_len + dir);
			if (dir == 0)
				hc_out_str(o, "/");
		}
	}
	hc_out_bytes(o, ref.p, ref.len);
	return o->ok;
}

/*
 * remove_dot_segments (RFC 3986 5.2.4) over b[0..len), an absolute path,
 * in place; returns the new length.  A ".." at the root is dropped, as
 * the RFC has it, and a last "." or ".." leaves a trailing '/'.
 */
static size_t
hc_dots_remove(char *b, size_t len)
{
	size_t r = 0, w = 0, end, seg;

	while (r < len) {
		for (end = r + 1; end < len && b[end] != '/'; end++)
			;
		seg = end - r - 1;
		if ((seg == 1 && b[r + 1] == '.') || (seg == 2 && b[r + 1] == '.' && b[r + 2] == '.')) {
			if (seg == 2)
				while (w > 0 && b[--w] != '/')
					;
			if (end == len)
				b[w++] = '/';
		} else {
			memmove(b + w, b + r, end - r);
			w += end - r;
		}
		r = end;
	}
	return w;
}

/*
 * The path of the reference key o holds, made the one a request for it
 * is keyed by: a client resolves the reference (dot segments removed,
 * RFC 3986 5.2.4) and the worker keys the path routes see
 * (http_path_normalize()).  Normalising needs the path's length again
 * after the key, as scratch.  0 when the path is refused (a bad escape,
 * or escaped dots above the root): no request has that key.
 */
static int
hc_ref_path(struct hc_out *o)
{
	size_t at = hc_key_origin_len(o->p, o->len), plen, qlen, nlen;
	const char *q = memchr(o->p + at, '?', o->len - at), *why;
	struct http_slice path;
	char *scratch;

	plen = (size_t)((q != NULL ? q : o->p + o->len) - (o->p + at));
	qlen = o->len - at - plen;
	nlen = hc_dots_remove(o->p + at, plen);
	memmove(o->p + at + nlen, o->p + at + plen, qlen);
	o->len = at + nlen + qlen;
	path.p = o->p + at;
	path.len = nlen + qlen;
	switch (http_path_normalize(path, NULL, &nlen, &why)) {
	case CT_DECLINED:
		return 1;
	case CT_AGAIN:
		break;
	default:
		return 0;
	}
	if (o->size - o->len < path.len) {
		o->ok = 0;
		return 0;
	}
	scratch = o->p + o->len;
	switch (http_path_normalize(path, scratch, &nlen, &why)) {
	case CT_OK:
		memcpy(o->p + at, scratch, nlen);
		o->len = at + nlen;
		return 1;
	case CT_DECLINED:
		return 1;
	default:
		return 0;
	}
}

int
http_cache_invalidations(const struct http_request *req, struct http_slice scheme,
    struct http_slice path, const struct http_response *resp, char *buf, size_t size,
    struct http_slice keys[3], size_t *n)
{
	static const char *const refs[] = { "location", "content-location" };
	const struct http_header *f;
	size_t k, j, base_len, olen, start;
	struct hc_out o;
	int dup;

	*n = 0;
	if (hc_method_safe(req->method) || resp->code < 200 || resp->code > 399)
		return CT_OK;
	if (http_cache_key(scheme, req->host, path, buf, size, &base_len) != CT_OK)
		return CT_ERROR;
	keys[0].p = buf;
	keys[0].len = base_len;
	*n = 1;
	olen = hc_key_origin_len(buf, base_len);
	for (k = 0; k < CT_NELEM(refs); k++) {
		if ((f = http_header_find(&resp->h, refs[k])) == NULL)
			continue;
		start = (size_t)(keys[*n - 1].p + keys[*n - 1].len - buf);
		o.p = buf + start;
		o.size = size - start;
		o.len = 0;
		o.ok = 1;
		if (!hc_ref_key(&o, hc_trim(f->value), buf, base_len, olen) || !hc_ref_path(&o)) {
			if (!o.ok)
				return CT_ERROR;
			continue;
		}
		/* Another origin's URIs are not this request's to invalidate (4.4). */
		if (hc_key_origin_len(o.p, o.len) != olen || memcmp(o.p, buf, olen) != 0)
			continue;
		for (dup = 0, j = 0; j < *n; j++)
			dup |= keys[j].len == o.len && memcmp(keys[j].p, o.p, o.len) == 0;
		if (dup)
			continue;
		keys[*n].p = o.p;
		keys[(*n)++].len = o.len;
	}
	return CT_OK;
}

/* ------------------------------------------------------------------ */
/* Answering from the store                                             */
/* ------------------------------------------------------------------ */

/* Stored fields a hit writes anew: the framing and the age are the cache's now. */
static const char *const hc_hit_rewritten[] = {
	"age", "content-length", "transfer-encoding", "content-range",
};

/* What a 304 carries (RFC 9110 15.4.5); Last-Modified only without an ETag. */
static const char *const hc_304_fields[] = {
	"cache-control", "content-location", "date", "etag", "expires", "vary",
};

static void
hc_out_field(struct hc_out *o, const struct http_header *f)
{
	hc_out_bytes(o, f->name.p, f->name.len);
	hc_out_str(o, ": ");
	hc_out_bytes(o, f->value.p, f->value.len);
	hc_out_str(o, "\r\n");
}

/* "Age: " and the age as RFC 9111 5.1 has it: delta-seconds, at most 2^31. */
static void
hc_out_age(struct hc_out *o, int64_t age)
{
	hc_out_str(o, "Age: ");
	hc_out_int(o, age < 0 ? 0 : age > HTTP_CACHE_DELTA_MAX ? HTTP_CACHE_DELTA_MAX : age);
	hc_out_str(o, "\r\n");
}

int
http_cache_hit_head_write(const struct http_response *stored,
    const struct http_cache_hit *hit, char *out, size_t size, size_t *len)
{
	struct hc_out o = { out, size, 0, 1 };
	const struct http_header *f;
	uint64_t length = hit->length;
	size_t i, n;

	if (hit->range == HTTP_CACHE_RANGE_PARTIAL) {
		hc_out_str(&o, "HTTP/1.1 206 Partial Content\r\n");
	} else if (hit->range == HTTP_CACHE_RANGE_NONE) {
		hc_out_str(&o, "HTTP/1.1 ");
		hc_out_int(&o, stored->code);
		hc_out_str(&o, " ");
		hc_out_bytes(&o, stored->reason.p, stored->reason.len);
		hc_out_str(&o, "\r\n");
	} else {
		return CT_ERROR;
	}
	for (i = 0; i < stored->h.nheaders; i++) {
		f = &stored->h.headers[i];
		if (!hc_name_in(f->name, hc_hit_rewritten, CT_NELEM(hc_hit_rewritten)))
			hc_out_field(&o, f);
	}
	if (hit->range == HTTP_CACHE_RANGE_PARTIAL) {
		hc_out_str(&o, "Content-Range: ");
		if (!o.ok || http_cache_content_range_write(hit->range, hit->first, hit->last,
		    hit->length, o.p + o.len, o.size - o.len, &n) != CT_OK)
			return CT_ERROR;
		o.len += n;
		hc_out_str(&o, "\r\n");
		length = hit->last - hit->first + 1;
	}
	hc_out_str(&o, "Content-Length: ");
	hc_out_uint(&o, length);
	hc_out_str(&o, "\r\n");
	hc_out_age(&o, hit->age);
	return hc_out_done(&o, len);
}

int
http_cache_304_head_write(const struct http_response *stored, int64_t age, char *out,
    size_t size, size_t *len)
{
	struct hc_out o = { out, size, 0, 1 };
	const struct http_header *f;
	int etag = http_header_find(&stored->h, "etag") != NULL;
	size_t i;

	hc_out_str(&o, "HTTP/1.1 304 Not Modified\r\n");
	for (i = 0; i < stored->h.nheaders; i++) {
		f = &stored->h.headers[i];
		if (hc_name_in(f->name, hc_304_fields, CT_NELEM(hc_304_fields)) ||
		    (!etag && http_slice_eq(f->name, "last-modified")))
			hc_out_field(&o, f);
	}
	hc_out_age(&o, age);
	return hc_out_done(&o, len);
}

/* ------------------------------------------------------------------ */
/* Cache-Status                                                         */
/* ------------------------------------------------------------------ */

static const char *const hc_fwd_names[] = {
	[HTTP_CACHE_FWD_NONE] = NULL,
	[HTTP_CACHE_FWD_BYPASS] = "bypass",
	[HTTP_CACHE_FWD_METHOD] = "method",
	[HTTP_CACHE_FWD_URI_MISS] = "uri-miss",
	[HTTP_CACHE_FWD_VARY_MISS] = "vary-miss",
	[HTTP_CACHE_FWD_MISS] = "miss",
	[HTTP_CACHE_FWD_REQUEST] = "request",
	[HTTP_CACHE_FWD_STALE] = "stale",
	[HTTP_CACHE_FWD_PARTIAL] = "partial",
};

/* sf-token (RFC 8941 3.3.4): ( ALPHA / "*" ) *( tchar / ":" / "/" ). */
static int
hc_sf_token(const char *s)
{
	size_t i;

	if (!hc_is_alpha((unsigned char)s[0]) && s[0] != '*')
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!http_is_tchar((unsigned char)s[i]) && s[i] != ':' && s[i] != '/')
			return 0;
	return 1;
}

/* A token as it is, anything else as an sf-string; fails on a byte neither can carry. */
static void
hc_out_item(struct hc_out *o, const char *s)
{
	size_t i;

	if (hc_sf_token(s)) {
		hc_out_str(o, s);
		return;
	}
	hc_out_str(o, "\"");
	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			o->ok = 0;
		if (s[i] == '"' || s[i] == '\\')
			hc_out_str(o, "\\");
		hc_out_bytes(o, s + i, 1);
	}
	hc_out_str(o, "\"");
}

/* sf-integer: at most 15 digits. */
#define HC_SF_INT_MAX INT64_C(999999999999999)

int
http_cache_status_write(const struct http_cache_status *cs, char *out, size_t size,
    size_t *len)
{
	struct hc_out o = { out, size, 0, 1 };
	int64_t ttl = cs->ttl;

	if (cs->cache == NULL || (size_t)cs->fwd >= CT_NELEM(hc_fwd_names))
		return CT_ERROR;
	hc_out_item(&o, cs->cache);
	if (cs->hit)
		hc_out_str(&o, "; hit");
	if (cs->fwd != HTTP_CACHE_FWD_NONE) {
		hc_out_str(&o, "; fwd=");
		hc_out_str(&o, hc_fwd_names[cs->fwd]);
	}
	if (cs->fwd_status >= 100 && cs->fwd_status <= 999) {
		hc_out_str(&o, "; fwd-status=");
		hc_out_int(&o, cs->fwd_status);
	}
	if (cs->has_ttl) {
		ttl = ttl > HC_SF_INT_MAX ? HC_SF_INT_MAX : ttl < -HC_SF_INT_MAX ? -HC_SF_INT_MAX : ttl;
		hc_out_str(&o, "; ttl=");
		hc_out_int(&o, ttl);
	}
	if (cs->stored)
		hc_out_str(&o, "; stored");
	if (cs->collapsed)
		hc_out_str(&o, "; collapsed");
	if (cs->detail != NULL) {
		hc_out_str(&o, "; detail=");
		hc_out_item(&o, cs->detail);
	}
	return hc_out_done(&o, len);
}
