/*
 * bench-hsraw: the engine's limit on a signature set. Loads the .ndb body
 * signatures with sigdb, translates each with ndb_translate() exactly as the
 * engine does, compiles them into one Hyperscan block-mode database, reads
 * every file of each corpus directory into memory, and times hs_scan() over
 * all of them, best of several rounds. No hashing, no file types, no
 * archives, no I/O while timing: the rate no scanner of these patterns can
 * beat on this machine.
 *
 * As in the engine, offsets go to Hyperscan as hs_expr_ext bounds, and
 * EOF-n signatures (reversed by ndb_translate) form a second database
 * scanned over each file's last bytes, reversed.
 *
 * Owns nothing outside this program; it is a benchmark tool, not part of the
 * test suite.
 *
 * Output, one line per corpus directory and thread count, key=value:
 *   hsraw dir=D threads=N files=F bytes=B best_s=S mbps=X files_per_s=Y
 *         matches=M matched_files=K
 * preceded by one `hsraw patterns=... compiled=... compile_ms=...` line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hs/hs.h>

#include "scan/ndb.h"
#include "scan/sigdb.h"
#include "util/log.h"
#include "util/xalloc.h"

#define HSRAW_MAX_THREADS 256
#define HSRAW_MAX_DEPTH 32
#define HSRAW_MAX_FILES 10000000

struct corpus_file {
	unsigned char *data;
	size_t len;
};

struct corpus {
	const char *dir;
	struct corpus_file *files;
	size_t nfiles, cap;
	unsigned long long bytes;
};

/* Expressions to compile into one database, in parallel arrays. */
struct exprset {
	const char **exprs;
	unsigned *flags, *ids;
	const hs_expr_ext_t **ext;
	unsigned n;
};

/* What the scanning threads share during one round. */
struct round {
	const hs_database_t *db;
	const hs_database_t *eofdb; /* NULL if no EOF-n signature */
	size_t tail;                /* bytes before EOF the EOF-n signatures need */
	const struct corpus *corpus;
	hs_scratch_t *proto;
	pthread_mutex_t lock;
	size_t next;                /* next file index to take */
	unsigned long long matches; /* summed at thread exit */
	unsigned long long matched_files;
	int failed;
};

struct file_hits {
	unsigned long long n;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-hsraw [-j N[,N...]] [-r ROUNDS] SIGS DIR...\n"
	                "  SIGS   a signature directory or one .ndb file\n"
	                "  DIR    corpus directories, each read into memory and timed apart\n"
	                "  -j     scanning threads, a comma-separated list (default 1)\n"
	                "  -r     rounds; the best one counts (default 3)\n");
	exit(2);
}

/* Reads the whole of path into a new buffer; 0 or -1 (logged). */
static int
read_whole(const char *path, size_t size, struct corpus_file *out)
{
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warn("%s", path);
		return -1;
	}
	out->data = xmalloc(size);
	while (got < size) {
		n = read(fd, out->data + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	out->len = got;
	return 0;
}

/* Adds every regular file under path (recursively, bounded) to c. */
static void
corpus_add(struct corpus *c, const char *path, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) < 0) {
		log_warn("%s", path);
		return;
	}
	if (S_ISREG(st.st_mode)) {
		if (c->nfiles >= HSRAW_MAX_FILES || (uint64_t)st.st_size > UINT_MAX) {
			log_warnx("%s: skipped (too many files or too large)", path);
			return;
		}
		c->files = xgrow(c->files, &c->cap, c->nfiles + 1, sizeof(*c->files));
		if (read_whole(path, (size_t)st.st_size, &c->files[c->nfiles]) == 0) {
			c->bytes += c->files[c->nfiles].len;
			c->nfiles++;
		}
		return;
	}
	if (!S_ISDIR(st.st_mode) || depth >= HSRAW_MAX_DEPTH)
		return;
	if ((d = opendir(path)) == NULL) {
		log_warn("%s", path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char *child;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child = xasprintf("%s/%s", path, de->d_name);
		corpus_add(c, child, depth + 1);
		free(child);
	}
	closedir(d);
}

static void
corpus_clear(struct corpus *c)
{
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].data);
	free(c->files);
	memset(c, 0, sizeof(*c));
}

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *ctx)
{
	struct file_hits *h = ctx;

	h->n++;
	return 0;
}

/* One scanning thread: takes files from the shared index until none are left. */
static void *
round_worker(void *arg)
{
	struct round *r = arg;
	unsigned long long matches = 0, matched_files = 0;
	hs_scratch_t *scratch = NULL;
	struct file_hits h;
	unsigned char *rev = xmalloc(r->tail ? r->tail : 1);
	size_t i;
	int failed = 0;

	if (hs_clone_scratch(r->proto, &scratch) != HS_SUCCESS)
		fatalx("hs_clone_scratch failed");
	for (;;) {
		pthread_mutex_lock(&r->lock);
		i = r->next++;
		pthread_mutex_unlock(&r->lock);
		if (i >= r->corpus->nfiles)
			break;
		const struct corpus_file *f = &r->corpus->files[i];

		h.n = 0;
		if (hs_scan(r->db, (const char *)f->data, (unsigned int)f->len, 0, scratch,
		            on_match, &h) != HS_SUCCESS)
			failed = 1;
		if (r->eofdb != NULL) {
			size_t t = f->len < r->tail ? f->len : r->tail;

			for (size_t k = 0; k < t; k++)
				rev[k] = f->data[f->len - 1 - k];
			if (hs_scan(r->eofdb, (const char *)rev, (unsigned int)t, 0, scratch,
			            on_match, &h) != HS_SUCCESS)
				failed = 1;
		}
		matches += h.n;
		matched_files += h.n > 0;
	}
	hs_free_scratch(scratch);
	free(rev);
	pthread_mutex_lock(&r->lock);
	r->matches += matches;
	r->matched_files += matched_files;
	r->failed |= failed;
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Times one round with nthreads threads; returns the wall time in seconds. */
static double
round_run(struct round *r, unsigned nthreads)
{
	pthread_t tid[HSRAW_MAX_THREADS];
	double t0;

	r->next = 0;
	r->matches = r->matched_files = 0;
	t0 = now_s();
	for (unsigned t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, round_worker, r) != 0)
			fatalx("pthread_create failed");
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	return now_s() - t0;
}

/*
 * Compiles set into a block-mode database, dropping each expression
 * Hyperscan rejects (at most n retries), as the engine does. Returns the
 * database, or NULL if nothing compiled; *ndropped counts what was dropped.
 * The arrays of set are compacted in place.
 */
static hs_database_t *
compile_dropping(struct exprset *set, unsigned *ndropped)
{
	hs_compile_error_t *cerr = NULL;
	hs_database_t *db = NULL;
	unsigned tries = set->n + 1;

	*ndropped = 0;
	while (tries-- > 0 && set->n > 0) {
		unsigned bad, rest;

		if (hs_compile_ext_multi(set->exprs, set->flags, set->ids, set->ext, set->n,
		                         HS_MODE_BLOCK, NULL, &db, &cerr) == HS_SUCCESS)
			return db;
		if (cerr->expression < 0 || (unsigned)cerr->expression >= set->n) {
			log_warnx("hs_compile_ext_multi: %s", cerr->message);
			hs_free_compile_error(cerr);
			return NULL;
		}
		bad = (unsigned)cerr->expression;
		log_debug("dropping signature %u: %s", set->ids[bad], cerr->message);
		hs_free_compile_error(cerr);
		rest = set->n - bad - 1;
		memmove(&set->exprs[bad], &set->exprs[bad + 1], rest * sizeof(*set->exprs));
		memmove(&set->flags[bad], &set->flags[bad + 1], rest * sizeof(*set->flags));
		memmove(&set->ids[bad], &set->ids[bad + 1], rest * sizeof(*set->ids));
		memmove(&set->ext[bad], &set->ext[bad + 1], rest * sizeof(*set->ext));
		set->n--;
		(*ndropped)++;
	}
	return NULL;
}

/* Allocates room for n expressions in set. */
static void
exprset_init(struct exprset *set, size_t n)
{
	set->exprs = xcalloc(n, sizeof(*set->exprs));
	set->flags = xcalloc(n, sizeof(*set->flags));
	set->ids = xcalloc(n, sizeof(*set->ids));
	set->ext = xcalloc(n, sizeof(*set->ext));
	set->n = 0;
}

static void
exprset_clear(struct exprset *set)
{
	free(set->exprs);
	free(set->flags);
	free(set->ids);
	free(set->ext);
	memset(set, 0, sizeof(*set));
}

/* Parses "1,2,4" into threads[]; returns the count, or 0 if malformed. */
static unsigned
parse_threads(const char *s, unsigned *threads, unsigned max)
{
	unsigned n = 0;
	char *end;

	while (*s && n < max) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 1 || v > HSRAW_MAX_THREADS || (*end != ',' && *end != '\0'))
			return 0;
		threads[n++] = (unsigned)v;
		s = *end ? end + 1 : end;
	}
	return n;
}

int
main(int argc, char **argv)
{
	unsigned threads[16] = {1}, nthreads = 1, rounds = 3;
	unsigned nuntranslated = 0, ndropped = 0, neofdropped = 0;
	struct exprset main_set, eof_set;
	struct ndb_expr *tx;
	hs_expr_ext_t *ext;
	hs_database_t *db, *eofdb = NULL;
	hs_scratch_t *proto = NULL;
	struct sigdb *sdb;
	struct stat st;
	size_t nsigs, tail = 0, dbsize = 0, eofsize = 0, scratchsize = 0;
	double t0, compile_ms;
	int ch, rc = 0;

	log_init("bench-hsraw", 0, LOG_LVL_WARN);
	while ((ch = getopt(argc, argv, "j:r:v")) != -1) {
		switch (ch) {
		case 'j':
			if ((nthreads = parse_threads(optarg, threads, 16)) == 0)
				usage();
			break;
		case 'r':
			rounds = (unsigned)atoi(optarg);
			if (rounds < 1 || rounds > 100)
				usage();
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage();

	sdb = sigdb_new();
	if (stat(argv[0], &st) < 0)
		fatal("%s", argv[0]);
	if ((S_ISDIR(st.st_mode) ? sigdb_load_dir(sdb, argv[0]) : sigdb_load_file(sdb, argv[0])) <
	    0)
		fatalx("%s: cannot load signatures", argv[0]);
	nsigs = sigdb_ndb_count(sdb);
	if (nsigs == 0 || nsigs > UINT_MAX)
		fatalx("%s: %zu body signatures", argv[0], nsigs);

	/* Translate every signature as the engine does; EOF-n ones apart. */
	t0 = now_s();
	tx = xcalloc(nsigs, sizeof(*tx));
	ext = xcalloc(nsigs, sizeof(*ext));
	exprset_init(&main_set, nsigs);
	exprset_init(&eof_set, nsigs);
	for (size_t i = 0; i < nsigs; i++) {
		const struct ndb_sig *sig = sigdb_ndb(sdb, i);
		struct exprset *set;
		char err[256];

		if (ndb_translate(sig, &tx[i], err, sizeof(err)) < 0) {
			log_debug("%s: %s", sig->origin, err);
			nuntranslated++;
			continue;
		}
		if (tx[i].min_offset) {
			ext[i].flags |= HS_EXT_FLAG_MIN_OFFSET;
			ext[i].min_offset = tx[i].min_offset;
		}
		if (tx[i].max_offset) {
			ext[i].flags |= HS_EXT_FLAG_MAX_OFFSET;
			ext[i].max_offset = tx[i].max_offset;
		}
		set = tx[i].eof ? &eof_set : &main_set;
		if (tx[i].eof && sig->off_min > tail)
			tail = (size_t)sig->off_min;
		set->exprs[set->n] = tx[i].expr;
		set->flags[set->n] = tx[i].hs_flags;
		set->ids[set->n] = (unsigned)i;
		set->ext[set->n] = ext[i].flags ? &ext[i] : NULL;
		set->n++;
	}
	if ((db = compile_dropping(&main_set, &ndropped)) == NULL)
		fatalx("nothing compiled");
	if (eof_set.n > 0 && (eofdb = compile_dropping(&eof_set, &neofdropped)) == NULL)
		log_warnx("no EOF-n signature compiled");
	compile_ms = (now_s() - t0) * 1000.0;
	if (hs_alloc_scratch(db, &proto) != HS_SUCCESS ||
	    (eofdb != NULL && hs_alloc_scratch(eofdb, &proto) != HS_SUCCESS))
		fatalx("hs_alloc_scratch failed");
	hs_database_size(db, &dbsize);
	if (eofdb != NULL)
		hs_database_size(eofdb, &eofsize);
	hs_scratch_size(proto, &scratchsize);
	printf("hsraw patterns=%zu untranslated=%u dropped=%u compiled=%u eof_compiled=%u "
	       "eof_tail=%zu compile_ms=%.0f db_bytes=%zu scratch_bytes=%zu\n",
	       nsigs, nuntranslated, ndropped + neofdropped, main_set.n + (eofdb ? eof_set.n : 0),
	       eofdb ? eof_set.n : 0, tail, compile_ms, dbsize + eofsize, scratchsize);
	fflush(stdout);

	for (int a = 1; a < argc; a++) {
		struct corpus c = {.dir = argv[a]};
		struct round r = {.db = db,
		                  .eofdb = eofdb,
		                  .tail = tail,
		                  .corpus = &c,
		                  .proto = proto,
		                  .lock = PTHREAD_MUTEX_INITIALIZER};

		corpus_add(&c, argv[a], 0);
		if (c.nfiles == 0) {
			log_warnx("%s: no files", argv[a]);
			rc = 1;
			continue;
		}
		for (unsigned t = 0; t < nthreads; t++) {
			double best = 0;

			for (unsigned k = 0; k < rounds; k++) {
				double s = round_run(&r, threads[t]);

				if (k == 0 || s < best)
					best = s;
			}
			if (r.failed) {
				log_warnx("%s: hs_scan failed", argv[a]);
				rc = 1;
			}
			printf("hsraw dir=%s threads=%u files=%zu bytes=%llu best_s=%.4f mbps=%.1f "
			       "files_per_s=%.0f matches=%llu matched_files=%llu\n",
			       argv[a], threads[t], c.nfiles, c.bytes, best,
			       (double)c.bytes / 1e6 / best, (double)c.nfiles / best, r.matches,
			       r.matched_files);
			fflush(stdout);
		}
		pthread_mutex_destroy(&r.lock);
		corpus_clear(&c);
	}

	hs_free_scratch(proto);
	hs_free_database(db);
	hs_free_database(eofdb);
	for (size_t i = 0; i < nsigs; i++)
		ndb_expr_free(&tx[i]);
	free(tx);
	free(ext);
	exprset_clear(&main_set);
	exprset_clear(&eof_set);
	sigdb_free(sdb);
	return rc;
}
