/*
 * Unit tests for provider/build and provider/feed: alert, update and
 * all-clear documents built, signed and opened with omsg_open() and the
 * provider's public key (every field read back); bad input refused before
 * signing; a signature file with bad lines refused with path:line for each;
 * a file over the limit refused; the feed written with no temporary file
 * left and an index listing every document.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "outbreak/omsg.h"
#include "provider/build.h"
#include "provider/feed.h"
#include "util/log.h"

#define NOW 1765000000

static char base[64];
static EVP_PKEY *key;
static struct okeyring kr;

static int
setup(void **state)
{
	char priv[128], pub[128], hex[65], *err = NULL;

	(void)state;
	snprintf(base, sizeof(base), "/tmp/pc-pbuild-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(priv, sizeof(priv), "%s/p.key", base);
	snprintf(pub, sizeof(pub), "%s/p.pub", base);
	assert_int_equal(okey_generate(priv, pub, hex, &err), 0);
	assert_non_null(key = okey_load_private(priv, &err));
	memset(&kr, 0, sizeof(kr));
	assert_int_equal(okeyring_add(&kr, hex, &err), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	EVP_PKEY_free(key);
	okeyring_free(&kr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Signs d and opens it as a gateway would. */
static void
sign_open(struct build_doc *d, struct omsg *m)
{
	char *err = NULL, *reason = NULL;

	if (build_sign(key, d, &err) < 0)
		fail_msg("build_sign: %s", err);
	if (omsg_open(&kr, d->envelope, strlen(d->envelope), NOW + 10, m, &reason) < 0)
		fail_msg("omsg_open: %s", reason);
}

static char *
write_file(const char *name, const char *text)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", base, name) > 0);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_alert(void **state)
{
	const char *viruses[] = {"Win.Worm.Example-1", "Win.Worm.Example-2"};
	const char *hashes[] = {"AB0000000000000000000000000000000000000000000000000000000000000F"};
	const char *protos[] = {"smtp"};
	struct build_alert a = {0};
	struct build_doc d;
	struct omsg m;
	char *err = NULL;

	(void)state;
	a.viruses = viruses;
	a.nviruses = 2;
	a.mode = "hash";
	a.sha256 = hashes;
	a.nsha256 = 1;
	a.direction = "both";
	a.protocols = protos;
	a.nprotocols = 1;
	a.ttl = 3600;
	a.name = "Example outbreak";
	assert_int_equal(build_alert(&a, "acme", 42, NOW, &d, &err), 0);
	assert_string_equal(d.id, "A-42");
	sign_open(&d, &m);
	assert_int_equal(m.type, OMSG_ALERT);
	assert_string_equal(m.provider, "acme");
	assert_string_equal(m.id, "A-42");
	assert_int_equal(m.seq, 42);
	assert_int_equal(m.issued, NOW);
	assert_int_equal(m.expires, NOW + 3600);
	assert_int_equal(m.nviruses, 2);
	assert_string_equal(m.viruses[1], "Win.Worm.Example-2");
	assert_int_equal(m.mode, OMODE_HASH);
	assert_int_equal(m.nsha256, 1);
	assert_int_equal(m.sha256[0][0], 0xab);
	assert_int_equal(m.scope_dir, OSCOPE_INBOUND | OSCOPE_OUTBOUND);
	assert_int_equal(m.scope_proto, OSCOPE_SMTP);
	assert_string_equal(m.name, "Example outbreak");
	omsg_clear(&m);
	build_doc_clear(&d);

	/* defaults: hold, inbound, smtp and ftp, 24 h; a given ID */
	memset(&a, 0, sizeof(a));
	a.viruses = viruses;
	a.nviruses = 1;
	a.id = "A-custom.1";
	assert_int_equal(build_alert(&a, "acme", 43, NOW, &d, &err), 0);
	sign_open(&d, &m);
	assert_string_equal(m.id, "A-custom.1");
	assert_int_equal(m.mode, OMODE_HOLD);
	assert_int_equal(m.scope_dir, OSCOPE_INBOUND);
	assert_int_equal(m.scope_proto, OSCOPE_SMTP | OSCOPE_FTP);
	assert_int_equal(m.expires, NOW + 24 * 3600);
	assert_null(m.name);
	omsg_clear(&m);
	build_doc_clear(&d);
}

static void
test_alert_refused(void **state)
{
	const char *viruses[] = {"Win.Worm.Example-1"};
	const char *bad_virus[] = {"has space"};
	struct build_alert a = {0};
	struct build_doc d;
	char *err = NULL;

	(void)state;
	a.viruses = viruses;
	a.nviruses = 1;
	a.id = "../etc";
	assert_int_equal(build_alert(&a, "acme", 1, NOW, &d, &err), -1);
	assert_non_null(strstr(err, "ID"));
	free(err);
	a.id = NULL;
	assert_int_equal(build_alert(&a, "bad name", 1, NOW, &d, &err), -1);
	free(err);
	a.mode = "freeze";
	assert_int_equal(build_alert(&a, "acme", 1, NOW, &d, &err), -1);
	assert_non_null(strstr(err, "refused"));
	free(err);
	a.mode = "hash"; /* hash without hashes */
	assert_int_equal(build_alert(&a, "acme", 1, NOW, &d, &err), -1);
	free(err);
	a.mode = NULL;
	a.viruses = bad_virus;
	assert_int_equal(build_alert(&a, "acme", 1, NOW, &d, &err), -1);
	free(err);
	a.viruses = viruses;
	a.direction = "sideways";
	assert_int_equal(build_alert(&a, "acme", 1, NOW, &d, &err), -1);
	free(err);
	/* invalid UTF-8 is refused, not dropped from the document */
	a.direction = NULL;
	a.name = "bad \xff name";
	assert_int_equal(build_alert(&a, "acme", 1, NOW, &d, &err), -1);
	assert_non_null(strstr(err, "UTF-8"));
	free(err);
}

static void
test_update(void **state)
{
	char *p1 = write_file("out-1.ndb", "# outbreak\nTest.Future.A-1:0:*:0102030405060708090a\n"
	                                   "Test.Future.A-2:0:*:1112131415161718191a\n");
	char *p2 = write_file("out-1.hsb", "0000000000000000000000000000000000000000000000000000000"
	                                   "000000001:100:Test.Future.A-1\n");
	const char *paths[] = {p1, p2};
	const char *given[] = {"Only.This-1"};
	struct build_files *f;
	struct build_doc d;
	struct omsg m;
	char *err = NULL;

	(void)state;
	f = build_files_load(paths, 2, &err);
	if (f == NULL)
		fail_msg("build_files_load: %s", err);
	assert_int_equal(build_files_nnames(f), 2);
	assert_int_equal(build_update(f, NULL, 0, NULL, "acme", 7, NOW, &d, &err), 0);
	assert_string_equal(d.id, "U-7");
	sign_open(&d, &m);
	assert_int_equal(m.type, OMSG_UPDATE);
	assert_int_equal(m.nviruses, 2);
	assert_string_equal(m.viruses[0], "Test.Future.A-1");
	assert_string_equal(m.viruses[1], "Test.Future.A-2");
	assert_int_equal(m.nfiles, 2);
	assert_string_equal(m.files[0].name, "out-1.ndb");
	assert_string_equal(m.files[1].name, "out-1.hsb");
	assert_int_equal(m.files[0].len,
	                 strlen("# outbreak\nTest.Future.A-1:0:*:0102030405060708090a\n"
	                        "Test.Future.A-2:0:*:1112131415161718191a\n"));
	omsg_clear(&m);
	build_doc_clear(&d);
	assert_int_equal(build_update(f, given, 1, "U-x", "acme", 8, NOW, &d, &err), 0);
	sign_open(&d, &m);
	assert_int_equal(m.nviruses, 1);
	assert_string_equal(m.viruses[0], "Only.This-1");
	assert_string_equal(m.id, "U-x");
	omsg_clear(&m);
	build_doc_clear(&d);
	build_files_free(f);
	free(p1);
	free(p2);
}

static void
test_update_bad_lines(void **state)
{
	char *p1 = write_file("good.ndb", "Test.Good-1:0:*:0102030405060708090a\n");
	char *p2 = write_file("bad.ndb", "Test.Ok-1:0:*:0102030405060708090a\n"
	                                 "\n"
	                                 "Test.Bad-1:0:*:zz\n"
	                                 "just-a-name\n");
	char *p3 = write_file("notes.txt", "x\n");
	char *want1, *want2;
	const char *paths[] = {p1, p2};
	const char *paths3[] = {p3};
	char *err = NULL;

	(void)state;
	assert_null(build_files_load(paths, 2, &err));
	assert_non_null(err);
	assert_true(asprintf(&want1, "%s:3: ", p2) > 0);
	assert_true(asprintf(&want2, "%s:4: ", p2) > 0);
	if (strstr(err, want1) == NULL || strstr(err, want2) == NULL)
		fail_msg("no %s / %s in: %s", want1, want2, err);
	assert_null(strstr(err, "good.ndb"));
	free(err);
	free(want1);
	free(want2);
	assert_null(build_files_load(paths3, 1, &err));
	assert_non_null(strstr(err, "notes.txt"));
	free(err);
	free(p1);
	free(p2);
	free(p3);
}

static void
test_update_too_big(void **state)
{
	char *path;
	const char *paths[1];
	char *err = NULL;
	FILE *f;

	(void)state;
	assert_true(asprintf(&path, "%s/big.ndb", base) > 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(ftruncate(fileno(f), BUILD_MAX_SIGFILE + 1), 0);
	fclose(f);
	paths[0] = path;
	assert_null(build_files_load(paths, 1, &err));
	assert_non_null(strstr(err, "limit"));
	free(err);
	free(path);
}

static void
test_allclear(void **state)
{
	struct build_doc d;
	struct omsg m;
	char *err = NULL;

	(void)state;
	assert_int_equal(build_allclear("A-42", NULL, "acme", 44, NOW, &d, &err), 0);
	assert_string_equal(d.id, "C-44");
	sign_open(&d, &m);
	assert_int_equal(m.type, OMSG_ALLCLEAR);
	assert_string_equal(m.alert, "A-42");
	assert_int_equal(m.seq, 44);
	omsg_clear(&m);
	build_doc_clear(&d);
	assert_int_equal(build_allclear("A 42", NULL, "acme", 45, NOW, &d, &err), -1);
	free(err);
}

static void
test_feed(void **state)
{
	struct pstore_doc docs[2] = {
	    {1, "alert", "A-1", "alert-1.json", NOW, "{\"payload\":\"a\"}"},
	    {2, "allclear", "C-2", "allclear-2.json", NOW, "{\"payload\":\"c\"}"},
	};
	char dir[128], path[192], *err = NULL;
	json_t *idx, *list;
	DIR *d;
	struct dirent *e;
	FILE *f;
	char buf[64];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/feed", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(feed_publish(dir, "acme", docs, 2, NOW, &err), 0);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	assert_non_null(idx = json_load_file(path, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(idx, "provider")), "acme");
	assert_int_equal(json_integer_value(json_object_get(idx, "generated")), NOW);
	list = json_object_get(idx, "documents");
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "seq")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "url")),
	                    "allclear-2.json");
	json_decref(idx);
	snprintf(path, sizeof(path), "%s/alert-1.json", dir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "{\"payload\":\"a\"}");
	/* an existing document is not rewritten; no temporary file is left */
	docs[0].envelope = NULL;
	assert_int_equal(feed_publish(dir, "acme", docs, 2, NOW + 1, &err), 0);
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)) != NULL)
		assert_null(strstr(e->d_name, ".tmp"));
	closedir(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alert),          cmocka_unit_test(test_alert_refused),
	    cmocka_unit_test(test_update),         cmocka_unit_test(test_update_bad_lines),
	    cmocka_unit_test(test_update_too_big), cmocka_unit_test(test_allclear),
	    cmocka_unit_test(test_feed),
	};

	log_init("test_provider_build", 0, getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
