/*
 * The event ring (shm/events.h): records claimed by a fetch-add, taken
 * by a compare-and-swap, written as relaxed words and published with a
 * release store; read between two loads of the record's word.
 */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "lib/ct.h"
#include "shm/events.h"

/* The payload of a record: the event but its seq, which the ring keeps apart. */
#define SHM_EVENT_WORDS ((sizeof(struct shm_event) - sizeof(uint64_t)) / 8)

struct shm_event_slot {
	atomic_uint_fast64_t word;  /* 2s + 1: event s being written; 2s + 2: published; 0: never */
	atomic_uint_fast64_t w[SHM_EVENT_WORDS];
};

_Static_assert(offsetof(struct shm_event, seq) == 0 && sizeof(struct shm_event) % 8 == 0,
    "an event is copied as words after its seq");
_Static_assert(sizeof(struct shm_event_slot) == 192, "a record is three cache lines");
_Static_assert(sizeof(struct shm_events_ctl) <= sizeof(struct shm_event_slot),
    "the counters fit in slot 0");

const char *const shm_event_kind_names[SHM_EV_KINDS] = {
	[SHM_EV_CONN_OPEN] = "conn_open",
	[SHM_EV_CONN_CLOSE] = "conn_close",
	[SHM_EV_CONNECTIONS] = "connections",
	[SHM_EV_HEALTH] = "health",
	[SHM_EV_ADMIN_STATE] = "admin_state",
	[SHM_EV_RELOAD] = "reload",
	[SHM_EV_WORKER_EXIT] = "worker_exit",
	[SHM_EV_PENDING] = "pending",
	[SHM_EV_DECISION] = "decision",
};

int
shm_events_init(struct shm *shm)
{
	struct shm_events_ctl *ctl;

	if (shm_table_register(shm, SHM_TABLE_EVENTS, "events", sizeof(struct shm_event_slot),
	    SHM_EVENTS + 1) != CT_OK)
		return CT_ERROR;
	ctl = shm_events_ctl(shm);
	ctl->size = SHM_EVENTS;
	/* The whole ring is the table's from the start. */
	atomic_store(&shm_header(shm)->tables[SHM_TABLE_EVENTS].used, SHM_EVENTS + 1);
	return CT_OK;
}

struct shm_events_ctl *
shm_events_ctl(const struct shm *shm)
{
	return shm_table_slot(shm, SHM_TABLE_EVENTS, 0);
}

static struct shm_event_slot *
shm_events_slot(const struct shm *shm, uint64_t seq)
{
	return shm_table_slot(shm, SHM_TABLE_EVENTS, (int)(seq % SHM_EVENTS) + 1);
}

void
shm_event_init(struct shm_event *ev, enum shm_event_kind kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = (uint16_t)kind;
	ev->listener = SHM_EVENT_NONE;
	ev->backend = -1;
}

void
shm_event_text(struct shm_event *ev, const char *s)
{
	size_t n = strlen(s);

	if (n >= sizeof(ev->text))
		n = sizeof(ev->text) - 1;
	memcpy(ev->text, s, n);
	ev->text[n] = '\0';
}

uint64_t
shm_events_head(const struct shm *shm)
{
	return atomic_load_explicit(&shm_events_ctl(shm)->head, memory_order_acquire);
}

/*
 * Takes record e for the event of sequence s, whose word is then
 * "mine": CT_DECLINED when a writer of a later lap has it, or one of
 * an earlier lap is still in it and less than two laps behind.
 */
static int
shm_event_take(struct shm_event_slot *e, uint_fast64_t mine)
{
	uint_fast64_t old = atomic_load_explicit(&e->word, memory_order_relaxed);

	do {
		if (old >= mine || ((old & 1) && mine - old < 4 * (uint_fast64_t)SHM_EVENTS))
			return CT_DECLINED;
	} while (!atomic_compare_exchange_weak_explicit(&e->word, &old, mine,
	    memory_order_relaxed, memory_order_relaxed));
	return CT_OK;
}

int
shm_event_write(struct shm *shm, struct shm_event *ev)
{
	struct shm_events_ctl *ctl = shm_events_ctl(shm);
	struct shm_event_slot *e;
	uint_fast64_t s, mine;
	struct timespec ts;
	uint64_t v;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ev->time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	ev->text[sizeof(ev->text) - 1] = '\0';
	s = atomic_fetch_add_explicit(&ctl->head, 1, memory_order_relaxed);
	e = shm_events_slot(shm, s);
	mine = 2 * s + 1;
	if (shm_event_take(e, mine) != CT_OK) {
		atomic_fetch_add_explicit(&ctl->dropped, 1, memory_order_relaxed);
		return CT_DECLINED;
	}
	/* The odd word is seen before any word of the new payload. */
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < SHM_EVENT_WORDS; i++) {
		memcpy(&v, (const char *)ev + sizeof(uint64_t) + i * 8, 8);
		atomic_store_explicit(&e->w[i], v, memory_order_relaxed);
	}
	/* A CAS, not a store: a writer two laps later may have taken the record over. */
	if (!atomic_compare_exchange_strong_explicit(&e->word, &mine, mine + 1,
	    memory_order_release, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&ctl->dropped, 1, memory_order_relaxed);
		return CT_DECLINED;
	}
	return CT_OK;
}

/* Copies record e if it still holds the event whose published word is want. */
static int
shm_event_copy(struct shm_event_slot *e, uint_fast64_t want, struct shm_event *ev)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < SHM_EVENT_WORDS; i++) {
		v = atomic_load_explicit(&e->w[i], memory_order_relaxed);
		memcpy((char *)ev + sizeof(uint64_t) + i * 8, &v, 8);
	}
	/* The words are read before the word is read again. */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&e->word, memory_order_relaxed) == want;
}

/* Passes over the sequence at the cursor, counting it lost. */
static void
shm_events_skip(struct shm_events_cursor *cur, uint64_t *lost)
{
	(*lost)++;
	cur->next++;
	cur->stuck = 0;
}

int
shm_events_next(const struct shm *shm, struct shm_events_cursor *cur, uint64_t now_ms,
    struct shm_event *ev, uint64_t *lost)
{
	struct shm_event_slot *e;
	uint_fast64_t head, word, want;

	for (;;) {
		head = shm_events_head(shm);
		if (cur->next >= head) {
			cur->stuck = 0;
			return CT_AGAIN;
		}
		/* Whatever is more than a ring behind has been overwritten. */
		if (head - cur->next > SHM_EVENTS) {
			*lost += head - SHM_EVENTS - cur->next;
			cur->next = head - SHM_EVENTS;
			cur->stuck = 0;
		}
		e = shm_events_slot(shm, cur->next);
		want = 2 * cur->next + 2;
		word = atomic_load_explicit(&e->word, memory_order_acquire);
		if (word == want && shm_event_copy(e, want, ev)) {
			ev->seq = cur->next + 1;
			ev->text[sizeof(ev->text) - 1] = '\0';
			cur->next++;
			cur->stuck = 0;
			return CT_OK;
		}
		/* Published and overwritten by a later lap, before or while it was copied. */
		if (word >= want) {
			shm_events_skip(cur, lost);
			continue;
		}
		/* Claimed, not published: being written, or never to be. */
		if (!cur->stuck) {
			cur->stuck = 1;
			cur->stuck_since = now_ms;
		}
		if (now_ms - cur->stuck_since < SHM_EVENTS_STUCK_MS)
			return CT_AGAIN;
		shm_events_skip(cur, lost);
	}
}
