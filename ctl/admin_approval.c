/*
 * Approval decisions as JSON, for the admin API and the master's state
 * file (ctl/admin_approval.h).  What an operator posts is checked here,
 * with a reason for each refusal; the master checks the decision again
 * (shm_approval_check()) before it stores it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/admin_approval.h"
#include "ctl/admin_int.h"
#include "lib/ct.h"
#include "lib/units.h"

const char *
admin_approval_net_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->net, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (c->prefix == (c->family == AF_INET ? 32u : 128u))
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

const char *
admin_approval_dest_format(const struct shm_approval *a, char *buf, size_t len)
{
	if (a->dest[0] == '\0')
		snprintf(buf, len, "%s", "");
	else if (a->port == 0)
		snprintf(buf, len, "%s", a->dest);
	else
		snprintf(buf, len, strchr(a->dest, ':') != NULL ? "[%s]:%u" : "%s:%u", a->dest,
		    a->port);
	return buf;
}

json_t *
admin_approval_json(const struct shm_approval *a, uint64_t now_s)
{
	char net[INET6_ADDRSTRLEN + 8], dest[ADMIN_APPROVAL_DEST_TEXT];
	json_t *o;

	o = json_pack("{s:s, s:i, s:s, s:s?, s:s?, s:o, s:I, s:s, s:s?, s:s?}",
	    "address", admin_approval_net_format(&a->net, net, sizeof(net)),
	    "prefix", (int)a->net.prefix,
	    "verdict", shm_approval_verdict_names[a->verdict < SHM_APPROVAL_VERDICTS ? a->verdict : 0],
	    "listener", a->listener[0] != '\0' ? a->listener : NULL,
	    "destination", a->dest[0] != '\0' ?
	    admin_approval_dest_format(a, dest, sizeof(dest)) : NULL,
	    "expires", a->expires != 0 ? json_integer((json_int_t)a->expires) : json_null(),
	    "made", (json_int_t)a->made,
	    "origin", shm_approval_origin_names[a->origin < SHM_APPROVAL_ORIGINS ? a->origin : 0],
	    "by", a->by[0] != '\0' ? a->by : NULL,
	    "note", a->note[0] != '\0' ? a->note : NULL);
	/* Where and when a cluster change was made; absent when standalone. */
	if (o != NULL && a->node[0] != '\0') {
		(void)json_object_set_new(o, "node", json_string(a->node));
		(void)json_object_set_new(o, "changed_ms", json_integer((json_int_t)a->changed_ms));
	}
	if (o != NULL && now_s != 0)
		(void)json_object_set_new(o, "ttl_s", a->expires == 0 ? json_null() :
		    json_integer((json_int_t)(a->expires > now_s ? a->expires - now_s : 0)));
	return o;
}

/* ------------------------------------------------------------- parsing */

static int
admin_approval_fail(char *why, size_t len, const char *fmt, const char *arg)
{
	snprintf(why, len, fmt, arg);
	return CT_ERROR;
}

/* A string of o at key into buf (size bytes with the NUL); absent or null leaves "". */
static int
admin_approval_text(const json_t *o, const char *key, char *buf, size_t size, char *why,
    size_t len)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	buf[0] = '\0';
	if (v == NULL || json_is_null(v))
		return CT_OK;
	if ((s = json_string_value(v)) == NULL)
		return admin_approval_fail(why, len, "\"%s\" must be a string", key);
	if (strlen(s) >= size) {
		snprintf(why, len, "\"%s\" is at most %zu bytes", key, size - 1);
		return CT_ERROR;
	}
	memcpy(buf, s, strlen(s) + 1);
	return CT_OK;
}

/* An address or network of o at key, normalized. */
static int
admin_approval_net(const json_t *o, const char *key, struct cidr *net, char *why, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key)), *r;

	if (s == NULL)
		return admin_approval_fail(why, len, "\"%s\" (an address or a network) is required "
		    "and a string", key);
	if (cidr_parse(s, net, &r) != CT_OK) {
		snprintf(why, len, "invalid address \"%.64s\": %s", s, r);
		return CT_ERROR;
	}
	shm_approval_normalize(net);
	return CT_OK;
}

int
admin_approval_dest_parse(const char *s, struct shm_approval *a, char *why, size_t len)
{
	const char *host = s, *port = NULL, *end;
	size_t hlen = strlen(s);
	unsigned long p = 0;
	char *pend;

	if (s[0] == '[') {
		/* Brackets are for an IPv6 address with a port. */
		if ((end = strchr(s, ']')) == NULL || memchr(s, ':', (size_t)(end - s)) == NULL ||
		    (end[1] != '\0' && end[1] != ':'))
			return admin_approval_fail(why, len, "invalid destination \"%.64s\": "
			    "[IPv6]:PORT is the form with brackets", s);
		host = s + 1;
		hlen = (size_t)(end - host);
		port = end[1] == ':' ? end + 2 : NULL;
	} else if ((end = strchr(s, ':')) != NULL && strchr(end + 1, ':') == NULL) {
		hlen = (size_t)(end - s);
		port = end + 1;
	}
	if (port != NULL) {
		if (*port < '1' || *port > '9' || (p = strtoul(port, &pend, 10)) > 65535 ||
		    *pend != '\0')
			return admin_approval_fail(why, len, "invalid destination \"%.64s\": the "
			    "port is 1 to 65535", s);
	}
	if (shm_approval_dest_normalize(host, hlen, a->dest) != CT_OK)
		return admin_approval_fail(why, len, "invalid destination \"%.64s\": not a host "
		    "name or an IP address", s);
	a->port = (uint16_t)p;
	return CT_OK;
}

/* "destination" of o, when there is one, into a. */
static int
admin_approval_dest(const json_t *o, struct shm_approval *a, char *why, size_t len)
{
	json_t *v = json_object_get(o, "destination");

	if (v == NULL || json_is_null(v))
		return CT_OK;
	if (!json_is_string(v))
		return admin_approval_fail(why, len, "%s", "\"destination\" is HOST, HOST:PORT or "
		    "[IPv6]:PORT");
	return admin_approval_dest_parse(json_string_value(v), a, why, len);
}

/* The index of s among names, or -1. */
static int
admin_approval_name(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 1; s != NULL && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* Every key of o is one of keys. */
static int
admin_approval_keys(const json_t *o, const char *const *keys, size_t n, char *why, size_t len)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)(uintptr_t)o, k, v) {
		for (i = 0; i < n && strcmp(keys[i], k) != 0; i++)
			;
		if (i == n)
			return admin_approval_fail(why, len, "unknown key \"%.32s\"", k);
	}
	return CT_OK;
}

/* A JSON integer in [0, max] at key of o, or absent/null (0). */
static int
admin_approval_uint(const json_t *o, const char *key, uint64_t max, uint64_t *out, char *why,
    size_t len)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return CT_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return admin_approval_fail(why, len, "\"%s\" must be a number of seconds", key);
	*out = (uint64_t)json_integer_value(v);
	return CT_OK;
}

int
admin_approval_from_json(const json_t *o, struct shm_approval *a, char *why, size_t len)
{
	static const char *const keys[] = { "address", "prefix", "verdict", "listener",
	    "destination", "expires", "made", "origin", "by", "note", "node", "changed_ms" };
	json_t *ms;
	int v;

	memset(a, 0, sizeof(*a));
	if (!json_is_object(o))
		return admin_approval_fail(why, len, "%s", "not a JSON object");
	if (admin_approval_keys(o, keys, CT_NELEM(keys), why, len) != CT_OK ||
	    admin_approval_net(o, "address", &a->net, why, len) != CT_OK)
		return CT_ERROR;
	if ((v = admin_approval_name(shm_approval_verdict_names, SHM_APPROVAL_VERDICTS,
	    json_string_value(json_object_get(o, "verdict")))) == -1)
		return admin_approval_fail(why, len, "%s", "\"verdict\" must be \"allow\" or \"deny\"");
	a->verdict = (uint32_t)v;
	if ((v = admin_approval_name(shm_approval_origin_names, SHM_APPROVAL_ORIGINS,
	    json_string_value(json_object_get(o, "origin")))) == -1)
		return admin_approval_fail(why, len, "%s",
		    "\"origin\" must be \"rule\", \"operator\" or \"peer\"");
	a->origin = (uint32_t)v;
	if (json_object_get(o, "prefix") != NULL &&
	    json_integer_value(json_object_get(o, "prefix")) != (json_int_t)a->net.prefix)
		return admin_approval_fail(why, len, "%s", "\"prefix\" is not the address's");
	if (admin_approval_uint(o, "expires", UINT32_MAX, &a->expires, why, len) != CT_OK ||
	    admin_approval_uint(o, "made", UINT32_MAX, &a->made, why, len) != CT_OK ||
	    admin_approval_text(o, "listener", a->listener, sizeof(a->listener), why, len) != CT_OK ||
	    admin_approval_text(o, "by", a->by, sizeof(a->by), why, len) != CT_OK ||
	    admin_approval_text(o, "note", a->note, sizeof(a->note), why, len) != CT_OK ||
	    admin_approval_text(o, "node", a->node, sizeof(a->node), why, len) != CT_OK ||
	    admin_approval_dest(o, a, why, len) != CT_OK)
		return CT_ERROR;
	if ((ms = json_object_get(o, "changed_ms")) != NULL && !json_is_null(ms)) {
		if (!json_is_integer(ms) || json_integer_value(ms) < 0)
			return admin_approval_fail(why, len, "%s", "\"changed_ms\" must be a number of "
			    "milliseconds");
		a->changed_ms = (uint64_t)json_integer_value(ms);
	}
	return CT_OK;
}

/* The listener named name, with an approval block, or why not. */
static int
admin_approval_listener(const struct conf *conf, const char *name,
    const struct conf_listener **out, char *why, size_t len)
{
	size_t i;

	for (i = 0; i < conf->nlisteners; i++) {
		if (strcmp(conf->listeners[i].name, name) != 0)
			continue;
		if (conf->listeners[i].approval == NULL)
			return admin_approval_fail(why, len, "listener \"%s\" has no approval block: "
			    "its clients are never asked about", name);
		*out = &conf->listeners[i];
		return CT_OK;
	}
	return admin_approval_fail(why, len, "no listener \"%.64s\"", name);
}

/* "ttl": "1h" (a duration in whole seconds), or a number of seconds; 0 is until revoked. */
static int
admin_approval_ttl(const json_t *v, uint64_t *ttl, char *why, size_t len)
{
	const char *s = json_string_value(v), *r;
	uint64_t ms;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > ADMIN_APPROVAL_TTL_MAX)
			return admin_approval_fail(why, len, "%s", "\"ttl\" is 0 (until revoked) to "
			    "315360000 seconds (3650d)");
		*ttl = (uint64_t)json_integer_value(v);
		return CT_OK;
	}
	if (s == NULL)
		return admin_approval_fail(why, len, "%s", "\"ttl\" is a duration (\"1h\") or a "
		    "number of seconds");
	if (units_parse_duration(s, &ms, &r) != CT_OK) {
		snprintf(why, len, "invalid \"ttl\" \"%.32s\": %s", s, r);
		return CT_ERROR;
	}
	if (ms % 1000 != 0 || ms / 1000 > ADMIN_APPROVAL_TTL_MAX)
		return admin_approval_fail(why, len, "%s", "\"ttl\" is whole seconds, 0 (until "
		    "revoked) to 3650d");
	*ttl = ms / 1000;
	return CT_OK;
}

int
admin_approval_request(const struct conf *conf, const char *body, size_t len, uint64_t now_s,
    struct shm_approval *a, char *why, size_t wlen)
{
	static const char *const keys[] = { "address", "verdict", "listener", "destination",
	    "ttl", "note", "operator" };
	const struct conf_listener *l = NULL;
	const char *bad;
	json_error_t jerr;
	uint64_t ttl = 0;
	json_t *o, *t;
	int v, rc = CT_ERROR;

	memset(a, 0, sizeof(*a));
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(why, wlen, "the body is not JSON: %s", jerr.text);
		return CT_ERROR;
	}
	if (!json_is_object(o)) {
		snprintf(why, wlen, "the body is a JSON object");
		goto done;
	}
	if (admin_approval_keys(o, keys, CT_NELEM(keys), why, wlen) != CT_OK ||
	    admin_approval_net(o, "address", &a->net, why, wlen) != CT_OK)
		goto done;
	if ((v = admin_approval_name(shm_approval_verdict_names, SHM_APPROVAL_VERDICTS,
	    json_string_value(json_object_get(o, "verdict")))) == -1) {
		snprintf(why, wlen, "\"verdict\" is required: \"allow\" or \"deny\"");
		goto done;
	}
	a->verdict = (uint32_t)v;
	if (admin_approval_text(o, "listener", a->listener, sizeof(a->listener), why, wlen) != CT_OK ||
	    (a->listener[0] != '\0' &&
	    admin_approval_listener(conf, a->listener, &l, why, wlen) != CT_OK) ||
	    admin_approval_text(o, "note", a->note, sizeof(a->note), why, wlen) != CT_OK ||
	    admin_approval_text(o, "operator", a->by, sizeof(a->by), why, wlen) != CT_OK ||
	    admin_approval_dest(o, a, why, wlen) != CT_OK)
		goto done;
	/* Only clients of forward and socks listeners name where they go. */
	if (a->dest[0] != '\0' && l != NULL && l->mode != CONF_MODE_FORWARD &&
	    l->mode != CONF_MODE_SOCKS) {
		snprintf(why, wlen, "listener \"%s\" is not a forward or socks listener: its "
		    "clients name no destination", l->name);
		goto done;
	}
	/* Without one, the listener's "remember"; for every listener, until revoked. */
	if ((t = json_object_get(o, "ttl")) != NULL && !json_is_null(t)) {
		if (admin_approval_ttl(t, &ttl, why, wlen) != CT_OK)
			goto done;
	} else if (l != NULL) {
		ttl = l->approval->remember_ms / 1000;
	}
	a->expires = ttl != 0 ? now_s + ttl : 0;
	a->made = now_s;
	a->origin = SHM_APPROVAL_OPERATOR;
	if ((bad = shm_approval_check(a)) != NULL) {
		/* Only the texts can still be wrong: say which rule they broke. */
		snprintf(why, wlen, "%s", strncmp(bad, "a name", 6) == 0 ? "\"operator\" is "
		    "printable ASCII, at most 31 bytes" : bad);
		goto done;
	}
	rc = CT_OK;
done:
	json_decref(o);
	return rc;
}

int
admin_approval_revoke_request(const struct conf *conf, const char *target, const char *query,
    size_t qlen, struct admin_link_msg *msg, char *why, size_t wlen)
{
	const struct conf_listener *l;
	const char *end = query + qlen, *amp, *r;
	size_t n;

	memset(&msg->decision, 0, sizeof(msg->decision));
	if (cidr_parse(target, &msg->decision.net, &r) != CT_OK) {
		snprintf(why, wlen, "invalid address \"%.64s\": %s", target, r);
		return CT_ERROR;
	}
	shm_approval_normalize(&msg->decision.net);
	msg->flags = ADMIN_LINK_ANY_SCOPE | ADMIN_LINK_ANY_DEST;
	for (; query < end; query = amp + 1) {
		if ((amp = memchr(query, '&', (size_t)(end - query))) == NULL)
			amp = end;
		if (amp - query >= 12 && memcmp(query, "destination=", 12) == 0) {
			char dest[ADMIN_APPROVAL_DEST_TEXT * 3];

			n = (size_t)(amp - query - 12);
			if (n >= sizeof(dest)) {
				snprintf(why, wlen, "?destination= is too long");
				return CT_ERROR;
			}
			memcpy(dest, query + 12, n);
			dest[n] = '\0';
			if (admin_unescape(dest) != CT_OK) {
				snprintf(why, wlen, "?destination= has a malformed escape");
				return CT_ERROR;
			}
			/* "*": exactly the decision for every destination. */
			if (strcmp(dest, "*") != 0 &&
			    admin_approval_dest_parse(dest, &msg->decision, why, wlen) != CT_OK)
				return CT_ERROR;
			msg->flags &= ~ADMIN_LINK_ANY_DEST;
			continue;
		}
		if (amp - query < 9 || memcmp(query, "listener=", 9) != 0)
			continue;
		/* Listener names need no escapes; a name that came with some is no name. */
		n = (size_t)(amp - query - 9);
		if (n == 0 || n >= sizeof(msg->decision.listener)) {
			snprintf(why, wlen, "?listener= names a listener");
			return CT_ERROR;
		}
		memcpy(msg->decision.listener, query + 9, n);
		msg->decision.listener[n] = '\0';
		msg->flags &= ~ADMIN_LINK_ANY_SCOPE;
		/* A decision for a listener that has left the configuration may still be revoked. */
		if (admin_approval_listener(conf, msg->decision.listener, &l, why, wlen) != CT_OK &&
		    strncmp(why, "no listener", 11) != 0)
			return CT_ERROR;
	}
	return CT_OK;
}

/* ------------------------------------------------------------- answers */

static uint64_t
admin_approval_now(void)
{
	return (uint64_t)time(NULL);
}

/* Networks in address order, IPv4 first; a network before those inside it. */
static int
admin_approval_cmp(const void *x, const void *y)
{
	const struct shm_approval *a = x, *b = y;
	int c;

	if (a->net.family != b->net.family)
		return a->net.family == AF_INET ? -1 : 1;
	if ((c = memcmp(a->net.net, b->net.net, sizeof(a->net.net))) != 0)
		return c;
	if (a->net.prefix != b->net.prefix)
		return a->net.prefix < b->net.prefix ? -1 : 1;
	if ((c = strcmp(a->listener, b->listener)) != 0)
		return c;
	if ((c = strcmp(a->dest, b->dest)) != 0)
		return c;
	return (int)a->port - (int)b->port;
}

json_t *
admin_approval_list(const struct shm *shm)
{
	struct shm_approval *all = calloc(SHM_APPROVALS_MAX, sizeof(*all));
	uint64_t gen, now = admin_approval_now();
	json_t *list = NULL;
	size_t n, i;

	if (all == NULL || shm_approval_list(shm, all, &n, &gen) != CT_OK) {
		free(all);
		return NULL;
	}
	qsort(all, n, sizeof(*all), admin_approval_cmp);
	list = json_array();
	for (i = 0; list != NULL && i < n; i++)
		if (all[i].expires == 0 || all[i].expires > now)
			json_array_append_new(list, admin_approval_json(&all[i], now));
	free(all);
	return json_pack("{s:o, s:I, s:i}", "decisions", list != NULL ? list : json_array(),
	    "generation", (json_int_t)gen, "max", SHM_APPROVALS_MAX);
}

json_t *
admin_approval_answer(const struct admin_link_msg *msg, int *status)
{
	char net[INET6_ADDRSTRLEN + 8];
	uint64_t now = admin_approval_now();

	if (msg->op == ADMIN_LINK_DECIDE && msg->result == CT_OK) {
		*status = 201;
		return json_pack("{s:o, s:b}", "decision", admin_approval_json(&msg->decision, now),
		    "replaced", msg->count != 0);
	}
	if (msg->op == ADMIN_LINK_REVOKE && msg->result == CT_OK && msg->count > 0) {
		*status = 200;
		return json_pack("{s:i, s:o}", "revoked", (int)msg->count,
		    "decision", admin_approval_json(&msg->decision, now));
	}
	if (msg->op == ADMIN_LINK_REVOKE && msg->result == CT_OK) {
		char text[sizeof(net) + SHM_NAME_LEN + ADMIN_APPROVAL_DEST_TEXT + 64];
		char dest[ADMIN_APPROVAL_DEST_TEXT];

		*status = 404;
		admin_approval_net_format(&msg->decision.net, net, sizeof(net));
		if (msg->decision.dest[0] == '\0')
			snprintf(dest, sizeof(dest), "every destination");
		else
			admin_approval_dest_format(&msg->decision, dest, sizeof(dest));
		snprintf(text, sizeof(text), "no decision for %s%s%s%s%s%s", net,
		    msg->flags & ADMIN_LINK_ANY_DEST ? "" : " to ",
		    msg->flags & ADMIN_LINK_ANY_DEST ? "" : dest,
		    msg->flags & ADMIN_LINK_ANY_SCOPE ? "" : " on listener \"",
		    msg->flags & ADMIN_LINK_ANY_SCOPE ? "" : msg->decision.listener,
		    msg->flags & ADMIN_LINK_ANY_SCOPE ? "" : "\"");
		return json_pack("{s:s}", "error", text);
	}
	/* Refused (400: the master found it invalid), or no room (503). */
	*status = msg->result == CT_DECLINED ? 400 : 503;
	return json_pack("{s:s}", "error", msg->why[0] != '\0' ? msg->why : "the master refused it");
}

int
admin_approval_count(const struct shm *shm,
    uint64_t counts[SHM_APPROVAL_VERDICTS][SHM_APPROVAL_ORIGINS])
{
	struct shm_approval *all = calloc(SHM_APPROVALS_MAX, sizeof(*all));
	uint64_t gen, now = admin_approval_now();
	size_t n, i;

	memset(counts, 0, sizeof(uint64_t) * SHM_APPROVAL_VERDICTS * SHM_APPROVAL_ORIGINS);
	if (all == NULL || shm_approval_list(shm, all, &n, &gen) != CT_OK) {
		free(all);
		return CT_AGAIN;
	}
	for (i = 0; i < n; i++)
		if ((all[i].expires == 0 || all[i].expires > now) &&
		    all[i].verdict < SHM_APPROVAL_VERDICTS && all[i].origin < SHM_APPROVAL_ORIGINS)
			counts[all[i].verdict][all[i].origin]++;
	free(all);
	return CT_OK;
}
