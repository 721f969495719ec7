/*
 * tlog: the hash-chained transparency log (see tlog.h).
 *
 * Each line is built with jansson (compact, in the header's order) and
 * hashed exactly as written. The state kept between appends is the last
 * line's number and hash, the file's size (to cut off a failed write) and
 * descriptors of the log and its directory (for the head's rename).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "outbreak/tlog.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/strutil.h"
#include "util/sys.h"
#include "util/xalloc.h"

/* Bytes of an envelope kept in its entry. */
#define TLOG_ENVELOPE_MAX (1u << 20)
/* The longest line tlog_open() reads back (an entry is < 1.5 MiB). */
#define TLOG_LINE_MAX (4u << 20)
/* "<n> <64 hex>\n" */
#define TLOG_HEAD_MAX 96

struct tlog {
	char *path, *head_path, *tmp_path;
	int fd, dirfd;
	uint64_t n;       /* the last line's number, 0 when empty */
	uint8_t last[32]; /* its hash, zeros when empty */
	off_t size;       /* of the file, all of it complete lines */
	pthread_mutex_t lock;
};

static void
sha256(const void *data, size_t len, uint8_t md[32])
{
	unsigned int mdlen = 32;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		abort(); /* only when OpenSSL itself is broken */
}

/* ---- the head file ---- */

struct head {
	uint64_t n;
	uint8_t hash[32];
};

/*
 * Reads PATH.head: 1 with *h, 0 if there is none, -1 with *err if it
 * cannot be read or is not "<n> <64 hex>\n".
 */
static int
head_read(const char *head_path, struct head *h, char **err)
{
	char buf[TLOG_HEAD_MAX + 1], *sp, *end;
	ssize_t len;
	int fd;

	if ((fd = open(head_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("%s: %s", head_path, strerror(errno));
		return -1;
	}
	len = pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (len < 0) {
		*err = xasprintf("%s: %s", head_path, strerror(errno));
		return -1;
	}
	buf[len] = '\0';
	sp = strchr(buf, ' ');
	if (sp == NULL || sp == buf || len < 2 || buf[len - 1] != '\n' || buf[0] == '-' ||
	    buf[0] == '+' || (size_t)(buf + len - 1 - (sp + 1)) != 64 ||
	    hex_decode(sp + 1, 32, h->hash) < 0)
		goto bad;
	errno = 0;
	h->n = strtoull(buf, &end, 10);
	if (end != sp || errno != 0)
		goto bad;
	return 1;
bad:
	*err = xasprintf("%s: not \"<n> <64 hex digits>\"", head_path);
	return -1;
}

/* Replaces PATH.head: temporary file, fsync, rename, directory fsync. 0 or -1. */
static int
head_write(struct tlog *t)
{
	char buf[TLOG_HEAD_MAX], hex[65];
	int fd, len, saved;

	hex_encode(t->last, 32, hex);
	len = snprintf(buf, sizeof(buf), "%" PRIu64 " %s\n", t->n, hex);
	fd = open(t->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, buf, (size_t)len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(t->tmp_path);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || rename(t->tmp_path, t->head_path) < 0) {
		saved = errno;
		unlink(t->tmp_path);
		errno = saved;
		return -1;
	}
	return fsync(t->dirfd);
}

/* ---- reading the end of the log back ---- */

/* The offset where the line ending before offset end starts. 0 or -1. */
static int
line_start(int fd, off_t end, off_t *start)
{
	char buf[4096];
	off_t pos = end;

	while (pos > 0) {
		size_t want = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		ssize_t r = pread_full(fd, buf, want, (uint64_t)(pos - (off_t)want));

		if (r < 0)
			return -1;
		if ((size_t)r != want) {
			errno = EIO; /* shrank under us */
			return -1;
		}
		for (size_t i = want; i > 0; i--)
			if (buf[i - 1] == '\n') {
				*start = pos - (off_t)want + (off_t)i;
				return 0;
			}
		pos -= (off_t)want;
	}
	*start = 0;
	return 0;
}

/*
 * Cuts off a torn last line (no final '\n'), then reads the last line:
 * its number into t->n, its hash into t->last, its prev into prev. 0 or
 * -1 with *err.
 */
static int
recover(struct tlog *t, uint8_t prev[32], char **err)
{
	struct stat st;
	off_t start;
	char c, *line = NULL;
	json_t *o = NULL, *v;
	json_error_t jerr;
	size_t len;

	t->n = 0;
	memset(t->last, 0, sizeof(t->last));
	memset(prev, 0, 32);
	if (fstat(t->fd, &st) < 0)
		goto sys;
	t->size = st.st_size;
	if (t->size == 0)
		return 0;
	if (pread_full(t->fd, &c, 1, (uint64_t)(t->size - 1)) != 1)
		goto sys;
	if (c != '\n') {
		if (line_start(t->fd, t->size, &start) < 0 || ftruncate(t->fd, start) < 0 ||
		    fsync(t->fd) < 0)
			goto sys;
		log_warnx("%s: cut off a torn last line (%jd bytes, a write interrupted by a "
		          "crash)",
		          t->path, (intmax_t)(t->size - start));
		t->size = start;
		if (t->size == 0)
			return 0;
	}
	if (line_start(t->fd, t->size - 1, &start) < 0)
		goto sys;
	len = (size_t)(t->size - 1 - start);
	if (len > TLOG_LINE_MAX) {
		*err = xasprintf("%s: last line longer than %u bytes", t->path, TLOG_LINE_MAX);
		return -1;
	}
	line = xmalloc(len + 1);
	if (pread_full(t->fd, line, len, (uint64_t)start) != (ssize_t)len) {
		free(line);
		if (errno == 0)
			errno = EIO;
		goto sys;
	}
	sha256(line, len, t->last);
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	free(line);
	if (o == NULL || !json_is_object(o) || !json_is_integer(v = json_object_get(o, "n")) ||
	    json_integer_value(v) < 1 || !json_is_string(v = json_object_get(o, "prev")) ||
	    json_string_length(v) != 64 || hex_decode(json_string_value(v), 32, prev) < 0) {
		json_decref(o);
		*err =
		    xasprintf("%s: the last line is no entry (check it with tlog_verify)", t->path);
		return -1;
	}
	t->n = (uint64_t)json_integer_value(json_object_get(o, "n"));
	json_decref(o);
	return 0;
sys:
	*err = xasprintf("%s: %s", t->path, strerror(errno));
	return -1;
}

/* Brings PATH.head in line with the log's end, or fails (see tlog.h). */
static int
check_head(struct tlog *t, const uint8_t prev[32], char **err)
{
	struct head h;
	int rc = head_read(t->head_path, &h, err);

	if (rc < 0)
		return -1;
	if (rc == 1 && h.n == t->n && memcmp(h.hash, t->last, 32) == 0)
		return 0;
	if (rc == 0) {
		if (t->n > 0)
			log_warnx("%s: no head file %s: writing one for line %" PRIu64, t->path,
			          t->head_path, t->n);
	} else if (t->n > 0 && h.n == t->n - 1 && memcmp(h.hash, prev, 32) == 0) {
		log_warnx("%s: head one entry behind (a crash between the writes): brought up to "
		          "line %" PRIu64,
		          t->path, t->n);
	} else {
		*err = xasprintf("%s: the log ends at line %" PRIu64 " but %s names line %" PRIu64
		                 " or another hash: changed behind the log's back? check it "
		                 "with tlog_verify",
		                 t->path, t->n, t->head_path, h.n);
		return -1;
	}
	if (head_write(t) < 0) {
		*err = xasprintf("%s: %s", t->head_path, strerror(errno));
		return -1;
	}
	return 0;
}

struct tlog *
tlog_open(const char *path, char **err)
{
	struct tlog *t = xcalloc(1, sizeof(*t));
	uint8_t prev[32];
	const char *slash;
	char *dir;

	*err = NULL;
	t->fd = t->dirfd = -1;
	t->path = xstrdup(path);
	t->head_path = xasprintf("%s.head", path);
	t->tmp_path = xasprintf("%s.head.tmp", path);
	slash = strrchr(path, '/');
	dir = slash == NULL   ? xstrdup(".")
	      : slash == path ? xstrdup("/")
	                      : xstrndup(path, (size_t)(slash - path));
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		free(dir);
		goto fail;
	}
	free(dir);
	t->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (t->fd < 0 || flock(t->fd, LOCK_EX) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (recover(t, prev, err) < 0 || check_head(t, prev, err) < 0)
		goto fail;
	flock(t->fd, LOCK_UN);
	pthread_mutex_init(&t->lock, NULL);
	return t;
fail:
	if (t->fd >= 0)
		close(t->fd); /* drops the flock */
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->path);
	free(t->head_path);
	free(t->tmp_path);
	free(t);
	return NULL;
}

void
tlog_free(struct tlog *t)
{
	if (t == NULL)
		return;
	close(t->fd);
	close(t->dirfd);
	pthread_mutex_destroy(&t->lock);
	free(t->path);
	free(t->head_path);
	free(t->tmp_path);
	free(t);
}

/* A JSON string of s (NULL is ""); bytes that are not UTF-8 become '?'. */
static json_t *
jstr(const char *s)
{
	json_t *v;
	char *copy;
	size_t len;

	if (s == NULL)
		s = "";
	if ((v = json_string(s)) != NULL)
		return v;
	len = strlen(s);
	copy = xmalloc(len + 1);
	sanitize(s, copy, len + 1, SAN_JSON);
	v = json_string(copy);
	free(copy);
	return v;
}

static void
put(json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		abort(); /* jansson fails only on allocation */
}

/* The line for entry e as number n after a line hashing to prev (no '\n'). */
static char *
make_line(const struct tlog_entry *e, uint64_t n, const uint8_t prev[32], const char *env64)
{
	char prevhex[65], dighex[65];
	uint8_t dig[32];
	json_t *o = json_object();
	char *line;

	if (o == NULL)
		abort();
	hex_encode(prev, 32, prevhex);
	if (e->digest != NULL)
		memcpy(dig, e->digest, 32);
	else
		sha256(e->envelope != NULL ? e->envelope : "", e->envelope_len, dig);
	hex_encode(dig, 32, dighex);
	put(o, "n", json_integer((json_int_t)n));
	put(o, "time", json_integer((json_int_t)e->time));
	put(o, "prev", json_string(prevhex));
	put(o, "result", json_string(e->accepted ? "accepted" : "rejected"));
	put(o, "reason", jstr(e->reason));
	put(o, "source", jstr(e->source));
	put(o, "type", jstr(e->type));
	put(o, "id", jstr(e->id));
	put(o, "seq", json_integer((json_int_t)e->seq));
	put(o, "digest", json_string(dighex));
	put(o, "envelope", json_string(env64));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line == NULL)
		abort();
	return line;
}

int
tlog_append(struct tlog *t, const struct tlog_entry *e)
{
	size_t elen = e->envelope != NULL ? e->envelope_len : 0;
	char *env64, *line;
	size_t len;
	int rc = -1, saved = 0;

	if (elen > TLOG_ENVELOPE_MAX)
		elen = TLOG_ENVELOPE_MAX;
	env64 = xmalloc((elen + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)env64,
	                (const unsigned char *)(e->envelope != NULL ? e->envelope : ""), (int)elen);

	pthread_mutex_lock(&t->lock);
	if (flock(t->fd, LOCK_EX) < 0) {
		saved = errno;
		pthread_mutex_unlock(&t->lock);
		free(env64);
		errno = saved;
		return -1;
	}
	line = make_line(e, t->n + 1, t->last, env64);
	len = strlen(line);
	line[len] = '\n'; /* over the NUL: written with its length */
	if (write_all(t->fd, line, len + 1) < 0 || fsync(t->fd) < 0) {
		saved = errno;
		/* no half line may stay to break the chain after it */
		if (ftruncate(t->fd, t->size) < 0 || fsync(t->fd) < 0)
			log_warn("%s: cutting off a failed write", t->path);
		goto out;
	}
	t->size += (off_t)(len + 1);
	t->n++;
	sha256(line, len, t->last);
	rc = 0;
	/* The entry is durable; a stale head shows as such in tlog_verify(). */
	if (head_write(t) < 0)
		log_warn("%s: writing %s", t->path, t->head_path);
out:
	flock(t->fd, LOCK_UN);
	pthread_mutex_unlock(&t->lock);
	free(line);
	free(env64);
	if (rc < 0)
		errno = saved;
	return rc;
}

/* ---- verification ---- */

/* Sets *err (and returns -1): what is wrong with line n. */
static int __attribute__((format(printf, 4, 5)))
vfail(size_t *bad_line, size_t n, char **err, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	*bad_line = n;
	*err = xasprintf("line %zu: %s", n, msg);
	free(msg);
	return -1;
}

static int
is_str(json_t *o, const char *key)
{
	return json_is_string(json_object_get(o, key));
}

static int
is_hex64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	uint8_t buf[32];

	return json_is_string(v) && json_string_length(v) == 64 &&
	       hex_decode(json_string_value(v), 32, buf) == 0;
}

/* Checks line n (len bytes, no '\n') given the previous line's hash. */
static int
check_line(const char *line, size_t len, size_t n, const uint8_t prev[32], size_t *bad_line,
           char **err)
{
	json_error_t jerr;
	json_t *o, *v;
	char prevhex[65];
	const char *r;
	int rc = -1;

	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return vfail(bad_line, n, err, "not JSON (column %d)", jerr.column);
	if (!json_is_object(o)) {
		vfail(bad_line, n, err, "not a JSON object");
		goto out;
	}
	v = json_object_get(o, "n");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) != (uint64_t)n) {
		vfail(bad_line, n, err, "n is not %zu", n);
		goto out;
	}
	hex_encode(prev, 32, prevhex);
	v = json_object_get(o, "prev");
	if (!json_is_string(v) || strcmp(json_string_value(v), prevhex) != 0) {
		if (n == 1)
			vfail(bad_line, n, err, "prev is not 64 zeros");
		else
			vfail(bad_line, n, err, "prev is not the hash of line %zu", n - 1);
		goto out;
	}
	r = json_string_value(json_object_get(o, "result"));
	if (!json_is_integer(json_object_get(o, "time")) ||
	    !json_is_integer(json_object_get(o, "seq")) || r == NULL ||
	    (strcmp(r, "accepted") != 0 && strcmp(r, "rejected") != 0) || !is_str(o, "reason") ||
	    !is_str(o, "source") || !is_str(o, "type") || !is_str(o, "id") ||
	    !is_hex64(o, "digest") || !is_str(o, "envelope")) {
		vfail(bad_line, n, err, "a field is missing or of the wrong type");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int
tlog_verify(const char *path, size_t *entries, size_t *bad_line, char **err)
{
	uint8_t prev[32] = {0};
	char *line = NULL, *head_path;
	size_t cap = 0, n = 0;
	struct head h;
	ssize_t len;
	FILE *f;
	int fd, rc = -1, hrc;

	*entries = 0;
	*bad_line = 0;
	*err = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_SH) < 0 || (f = fdopen(fd, "r")) == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		n++;
		if (line[len - 1] != '\n') {
			vfail(bad_line, n, err, "no final newline (a torn write)");
			goto out;
		}
		if (check_line(line, (size_t)len - 1, n, prev, bad_line, err) < 0)
			goto out;
		sha256(line, (size_t)len - 1, prev);
	}
	if (ferror(f)) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}

	head_path = xasprintf("%s.head", path);
	hrc = head_read(head_path, &h, err);
	if (hrc == 1 && h.n != n) {
		*bad_line = h.n > n ? n + 1 : (size_t)h.n + 1;
		*err = xasprintf("%s names line %" PRIu64 " as the last, the log has %zu lines",
		                 head_path, h.n, n);
	} else if (hrc == 1 && memcmp(h.hash, prev, 32) != 0) {
		*bad_line = n > 0 ? n : 1;
		*err = xasprintf("line %zu: its hash is not the one in %s", n, head_path);
	} else if (hrc >= 0) {
		rc = 0;
		*entries = n;
	} else {
		*bad_line = n > 0 ? n : 1;
	}
	free(head_path);
out:
	free(line);
	fclose(f); /* drops the flock */
	return rc;
}
