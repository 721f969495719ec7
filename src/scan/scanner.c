/*
 * scanner: composes walker, engine and clamd behind one thread-safe call.
 * Owns the current engine pointer (swapped under a mutex, referenced by
 * each scan), the clamd client, the type lists, and one maintenance thread
 * that runs background reloads and folds overlays after hot additions.
 * Leaves unpacking to walk, matching to engine, and policy to the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scan/clamd.h"
#include "scan/dbcache.h"
#include "scan/engine.h"
#include "scan/filetype.h"
#include "scan/mailwalk.h"
#include "scan/scanner.h"
#include "scan/sigdb.h"
#include "scan/walk.h"
#include "util/log.h"
#include "util/words.h"
#include "util/xalloc.h"
#include "util/sys.h"

struct scanner {
	char *database_dir;
	int backend;
	int log_verdicts;
	uint64_t fold_delay_ms;
	struct walk_options wopt;
	struct walk_options wopt_msg; /* wopt with root_is_message */
	struct type_lists types;
	char *tmpdir;
	struct clamd *clamd; /* NULL unless backend is clamd or chain */

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;
	struct engine *engine; /* NULL with backend clamd */
	uint64_t generation;
	int reload_wanted;
	int reload_running;
	uint64_t fold_due_ms; /* 0 = no fold pending */
	int stopping;
	int maint_started;
	pthread_t maint;

	/* libmagic handles are not thread-safe: a scan borrows one from this
	 * pool (guarded by ft_lock) and gives it back; the pool grows to the
	 * number of scans that ever ran at once, and scanner_free frees all. */
	pthread_mutex_t ft_lock;
	struct filetype **ft_pool;
	size_t ft_n, ft_cap;
};

/* One scan's view of the backends. */
struct scan_job {
	struct scanner *s;
	struct engine *engine;
	int clamd_pending; /* the root node still has to go to clamd */
};

/* One node of the walk, as the sink sees it. */
struct scan_node {
	struct engine_stream *es;
	struct clamd_stream *cs;
};

/* Borrows a libmagic handle; NULL if its database cannot be loaded. */
static struct filetype *
scanner_filetype_get(struct scanner *s)
{
	struct filetype *ft = NULL;

	pthread_mutex_lock(&s->ft_lock);
	if (s->ft_n > 0)
		ft = s->ft_pool[--s->ft_n];
	pthread_mutex_unlock(&s->ft_lock);
	return ft ? ft : filetype_new();
}

static void
scanner_filetype_put(struct scanner *s, struct filetype *ft)
{
	pthread_mutex_lock(&s->ft_lock);
	s->ft_pool = xgrow(s->ft_pool, &s->ft_cap, s->ft_n + 1, sizeof(*s->ft_pool));
	s->ft_pool[s->ft_n++] = ft;
	pthread_mutex_unlock(&s->ft_lock);
}

static struct engine *
scanner_engine_get(struct scanner *s)
{
	struct engine *e;

	pthread_mutex_lock(&s->lock);
	e = s->engine ? engine_ref(s->engine) : NULL;
	pthread_mutex_unlock(&s->lock);
	return e;
}

/* Replaces the current engine with e (ownership moves in). */
static void
scanner_engine_swap(struct scanner *s, struct engine *e)
{
	struct engine *old;

	pthread_mutex_lock(&s->lock);
	old = s->engine;
	s->engine = e;
	s->generation++;
	pthread_mutex_unlock(&s->lock);
	engine_unref(old);
}

/* Loads the database directory and compiles it. NULL with *err on failure. */
static struct engine *
scanner_build(const char *dir, char **err)
{
	struct sigdb *db = sigdb_new();
	struct engine *e;
	size_t n;

	if (sigdb_load_dir(db, dir) < 0) {
		*err = xasprintf("cannot read signature directory %s: %s", dir, strerror(errno));
		sigdb_free(db);
		return NULL;
	}
	sigdb_log_stats(db, dir);
	n = sigdb_ndb_count(db) + sigdb_hash_count(db);
	if (n == 0) {
		/* Scanning against nothing would pass everything. */
		*err = xasprintf("no usable signatures in %s", dir);
		sigdb_free(db);
		return NULL;
	}
	if ((e = engine_build(db, err)) == NULL)
		return NULL;
	return e;
}

static void *
scanner_maint(void *arg)
{
	struct scanner *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		uint64_t now = monotonic_ms();

		if (s->reload_wanted) {
			char *err = NULL;
			struct engine *e;

			s->reload_wanted = 0;
			s->reload_running = 1;
			pthread_mutex_unlock(&s->lock);
			if ((e = scanner_build(s->database_dir, &err)) != NULL) {
				scanner_engine_swap(s, e);
				log_info("scanner: reloaded signatures from %s", s->database_dir);
			} else {
				log_warnx("scanner: reload failed, keeping the old signatures: %s",
				          err ? err : "unknown error");
				free(err);
			}
			pthread_mutex_lock(&s->lock);
			s->reload_running = 0;
			continue;
		}
		if (s->fold_due_ms && now >= s->fold_due_ms) {
			struct engine *cur = s->engine ? engine_ref(s->engine) : NULL;
			uint64_t gen = s->generation;
			struct engine *folded;
			char *err = NULL;

			s->fold_due_ms = 0;
			pthread_mutex_unlock(&s->lock);
			folded = cur && engine_overlay_count(cur) ? engine_fold(cur, &err) : NULL;
			engine_unref(cur);
			pthread_mutex_lock(&s->lock);
			if (folded && s->generation == gen) {
				struct engine *old = s->engine;
				s->engine = folded;
				s->generation++;
				pthread_mutex_unlock(&s->lock);
				engine_unref(old);
				log_info(
				    "scanner: folded signature overlays into the main database");
				pthread_mutex_lock(&s->lock);
			} else if (folded) {
				/* Something changed meanwhile: fold again later. */
				engine_unref(folded);
				s->fold_due_ms = monotonic_ms() + s->fold_delay_ms;
			} else if (err) {
				log_warnx("scanner: fold failed, overlays stay: %s", err);
				free(err);
			}
			continue;
		}
		if (s->fold_due_ms) {
			struct timespec ts;
			uint64_t wait = s->fold_due_ms - now;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		} else
			pthread_cond_wait(&s->cond, &s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Starts the maintenance thread once; call with s->lock held. */
static void
scanner_maint_start(struct scanner *s)
{
	if (s->maint_started)
		return;
	if (pthread_create(&s->maint, NULL, scanner_maint, s) != 0)
		fatalx("scanner: cannot start maintenance thread");
	s->maint_started = 1;
}

struct scanner *
scanner_new(const struct pc_config *c, char **err)
{
	struct scanner *s = xcalloc(1, sizeof(*s));

	*err = NULL;
	mailwalk_global_init();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->ft_lock, NULL);
	s->database_dir = xstrdup(c->database_dir);
	s->backend = c->backend;
	s->log_verdicts = c->log_verdicts;
	s->fold_delay_ms = c->fold_delay_ms;
	s->tmpdir = xstrdup(c->tmpdir);
	words_split(c->safe_types, &s->types.safe_mime, &s->types.nsafe_mime);
	words_split(c->safe_extensions, &s->types.safe_ext, &s->types.nsafe_ext);
	s->wopt.limits.max_depth = c->max_depth;
	s->wopt.limits.max_total_bytes = c->max_total_bytes;
	s->wopt.limits.max_file_size = c->max_file_size;
	s->wopt.limits.max_files = c->max_files;
	s->wopt.limits.max_ratio = c->max_ratio;
	s->wopt.limits.max_time_ms = c->max_scan_time_ms;
	s->wopt.limits.max_mail_parts = c->mail_max_parts;
	s->wopt.limits.text_max_blocks = c->text_max_blocks;
	s->wopt.limits.text_max_bytes = c->text_max_bytes;
	s->wopt.limits.text_b64_min = c->text_b64_min;
	s->wopt.no_text_blocks = !c->text_blocks;
	s->wopt.limits.max_doc_objects = c->doc_max_objects;
	s->wopt.mail_norm.max_header_bytes = c->mail_max_header_size;
	s->wopt.mail_norm.max_boundaries = c->mail_max_boundaries;
	s->wopt.mail_norm.max_junk_lines = c->mail_max_junk_lines;
	s->wopt.types = &s->types;
	s->wopt.skip_safe = c->skip_safe;
	s->wopt.tmpdir = s->tmpdir;
	s->wopt_msg = s->wopt;
	s->wopt_msg.root_is_message = 1;

	if (s->backend != BACKEND_BUILTIN)
		s->clamd =
		    clamd_new(c->clamd_socket, c->clamd_connect_timeout_ms, c->clamd_timeout_ms);
	if (s->backend != BACKEND_CLAMD) {
		dbcache_set_dir(c->cache_dir);
		if ((s->engine = scanner_build(s->database_dir, err)) == NULL) {
			scanner_free(s);
			return NULL;
		}
	}
	return s;
}

void
scanner_free(struct scanner *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->maint_started)
		pthread_join(s->maint, NULL);
	engine_unref(s->engine);
	clamd_free(s->clamd);
	type_lists_free(&s->types);
	for (size_t i = 0; i < s->ft_n; i++)
		filetype_free(s->ft_pool[i]);
	free(s->ft_pool);
	pthread_mutex_destroy(&s->ft_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->database_dir);
	free(s->tmpdir);
	free(s);
}

static void *
sink_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	struct scan_job *job = arg;
	struct scan_node *n = xcalloc(1, sizeof(*n));

	if (job->engine)
		n->es = engine_stream_open(job->engine, t->target_mask, size);
	if (job->clamd_pending) {
		/* clamd unpacks by itself: it gets the top-level object only. */
		job->clamd_pending = 0;
		n->cs = clamd_stream_open(job->s->clamd);
	}
	return n;
}

static int
sink_feed(void *node, const void *buf, size_t len)
{
	struct scan_node *n = node;

	if (n->es && engine_stream_feed(n->es, buf, len) < 0)
		return -1;
	/* A clamd failure is remembered by the stream and reported at close,
	 * so the built-in engine still sees every byte. */
	if (n->cs)
		(void)clamd_stream_feed(n->cs, buf, len);
	return 0;
}

static int
sink_close(void *node, struct scan_verdict *v, const char *path)
{
	struct scan_node *n = node;
	int rc = 0;

	if (n->es && engine_stream_close(n->es, v, path) < 0)
		rc = -1;
	if (n->cs && clamd_stream_close(n->cs, v, path) < 0)
		rc = -1;
	free(n);
	return rc;
}

/* Runs one walk over fd or buf with the current backends. */
static int
scanner_run(struct scanner *s, int fd, const void *buf, size_t len, const char *name, int message,
            struct scan_verdict *v)
{
	struct scan_job job = {.s = s};
	struct walk_sink sink = {sink_open, sink_feed, sink_close, &job};
	struct filetype *ft;
	int rc;

	if (s->backend == BACKEND_CLAMD && fd >= 0)
		return clamd_scan_fd(s->clamd, fd, name, v);
	if ((ft = scanner_filetype_get(s)) == NULL) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, name, "cannot load libmagic database");
		return -1;
	}
	job.engine = scanner_engine_get(s);
	job.clamd_pending = s->clamd != NULL;
	if (fd >= 0)
		rc = walk_fd(message ? &s->wopt_msg : &s->wopt, &sink, ft, fd, name, v);
	else
		rc = walk_mem(message ? &s->wopt_msg : &s->wopt, &sink, ft, buf, len, name, v);
	engine_unref(job.engine);
	scanner_filetype_put(s, ft);
	return rc;
}

/* Writes s into buf as a quoted log value; returns buf. */
static const char *
log_quote(const char *s, char *buf, size_t cap)
{
	size_t j = 0;

	buf[j++] = '"';
	for (; s && *s && j + 3 < cap; s++) {
		if (*s == '"' || *s == '\\')
			buf[j++] = '\\';
		buf[j++] = *s;
	}
	buf[j++] = '"';
	buf[j] = '\0';
	return buf;
}

/* The one log line per verdict, key=value, stable for log parsers. */
static void
scanner_log_verdict(const char *name, const struct scan_verdict *v, uint64_t ms)
{
	char qname[512], qwhere[512], qreason[256];
	char *names = verdict_names(v);

	log_info("verdict name=%s status=%s names=%s other=%s limit=%s where=%s reason=%s "
	         "ms=%llu",
	         log_quote(name, qname, sizeof(qname)), scan_status_name(v->status),
	         names[0] ? names : "-", scan_status_name(v->other), scan_limit_name(v->limit),
	         log_quote(v->nhits ? v->hits[0].path : v->where, qwhere, sizeof(qwhere)),
	         log_quote(v->reason, qreason, sizeof(qreason)), (unsigned long long)ms);
	free(names);
}

int
scanner_scan_fd(struct scanner *s, int fd, const char *name, struct scan_verdict *v)
{
	uint64_t t0 = monotonic_ms();
	int rc = scanner_run(s, fd, NULL, 0, name, 0, v);

	if (s->log_verdicts)
		scanner_log_verdict(name, v, monotonic_ms() - t0);
	return rc;
}

int
scanner_scan_message_fd(struct scanner *s, int fd, const char *name, struct scan_verdict *v)
{
	uint64_t t0 = monotonic_ms();
	int rc = scanner_run(s, fd, NULL, 0, name, 1, v);

	if (s->log_verdicts)
		scanner_log_verdict(name, v, monotonic_ms() - t0);
	return rc;
}

int
scanner_scan_mem(struct scanner *s, const void *buf, size_t len, const char *name,
                 struct scan_verdict *v)
{
	uint64_t t0 = monotonic_ms();
	int rc = scanner_run(s, -1, buf, len, name, 0, v);

	if (s->log_verdicts)
		scanner_log_verdict(name, v, monotonic_ms() - t0);
	return rc;
}

/* One locate walk: which nodes go to clamd, and where their hits go. */
struct locate_job {
	struct scanner *s;
	const char *root; /* the walker's root name */
	size_t rootlen;
	unsigned sent; /* nodes sent to clamd */
};

/* sink.open of a locate walk: a clamd stream for nodes right below the root. */
static void *
locate_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	struct locate_job *lj = arg;
	const char *rest = path + lj->rootlen;

	(void)t;
	(void)size;
	/* Names in paths are sanitized (SAN_PATH): "//" only joins levels. */
	if (strncmp(path, lj->root, lj->rootlen) != 0 || strncmp(rest, "//", 2) != 0 ||
	    strstr(rest + 2, "//") != NULL)
		return NULL;
	lj->sent++;
	return clamd_stream_open(lj->s->clamd);
}

static int
locate_feed(void *node, const void *buf, size_t len)
{
	/* A failure (or clamd's early answer) is reported at close. */
	(void)clamd_stream_feed(node, buf, len);
	return 0;
}

static int
locate_close(void *node, struct scan_verdict *v, const char *path)
{
	return clamd_stream_close(node, v, path);
}

int
scanner_locate_fd(struct scanner *s, int fd, const char *name, struct scan_verdict *v)
{
	char root[WALK_ROOT_NAME_MAX], qname[512], qwhere[512], qreason[256];
	struct locate_job lj = {.s = s, .root = root};
	struct walk_sink sink = {locate_open, locate_feed, locate_close, &lj};
	struct walk_options o = s->wopt_msg; /* strip and replace are for mail */
	struct scan_verdict lv;
	struct filetype *ft;
	int rc;

	if (s->clamd == NULL)
		return 0;
	walk_root_name(name, root, sizeof(root));
	lj.rootlen = strlen(root);
	if ((ft = scanner_filetype_get(s)) == NULL) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, root, "cannot load libmagic database");
		log_warnx("locate name=%s status=error reason=\"cannot load libmagic database\"",
		          log_quote(root, qname, sizeof(qname)));
		return -1;
	}
	/* clamd must see every part, the ones a safe type would skip too. */
	o.skip_safe = 0;
	verdict_init(&lv);
	rc = walk_fd(&o, &sink, ft, fd, name, &lv);
	scanner_filetype_put(s, ft);
	/* Only the hits and a failure count: the scan noted the rest already. */
	for (size_t i = 0; i < lv.nhits; i++)
		verdict_add_hit(v, lv.hits[i].name, lv.hits[i].path);
	if (rc < 0 || lv.other == SCAN_ERROR) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, lv.where ? lv.where : root, "%s",
		             lv.reason ? lv.reason : "locating failed");
		log_warnx(
		    "locate name=%s parts=%u status=error where=%s reason=%s",
		    log_quote(root, qname, sizeof(qname)), lj.sent,
		    log_quote(lv.where ? lv.where : root, qwhere, sizeof(qwhere)),
		    log_quote(lv.reason ? lv.reason : "locating failed", qreason, sizeof(qreason)));
		rc = -1;
	} else {
		log_info("locate name=%s parts=%u hits=%zu", log_quote(root, qname, sizeof(qname)),
		         lj.sent, lv.nhits);
		rc = 0;
	}
	verdict_clear(&lv);
	return rc;
}

int
scanner_reload(struct scanner *s)
{
	struct engine *e;
	char *err = NULL;

	if (s->backend == BACKEND_CLAMD)
		return 0;
	if ((e = scanner_build(s->database_dir, &err)) == NULL) {
		log_warnx("scanner: reload failed, keeping the old signatures: %s",
		          err ? err : "unknown error");
		free(err);
		return -1;
	}
	scanner_engine_swap(s, e);
	log_info("scanner: reloaded signatures from %s", s->database_dir);
	return 0;
}

int
scanner_reload_async(struct scanner *s)
{
	int rc = 0;

	if (s->backend == BACKEND_CLAMD)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->reload_running || s->reload_wanted)
		rc = -1;
	else {
		s->reload_wanted = 1;
		scanner_maint_start(s);
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int
scanner_add_signatures(struct scanner *s, const char *ext, const char *text, size_t len, char **err)
{
	struct sigdb *extra;
	struct engine *base, *e;
	int n;

	*err = NULL;
	if (s->backend == BACKEND_CLAMD) {
		*err = xstrdup("the built-in engine is off (scan.backend = clamd)");
		return -1;
	}
	extra = sigdb_new();
	n = sigdb_load_buffer(extra, "hot-addition", ext, text, len);
	if (n <= 0) {
		*err = n < 0 ? xasprintf("unknown signature type \"%s\"", ext)
		             : xstrdup("no valid signature in the addition");
		sigdb_free(extra);
		return -1;
	}
	/* Serialize additions so none is lost between get and swap. */
	pthread_mutex_lock(&s->lock);
	base = engine_ref(s->engine);
	e = engine_extend(base, extra, err);
	engine_unref(base);
	if (e == NULL) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	base = s->engine;
	s->engine = e;
	s->generation++;
	s->fold_due_ms = monotonic_ms() + s->fold_delay_ms;
	scanner_maint_start(s);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	engine_unref(base);
	log_info("scanner: added %d %s signature(s) as an overlay", n, ext);
	return n;
}

void
scanner_stats(struct scanner *s, struct scanner_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	if (s->engine) {
		out->body_sigs = engine_body_count(s->engine);
		out->hash_sigs = engine_hash_count(s->engine);
		out->overlays = engine_overlay_count(s->engine);
	}
	out->generation = s->generation;
	pthread_mutex_unlock(&s->lock);
}
