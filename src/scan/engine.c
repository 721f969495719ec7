/*
 * engine: compiled signatures and the streams that match them. Owns the
 * Hyperscan databases (and their cache on disk), the scratch and stream
 * pools, the hash computation and the checks done on matches; parsing is
 * sigdb.c's and ndb.c's.
 *
 * An engine is a list of layers: the base, then one per engine_extend().
 * A layer is immutable and shared (refcounted) by every engine built on it:
 * its sigdb, one or more streaming databases (body signatures with offset
 * "*" or "n[,m]"), one or more block databases of EOF-n signatures, and a
 * hash set. Layer ids are indexes into the layer's table of signatures.
 *
 * EOF-n signatures of fixed length are in the streaming database too,
 * forward and without SINGLEMATCH: when the object's size is known, the
 * match callback keeps only matches whose start (end - length) lies in the
 * window, and close checks them again against the bytes actually fed.
 * Every EOF-n signature is also compiled reversed into a block database
 * that is matched at close over the last bytes of the object, reversed:
 * the signature's start, counted back from EOF, becomes the end of a
 * reversed match, which Hyperscan bounds exactly with min_offset and
 * max_offset, for variable length too. That pass runs for variable-length
 * signatures always, for fixed-length ones only when the size was unknown.
 *
 * The feed path takes no lock and allocates nothing: the match callback
 * appends (layer, id) to a fixed array. Every expression is SINGLEMATCH, so
 * an id is reported at most once per database and stream.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hs/hs.h>
#include <openssl/evp.h>

#include "scan/engine.h"
#include "scan/hashset.h"
#include "scan/ndb.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/sys.h"

/* After this many rejected expressions, check all remaining ones singly. */
#define ENGINE_PREVALIDATE_AFTER 4
/* Largest piece handed to one hs_scan_stream() (its length is unsigned). */
#define ENGINE_FEED_MAX ((size_t)1 << 30)

/* Whether a layer's databases came from the cache. */
enum cache_state {
	CACHE_OFF = 0, /* no cache directory, or nothing to compile */
	CACHE_MISS,    /* compiled (and written to the cache) */
	CACHE_HIT,     /* read from the cache */
};

static const char *const cache_state_names[] = {"off", "miss", "hit"};

enum sig_kind {
	SIG_PLAIN,     /* offset "*" or "n[,m]": Hyperscan checks it all */
	SIG_EOF_FIXED, /* EOF-n, fixed length */
	SIG_EOF_VAR,   /* EOF-n, variable length: reversed pass only */
};

struct lsig {
	const char *name; /* in the layer's sigdb */
	size_t dbi;       /* index in the sigdb */
	unsigned target;
	enum sig_kind kind;
	uint64_t eof_n, eof_span; /* EOF-n,m: start in [size-n, size-n+m], size >= n */
	uint64_t len;             /* SIG_EOF_FIXED: match length */
	int rejected;
};

struct layer {
	atomic_uint refs;
	struct sigdb *db;
	struct lsig *sigs; /* by Hyperscan id */
	size_t nsigs;
	hs_database_t **sdb; /* HS_MODE_STREAM */
	size_t nsdb, sdb_cap;
	hs_database_t **efix; /* HS_MODE_BLOCK, reversed SIG_EOF_FIXED */
	size_t nefix, efix_cap;
	hs_database_t **evar; /* HS_MODE_BLOCK, reversed SIG_EOF_VAR */
	size_t nevar, evar_cap;
	uint64_t win_fix, win_var; /* largest n among them */
	struct hashset *hs;
	size_t nbody, nhash;
	enum cache_state cache;
	/* While building: what compile_set() rejected, for the cache. */
	unsigned *rej_ids;
	char **rej_why;
	size_t nrej, rej_cap;
};

struct engine {
	atomic_uint refs;
	struct layer **layers;
	size_t nlayers;
	size_t nsdb; /* streaming databases over all layers */
	hs_scratch_t *proto;
	uint64_t win_fix, win_var, eof_window; /* maxima over layers */
	unsigned hash_types;
	EVP_MD *md[HASH_NTYPES];
	size_t nbody, nhash;
	pthread_mutex_t lock; /* guards pool */
	struct engine_stream *pool;
	size_t npool;
};

struct sctx {
	struct engine_stream *s;
	uint32_t layer;
	const struct lsig *sigs;
};

/* A match; to is its end offset, or HIT_VERIFIED from the reversed pass. */
struct hitrec {
	uint32_t layer, id;
	uint64_t to;
};

#define HIT_VERIFIED UINT64_MAX

struct engine_stream {
	struct engine *e;
	struct engine_stream *next; /* in e->pool */
	int broken;                 /* setup or reset failed: never pooled */
	hs_scratch_t *scratch;
	hs_stream_t **hs; /* e->nsdb */
	struct sctx *ctx; /* e->nsdb, then one per layer */
	unsigned target_mask;
	uint64_t size, fed;
	hs_error_t herr;  /* first Hyperscan error */
	const char *fail; /* other failure */
	struct hitrec *hits;
	size_t nhits, dropped;
	EVP_MD_CTX *mdctx[HASH_NTYPES];
	unsigned md_on;
	int ring_on; /* keep the tail for the reversed pass */
	/*
	 * The last eof_window bytes: ring_len bytes ending at stream offset
	 * ring_end; the byte at offset o is at (o - ring_base) % eof_window,
	 * so the ring is either [0, ring_len) or full.
	 */
	uint8_t *ring;
	uint64_t ring_base, ring_end;
	size_t ring_len;
};

/* The compile inputs of one database, kept in step. */
struct cset {
	const char **expr;
	unsigned *flags, *ids;
	const hs_expr_ext_t **ext;
	size_t n, cap;
};

/* Appends one expression; the strings and ext are borrowed, not copied. */
static void
cset_push(struct cset *cs, const char *expr, unsigned flags, unsigned id, const hs_expr_ext_t *ext)
{
	size_t cap = cs->cap;

	cs->expr = xgrow(cs->expr, &cap, cs->n + 1, sizeof(*cs->expr));
	cap = cs->cap;
	cs->flags = xgrow(cs->flags, &cap, cs->n + 1, sizeof(*cs->flags));
	cap = cs->cap;
	cs->ids = xgrow(cs->ids, &cap, cs->n + 1, sizeof(*cs->ids));
	cap = cs->cap;
	cs->ext = xgrow(cs->ext, &cap, cs->n + 1, sizeof(*cs->ext));
	cs->cap = cap;
	cs->expr[cs->n] = expr;
	cs->flags[cs->n] = flags;
	cs->ids[cs->n] = id;
	cs->ext[cs->n] = ext;
	cs->n++;
}

/* Removes entry k (order does not matter: ids travel with the entries). */
static void
cset_remove(struct cset *cs, size_t k)
{
	cs->n--;
	cs->expr[k] = cs->expr[cs->n];
	cs->flags[k] = cs->flags[cs->n];
	cs->ids[k] = cs->ids[cs->n];
	cs->ext[k] = cs->ext[cs->n];
}

/* Frees the arrays of cs (not the borrowed expressions). */
static void
cset_free(struct cset *cs)
{
	free(cs->expr);
	free(cs->flags);
	free(cs->ids);
	free(cs->ext);
	memset(cs, 0, sizeof(*cs));
}

/* Marks layer signature id rejected, in the layer and in its sigdb (logged there). */
static void
layer_reject(struct layer *L, unsigned id, const char *why)
{
	size_t cap = L->rej_cap;

	if (L->sigs[id].rejected)
		return;
	L->sigs[id].rejected = 1;
	sigdb_reject_ndb(L->db, L->sigs[id].dbi, why);
	L->rej_ids = xgrow(L->rej_ids, &cap, L->nrej + 1, sizeof(*L->rej_ids));
	L->rej_why = xgrow(L->rej_why, &L->rej_cap, L->nrej + 1, sizeof(*L->rej_why));
	L->rej_ids[L->nrej] = id;
	L->rej_why[L->nrej++] = xstrdup(why);
}

/* Drops every expression Hyperscan's front end refuses on its own. */
static void
cset_prevalidate(struct layer *L, struct cset *cs)
{
	for (size_t k = 0; k < cs->n;) {
		hs_expr_info_t *info = NULL;
		hs_compile_error_t *ce = NULL;

		if (hs_expression_ext_info(cs->expr[k], cs->flags[k], cs->ext[k], &info, &ce) !=
		    HS_SUCCESS) {
			layer_reject(L, cs->ids[k], ce ? ce->message : "hyperscan error");
			hs_free_compile_error(ce);
			cset_remove(cs, k);
			continue;
		}
		free(info);
		k++;
	}
}

/* Appends a compiled database to a growing array. */
static void
push_db(hs_database_t ***v, size_t *n, size_t *cap, hs_database_t *db)
{
	*v = xgrow(*v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = db;
}

/*
 * Compiles cs (mode HS_MODE_STREAM or HS_MODE_BLOCK) into one or more
 * databases appended to (*v, *n). An expression Hyperscan refuses is
 * rejected and the rest retried; a failure not tied to one expression
 * splits the set in two.
 */
static void
compile_set(struct layer *L, struct cset *cs, unsigned mode, hs_database_t ***v, size_t *n,
            size_t *cap)
{
	size_t fails = 0;

	while (cs->n > 0) {
		hs_database_t *db = NULL;
		hs_compile_error_t *ce = NULL;
		struct cset a = {0}, b = {0};

		if (hs_compile_ext_multi(cs->expr, cs->flags, cs->ids, cs->ext, (unsigned)cs->n,
		                         mode, NULL, &db, &ce) == HS_SUCCESS) {
			push_db(v, n, cap, db);
			return;
		}
		if (ce != NULL && ce->expression >= 0 && (size_t)ce->expression < cs->n) {
			layer_reject(L, cs->ids[ce->expression], ce->message);
			cset_remove(cs, (size_t)ce->expression);
			hs_free_compile_error(ce);
			if (++fails == ENGINE_PREVALIDATE_AFTER)
				cset_prevalidate(L, cs);
			continue;
		}
		log_warnx("engine: compiling %zu expressions failed: %s%s", cs->n,
		          ce ? ce->message : "?", cs->n > 1 ? "; splitting" : "");
		if (cs->n == 1) {
			layer_reject(L, cs->ids[0], ce ? ce->message : "hyperscan error");
			hs_free_compile_error(ce);
			return;
		}
		hs_free_compile_error(ce);
		for (size_t k = 0; k < cs->n; k++)
			cset_push(k < cs->n / 2 ? &a : &b, cs->expr[k], cs->flags[k], cs->ids[k],
			          cs->ext[k]);
		compile_set(L, &a, mode, v, n, cap);
		compile_set(L, &b, mode, v, n, cap);
		cset_free(&a);
		cset_free(&b);
		return;
	}
}

/* Frees n databases and the array holding them. */
static void
free_dbs(hs_database_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hs_free_database(v[i]);
	free(v);
}

static void
layer_unref(struct layer *L)
{
	if (L == NULL || atomic_fetch_sub(&L->refs, 1) != 1)
		return;
	free_dbs(L->sdb, L->nsdb);
	free_dbs(L->efix, L->nefix);
	free_dbs(L->evar, L->nevar);
	free(L->sigs);
	hashset_free(L->hs);
	sigdb_free(L->db);
	free(L);
}

/* ---- the compiled-database cache ---------------------------------------- */

/*
 * Compiling is most of the start-up time and most of its peak memory, so a
 * base layer's compiled databases are kept in a file named by a SHA-256 key
 * over exactly what was handed to the compiler: every expression with its
 * flags, id and extended parameters, per database kind, after translation
 * (so any change in ndb.c changes the key), plus hs_version() and the host
 * platform. The file, "hs-<key>.db" in the cache directory:
 *
 *   header (CACHE_HDR bytes): CACHE_MAGIC, the key (32), the payload length
 *   and the meta length (u64 little-endian each), SHA-256 of the meta (32);
 *   meta: number of stream, EOF-fixed and EOF-variable databases (3 x u64),
 *   the serialized length of each (u64), the number of expressions the
 *   compiler rejected (u64) and for each its id and reason (u64, u64 length,
 *   bytes);
 *   then the serialized databases, in order.
 *
 * Hyperscan checks each database's own CRC when deserializing. Anything
 * that does not check out is logged, ignored and overwritten. Writes go to
 * a temporary file renamed into place, so readers never see half a file.
 */
#define CACHE_MAGIC "PCHSDB01"
#define CACHE_HDR (8 + 32 + 8 + 8 + 32)
#define CACHE_MAX_DBS 65536    /* databases per kind in a file we read */
#define CACHE_REASON_MAX 4096  /* bytes of a rejection reason we read */
#define CACHE_KEEP 4           /* cache files kept: the one written and 3 used last */
#define CACHE_TMP_AGE_S 3600   /* temporaries this old are a crashed writer's */
#define CACHE_PRUNE_SCAN 10000 /* directory entries looked at per prune */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache_dir; /* NULL: no cache */

void
engine_set_cache_dir(const char *dir)
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
key_set(EVP_MD_CTX *c, const struct cset *cs, unsigned mode)
{
	key_u64(c, mode);
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

/* The key of the three compile sets on this host, raw and as hex. */
static void
cache_key(const struct cset *scs, const struct cset *fcs, const struct cset *vcs, uint8_t key[32],
          char hex[65])
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
	key_set(c, scs, HS_MODE_STREAM);
	key_set(c, fcs, HS_MODE_BLOCK);
	key_set(c, vcs, HS_MODE_BLOCK);
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
		fatalx("engine: SHA-256 failed");
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
 * loads its databases and rejections into L. 0, or -1 with *why set.
 */
static int
cache_parse(struct layer *L, const uint8_t *p, size_t size, const uint8_t key[32], char **why)
{
	uint64_t plen, mlen, cnt[3], total = 0, nrej;
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
	for (int k = 0; k < 3; k++) {
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
	if (r.bad || total != plen - mlen || nrej > L->nsigs) {
		*why = xstrdup("damaged (inconsistent layout)");
		goto out;
	}
	ids = xcalloc(nrej + 1, sizeof(*ids));
	rlens = xcalloc(nrej + 1, sizeof(*rlens));
	reasons = xcalloc(nrej + 1, sizeof(*reasons));
	for (uint64_t i = 0; i < nrej && !r.bad; i++) {
		ids[i] = rd_u64(&r);
		rlens[i] = rd_u64(&r);
		if (r.bad || ids[i] >= L->nsigs || rlens[i] > CACHE_REASON_MAX ||
		    rlens[i] > r.left) {
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
	for (size_t i = 0; i < ndbs; i++) {
		if (i < cnt[0])
			push_db(&L->sdb, &L->nsdb, &L->sdb_cap, dbs[i]);
		else if (i < cnt[0] + cnt[1])
			push_db(&L->efix, &L->nefix, &L->efix_cap, dbs[i]);
		else
			push_db(&L->evar, &L->nevar, &L->evar_cap, dbs[i]);
	}
	done = 0;
	for (uint64_t i = 0; i < nrej; i++) {
		char *why1 = xstrndup((const char *)reasons[i], (size_t)rlens[i]);

		layer_reject(L, (unsigned)ids[i], why1);
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
 * Loads L's databases from the cache file at path. 0; or -1 with *why set
 * (caller frees) if the file is unusable, or *why NULL if there is none.
 */
static int
cache_load(struct layer *L, const char *path, const uint8_t key[32], char **why)
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
	rc = cache_parse(L, map, (size_t)st.st_size, key, why);
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

/* Writes L's databases and rejections to path (in dir), atomically. */
static void
cache_store(const struct layer *L, const char *dir, const char *path, const uint8_t key[32],
            const char *hex)
{
	size_t ndbs = L->nsdb + L->nefix + L->nevar, mlen = 0, mcap = 0, total;
	hs_database_t **dbs = xcalloc(ndbs + 1, sizeof(*dbs));
	char **blobs = xcalloc(ndbs + 1, sizeof(*blobs)), *tmp = NULL;
	size_t *lens = xcalloc(ndbs + 1, sizeof(*lens));
	uint8_t hdr[CACHE_HDR], *meta = NULL;
	int fd = -1, created = 0, ok = 0;

	for (size_t i = 0; i < L->nsdb; i++)
		dbs[i] = L->sdb[i];
	for (size_t i = 0; i < L->nefix; i++)
		dbs[L->nsdb + i] = L->efix[i];
	for (size_t i = 0; i < L->nevar; i++)
		dbs[L->nsdb + L->nefix + i] = L->evar[i];
	buf_u64(&meta, &mlen, &mcap, L->nsdb);
	buf_u64(&meta, &mlen, &mcap, L->nefix);
	buf_u64(&meta, &mlen, &mcap, L->nevar);
	for (size_t i = 0; i < ndbs; i++) {
		hs_error_t r = hs_serialize_database(dbs[i], &blobs[i], &lens[i]);

		if (r != HS_SUCCESS) {
			log_warnx("engine: cache: cannot serialize a database (error %d)", (int)r);
			goto out;
		}
		buf_u64(&meta, &mlen, &mcap, lens[i]);
	}
	buf_u64(&meta, &mlen, &mcap, L->nrej);
	for (size_t i = 0; i < L->nrej; i++) {
		size_t rl = strlen(L->rej_why[i]);

		rl = rl > CACHE_REASON_MAX ? CACHE_REASON_MAX : rl;
		buf_u64(&meta, &mlen, &mcap, L->rej_ids[i]);
		buf_u64(&meta, &mlen, &mcap, rl);
		buf_put(&meta, &mlen, &mcap, L->rej_why[i], rl);
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

/*
 * Compiles the three sets into L: from the cache when use_cache and a cache
 * directory is set and holds them, else by compiling (and then writing the
 * cache). The key is taken before compiling, which drops rejected entries.
 */
static void
layer_compile(struct layer *L, struct cset *scs, struct cset *fcs, struct cset *vcs, int use_cache)
{
	char *dir = NULL, *path = NULL, *why = NULL, hex[65];
	uint8_t key[32];

	if (use_cache && scs->n + fcs->n + vcs->n > 0)
		dir = cache_dir_get();
	if (dir != NULL && cache_dir_ok(dir, &why) != 0) {
		log_warnx("engine: cache: %s: %s; compiling without it", dir, why);
		free(why);
		free(dir);
		dir = NULL;
	}
	if (dir != NULL) {
		cache_key(scs, fcs, vcs, key, hex);
		path = xasprintf("%s/hs-%s.db", dir, hex);
		if (cache_load(L, path, key, &why) == 0) {
			L->cache = CACHE_HIT;
			free(path);
			free(dir);
			return;
		}
		if (why != NULL) {
			log_warnx("engine: cache: %s: %s; ignored, compiling", path, why);
			free(why);
		}
		L->cache = CACHE_MISS;
	}
	compile_set(L, scs, HS_MODE_STREAM, &L->sdb, &L->nsdb, &L->sdb_cap);
	compile_set(L, fcs, HS_MODE_BLOCK, &L->efix, &L->nefix, &L->efix_cap);
	compile_set(L, vcs, HS_MODE_BLOCK, &L->evar, &L->nevar, &L->evar_cap);
	if (dir != NULL)
		cache_store(L, dir, path, key, hex);
	free(path);
	free(dir);
}

/* The expression of an EOF-n signature matched forward, without the offset. */
static int
translate_forward(const struct ndb_sig *sig, struct ndb_expr *out, char *err, size_t errlen)
{
	struct ndb_sig fwd = *sig;

	fwd.off_kind = NDB_OFF_ANY;
	fwd.off_min = fwd.off_span = 0;
	if (ndb_translate(&fwd, out, err, errlen) != NDB_OK)
		return -1;
	/* Every occurrence: the window is checked on each. */
	out->hs_flags &= ~(unsigned)HS_FLAG_SINGLEMATCH;
	return 0;
}

/*
 * Translates and compiles db (ownership moves to the layer), through the
 * cache if use_cache. Never NULL.
 */
static struct layer *
layer_build(struct sigdb *db, int use_cache)
{
	struct layer *L = xcalloc(1, sizeof(*L));
	size_t n = sigdb_ndb_count(db);
	struct ndb_expr *ex = xcalloc(n + 1, sizeof(*ex)), *fx = xcalloc(n + 1, sizeof(*fx));
	hs_expr_ext_t *ext = xcalloc(n + 1, sizeof(*ext));
	struct cset scs = {0}, fcs = {0}, vcs = {0};
	char err[256];

	atomic_init(&L->refs, 1);
	L->db = db;
	L->sigs = xcalloc(n + 1, sizeof(*L->sigs));
	for (size_t i = 0; i < n; i++) {
		const struct ndb_sig *sig = sigdb_ndb(db, i);
		struct ndb_expr *e = &ex[L->nsigs];
		unsigned id = (unsigned)L->nsigs;
		struct lsig *ls = &L->sigs[id];
		const hs_expr_ext_t *xp = NULL;

		if (sigdb_ndb_rejected(db, i))
			continue;
		if (ndb_translate(sig, e, err, sizeof(err)) != NDB_OK) {
			sigdb_reject_ndb(db, i, err);
			continue;
		}
		if (e->eof && (sig->off_min > ENGINE_EOF_WINDOW_MAX ||
		               (e->min_len == e->max_len &&
		                translate_forward(sig, &fx[id], err, sizeof(err)) != 0))) {
			sigdb_reject_ndb(db, i,
			                 sig->off_min > ENGINE_EOF_WINDOW_MAX
			                     ? "EOF-n beyond the engine's EOF window"
			                     : err);
			ndb_expr_free(e);
			continue;
		}
		ls->name = sig->name;
		ls->dbi = i;
		ls->target = sig->target;
		if (e->min_offset || e->max_offset) {
			ext[id].flags = (e->min_offset ? HS_EXT_FLAG_MIN_OFFSET : 0) |
			                (e->max_offset ? HS_EXT_FLAG_MAX_OFFSET : 0);
			ext[id].min_offset = e->min_offset;
			ext[id].max_offset = e->max_offset;
			xp = &ext[id];
		}
		if (!e->eof) {
			ls->kind = SIG_PLAIN;
			cset_push(&scs, e->expr, e->hs_flags, id, xp);
		} else {
			ls->eof_n = sig->off_min;
			ls->eof_span = sig->off_span;
			if (e->min_len == e->max_len) {
				ls->kind = SIG_EOF_FIXED;
				ls->len = e->min_len;
				cset_push(&scs, fx[id].expr, fx[id].hs_flags, id, NULL);
				cset_push(&fcs, e->expr, e->hs_flags, id, xp);
				if (sig->off_min > L->win_fix)
					L->win_fix = sig->off_min;
			} else {
				ls->kind = SIG_EOF_VAR;
				cset_push(&vcs, e->expr, e->hs_flags, id, xp);
				if (sig->off_min > L->win_var)
					L->win_var = sig->off_min;
			}
		}
		L->nsigs++;
	}
	layer_compile(L, &scs, &fcs, &vcs, use_cache);
	for (size_t i = 0; i < L->nsigs; i++)
		if (!L->sigs[i].rejected)
			L->nbody++;
	if (L->nefix == 0)
		L->win_fix = 0;
	if (L->nevar == 0)
		L->win_var = 0;
	L->nhash = sigdb_hash_count(db);
	/* sigdb keeps its hash signatures in one array, which the set points into. */
	L->hs = hashset_new(L->nhash ? sigdb_hash(db, 0) : NULL, L->nhash);
	for (size_t i = 0; i < L->nsigs; i++) {
		ndb_expr_free(&ex[i]);
		ndb_expr_free(&fx[i]);
	}
	free(ex);
	free(fx);
	free(ext);
	cset_free(&scs);
	cset_free(&fcs);
	cset_free(&vcs);
	for (size_t i = 0; i < L->nrej; i++)
		free(L->rej_why[i]);
	free(L->rej_ids);
	free(L->rej_why);
	L->rej_ids = NULL;
	L->rej_why = NULL;
	L->nrej = L->rej_cap = 0;
	return L;
}

/* Grows *scratch to serve every database of v; 0, or -1 with *err set. */
static int
scratch_for(hs_database_t **v, size_t n, hs_scratch_t **scratch, char **err)
{
	hs_error_t r;

	for (size_t i = 0; i < n; i++)
		if ((r = hs_alloc_scratch(v[i], scratch)) != HS_SUCCESS) {
			*err = xasprintf("hs_alloc_scratch failed (%d)", r);
			return -1;
		}
	return 0;
}

static const char *const md_names[HASH_NTYPES] = {"MD5", "SHA1", "SHA256"};

/*
 * Makes an engine of layers[0..n) (their refs move to it). Returns NULL
 * with *err set if Hyperscan scratch cannot be allocated.
 */
static struct engine *
engine_assemble(struct layer **layers, size_t n, char **err)
{
	struct engine *e = xcalloc(1, sizeof(*e));

	atomic_init(&e->refs, 1);
	pthread_mutex_init(&e->lock, NULL);
	e->layers = layers;
	e->nlayers = n;
	for (size_t l = 0; l < n; l++) {
		struct layer *L = layers[l];

		e->nsdb += L->nsdb;
		e->nbody += L->nbody;
		e->nhash += L->nhash;
		e->hash_types |= hashset_types(L->hs);
		e->win_fix = L->win_fix > e->win_fix ? L->win_fix : e->win_fix;
		e->win_var = L->win_var > e->win_var ? L->win_var : e->win_var;
		if (scratch_for(L->sdb, L->nsdb, &e->proto, err) != 0 ||
		    scratch_for(L->efix, L->nefix, &e->proto, err) != 0 ||
		    scratch_for(L->evar, L->nevar, &e->proto, err) != 0) {
			engine_unref(e);
			return NULL;
		}
	}
	e->eof_window = e->win_fix > e->win_var ? e->win_fix : e->win_var;
	for (int t = 0; t < HASH_NTYPES; t++) {
		if (!(e->hash_types & (1u << t)))
			continue;
		if ((e->md[t] = EVP_MD_fetch(NULL, md_names[t], NULL)) == NULL) {
			log_warnx("engine: OpenSSL has no %s: those hash signatures cannot match",
			          md_names[t]);
			e->hash_types &= ~(1u << t);
		}
	}
	return e;
}

/* The one info line per engine build; L is the layer just built. */
static void
engine_log_built(const struct engine *e, const struct layer *L, uint64_t t0)
{
	log_info("engine: built body=%zu hash=%zu overlays=%zu compile_ms=%llu cache=%s", e->nbody,
	         e->nhash, e->nlayers - 1, (unsigned long long)(monotonic_ms() - t0),
	         cache_state_names[L->cache]);
}

/* Number of body signatures of db rejected so far. */
static size_t
rejected_count(const struct sigdb *db)
{
	struct sigdb_counts c;

	sigdb_counts(db, "ndb", &c);
	return c.rejected;
}

struct engine *
engine_build(struct sigdb *db, char **err)
{
	uint64_t t0 = monotonic_ms();
	size_t r0 = rejected_count(db);
	struct layer *L = layer_build(db, 1), **layers;
	struct engine *e;

	*err = NULL;
	if (rejected_count(db) > r0)
		log_warnx("engine: %zu body signatures rejected (logged above with their origin)",
		          rejected_count(db) - r0);
	if (L->nbody + L->nhash == 0) {
		*err = xasprintf("no usable signatures (%zu skipped)", sigdb_skipped(db));
		layer_unref(L);
		return NULL;
	}
	layers = xcalloc(1, sizeof(*layers));
	layers[0] = L;
	if ((e = engine_assemble(layers, 1, err)) != NULL)
		engine_log_built(e, L, t0);
	return e;
}

struct engine *
engine_extend(struct engine *base, struct sigdb *extra, char **err)
{
	uint64_t t0 = monotonic_ms();
	/* Overlays are small: compiled in milliseconds, never cached. */
	struct layer *L = layer_build(extra, 0), **layers;
	struct engine *e;

	*err = NULL;
	sigdb_log_stats(extra, "overlay");
	if (L->nbody + L->nhash == 0) {
		*err = xasprintf("no usable signatures in the addition (%zu skipped)",
		                 sigdb_skipped(extra));
		layer_unref(L);
		return NULL;
	}
	layers = xcalloc(base->nlayers + 1, sizeof(*layers));
	for (size_t i = 0; i < base->nlayers; i++) {
		layers[i] = base->layers[i];
		atomic_fetch_add(&layers[i]->refs, 1);
	}
	layers[base->nlayers] = L;
	if ((e = engine_assemble(layers, base->nlayers + 1, err)) != NULL)
		engine_log_built(e, L, t0);
	return e;
}

struct engine *
engine_fold(struct engine *e, char **err)
{
	struct sigdb *db;

	*err = NULL;
	if (e->nlayers == 1)
		return engine_ref(e);
	db = sigdb_new();
	for (size_t i = 0; i < e->nlayers; i++)
		sigdb_copy(db, e->layers[i]->db);
	return engine_build(db, err);
}

struct engine *
engine_ref(struct engine *e)
{
	atomic_fetch_add(&e->refs, 1);
	return e;
}

/* Frees a stream slot of e and everything it holds. */
static void
slot_free(struct engine *e, struct engine_stream *s)
{
	for (size_t k = 0; k < e->nsdb; k++)
		if (s->hs[k] != NULL)
			hs_close_stream(s->hs[k], NULL, NULL, NULL);
	for (int t = 0; t < HASH_NTYPES; t++)
		EVP_MD_CTX_free(s->mdctx[t]);
	hs_free_scratch(s->scratch);
	free(s->hs);
	free(s->ctx);
	free(s->hits);
	free(s->ring);
	free(s);
}

void
engine_unref(struct engine *e)
{
	struct engine_stream *s;

	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	while ((s = e->pool) != NULL) {
		e->pool = s->next;
		slot_free(e, s);
	}
	for (size_t i = 0; i < e->nlayers; i++)
		layer_unref(e->layers[i]);
	for (int t = 0; t < HASH_NTYPES; t++)
		EVP_MD_free(e->md[t]);
	free(e->layers);
	hs_free_scratch(e->proto);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

size_t
engine_body_count(const struct engine *e)
{
	return e->nbody;
}

size_t
engine_hash_count(const struct engine *e)
{
	return e->nhash;
}

size_t
engine_overlay_count(const struct engine *e)
{
	return e->nlayers - 1;
}

/* A new stream slot of e: scratch, one Hyperscan stream per database. */
static struct engine_stream *
slot_new(struct engine *e)
{
	struct engine_stream *s = xcalloc(1, sizeof(*s));
	hs_error_t r;
	size_t k = 0;

	s->e = e;
	s->hs = xcalloc(e->nsdb + 1, sizeof(*s->hs));
	s->ctx = xcalloc(e->nsdb + e->nlayers, sizeof(*s->ctx));
	s->hits = xcalloc(ENGINE_MAX_HITS, sizeof(*s->hits));
	if (e->eof_window > 0)
		s->ring = xmalloc(e->eof_window);
	if (e->proto != NULL && (r = hs_clone_scratch(e->proto, &s->scratch)) != HS_SUCCESS) {
		s->herr = r;
		s->broken = 1;
	}
	for (size_t l = 0; l < e->nlayers; l++) {
		struct layer *L = e->layers[l];

		for (size_t j = 0; j < L->nsdb; j++, k++) {
			s->ctx[k].s = s;
			s->ctx[k].layer = (uint32_t)l;
			s->ctx[k].sigs = L->sigs;
			if (!s->broken &&
			    (r = hs_open_stream(L->sdb[j], 0, &s->hs[k])) != HS_SUCCESS) {
				s->herr = r;
				s->broken = 1;
			}
		}
		s->ctx[e->nsdb + l].s = s;
		s->ctx[e->nsdb + l].layer = (uint32_t)l;
		s->ctx[e->nsdb + l].sigs = L->sigs;
	}
	return s;
}

struct engine_stream *
engine_stream_open(struct engine *e, unsigned target_mask, uint64_t size)
{
	struct engine_stream *s;

	pthread_mutex_lock(&e->lock);
	if ((s = e->pool) != NULL) {
		e->pool = s->next;
		e->npool--;
	}
	pthread_mutex_unlock(&e->lock);
	if (s == NULL)
		s = slot_new(e);
	engine_ref(e);
	s->next = NULL;
	s->target_mask = target_mask;
	s->size = size;
	s->fed = 0;
	s->fail = NULL;
	s->nhits = s->dropped = 0;
	s->ring_base = s->ring_end = 0;
	s->ring_len = 0;
	s->ring_on = e->win_var > 0 || (e->win_fix > 0 && size == ENGINE_SIZE_UNKNOWN);
	s->md_on = 0;
	if (!s->broken)
		s->herr = HS_SUCCESS;
	for (int t = 0; t < HASH_NTYPES; t++) {
		int want = 0;

		if (!(e->hash_types & (1u << t)))
			continue;
		for (size_t l = 0; l < e->nlayers && !want; l++)
			want = size == ENGINE_SIZE_UNKNOWN
			           ? (int)((hashset_types(e->layers[l]->hs) >> t) & 1)
			           : hashset_wants(e->layers[l]->hs, t, size);
		if (!want)
			continue;
		if (s->mdctx[t] == NULL)
			s->mdctx[t] = EVP_MD_CTX_new();
		if (s->mdctx[t] == NULL || EVP_DigestInit_ex2(s->mdctx[t], e->md[t], NULL) != 1) {
			s->fail = "digest initialisation failed";
			continue;
		}
		s->md_on |= 1u << t;
	}
	return s;
}

/* Whether a SIG_EOF_FIXED match ending at `to` starts in its window. */
static int
eof_fixed_ok(const struct lsig *sig, uint64_t to, uint64_t size)
{
	uint64_t start = to - sig->len;

	return size >= sig->eof_n && start >= size - sig->eof_n &&
	       start - (size - sig->eof_n) <= sig->eof_span;
}

/* Records a match; past ENGINE_MAX_HITS it is only counted. */
static void
hit_add(struct engine_stream *s, uint32_t layer, uint32_t id, uint64_t to)
{
	if (s->nhits < ENGINE_MAX_HITS) {
		s->hits[s->nhits].layer = layer;
		s->hits[s->nhits].id = id;
		s->hits[s->nhits].to = to;
		s->nhits++;
	} else {
		s->dropped++;
	}
}

/* Streaming databases: record; EOF-n matches only inside their window. */
static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *arg)
{
	struct sctx *c = arg;
	struct engine_stream *s = c->s;

	(void)from;
	(void)flags;
	if (c->sigs[id].kind == SIG_EOF_FIXED) {
		if (s->size == ENGINE_SIZE_UNKNOWN || !eof_fixed_ok(&c->sigs[id], to, s->size))
			return 0;
		/* Not SINGLEMATCH: one record is enough. */
		for (size_t i = 0; i < s->nhits; i++)
			if (s->hits[i].id == id && s->hits[i].layer == c->layer)
				return 0;
	}
	hit_add(s, c->layer, id, to);
	return 0;
}

/* Reversed EOF pass: Hyperscan's offset bounds did the checking. */
static int
on_tail_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
              void *arg)
{
	struct sctx *c = arg;

	(void)from;
	(void)to;
	(void)flags;
	hit_add(c->s, c->layer, id, HIT_VERIFIED);
	return 0;
}

/* Keeps the bytes of [off, off+n) that may be among the last eof_window. */
static void
ring_append(struct engine_stream *s, const uint8_t *p, size_t n)
{
	uint64_t W = s->e->eof_window, off = s->fed, end = off + n, from;
	size_t pos, first;

	from = end > W ? end - W : 0;
	if (s->size != ENGINE_SIZE_UNKNOWN && s->size > W && s->size - W > from)
		from = s->size - W;
	if (from < off)
		from = off;
	if (from >= end)
		return;
	if (from != s->ring_end || s->ring_len == 0) {
		/* First bytes, or bytes were skipped: start over at 0. */
		s->ring_len = 0;
		s->ring_base = from;
	}
	p += from - off;
	n = (size_t)(end - from);
	pos = (size_t)((from - s->ring_base) % W);
	first = n < W - pos ? n : (size_t)(W - pos);
	memcpy(s->ring + pos, p, first);
	memcpy(s->ring, p + first, n - first);
	s->ring_end = end;
	s->ring_len = s->ring_len + n > W ? (size_t)W : s->ring_len + n;
}

int
engine_stream_feed(struct engine_stream *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct engine *e = s->e;

	if (s->herr != HS_SUCCESS || s->fail != NULL)
		return -1;
	while (len > 0) {
		size_t n = len > ENGINE_FEED_MAX ? ENGINE_FEED_MAX : len;

		for (size_t k = 0; k < e->nsdb; k++) {
			hs_error_t r = hs_scan_stream(s->hs[k], (const char *)p, (unsigned)n, 0,
			                              s->scratch, on_match, &s->ctx[k]);

			if (r != HS_SUCCESS) {
				s->herr = r;
				return -1;
			}
		}
		for (unsigned t = 0; s->md_on >> t; t++)
			if ((s->md_on >> t) & 1 && EVP_DigestUpdate(s->mdctx[t], p, n) != 1) {
				s->fail = "digest update failed";
				return -1;
			}
		if (s->ring_on)
			ring_append(s, p, n);
		s->fed += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* Reverses n bytes in place. */
static void
mem_reverse(uint8_t *p, size_t n)
{
	for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
		uint8_t t = p[i];

		p[i] = p[j - 1];
		p[j - 1] = t;
	}
}

/*
 * Matches the reversed tail against every layer's reversed EOF databases:
 * those of variable length, and those of fixed length if need_fix.
 */
static void
stream_check_tail(struct engine_stream *s, int need_fix, const char *path)
{
	struct engine *e = s->e;
	uint64_t W = e->eof_window, need = e->win_var, R;
	size_t pos;

	if (need_fix && e->win_fix > need)
		need = e->win_fix;
	R = s->fed < need ? s->fed : need;

	if (R == 0)
		return;
	if (s->ring_end != s->fed || s->ring_len < R) {
		log_warnx("engine: %s: declared size %llu but %llu bytes fed: EOF-n signatures "
		          "not checked",
		          path, (unsigned long long)s->size, (unsigned long long)s->fed);
		return;
	}
	/*
	 * Reverse in place (the ring is not needed after this): [0, len) if
	 * it never wrapped; else newest part [0, pos) and oldest [pos, W)
	 * each reversed, which together read newest byte first.
	 */
	if (s->ring_len < W) {
		mem_reverse(s->ring, s->ring_len);
	} else {
		pos = (size_t)((s->ring_end - s->ring_base) % W);
		mem_reverse(s->ring, pos);
		mem_reverse(s->ring + pos, (size_t)W - pos);
	}
	for (size_t l = 0; l < e->nlayers; l++) {
		struct layer *L = e->layers[l];

		for (int pass = 0; pass < 2; pass++) {
			hs_database_t **v = pass ? L->efix : L->evar;
			size_t nv = pass ? L->nefix : L->nevar;
			uint64_t w = pass ? L->win_fix : L->win_var, RL = R < w ? R : w;

			if (pass && !need_fix)
				continue;
			for (size_t i = 0; i < nv; i++) {
				hs_error_t r =
				    hs_scan(v[i], (const char *)s->ring, (unsigned)RL, 0,
				            s->scratch, on_tail_match, &s->ctx[e->nsdb + l]);

				if (r != HS_SUCCESS && s->herr == HS_SUCCESS)
					s->herr = r;
			}
		}
	}
}

struct hash_hit_ctx {
	struct scan_verdict *v;
	const char *path;
};

/* hashset_lookup() callback: a hash signature hit. */
static void
on_hash_hit(const struct hash_sig *sig, void *arg)
{
	struct hash_hit_ctx *c = arg;

	verdict_add_hit(c->v, sig->name, c->path);
}

/* Finishes each digest computed and looks it up in every layer. */
static void
stream_check_hashes(struct engine_stream *s, struct scan_verdict *v, const char *path)
{
	struct hash_hit_ctx c = {v, path};
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen;

	for (int t = 0; t < HASH_NTYPES; t++) {
		if (!((s->md_on >> t) & 1))
			continue;
		if (EVP_DigestFinal_ex(s->mdctx[t], md, &mdlen) != 1) {
			s->fail = "digest computation failed";
			continue;
		}
		for (size_t l = 0; l < s->e->nlayers; l++)
			hashset_lookup(s->e->layers[l]->hs, t, md, s->fed, on_hash_hit, &c);
	}
}

/* Returns s to its engine's pool (or frees it) and drops the stream's ref. */
static void
stream_release(struct engine_stream *s)
{
	struct engine *e = s->e;

	if (!s->broken) {
		pthread_mutex_lock(&e->lock);
		if (e->npool < ENGINE_POOL_MAX) {
			s->next = e->pool;
			e->pool = s;
			e->npool++;
			s = NULL;
		}
		pthread_mutex_unlock(&e->lock);
	}
	if (s != NULL)
		slot_free(e, s);
	engine_unref(e);
}

int
engine_stream_close(struct engine_stream *s, struct scan_verdict *v, const char *path)
{
	struct engine *e = s->e;
	int rc = 0, need_fix;

	path = path ? path : "";
	/* Resetting delivers end-of-data matches and readies the slot for reuse. */
	for (size_t k = 0; k < e->nsdb && !s->broken; k++) {
		hs_error_t r = hs_reset_stream(s->hs[k], 0, s->scratch, on_match, &s->ctx[k]);

		if (r != HS_SUCCESS) {
			s->broken = 1;
			if (s->herr == HS_SUCCESS)
				s->herr = r;
		}
	}
	/* A known size decided what was kept: it has to be the true one. */
	if (s->size != ENGINE_SIZE_UNKNOWN && s->size != s->fed)
		log_warnx("engine: %s: declared size %llu, fed %llu bytes", path,
		          (unsigned long long)s->size, (unsigned long long)s->fed);
	need_fix = e->win_fix > 0 && s->size != s->fed;
	if (s->herr == HS_SUCCESS && s->ring_on)
		stream_check_tail(s, need_fix, path);
	else if (need_fix && s->herr == HS_SUCCESS)
		log_warnx("engine: %s: EOF-n signatures not checked (size mismatch)", path);
	stream_check_hashes(s, v, path);
	for (size_t i = 0; i < s->nhits; i++) {
		const struct hitrec *h = &s->hits[i];
		const struct lsig *sig = &e->layers[h->layer]->sigs[h->id];

		if (sig->rejected)
			continue;
		if (sig->target != 0 && !(s->target_mask & TARGET_BIT(sig->target)))
			continue;
		if (sig->kind != SIG_PLAIN && sig->eof_n > s->fed)
			continue;
		if (sig->kind == SIG_EOF_FIXED && h->to != HIT_VERIFIED &&
		    !eof_fixed_ok(sig, h->to, s->fed))
			continue;
		verdict_add_hit(v, sig->name, path);
	}
	if (s->dropped > 0)
		log_debug("engine: %s: %zu matches beyond %d not reported", path, s->dropped,
		          ENGINE_MAX_HITS);
	if (s->herr != HS_SUCCESS) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "hyperscan error %d", (int)s->herr);
		rc = -1;
	} else if (s->fail != NULL) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "%s", s->fail);
		rc = -1;
	}
	if (s->herr != HS_SUCCESS)
		s->broken = 1;
	stream_release(s);
	return rc;
}
