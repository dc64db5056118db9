/*
 * The table of wrong tokens; see admin_lockout.h.  A linear scan: the
 * table is small, and only requests that present a token reach it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "ctl/admin_lockout.h"
#include "lib/ct.h"

void
admin_lockout_init(struct admin_lockout *t, const struct conf_login *login)
{
	memset(t, 0, sizeof(*t));
	t->max = login->failures;
	t->total = login->total;
	t->window_ms = login->window_ms;
}

int
admin_lockout_key_set(struct admin_lockout_key *k, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		k->family = AF_INET;
		memcpy(k->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return CT_OK;
	}
	if (sa->sa_family != AF_INET6)
		return CT_ERROR;
	/* On a dual-stack socket each IPv4 client would otherwise share ::ffff:0:0/64. */
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		k->family = AF_INET;
		memcpy(k->addr, s6->sin6_addr.s6_addr + 12, 4);
		return CT_OK;
	}
	k->family = AF_INET6;
	memcpy(k->addr, s6->sin6_addr.s6_addr, 8);
	return CT_OK;
}

const char *
admin_lockout_key_format(const struct admin_lockout_key *k, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (k->family == 0 || inet_ntop(k->family, k->addr, a, sizeof(a)) == NULL)
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, "%s%s", a, k->family == AF_INET6 ? "/64" : "");
	return buf;
}

static int
admin_lockout_key_eq(const struct admin_lockout_key *a, const struct admin_lockout_key *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/*
 * How much an entry is worth keeping, for the choice of one to give up:
 * 0 counts nothing now, 1 counts failures, 2 is trusted, 3 is locked.
 */
static int
admin_lockout_worth(const struct admin_lockout *t, const struct admin_lockout_entry *e,
    uint64_t now)
{
	if (e->key.family == 0)
		return 0;
	if (e->until > now)
		return 3;
	if (e->trusted)
		return 2;
	return e->failures > 0 && now - e->since < t->window_ms;
}

/*
 * k's entry; with create, a new one in place of the least worth keeping
 * and, among equals, the one untouched longest.  NULL: none.
 */
static struct admin_lockout_entry *
admin_lockout_find(struct admin_lockout *t, const struct admin_lockout_key *k, uint64_t now,
    int create)
{
	struct admin_lockout_entry *e, *victim = NULL;
	int worth, vworth = 4;
	size_t i;

	for (i = 0; i < ADMIN_LOCKOUT_SLOTS; i++) {
		e = &t->e[i];
		if (e->key.family != 0 && admin_lockout_key_eq(&e->key, k))
			return e;
		worth = admin_lockout_worth(t, e, now);
		if (worth < vworth || (worth == vworth && e->last < victim->last)) {
			victim = e;
			vworth = worth;
		}
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->key = *k;
	return victim;
}

int
admin_lockout_check(struct admin_lockout *t, const struct admin_lockout_key *k, uint64_t now,
    uint64_t *retry_ms)
{
	const struct admin_lockout_entry *e = admin_lockout_find(t, k, now, 0);
	uint64_t until = 0;

	if (e != NULL && e->until > now)
		until = e->until;
	if (t->until > now && (e == NULL || !e->trusted))
		until = CT_MAX(until, t->until);
	if (until == 0)
		return CT_OK;
	*retry_ms = until - now;
	return CT_DECLINED;
}

/* Counts one failure in the window that starts at *since, or in a new one from now. */
static unsigned
admin_lockout_count(const struct admin_lockout *t, unsigned *failures, uint64_t *since,
    uint64_t now)
{
	if (*failures == 0 || now - *since >= t->window_ms) {
		*since = now;
		*failures = 0;
	}
	return ++*failures;
}

unsigned
admin_lockout_fail(struct admin_lockout *t, const struct admin_lockout_key *k, uint64_t now)
{
	struct admin_lockout_entry *e = admin_lockout_find(t, k, now, 1);
	unsigned began = 0;

	t->failed++;
	e->last = now;
	if (admin_lockout_count(t, &e->failures, &e->since, now) >= t->max && e->until <= now) {
		e->until = now + t->window_ms;
		e->trusted = 0;
		t->locked_address++;
		began |= ADMIN_LOCKOUT_ADDRESS;
	}
	if (admin_lockout_count(t, &t->failures, &t->since, now) >= t->total && t->until <= now) {
		t->until = now + t->window_ms;
		t->locked_all++;
		began |= ADMIN_LOCKOUT_ALL;
	}
	return began;
}

void
admin_lockout_pass(struct admin_lockout *t, const struct admin_lockout_key *k, uint64_t now)
{
	struct admin_lockout_entry *e = admin_lockout_find(t, k, now, 1);

	e->failures = 0;
	e->since = 0;
	e->until = 0;
	e->trusted = 1;
	e->last = now;
}
