/*
 * workq: worker threads and the way back to the event loop. Owns its
 * threads, its queues and an eventfd; the jobs' args belong to the caller.
 *
 * Workers take jobs from a FIFO under one mutex and condition variable.
 * A finished job goes on a done list; the worker that makes the list
 * non-empty writes to an eventfd that a persistent libevent event on the
 * loop's base watches. Workers never call into libevent, so this works
 * whether or not evthread_use_pthreads() was called. The loop reads the
 * eventfd first and then takes the whole list, so a job finished between
 * the two steps is either in the list it takes or has written the eventfd
 * again: none is left behind.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

#define WORKQ_MAX_THREADS 256

struct workq_job {
	void (*fn)(void *);
	void (*done)(void *);
	void *arg;
	struct workq_job *next;
};

struct workq_list {
	struct workq_job *head, *tail;
};

struct workq {
	struct event_base *base;
	struct event *ev;
	int efd;
	pthread_t *threads;
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct workq_list queue; /* waiting for a worker */
	struct workq_list done;  /* fn ran, done not yet called */
	unsigned pending;        /* queued + running + in done */
	int stopping;
};

static void
list_push(struct workq_list *l, struct workq_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct workq_job *
list_pop(struct workq_list *l)
{
	struct workq_job *j = l->head;

	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
	}
	return j;
}

static void
list_free(struct workq_list *l)
{
	struct workq_job *j;

	while ((j = list_pop(l)) != NULL)
		free(j);
}

/* Tells the loop that the done list is not empty. */
static void
workq_wake(struct workq *q)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the loop will wake. */
	while (write(q->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *
workq_main(void *arg)
{
	struct workq *q = arg;
	struct workq_job *j;
	int wake;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->queue.head == NULL && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if ((j = list_pop(&q->queue)) == NULL)
			break; /* stopping and nothing left */
		pthread_mutex_unlock(&q->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&q->mu);
		wake = q->done.head == NULL;
		list_push(&q->done, j);
		if (wake && !q->stopping) {
			pthread_mutex_unlock(&q->mu);
			workq_wake(q);
			pthread_mutex_lock(&q->mu);
		}
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* On the loop thread: runs done(arg) of every finished job, in order. */
static void
workq_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct workq *q = arg;
	struct workq_list l;
	struct workq_job *j;
	uint64_t n;

	while (read(q->efd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&q->mu);
	l = q->done;
	q->done.head = q->done.tail = NULL;
	pthread_mutex_unlock(&q->mu);
	while ((j = list_pop(&l)) != NULL) {
		pthread_mutex_lock(&q->mu);
		q->pending--;
		pthread_mutex_unlock(&q->mu);
		if (j->done != NULL)
			j->done(j->arg);
		free(j);
	}
}

struct workq *
workq_new(struct event_base *base, unsigned nthreads)
{
	struct workq *q = xcalloc(1, sizeof(*q));
	sigset_t all, old;
	int rc;

	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = n > 0 ? (unsigned)n : 1;
	}
	if (nthreads > WORKQ_MAX_THREADS)
		nthreads = WORKQ_MAX_THREADS;
	q->base = base;
	if ((q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		fatal("workq: eventfd");
	q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, workq_deliver, q);
	if (q->ev == NULL || event_add(q->ev, NULL) < 0)
		fatalx("workq: cannot add the completion event");
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->threads = xcalloc(nthreads, sizeof(*q->threads));

	/* Signals belong to the loop thread: workers start with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (q->nthreads = 0; q->nthreads < nthreads; q->nthreads++) {
		rc = pthread_create(&q->threads[q->nthreads], NULL, workq_main, q);
		if (rc != 0) {
			errno = rc;
			fatal("workq: pthread_create");
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return q;
}

void
workq_submit(struct workq *q, void (*fn)(void *arg), void (*done)(void *arg), void *arg)
{
	struct workq_job *j = xmalloc(sizeof(*j));

	j->fn = fn;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&q->mu);
	list_push(&q->queue, j);
	q->pending++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

unsigned
workq_pending(struct workq *q)
{
	unsigned n;

	pthread_mutex_lock(&q->mu);
	n = q->pending;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* Must not be called from a done callback of q (it frees q). */
void
workq_free(struct workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	list_free(&q->queue);
	list_free(&q->done);
	event_free(q->ev);
	close(q->efd);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->threads);
	free(q);
}
