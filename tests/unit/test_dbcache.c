/*
 * Unit tests for scan/dbcache: a miss then a hit that hands back working
 * databases and the rejections; the key over every compile input (a table
 * of changes, each a different file); a table of damage, each noticed and
 * logged; ownership and permissions of the directory and the file; the
 * cache turned off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hs/hs.h>

#include "file_fixture.h"
#include "hs_match.h"
#include "scan/dbcache.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The compile inputs of one test: up to 4 expressions per set. */
struct inputs {
	const char *expr[DBCACHE_NSETS][4];
	unsigned flags[DBCACHE_NSETS][4], ids[DBCACHE_NSETS][4];
	hs_expr_ext_t extv[DBCACHE_NSETS][4];
	const hs_expr_ext_t *ext[DBCACHE_NSETS][4];
	size_t n[DBCACHE_NSETS];
	unsigned mode[DBCACHE_NSETS];
	struct dbcache_set sets[DBCACHE_NSETS];
};

/* What a load handed over. */
struct got {
	hs_database_t *db[DBCACHE_NSETS][8];
	size_t ndb[DBCACHE_NSETS];
	unsigned rej_ids[8];
	char rej_why[8][64];
	size_t nrej;
};

static char dir[64];

/* stream: "abc" id 0, "d.f" id 1; block: "xyz" id 2; block: "x+z$" id 4. */
static void
base_inputs(struct inputs *in)
{
	static const char *const expr[DBCACHE_NSETS][2] = {{"abc", "d.f"}, {"xyz"}, {"x+z$"}};
	static const unsigned ids[DBCACHE_NSETS][2] = {{0, 1}, {2}, {4}};
	static const size_t n[DBCACHE_NSETS] = {2, 1, 1};

	memset(in, 0, sizeof(*in));
	for (int k = 0; k < DBCACHE_NSETS; k++) {
		in->n[k] = n[k];
		in->mode[k] = k == 0 ? HS_MODE_STREAM : HS_MODE_BLOCK;
		for (size_t i = 0; i < n[k]; i++) {
			in->expr[k][i] = expr[k][i];
			in->ids[k][i] = ids[k][i];
			in->flags[k][i] = HS_FLAG_SINGLEMATCH;
		}
	}
}

/* Points in->sets at the arrays (after any change to them). */
static const struct dbcache_set *
sets_of(struct inputs *in)
{
	for (int k = 0; k < DBCACHE_NSETS; k++) {
		struct dbcache_set s = {in->expr[k], in->flags[k], in->ids[k],
		                        in->ext[k],  in->n[k],     in->mode[k]};

		in->sets[k] = s;
	}
	return in->sets;
}

static hs_database_t *
compile_one(struct inputs *in, int k)
{
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;

	if (hs_compile_ext_multi(in->expr[k], in->flags[k], in->ids[k], in->ext[k],
	                         (unsigned)in->n[k], in->mode[k], NULL, &db, &ce) != HS_SUCCESS)
		fail_msg("compile set %d: %s", k, ce ? ce->message : "?");
	return db;
}

static void
on_db(void *arg, unsigned k, hs_database_t *db)
{
	struct got *g = arg;

	assert_true(k < DBCACHE_NSETS && g->ndb[k] < 8);
	g->db[k][g->ndb[k]++] = db;
}

static void
on_reject(void *arg, unsigned id, const char *why)
{
	struct got *g = arg;

	assert_true(g->nrej < 8);
	g->rej_ids[g->nrej] = id;
	snprintf(g->rej_why[g->nrej++], sizeof(g->rej_why[0]), "%s", why);
}

static void
got_free(struct got *g)
{
	for (int k = 0; k < DBCACHE_NSETS; k++)
		for (size_t i = 0; i < g->ndb[k]; i++)
			hs_free_database(g->db[k][i]);
	memset(g, 0, sizeof(*g));
}

/* Opens a lookup for in, compiles and stores it with one rejection. */
static void
store_inputs(struct inputs *in)
{
	static const unsigned rej_ids[] = {3};
	static char why[] = "refused by the unit test";
	static char *const rej_why[] = {why};
	hs_database_t *db[DBCACHE_NSETS];
	struct dbcache *c = dbcache_open(sets_of(in));
	struct dbcache_image img;

	assert_non_null(c);
	memset(&img, 0, sizeof(img));
	for (int k = 0; k < DBCACHE_NSETS; k++) {
		db[k] = compile_one(in, k);
		img.db[k] = &db[k];
		img.ndb[k] = 1;
	}
	img.rej_ids = rej_ids;
	img.rej_why = rej_why;
	img.nrej = 1;
	dbcache_store(c, &img);
	for (int k = 0; k < DBCACHE_NSETS; k++)
		hs_free_database(db[k]);
	dbcache_close(c);
}

/* Loads in's file into g (max_id 8); returns dbcache_load's result. */
static int
load_inputs(struct inputs *in, struct got *g, char **log)
{
	const struct dbcache_sink sink = {on_db, on_reject, g};
	struct dbcache *c;
	int r;

	memset(g, 0, sizeof(*g));
	capture_begin();
	c = dbcache_open(sets_of(in));
	r = c ? dbcache_load(c, 8, &sink) : -2;
	dbcache_close(c);
	*log = capture_end();
	return r;
}

/* The ids a block database matches in text. */
static unsigned
block_matches(const hs_database_t *db, const char *text)
{
	hs_scratch_t *s = NULL;
	unsigned m = 0;

	assert_int_equal(hs_alloc_scratch(db, &s), HS_SUCCESS);
	assert_int_equal(hs_scan(db, text, (unsigned)strlen(text), 0, s, on_match, &m), HS_SUCCESS);
	hs_free_scratch(s);
	return m;
}

/* The ids a stream database matches in text fed in two pieces. */
static unsigned
stream_matches(const hs_database_t *db, const char *text)
{
	hs_scratch_t *s = NULL;
	hs_stream_t *st = NULL;
	unsigned m = 0, half = (unsigned)strlen(text) / 2;

	assert_int_equal(hs_alloc_scratch(db, &s), HS_SUCCESS);
	assert_int_equal(hs_open_stream(db, 0, &st), HS_SUCCESS);
	assert_int_equal(hs_scan_stream(st, text, half, 0, s, on_match, &m), HS_SUCCESS);
	assert_int_equal(
	    hs_scan_stream(st, text + half, (unsigned)strlen(text) - half, 0, s, on_match, &m),
	    HS_SUCCESS);
	assert_int_equal(hs_close_stream(st, s, on_match, &m), HS_SUCCESS);
	hs_free_scratch(s);
	return m;
}

static void
clear_dir(void)
{
	char *cmd = xasprintf("rm -rf '%s'/c", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* A miss is silent; after a store, a hit hands back working databases. */
static void
test_miss_then_hit(void **state)
{
	struct inputs in;
	struct got g;
	struct stat st;
	char *log, *path = xasprintf("%s/c", dir);
	(void)state;

	clear_dir();
	dbcache_set_dir(path); /* missing: created at the first lookup */
	base_inputs(&in);
	assert_int_equal(load_inputs(&in, &g, &log), -1);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	store_inputs(&in);
	assert_int_equal(load_inputs(&in, &g, &log), 0);
	assert_null(strstr(log, "ignored"));
	free(log);
	for (int k = 0; k < DBCACHE_NSETS; k++)
		assert_int_equal(g.ndb[k], 1);
	assert_int_equal(stream_matches(g.db[0][0], "..abc..dxf.."), 0x3);
	assert_int_equal(stream_matches(g.db[0][0], "ab"), 0);
	assert_int_equal(block_matches(g.db[1][0], "axyzb"), 1u << 2);
	assert_int_equal(block_matches(g.db[2][0], "axxz"), 1u << 4);
	assert_int_equal(block_matches(g.db[2][0], "axxza"), 0);
	assert_int_equal(g.nrej, 1);
	assert_int_equal(g.rej_ids[0], 3);
	assert_string_equal(g.rej_why[0], "refused by the unit test");
	got_free(&g);
	dbcache_set_dir(NULL);
	free(path);
}

/*
 * Every compile input is in the key: each change is another file, and no
 * two changes share one.
 */
static void
test_key(void **state)
{
	static const char *const what[] = {
	    "the inputs unchanged",
	    "an expression's text",
	    "a flag",
	    "an id",
	    "an extended parameter",
	    "its value",
	    "a set's mode",
	    "the order in a set",
	    "the set of one expression",
	    "one more expression",
	};
	enum { NWHAT = sizeof(what) / sizeof(what[0]) };
	char *paths[NWHAT], *path = xasprintf("%s/c", dir);
	struct inputs in;
	struct dbcache *c;
	(void)state;

	clear_dir();
	dbcache_set_dir(path);
	for (size_t i = 0; i < NWHAT; i++) {
		base_inputs(&in);
		switch (i) {
		case 0:
			break;
		case 1:
			in.expr[0][1] = "d.g";
			break;
		case 2:
			in.flags[1][0] |= HS_FLAG_CASELESS;
			break;
		case 3:
			in.ids[0][1] = 7;
			break;
		case 4:
		case 5:
			in.extv[1][0].flags = HS_EXT_FLAG_MIN_OFFSET;
			in.extv[1][0].min_offset = i == 4 ? 3 : 4;
			in.ext[1][0] = &in.extv[1][0];
			break;
		case 6:
			in.mode[1] = HS_MODE_STREAM;
			break;
		case 7:
			in.expr[0][0] = "d.f";
			in.expr[0][1] = "abc";
			in.ids[0][0] = 1;
			in.ids[0][1] = 0;
			break;
		case 8:
			/* "xyz" moves from set 1 to set 2. */
			in.n[1] = 0;
			in.expr[2][1] = "xyz";
			in.ids[2][1] = 2;
			in.flags[2][1] = HS_FLAG_SINGLEMATCH;
			in.n[2] = 2;
			break;
		default:
			in.expr[0][2] = "ghi";
			in.ids[0][2] = 5;
			in.flags[0][2] = HS_FLAG_SINGLEMATCH;
			in.n[0] = 3;
			break;
		}
		assert_non_null(c = dbcache_open(sets_of(&in)));
		paths[i] = xstrdup(dbcache_path(c));
		dbcache_close(c);
		/* "dir/hs-" + 64 hex digits + ".db" */
		assert_int_equal(strlen(paths[i]), strlen(path) + strlen("/hs-.db") + 64);
		for (size_t j = 0; j < i; j++)
			if (strcmp(paths[i], paths[j]) == 0)
				fail_msg("%s and %s give the same key", what[i], what[j]);
	}
	/* The same inputs again: the same file. */
	base_inputs(&in);
	assert_non_null(c = dbcache_open(sets_of(&in)));
	assert_string_equal(dbcache_path(c), paths[0]);
	dbcache_close(c);
	for (size_t i = 0; i < NWHAT; i++)
		free(paths[i]);
	dbcache_set_dir(NULL);
	free(path);
}

/* The path of in's file. */
static char *
path_of(struct inputs *in)
{
	struct dbcache *c = dbcache_open(sets_of(in));
	char *p;

	assert_non_null(c);
	p = xstrdup(dbcache_path(c));
	dbcache_close(c);
	return p;
}

/* Each kind of damage is noticed, logged, and hands nothing over. */
static void
test_damage(void **state)
{
	static const struct {
		const char *what; /* damage */
		const char *log;  /* expected in the line that ignores the file */
	} damage[] = {
	    {"truncated", "truncated or damaged"},
	    {"header only, cut", "truncated ("},
	    {"empty", "truncated (0 bytes)"},
	    {"appended", "truncated or damaged"},
	    {"database byte", "Hyperscan cannot read"},
	    {"meta byte", "digest mismatch"},
	    {"payload length", "truncated or damaged"},
	    {"foreign", "not a cache file"},
	    {"other key", "written for other signatures"},
	    {"rejected id out of range", "inconsistent"},
	};
	char *path = xasprintf("%s/c", dir);
	struct inputs in, other;
	struct got g;
	(void)state;

	clear_dir();
	dbcache_set_dir(path);
	base_inputs(&other);
	other.expr[1][0] = "xyzzy";
	store_inputs(&other);
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		const char *w = damage[i].what;
		char *file, *ofile, *log;
		uint8_t *img;
		size_t n;
		int r;

		base_inputs(&in);
		store_inputs(&in);
		file = path_of(&in);
		ofile = path_of(&other);
		img = slurp(file, &n);
		if (strcmp(w, "truncated") == 0) {
			write_bytes(file, img, n / 2, "wb");
		} else if (strcmp(w, "header only, cut") == 0) {
			write_bytes(file, img, 50, "wb");
		} else if (strcmp(w, "empty") == 0) {
			write_bytes(file, img, 0, "wb");
		} else if (strcmp(w, "appended") == 0) {
			write_bytes(file, "xx", 2, "ab");
		} else if (strcmp(w, "database byte") == 0) {
			img[n - 100] ^= 0x5a; /* inside the last serialized database */
			write_bytes(file, img, n, "wb");
		} else if (strcmp(w, "meta byte") == 0) {
			img[100] ^= 0x5a; /* past the 88-byte header: the meta section */
			write_bytes(file, img, n, "wb");
		} else if (strcmp(w, "payload length") == 0) {
			img[40] ^= 1; /* the header's payload length, little-endian */
			write_bytes(file, img, n, "wb");
		} else if (strcmp(w, "foreign") == 0) {
			memset(img, 'A', n);
			write_bytes(file, img, n, "wb");
		} else if (strcmp(w, "other key") == 0) {
			free(img);
			img = slurp(ofile, &n);
			write_bytes(file, img, n, "wb");
		}
		free(img);
		if (strcmp(w, "rejected id out of range") == 0) {
			/* The file says id 3 was rejected; a layer of 3 has no id 3. */
			const struct dbcache_sink sink = {on_db, on_reject, &g};
			struct dbcache *c = dbcache_open(sets_of(&in));

			memset(&g, 0, sizeof(g));
			capture_begin();
			r = dbcache_load(c, 3, &sink);
			log = capture_end();
			dbcache_close(c);
		} else {
			r = load_inputs(&in, &g, &log);
		}
		if (r != -1 || !strstr(log, "; ignored, compiling") ||
		    !strstr(log, damage[i].log) || !strstr(log, file))
			fail_msg("damage \"%s\": load %d, log was:\n%s", w, r, log);
		for (int k = 0; k < DBCACHE_NSETS; k++)
			assert_int_equal(g.ndb[k], 0);
		assert_int_equal(g.nrej, 0);
		free(log);
		free(file);
		free(ofile);
	}
	dbcache_set_dir(NULL);
	free(path);
}

/*
 * Code is loaded from the cache, so it must be ours: a directory or a file
 * another user owns or may write to is not used, nor is a symlink.
 */
static void
test_owner(void **state)
{
	char *path = xasprintf("%s/c", dir), *file, *log, *target;
	struct inputs in;
	struct got g;
	(void)state;

	clear_dir();
	dbcache_set_dir(path);
	base_inputs(&in);
	store_inputs(&in);
	file = path_of(&in);

	/* The file writable by others. */
	assert_int_equal(chmod(file, 0666), 0);
	assert_int_equal(load_inputs(&in, &g, &log), -1);
	assert_non_null(strstr(log, "not a regular file of ours; ignored, compiling"));
	free(log);
	assert_int_equal(chmod(file, 0600), 0);
	assert_int_equal(load_inputs(&in, &g, &log), 0);
	got_free(&g);
	free(log);

	/* Another user's file (only root can make one). */
	if (geteuid() == 0) {
		assert_int_equal(chown(file, 65534, 65534), 0);
		assert_int_equal(load_inputs(&in, &g, &log), -1);
		assert_non_null(strstr(log, "not a regular file of ours"));
		free(log);
		assert_int_equal(chown(file, 0, 0), 0);
	}

	/* A symlink in place of the file, even to a good one. */
	target = xasprintf("%s/good", path);
	assert_int_equal(rename(file, target), 0);
	assert_int_equal(symlink(target, file), 0);
	assert_int_equal(load_inputs(&in, &g, &log), -1);
	assert_non_null(strstr(log, "open: "));
	free(log);
	unlink(file);
	unlink(target);
	free(target);

	/* The directory writable by others: not used at all. */
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(load_inputs(&in, &g, &log), -2);
	assert_non_null(strstr(log, "owned or writable by another user; compiling without it"));
	free(log);
	assert_int_equal(chmod(path, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(load_inputs(&in, &g, &log), -2);
		assert_non_null(strstr(log, "owned or writable by another user"));
		free(log);
		assert_int_equal(chown(path, 0, 0), 0);
	}

	/* Not a directory; a parent that does not exist. */
	clear_dir();
	write_bytes(path, "x", 1, "wb");
	assert_int_equal(load_inputs(&in, &g, &log), -2);
	assert_non_null(strstr(log, "not a directory"));
	free(log);
	unlink(path);
	free(path);
	path = xasprintf("%s/no/such", dir);
	dbcache_set_dir(path);
	assert_int_equal(load_inputs(&in, &g, &log), -2);
	assert_non_null(strstr(log, "No such file or directory; compiling without it"));
	free(log);

	dbcache_set_dir(NULL);
	free(file);
	free(path);
}

/* NULL or "": no cache, and not a word in the log. */
static void
test_off(void **state)
{
	struct inputs in;
	struct got g;
	char *log;
	(void)state;

	base_inputs(&in);
	dbcache_set_dir(NULL);
	assert_int_equal(load_inputs(&in, &g, &log), -2);
	assert_string_equal(log, "");
	free(log);
	dbcache_set_dir("");
	assert_int_equal(load_inputs(&in, &g, &log), -2);
	assert_string_equal(log, "");
	free(log);
	dbcache_set_dir(NULL);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pc-test-dbcache-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int r;

	(void)state;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_miss_then_hit), cmocka_unit_test(test_key),
	    cmocka_unit_test(test_damage),        cmocka_unit_test(test_owner),
	    cmocka_unit_test(test_off),
	};

	log_init("test_dbcache", 0, getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
