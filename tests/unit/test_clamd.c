/*
 * Unit tests for scan/clamd against a fake clamd: a thread that listens on
 * a unix socket (in a mkdtemp directory) or on 127.0.0.1 port 0, records
 * every byte it receives, and answers by script. Each row of the table is
 * one behaviour -> the verdict we must get, the connections we must make,
 * and (where the fake read it all) the exact framed stream on the wire.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "scan/clamd.h"
#include "scan/verdict.h"

#define FAKE_MAX_CONNS 32
#define FAKE_WAIT_MS 5000 /* the fake never waits longer than this for anything */
#define BIG (3 * 1024 * 1024 + 17)

/* The EICAR test file, split so that no source file holds it whole. */
static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
                            "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

enum fake_act {
	FK_OK,           /* "stream: OK" */
	FK_FOUND,        /* one FOUND */
	FK_FOUND2,       /* two FOUND lines, as with AllMatchScans */
	FK_LIMIT,        /* "INSTREAM size limit exceeded. ERROR" after the stream */
	FK_EARLY_LIMIT,  /* the same after the first chunk, then shutdown (as clamd does) */
	FK_ERROR,        /* another ERROR */
	FK_GARBAGE,      /* a line that is no clamd reply */
	FK_TRUNC,        /* "stream: OK" without its NUL, then close */
	FK_BADNAME,      /* FOUND with a space and a control byte in the name */
	FK_CLOSE,        /* reads the stream, closes without a word */
	FK_CLOSE_MID,    /* reads the command only, closes */
	FK_HANG,         /* reads the stream, never answers */
	FK_DROP_THEN_OK, /* first connection: FK_CLOSE; second: FK_OK */
	FK_PONG,         /* answers PING */
	FK_NOTPONG,      /* answers PING with something else */
};

struct fake {
	int lfd;
	char addr[160];
	enum fake_act act;
	int max_conns;
	int nconn;
	unsigned char *rx[FAKE_MAX_CONNS]; /* bytes received per connection */
	size_t rxlen[FAKE_MAX_CONNS];
	size_t rxcap[FAKE_MAX_CONNS];
	int complete[FAKE_MAX_CONNS]; /* the fake read a whole framed stream */
	pthread_t th;
};

static char tmpdir[64];

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for POLLIN on fd for at most ms; 1 if readable. */
static int
fake_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

/* Appends up to want bytes from fd to connection i; returns bytes read, 0 on EOF/timeout. */
static size_t
fake_read(struct fake *f, int i, int fd, size_t want)
{
	unsigned char tmp[65536];
	ssize_t n;

	if (want > sizeof(tmp))
		want = sizeof(tmp);
	if (!fake_readable(fd, FAKE_WAIT_MS))
		return 0;
	n = recv(fd, tmp, want, 0);
	if (n <= 0)
		return 0;
	/* Doubling, not one realloc per read: copying the whole stream on
	 * every read made a 3 MiB scan outlast its timeout under ASan. */
	if (f->rxlen[i] + (size_t)n > f->rxcap[i]) {
		while (f->rxlen[i] + (size_t)n > f->rxcap[i])
			f->rxcap[i] = f->rxcap[i] ? 2 * f->rxcap[i] : sizeof(tmp);
		if ((f->rx[i] = realloc(f->rx[i], f->rxcap[i])) == NULL)
			abort(); /* the fake's own thread: no cmocka assert here */
	}
	memcpy(f->rx[i] + f->rxlen[i], tmp, (size_t)n);
	f->rxlen[i] += (size_t)n;
	return (size_t)n;
}

/* Reads exactly n more bytes; 0 or -1 on EOF/timeout. */
static int
fake_read_n(struct fake *f, int i, int fd, size_t n)
{
	while (n > 0) {
		size_t got = fake_read(f, i, fd, n);
		if (got == 0)
			return -1;
		n -= got;
	}
	return 0;
}

/* Reads "zINSTREAM\0" and the chunks up to the zero length; 0 or -1. */
static int
fake_read_stream(struct fake *f, int i, int fd, int first_chunk_only)
{
	size_t off;
	uint32_t len;

	if (fake_read_n(f, i, fd, 10) == -1)
		return -1;
	for (;;) {
		off = f->rxlen[i];
		if (fake_read_n(f, i, fd, 4) == -1)
			return -1;
		len = (uint32_t)f->rx[i][off] << 24 | (uint32_t)f->rx[i][off + 1] << 16 |
		      (uint32_t)f->rx[i][off + 2] << 8 | f->rx[i][off + 3];
		if (len == 0)
			break;
		if (fake_read_n(f, i, fd, len) == -1)
			return -1;
		if (first_chunk_only)
			return 0;
	}
	f->complete[i] = 1;
	return 0;
}

static void
fake_send(int fd, const char *s, size_t n)
{
	(void)send(fd, s, n, MSG_NOSIGNAL);
}

/* Waits (bounded) until the client closes, discarding what it sends. */
static void
fake_drain(int fd)
{
	char tmp[65536];
	uint64_t end = now_ms() + FAKE_WAIT_MS;

	while (now_ms() < end && fake_readable(fd, FAKE_WAIT_MS))
		if (recv(fd, tmp, sizeof(tmp), 0) <= 0)
			break;
}

#define SEND(fd, lit) fake_send(fd, lit, sizeof(lit) - 1)

static void
fake_serve(struct fake *f, int i, int fd)
{
	enum fake_act act = f->act;

	if (act == FK_DROP_THEN_OK)
		act = i == 0 ? FK_CLOSE : FK_OK;
	switch (act) {
	case FK_PONG:
	case FK_NOTPONG:
		if (fake_read_n(f, i, fd, 6) == 0) {
			if (act == FK_PONG)
				SEND(fd, "PONG\0");
			else
				SEND(fd, "PANG\0");
		}
		break;
	case FK_CLOSE_MID:
		(void)fake_read_n(f, i, fd, 10);
		break;
	case FK_EARLY_LIMIT:
		if (fake_read_stream(f, i, fd, 1) == 0) {
			SEND(fd, "INSTREAM size limit exceeded. ERROR\0");
			shutdown(fd, SHUT_WR);
			fake_drain(fd);
		}
		break;
	default:
		if (fake_read_stream(f, i, fd, 0) == -1)
			break;
		switch (act) {
		case FK_OK:
			SEND(fd, "stream: OK\0");
			break;
		case FK_FOUND:
			SEND(fd, "stream: Eicar-Test-Signature FOUND\0");
			break;
		case FK_FOUND2:
			SEND(fd, "stream: Eicar-Test-Signature FOUND\0");
			SEND(fd, "stream: Eicar-Test-Signature.SHA256 FOUND\0");
			break;
		case FK_LIMIT:
			SEND(fd, "INSTREAM size limit exceeded. ERROR\0");
			break;
		case FK_ERROR:
			SEND(fd, "Can't allocate memory ERROR\0");
			break;
		case FK_GARBAGE:
			SEND(fd, "HTTP/1.1 400 Bad Request\r\n\r\n");
			break;
		case FK_TRUNC:
			SEND(fd, "stream: OK");
			break;
		case FK_BADNAME:
			SEND(fd, "stream: Bad Name\x01 FOUND\0");
			break;
		case FK_HANG:
			fake_drain(fd);
			break;
		default:
			break;
		}
	}
	close(fd);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	uint64_t end = now_ms() + 4 * FAKE_WAIT_MS;

	while (f->nconn < f->max_conns && now_ms() < end) {
		int fd;

		if (!fake_readable(f->lfd, 200))
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd == -1)
			continue;
		fake_serve(f, f->nconn, fd);
		f->nconn++;
	}
	return NULL;
}

/* A listening (or, with listening=0, bound only: refusing) socket. */
static void
fake_bind(struct fake *f, int tcp, int listening)
{
	memset(f, 0, sizeof(*f));
	if (tcp) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		socklen_t sl = sizeof(sin);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		f->lfd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(f->lfd >= 0);
		assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
		snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	} else {
		static int seq;
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		snprintf(f->addr, sizeof(f->addr), "%s/clamd%d.sock", tmpdir, seq++);
		assert_true(strlen(f->addr) < sizeof(sun.sun_path));
		memcpy(sun.sun_path, f->addr, strlen(f->addr) + 1);
		f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_true(f->lfd >= 0);
		assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	}
	if (listening)
		assert_int_equal(listen(f->lfd, 16), 0);
}

static void
fake_start(struct fake *f, int tcp, enum fake_act act, int max_conns)
{
	fake_bind(f, tcp, 1);
	f->act = act;
	f->max_conns = max_conns;
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f, int started)
{
	if (started)
		pthread_join(f->th, NULL);
	close(f->lfd);
	if (f->addr[0] == '/')
		unlink(f->addr);
}

/* Frees what the fake recorded; after the checks. */
static void
fake_free(struct fake *f)
{
	for (int i = 0; i < FAKE_MAX_CONNS; i++)
		free(f->rx[i]);
}

/* The exact bytes of an INSTREAM of data in chunks of at most 64 KiB. */
static void
assert_framed(const unsigned char *rx, size_t rxlen, const unsigned char *data, size_t len)
{
	size_t off = 10, got = 0;

	assert_true(rxlen >= 14);
	assert_memory_equal(rx, "zINSTREAM\0", 10);
	for (;;) {
		uint32_t n;

		assert_true(off + 4 <= rxlen);
		n = (uint32_t)rx[off] << 24 | (uint32_t)rx[off + 1] << 16 |
		    (uint32_t)rx[off + 2] << 8 | rx[off + 3];
		off += 4;
		if (n == 0)
			break;
		assert_true(n <= 64 * 1024);
		assert_true(off + n <= rxlen);
		assert_true(got + n <= len);
		assert_memory_equal(rx + off, data + got, n);
		got += n;
		off += n;
	}
	assert_int_equal(got, len);
	assert_int_equal(off, rxlen); /* nothing after the terminator */
}

static unsigned char *
make_payload(size_t len)
{
	unsigned char *p = malloc(len ? len : 1);
	uint32_t x = 2463534242u;

	assert_non_null(p);
	if (len == sizeof(eicar) - 1) {
		memcpy(p, eicar, len);
		return p;
	}
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

/* Scans data through the stream API in uneven pieces. */
static int
scan_stream(struct clamd *c, const unsigned char *data, size_t len, struct scan_verdict *v)
{
	struct clamd_stream *s = clamd_stream_open(c);
	size_t off = 0, piece = 1;

	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;
		if (clamd_stream_feed(s, data + off, n) == -1)
			break;
		off += n;
		piece = piece * 7 + 3;
	}
	return clamd_stream_close(s, v, "dir/x.bin");
}

/* Scans data through clamd_scan_fd from a memfd, from offset 0. */
static int
scan_fd(struct clamd *c, const unsigned char *data, size_t len, struct scan_verdict *v)
{
	int fd = memfd_create("clamd-test", MFD_CLOEXEC), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	rc = clamd_scan_fd(c, fd, "dir/x.bin", v);
	close(fd);
	return rc;
}

enum api { API_STREAM, API_FD };

static const struct row {
	const char *name;
	enum fake_act act;
	int refused; /* no fake at all: a bound socket that does not listen */
	enum api api;
	size_t len;
	uint64_t io_ms;
	enum scan_status want;
	enum scan_limit want_limit;
	const char *want_hits;   /* verdict_names() */
	const char *want_reason; /* substring */
	int want_conns;
	int check_wire; /* connection want_conns-1 carried exactly the framed stream */
} rows[] = {
    {"ok", FK_OK, 0, API_STREAM, 68, 2000, SCAN_CLEAN, LIMIT_NONE, "", NULL, 1, 1},
    {"ok-big-fd", FK_OK, 0, API_FD, BIG, 2000, SCAN_CLEAN, LIMIT_NONE, "", NULL, 1, 1},
    {"ok-empty", FK_OK, 0, API_STREAM, 0, 2000, SCAN_CLEAN, LIMIT_NONE, "", NULL, 1, 1},
    {"found", FK_FOUND, 0, API_STREAM, 68, 2000, SCAN_INFECTED, LIMIT_NONE, "Eicar-Test-Signature",
     NULL, 1, 1},
    {"found-fd", FK_FOUND, 0, API_FD, 68, 2000, SCAN_INFECTED, LIMIT_NONE, "Eicar-Test-Signature",
     NULL, 1, 1},
    {"found-two", FK_FOUND2, 0, API_STREAM, 200000, 2000, SCAN_INFECTED, LIMIT_NONE,
     "Eicar-Test-Signature,Eicar-Test-Signature.SHA256", NULL, 1, 1},
    {"limit", FK_LIMIT, 0, API_STREAM, 68, 2000, SCAN_LIMIT, LIMIT_FILE_SIZE, "",
     "INSTREAM size limit exceeded", 1, 1},
    {"limit-early", FK_EARLY_LIMIT, 0, API_STREAM, BIG, 2000, SCAN_LIMIT, LIMIT_FILE_SIZE, "",
     "INSTREAM size limit exceeded", 1, 0},
    {"limit-early-fd", FK_EARLY_LIMIT, 0, API_FD, BIG, 2000, SCAN_LIMIT, LIMIT_FILE_SIZE, "",
     "INSTREAM size limit exceeded", 1, 0},
    {"error", FK_ERROR, 0, API_STREAM, 68, 2000, SCAN_ERROR, LIMIT_NONE, "",
     "Can't allocate memory ERROR", 1, 1},
    {"garbage", FK_GARBAGE, 0, API_STREAM, 68, 2000, SCAN_ERROR, LIMIT_NONE, "", "unexpected reply",
     1, 1},
    {"truncated", FK_TRUNC, 0, API_STREAM, 68, 2000, SCAN_ERROR, LIMIT_NONE, "", "truncated reply",
     1, 1},
    {"bad-name", FK_BADNAME, 0, API_STREAM, 68, 2000, SCAN_ERROR, LIMIT_NONE, "",
     "bad signature name", 1, 1},
    {"close", FK_CLOSE, 0, API_STREAM, 68, 2000, SCAN_ERROR, LIMIT_NONE, "",
     "connection closed without reply", 1, 1},
    /* clamd_scan_fd tries a seekable fd once more from the start. */
    {"close-fd", FK_CLOSE, 0, API_FD, 68, 2000, SCAN_ERROR, LIMIT_NONE, "",
     "connection closed without reply", 2, 1},
    {"close-mid", FK_CLOSE_MID, 0, API_STREAM, BIG, 2000, SCAN_ERROR, LIMIT_NONE, "", "clamd ", 1,
     0},
    {"close-mid-fd", FK_CLOSE_MID, 0, API_FD, BIG, 2000, SCAN_ERROR, LIMIT_NONE, "", "clamd ", 2,
     0},
    {"drop-then-ok-fd", FK_DROP_THEN_OK, 0, API_FD, 100000, 2000, SCAN_CLEAN, LIMIT_NONE, "", NULL,
     2, 1},
    {"hang", FK_HANG, 0, API_STREAM, 68, 300, SCAN_ERROR, LIMIT_NONE, "", "no reply within 300 ms",
     1, 1},
    {"hang-fd", FK_HANG, 0, API_FD, 68, 300, SCAN_ERROR, LIMIT_NONE, "", "no reply within 300 ms",
     1, 1},
    {"refused", FK_OK, 1, API_STREAM, 68, 2000, SCAN_ERROR, LIMIT_NONE, "",
     ": connect: Connection refused", 0, 0},
    {"refused-fd", FK_OK, 1, API_FD, 68, 2000, SCAN_ERROR, LIMIT_NONE, "",
     ": connect: Connection refused", 0, 0},
};

static void
run_rows(int tcp)
{
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const struct row *w = &rows[r];
		unsigned char *data = make_payload(w->len);
		struct scan_verdict v;
		struct fake f;
		struct clamd *c;
		uint64_t t0, took;
		char *names, *want_prefix;
		int rc;

		if (w->refused)
			fake_bind(&f, tcp, 0);
		else
			fake_start(&f, tcp, w->act, w->want_conns);
		c = clamd_new(f.addr, 1000, w->io_ms);
		verdict_init(&v);
		t0 = now_ms();
		if (w->api == API_STREAM)
			rc = scan_stream(c, data, w->len, &v);
		else
			rc = scan_fd(c, data, w->len, &v);
		took = now_ms() - t0;
		fake_stop(&f, !w->refused);
		print_message("%s %s: status=%s reason=%s took=%llums\n", tcp ? "tcp" : "unix",
		              w->name, scan_status_name(v.status), v.reason ? v.reason : "-",
		              (unsigned long long)took);

		assert_int_equal(v.status, w->want);
		/* -1 exactly for a backend failure; clamd's size limit is an answer. */
		assert_int_equal(rc, w->want == SCAN_ERROR ? -1 : 0);
		assert_int_equal(v.limit, w->want_limit);
		names = verdict_names(&v);
		assert_string_equal(names, w->want_hits);
		free(names);
		for (size_t i = 0; i < v.nhits; i++)
			assert_string_equal(v.hits[i].path, "dir/x.bin");
		if (w->want_reason) {
			assert_non_null(v.reason);
			assert_non_null(strstr(v.reason, w->want_reason));
			/* Every reason names the backend it is about. */
			want_prefix = malloc(strlen(f.addr) + 8);
			sprintf(want_prefix, "clamd %s:", f.addr);
			assert_ptr_equal(strstr(v.reason, want_prefix), v.reason);
			free(want_prefix);
			assert_string_equal(v.where, "dir/x.bin");
		}
		assert_int_equal(f.nconn, w->want_conns);
		if (w->check_wire) {
			assert_true(f.complete[w->want_conns - 1]);
			assert_framed(f.rx[w->want_conns - 1], f.rxlen[w->want_conns - 1], data,
			              w->len);
		}
		if (w->len == 68 && w->check_wire) {
			/* Small objects: one chunk, byte for byte. */
			static const unsigned char want[] =
			    "zINSTREAM\0\0\0\0\x44"
			    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
			    "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
			    "\0\0\0\0";
			assert_int_equal(f.rxlen[w->want_conns - 1], sizeof(want) - 1);
			assert_memory_equal(f.rx[w->want_conns - 1], want, sizeof(want) - 1);
		}
		/* Bounded: hang waits io_ms once, refused pauses once. */
		assert_true(took < 2500);
		if (w->act == FK_HANG)
			assert_true(took >= 300);
		if (w->refused) /* the pause before the one reconnect */
			assert_true(took >= 90);
		verdict_clear(&v);
		clamd_free(c);
		fake_free(&f);
		free(data);
	}
}

static void
test_unix(void **state)
{
	(void)state;
	run_rows(0);
}

static void
test_tcp(void **state)
{
	(void)state;
	run_rows(1);
}

static void
test_ping(void **state)
{
	static const struct {
		enum fake_act act;
		int refused, tcp, want;
	} prow[] = {
	    {FK_PONG, 0, 0, 0},       {FK_PONG, 0, 1, 0},  {FK_NOTPONG, 0, 0, -1},
	    {FK_CLOSE_MID, 0, 1, -1}, {FK_PONG, 1, 0, -1}, {FK_PONG, 1, 1, -1},
	};
	(void)state;
	for (size_t r = 0; r < sizeof(prow) / sizeof(prow[0]); r++) {
		struct fake f;
		struct clamd *c;

		if (prow[r].refused)
			fake_bind(&f, prow[r].tcp, 0);
		else
			fake_start(&f, prow[r].tcp, prow[r].act, 1);
		c = clamd_new(f.addr, 1000, 1000);
		assert_int_equal(clamd_ping(c), prow[r].want);
		clamd_free(c);
		fake_stop(&f, !prow[r].refused);
		if (!prow[r].refused) {
			assert_int_equal(f.nconn, 1);
			/* The fake recorded what it read before answering. */
			if (prow[r].act != FK_CLOSE_MID)
				assert_memory_equal(f.rx[0], "zPING\0", 6);
		}
		fake_free(&f);
	}
}

/* Addresses clamd_new cannot use: every scan is SCAN_ERROR naming why. */
static void
test_bad_addr(void **state)
{
	static const struct {
		const char *addr, *reason;
	} brow[] = {
	    {"127.0.0.1:notaport", "bad port"},
	    {"127.0.0.1:0", "bad port"},
	    {"127.0.0.1:70000", "bad port"},
	    {"[::1]", "expected [address]:port"},
	    {"[]:3310", "expected [address]:port"},
	    {":3310", "expected host:port"},
	    {"", "empty address"},
	    {"/nonexistent/dir/clamd.sock", "connect: No such file or directory"},
	};
	(void)state;
	for (size_t r = 0; r < sizeof(brow) / sizeof(brow[0]); r++) {
		struct clamd *c = clamd_new(brow[r].addr, 200, 200);
		struct scan_verdict v;

		verdict_init(&v);
		assert_int_equal(scan_stream(c, (const unsigned char *)eicar, 68, &v), -1);
		assert_int_equal(v.status, SCAN_ERROR);
		assert_non_null(strstr(v.reason, brow[r].reason));
		assert_int_equal(clamd_ping(c), -1);
		verdict_clear(&v);
		clamd_free(c);
	}
	clamd_free(NULL);
}

/* "[::1]:port", when this machine has IPv6 loopback. */
static void
test_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof(sin6);
	struct fake f;
	struct clamd *c;
	struct scan_verdict v;
	(void)state;

	memset(&f, 0, sizeof(f));
	f.lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (f.lfd == -1 || bind(f.lfd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1) {
		if (f.lfd != -1)
			close(f.lfd);
		skip();
	}
	assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&sin6, &sl), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	snprintf(f.addr, sizeof(f.addr), "[::1]:%u", ntohs(sin6.sin6_port));
	f.act = FK_FOUND;
	f.max_conns = 1;
	assert_int_equal(pthread_create(&f.th, NULL, fake_main, &f), 0);
	c = clamd_new(f.addr, 1000, 2000);
	verdict_init(&v);
	assert_int_equal(scan_stream(c, (const unsigned char *)eicar, 68, &v), 0);
	fake_stop(&f, 1);
	assert_int_equal(v.status, SCAN_INFECTED);
	assert_string_equal(v.hits[0].name, "Eicar-Test-Signature");
	assert_framed(f.rx[0], f.rxlen[0], (const unsigned char *)eicar, 68);
	fake_free(&f);
	verdict_clear(&v);
	clamd_free(c);
}

/* One handle, several threads at once: each gets its own answer. */
#define NTHREADS 4
#define PER_THREAD 5

struct worker {
	struct clamd *c;
	int ok;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct scan_verdict v;

		verdict_init(&v);
		if (scan_stream(w->c, (const unsigned char *)eicar, 68, &v) == 0 &&
		    v.status == SCAN_INFECTED && v.nhits == 2)
			w->ok++;
		verdict_clear(&v);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct fake f;
	struct clamd *c;
	(void)state;

	fake_start(&f, 1, FK_FOUND2, NTHREADS * PER_THREAD);
	c = clamd_new(f.addr, 2000, 4000);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].c = c;
		w[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	fake_stop(&f, 1);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(w[i].ok, PER_THREAD);
	assert_int_equal(f.nconn, NTHREADS * PER_THREAD);
	for (int i = 0; i < NTHREADS * PER_THREAD; i++)
		assert_framed(f.rx[i], f.rxlen[i], (const unsigned char *)eicar, 68);
	fake_free(&f);
	clamd_free(c);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_clamd.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unix), cmocka_unit_test(test_tcp),
	    cmocka_unit_test(test_ping), cmocka_unit_test(test_bad_addr),
	    cmocka_unit_test(test_ipv6), cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
