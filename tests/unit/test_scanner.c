/*
 * Unit tests for scanner: the composed path (walker + engine), reload, hot
 * additions, fold, scans racing a reload on other threads, and locating a
 * whole-message clamd hit in a part against a fake clamd.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/*
 * A fake clamd on a unix socket: answers each INSTREAM with "Fake.Two FOUND"
 * when the stream holds MALWARE-TWO, else OK; connections after die_after
 * (0: never) are closed at once, as if clamd had gone away.
 */
struct fake_clamd {
	char path[96];
	int lfd;
	int die_after;
	int conns, streams; /* accepted; answered */
	int stop;
	pthread_t t;
};

static int
fake_read_n(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void
fake_clamd_serve(struct fake_clamd *f, int fd)
{
	static const char found[] = "stream: Fake.Two FOUND", ok[] = "stream: OK";
	char cmd[10], *data = NULL;
	size_t len = 0;
	unsigned char hdr[4];
	struct timeval tv = {5, 0};
	int hit;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fake_read_n(fd, cmd, sizeof(cmd)) < 0 || memcmp(cmd, "zINSTREAM", 10) != 0)
		return;
	for (;;) {
		uint32_t n;

		if (fake_read_n(fd, hdr, 4) < 0)
			goto out;
		n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		    hdr[3];
		if (n == 0 || n > (1u << 20))
			break;
		data = realloc(data, len + n);
		if (data == NULL || fake_read_n(fd, data + len, n) < 0)
			goto out;
		len += n;
	}
	hit = data && memmem(data, len, "MALWARE-TWO", 11) != NULL;
	/* Counted before the answer, which the client may act on at once. */
	__atomic_add_fetch(&f->streams, 1, __ATOMIC_SEQ_CST);
	if (write(fd, hit ? found : ok, hit ? sizeof(found) : sizeof(ok)) < 0)
		goto out;
out:
	free(data);
}

static void *
fake_clamd_main(void *arg)
{
	struct fake_clamd *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = {f->lfd, POLLIN, 0};
		int fd, n;

		if (poll(&p, 1, 20) <= 0 || (fd = accept(f->lfd, NULL, NULL)) < 0)
			continue;
		n = __atomic_add_fetch(&f->conns, 1, __ATOMIC_SEQ_CST);
		if (f->die_after == 0 || n <= f->die_after)
			fake_clamd_serve(f, fd);
		close(fd);
	}
	return NULL;
}

static void
fake_clamd_start(struct fake_clamd *f, const char *dir, int die_after)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/clamd.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->die_after = die_after;
	assert_true((f->lfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(pthread_create(&f->t, NULL, fake_clamd_main, f), 0);
}

static void
fake_clamd_stop(struct fake_clamd *f)
{
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->t, NULL);
	close(f->lfd);
	unlink(f->path);
}

/* Three parts; MALWARE-TWO (clamd's alone) in the second, unencoded. */
static const char two_msg[] =
    "From: a@example.net\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"
    "--b0\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    "--b0\r\nContent-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"two.bin\"\r\n\r\nxx MALWARE-TWO yy\r\n"
    "--b0\r\nContent-Type: text/plain\r\n\r\nbye\r\n--b0--\r\n";

/* Writes two_msg to an unlinked file in dir; returns its fd at offset 0. */
static int
two_msg_fd(const char *dir)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/msg.eml", dir);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	unlink(path);
	assert_int_equal(write(fd, two_msg, sizeof(two_msg) - 1), (ssize_t)(sizeof(two_msg) - 1));
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Hit paths of v as "name@path;...". */
static void
hits_str(const struct scan_verdict *v, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < v->nhits && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s@%s", i ? ";" : "", v->hits[i].name,
		                      v->hits[i].path);
}

/* The whole-message hit gets the path of the part that carries it. */
static void
test_locate(void **state)
{
	static const char *const backends[] = {"chain", "clamd"};
	struct fixture *fx = *state;

	for (size_t b = 0; b < 2; b++) {
		struct fake_clamd f;
		struct scan_verdict v;
		struct scanner *s;
		char *err = NULL, got[512];
		int fd;

		fake_clamd_start(&f, fx->dir, 0);
		conf_set(&fx->conf, "scan", "backend", backends[b], stderr);
		conf_set(&fx->conf, "scan", "clamd_socket", f.path, stderr);
		assert_non_null(s = scanner_new(&fx->conf, &err));
		fd = two_msg_fd(fx->dir);
		verdict_init(&v);
		assert_int_equal(scanner_scan_fd(s, fd, "msg.eml", &v), 0);
		hits_str(&v, got, sizeof(got));
		assert_string_equal(got, "Fake.Two@msg.eml");
		assert_int_equal(__atomic_load_n(&f.streams, __ATOMIC_SEQ_CST), 1);

		lseek(fd, 0, SEEK_SET);
		assert_int_equal(scanner_locate_fd(s, fd, "msg.eml", &v), 0);
		hits_str(&v, got, sizeof(got));
		assert_string_equal(got, "Fake.Two@msg.eml;Fake.Two@msg.eml//2/two.bin");
		assert_int_equal(v.status, SCAN_INFECTED);
		assert_int_equal(v.other, SCAN_CLEAN);
		/* the message, then each of its 3 parts */
		assert_int_equal(__atomic_load_n(&f.streams, __ATOMIC_SEQ_CST), 4);
		verdict_clear(&v);
		close(fd);
		scanner_free(s);
		fake_clamd_stop(&f);
	}
}

/* clamd gone after the first stream: -1, the failure noted, still infected. */
static void
test_locate_clamd_dies(void **state)
{
	struct fixture *fx = *state;
	struct fake_clamd f;
	struct scan_verdict v;
	struct scanner *s;
	char *err = NULL;
	int fd;

	fake_clamd_start(&f, fx->dir, 1);
	conf_set(&fx->conf, "scan", "backend", "chain", stderr);
	conf_set(&fx->conf, "scan", "clamd_socket", f.path, stderr);
	assert_non_null(s = scanner_new(&fx->conf, &err));
	fd = two_msg_fd(fx->dir);
	verdict_init(&v);
	assert_int_equal(scanner_scan_fd(s, fd, "msg.eml", &v), 0);
	assert_int_equal(v.status, SCAN_INFECTED);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(scanner_locate_fd(s, fd, "msg.eml", &v), -1);
	assert_int_equal(v.status, SCAN_INFECTED);
	assert_int_equal(v.other, SCAN_ERROR);
	assert_int_equal(v.nhits, 1);
	assert_non_null(v.where);
	assert_string_equal(v.where, "msg.eml//1");
	/* it stops at the first failure */
	assert_int_equal(__atomic_load_n(&f.conns, __ATOMIC_SEQ_CST), 2);
	verdict_clear(&v);
	close(fd);
	scanner_free(s);
	fake_clamd_stop(&f);
}

/* Without clamd there is nothing to locate with: v is left alone. */
static void
test_locate_builtin(void **state)
{
	struct fixture *fx = *state;
	struct scan_verdict v;
	struct scanner *s;
	char *err = NULL;
	int fd;

	assert_non_null(s = scanner_new(&fx->conf, &err));
	fd = two_msg_fd(fx->dir);
	verdict_init(&v);
	verdict_add_hit(&v, "Other.Sig", "msg.eml");
	assert_int_equal(scanner_locate_fd(s, fd, "msg.eml", &v), 0);
	assert_int_equal(v.nhits, 1);
	assert_int_equal(v.other, SCAN_CLEAN);
	verdict_clear(&v);
	close(fd);
	scanner_free(s);
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
	    cmocka_unit_test_setup_teardown(test_locate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locate_clamd_dies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locate_builtin, setup, teardown),
	};
	log_init("test_scanner", 0, LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
