/*
 * Unit tests for scanner: the composed path (walker + engine), reload, hot
 * additions, fold, and scans racing a reload on other threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "scan/scanner.h"
#include "util/log.h"

/* Built from halves so this source is not itself a test virus. */
static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
                            "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

struct fixture {
	char dir[64];
	struct pc_config conf;
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/pc-scanner-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	/* One body signature over "MALWARE-ONE" (offset any). */
	write_file(fx->dir, "a.ndb", "Test.One:0:*:4d414c574152452d4f4e45\n");
	conf_defaults(&fx->conf);
	conf_set(&fx->conf, "scan", "database_dir", fx->dir, stderr);
	conf_set(&fx->conf, "scan", "fold_delay", "100ms", stderr);
	conf_set(&fx->conf, "log", "verdicts", "no", stderr);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	conf_free(&fx->conf);
	free(fx);
	return 0;
}

/* Scans text; returns the status and copies the first hit name. */
static enum scan_status
scan_text(struct scanner *s, const char *text, char *name, size_t cap)
{
	struct scan_verdict v;
	enum scan_status st;

	verdict_init(&v);
	scanner_scan_mem(s, text, strlen(text), "mem", &v);
	st = v.status;
	if (name) {
		name[0] = '\0';
		if (v.nhits)
			snprintf(name, cap, "%s", v.hits[0].name);
	}
	verdict_clear(&v);
	return st;
}

static void
test_scan_and_empty_db(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s;
	char *err = NULL, name[64];
	char empty[] = "/tmp/pc-empty-XXXXXX";

	assert_non_null(s = scanner_new(&fx->conf, &err));
	assert_int_equal(scan_text(s, "xx MALWARE-ONE yy", name, sizeof(name)), SCAN_INFECTED);
	assert_string_equal(name, "Test.One");
	assert_int_equal(scan_text(s, "harmless text", NULL, 0), SCAN_CLEAN);
	scanner_free(s);

	/* A directory without signatures is refused: it would pass everything. */
	assert_non_null(mkdtemp(empty));
	conf_set(&fx->conf, "scan", "database_dir", empty, stderr);
	assert_null(s = scanner_new(&fx->conf, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "no usable signatures"));
	free(err);
	rmdir(empty);
}

static void
test_reload(void **state)
{
	struct fixture *fx = *state;
	struct scanner_stats st0, st1;
	struct scanner *s;
	char *err = NULL;

	assert_non_null(s = scanner_new(&fx->conf, &err));
	scanner_stats(s, &st0);
	assert_int_equal(scan_text(s, "MALWARE-TWO", NULL, 0), SCAN_CLEAN);
	write_file(fx->dir, "b.ndb", "Test.Two:0:*:4d414c574152452d54574f\n");
	assert_int_equal(scanner_reload(s), 0);
	scanner_stats(s, &st1);
	assert_true(st1.generation > st0.generation);
	assert_int_equal(scan_text(s, "MALWARE-TWO", NULL, 0), SCAN_INFECTED);

	/* A reload that fails keeps the old engine. */
	write_file(fx->dir, "a.ndb", "");
	write_file(fx->dir, "b.ndb", "");
	assert_int_equal(scanner_reload(s), -1);
	assert_int_equal(scan_text(s, "MALWARE-TWO", NULL, 0), SCAN_INFECTED);
	scanner_free(s);
}

static void
test_reload_async(void **state)
{
	struct fixture *fx = *state;
	struct scanner_stats st0, st1;
	struct scanner *s;
	char *err = NULL;

	assert_non_null(s = scanner_new(&fx->conf, &err));
	scanner_stats(s, &st0);
	write_file(fx->dir, "c.ndb", "Test.Three:0:*:4d414c574152452d5448524545\n");
	assert_int_equal(scanner_reload_async(s), 0);
	/* Scans go on meanwhile; wait (bounded) for the swap. */
	for (int i = 0; i < 500; i++) {
		assert_int_equal(scan_text(s, "MALWARE-ONE", NULL, 0), SCAN_INFECTED);
		scanner_stats(s, &st1);
		if (st1.generation != st0.generation)
			break;
		usleep(10000);
	}
	assert_true(st1.generation > st0.generation);
	assert_int_equal(scan_text(s, "MALWARE-THREE", NULL, 0), SCAN_INFECTED);
	scanner_free(s);
}

static void
test_hot_addition_and_fold(void **state)
{
	struct fixture *fx = *state;
	struct scanner_stats st;
	struct scanner *s;
	char *err = NULL, name[64], hsb[256];

	assert_non_null(s = scanner_new(&fx->conf, &err));
	assert_int_equal(scan_text(s, "MALWARE-HOT", NULL, 0), SCAN_CLEAN);
	const char *hot = "Test.Hot:0:*:4d414c574152452d484f54\n";

	assert_int_equal(scanner_add_signatures(s, "ndb", hot, strlen(hot), &err), 1);
	/* Effective at once, through the overlay; old signatures still match. */
	assert_int_equal(scan_text(s, "MALWARE-HOT", name, sizeof(name)), SCAN_INFECTED);
	assert_string_equal(name, "Test.Hot");
	assert_int_equal(scan_text(s, "MALWARE-ONE", NULL, 0), SCAN_INFECTED);
	scanner_stats(s, &st);
	assert_int_equal(st.overlays, 1);

	/* A hash addition (SHA-256 of the EICAR file, any size). */
	snprintf(
	    hsb, sizeof(hsb),
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:*:Test.HotHash\n");
	assert_int_equal(scanner_add_signatures(s, "hsb", hsb, strlen(hsb), &err), 1);
	assert_int_equal(scan_text(s, eicar, name, sizeof(name)), SCAN_INFECTED);
	assert_string_equal(name, "Test.HotHash");

	/* Bad additions are refused and change nothing. */
	assert_int_equal(scanner_add_signatures(s, "ndb", "garbage\n", 8, &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(scanner_add_signatures(s, "exe", "x", 1, &err), -1);
	free(err);
	err = NULL;

	/* The background fold (fold_delay 100ms) leaves one database. */
	for (int i = 0; i < 300; i++) {
		scanner_stats(s, &st);
		if (st.overlays == 0)
			break;
		usleep(20000);
	}
	assert_int_equal(st.overlays, 0);
	assert_int_equal(scan_text(s, "MALWARE-HOT", NULL, 0), SCAN_INFECTED);
	assert_int_equal(scan_text(s, eicar, NULL, 0), SCAN_INFECTED);
	assert_int_equal(scan_text(s, "MALWARE-ONE", NULL, 0), SCAN_INFECTED);
	scanner_free(s);
}

struct racer {
	struct scanner *s;
	int failures;
	int stop;
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (scan_text(r->s, "zz MALWARE-ONE zz", NULL, 0) != SCAN_INFECTED)
			r->failures++;
		if (scan_text(r->s, "clean clean", NULL, 0) != SCAN_CLEAN)
			r->failures++;
	}
	return NULL;
}

static void
test_scans_race_reloads(void **state)
{
	struct fixture *fx = *state;
	struct racer r = {0};
	pthread_t t[2];
	char *err = NULL;

	assert_non_null(r.s = scanner_new(&fx->conf, &err));
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r), 0);
	for (int i = 0; i < 5; i++) {
		char sig[128];
		int n = snprintf(sig, sizeof(sig), "Test.R%d:0:*:4d414c574152452d52%02x\n", i, i);

		assert_int_equal(scanner_reload(r.s), 0);
		assert_int_equal(scanner_add_signatures(r.s, "ndb", sig, (size_t)n, &err), 1);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.failures, 0);
	scanner_free(r.s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scan_and_empty_db, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_async, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hot_addition_and_fold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scans_race_reloads, setup, teardown),
	};
	log_init("test_scanner", 0, LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
