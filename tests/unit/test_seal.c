/*
 * Unit tests for outbreak/seal: an alert seals its scope (protocol and
 * direction) and nothing else; hash alerts seal nothing but name their
 * checksums; sequence numbers per provider; an update releases exactly the
 * alerts whose awaited IDs have all arrived (over several updates); an
 * all-clear; admin states; expiry; and everything survives a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "outbreak/seal.h"

#define NOW 1800000000

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pc-seal-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct seal *
open_seal(void)
{
	char *err = NULL;
	struct seal *s = seal_open(dir, &err);

	if (s == NULL)
		fail_msg("seal_open: %s", err);
	return s;
}

/* An alert document as omsg_open would leave it (only what seal reads). */
struct doc {
	struct omsg m;
	char *v[4];
	uint8_t h[2][32];
};

static void
doc_alert(struct doc *d, const char *id, uint64_t seq, enum omsg_mode mode, unsigned dir_,
          unsigned proto, const char *v1, const char *v2)
{
	memset(d, 0, sizeof(*d));
	d->m.type = OMSG_ALERT;
	d->m.provider = (char *)"acme";
	d->m.id = (char *)id;
	d->m.seq = seq;
	d->m.issued = NOW;
	d->m.expires = NOW + 3600;
	d->v[0] = (char *)v1;
	d->v[1] = (char *)v2;
	d->m.viruses = d->v;
	d->m.nviruses = v2 ? 2 : 1;
	d->m.mode = mode;
	d->m.scope_dir = dir_;
	d->m.scope_proto = proto;
	if (mode == OMODE_HASH) {
		memset(d->h[0], 0xab, 32);
		memset(d->h[1], 0x01, 32);
		d->m.sha256 = d->h;
		d->m.nsha256 = 2;
	}
}

static void
doc_update(struct doc *d, const char *id, uint64_t seq, const char *v1, const char *v2)
{
	memset(d, 0, sizeof(*d));
	d->m.type = OMSG_UPDATE;
	d->m.provider = (char *)"acme";
	d->m.id = (char *)id;
	d->m.seq = seq;
	d->m.issued = NOW;
	d->v[0] = (char *)v1;
	d->v[1] = (char *)v2;
	d->m.viruses = d->v;
	d->m.nviruses = v1 ? (v2 ? 2 : 1) : 0;
}

static void
test_scope(void **state)
{
	struct seal *s = open_seal();
	struct seal_hit hit;
	struct doc d;
	char *err = NULL;

	(void)state;
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 0);
	assert_int_equal(seal_sealed(s), 0);
	doc_alert(&d, "A1", 5, OMODE_HOLD, OSCOPE_INBOUND, OSCOPE_SMTP, "Worm.X", NULL);
	assert_int_equal(seal_add_alert(s, &d.m, NOW, &err), 0);
	assert_int_equal(seal_sealed(s), 1);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 1);
	assert_string_equal(hit.alert, "A1");
	assert_int_equal(hit.mode, OMODE_HOLD);
	assert_string_equal(hit.name, "Worm.X");
	/* out of scope: the other direction, the other protocol */
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_OUTBOUND, NOW, &hit), 0);
	assert_int_equal(seal_match(s, OSCOPE_FTP, OSCOPE_INBOUND, NOW, &hit), 0);
	assert_int_equal(seal_last_seq(s, "acme"), 5);
	assert_int_equal(seal_last_seq(s, "other"), 0);
	/* the same alert ID again is refused, nothing changes */
	doc_alert(&d, "A1", 6, OMODE_HOLD, OSCOPE_INBOUND, OSCOPE_SMTP, "Worm.X", NULL);
	assert_int_equal(seal_add_alert(s, &d.m, NOW, &err), -1);
	assert_non_null(err);
	free(err);
	assert_int_equal(seal_last_seq(s, "acme"), 5);
	seal_free(s);
}

static void
test_hash(void **state)
{
	struct seal *s = open_seal();
	struct seal_hit hit;
	struct doc d;
	char *err = NULL, *sigs;

	(void)state;
	doc_alert(&d, "H1", 1, OMODE_HASH, OSCOPE_INBOUND | OSCOPE_OUTBOUND,
	          OSCOPE_SMTP | OSCOPE_FTP, "Worm.Y", NULL);
	assert_int_equal(seal_add_alert(s, &d.m, NOW, &err), 0);
	/* a hash alert holds nothing */
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 0);
	sigs = seal_hash_sigs(s);
	assert_non_null(strstr(sigs,
	                       "abababababababababababababababababababababababababababababababab "
	                       "Portcullis.Outbreak.H1\n"));
	assert_non_null(strstr(sigs,
	                       "0101010101010101010101010101010101010101010101010101010101010101 "
	                       "Portcullis.Outbreak.H1\n"));
	free(sigs);
	assert_int_equal(seal_hash_alert(s, "Portcullis.Outbreak.H1", &hit), 1);
	assert_string_equal(hit.alert, "H1");
	assert_int_equal(seal_hash_alert(s, "Portcullis.Outbreak.H2", &hit), 0);
	assert_int_equal(seal_hash_alert(s, "Worm.Y", &hit), 0);
	assert_int_equal(seal_set_state(s, "H1", "lifted", "admin", NOW), 0);
	sigs = seal_hash_sigs(s);
	assert_string_equal(sigs, "");
	free(sigs);
	assert_int_equal(seal_hash_alert(s, "Portcullis.Outbreak.H1", &hit), 0);
	seal_free(s);
}

static void
test_update_releases(void **state)
{
	struct seal *s = open_seal();
	struct seal_hit hit;
	struct doc a, b, u;
	char *err = NULL, **ids;
	size_t n;
	struct seal_alert al;

	(void)state;
	doc_alert(&a, "A1", 1, OMODE_HOLD, OSCOPE_INBOUND, OSCOPE_SMTP, "Worm.X", "Worm.Z");
	doc_alert(&b, "A2", 2, OMODE_HOLD_ATTACHMENTS, OSCOPE_OUTBOUND, OSCOPE_SMTP, "Worm.Q",
	          NULL);
	assert_int_equal(seal_add_alert(s, &a.m, NOW, &err), 0);
	assert_int_equal(seal_add_alert(s, &b.m, NOW, &err), 0);
	/* half of A1's viruses: nothing released */
	doc_update(&u, "U1", 3, "Worm.X", NULL);
	assert_int_equal(seal_add_update(s, &u.m, NOW, &ids, &n, &err), 0);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 1);
	/* the other half, and an unrelated virus: A1 only */
	doc_update(&u, "U2", 4, "Worm.Z", "Other.W");
	assert_int_equal(seal_add_update(s, &u.m, NOW + 5, &ids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "A1");
	free(ids[0]);
	free(ids);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 0);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_OUTBOUND, NOW, &hit), 1);
	assert_string_equal(hit.alert, "A2");
	assert_int_equal(seal_alert_get(s, "A1", &al), 0);
	assert_string_equal(al.state, "releasing");
	assert_string_equal(al.ended_by, "update U2");
	assert_int_equal(al.ended, NOW + 5);
	seal_alert_clear(&al);
	/* the state only, keeping who ended it */
	assert_int_equal(seal_set_state(s, "A1", "released", NULL, NOW + 9), 0);
	assert_int_equal(seal_alert_get(s, "A1", &al), 0);
	assert_string_equal(al.state, "released");
	assert_string_equal(al.ended_by, "update U2");
	seal_alert_clear(&al);
	assert_int_equal(seal_set_state(s, "nope", "lifted", "admin", NOW), 1);
	assert_int_equal(seal_last_seq(s, "acme"), 4);
	seal_free(s);

	/* all of it is on disk */
	s = open_seal();
	assert_int_equal(seal_last_seq(s, "acme"), 4);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_OUTBOUND, NOW, &hit), 1);
	assert_string_equal(hit.alert, "A2");
	assert_int_equal(hit.mode, OMODE_HOLD_ATTACHMENTS);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 0);
	seal_free(s);
}

static void
test_allclear_and_expiry(void **state)
{
	struct seal *s = open_seal();
	struct seal_hit hit;
	struct doc a, c;
	char *err = NULL;
	struct seal_alert *list;
	size_t n;

	(void)state;
	doc_alert(&a, "A1", 1, OMODE_HOLD, OSCOPE_INBOUND, OSCOPE_SMTP, "Worm.X", NULL);
	assert_int_equal(seal_add_alert(s, &a.m, NOW, &err), 0);
	memset(&c, 0, sizeof(c));
	c.m.type = OMSG_ALLCLEAR;
	c.m.provider = (char *)"acme";
	c.m.id = (char *)"C1";
	c.m.seq = 2;
	c.m.alert = (char *)"A1";
	assert_int_equal(seal_add_allclear(s, &c.m, NOW, &err), 1);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW, &hit), 0);
	/* an all-clear for an alert that is not active changes no alert */
	c.m.seq = 3;
	assert_int_equal(seal_add_allclear(s, &c.m, NOW, &err), 0);
	assert_int_equal(seal_last_seq(s, "acme"), 3);

	/* an alert past its expiry seals no more, and is written down as expired */
	doc_alert(&a, "A2", 4, OMODE_HOLD, OSCOPE_INBOUND, OSCOPE_SMTP, "Worm.X", NULL);
	a.m.expires = NOW + 10;
	assert_int_equal(seal_add_alert(s, &a.m, NOW, &err), 0);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW + 5, &hit), 1);
	assert_int_equal(seal_match(s, OSCOPE_SMTP, OSCOPE_INBOUND, NOW + 10, &hit), 0);
	seal_expire(s, NOW + 10);
	assert_int_equal(seal_alerts(s, "expired", &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "A2");
	seal_alerts_free(list, n);
	assert_int_equal(seal_alerts(s, NULL, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "A2"); /* newest first */
	seal_alerts_free(list, n);
	seal_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_releases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allclear_and_expiry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
