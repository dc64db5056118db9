/*
 * The event ring: what happened (connections, server health and admin
 * state, reloads, worker exits), written by any process and read by
 * the admin process for its subscribers (GET /api/v1/events).
 *
 * A fixed ring of SHM_EVENTS records in the segment, as the "events"
 * table: slot 0 holds the counters, slots 1 .. SHM_EVENTS the records.
 * Many writers, no lock:
 *
 *   claim      s = head++ (fetch-add): the event's sequence, s + 1 as
 *              readers number it
 *   take       the record's word goes from an even value below 2s + 1
 *              to 2s + 1 (CAS): one writer at a time in a record, and
 *              a writer a lap behind never overwrites a newer event
 *   write      the payload, as relaxed atomic words
 *   publish    the word becomes 2s + 2 (release)
 *
 * A writer never waits: when the record is taken (a writer a lap
 * behind is still in it, or a lap ahead has it), its event is dropped
 * and counted.  A reader never blocks a writer: it follows with its own
 * cursor, copies a record between two loads of the word, and counts
 * as lost whatever it cannot have: records overwritten by a later lap
 * before it came (the ring went round), and sequences claimed but not
 * published within SHM_EVENTS_STUCK_MS (a writer that dropped its
 * event, or died in the middle).  So for every reader, the events it
 * read plus those it counted lost are every sequence claimed.
 *
 * A writer that died inside a record leaves the word odd; the record
 * is taken over by a writer two laps later, when nobody can still be
 * writing it but a process stopped for that long.
 */
#ifndef CT_SHM_EVENTS_H
#define CT_SHM_EVENTS_H

#include <stdatomic.h>
#include <stdint.h>

#include "shm/shm.h"

#define SHM_EVENTS          4096    /* records in the ring */
#define SHM_EVENT_TEXT      112     /* a record's text, with its NUL */
#define SHM_EVENTS_STUCK_MS 250     /* a claimed sequence not published by then is lost */
#define SHM_EVENT_NONE      0xffff  /* no listener */

/* What happened; the names are the "kind" of the API's events. */
enum shm_event_kind {
	SHM_EV_CONN_OPEN = 1,       /* worker: a client connection was accepted */
	SHM_EV_CONN_CLOSE,          /* worker: ... closed (n: from, to client; status: ms) */
	SHM_EV_CONNECTIONS,         /* worker: opened (n[0]) and closed (n[1]) past the rate, per listener */
	SHM_EV_HEALTH,              /* master, worker (passive): a server went up or down (flag) */
	SHM_EV_ADMIN_STATE,         /* admin: a server was enabled, drained or disabled (flag) */
	SHM_EV_RELOAD,              /* master: a reload ended (flag ok; status: generation) */
	SHM_EV_WORKER_EXIT,         /* master: a worker exited (status: code, or -signal) */
	SHM_EV_PENDING,             /* a client waits for an operator's decision (reserved) */
	SHM_EV_DECISION,            /* a decision on an address or network (reserved) */
	SHM_EV_KINDS
};

extern const char *const shm_event_kind_names[SHM_EV_KINDS];

/* flag of SHM_EV_HEALTH */
#define SHM_EV_HEALTH_UP      0x1   /* set: up; clear: down */
#define SHM_EV_HEALTH_PASSIVE 0x2   /* decided by passive checks (failed connections) */
/* flag of SHM_EV_WORKER_EXIT */
#define SHM_EV_EXIT_RESPAWN   0x1   /* of the running generation: forked again */
#define SHM_EV_EXIT_CORE      0x2   /* dumped core */

/*
 * One event as it is written and read.  Which fields mean something
 * depends on the kind (above); the rest are zero, backend -1 and
 * listener SHM_EVENT_NONE.  The text is NUL-terminated (a reason, a
 * connection's end).
 */
struct shm_event {
	uint64_t seq;               /* set by the reader: the sequence, from 1 */
	uint64_t time_ms;           /* CLOCK_REALTIME, set by the writer */
	uint64_t id;                /* connection id */
	uint64_t n[2];              /* counts, bytes */
	int32_t pid;
	int32_t status;
	uint16_t kind;              /* enum shm_event_kind */
	uint16_t listener;          /* shm listeners slot */
	int16_t backend;            /* shm backends slot, -1: none */
	uint16_t port;              /* the client's */
	uint16_t slot;              /* the worker's */
	uint8_t family;             /* of addr: AF_INET, AF_INET6, 0: none */
	uint8_t flag;
	uint8_t addr[16];           /* the client's */
	char text[SHM_EVENT_TEXT];
};

/* The counters, in slot 0 of the table. */
struct shm_events_ctl {
	atomic_uint_fast64_t head;          /* sequences claimed */
	atomic_uint_fast64_t dropped;       /* writes given up: the record was taken */
	atomic_uint_fast64_t lost;          /* events the admin's subscribers lost, all told */
	uint32_t size;                      /* records: SHM_EVENTS */
};

/* A reader's place in the ring. */
struct shm_events_cursor {
	uint64_t next;              /* the sequence to read next (0-based, as claimed) */
	uint64_t stuck_since;       /* ms when next was first found claimed and unpublished */
	unsigned stuck:1;
};

int shm_events_init(struct shm *shm);
struct shm_events_ctl *shm_events_ctl(const struct shm *shm);

/* Fills in the no-value fields (backend -1, listener none) and zeroes the rest. */
void shm_event_init(struct shm_event *ev, enum shm_event_kind kind);
/* Copies s into ev->text, cut to fit. */
void shm_event_text(struct shm_event *ev, const char *s);

/*
 * Writes ev (time_ms set here; seq ignored).  Returns CT_OK, or
 * CT_DECLINED when the record was taken (counted in dropped).
 */
int shm_event_write(struct shm *shm, struct shm_event *ev);

/* The sequence the next event will have: a cursor there reads only what comes after. */
uint64_t shm_events_head(const struct shm *shm);

/*
 * The next event for cursor: CT_OK with *ev (ev->seq its sequence,
 * from 1), or CT_AGAIN when none is ready.  Adds to *lost the records
 * passed over on the way.  now_ms is any millisecond clock, for
 * SHM_EVENTS_STUCK_MS.
 */
int shm_events_next(const struct shm *shm, struct shm_events_cursor *cur, uint64_t now_ms,
    struct shm_event *ev, uint64_t *lost);

#endif
