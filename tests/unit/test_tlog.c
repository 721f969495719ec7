/*
 * Unit tests for outbreak/tlog: each line's fields and its prev, computed
 * here independently; the head file; reopening continues the chain; a torn
 * last line is cut off on open; tlog_verify() passes an intact log and
 * fails on every single flipped byte (each byte of a log of three lines,
 * so the first, a middle and the last line), on a changed head, and on
 * lines lost from the end; tlog_open() refuses a log whose last line no
 * longer matches its head but takes the head one entry behind that a crash
 * leaves; envelopes cut at 1 MiB; text that is not UTF-8; appends from
 * several threads; a full disk leaves no half line.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include <jansson.h>
#include <openssl/evp.h>

#include "outbreak/tlog.h"

#define T0 1714564800

static int
setup(void **state)
{
	(void)state;
	store_fixture_setup("/tmp/pc-tlog-XXXXXX");
	return 0;
}

static char *
log_path(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", base, name);
	return path;
}

static struct tlog *
open_log(const char *path)
{
	char *err = NULL;
	struct tlog *t = tlog_open(path, &err);

	if (t == NULL)
		fail_msg("tlog_open %s: %s", path, err);
	assert_null(err);
	return t;
}

static void
sha256_hex(const void *p, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned int len = 32;

	assert_int_equal(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
append(struct tlog *t, int i)
{
	uint8_t digest[32];
	char env[64], id[16], reason[32];
	struct tlog_entry e = {
	    .time = T0 + i,
	    .accepted = i % 2,
	    .reason = reason,
	    .source = i % 3 == 0 ? "push" : "pull",
	    .type = "alert",
	    .id = id,
	    .seq = (uint64_t)i,
	    .digest = digest,
	    .envelope = env,
	};

	memset(digest, i, sizeof(digest));
	snprintf(env, sizeof(env), "{\"payload\":\"e%d\",\"signature\":\"x\"}", i);
	e.envelope_len = strlen(env);
	snprintf(id, sizeof(id), "a-%d", i);
	if (i % 2)
		reason[0] = '\0';
	else
		snprintf(reason, sizeof(reason), "bad signature %d", i);
	assert_int_equal(tlog_append(t, &e), 0);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static void
spill(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
verify_ok(const char *path, size_t want)
{
	size_t n = 99, bad = 99;
	char *err = NULL;

	if (tlog_verify(path, &n, &bad, &err) < 0)
		fail_msg("tlog_verify: line %zu: %s", bad, err);
	assert_null(err);
	assert_int_equal(n, want);
	assert_int_equal(bad, 0);
}

/* tlog_verify must fail at a line in [lo, hi], its message containing want. */
static void
verify_bad(const char *path, size_t lo, size_t hi, const char *want)
{
	size_t n = 99, bad = 0;
	char *err = NULL;

	if (tlog_verify(path, &n, &bad, &err) == 0)
		fail_msg("tlog_verify passed, expected a failure at line %zu", lo);
	assert_non_null(err);
	if (bad < lo || bad > hi)
		fail_msg("bad line %zu, expected %zu..%zu (%s)", bad, lo, hi, err);
	if (want != NULL && strstr(err, want) == NULL)
		fail_msg("error \"%s\", expected \"%s\"", err, want);
	assert_int_equal(n, 0);
	free(err);
}

/*
 * Checks every line of the log independently of tlog: numbers, prev, the
 * fields of append(i) for line i (when check_fields), and the head.
 * Returns the number of lines.
 */
static size_t
check_chain(const char *path, int check_fields)
{
	size_t len, n = 0;
	char *buf = slurp(path, &len), *p = buf, *nl, prev[65], head[128], *h;

	memset(prev, '0', 64);
	prev[64] = '\0';
	while ((nl = memchr(p, '\n', len - (size_t)(p - buf))) != NULL) {
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);

		n++;
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "n")), (json_int_t)n);
		assert_string_equal(json_string_value(json_object_get(o, "prev")), prev);
		if (check_fields) {
			char env[64], *e64 = NULL, dig[65];
			uint8_t digest[32];
			int i = (int)n;

			assert_int_equal(json_integer_value(json_object_get(o, "time")), T0 + i);
			assert_string_equal(json_string_value(json_object_get(o, "result")),
			                    i % 2 ? "accepted" : "rejected");
			if (i % 2)
				assert_string_equal(json_string_value(json_object_get(o, "reason")),
				                    "");
			else
				assert_non_null(
				    strstr(json_string_value(json_object_get(o, "reason")),
				           "bad signature"));
			assert_string_equal(json_string_value(json_object_get(o, "source")),
			                    i % 3 == 0 ? "push" : "pull");
			assert_string_equal(json_string_value(json_object_get(o, "type")), "alert");
			assert_int_equal(json_integer_value(json_object_get(o, "seq")), i);
			memset(digest, i, sizeof(digest));
			for (int k = 0; k < 32; k++)
				snprintf(dig + 2 * k, 3, "%02x", digest[k]);
			assert_string_equal(json_string_value(json_object_get(o, "digest")), dig);
			snprintf(env, sizeof(env), "{\"payload\":\"e%d\",\"signature\":\"x\"}", i);
			e64 = malloc(128);
			EVP_EncodeBlock((unsigned char *)e64, (const unsigned char *)env,
			                (int)strlen(env));
			assert_string_equal(json_string_value(json_object_get(o, "envelope")), e64);
			free(e64);
			/* the keys in the header's order */
			{
				static const char *const keys[] = {
				    "n",    "time", "prev", "result", "reason",  "source",
				    "type", "id",   "seq",  "digest", "envelope"};
				const char *q = p;

				for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
					char quoted[32];
					const char *at;

					snprintf(quoted, sizeof(quoted), "\"%s\":", keys[k]);
					at = strstr(q, quoted);
					assert_non_null(at);
					assert_true(at < nl);
					q = at;
				}
			}
		}
		json_decref(o);
		sha256_hex(p, (size_t)(nl - p), prev);
		p = nl + 1;
	}
	assert_true(p == buf + len); /* no torn line */
	free(buf);
	/* the head names the last line */
	snprintf(head, sizeof(head), "%s.head", path);
	h = slurp(head, NULL);
	snprintf(head, sizeof(head), "%zu %s\n", n, prev);
	assert_string_equal(h, head);
	free(h);
	return n;
}

static void
test_append_reopen(void **state)
{
	char *path = log_path("t.log");
	struct tlog *t;
	struct stat st;

	(void)state;
	t = open_log(path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(check_chain(path, 1), 0); /* a head "0 000..." */
	verify_ok(path, 0);
	for (int i = 1; i <= 3; i++)
		append(t, i);
	tlog_free(t);
	assert_int_equal(check_chain(path, 1), 3);
	verify_ok(path, 3);

	/* reopened, the chain goes on from line 3 */
	t = open_log(path);
	append(t, 4);
	append(t, 5);
	tlog_free(t);
	assert_int_equal(check_chain(path, 1), 5);
	verify_ok(path, 5);
	/* and again, without an append in between */
	tlog_free(open_log(path));
	verify_ok(path, 5);
}

/* Entries with parts missing or odd: no digest, no envelope, text that is not UTF-8. */
static void
test_odd_entries(void **state)
{
	char *path = log_path("odd.log"), hex[65];
	struct tlog *t = open_log(path);
	size_t big = (1u << 20) + 100, len;
	char *env = malloc(big), *buf, *nl;
	struct tlog_entry e = {.time = T0, .reason = "bad \xff\xfe name", .source = "local"};
	json_t *o;
	unsigned char *dec;
	int declen;

	(void)state;
	memset(env, 'E', big);
	e.envelope = env;
	e.envelope_len = big;
	assert_int_equal(tlog_append(t, &e), 0); /* digest NULL: the envelope's */
	e.envelope = NULL;
	e.envelope_len = 0;
	e.reason = NULL;
	e.source = NULL;
	assert_int_equal(tlog_append(t, &e), 0);
	tlog_free(t);
	verify_ok(path, 2);
	assert_int_equal(check_chain(path, 0), 2);

	buf = slurp(path, &len);
	nl = strchr(buf, '\n');
	o = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "bad ?? name");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "");
	sha256_hex(env, big, hex);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), hex);
	/* cut at 1 MiB */
	{
		const char *s = json_string_value(json_object_get(o, "envelope"));
		size_t sl = strlen(s);

		dec = malloc(sl);
		declen = EVP_DecodeBlock(dec, (const unsigned char *)s, (int)sl);
		/* 1 MiB = 3 * 349525 + 1: two '=' */
		assert_int_equal(declen - 2, 1u << 20);
		assert_memory_equal(dec, env, 1u << 20);
		free(dec);
	}
	json_decref(o);
	o = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "envelope")), "");
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "");
	assert_string_equal(json_string_value(json_object_get(o, "source")), "");
	sha256_hex("", 0, hex);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), hex);
	json_decref(o);
	free(buf);
	free(env);
}

static void
test_torn_line(void **state)
{
	char *path = log_path("torn.log"), *good, *torn;
	struct tlog *t = open_log(path);
	size_t len;

	(void)state;
	append(t, 1);
	append(t, 2);
	tlog_free(t);
	good = slurp(path, &len);

	/* a crash in the middle of writing line 3 */
	torn = malloc(len + 64);
	memcpy(torn, good, len);
	memcpy(torn + len, "{\"n\":3,\"time\":17145", 19);
	spill(path, torn, len + 19);
	verify_bad(path, 3, 3, "no final newline");
	t = open_log(path);
	{
		size_t l2;
		char *now = slurp(path, &l2);

		assert_int_equal(l2, len);
		assert_memory_equal(now, good, len);
		free(now);
	}
	verify_ok(path, 2);
	append(t, 3);
	tlog_free(t);
	assert_int_equal(check_chain(path, 1), 3);
	verify_ok(path, 3);

	/* a torn line that is all there is */
	path = log_path("torn1.log");
	spill(path, "{\"n\":1,", 7);
	t = open_log(path);
	append(t, 1);
	tlog_free(t);
	assert_int_equal(check_chain(path, 1), 1);
	verify_ok(path, 1);

	/* a final newline lost (the last byte flipped) is such a line too */
	path = log_path("torn.log");
	free(good);
	good = slurp(path, &len);
	good[len - 1] = '\0';
	spill(path, good, len - 1);
	verify_bad(path, 3, 3, "no final newline");
	free(good);
	free(torn);
}

/* Every single byte of a log of three lines, flipped, fails verification. */
static void
test_flip_every_byte(void **state)
{
	char *path = log_path("flip.log"), head[160], *hbuf;
	struct tlog *t = open_log(path);
	size_t len, hlen, line_of[4096], line = 1;
	char *good;

	(void)state;
	for (int i = 1; i <= 3; i++)
		append(t, i);
	tlog_free(t);
	verify_ok(path, 3);
	good = slurp(path, &len);
	assert_true(len < sizeof(line_of));
	for (size_t i = 0; i < len; i++) {
		line_of[i] = line;
		if (good[i] == '\n')
			line++;
	}
	assert_int_equal(line, 4);

	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit += 5) { /* bits 0 and 5: 'a'^0x20 = 'A' too */
			good[i] ^= (char)(1 << bit);
			spill(path, good, len);
			/* the line itself fails, or the next one's prev does not match */
			verify_bad(path, line_of[i], line_of[i] + 1, NULL);
			good[i] ^= (char)(1 << bit);
		}
	spill(path, good, len);
	verify_ok(path, 3);

	/* the three cases by name: a byte of the envelope of line 1, 2, 3 */
	for (size_t want = 1; want <= 3; want++) {
		char *at = good;

		for (size_t k = 1; k < want; k++)
			at = strchr(at, '\n') + 1;
		at = strstr(at, "\"envelope\":\"") + 14;
		*at ^= 0x01;
		spill(path, good, len);
		if (want < 3) {
			char msg[64];

			snprintf(msg, sizeof(msg), "line %zu: prev is not the hash of line %zu",
			         want + 1, want);
			verify_bad(path, want + 1, want + 1, msg);
		} else {
			verify_bad(path, 3, 3, "line 3: its hash is not the one in");
		}
		*at ^= 0x01;
	}
	spill(path, good, len);
	verify_ok(path, 3);

	/* a byte of the head */
	snprintf(head, sizeof(head), "%s.head", path);
	hbuf = slurp(head, &hlen);
	for (size_t i = 0; i < hlen; i++) {
		hbuf[i] ^= 0x01;
		spill(head, hbuf, hlen);
		verify_bad(path, 1, 4, NULL);
		hbuf[i] ^= 0x01;
	}
	spill(head, hbuf, hlen);
	verify_ok(path, 3);

	/* the last line, or the last two, removed */
	spill(path, good, (size_t)(strchr(strchr(good, '\n') + 1, '\n') + 1 - good));
	verify_bad(path, 3, 3, "names line 3 as the last, the log has 2 lines");
	spill(path, good, (size_t)(strchr(good, '\n') + 1 - good));
	verify_bad(path, 2, 2, "names line 3");
	spill(path, "", 0);
	verify_bad(path, 1, 1, "names line 3");
	/* without a head, only the chain is checked */
	spill(path, good, len);
	assert_int_equal(unlink(head), 0);
	verify_ok(path, 3);
	free(hbuf);
	free(good);
}

static void
test_open_checks_head(void **state)
{
	char *path = log_path("h.log"), head[160], *h2, *good, *err = NULL;
	struct tlog *t = open_log(path);
	size_t len, hlen;

	(void)state;
	snprintf(head, sizeof(head), "%s.head", path);
	append(t, 1);
	append(t, 2);
	h2 = slurp(head, &hlen);
	append(t, 3);
	tlog_free(t);
	good = slurp(path, &len);

	/* a crash between the line and the head: the head one entry behind */
	spill(head, h2, hlen);
	verify_bad(path, 3, 3, "names line 2 as the last");
	t = open_log(path);
	assert_int_equal(check_chain(path, 1), 3);
	verify_ok(path, 3);
	append(t, 4);
	tlog_free(t);
	verify_ok(path, 4);
	free(good);
	good = slurp(path, &len);

	/* the last line changed: no new line may chain onto it */
	{
		char *at = strstr(strrchr(good, '{'), "\"reason\":\"") + 10, saved = *at;

		assert_int_equal(*at, 'b'); /* line 4 is rejected: "bad signature 4" */
		*at = 'B';
		spill(path, good, len);
		assert_null(tlog_open(path, &err));
		assert_non_null(strstr(err, "tlog_verify"));
		free(err);
		verify_bad(path, 4, 4, "its hash is not the one in");
		*at = saved;
		spill(path, good, len);
	}
	/* the head two behind, or ahead */
	spill(head, h2, hlen);
	assert_null(tlog_open(path, &err));
	free(err);
	spill(path, good, (size_t)(strchr(good, '\n') + 1 - good));
	assert_null(tlog_open(path, &err));
	free(err);
	/* a head that is no head */
	spill(path, good, len);
	spill(head, "4 xyz\n", 6);
	assert_null(tlog_open(path, &err));
	assert_non_null(strstr(err, "not \"<n> <64 hex digits>\""));
	free(err);
	verify_bad(path, 1, 4, "not \"<n> <64 hex digits>\"");

	/* no head at all: written anew */
	assert_int_equal(unlink(head), 0);
	t = open_log(path);
	tlog_free(t);
	assert_int_equal(check_chain(path, 1), 4);
	verify_ok(path, 4);

	/* a last line that is no entry */
	spill(path, "{\"n\":1}\nnot json\n", 17);
	assert_int_equal(unlink(head), 0);
	assert_null(tlog_open(path, &err));
	assert_non_null(strstr(err, "last line"));
	free(err);
	verify_bad(path, 1, 1, "prev is not 64 zeros");
	free(h2);
	free(good);
}

static void
test_verify_errors(void **state)
{
	size_t n, bad;
	char *err = NULL;
	char *path = log_path("v.log");

	(void)state;
	assert_int_equal(tlog_verify(log_path("missing.log"), &n, &bad, &err), -1);
	assert_non_null(strstr(err, "No such file"));
	free(err);
	spill(path, "", 0);
	verify_ok(path, 0); /* empty, no head */
	spill(path, "\n", 1);
	verify_bad(path, 1, 1, "not JSON");
	spill(path, "[1]\n", 4);
	verify_bad(path, 1, 1, "not a JSON object");
	spill(path, "{\"n\":2}\n", 8);
	verify_bad(path, 1, 1, "n is not 1");
	spill(path, "{\"n\":1,\"prev\":\"00\"}\n", 20);
	verify_bad(path, 1, 1, "prev is not 64 zeros");
}

struct worker {
	struct tlog *t;
	int base;
};

static void *
worker(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 25; i++)
		append(w->t, w->base + i);
	return NULL;
}

static void
test_threads(void **state)
{
	char *path = log_path("mt.log");
	struct tlog *t = open_log(path);
	struct worker w[4];
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i].t = t;
		w[i].base = 100 * (i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	tlog_free(t);
	verify_ok(path, 100);
	assert_int_equal(check_chain(path, 0), 100);
}

/* A full disk: the failed line is cut off, the chain stays whole. */
static void
test_enospc(void **state)
{
	char mnt[256], path[300];
	size_t big = 1u << 20;
	char *env = malloc(big);
	struct tlog_entry e = {.time = T0, .reason = "", .source = "push"};
	struct tlog *t;
	struct stat st;
	off_t before;

	(void)state;
	snprintf(mnt, sizeof(mnt), "%s/tiny", base);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0) {
		print_message("skipping the full-disk test: cannot mount a tmpfs (%s)\n",
		              strerror(errno));
		free(env);
		skip();
	}
	snprintf(path, sizeof(path), "%s/t.log", mnt);
	t = open_log(path);
	append(t, 1);
	assert_int_equal(stat(path, &st), 0);
	before = st.st_size;
	memset(env, 'x', big);
	e.envelope = env;
	e.envelope_len = big;
	errno = 0;
	assert_int_equal(tlog_append(t, &e), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, before);
	verify_ok(path, 1);
	/* the space came back: the next entry is line 2 */
	append(t, 2);
	tlog_free(t);
	assert_int_equal(check_chain(path, 1), 2);
	verify_ok(path, 2);
	free(env);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_odd_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flip_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_checks_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
