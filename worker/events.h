/*
 * A worker's connection events (shm/events.h): one event per client
 * connection opened and closed while a listener stays within its share
 * of admin.events.connections_per_second, and past it a count, written
 * once a second as one "connections" event per listener, so that a
 * flood of clients costs the ring a few events and the worker a counter
 * increment per connection.
 *
 * The share of a worker is connections_per_second divided among the
 * workers, rounded up.  A window opens with the first connection event
 * after a quiet one and lasts a second; its end writes the counts and
 * gives every listener its share again.
 */
#ifndef CT_WORKER_EVENTS_H
#define CT_WORKER_EVENTS_H

struct worker;
struct conn;

/* After the worker's loop is made; nothing is written without an admin process. */
void events_init(struct worker *w);
void events_conn_open(struct conn *c);
/* From conn_close(), before the connection's server is let go. */
void events_conn_close(struct conn *c, const char *end);
/*
 * A client of a listener with approval waits for a decision, or ceased
 * to (detail says how), always: a few per decision, not per connection.
 */
void events_pending(struct conn *c, const char *detail);
/* At exit: writes the counts of the window under way, and frees. */
void events_exit(struct worker *w);

#endif
