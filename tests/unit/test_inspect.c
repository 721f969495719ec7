/*
 * Unit tests for inspect: the one inspection path (scan, direction,
 * policy, action, outcome) with a real scanner on the bundled signatures
 * (EICAR), a policy from conf and a quarantine in a temporary directory.
 *
 * Vector tables: a clean message delivered with its status headers (or
 * none); an infected message under each action (pass, reject, drop,
 * quarantine, strip, replace) in each direction, giving the right kind,
 * why, permanence, text and headers, a rewritten copy that is clean, or a
 * stored ID that the quarantine knows; a non-message object under strip
 * and replace (quarantined instead); the unscanned causes (an encrypted
 * zip, a size limit, a scanner that cannot be reached) under tempfail,
 * reject, quarantine and pass; a quarantine that cannot write (refused,
 * temporary, WHY_STORE_FAILED) and one on a full disk (WHY_STORE_FULL,
 * when a tmpfs can be mounted); the direction decided by next hop, client,
 * recipients and the listener; and the small name helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "conf/conf.h"
#include "config.h"
#include "inspect/inspect.h"
#include "policy/policy.h"
#include "scan/scanner.h"
#include "store/quarantine.h"
#include "testnet.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/xalloc.h"

static char dir[64];
static struct pc_config conf;
static struct scanner *scanner, *scanner_down; /* the second: clamd that is not there */
static struct policy pol;
static struct quarantine *q;
static struct notify_templates *templates;

/* ---------------------------------------------------------------- objects */

#define FROM_TO "From: <a@example.org>\r\nTo: <b@example.org>\r\n"
static const char msg_clean[] = FROM_TO "Subject: hello\r\n\r\nhello world\r\n";
static const char msg_eicar[] =
    FROM_TO "Subject: eicar\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--b1\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\n"
            "Content-Disposition: attachment; filename=\"eicar.com\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU\r\n"
            "LUZJTEUhJEgrSCo=\r\n--b1--\r\n";
static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

enum object { O_CLEAN, O_EICAR_MSG, O_EICAR_FILE, O_ENC_ZIP, O_BIG_MSG };

static unsigned char *enc_zip;
static size_t enc_zip_len;
static char *big_msg;

/* A memfd holding the object. */
static int
object_fd(enum object o, uint64_t *size, int *message)
{
	const void *p;
	size_t n;
	int fd = memfd_create("object", 0);

	switch (o) {
	case O_CLEAN:
		p = msg_clean, n = sizeof(msg_clean) - 1, *message = 1;
		break;
	case O_EICAR_MSG:
		p = msg_eicar, n = sizeof(msg_eicar) - 1, *message = 1;
		break;
	case O_EICAR_FILE:
		p = eicar, n = sizeof(eicar) - 1, *message = 0;
		break;
	case O_ENC_ZIP:
		p = enc_zip, n = enc_zip_len, *message = 0;
		break;
	case O_BIG_MSG:
	default:
		p = big_msg, n = strlen(big_msg), *message = 1;
		break;
	}
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	*size = n;
	return fd;
}

/* A zip whose one member is encrypted (zipcrypt). */
static void
make_enc_zip(void)
{
	static const char secret[] = "nothing to see here\n";
	size_t cap = 64 * 1024, used = 0;
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	enc_zip = xmalloc(cap);
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_options(a, "zip:encryption=zipcrypt"), ARCHIVE_OK);
	assert_int_equal(archive_write_set_passphrase(a, "secret"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, enc_zip, cap, &used), ARCHIVE_OK);
	archive_entry_set_pathname(e, "secret.txt");
	archive_entry_set_size(e, sizeof(secret) - 1);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, secret, sizeof(secret) - 1),
	                 (la_ssize_t)sizeof(secret) - 1);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	enc_zip_len = used;
}

/* ------------------------------------------------------------- the context */

static struct sockaddr_storage client_sa, dest_sa;
static const char *rcpts_one[] = {"b@example.org"};

static void
ctx_init(struct inspect_ctx *ctx, int listener_dir)
{
	socklen_t len;

	assert_int_equal(hostport_parse("203.0.113.9:4000", &client_sa, &len), 0);
	assert_int_equal(hostport_parse("127.0.0.1:10026", &dest_sa, &len), 0);
	memset(ctx, 0, sizeof(*ctx));
	ctx->proto = INSPECT_SMTP;
	ctx->listener = "smtp";
	ctx->listener_dir = listener_dir;
	ctx->client = (struct sockaddr *)&client_sa;
	ctx->client_label = "203.0.113.9:4000";
	ctx->dest = (struct sockaddr *)&dest_sa;
	ctx->dest_label = "smtp:127.0.0.1:10026";
	ctx->hostname = "gw.test";
	ctx->helo = "client.test";
	ctx->mail_from = "a@example.org";
	ctx->rcpts = rcpts_one;
	ctx->nrcpts = 1;
}

static char *
copy_text(const struct spool *sp)
{
	uint64_t n = spool_size(sp);
	char *s = xmalloc(n + 1);

	assert_int_equal(spool_pread(sp, s, n, 0), (ssize_t)n);
	s[n] = '\0';
	return s;
}

/* The quarantine knows id, with the direction and names. */
static void
check_stored(struct quarantine *qq, const char *id, enum direction d)
{
	struct q_record r;

	assert_true(quarantine_id_valid(id));
	assert_int_equal(quarantine_get(qq, id, &r), 0);
	assert_string_equal(r.direction, direction_name(d));
	assert_string_equal(r.action, "quarantine");
	assert_string_equal(r.mail_from, "a@example.org");
	assert_non_null(r.path);
	assert_int_equal(access(r.path, R_OK), 0);
	quarantine_record_clear(&r);
}

/* ------------------------------------------------------------ the vectors */

struct expect {
	enum inspect_kind kind;
	enum inspect_why why;
	int permanent;
	const char *text;     /* refusals: the text starts with this */
	const char *headers;  /* the headers contain this ("" none wanted: NULL headers) */
	const char *copy_has; /* DELIVER_COPY: the copy contains this */
	int action;           /* out.dec.action, what was done */
};

static void
check_outcome(const char *row, const struct inspect_outcome *o, const struct expect *e,
              enum direction d, struct quarantine *qq)
{
	if (o->kind != e->kind)
		fail_msg("%s: kind %s, want %s (text \"%s\")", row, inspect_kind_name(o->kind),
		         inspect_kind_name(e->kind), o->text);
	if (o->dir != d)
		fail_msg("%s: direction %s", row, direction_name(o->dir));
	if (o->dec.action != e->action)
		fail_msg("%s: action %s, want %s", row, policy_action_name(o->dec.action),
		         policy_action_name(e->action));
	if (o->kind == INSPECT_REFUSE) {
		assert_int_equal(o->why, e->why);
		assert_int_equal(o->permanent, e->permanent);
		if (strncmp(o->text, e->text, strlen(e->text)) != 0)
			fail_msg("%s: text \"%s\", want \"%s...\"", row, o->text, e->text);
	}
	if (e->headers && e->headers[0] == '\0' && o->headers)
		fail_msg("%s: headers \"%s\", want none", row, o->headers);
	if (e->headers && e->headers[0] && (o->headers == NULL || !strstr(o->headers, e->headers)))
		fail_msg("%s: headers \"%s\", want \"%s\"", row, o->headers ? o->headers : "(none)",
		         e->headers);
	if (o->kind == INSPECT_DELIVER_COPY) {
		char *t;

		assert_non_null(o->copy);
		t = copy_text(o->copy);
		if (strstr(t, "WDVPIVAlQEFQWzRcUFpYNTQo") != NULL)
			fail_msg("%s: the copy still holds the virus", row);
		if (e->copy_has && strstr(t, e->copy_has) == NULL)
			fail_msg("%s: no \"%s\" in the copy:\n%s", row, e->copy_has, t);
		free(t);
	} else
		assert_null(o->copy);
	if (o->kind == INSPECT_STORED)
		check_stored(qq, o->id, d);
	else
		assert_string_equal(o->id, "");
}

static void
run_one(const struct inspect_env *env, enum object ob, int listener_dir,
        struct inspect_outcome *out)
{
	struct inspect_ctx ctx;
	struct inspect_object obj = {.name = "message"};
	int message;

	ctx_init(&ctx, listener_dir);
	obj.fd = object_fd(ob, &obj.size, &message);
	obj.message = message;
	inspect_run(env, &ctx, &obj, out);
	/* the subject, read once on demand */
	assert_string_equal(inspect_subject(&obj, out), ob == O_CLEAN       ? "hello"
	                                                : ob == O_EICAR_MSG ? "eicar"
	                                                : ob == O_BIG_MSG   ? "big"
	                                                                    : "");
	close(obj.fd);
}

static struct inspect_env
env_of(struct scanner *s, struct quarantine *qq)
{
	struct inspect_env e = {s, &pol, qq, templates, NULL, NULL, NULL};

	e.spool_dir = conf.spool_dir;
	return e;
}

/* Each action on an infected message, in each direction. */
static void
test_infected_actions(void **state)
{
	static const struct {
		enum object ob;
		int action;
		struct expect e;
	} v[] = {
	    {O_EICAR_MSG,
	     ACT_PASS,
	     {INSPECT_DELIVER, WHY_NONE, 0, NULL, "X-Virus-Status: infected (Eicar-Test-Signature",
	      NULL, ACT_PASS}},
	    {O_EICAR_MSG,
	     ACT_REJECT,
	     {INSPECT_REFUSE, WHY_INFECTED, 1, "virus found (Eicar-Test-Signature", NULL, NULL,
	      ACT_REJECT}},
	    {O_EICAR_MSG, ACT_DROP, {INSPECT_DROPPED, WHY_NONE, 0, NULL, "", NULL, ACT_DROP}},
	    {O_EICAR_MSG,
	     ACT_QUARANTINE,
	     {INSPECT_STORED, WHY_NONE, 0, NULL, "", NULL, ACT_QUARANTINE}},
	    {O_EICAR_MSG,
	     ACT_STRIP,
	     {INSPECT_DELIVER_COPY, WHY_NONE, 0, NULL, "", "X-Virus-Status: cleaned (Eicar",
	      ACT_STRIP}},
	    {O_EICAR_MSG,
	     ACT_REPLACE,
	     {INSPECT_DELIVER_COPY, WHY_NONE, 0, NULL, "", "This part of the message was replaced",
	      ACT_REPLACE}},
	    /* not a message: nothing to strip, so it is quarantined */
	    {O_EICAR_FILE,
	     ACT_STRIP,
	     {INSPECT_STORED, WHY_NONE, 0, NULL, "", NULL, ACT_QUARANTINE}},
	    /* not a message, replaced: the receiver gets the scanner's report */
	    {O_EICAR_FILE,
	     ACT_REPLACE,
	     {INSPECT_DELIVER_COPY, WHY_NONE, 0, NULL, "", "Eicar-Test-Signature", ACT_REPLACE}},
	    {O_EICAR_FILE, ACT_PASS, {INSPECT_DELIVER, WHY_NONE, 0, NULL, "", NULL, ACT_PASS}},
	    {O_EICAR_FILE,
	     ACT_REJECT,
	     {INSPECT_REFUSE, WHY_INFECTED, 1, "virus found (Eicar-Test-Signature", "", NULL,
	      ACT_REJECT}},
	};
	struct inspect_env env = env_of(scanner, q);
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (int d = DIR_INBOUND; d <= DIR_OUTBOUND; d++) {
			struct inspect_outcome out;
			char row[64];

			/* the other direction would do something else */
			pol.dir[d].infected = v[i].action;
			pol.dir[!d].infected = v[i].action == ACT_DROP ? ACT_REJECT : ACT_DROP;
			snprintf(row, sizeof(row), "row %zu %s", i, direction_name(d));
			run_one(&env, v[i].ob, d == DIR_INBOUND ? LDIR_INBOUND : LDIR_OUTBOUND,
			        &out);
			assert_int_equal(out.verdict.status, SCAN_INFECTED);
			assert_non_null(strstr(out.names, "Eicar-Test-Signature"));
			check_outcome(row, &out, &v[i].e, (enum direction)d, q);
			inspect_outcome_clear(&out);
			inspect_outcome_clear(&out); /* twice is fine */
		}
}

/* Clean: delivered, with the status headers if the direction adds them. */
static void
test_clean(void **state)
{
	static const struct {
		int add_headers;
		struct expect e;
	} v[] = {
	    {1,
	     {INSPECT_DELIVER, WHY_NONE, 0, NULL,
	      "X-Virus-Scanned: Portcullis " PORTCULLIS_VERSION " on gw.test\r\n"
	      "X-Virus-Status: clean\r\n",
	      NULL, ACT_PASS}},
	    {0, {INSPECT_DELIVER, WHY_NONE, 0, NULL, "", NULL, ACT_PASS}},
	};
	struct inspect_env env = env_of(scanner, q);
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct inspect_outcome out;
		char row[32];

		pol.dir[DIR_INBOUND].add_headers = v[i].add_headers;
		snprintf(row, sizeof(row), "clean row %zu", i);
		run_one(&env, O_CLEAN, LDIR_INBOUND, &out);
		assert_int_equal(out.verdict.status, SCAN_CLEAN);
		assert_string_equal(out.names, "");
		check_outcome(row, &out, &v[i].e, DIR_INBOUND, q);
		inspect_outcome_clear(&out);
	}
	pol.dir[DIR_INBOUND].add_headers = 1;
}

/* What was not scanned whole gets what the cause's key says. */
static void
test_unscanned(void **state)
{
	static const struct {
		enum object ob;
		int down; /* the clamd scanner that is not there */
		int action;
		struct expect e;
	} v[] = {
	    {O_ENC_ZIP,
	     0,
	     ACT_TEMPFAIL,
	     {INSPECT_REFUSE, WHY_UNSCANNED, 0, "not scanned: encrypted", NULL, NULL,
	      ACT_TEMPFAIL}},
	    {O_ENC_ZIP,
	     0,
	     ACT_REJECT,
	     {INSPECT_REFUSE, WHY_UNSCANNED, 1, "not scanned: encrypted", NULL, NULL, ACT_REJECT}},
	    {O_ENC_ZIP, 0, ACT_PASS, {INSPECT_DELIVER, WHY_NONE, 0, NULL, "", NULL, ACT_PASS}},
	    {O_ENC_ZIP,
	     0,
	     ACT_QUARANTINE,
	     {INSPECT_STORED, WHY_NONE, 0, NULL, NULL, NULL, ACT_QUARANTINE}},
	    {O_BIG_MSG,
	     0,
	     ACT_TEMPFAIL,
	     {INSPECT_REFUSE, WHY_UNSCANNED, 0, "not scanned: limit", NULL, NULL, ACT_TEMPFAIL}},
	    {O_BIG_MSG,
	     0,
	     ACT_REJECT,
	     {INSPECT_REFUSE, WHY_UNSCANNED, 1, "not scanned: limit", NULL, NULL, ACT_REJECT}},
	    {O_BIG_MSG,
	     0,
	     ACT_PASS,
	     {INSPECT_DELIVER, WHY_NONE, 0, NULL, "X-Portcullis-Unscanned: limit", NULL, ACT_PASS}},
	    {O_CLEAN,
	     1,
	     ACT_TEMPFAIL,
	     {INSPECT_REFUSE, WHY_UNSCANNED, 0, "not scanned: scanner unavailable", NULL, NULL,
	      ACT_TEMPFAIL}},
	    {O_CLEAN,
	     1,
	     ACT_PASS,
	     {INSPECT_DELIVER, WHY_NONE, 0, NULL,
	      "X-Virus-Status: not scanned (scanner unavailable)", NULL, ACT_PASS}},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct inspect_env env = env_of(v[i].down ? scanner_down : scanner, q);
		struct dir_policy *dp = &pol.dir[DIR_INBOUND];
		struct inspect_outcome out;
		char row[32];

		dp->encrypted = dp->limit = dp->scanner_error = v[i].action;
		snprintf(row, sizeof(row), "unscanned row %zu", i);
		run_one(&env, v[i].ob, LDIR_INBOUND, &out);
		assert_int_not_equal(out.verdict.status, SCAN_CLEAN);
		assert_int_not_equal(out.verdict.status, SCAN_INFECTED);
		assert_non_null(out.dec.cause);
		check_outcome(row, &out, &v[i].e, DIR_INBOUND, q);
		inspect_outcome_clear(&out);
	}
}

/* A quarantine that cannot store: refused, temporary, never lost. */
static void
test_store_fails(void **state)
{
	static const struct {
		int action;
		int full; /* a full disk (tmpfs) rather than one that cannot be written */
		struct expect e;
	} v[] = {
	    {ACT_QUARANTINE,
	     0,
	     {INSPECT_REFUSE, WHY_STORE_FAILED, 0, "quarantine failed, try again later", NULL, NULL,
	      ACT_QUARANTINE}},
	    /* strip on a non-message falls back to the quarantine, which fails too */
	    {ACT_STRIP,
	     0,
	     {INSPECT_REFUSE, WHY_STORE_FAILED, 0, "quarantine failed", NULL, NULL,
	      ACT_QUARANTINE}},
	    {ACT_QUARANTINE,
	     1,
	     {INSPECT_REFUSE, WHY_STORE_FULL, 0, "insufficient system storage", NULL, NULL,
	      ACT_QUARANTINE}},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char qdir[128], path[192], *err = NULL;
		struct quarantine *bad;
		struct inspect_env env;
		struct inspect_outcome out;
		time_t now = time(NULL);
		struct tm tm;
		FILE *f;

		snprintf(qdir, sizeof(qdir), "%s/broken%zu", dir, i);
		if (v[i].full) {
			assert_int_equal(mkdir(qdir, 0700), 0);
			if (mount("tmpfs", qdir, "tmpfs", 0, "size=128k") < 0) {
				print_message("skipping the full-disk row: cannot mount a tmpfs\n");
				continue;
			}
		}
		bad = quarantine_open(qdir, &err);
		if (bad == NULL)
			fail_msg("quarantine_open: %s", err);
		if (v[i].full) {
			/* fill the disk */
			char *junk = xcalloc(1, 4096);

			snprintf(path, sizeof(path), "%s/fill", qdir);
			assert_non_null(f = fopen(path, "w"));
			while (fwrite(junk, 1, 4096, f) == 4096 && fflush(f) == 0)
				;
			fclose(f);
			free(junk);
		} else {
			/* today's directory is a file, and the rest is read-only
			 * (which root ignores) */
			gmtime_r(&now, &tm);
			snprintf(path, sizeof(path), "%s/%04d", qdir, tm.tm_year + 1900);
			assert_non_null(f = fopen(path, "w"));
			fclose(f);
			chmod(qdir, 0500);
		}
		env = env_of(scanner, bad);
		pol.dir[DIR_INBOUND].infected = v[i].action;
		run_one(&env, O_EICAR_FILE, LDIR_INBOUND, &out);
		check_outcome("store fails", &out, &v[i].e, DIR_INBOUND, bad);
		inspect_outcome_clear(&out);
		quarantine_free(bad);
		if (v[i].full)
			assert_int_equal(umount2(qdir, MNT_DETACH), 0);
		chmod(qdir, 0700);
	}
}

/* The direction: by next hop, client or recipients; the listener's key wins. */
static void
test_direction(void **state)
{
	static const char *local[] = {"b@example.org", "c@mail.example.org"};
	static const char *mixed[] = {"b@example.org", "eve@elsewhere.test"};
	static const struct {
		int by;
		int listener_dir;
		const char *dest;   /* NULL: a Maildir next hop */
		const char *client; /* host:port */
		int mixed_rcpts;
		enum direction want;
	} v[] = {
	    {DIRBY_NEXTHOP, LDIR_AUTO, "10.1.2.3:25", "203.0.113.9:1", 0, DIR_INBOUND},
	    {DIRBY_NEXTHOP, LDIR_AUTO, "198.51.100.7:25", "203.0.113.9:1", 0, DIR_OUTBOUND},
	    {DIRBY_NEXTHOP, LDIR_AUTO, NULL, "203.0.113.9:1", 0, DIR_INBOUND},
	    {DIRBY_NEXTHOP, LDIR_OUTBOUND, "10.1.2.3:25", "203.0.113.9:1", 0, DIR_OUTBOUND},
	    {DIRBY_NEXTHOP, LDIR_INBOUND, "198.51.100.7:25", "10.1.1.1:1", 0, DIR_INBOUND},
	    {DIRBY_CLIENT, LDIR_AUTO, "198.51.100.7:25", "10.1.1.1:1", 0, DIR_OUTBOUND},
	    {DIRBY_CLIENT, LDIR_AUTO, "10.1.2.3:25", "203.0.113.9:1", 0, DIR_INBOUND},
	    {DIRBY_RECIPIENT, LDIR_AUTO, "10.1.2.3:25", "10.1.1.1:1", 0, DIR_INBOUND},
	    {DIRBY_RECIPIENT, LDIR_AUTO, "10.1.2.3:25", "10.1.1.1:1", 1, DIR_OUTBOUND},
	};
	struct inspect_env env = env_of(scanner, q);
	(void)state;

	pol.dir[DIR_INBOUND].infected = ACT_DROP;
	pol.dir[DIR_OUTBOUND].infected = ACT_REJECT;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sockaddr_storage dest, client;
		struct inspect_ctx ctx;
		struct inspect_object obj = {.name = "message"};
		struct inspect_outcome out;
		socklen_t len;
		int message;

		pol.direction_by = v[i].by;
		ctx_init(&ctx, v[i].listener_dir);
		if (v[i].dest) {
			assert_int_equal(hostport_parse(v[i].dest, &dest, &len), 0);
			ctx.dest = (struct sockaddr *)&dest;
		} else
			ctx.dest = NULL;
		assert_int_equal(hostport_parse(v[i].client, &client, &len), 0);
		ctx.client = (struct sockaddr *)&client;
		ctx.rcpts = v[i].mixed_rcpts ? mixed : local;
		ctx.nrcpts = 2;
		obj.fd = object_fd(O_EICAR_MSG, &obj.size, &message);
		obj.message = message;
		inspect_run(&env, &ctx, &obj, &out);
		if (out.dir != v[i].want)
			fail_msg("row %zu: %s, want %s", i, direction_name(out.dir),
			         direction_name(v[i].want));
		assert_int_equal(out.kind,
		                 v[i].want == DIR_INBOUND ? INSPECT_DROPPED : INSPECT_REFUSE);
		inspect_outcome_clear(&out);
		close(obj.fd);
	}
	pol.direction_by = DIRBY_NEXTHOP;
}

/*
 * FTP: the direction is where the file goes (10.x is internal here), the
 * action is the direction's ftp_infected (infected is for mail), and a
 * quarantined file carries protocol, user and file name.
 */
static void
test_ftp(void **state)
{
	static const struct {
		const char *dest;
		int ftp_in, ftp_out;
		enum direction want_dir;
		enum inspect_kind want;
	} v[] = {
	    {"10.1.2.3:21", ACT_QUARANTINE, ACT_PASS, DIR_INBOUND, INSPECT_STORED},
	    {"198.51.100.7:21", ACT_QUARANTINE, ACT_REJECT, DIR_OUTBOUND, INSPECT_REFUSE},
	    {"198.51.100.7:21", ACT_REJECT, ACT_PASS, DIR_OUTBOUND, INSPECT_DELIVER},
	    {"10.1.2.3:21", ACT_REPLACE, ACT_PASS, DIR_INBOUND, INSPECT_DELIVER_COPY},
	};
	struct inspect_env env = env_of(scanner, q);
	(void)state;

	/* mail's own actions would drop: a wrong key shows */
	pol.dir[DIR_INBOUND].infected = ACT_DROP;
	pol.dir[DIR_OUTBOUND].infected = ACT_DROP;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sockaddr_storage dest;
		struct inspect_ctx ctx;
		struct inspect_object obj = {.name = "eicar.txt"};
		struct inspect_outcome out;
		socklen_t len;
		int message;

		pol.dir[DIR_INBOUND].ftp_infected = v[i].ftp_in;
		pol.dir[DIR_OUTBOUND].ftp_infected = v[i].ftp_out;
		ctx_init(&ctx, LDIR_AUTO);
		ctx.proto = INSPECT_FTP;
		ctx.listener = "ftp";
		ctx.helo = ctx.mail_from = NULL;
		ctx.rcpts = NULL;
		ctx.nrcpts = 0;
		ctx.user = "alice";
		ctx.file_name = "eicar.txt";
		assert_int_equal(hostport_parse(v[i].dest, &dest, &len), 0);
		ctx.dest = (struct sockaddr *)&dest;
		ctx.dest_label = "ftp:10.1.2.3:21";
		obj.fd = object_fd(O_EICAR_FILE, &obj.size, &message);
		obj.message = message;
		inspect_run(&env, &ctx, &obj, &out);
		if (out.dir != v[i].want_dir || out.kind != v[i].want)
			fail_msg("row %zu: %s %s, want %s %s", i, direction_name(out.dir),
			         inspect_kind_name(out.kind), direction_name(v[i].want_dir),
			         inspect_kind_name(v[i].want));
		if (out.kind == INSPECT_STORED) {
			struct q_record r;

			assert_int_equal(quarantine_get(q, out.id, &r), 0);
			assert_string_equal(r.protocol, "ftp");
			assert_string_equal(r.user, "alice");
			assert_string_equal(r.file_name, "eicar.txt");
			assert_int_equal(r.nrcpts, 0);
			quarantine_record_clear(&r);
		}
		if (out.kind == INSPECT_DELIVER_COPY) {
			char *t = copy_text(out.copy);

			assert_non_null(strstr(t, "Eicar-Test-Signature"));
			assert_null(strstr(t, "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"));
			free(t);
		}
		inspect_outcome_clear(&out);
		close(obj.fd);
	}
}

static void
test_names(void **state)
{
	static const struct {
		int action;
		const char *past;
	} acts[] = {
	    {ACT_DROP, "dropped"},
	    {ACT_QUARANTINE, "quarantined"},
	    {ACT_STRIP, "delivered without the infected parts"},
	    {ACT_REPLACE, "delivered with the infected parts replaced by a report"},
	    {ACT_PASS, "handled"},
	    {ACT_REJECT, "handled"},
	};
	static const struct {
		enum inspect_kind k;
		const char *name;
	} kinds[] = {
	    {INSPECT_DELIVER, "deliver"}, {INSPECT_DELIVER_COPY, "deliver-copy"},
	    {INSPECT_REFUSE, "refuse"},   {INSPECT_STORED, "stored"},
	    {INSPECT_DROPPED, "dropped"}, {(enum inspect_kind)42, "?"},
	};
	struct inspect_outcome zero;
	(void)state;

	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		assert_string_equal(inspect_action_past(acts[i].action), acts[i].past);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_string_equal(inspect_kind_name(kinds[i].k), kinds[i].name);
	memset(&zero, 0, sizeof(zero));
	inspect_outcome_clear(&zero);
}

/* ---------------------------------------------------------------- fixture */

static void
set(const char *section, const char *key, const char *value)
{
	if (conf_set(&conf, section, key, value, stderr) != 0)
		fail_msg("conf_set %s.%s", section, key);
}

static int
group_setup(void **state)
{
	const char *src = getenv("PC_SRCDIR");
	char path[512], *err = NULL;
	size_t n;

	assert_non_null(src);
	tn_tmpdir(dir, sizeof(dir), "pc-inspect");
	conf_defaults(&conf);
	snprintf(path, sizeof(path), "%s/sigs", src);
	set("scan", "database_dir", path);
	set("scan", "cache_dir", "");
	set("scan", "threads", "1");
	set("scan", "max_file_size", "64k");
	set("log", "verdicts", "no");
	set("daemon", "spool_dir", dir);
	snprintf(path, sizeof(path), "%s/templates", src);
	set("notify", "template_dir", path);
	if ((scanner = scanner_new(&conf, &err)) == NULL)
		fail_msg("scanner_new: %s", err);
	set("scan", "backend", "clamd");
	set("scan", "clamd_socket", "/nonexistent/clamd.sock");
	set("scan", "clamd_connect_timeout", "200ms");
	if ((scanner_down = scanner_new(&conf, &err)) == NULL)
		fail_msg("scanner_new (clamd): %s", err);
	set("policy", "internal_domains", "example.org");
	assert_int_equal(policy_init(&pol, &conf, &err), 0);
	snprintf(path, sizeof(path), "%s/q", dir);
	if ((q = quarantine_open(path, &err)) == NULL)
		fail_msg("quarantine_open: %s", err);
	if ((templates = notify_templates_load(conf.notify_template_dir, &err)) == NULL)
		fail_msg("templates: %s", err);
	make_enc_zip();
	big_msg = xmalloc(128 * 1024);
	n = (size_t)snprintf(big_msg, 128 * 1024, FROM_TO "Subject: big\r\n\r\n");
	while (n < 100 * 1024)
		n += (size_t)snprintf(big_msg + n, 128 * 1024 - n, "a line of text %08zu\r\n", n);
	return 0;
}

static int
group_teardown(void **state)
{
	scanner_free(scanner);
	scanner_free(scanner_down);
	policy_free(&pol);
	quarantine_free(q);
	notify_templates_free(templates);
	conf_free(&conf);
	free(enc_zip);
	free(big_msg);
	tn_rmrf(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean),     cmocka_unit_test(test_infected_actions),
	    cmocka_unit_test(test_unscanned), cmocka_unit_test(test_store_fails),
	    cmocka_unit_test(test_direction), cmocka_unit_test(test_names),
	    cmocka_unit_test(test_ftp),
	};

	log_init("test_inspect", 0, getenv("PC_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
