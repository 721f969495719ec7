/*
 * dbcache: the key, the file format, the checks on reading, the atomic
 * write and the pruning of the compiled-database cache. Owns the process's
 * cache directory setting and each lookup's path and key; the databases are
 * the engine's (compiled by it, handed back to it on a hit).
 *
 * Compiling is most of the start-up time and most of its peak memory, so a
 * base layer's compiled databases are kept in a file named by a SHA-256 key
 * over exactly what was handed to the compiler, after translation (so any
 * change in ndb.c changes the key), plus hs_version() and the host platform.
 *
 * The file, "hs-<key>.db" in the cache directory:
 *
 *   header (CACHE_HDR bytes): CACHE_MAGIC, the key (32), the payload length
 *   and the meta length (u64 little-endian each), SHA-256 of the meta (32);
 *   meta: number of databases of each set (DBCACHE_NSETS x u64), the
 *   serialized length of each (u64), the number of expressions the compiler
 *   rejected (u64) and for each its id and reason (u64, u64 length, bytes);
 *   then the serialized databases, in order.
 *
 * Hyperscan checks each database's own CRC when deserializing. Anything
 * that does not check out is logged, ignored and overwritten. Writes go to
 * a temporary file renamed into place, so readers never see half a file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hs/hs.h>
#include <openssl/evp.h>

#include "scan/dbcache.h"
#include "util/log.h"
#include "util/sys.h"
#include "util/xalloc.h"

#define CACHE_MAGIC "PCHSDB01"
#define CACHE_HDR (8 + 32 + 8 + 8 + 32)
#define CACHE_MAX_DBS 65536    /* databases per set in a file we read */
#define CACHE_REASON_MAX 4096  /* bytes of a rejection reason we read */
#define CACHE_KEEP 4           /* cache files kept: the one written and 3 used last */
#define CACHE_TMP_AGE_S 3600   /* temporaries this old are a crashed writer's */
#define CACHE_PRUNE_SCAN 10000 /* directory entries looked at per prune */

/* One lookup: where its file is and what it must hold. */
struct dbcache {
	char *dir;
	char *path; /* dir/hs-<hex>.db */
	uint8_t key[32];
	char hex[65];
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache_dir; /* NULL: no cache */

void
dbcache_set_dir(const char *dir)
{
	pthread_mutex_lock(&cache_lock);
	free(cache_dir);
	cache_dir = dir && *dir ? xstrdup(dir) : NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* A copy of the cache directory (caller frees), or NULL. */
static char *
cache_dir_get(void)
{
	char *d;

	pthread_mutex_lock(&cache_lock);
	d = cache_dir ? xstrdup(cache_dir) : NULL;
	pthread_mutex_unlock(&cache_lock);
	return d;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
key_u64(EVP_MD_CTX *c, uint64_t v)
{
	uint8_t b[8];

	put_u64(b, v);
	EVP_DigestUpdate(c, b, sizeof(b));
}

/* Adds one compile set (in its order, which is the compiler's input order). */
static void
key_set(EVP_MD_CTX *c, const struct dbcache_set *cs)
{
	key_u64(c, cs->mode);
	key_u64(c, cs->n);
	for (size_t k = 0; k < cs->n; k++) {
		const hs_expr_ext_t *x = cs->ext[k];
		size_t len = strlen(cs->expr[k]);

		key_u64(c, cs->ids[k]);
		key_u64(c, cs->flags[k]);
		key_u64(c, x != NULL);
		if (x != NULL) {
			key_u64(c, x->flags);
			key_u64(c, x->min_offset);
			key_u64(c, x->max_offset);
			key_u64(c, x->min_length);
			key_u64(c, x->edit_distance);
			key_u64(c, x->hamming_distance);
		}
		key_u64(c, len);
		EVP_DigestUpdate(c, cs->expr[k], len);
	}
}

/* The key of the compile sets on this host, raw and as hex. */
static void
cache_key(const struct dbcache_set *sets, uint8_t key[32], char hex[65])
{
	static const char tag[] = "portcullis engine cache " CACHE_MAGIC;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	hs_platform_info_t plat;
	const char *ver = hs_version();
	unsigned len = 32;

	if (c == NULL)
		fatalx("engine: out of memory");
	memset(&plat, 0, sizeof(plat));
	hs_populate_platform(&plat);
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, tag, sizeof(tag));
	key_u64(c, strlen(ver));
	EVP_DigestUpdate(c, ver, strlen(ver));
	key_u64(c, plat.tune);
	key_u64(c, plat.cpu_features);
	for (int k = 0; k < DBCACHE_NSETS; k++)
		key_set(c, &sets[k]);
	EVP_DigestFinal_ex(c, key, &len);
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
}

/* Owned by us or root, writable by no one else: safe to load code from. */
static int
cache_owner_ok(const struct stat *st)
{
	return (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & 022);
}

/*
 * 0 if dir can hold the cache (created 0700 if missing, its parent must
 * exist); -1 with *why set (caller frees) otherwise.
 */
static int
cache_dir_ok(const char *dir, char **why)
{
	struct stat st;

	if (stat(dir, &st) < 0 &&
	    (errno != ENOENT || (mkdir(dir, 0700) < 0 && errno != EEXIST) || stat(dir, &st) < 0)) {
		*why = xasprintf("%s", strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*why = xstrdup("not a directory");
		return -1;
	}
	if (!cache_owner_ok(&st)) {
		*why = xstrdup("owned or writable by another user");
		return -1;
	}
	return 0;
}

/* SHA-256 of n bytes. */
static void
sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 32;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
		fatalx("engine: cache: SHA-256 failed");
}

/* A bounds-checked reader over the meta section. */
struct rd {
	const uint8_t *p;
	size_t left;
	int bad;
};

static uint64_t
rd_u64(struct rd *r)
{
	uint64_t v;

	if (r->bad || r->left < 8) {
		r->bad = 1;
		return 0;
	}
	v = get_u64(r->p);
	r->p += 8;
	r->left -= 8;
	return v;
}

/*
 * Checks a cache file image (p, size) for key and, if it holds together,
 * hands its databases and rejections (ids below max_id) to sink. 0, or -1
 * with *why set.
 */
static int
cache_parse(const uint8_t *p, size_t size, const uint8_t key[32], size_t max_id,
            const struct dbcache_sink *sink, char **why)
{
	uint64_t plen, mlen, cnt[DBCACHE_NSETS], total = 0, nrej;
	uint64_t *lens = NULL, *ids = NULL, *rlens = NULL;
	const uint8_t **reasons = NULL, *blob;
	hs_database_t **dbs = NULL;
	size_t ndbs = 0, done = 0;
	struct rd r;
	uint8_t md[32];
	hs_error_t herr;
	int rc = -1;

	if (size < CACHE_HDR || memcmp(p, CACHE_MAGIC, 8) != 0) {
		*why = xstrdup("not a cache file");
		return -1;
	}
	if (memcmp(p + 8, key, 32) != 0) {
		*why = xstrdup("written for other signatures");
		return -1;
	}
	plen = get_u64(p + 40);
	mlen = get_u64(p + 48);
	if (plen != size - CACHE_HDR || mlen > plen) {
		*why = xasprintf("truncated or damaged (payload %llu bytes, file %zu)",
		                 (unsigned long long)plen, size);
		return -1;
	}
	sha256(p + CACHE_HDR, (size_t)mlen, md);
	if (memcmp(md, p + 56, 32) != 0) {
		*why = xstrdup("damaged (digest mismatch)");
		return -1;
	}
	r.p = p + CACHE_HDR;
	r.left = (size_t)mlen;
	r.bad = 0;
	for (int k = 0; k < DBCACHE_NSETS; k++) {
		cnt[k] = rd_u64(&r);
		if (cnt[k] > CACHE_MAX_DBS)
			r.bad = 1;
		else
			ndbs += (size_t)cnt[k];
	}
	if (!r.bad) {
		lens = xcalloc(ndbs + 1, sizeof(*lens));
		dbs = xcalloc(ndbs + 1, sizeof(*dbs));
	}
	for (size_t i = 0; i < ndbs && !r.bad; i++) {
		lens[i] = rd_u64(&r);
		if (lens[i] > plen - mlen - total)
			r.bad = 1;
		else
			total += lens[i];
	}
	nrej = rd_u64(&r);
	if (r.bad || total != plen - mlen || nrej > max_id) {
		*why = xstrdup("damaged (inconsistent layout)");
		goto out;
	}
	ids = xcalloc(nrej + 1, sizeof(*ids));
	rlens = xcalloc(nrej + 1, sizeof(*rlens));
	reasons = xcalloc(nrej + 1, sizeof(*reasons));
	for (uint64_t i = 0; i < nrej && !r.bad; i++) {
		ids[i] = rd_u64(&r);
		rlens[i] = rd_u64(&r);
		if (r.bad || ids[i] >= max_id || rlens[i] > CACHE_REASON_MAX || rlens[i] > r.left) {
			r.bad = 1;
			break;
		}
		reasons[i] = r.p;
		r.p += rlens[i];
		r.left -= (size_t)rlens[i];
	}
	if (r.bad || r.left != 0) {
		*why = xstrdup("damaged (inconsistent rejections)");
		goto out;
	}
	blob = p + CACHE_HDR + mlen;
	for (done = 0; done < ndbs; done++) {
		herr = hs_deserialize_database((const char *)blob, (size_t)lens[done], &dbs[done]);
		if (herr != HS_SUCCESS) {
			*why = xasprintf("Hyperscan cannot read database %zu (error %d)", done,
			                 (int)herr);
			goto out;
		}
		blob += lens[done];
	}
	for (unsigned k = 0, i = 0; k < DBCACHE_NSETS; k++)
		for (uint64_t j = 0; j < cnt[k]; j++)
			sink->db(sink->arg, k, dbs[i++]);
	done = 0;
	for (uint64_t i = 0; i < nrej; i++) {
		char *why1 = xstrndup((const char *)reasons[i], (size_t)rlens[i]);

		sink->reject(sink->arg, (unsigned)ids[i], why1);
		free(why1);
	}
	rc = 0;
out:
	for (size_t i = 0; i < done; i++)
		hs_free_database(dbs[i]);
	free(dbs);
	free(lens);
	free(ids);
	free(rlens);
	free(reasons);
	return rc;
}

/*
 * Reads the cache file at path into sink. 0; or -1 with *why set (caller
 * frees) if the file is unusable, or *why NULL if there is none.
 */
static int
cache_load(const char *path, const uint8_t key[32], size_t max_id, const struct dbcache_sink *sink,
           char **why)
{
	struct stat st;
	void *map;
	int fd, rc;

	*why = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			*why = xasprintf("open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !cache_owner_ok(&st)) {
		*why = xstrdup("not a regular file of ours");
		close(fd);
		return -1;
	}
	if (st.st_size < CACHE_HDR) {
		*why = xasprintf("truncated (%lld bytes)", (long long)st.st_size);
		close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		*why = xasprintf("mmap: %s", strerror(errno));
		close(fd);
		return -1;
	}
	rc = cache_parse(map, (size_t)st.st_size, key, max_id, sink, why);
	munmap(map, (size_t)st.st_size);
	/* In use: keep it from being pruned as stale. */
	if (rc == 0)
		futimens(fd, NULL);
	close(fd);
	return rc;
}

/* A cache file found while pruning. */
struct cache_old {
	char name[3 + 64 + 3 + 1];
	time_t mtime;
};

/* Newest first. */
static int
cache_old_cmp(const void *a, const void *b)
{
	const struct cache_old *x = a, *y = b;

	return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : 0;
}

/*
 * Bounds the cache after `keep` was written: of the other cache files the
 * CACHE_KEEP - 1 used last stay (a hit refreshes a file's time), the rest
 * go, and so do temporaries older than CACHE_TMP_AGE_S (a crashed writer's).
 */
static void
cache_prune(const char *dir, const char *keep)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct cache_old *old = NULL;
	size_t nold = 0, cap = 0;
	time_t now = time(NULL);
	unsigned seen = 0;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && seen++ < CACHE_PRUNE_SCAN) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		int tmp = strncmp(n, ".hs-", 4) == 0;
		struct stat st;

		if (strcmp(n, keep) == 0 ||
		    !(tmp || (strncmp(n, "hs-", 3) == 0 && len == sizeof(old->name) - 1 &&
		              strcmp(n + len - 3, ".db") == 0)))
			continue;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (tmp) {
			if (now - st.st_mtime >= CACHE_TMP_AGE_S && unlinkat(dirfd(d), n, 0) == 0)
				log_info("engine: cache: removed %s/%s (left over)", dir, n);
			continue;
		}
		old = xgrow(old, &cap, nold + 1, sizeof(*old));
		memcpy(old[nold].name, n, len + 1);
		old[nold++].mtime = st.st_mtime;
	}
	if (nold > 1)
		qsort(old, nold, sizeof(*old), cache_old_cmp);
	for (size_t i = CACHE_KEEP - 1; i < nold; i++)
		if (unlinkat(dirfd(d), old[i].name, 0) == 0)
			log_info("engine: cache: removed %s/%s (%d newer)", dir, old[i].name,
			         CACHE_KEEP);
	closedir(d);
	free(old);
}

/* Appends n bytes to a growing buffer. */
static void
buf_put(uint8_t **b, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (n == 0)
		return;
	*b = xgrow(*b, cap, *len + n, 1);
	memcpy(*b + *len, p, n);
	*len += n;
}

static void
buf_u64(uint8_t **b, size_t *len, size_t *cap, uint64_t v)
{
	uint8_t x[8];

	put_u64(x, v);
	buf_put(b, len, cap, x, sizeof(x));
}

/* Writes img's databases and rejections to path (in dir), atomically. */
static void
cache_store(const struct dbcache_image *img, const char *dir, const char *path,
            const uint8_t key[32], const char *hex)
{
	size_t ndbs = 0, mlen = 0, mcap = 0, total;
	hs_database_t **dbs;
	char **blobs, *tmp = NULL;
	size_t *lens;
	uint8_t hdr[CACHE_HDR], *meta = NULL;
	int fd = -1, created = 0, ok = 0;

	for (int k = 0; k < DBCACHE_NSETS; k++)
		ndbs += img->ndb[k];
	dbs = xcalloc(ndbs + 1, sizeof(*dbs));
	blobs = xcalloc(ndbs + 1, sizeof(*blobs));
	lens = xcalloc(ndbs + 1, sizeof(*lens));
	for (size_t k = 0, i = 0; k < DBCACHE_NSETS; k++) {
		for (size_t j = 0; j < img->ndb[k]; j++)
			dbs[i++] = img->db[k][j];
		buf_u64(&meta, &mlen, &mcap, img->ndb[k]);
	}
	for (size_t i = 0; i < ndbs; i++) {
		hs_error_t r = hs_serialize_database(dbs[i], &blobs[i], &lens[i]);

		if (r != HS_SUCCESS) {
			log_warnx("engine: cache: cannot serialize a database (error %d)", (int)r);
			goto out;
		}
		buf_u64(&meta, &mlen, &mcap, lens[i]);
	}
	buf_u64(&meta, &mlen, &mcap, img->nrej);
	for (size_t i = 0; i < img->nrej; i++) {
		size_t rl = strlen(img->rej_why[i]);

		rl = rl > CACHE_REASON_MAX ? CACHE_REASON_MAX : rl;
		buf_u64(&meta, &mlen, &mcap, img->rej_ids[i]);
		buf_u64(&meta, &mlen, &mcap, rl);
		buf_put(&meta, &mlen, &mcap, img->rej_why[i], rl);
	}
	total = mlen;
	for (size_t i = 0; i < ndbs; i++)
		total += lens[i];
	memcpy(hdr, CACHE_MAGIC, 8);
	memcpy(hdr + 8, key, 32);
	put_u64(hdr + 40, total);
	put_u64(hdr + 48, mlen);
	sha256(meta, mlen, hdr + 56);

	tmp = xasprintf("%s/.hs-%s.XXXXXX", dir, hex);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		log_warn("engine: cache: cannot create a file in %s", dir);
		goto out;
	}
	created = 1;
	if (write_all(fd, hdr, sizeof(hdr)) < 0 || write_all(fd, meta, mlen) < 0)
		goto fail;
	for (size_t i = 0; i < ndbs; i++)
		if (write_all(fd, blobs[i], lens[i]) < 0)
			goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	ok = 1;
	log_info("engine: cache: wrote %s (%zu bytes)", path, total + CACHE_HDR);
	cache_prune(dir, strrchr(path, '/') + 1);
	goto out;
fail:
	log_warn("engine: cache: cannot write %s", path);
out:
	if (fd >= 0)
		close(fd);
	if (created && !ok)
		unlink(tmp);
	for (size_t i = 0; i < ndbs; i++)
		free(blobs[i]);
	free(blobs);
	free(lens);
	free(dbs);
	free(meta);
	free(tmp);
}

struct dbcache *
dbcache_open(const struct dbcache_set *sets)
{
	struct dbcache *c;
	char *dir = cache_dir_get(), *why = NULL;

	if (dir == NULL)
		return NULL;
	if (cache_dir_ok(dir, &why) != 0) {
		log_warnx("engine: cache: %s: %s; compiling without it", dir, why);
		free(why);
		free(dir);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->dir = dir;
	cache_key(sets, c->key, c->hex);
	c->path = xasprintf("%s/hs-%s.db", dir, c->hex);
	return c;
}

int
dbcache_load(struct dbcache *c, size_t max_id, const struct dbcache_sink *sink)
{
	char *why = NULL;

	if (cache_load(c->path, c->key, max_id, sink, &why) == 0)
		return 0;
	if (why != NULL) {
		log_warnx("engine: cache: %s: %s; ignored, compiling", c->path, why);
		free(why);
	}
	return -1;
}

void
dbcache_store(struct dbcache *c, const struct dbcache_image *img)
{
	cache_store(img, c->dir, c->path, c->key, c->hex);
}

const char *
dbcache_path(const struct dbcache *c)
{
	return c->path;
}

void
dbcache_close(struct dbcache *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	free(c->path);
	free(c);
}
