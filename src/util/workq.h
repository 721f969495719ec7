/*
 * workq: a pool of worker threads for everything that must not run on the
 * event loop (scans, fsync, SQLite, file copies). A job runs fn(arg) on a
 * worker; then done(arg) runs on the event loop's thread. The job owns
 * nothing: arg carries whatever the caller needs, and done must cope with a
 * session that went away meanwhile (look it up by id, never keep a pointer
 * to a session in arg).
 */
#ifndef PC_WORKQ_H
#define PC_WORKQ_H

#include <event2/event.h>

struct workq;

/* Starts nthreads workers (0 = one per CPU) delivering to base. */
struct workq *workq_new(struct event_base *base, unsigned nthreads);
/* Queues a job; never fails (allocation failure is fatal). */
void workq_submit(struct workq *q, void (*fn)(void *arg), void (*done)(void *arg), void *arg);
/* Jobs queued, running, or finished with their done callback not yet run. */
unsigned workq_pending(struct workq *q);
/*
 * Stops the workers after the jobs already queued have run; their done
 * callbacks are NOT called (the loop is going away). NULL is fine.
 */
void workq_free(struct workq *q);

#endif
