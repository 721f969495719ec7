/*
 * Unit tests for provider/pstore: seq increments and survives a reopen,
 * documents round trip in seq order with unique IDs and seqs, alerts are
 * recorded and ended, enrolment tokens work once and only unexpired;
 * receipts: one per gateway and document (a repeat adds no row), only for
 * documents published here with that seq, recorded in batches with a code
 * per receipt, and an older state file with repeated receipts migrated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "provider/pstore.h"

static char base[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/pc-pstore-XXXXXX");
	assert_non_null(mkdtemp(base));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct pstore *
open_ok(void)
{
	char *err = NULL;
	struct pstore *ps = pstore_open(base, &err);

	if (ps == NULL)
		fail_msg("pstore_open: %s", err);
	return ps;
}

static void
test_seq(void **state)
{
	struct pstore *ps = open_ok(), *ps2;
	uint64_t s = 0;
	char *err = NULL;

	(void)state;
	assert_int_equal(pstore_last_seq(ps, &s, &err), 0);
	assert_int_equal(s, 0);
	for (uint64_t i = 1; i <= 3; i++) {
		assert_int_equal(pstore_next_seq(ps, &s, &err), 0);
		assert_int_equal(s, i);
	}
	/* a second handle (another process) continues the same counter */
	ps2 = open_ok();
	assert_int_equal(pstore_next_seq(ps2, &s, &err), 0);
	assert_int_equal(s, 4);
	assert_int_equal(pstore_next_seq(ps, &s, &err), 0);
	assert_int_equal(s, 5);
	pstore_close(ps2);
	pstore_close(ps);
	/* and it survives a reopen */
	ps = open_ok();
	assert_int_equal(pstore_last_seq(ps, &s, &err), 0);
	assert_int_equal(s, 5);
	assert_int_equal(pstore_next_seq(ps, &s, &err), 0);
	assert_int_equal(s, 6);
	pstore_close(ps);
}

static void
test_documents(void **state)
{
	struct pstore *ps = open_ok();
	struct pstore_doc *docs;
	size_t n;
	char *err = NULL;

	(void)state;
	assert_int_equal(
	    pstore_add_document(ps, "update", "U-9", 9, "update-9.json", "{\"e\":9}", 1000, &err),
	    0);
	assert_int_equal(
	    pstore_add_document(ps, "alert", "A-7", 7, "alert-7.json", "{\"e\":7}", 999, &err), 0);
	/* the same ID or seq again: refused */
	assert_int_equal(pstore_add_document(ps, "alert", "A-7", 8, "alert-8.json", "{}", 1, &err),
	                 -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(pstore_add_document(ps, "alert", "A-x", 9, "alert-9.json", "{}", 1, &err),
	                 -1);
	free(err);
	err = NULL;
	assert_int_equal(pstore_document_exists(ps, "A-7", &err), 1);
	assert_int_equal(pstore_document_exists(ps, "A-8", &err), 0);
	pstore_close(ps);

	ps = open_ok();
	assert_int_equal(pstore_documents(ps, 1, &docs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(docs[0].seq, 7);
	assert_string_equal(docs[0].type, "alert");
	assert_string_equal(docs[0].id, "A-7");
	assert_string_equal(docs[0].url, "alert-7.json");
	assert_string_equal(docs[0].envelope, "{\"e\":7}");
	assert_int_equal(docs[0].created, 999);
	assert_int_equal(docs[1].seq, 9);
	assert_string_equal(docs[1].envelope, "{\"e\":9}");
	pstore_docs_free(docs, n);
	assert_int_equal(pstore_documents(ps, 0, &docs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_null(docs[0].envelope);
	pstore_docs_free(docs, n);
	pstore_close(ps);
}

static void
test_alerts(void **state)
{
	struct pstore *ps = open_ok();
	struct pstore_alert a, *all;
	size_t n;
	char *err = NULL;

	(void)state;
	assert_int_equal(pstore_add_alert(ps, "A-1", 1, 100, 200, &err), 0);
	assert_int_equal(pstore_add_alert(ps, "A-2", 2, 110, 210, &err), 0);
	assert_int_equal(pstore_alert(ps, "A-1", &a, &err), 1);
	assert_string_equal(a.id, "A-1");
	assert_int_equal(a.expires, 200);
	assert_null(a.ended_by);
	pstore_alert_clear(&a);
	assert_int_equal(pstore_alert(ps, "nope", &a, &err), 0);
	assert_int_equal(pstore_end_alert(ps, "A-1", "C-3", &err), 0);
	assert_int_equal(pstore_end_alert(ps, "nope", "C-4", &err), 1);
	assert_int_equal(pstore_alerts(ps, &all, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].ended_by, "C-3");
	assert_null(all[1].ended_by);
	pstore_alerts_free(all, n);
	pstore_close(ps);
}

static void
test_tokens(void **state)
{
	struct pstore *ps = open_ok();
	char t1[PSTORE_TOKEN_HEX + 1], t2[PSTORE_TOKEN_HEX + 1], *err = NULL;

	(void)state;
	assert_int_equal(pstore_enrol_token_new(ps, 1000, 60, t1, &err), 0);
	assert_int_equal(pstore_enrol_token_new(ps, 1000, 60, t2, &err), 0);
	assert_int_equal(strlen(t1), 64);
	assert_string_not_equal(t1, t2);
	assert_int_equal(pstore_enrol_token_use(ps, t1, 1010, &err), 0);
	assert_int_equal(pstore_enrol_token_use(ps, t1, 1010, &err), 1); /* once */
	assert_int_equal(pstore_enrol_token_use(ps, t2, 1060, &err), 1); /* expired */
	assert_int_equal(pstore_enrol_token_use(ps, "00", 1010, &err), 1);
	pstore_close(ps);
}

static void
test_gateways_receipts(void **state)
{
	struct pstore *ps = open_ok();
	struct pstore_gateway g, *gs;
	struct pstore_receipt *r;
	size_t n;
	char *err = NULL;
	const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *k2 = "2222222222222222222222222222222222222222222222222222222222222222";

	(void)state;
	assert_int_equal(pstore_add_document(ps, "alert", "A-1", 1, "alert-1.json", "{}", 1, &err),
	                 0);
	assert_int_equal(
	    pstore_add_document(ps, "allclear", "C-2", 2, "allclear-2.json", "{}", 1, &err), 0);
	assert_int_equal(pstore_gateway(ps, "gw-1", &g, &err), 0);
	assert_int_equal(pstore_add_receipt(ps, "gw-1", "A-1", 1, "sealed", 5, "{}", 10, &err),
	                 PSTORE_RECEIPT_UNKNOWN_GATEWAY);
	assert_int_equal(pstore_gateway_add(ps, "gw-1", k1, "https://gw1/push", "smtp", 100, &err),
	                 0);
	assert_int_equal(pstore_gateway_add(ps, "gw-0", k2, NULL, NULL, 50, &err), 0);
	assert_int_equal(pstore_gateway(ps, "gw-1", &g, &err), 1);
	assert_string_equal(g.public_key, k1);
	assert_string_equal(g.push_url, "https://gw1/push");
	assert_string_equal(g.scope, "smtp");
	assert_string_equal(g.state, "open");
	assert_int_equal(g.enrolled, 100);
	assert_int_equal(g.last_seen, 100);
	assert_null(g.last_message);
	pstore_gateway_clear(&g);

	assert_int_equal(
	    pstore_add_receipt(ps, "gw-1", "A-1", 1, "sealed", 150, "{\"x\":1}", 160, &err), 0);
	assert_int_equal(pstore_add_receipt(ps, "gw-1", "C-2", 2, "open", 170, "{}", 180, &err), 0);
	/* a repeat is no error and adds nothing; the state stays the newest document's */
	assert_int_equal(
	    pstore_add_receipt(ps, "gw-1", "A-1", 1, "sealed", 150, "{\"x\":2}", 180, &err), 0);
	/* not a document published here, or not with that seq */
	assert_int_equal(pstore_add_receipt(ps, "gw-1", "A-9", 9, "sealed", 150, "{}", 180, &err),
	                 PSTORE_RECEIPT_UNPUBLISHED);
	assert_int_equal(pstore_add_receipt(ps, "gw-1", "A-1", 2, "sealed", 150, "{}", 180, &err),
	                 PSTORE_RECEIPT_UNPUBLISHED);
	assert_int_equal(pstore_gateways(ps, &gs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(gs[0].id, "gw-0");
	assert_null(gs[0].push_url);
	assert_null(gs[0].last_message);
	assert_string_equal(gs[1].id, "gw-1");
	assert_string_equal(gs[1].state, "open");
	assert_int_equal(gs[1].last_seen, 180);
	assert_string_equal(gs[1].last_message, "C-2");
	pstore_gateways_free(gs, n);

	assert_int_equal(pstore_receipts(ps, &r, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].gateway, "gw-1");
	assert_string_equal(r[0].message, "A-1");
	assert_int_equal(r[0].message_seq, 1);
	assert_string_equal(r[0].state, "sealed");
	assert_int_equal(r[0].time, 150);
	assert_int_equal(r[0].received, 160);
	assert_string_equal(r[1].state, "open");
	pstore_receipts_free(r, n);

	/* re-enrolment replaces the key, keeps the history */
	assert_int_equal(pstore_gateway_add(ps, "gw-1", k2, NULL, NULL, 200, &err), 0);
	assert_int_equal(pstore_gateway(ps, "gw-1", &g, &err), 1);
	assert_string_equal(g.public_key, k2);
	assert_null(g.push_url);
	assert_string_equal(g.last_message, "C-2");
	pstore_gateway_clear(&g);
	pstore_close(ps);
}

/* Enrols gateways gw-0..gw-(n-1) and publishes A-1 (seq 1) and A-2 (seq 2). */
static void
fleet(struct pstore *ps, int n)
{
	const char *k = "3333333333333333333333333333333333333333333333333333333333333333";
	char *err = NULL, id[32];

	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "gw-%d", i);
		assert_int_equal(pstore_gateway_add(ps, id, k, "https://x/outbreak", NULL, 1, &err),
		                 0);
	}
	assert_int_equal(pstore_add_document(ps, "alert", "A-1", 1, "alert-1.json", "{}", 1, &err),
	                 0);
	assert_int_equal(pstore_add_document(ps, "alert", "A-2", 2, "alert-2.json", "{}", 1, &err),
	                 0);
}

static void
test_receipt_batch(void **state)
{
	enum { N = 300 };
	struct pstore *ps = open_ok();
	struct pstore_receipt_in *in = calloc(N + 3, sizeof(*in));
	struct pstore_gateway g;
	struct pstore_receipt *r;
	char(*ids)[32] = calloc(N, sizeof(*ids)), *err = NULL;
	int *rc = calloc(N + 3, sizeof(*rc));
	size_t n;

	(void)state;
	fleet(ps, N);
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "gw-%d", i);
		in[i] = (struct pstore_receipt_in){ids[i], "A-2", "sealed", "{}", 2, 100};
	}
	/* a repeat inside the batch, an unknown gateway, a document not published */
	in[N] = (struct pstore_receipt_in){"gw-7", "A-2", "sealed", "{}", 2, 101};
	in[N + 1] = (struct pstore_receipt_in){"gw-nope", "A-2", "sealed", "{}", 2, 100};
	in[N + 2] = (struct pstore_receipt_in){"gw-8", "A-3", "sealed", "{}", 3, 100};
	assert_int_equal(pstore_add_receipts(ps, in, N + 3, 500, rc, &err), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(rc[i], PSTORE_RECEIPT_NEW);
	assert_int_equal(rc[N], PSTORE_RECEIPT_REPEAT);
	assert_int_equal(rc[N + 1], PSTORE_RECEIPT_UNKNOWN_GATEWAY);
	assert_int_equal(rc[N + 2], PSTORE_RECEIPT_UNPUBLISHED);
	assert_int_equal(pstore_receipts(ps, &r, &n, &err), 0);
	assert_int_equal(n, N);
	pstore_receipts_free(r, n);
	assert_int_equal(pstore_gateway(ps, "gw-299", &g, &err), 1);
	assert_string_equal(g.state, "sealed");
	assert_int_equal(g.last_seen, 500);
	assert_string_equal(g.last_message, "A-2");
	pstore_gateway_clear(&g);

	/* the same batch again: all repeats, no row added, only last_seen moves */
	assert_int_equal(pstore_add_receipts(ps, in, N, 600, rc, &err), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(rc[i], PSTORE_RECEIPT_REPEAT);
	assert_int_equal(pstore_receipts(ps, &r, &n, &err), 0);
	assert_int_equal(n, N);
	assert_int_equal(r[0].received, 500);
	pstore_receipts_free(r, n);
	/* a late receipt of an older document is recorded, the state stays */
	in[0] = (struct pstore_receipt_in){"gw-0", "A-1", "open", "{}", 1, 90};
	assert_int_equal(pstore_add_receipts(ps, in, 1, 700, rc, &err), 0);
	assert_int_equal(rc[0], PSTORE_RECEIPT_NEW);
	assert_int_equal(pstore_gateway(ps, "gw-0", &g, &err), 1);
	assert_string_equal(g.state, "sealed");
	assert_int_equal(g.last_seen, 700);
	pstore_gateway_clear(&g);
	assert_int_equal(pstore_add_receipts(ps, in, 0, 700, rc, &err), 0);
	pstore_close(ps);
	free(in);
	free(ids);
	free(rc);
}

static void
test_document_by_id(void **state)
{
	struct pstore *ps = open_ok();
	struct pstore_doc d = {0};
	char *err = NULL;

	(void)state;
	assert_int_equal(pstore_document(ps, NULL, &d, &err), 0);
	fleet(ps, 1);
	assert_int_equal(pstore_document(ps, NULL, &d, &err), 1);
	assert_string_equal(d.id, "A-2");
	assert_int_equal(d.seq, 2);
	assert_string_equal(d.envelope, "{}");
	pstore_doc_clear(&d);
	assert_int_equal(pstore_document(ps, "A-1", &d, &err), 1);
	assert_int_equal(d.seq, 1);
	pstore_doc_clear(&d);
	assert_int_equal(pstore_document(ps, "A-7", &d, &err), 0);
	pstore_close(ps);
}

/* A state file of the earlier schema (no unique index, repeated receipts). */
static void
test_migration(void **state)
{
	char cmd[1024];
	struct pstore *ps;
	struct pstore_receipt *r;
	size_t n;
	char *err = NULL;

	(void)state;
	snprintf(
	    cmd, sizeof(cmd),
	    "sqlite3 '%s/provider.sqlite' \"CREATE TABLE receipts (id INTEGER PRIMARY KEY"
	    " AUTOINCREMENT, gateway TEXT NOT NULL, message TEXT NOT NULL, message_seq INTEGER"
	    " NOT NULL, state TEXT NOT NULL, time INTEGER NOT NULL, received INTEGER NOT NULL,"
	    " envelope TEXT NOT NULL); INSERT INTO receipts (gateway, message, message_seq,"
	    " state, time, received, envelope) VALUES ('g', 'A-1', 1, 'sealed', 1, 10, 'first'),"
	    " ('g', 'A-1', 1, 'sealed', 1, 11, 'again'), ('h', 'A-1', 1, 'open', 1, 12, 'h');\"",
	    base);
	if (system("command -v sqlite3 >/dev/null") != 0)
		skip();
	assert_int_equal(system(cmd), 0);
	ps = open_ok();
	assert_int_equal(pstore_receipts(ps, &r, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].gateway, "g");
	assert_int_equal(r[0].received, 10);
	assert_string_equal(r[1].gateway, "h");
	pstore_receipts_free(r, n);
	pstore_close(ps);
	ps = open_ok(); /* and opens again (migrated once) */
	pstore_close(ps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_seq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_documents, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alerts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gateways_receipts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_document_by_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
