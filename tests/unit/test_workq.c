/*
 * Unit tests for util/workq: jobs run on workers, each done() runs once on
 * the loop's thread, pending counts, done() that submits more, and
 * workq_free() with jobs still queued. The tests run first without and
 * then with evthread_use_pthreads().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "util/workq.h"

#define NJOBS 1000

struct slot {
	atomic_int ran;
	int done;
	int on_loop; /* done() ran on the loop thread */
	int fn_on_worker;
};

static pthread_t loop_thread;
static struct event_base *base;
static struct slot slots[NJOBS];
static int ndone, want_done;

static void
job_fn(void *arg)
{
	struct slot *s = arg;

	atomic_fetch_add(&s->ran, 1);
	s->fn_on_worker = !pthread_equal(pthread_self(), loop_thread);
}

static void
job_done(void *arg)
{
	struct slot *s = arg;

	s->done++;
	s->on_loop = pthread_equal(pthread_self(), loop_thread);
	if (++ndone == want_done)
		event_base_loopbreak(base);
}

/* Runs the loop until want_done callbacks came, or 20 seconds passed. */
static void
run_loop(void)
{
	struct timeval tv = {20, 0};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static int
setup(void **state)
{
	(void)state;
	loop_thread = pthread_self();
	base = event_base_new();
	assert_non_null(base);
	memset(slots, 0, sizeof(slots));
	ndone = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	event_base_free(base);
	base = NULL;
	return 0;
}

static void
test_thousand_jobs(void **state)
{
	struct workq *q = workq_new(base, 2);
	(void)state;

	want_done = NJOBS;
	for (int i = 0; i < NJOBS; i++)
		workq_submit(q, job_fn, job_done, &slots[i]);
	run_loop();
	assert_int_equal(ndone, NJOBS);
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(atomic_load(&slots[i].ran), 1);
		assert_int_equal(slots[i].done, 1);
		assert_true(slots[i].on_loop);
		assert_true(slots[i].fn_on_worker);
	}
	assert_int_equal(workq_pending(q), 0);
	/* Nothing more arrives later. */
	{
		struct timeval tv = {0, 50000};

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	assert_int_equal(ndone, NJOBS);
	workq_free(q);
}

/* Jobs held at a gate: pending counts them until their done() ran. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void
gated_fn(void *arg)
{
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	job_fn(arg);
}

static void
test_pending(void **state)
{
	struct workq *q = workq_new(base, 3);
	(void)state;

	gate_open = 0;
	want_done = 10;
	for (int i = 0; i < 10; i++)
		workq_submit(q, gated_fn, job_done, &slots[i]);
	assert_int_equal(workq_pending(q), 10);
	usleep(20000);
	assert_int_equal(workq_pending(q), 10);
	assert_int_equal(ndone, 0);
	pthread_mutex_lock(&gate_mu);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	run_loop();
	assert_int_equal(ndone, 10);
	assert_int_equal(workq_pending(q), 0);
	workq_free(q);
}

/* done() may submit the next job: a chain of 100, one at a time. */
static struct workq *chain_q;
static int chain_left;

static void
chain_done(void *arg)
{
	job_done(arg);
	if (--chain_left > 0)
		workq_submit(chain_q, job_fn, chain_done, &slots[chain_left]);
}

static void
test_chain(void **state)
{
	(void)state;
	chain_q = workq_new(base, 0);
	chain_left = 100;
	want_done = 100;
	workq_submit(chain_q, job_fn, chain_done, &slots[0]);
	run_loop();
	assert_int_equal(ndone, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(slots[i].done, 1);
	workq_free(chain_q);
	workq_free(NULL);
}

static void
slow_fn(void *arg)
{
	usleep(1000);
	job_fn(arg);
}

/* Free with jobs queued: every queued fn runs, no done() is called. */
static void
test_free_with_queue(void **state)
{
	struct workq *q = workq_new(base, 1);
	(void)state;

	want_done = -1;
	for (int i = 0; i < 50; i++)
		workq_submit(q, slow_fn, job_done, &slots[i]);
	assert_true(workq_pending(q) > 0);
	workq_free(q);
	for (int i = 0; i < 50; i++)
		assert_int_equal(atomic_load(&slots[i].ran), 1);
	/* The loop no longer has the completion event: it returns at once. */
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(ndone, 0);
}

static void
test_with_evthread(void **state)
{
	(void)state;
	/* From here on libevent is thread-aware; it must make no difference. */
	assert_int_equal(evthread_use_pthreads(), 0);
	teardown(NULL);
	setup(NULL);
	test_thousand_jobs(NULL);
	teardown(NULL);
	setup(NULL);
	test_free_with_queue(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_thousand_jobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_with_evthread, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
