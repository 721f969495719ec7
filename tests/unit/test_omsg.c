/*
 * Unit tests for outbreak/omsg: keys made here with OpenSSL, documents
 * signed here. The wire format against RFC 8032's first test vector (the
 * raw 64-byte signature, standard base64 with padding); valid alert,
 * update and all-clear documents with every field read back; rejections,
 * each with its reason: a forged signature, the wrong key, one byte of the
 * payload changed, expiry, malformed JSON, every field missing, ill-typed
 * or out of its limits, unsafe file names, data not matching its hash,
 * base64 that is not strictly the standard form; key rotation; keys as
 * hex, PEM and files; a receipt sealed by a gateway and opened with its
 * public key; okey_generate's files and modes.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "outbreak/omsg.h"

#define T0 1714564800 /* 2024-05-01T12:00:00Z: issued */
#define T1 1714568400 /* T0 + 1 h: expires */
#define NOW (T0 + 60)

static char base[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/pc-omsg-XXXXXX");
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

/* ---- helpers ---- */

static EVP_PKEY *
new_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(k);
	return k;
}

static void
ring_add_key(struct okeyring *kr, EVP_PKEY *k)
{
	char hex[65], *err = NULL;

	assert_int_equal(okey_public_hex(k, hex), 0);
	if (okeyring_add(kr, hex, &err) < 0)
		fail_msg("okeyring_add: %s", err);
}

static char *
seal(EVP_PKEY *k, const char *doc)
{
	char *err = NULL, *env = omsg_seal(k, doc, strlen(doc), &err);

	if (env == NULL)
		fail_msg("omsg_seal: %s", err);
	assert_null(err);
	return env;
}

/* Base64 by OpenSSL's encoder, as a reference independent of omsg's decoder. */
static char *
b64(const void *p, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static void
sha256_hex(const void *p, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned int len = 32;

	assert_int_equal(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

static void
open_ok(const struct okeyring *kr, const char *env, time_t now, struct omsg *m)
{
	char *reason = NULL;

	if (omsg_open(kr, env, strlen(env), now, m, &reason) < 0)
		fail_msg("omsg_open: %s", reason);
	assert_null(reason);
}

/* omsg_open must fail with a reason containing want, and leave m cleared. */
static void
expect_reject_len(const struct okeyring *kr, const char *env, size_t len, time_t now,
                  const char *want)
{
	struct omsg m;
	char *reason = NULL;

	memset(&m, 0xa5, sizeof(m));
	if (omsg_open(kr, env, len, now, &m, &reason) == 0)
		fail_msg("accepted, expected \"%s\"", want);
	assert_non_null(reason);
	if (strstr(reason, want) == NULL)
		fail_msg("reason \"%s\", expected \"%s\"", reason, want);
	assert_null(strchr(reason, '\n'));
	assert_true(all_zero(&m, sizeof(m)));
	free(reason);
}

static void
expect_reject(const struct okeyring *kr, const char *env, time_t now, const char *want)
{
	expect_reject_len(kr, env, strlen(env), now, want);
}

/* s with its first `from` replaced by `to` (allocated). */
static char *
subst(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t a, lf = strlen(from), lt = strlen(to);
	char *out;

	if (at == NULL)
		fail_msg("\"%s\" not in the document", from);
	a = (size_t)(at - s);
	out = malloc(strlen(s) - lf + lt + 1);
	assert_non_null(out);
	memcpy(out, s, a);
	memcpy(out + a, to, lt);
	strcpy(out + a + lt, at + lf);
	return out;
}

/* An envelope from raw strings (nothing checked). */
static char *
envelope(const char *payload64, const char *sig64)
{
	size_t n = strlen(payload64) + strlen(sig64) + 64;
	char *env = malloc(n);

	assert_non_null(env);
	snprintf(env, n, "{\"payload\":\"%s\",\"signature\":\"%s\"}", payload64, sig64);
	return env;
}

/* The two strings of an envelope (allocated). */
static void
split_envelope(const char *env, char **payload64, char **sig64)
{
	json_t *o = json_loads(env, 0, NULL);

	assert_non_null(o);
	assert_int_equal(json_object_size(o), 2);
	*payload64 = strdup(json_string_value(json_object_get(o, "payload")));
	*sig64 = strdup(json_string_value(json_object_get(o, "signature")));
	json_decref(o);
}

/* ---- documents ---- */

#define HASH_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define HASH_B "60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"

static const char alert_doc[] =
    "{\"type\":\"alert\",\"provider\":\"prov-1\",\"id\":\"a-1\",\"seq\":5,"
    "\"issued\":1714564800,\"expires\":1714568400,"
    "\"viruses\":[\"Win.Worm.X-1\",\"Eicar-Test-Signature\"],\"mode\":\"hash\","
    "\"sha256\":[\"" HASH_A "\",\"" HASH_B "\"],"
    "\"scope\":{\"direction\":\"inbound\",\"protocols\":[\"smtp\",\"ftp\"]},"
    "\"name\":\"Wurm \\u00e9 X\"}";

static const char allclear_doc[] =
    "{\"type\":\"allclear\",\"provider\":\"prov-1\",\"id\":\"c-1\",\"seq\":7,"
    "\"issued\":1714564800,\"alert\":\"a-1\"}";

static const char file_data[] = "Win.Worm.X-1:0:*:deadbeefcafe\n";

/* An update with one file inline and one by URL (allocated). */
static char *
update_doc(void)
{
	char hex[65], *d64 = b64(file_data, strlen(file_data)), *doc;
	size_t n = 1024;

	sha256_hex(file_data, strlen(file_data), hex);
	doc = malloc(n);
	assert_non_null(doc);
	snprintf(doc, n,
	         "{\"type\":\"update\",\"provider\":\"prov-1\",\"id\":\"u-1\",\"seq\":6,"
	         "\"issued\":1714564800,\"viruses\":[],\"files\":["
	         "{\"name\":\"outbreak.ndb\",\"sha256\":\"%s\",\"data\":\"%s\"},"
	         "{\"name\":\"daily-2_x.sha256\",\"sha256\":\"" HASH_A "\","
	         "\"url\":\"https://sigs.example/daily-2.sha256\"}]}",
	         hex, d64);
	free(d64);
	return doc;
}

/* ---- tests ---- */

/* RFC 8032, 7.1, TEST 1: the empty message. */
static void
test_rfc8032_vector(void **state)
{
	static const unsigned char sk[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60,
	                                     0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	                                     0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
	                                     0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
	static const char pk_hex[] =
	    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
	static const char sig_hex[] =
	    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
	unsigned char sig[64 + 2];
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof(sk));
	char hex[65], got[129], *env, *p64, *s64;

	(void)state;
	assert_non_null(k);
	assert_int_equal(okey_public_hex(k, hex), 0);
	assert_string_equal(hex, pk_hex);

	env = seal(k, "");
	split_envelope(env, &p64, &s64);
	assert_string_equal(p64, "");
	/* 64 bytes: 88 characters of base64, the last two '=' */
	assert_int_equal(strlen(s64), 88);
	assert_string_equal(s64 + 86, "==");
	assert_int_equal(EVP_DecodeBlock(sig, (const unsigned char *)s64, 88), 66);
	for (int i = 0; i < 64; i++)
		snprintf(got + 2 * i, 3, "%02x", sig[i]);
	assert_string_equal(got, sig_hex);

	free(env);
	free(p64);
	free(s64);
	EVP_PKEY_free(k);
}

/* The payload field is the document's bytes in standard base64. */
static void
test_seal_format(void **state)
{
	EVP_PKEY *k = new_key();
	char *env = seal(k, alert_doc), *p64, *s64, *ref = b64(alert_doc, strlen(alert_doc));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[66];

	(void)state;
	split_envelope(env, &p64, &s64);
	assert_string_equal(p64, ref);
	/* the signature verifies with OpenSSL directly, over the payload bytes */
	assert_int_equal(EVP_DecodeBlock(sig, (const unsigned char *)s64, 88), 66);
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k), 1);
	assert_int_equal(
	    EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)alert_doc, strlen(alert_doc)), 1);
	EVP_MD_CTX_free(ctx);
	free(env);
	free(p64);
	free(s64);
	free(ref);
	EVP_PKEY_free(k);
}

static void
test_alert_ok(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();
	char *env = seal(k, alert_doc), hex[65];
	struct omsg m;

	(void)state;
	ring_add_key(&kr, k);
	open_ok(&kr, env, NOW, &m);
	assert_int_equal(m.type, OMSG_ALERT);
	assert_string_equal(omsg_type_name(m.type), "alert");
	assert_string_equal(m.provider, "prov-1");
	assert_string_equal(m.id, "a-1");
	assert_int_equal(m.seq, 5);
	assert_int_equal(m.issued, T0);
	assert_int_equal(m.expires, T1);
	assert_int_equal(m.nviruses, 2);
	assert_string_equal(m.viruses[0], "Win.Worm.X-1");
	assert_string_equal(m.viruses[1], "Eicar-Test-Signature");
	assert_int_equal(m.mode, OMODE_HASH);
	assert_string_equal(omsg_mode_name(m.mode), "hash");
	assert_int_equal(m.nsha256, 2);
	assert_int_equal(m.sha256[0][0], 0x9f);
	assert_int_equal(m.sha256[0][31], 0x08);
	assert_int_equal(m.sha256[1][0], 0x60);
	assert_int_equal(m.sha256[1][31], 0x52);
	assert_int_equal(m.scope_dir, OSCOPE_INBOUND);
	assert_int_equal(m.scope_proto, OSCOPE_SMTP | OSCOPE_FTP);
	assert_string_equal(m.name, "Wurm \xc3\xa9 X");
	assert_int_equal(m.nfiles, 0);
	assert_null(m.alert);
	assert_null(m.gateway);
	/* the payload as signed, and its digest */
	assert_int_equal(m.payload_len, strlen(alert_doc));
	assert_string_equal(m.payload, alert_doc);
	sha256_hex(alert_doc, strlen(alert_doc), hex);
	{
		char got[65];

		for (int i = 0; i < 32; i++)
			snprintf(got + 2 * i, 3, "%02x", m.digest[i]);
		assert_string_equal(got, hex);
	}
	omsg_clear(&m);
	assert_true(all_zero(&m, sizeof(m)));
	omsg_clear(&m); /* twice is harmless */

	/* the other modes and directions; sha256 optional there */
	{
		static const struct {
			const char *mode, *dir;
			enum omsg_mode want_mode;
			unsigned want_dir;
		} v[] = {
		    {"hold", "outbound", OMODE_HOLD, OSCOPE_OUTBOUND},
		    {"hold_attachments", "both", OMODE_HOLD_ATTACHMENTS,
		     OSCOPE_INBOUND | OSCOPE_OUTBOUND},
		};

		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			char mode[64], dir[64], *d1, *d2, *d3, *e;

			snprintf(mode, sizeof(mode), "\"mode\":\"%s\"", v[i].mode);
			snprintf(dir, sizeof(dir), "\"direction\":\"%s\"", v[i].dir);
			d1 = subst(alert_doc, "\"mode\":\"hash\"", mode);
			d2 = subst(d1, "\"direction\":\"inbound\"", dir);
			d3 = subst(d2, "\"protocols\":[\"smtp\",\"ftp\"]",
			           "\"protocols\":[\"ftp\"]");
			e = seal(k, d3);
			open_ok(&kr, e, NOW, &m);
			assert_int_equal(m.mode, v[i].want_mode);
			assert_string_equal(omsg_mode_name(m.mode), v[i].mode);
			assert_int_equal(m.scope_dir, v[i].want_dir);
			assert_int_equal(m.scope_proto, OSCOPE_FTP);
			omsg_clear(&m);
			free(e);
			free(d3);
			free(d2);
			/* without sha256 and name */
			d2 = subst(d1, ",\"sha256\":[\"" HASH_A "\",\"" HASH_B "\"]", "");
			d3 = subst(d2, ",\"name\":\"Wurm \\u00e9 X\"", "");
			e = seal(k, d3);
			open_ok(&kr, e, NOW, &m);
			assert_int_equal(m.nsha256, 0);
			assert_null(m.sha256);
			assert_null(m.name);
			omsg_clear(&m);
			free(e);
			free(d3);
			free(d2);
			free(d1);
		}
	}
	free(env);
	okeyring_free(&kr);
	assert_int_equal(kr.n, 0);
	assert_null(kr.keys);
	EVP_PKEY_free(k);
}

static void
test_update_ok(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();
	char *doc = update_doc(), *env = seal(k, doc);
	struct omsg m;

	(void)state;
	ring_add_key(&kr, k);
	open_ok(&kr, env, NOW, &m);
	assert_int_equal(m.type, OMSG_UPDATE);
	assert_string_equal(omsg_type_name(m.type), "update");
	assert_string_equal(m.id, "u-1");
	assert_int_equal(m.seq, 6);
	assert_int_equal(m.expires, 0);
	assert_int_equal(m.nviruses, 0);
	assert_int_equal(m.nfiles, 2);
	assert_string_equal(m.files[0].name, "outbreak.ndb");
	assert_int_equal(m.files[0].len, strlen(file_data));
	assert_memory_equal(m.files[0].data, file_data, strlen(file_data));
	assert_null(m.files[0].url);
	assert_string_equal(m.files[1].name, "daily-2_x.sha256");
	assert_null(m.files[1].data);
	assert_string_equal(m.files[1].url, "https://sigs.example/daily-2.sha256");
	assert_int_equal(m.files[1].sha256[0], 0x9f);
	assert_string_equal(m.payload, doc);
	omsg_clear(&m);
	assert_true(all_zero(&m, sizeof(m)));

	/* an update may expire, too; hdb and hsb are allowed; an empty file */
	{
		char *d1 = subst(doc, "\"issued\":1714564800",
		                 "\"issued\":1714564800,\"expires\":1714568400");
		char *d2 = subst(d1, "daily-2_x.sha256", "x.hdb");
		char *d3 = subst(d2, "outbreak.ndb", "o.hsb");
		char *e = seal(k, d3);

		open_ok(&kr, e, NOW, &m);
		assert_int_equal(m.expires, T1);
		assert_string_equal(m.files[0].name, "o.hsb");
		assert_string_equal(m.files[1].name, "x.hdb");
		omsg_clear(&m);
		expect_reject(&kr, e, T1, "expired at 2024-05-01T13:00:00Z");
		free(e);
		free(d3);
		free(d2);
		free(d1);
	}
	{
		char *e = seal(k, "{\"type\":\"update\",\"provider\":\"p\",\"id\":\"u\",\"seq\":1,"
		                  "\"issued\":0,\"viruses\":[\"V\"],\"files\":[{\"name\":\"e.ndb\","
		                  "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
		                  "a495991b7852b855\",\"data\":\"\"}]}");

		open_ok(&kr, e, NOW, &m);
		assert_int_equal(m.files[0].len, 0);
		assert_non_null(m.files[0].data);
		assert_string_equal(m.viruses[0], "V");
		omsg_clear(&m);
		free(e);
	}
	free(env);
	free(doc);
	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

static void
test_allclear_ok(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();
	char *env = seal(k, allclear_doc);
	struct omsg m;

	(void)state;
	ring_add_key(&kr, k);
	open_ok(&kr, env, NOW, &m);
	assert_int_equal(m.type, OMSG_ALLCLEAR);
	assert_string_equal(omsg_type_name(m.type), "allclear");
	assert_string_equal(m.id, "c-1");
	assert_int_equal(m.seq, 7);
	assert_string_equal(m.alert, "a-1");
	assert_int_equal(m.expires, 0);
	omsg_clear(&m);
	/* omsg_parse_payload: the same without a signature */
	{
		char *reason = NULL;

		assert_int_equal(
		    omsg_parse_payload(allclear_doc, strlen(allclear_doc), NOW, &m, &reason), 0);
		assert_string_equal(m.alert, "a-1");
		assert_int_equal(m.payload_len, strlen(allclear_doc));
		omsg_clear(&m);
		assert_int_equal(omsg_parse_payload("{}", 2, NOW, &m, &reason), -1);
		assert_string_equal(reason, "field type: missing");
		free(reason);
	}
	free(env);
	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

static void
test_signature_rejected(void **state)
{
	struct okeyring kr = {0}, empty = {0};
	EVP_PKEY *k = new_key(), *other = new_key();
	char *env = seal(k, alert_doc), *p64, *s64, *e;
	unsigned char raw[66];
	char forged[89];

	(void)state;
	ring_add_key(&kr, k);
	split_envelope(env, &p64, &s64);

	/* the wrong key */
	e = seal(other, alert_doc);
	expect_reject(&kr, e, NOW, "bad signature");
	free(e);

	/* a forged signature: random bytes, and the real one with one bit flipped */
	memset(raw, 0x5a, sizeof(raw));
	EVP_EncodeBlock((unsigned char *)forged, raw, 64);
	e = envelope(p64, forged);
	expect_reject(&kr, e, NOW, "bad signature");
	free(e);
	assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)s64, 88), 66);
	for (int i = 0; i < 64; i += 21) {
		raw[i] ^= 0x01;
		EVP_EncodeBlock((unsigned char *)forged, raw, 64);
		raw[i] ^= 0x01;
		e = envelope(p64, forged);
		expect_reject(&kr, e, NOW, "bad signature");
		free(e);
	}

	/* the payload with one byte changed, each of several places */
	{
		size_t n = strlen(alert_doc);
		char *doc = strdup(alert_doc);

		for (size_t i = 0; i < n; i += 37) {
			char *t64;

			doc[i] ^= 0x01;
			t64 = b64(doc, n);
			doc[i] ^= 0x01;
			e = envelope(t64, s64);
			expect_reject(&kr, e, NOW, "bad signature");
			free(e);
			free(t64);
		}
		/* seq 5 -> 6: still a valid document, the signature alone catches it */
		{
			char *t = subst(alert_doc, "\"seq\":5", "\"seq\":6"), *t64 = b64(t, n);

			e = envelope(t64, s64);
			expect_reject(&kr, e, NOW, "bad signature");
			free(e);
			free(t64);
			free(t);
		}
		free(doc);
	}

	/* a signature of the wrong size, no keys at all */
	e = envelope(p64, "AAAA");
	expect_reject(&kr, e, NOW, "field signature: not 64 bytes");
	free(e);
	expect_reject(&empty, env, NOW, "no public key");
	expect_reject(NULL, env, NOW, "no public key");

	/* and the envelope itself still opens */
	{
		struct omsg m;

		open_ok(&kr, env, NOW, &m);
		omsg_clear(&m);
	}
	free(p64);
	free(s64);
	free(env);
	okeyring_free(&kr);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
test_expiry(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();
	char *env = seal(k, alert_doc), *d, *e;
	struct omsg m;

	(void)state;
	ring_add_key(&kr, k);
	open_ok(&kr, env, T1 - 1, &m);
	omsg_clear(&m);
	expect_reject(&kr, env, T1, "expired at 2024-05-01T13:00:00Z");
	expect_reject(&kr, env, T1 + 86400, "expired at");
	/* expires must come after issued */
	d = subst(alert_doc, "\"expires\":1714568400", "\"expires\":1714564800");
	e = seal(k, d);
	expect_reject(&kr, e, 0, "field expires: not after issued");
	free(e);
	free(d);
	/* an alert must expire */
	d = subst(alert_doc, "\"expires\":1714568400,", "");
	e = seal(k, d);
	expect_reject(&kr, e, NOW, "field expires: missing");
	free(e);
	free(d);
	free(env);
	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

struct mutation {
	const char *from, *to, *reason;
};

static void
run_mutations(const char *doc, const struct mutation *v, size_t n)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();

	ring_add_key(&kr, k);
	for (size_t i = 0; i < n; i++) {
		char *d = subst(doc, v[i].from, v[i].to), *e = seal(k, d);

		expect_reject(&kr, e, NOW, v[i].reason);
		free(e);
		free(d);
	}
	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

static void
test_alert_fields_rejected(void **state)
{
	static char long_id[80], long_virus[140], long_name[220], many_viruses[65 * 4 + 16];
	static const struct mutation v[] = {
	    {"{\"type\":\"alert\",", "{", "field type: missing"},
	    {"\"type\":\"alert\"", "\"type\":\"alarm\"", "field type: unknown value"},
	    {"\"type\":\"alert\"", "\"type\":1", "field type: not a string"},
	    {"\"provider\":\"prov-1\",", "", "field provider: missing"},
	    {"\"provider\":\"prov-1\"", "\"provider\":\"prov 1\"", "field provider: not 1..64"},
	    {"\"provider\":\"prov-1\"", "\"provider\":\"\"", "field provider: not 1..64"},
	    {"\"provider\":\"prov-1\"", "\"provider\":\"p/../x\"", "field provider: not 1..64"},
	    {"\"id\":\"a-1\"", long_id, "field id: not 1..64"},
	    {"\"id\":\"a-1\"", "\"id\":null", "field id: not a string"},
	    {"\"seq\":5,", "", "field seq: missing"},
	    {"\"seq\":5", "\"seq\":0", "field seq: out of range"},
	    {"\"seq\":5", "\"seq\":-1", "field seq: out of range"},
	    {"\"seq\":5", "\"seq\":\"5\"", "field seq: not an integer"},
	    {"\"seq\":5", "\"seq\":5.0", "field seq: not an integer"},
	    {"\"seq\":5", "\"seq\":true", "field seq: not an integer"},
	    {"\"seq\":5", "\"seq\":99999999999999999999", "malformed JSON"},
	    {"\"issued\":1714564800,", "", "field issued: missing"},
	    {"\"issued\":1714564800", "\"issued\":-5", "field issued: out of range"},
	    {"\"expires\":1714568400", "\"expires\":\"never\"", "field expires: not an integer"},
	    {"\"viruses\":[\"Win.Worm.X-1\",\"Eicar-Test-Signature\"],", "",
	     "field viruses: missing"},
	    {"[\"Win.Worm.X-1\",\"Eicar-Test-Signature\"]", "[]",
	     "field viruses: 0 entries, not 1..64"},
	    {"[\"Win.Worm.X-1\",\"Eicar-Test-Signature\"]", "\"Win.Worm.X-1\"",
	     "field viruses: not an array"},
	    {"[\"Win.Worm.X-1\",\"Eicar-Test-Signature\"]", many_viruses,
	     "field viruses: 65 entries"},
	    {"\"Eicar-Test-Signature\"", "\"Eicar Test\"", "field viruses[1]: not 1..128"},
	    {"\"Eicar-Test-Signature\"", "\"\"", "field viruses[1]: not 1..128"},
	    {"\"Eicar-Test-Signature\"", "\"Eicar\\u00e9\"", "field viruses[1]: not 1..128"},
	    {"\"Eicar-Test-Signature\"", "\"Eicar\\t\"", "field viruses[1]: not 1..128"},
	    {"\"Eicar-Test-Signature\"", long_virus, "field viruses[1]: not 1..128"},
	    {"\"Eicar-Test-Signature\"", "7", "field viruses[1]: not a string"},
	    {"\"mode\":\"hash\",", "", "field mode: missing"},
	    {"\"mode\":\"hash\"", "\"mode\":\"HASH\"", "field mode: unknown value"},
	    {",\"sha256\":[\"" HASH_A "\",\"" HASH_B "\"]", "", "field sha256: missing"},
	    {"[\"" HASH_A "\",\"" HASH_B "\"]", "[]", "field sha256: 0 entries"},
	    {"\"" HASH_B "\"", "\"abc\"", "field sha256[1]: not 64 hex digits"},
	    {"\"" HASH_B "\"", "\"" HASH_B "0\"", "field sha256[1]: not 64 hex digits"},
	    {"\"" HASH_A "\"",
	     "\"zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
	     "field sha256[0]: not 64 hex digits"},
	    {",\"scope\":{\"direction\":\"inbound\",\"protocols\":[\"smtp\",\"ftp\"]}", "",
	     "field scope: missing"},
	    {"\"scope\":{\"direction\":\"inbound\",\"protocols\":[\"smtp\",\"ftp\"]}",
	     "\"scope\":\"all\"", "field scope: not an object"},
	    {"\"direction\":\"inbound\",", "", "field scope.direction: missing"},
	    {"\"direction\":\"inbound\"", "\"direction\":\"sideways\"",
	     "field scope.direction: unknown value"},
	    {",\"protocols\":[\"smtp\",\"ftp\"]", "", "field scope.protocols: missing"},
	    {"[\"smtp\",\"ftp\"]", "[]", "field scope.protocols: 0 entries"},
	    {"[\"smtp\",\"ftp\"]", "[\"smtp\",\"http\"]",
	     "field scope.protocols[1]: unknown value"},
	    {"\"name\":\"Wurm \\u00e9 X\"", "\"name\":\"a\\nb\"", "field name: not printable"},
	    {"\"name\":\"Wurm \\u00e9 X\"", "\"name\":\"a\\u0085b\"", "field name: not printable"},
	    {"\"name\":\"Wurm \\u00e9 X\"", "\"name\":\"a\\u007fb\"", "field name: not printable"},
	    {"\"name\":\"Wurm \\u00e9 X\"", long_name, "field name: not printable"},
	    {"\"name\":\"Wurm \\u00e9 X\"", "\"name\":[]", "field name: not a string"},
	    /* a duplicate key: two parsers could read two documents */
	    {"\"seq\":5", "\"seq\":5,\"seq\":1", "duplicate"},
	    {"\"mode\":\"hash\"", "\"mode\":\"hash\",\"mode\":\"hold\"", "duplicate"},
	    /* text with a NUL is no JSON string jansson takes */
	    {"\"id\":\"a-1\"", "\"id\":\"a\\u0000b\"", "malformed JSON"},
	    {"\"scope\"", "\"scope\" \"x\"", "malformed JSON"},
	};

	(void)state;
	snprintf(long_id, sizeof(long_id), "\"id\":\"%065d\"", 0);
	snprintf(long_virus, sizeof(long_virus), "\"%0129d\"", 0);
	snprintf(long_name, sizeof(long_name), "\"name\":\"%0201d\"", 0);
	strcpy(many_viruses, "[\"V0\"");
	for (int i = 1; i < 65; i++)
		strcat(many_viruses, ",\"V\"");
	strcat(many_viruses, "]");
	run_mutations(alert_doc, v, sizeof(v) / sizeof(v[0]));

	/* the edges that are still allowed: 64, 128, 200 bytes */
	{
		struct okeyring kr = {0};
		EVP_PKEY *k = new_key();
		struct omsg m;
		char id[80], virus[140], name[220], *d1, *d2, *d3, *e;

		ring_add_key(&kr, k);
		snprintf(id, sizeof(id), "\"id\":\"%064d\"", 0);
		snprintf(virus, sizeof(virus), "\"%0128d\"", 0);
		snprintf(name, sizeof(name), "\"name\":\"%0200d\"", 0);
		d1 = subst(alert_doc, "\"id\":\"a-1\"", id);
		d2 = subst(d1, "\"Eicar-Test-Signature\"", virus);
		d3 = subst(d2, "\"name\":\"Wurm \\u00e9 X\"", name);
		e = seal(k, d3);
		open_ok(&kr, e, NOW, &m);
		assert_int_equal(strlen(m.id), 64);
		assert_int_equal(strlen(m.viruses[1]), 128);
		assert_int_equal(strlen(m.name), 200);
		omsg_clear(&m);
		free(e);
		free(d3);
		free(d2);
		free(d1);
		okeyring_free(&kr);
		EVP_PKEY_free(k);
	}
}

static void
test_update_fields_rejected(void **state)
{
	static const struct mutation v[] = {
	    /* names that are not safe file names */
	    {"\"outbreak.ndb\"", "\"../x.ndb\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\".hidden.ndb\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"x.exe\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"x.NDB\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"ndb\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"x.ndb.exe\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"a/b.ndb\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"/x.ndb\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"x y.ndb\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"\"", "field files[0].name: not a safe file name"},
	    {"\"outbreak.ndb\"", "\"daily-2_x.sha256\"", "field files[1].name: same as files[0]"},
	    {"\"daily-2_x.sha256\"", "\"..\\\\x.sha256\"", "field files[1].name: not a safe"},
	    {"\"name\":\"outbreak.ndb\",", "", "field files[0].name: missing"},
	    /* the data must be what its hash says */
	    {"\"sha256\":\"", "\"sha256\":\"0", "field files[0].sha256: not 64 hex digits"},
	    {"\"data\":\"", "\"data\":\"V2lu", "field files[0].data: SHA-256 does not match"},
	    {"\"data\":\"", "\"data\":\"!", "field files[0].data: bad base64"},
	    {"\"data\":\"", "\"data\":\" ", "field files[0].data: bad base64"},
	    {"\"data\":\"", "\"data\":1,\"x\":\"", "field files[0].data: not a string"},
	    {"\"url\":\"https://sigs.example/daily-2.sha256\"", "\"url\":\"ftp://sigs.example/x\"",
	     "field files[1].url: not an http(s) URL"},
	    {"\"url\":\"https://sigs.example/daily-2.sha256\"", "\"url\":\"https:///x\"",
	     "field files[1].url: not an http(s) URL"},
	    {"\"url\":\"https://sigs.example/daily-2.sha256\"", "\"url\":\"http://a b\"",
	     "field files[1].url: not an http(s) URL"},
	    {",\"url\":\"https://sigs.example/daily-2.sha256\"", "",
	     "field files[1]: neither data nor url"},
	    {"\"url\":\"", "\"data\":\"\",\"url\":\"", "field files[1]: both data and url"},
	    {"\"files\":[", "\"files\":[7,", "field files[0]: not an object"},
	    {"\"viruses\":[]", "\"viruses\":[\"a b\"]", "field viruses[0]: not 1..128"},
	    {"\"viruses\":[],", "", "field viruses: missing"},
	};
	char *doc = update_doc();

	(void)state;
	run_mutations(doc, v, sizeof(v) / sizeof(v[0]));

	/* no files, 65 files */
	{
		char *p = strstr(doc, "\"files\":["), *d, files[65 * 128 + 32], hex[65];
		struct mutation m[2] = {
		    {NULL, "\"files\":[]}", "field files: 0 entries, not 1..64"},
		    {NULL, files, "field files: 65 entries, not 1..64"}};

		sha256_hex("", 0, hex);
		strcpy(files, "\"files\":[");
		for (int i = 0; i < 65; i++)
			snprintf(files + strlen(files), sizeof(files) - strlen(files),
			         "%s{\"name\":\"f%d.ndb\",\"sha256\":\"%s\",\"data\":\"\"}",
			         i ? "," : "", i, hex);
		strcat(files, "]}");
		assert_non_null(p);
		d = strdup(p);
		m[0].from = m[1].from = d;
		run_mutations(doc, m, 2);
		free(d);
	}
	free(doc);

	/* an all-clear needs the alert it ends */
	{
		static const struct mutation c[] = {
		    {",\"alert\":\"a-1\"", "", "field alert: missing"},
		    {"\"alert\":\"a-1\"", "\"alert\":\"a 1\"", "field alert: not 1..64"},
		};

		run_mutations(allclear_doc, c, sizeof(c) / sizeof(c[0]));
	}
}

/* Envelopes that are not JSON, lack a field, or carry base64 that is not strict. */
static void
test_envelope_rejected(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();
	char *env = seal(k, alert_doc), *p64, *s64, *e, *t;
	struct omsg m;

	(void)state;
	ring_add_key(&kr, k);
	split_envelope(env, &p64, &s64);

	expect_reject(&kr, "", NOW, "envelope: malformed JSON");
	expect_reject(&kr, "{\"payload\":", NOW, "envelope: malformed JSON");
	expect_reject(&kr, "[]", NOW, "envelope: not a JSON object");
	expect_reject(&kr, "\"x\"", NOW, "envelope: malformed JSON"); /* jansson: no scalars */
	expect_reject(&kr, "{\"payload\":\"\"}", NOW, "field signature: missing");
	e = envelope(p64, s64);
	e[strlen(e) - 1] = ','; /* {...,"signature":"...", */
	expect_reject(&kr, e, NOW, "envelope: malformed JSON");
	free(e);
	t = malloc(strlen(s64) + 64);
	snprintf(t, strlen(s64) + 64, "{\"signature\":\"%s\"}", s64);
	expect_reject(&kr, t, NOW, "field payload: missing");
	free(t);
	t = malloc(strlen(s64) + 64);
	snprintf(t, strlen(s64) + 64, "{\"payload\":5,\"signature\":\"%s\"}", s64);
	expect_reject(&kr, t, NOW, "field payload: not a string");
	free(t);
	expect_reject_len(&kr, env, strlen(env) - 1, NOW, "envelope: malformed JSON");
	/* a signed payload that is no JSON object */
	e = seal(k, "[1,2]");
	expect_reject(&kr, e, NOW, "document: not a JSON object");
	free(e);
	e = seal(k, "{\"type\":");
	expect_reject(&kr, e, NOW, "document: malformed JSON");
	free(e);

	/* base64: the padding must be there, complete, and at the end */
	{
		static const char *const sigjunk[] = {"!", " ", "*", "-", "_", "=", "."};
		size_t sl = strlen(s64);

		assert_string_equal(s64 + sl - 2, "==");
		t = strdup(s64);
		t[sl - 2] = '\0'; /* no padding */
		e = envelope(p64, t);
		expect_reject(&kr, e, NOW, "field signature: not 64 bytes");
		free(e);
		t[sl - 2] = '=';
		t[sl - 1] = 'A'; /* "=A" */
		e = envelope(p64, t);
		expect_reject(&kr, e, NOW, "field signature: not 64 bytes");
		free(e);
		free(t);
		/* a junk byte in place of each of several characters */
		for (size_t j = 0; j < sizeof(sigjunk) / sizeof(sigjunk[0]); j++)
			for (size_t i = 0; i < sl - 2; i += 29) {
				t = strdup(s64);
				t[i] = sigjunk[j][0];
				e = envelope(p64, t);
				expect_reject(&kr, e, NOW, "field signature: not 64 bytes");
				free(e);
				free(t);
			}
		/* the unused bits after the last byte must be zero */
		t = strdup(s64);
		t[sl - 3] = (char)(t[sl - 3] == 'A' ? 'B' : t[sl - 3] == 'B' ? 'C' : 'B');
		if (strchr("AQgw", s64[sl - 3]) != NULL) {
			/* 64 bytes leave 4 unused bits: all of A, Q, g, w end in 0000 */
			e = envelope(p64, t);
			expect_reject(&kr, e, NOW, "field signature: not 64 bytes");
			free(e);
		} else {
			fail_msg("OpenSSL made a non-canonical signature encoding");
		}
		free(t);
		/* a signature with junk after its padding */
		t = malloc(sl + 8);
		snprintf(t, sl + 8, "%sAAAA", s64);
		e = envelope(p64, t);
		expect_reject(&kr, e, NOW, "field signature: not 64 bytes");
		free(e);
		free(t);
		/* payload: an (escaped) line break inside */
		t = malloc(strlen(p64) + 3);
		memcpy(t, p64, 4);
		strcpy(t + 4, "\\n");
		strcat(t, p64 + 4);
		e = envelope(t, s64);
		expect_reject(&kr, e, NOW, "field payload: bad base64");
		free(e);
		free(t);
	}
	/* too large to look at */
	{
		size_t big = OMSG_MAX_ENVELOPE + 1;
		char *huge = malloc(big);

		assert_non_null(huge);
		memset(huge, ' ', big);
		expect_reject_len(&kr, huge, big, NOW, "envelope: larger than");
		free(huge);
	}
	/* the original still opens */
	open_ok(&kr, env, NOW, &m);
	omsg_clear(&m);
	free(p64);
	free(s64);
	free(env);
	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

/* Payload lengths of each remainder mod 3: no padding, "=", "==". */
static void
test_base64_padding(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *k = new_key();

	(void)state;
	ring_add_key(&kr, k);
	for (int extra = 0; extra < 3; extra++) {
		char doc[512], *e, *p64, *s64, *t;
		struct omsg m;
		size_t pl;

		snprintf(doc, sizeof(doc), "%s%.*s", allclear_doc, extra, "  ");
		e = seal(k, doc);
		split_envelope(e, &p64, &s64);
		pl = strlen(p64);
		assert_int_equal(pl % 4, 0);
		assert_int_equal(strlen(doc) % 3 == 0 ? 0 : 3 - (int)(strlen(doc) % 3),
		                 (int)(p64[pl - 1] == '=') + (int)(p64[pl - 2] == '='));
		open_ok(&kr, e, NOW, &m);
		assert_int_equal(m.payload_len, strlen(doc));
		assert_string_equal(m.payload, doc);
		omsg_clear(&m);
		/* without its padding, or one '=' too many, it is refused */
		if (p64[pl - 1] == '=') {
			t = strdup(p64);
			t[pl - 1] = '\0';
			free(e);
			e = envelope(t, s64);
			expect_reject(&kr, e, NOW, "field payload: bad base64");
			free(t);
		}
		t = malloc(pl + 2);
		snprintf(t, pl + 2, "%s=", p64);
		free(e);
		e = envelope(t, s64);
		expect_reject(&kr, e, NOW, "field payload: bad base64");
		free(t);
		free(e);
		free(p64);
		free(s64);
	}
	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

static void
test_key_rotation(void **state)
{
	struct okeyring kr = {0};
	EVP_PKEY *a = new_key(), *b = new_key(), *c = new_key();
	char *ea = seal(a, alert_doc), *eb = seal(b, allclear_doc), *ec = seal(c, alert_doc);
	struct omsg m;

	(void)state;
	ring_add_key(&kr, a);
	ring_add_key(&kr, b);
	assert_int_equal(kr.n, 2);
	open_ok(&kr, ea, NOW, &m);
	assert_int_equal(m.type, OMSG_ALERT);
	omsg_clear(&m);
	open_ok(&kr, eb, NOW, &m);
	assert_int_equal(m.type, OMSG_ALLCLEAR);
	omsg_clear(&m);
	expect_reject(&kr, ec, NOW, "bad signature");
	free(ea);
	free(eb);
	free(ec);
	okeyring_free(&kr);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(c);
}

static char *
pem_public(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
	n = BIO_get_mem_data(bio, &p);
	out = strndup(p, (size_t)n);
	BIO_free(bio);
	return out;
}

static void
write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A key that verifies the document k signed. */
static void
check_key_text(EVP_PKEY *k, const char *text)
{
	struct okeyring kr = {0};
	char *err = NULL, *env = seal(k, alert_doc);
	struct omsg m;

	if (okeyring_add(&kr, text, &err) < 0)
		fail_msg("okeyring_add(%s): %s", text, err);
	assert_int_equal(kr.n, 1);
	open_ok(&kr, env, NOW, &m);
	omsg_clear(&m);
	free(env);
	okeyring_free(&kr);
}

static void
reject_key_text(const char *text, const char *want)
{
	struct okeyring kr = {0};
	char *err = NULL;

	assert_int_equal(okeyring_add(&kr, text, &err), -1);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\", expected \"%s\"", err, want);
	assert_int_equal(kr.n, 0);
	free(err);
	okeyring_free(&kr);
}

static void
test_key_input(void **state)
{
	EVP_PKEY *k = new_key(), *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char hex[65], upper[80], path[128], *pem = pem_public(k), *ecpem = pem_public(ec);

	(void)state;
	assert_int_equal(okey_public_hex(k, hex), 0);
	assert_int_equal(strlen(hex), 64);
	check_key_text(k, hex);
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	check_key_text(k, upper);
	snprintf(upper, sizeof(upper), "  %s\n", hex);
	check_key_text(k, upper);
	assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
	check_key_text(k, pem);

	snprintf(path, sizeof(path), "%s/pub.pem", base);
	write_file(path, pem);
	check_key_text(k, path);
	snprintf(path, sizeof(path), "%s/pub.hex", base);
	snprintf(upper, sizeof(upper), "%s\n", hex);
	write_file(path, upper);
	check_key_text(k, path);

	/* what is not an Ed25519 public key */
	reject_key_text("", "empty key");
	reject_key_text(ecpem, "not an Ed25519 key");
	snprintf(path, sizeof(path), "%s/ec.pem", base);
	write_file(path, ecpem);
	reject_key_text(path, "not an Ed25519 key");
	upper[63] = '\0';
	reject_key_text(upper, "No such file");
	snprintf(path, sizeof(path), "%s/junk", base);
	write_file(path, "hello\n");
	reject_key_text(path, "not a key");
	write_file(path, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	reject_key_text(path, "no PEM public key");
	reject_key_text(base, "not a key"); /* a directory */
	snprintf(path, sizeof(path), "%s/nonexistent", base);
	reject_key_text(path, "No such file");
	{
		/* a private key where a public one is due */
		BIO *bio = BIO_new(BIO_s_mem());
		char *p;
		long n;

		assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_get_mem_data(bio, &p);
		p = strndup(p, (size_t)n);
		BIO_free(bio);
		reject_key_text(p, "no PEM public key");
		free(p);
	}

	/* okey_public_hex of other keys */
	assert_int_equal(okey_public_hex(ec, hex), -1);
	assert_int_equal(okey_public_hex(NULL, hex), -1);

	free(pem);
	free(ecpem);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ec);
}

static void
test_receipt(void **state)
{
	struct okeyring prov = {0}, gw = {0};
	EVP_PKEY *pk = new_key(), *gk = new_key();
	char *env = seal(pk, alert_doc), *rec, *err = NULL, long_gw[80];
	struct omsg m, r;

	(void)state;
	ring_add_key(&prov, pk);
	ring_add_key(&gw, gk);
	open_ok(&prov, env, NOW, &m);

	rec = omsg_receipt(gk, "gw-1", &m, NOW + 5, "sealed", "held 3 messages\nof 4", &err);
	if (rec == NULL)
		fail_msg("omsg_receipt: %s", err);
	assert_null(err);
	/* the provider opens it with the gateway's key only */
	expect_reject(&prov, rec, NOW + 5, "bad signature");
	open_ok(&gw, rec, NOW + 5, &r);
	assert_int_equal(r.type, OMSG_RECEIPT);
	assert_string_equal(omsg_type_name(r.type), "receipt");
	assert_string_equal(r.provider, "prov-1");
	assert_string_equal(r.id, "r-gw-1-a-1");
	assert_int_equal(r.seq, 0);
	assert_int_equal(r.issued, NOW + 5);
	assert_int_equal(r.expires, 0);
	assert_string_equal(r.gateway, "gw-1");
	assert_string_equal(r.message, "a-1");
	assert_int_equal(r.message_seq, 5);
	assert_int_equal(r.time, NOW + 5);
	assert_string_equal(r.state, "sealed");
	assert_string_equal(r.detail, "held 3 messages of 4"); /* one line */
	omsg_clear(&r);
	free(rec);

	/* no detail, state open; a long gateway ID gives a hashed receipt ID */
	snprintf(long_gw, sizeof(long_gw), "%064d", 7);
	rec = omsg_receipt(gk, long_gw, &m, NOW, "open", NULL, &err);
	assert_non_null(rec);
	open_ok(&gw, rec, NOW, &r);
	assert_null(r.detail);
	assert_string_equal(r.state, "open");
	assert_string_equal(r.gateway, long_gw);
	assert_int_equal(strlen(r.id), 2 + 32);
	assert_memory_equal(r.id, "r-", 2);
	omsg_clear(&r);
	free(rec);

	/* a long detail is cut, not refused */
	{
		char *detail = malloc(5000);

		memset(detail, 'x', 4999);
		detail[4999] = '\0';
		rec = omsg_receipt(gk, "gw-1", &m, NOW, "open", detail, &err);
		assert_non_null(rec);
		open_ok(&gw, rec, NOW, &r);
		assert_true(strlen(r.detail) <= 1024);
		assert_true(strlen(r.detail) > 1000);
		omsg_clear(&r);
		free(rec);
		free(detail);
	}

	/* what it refuses */
	assert_null(omsg_receipt(gk, "gw 1", &m, NOW, "sealed", NULL, &err));
	assert_non_null(strstr(err, "gateway"));
	free(err);
	assert_null(omsg_receipt(gk, "gw-1", &m, NOW, "closed", NULL, &err));
	assert_non_null(strstr(err, "state"));
	free(err);
	assert_null(omsg_receipt(gk, "gw-1", NULL, NOW, "open", NULL, &err));
	assert_non_null(err);
	free(err);
	{
		/* a public key cannot sign */
		EVP_PKEY *pub = gw.keys[0];

		assert_null(omsg_receipt(pub, "gw-1", &m, NOW, "open", NULL, &err));
		assert_non_null(err);
		free(err);
	}

	omsg_clear(&m);
	free(env);
	okeyring_free(&prov);
	okeyring_free(&gw);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(gk);
}

static void
test_seal_errors(void **state)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char *err = NULL;

	(void)state;
	assert_null(omsg_seal(ec, "{}", 2, &err));
	assert_string_equal(err, "not an Ed25519 key");
	free(err);
	assert_null(omsg_seal(NULL, "{}", 2, &err));
	assert_non_null(err);
	free(err);
	EVP_PKEY_free(ec);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static char *
slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_okey_generate(void **state)
{
	char priv[128], pub[128], hex[65], hex2[65], *err = NULL, before[4096];
	struct okeyring kr = {0};
	EVP_PKEY *k;
	mode_t old;
	struct omsg m;

	(void)state;
	snprintf(priv, sizeof(priv), "%s/gw.key", base);
	snprintf(pub, sizeof(pub), "%s/gw.pub", base);
	old = umask(077); /* the public key is 0644 whatever the umask */
	if (okey_generate(priv, pub, hex, &err) < 0)
		fail_msg("okey_generate: %s", err);
	umask(old);
	assert_null(err);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(mode_of(priv), 0600);
	assert_int_equal(mode_of(pub), 0644);
	assert_memory_equal(slurp(priv), "-----BEGIN PRIVATE KEY-----\n", 28);
	assert_memory_equal(slurp(pub), "-----BEGIN PUBLIC KEY-----\n", 27);

	/* the private key loads, matches the hex and the public file */
	k = okey_load_private(priv, &err);
	if (k == NULL)
		fail_msg("okey_load_private: %s", err);
	assert_int_equal(okey_public_hex(k, hex2), 0);
	assert_string_equal(hex, hex2);
	assert_int_equal(okeyring_add(&kr, pub, &err), 0);
	{
		char *env = seal(k, alert_doc);

		open_ok(&kr, env, NOW, &m);
		omsg_clear(&m);
		free(env);
	}

	/* never over an existing private key */
	strcpy(before, slurp(priv));
	assert_int_equal(okey_generate(priv, pub, hex2, &err), -1);
	assert_non_null(strstr(err, "File exists"));
	free(err);
	assert_string_equal(slurp(priv), before);

	/* the public file cannot be written: no private key is left behind */
	{
		char priv2[128], pub2[128];

		snprintf(priv2, sizeof(priv2), "%s/gw2.key", base);
		snprintf(pub2, sizeof(pub2), "%s/nodir/gw2.pub", base);
		assert_int_equal(okey_generate(priv2, pub2, hex2, &err), -1);
		assert_non_null(err);
		free(err);
		assert_int_equal(access(priv2, F_OK), -1);
	}

	/* okey_load_private refuses what is not an Ed25519 private key */
	assert_null(okey_load_private(pub, &err));
	assert_non_null(strstr(err, "no PEM private key"));
	free(err);
	snprintf(priv, sizeof(priv), "%s/missing.key", base);
	assert_null(okey_load_private(priv, &err));
	assert_non_null(strstr(err, "No such file"));
	free(err);
	{
		EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		BIO *bio;

		snprintf(priv, sizeof(priv), "%s/ec.key", base);
		bio = BIO_new_file(priv, "w");
		assert_int_equal(PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
		BIO_free(bio);
		assert_null(okey_load_private(priv, &err));
		assert_non_null(strstr(err, "not an Ed25519 key"));
		free(err);
		EVP_PKEY_free(ec);
	}

	okeyring_free(&kr);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc8032_vector),
	    cmocka_unit_test(test_seal_format),
	    cmocka_unit_test(test_alert_ok),
	    cmocka_unit_test(test_update_ok),
	    cmocka_unit_test(test_allclear_ok),
	    cmocka_unit_test(test_signature_rejected),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_alert_fields_rejected),
	    cmocka_unit_test(test_update_fields_rejected),
	    cmocka_unit_test(test_envelope_rejected),
	    cmocka_unit_test(test_base64_padding),
	    cmocka_unit_test(test_key_rotation),
	    cmocka_unit_test_setup_teardown(test_key_input, setup, teardown),
	    cmocka_unit_test(test_receipt),
	    cmocka_unit_test(test_seal_errors),
	    cmocka_unit_test_setup_teardown(test_okey_generate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
