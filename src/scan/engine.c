/*
 * engine: compiled signatures and the streams that match them. Owns the
 * Hyperscan databases, the scratch and stream pools, the hash computation
 * and the checks done on matches; parsing is sigdb.c's and ndb.c's, the
 * cache of compiled databases on disk dbcache.c's.
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>
#include <openssl/evp.h>

#include "scan/dbcache.h"
#include "scan/engine.h"
#include "scan/hashset.h"
#include "scan/hscompile.h"
#include "scan/ndb.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/sys.h"

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
	/* While building: what hsc_compile() rejected, for the cache. */
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

static void
layer_unref(struct layer *L)
{
	if (L == NULL || atomic_fetch_sub(&L->refs, 1) != 1)
		return;
	hsc_free_dbs(L->sdb, L->nsdb);
	hsc_free_dbs(L->efix, L->nefix);
	hsc_free_dbs(L->evar, L->nevar);
	free(L->sigs);
	hashset_free(L->hs);
	sigdb_free(L->db);
	free(L);
}

/* dbcache_sink: a database read from the cache joins layer arg. */
static void
layer_take_db(void *arg, unsigned k, hs_database_t *db)
{
	struct layer *L = arg;

	if (k == 0)
		hsc_push_db(&L->sdb, &L->nsdb, &L->sdb_cap, db);
	else if (k == 1)
		hsc_push_db(&L->efix, &L->nefix, &L->efix_cap, db);
	else
		hsc_push_db(&L->evar, &L->nevar, &L->evar_cap, db);
}

/* hsc_reject_fn and dbcache_sink: an expression the compiler rejected. */
static void
layer_take_reject(void *arg, unsigned id, const char *why)
{
	layer_reject(arg, id, why);
}

/* The cache's view of one compile set. */
static struct dbcache_set
cache_view(const struct hsc_set *cs, unsigned mode)
{
	struct dbcache_set v = {cs->expr, cs->flags, cs->ids, cs->ext, cs->n, mode};

	return v;
}

/*
 * Compiles the three sets into L: from the cache (dbcache.h) when use_cache
 * and a cache directory is set and holds them, else by compiling (and then
 * writing the cache). The key is taken before compiling, which drops
 * rejected entries.
 */
static void
layer_compile(struct layer *L, struct hsc_set *scs, struct hsc_set *fcs, struct hsc_set *vcs,
              int use_cache)
{
	const struct dbcache_set sets[DBCACHE_NSETS] = {cache_view(scs, HS_MODE_STREAM),
	                                                cache_view(fcs, HS_MODE_BLOCK),
	                                                cache_view(vcs, HS_MODE_BLOCK)};
	const struct dbcache_sink sink = {layer_take_db, layer_take_reject, L};
	struct dbcache *c = NULL;

	if (use_cache && scs->n + fcs->n + vcs->n > 0)
		c = dbcache_open(sets);
	if (c != NULL) {
		if (dbcache_load(c, L->nsigs, &sink) == 0) {
			L->cache = CACHE_HIT;
			dbcache_close(c);
			return;
		}
		L->cache = CACHE_MISS;
	}
	hsc_compile(scs, HS_MODE_STREAM, layer_take_reject, L, &L->sdb, &L->nsdb, &L->sdb_cap);
	hsc_compile(fcs, HS_MODE_BLOCK, layer_take_reject, L, &L->efix, &L->nefix, &L->efix_cap);
	hsc_compile(vcs, HS_MODE_BLOCK, layer_take_reject, L, &L->evar, &L->nevar, &L->evar_cap);
	if (c != NULL) {
		const struct dbcache_image img = {{L->sdb, L->efix, L->evar},
		                                  {L->nsdb, L->nefix, L->nevar},
		                                  L->rej_ids,
		                                  L->rej_why,
		                                  L->nrej};

		dbcache_store(c, &img);
		dbcache_close(c);
	}
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
	struct hsc_set scs = {0}, fcs = {0}, vcs = {0};
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
			hsc_push(&scs, e->expr, e->hs_flags, id, xp);
		} else {
			ls->eof_n = sig->off_min;
			ls->eof_span = sig->off_span;
			if (e->min_len == e->max_len) {
				ls->kind = SIG_EOF_FIXED;
				ls->len = e->min_len;
				hsc_push(&scs, fx[id].expr, fx[id].hs_flags, id, NULL);
				hsc_push(&fcs, e->expr, e->hs_flags, id, xp);
				if (sig->off_min > L->win_fix)
					L->win_fix = sig->off_min;
			} else {
				ls->kind = SIG_EOF_VAR;
				hsc_push(&vcs, e->expr, e->hs_flags, id, xp);
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
	hsc_free(&scs);
	hsc_free(&fcs);
	hsc_free(&vcs);
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
