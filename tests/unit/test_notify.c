/*
 * Unit tests for policy/notify: variable substitution (table), sanitizing
 * of values, the templates in templates/ agreeing with the built-in
 * defaults, missing files falling back, broken files refused, complete
 * notices (header fields, CRLF, header injection attempts, RFC 2047
 * subjects decoded back by GMime, long lines), and the Subject of an
 * original message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "mail/notify.h"
#include "scan/mailwalk.h"

static const char *const names[] = {NOTIFY_RECIPIENT, NOTIFY_SENDER, NOTIFY_ADMIN, NOTIFY_REMOVED,
                                    NOTIFY_REPORT};

/* A fresh temporary directory; caller removes it with rm_dir. */
static char *
mk_dir(void)
{
	char *d = strdup("/tmp/pc_notify_XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void
put_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void
rm_dir(char *dir)
{
	char path[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.txt", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	free(dir);
}

/* Templates from one file (which.txt) in a temporary directory. */
static struct notify_templates *
load_one(const char *which, const char *text, size_t len, char **err)
{
	char *dir = mk_dir(), file[64];
	struct notify_templates *t;

	snprintf(file, sizeof(file), "%s.txt", which);
	put_file(dir, file, text, len);
	t = notify_templates_load(dir, err);
	rm_dir(dir);
	return t;
}

static void
test_substitution(void **state)
{
	static const struct {
		const char *tpl, *want;
	} rows[] = {
	    {"%ID%|%VIRUS%|%FROM%|%RCPTS%|%SUBJECT%|%DATE%|%ACTION%",
	     "Q1|Eicar,Other|a@x|b@y,c@z|hello|Mon|quarantined"},
	    {"%CLIENT% %HOSTNAME% %PART% %FILENAME% %DIRECTION%",
	     "[192.0.2.1]:25 gw.example 2.1 a.zip inbound"},
	    {"hint: %RELEASE_HINT%", "hint: Ask for Q1, please."},
	    {"%UNKNOWN% %id% 100% %% %ID", "%UNKNOWN% %id% 100% %% %ID"},
	    {"50%%ID%", "50%Q1"},
	    {"%ID%%ID%", "Q1Q1"},
	    {"no variables\nsecond line\n", "no variables\nsecond line\n"},
	    {"", ""},
	};
	struct notify_vars v = {
	    .id = "Q1",
	    .virus = "Eicar,Other",
	    .from = "a@x",
	    .rcpts = "b@y,c@z",
	    .subject = "hello",
	    .date = "Mon",
	    .action = "quarantined",
	    .client = "[192.0.2.1]:25",
	    .hostname = "gw.example",
	    .release_hint = "Ask for %ID%, please.",
	    .part = "2.1",
	    .filename = "a.zip",
	    .direction = "inbound",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *err = NULL, *s;
		struct notify_templates *t =
		    load_one("removed", rows[i].tpl, strlen(rows[i].tpl), &err);

		assert_non_null(t);
		s = notify_render(t, NOTIFY_REMOVED, &v);
		assert_string_equal(s, rows[i].want);
		free(s);
		notify_templates_free(t);
	}
}

/* Values are put in as text, once: never expanded, never raw control bytes. */
static void
test_values(void **state)
{
	static const struct {
		const char *val, *want;
	} rows[] = {
	    {"%ID%", "%ID%"},
	    {"a\r\nBcc: evil@example.com", "a  Bcc: evil@example.com"},
	    {"tab\there", "tab here"},
	    {"bell\x07 del\x7f", "bell? del?"},
	    {"bad \xff\xfe utf8", "bad ?? utf8"},
	    {"overlong \xc0\xaf", "overlong ??"},
	    {"c1 \xc2\x85 nel", "c1 ? nel"},
	    {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
	    {NULL, ""},
	};
	struct notify_templates *t;
	char *err = NULL;
	(void)state;

	t = load_one("removed", "[%SUBJECT%]", strlen("[%SUBJECT%]"), &err);
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct notify_vars v = {.id = "Q9", .subject = rows[i].val};
		char *s = notify_render(t, NOTIFY_REMOVED, &v), want[256];

		snprintf(want, sizeof(want), "[%s]", rows[i].want);
		assert_string_equal(s, want);
		free(s);
	}
	/* Long values are cut at a character boundary, marked "...". */
	{
		char big[3 * NOTIFY_VALUE_MAX];
		struct notify_vars v;
		char *s;
		size_t n;

		for (size_t i = 0; i + 2 < sizeof(big); i += 2)
			memcpy(big + i, "\xc3\xa9", 2);
		big[sizeof(big) - 1] = '\0';
		memset(&v, 0, sizeof(v));
		v.subject = big;
		s = notify_render(t, NOTIFY_REMOVED, &v);
		n = strlen(s);
		assert_true(n <= NOTIFY_VALUE_MAX + 2);
		assert_memory_equal(s + n - 4, "...]", 4);
		/* Still valid UTF-8: the byte before "..." ends a character. */
		assert_int_equal((unsigned char)s[n - 5], 0xa9);
		free(s);
	}
	notify_templates_free(t);
}

/* templates/ and the defaults compiled in say the same. */
static void
test_files_match_defaults(void **state)
{
	const char *src = getenv("PC_SRCDIR");
	struct notify_vars v = {.id = "ID",
	                        .virus = "V",
	                        .from = "F",
	                        .rcpts = "R",
	                        .subject = "S",
	                        .date = "D",
	                        .action = "A",
	                        .client = "C",
	                        .hostname = "H",
	                        .release_hint = "RH %ID%",
	                        .part = "P",
	                        .filename = "FN",
	                        .direction = "DIR"};
	struct notify_templates *files, *builtin;
	char dir[512], *err = NULL;
	(void)state;

	snprintf(dir, sizeof(dir), "%s/templates", src ? src : ".");
	files = notify_templates_load(dir, &err);
	if (files == NULL)
		fail_msg("%s", err);
	builtin = notify_templates_load(NULL, &err);
	assert_non_null(builtin);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *a = notify_render(files, names[i], &v),
		     *b = notify_render(builtin, names[i], &v);
		char *sa = notify_render_subject(files, names[i], &v);
		char *sb = notify_render_subject(builtin, names[i], &v);
		char path[600];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s.txt", dir, names[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_string_equal(a, b);
		assert_string_equal(sa, sb);
		assert_true(strlen(a) > 20);
		free(a);
		free(b);
		free(sa);
		free(sb);
	}
	/* The notices that matter say what they must. */
	{
		char *r = notify_render(files, NOTIFY_RECIPIENT, &v);

		assert_non_null(strstr(r, "RH ID"));
		assert_non_null(strstr(r, "Message ID: ID"));
		free(r);
		r = notify_render(files, NOTIFY_REMOVED, &v);
		assert_string_equal(r, "The attachment FN was removed by Portcullis because it "
		                       "contains V.\n");
		free(r);
	}
	assert_null(notify_render(files, "nosuch", &v));
	assert_null(notify_render_subject(files, "nosuch", &v));
	notify_templates_free(files);
	notify_templates_free(builtin);
}

/* A missing file gets the default; the others are read. */
static void
test_missing_falls_back(void **state)
{
	struct notify_templates *t, *def;
	char *dir = mk_dir(), *err = NULL, *a, *b;
	(void)state;

	{
		static const char txt[] = "Subject: custom %ID%\r\n\r\nCustom body %VIRUS%\r\n";

		put_file(dir, "admin.txt", txt, strlen(txt));
	}
	t = notify_templates_load(dir, &err);
	assert_non_null(t);
	def = notify_templates_load(NULL, &err);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct notify_vars v = {.id = "Q", .virus = "V"};

		a = notify_render(t, names[i], &v);
		b = notify_render(def, names[i], &v);
		if (strcmp(names[i], NOTIFY_ADMIN) == 0) {
			assert_string_equal(a, "Custom body V\n");
			free(a);
			a = notify_render_subject(t, names[i], &v);
			assert_string_equal(a, "custom Q");
		} else {
			assert_string_equal(a, b);
		}
		free(a);
		free(b);
	}
	notify_templates_free(t);
	notify_templates_free(def);
	/* A directory that does not exist: every default. */
	t = notify_templates_load("/nonexistent/pc-templates", &err);
	assert_non_null(t);
	notify_templates_free(t);
	rm_dir(dir);
}

/* Files an admin broke are refused with the file's name. */
static void
test_broken_files(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		const char *want, *subject, *body; /* want: error substring, or NULL */
	} rows[] = {
	    {"Subject: x\nno blank line\n", 25, "blank line", NULL, NULL},
	    {"Subject: x\n\nbody\0more\n", 22, "NUL", NULL, NULL},
	    {"Subject: x\n\n\xff\xfe\n", 15, "UTF-8", NULL, NULL},
	    {"no subject line\nbody\n", 21, NULL, "Attachment removed", "no subject line\nbody\n"},
	    {"subject: lower case\n\nb\n", 23, NULL, "lower case", "b\n"},
	    {"Subject:   spaced  \n\n", 21, NULL, "spaced", ""},
	    {"Subject: only", 13, NULL, "only", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *err = NULL;
		struct notify_templates *t = load_one("removed", rows[i].text, rows[i].len, &err);

		if (rows[i].want) {
			assert_null(t);
			assert_non_null(err);
			if (strstr(err, rows[i].want) == NULL || strstr(err, "removed.txt") == NULL)
				fail_msg("row %zu: error \"%s\"", i, err);
			free(err);
		} else {
			char *s, *b;

			assert_non_null(t);
			s = notify_render_subject(t, NOTIFY_REMOVED, NULL);
			b = notify_render(t, NOTIFY_REMOVED, NULL);
			assert_string_equal(s, rows[i].subject);
			assert_string_equal(b, rows[i].body);
			free(s);
			free(b);
			notify_templates_free(t);
		}
	}
	/* Too large. */
	{
		size_t n = NOTIFY_TEMPLATE_MAX + 1;
		char *big = malloc(n), *err = NULL;

		memset(big, 'a', n);
		assert_null(load_one("report", big, n, &err));
		assert_non_null(strstr(err, "larger"));
		free(err);
		free(big);
	}
}

/* Header field value of name in msg (first line only); static buffer. */
static const char *
field(const char *msg, const char *name)
{
	static char val[1024];
	size_t nl = strlen(name);

	for (const char *p = msg; *p && !(p[0] == '\r' && p[1] == '\n');) {
		const char *e = strstr(p, "\r\n");

		assert_non_null(e);
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			snprintf(val, sizeof(val), "%.*s", (int)(e - p - nl - 2), p + nl + 2);
			return val;
		}
		p = e + 2;
	}
	return NULL;
}

/* Every line ends in CRLF and is at most 998 bytes; the header block holds no injected field. */
static void
check_wire_form(const char *m)
{
	size_t n = strlen(m), line = 0;

	assert_true(n > 4);
	assert_memory_equal(m + n - 2, "\r\n", 2);
	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\n') {
			assert_true(i > 0 && m[i - 1] == '\r');
			line = 0;
		} else if (m[i] == '\r') {
			assert_true(m[i + 1] == '\n');
		} else {
			assert_true(++line <= 998);
		}
	}
}

static void
test_message(void **state)
{
	struct notify_vars v = {.id = "0123456789abcdef",
	                        .virus = "Eicar-Test-Signature",
	                        .from = "eve@example.net\r\nBcc: victim@example.org",
	                        .rcpts = "bob@example.org",
	                        .subject = "Invoice\r\nBcc: x@y",
	                        .action = "quarantined",
	                        .hostname = "gw.example.com",
	                        .release_hint = "Ask your postmaster to release message %ID%."};
	struct notify_templates *t;
	char *err = NULL, *m;
	GMimeMessage *gm;
	GMimeParser *p;
	GMimeStream *st;
	(void)state;

	mailwalk_global_init();
	t = notify_templates_load(NULL, &err);
	m = notify_message(t, NOTIFY_RECIPIENT, &v, "postmaster@gw.example.com", "bob@example.org");
	assert_non_null(m);
	check_wire_form(m);
	assert_string_equal(field(m, "From"), "Portcullis <postmaster@gw.example.com>");
	assert_string_equal(field(m, "To"), "<bob@example.org>");
	assert_string_equal(field(m, "Subject"),
	                    "[Portcullis] Virus found in a message to you: quarantined");
	assert_string_equal(field(m, "Auto-Submitted"), "auto-replied");
	assert_string_equal(field(m, "Precedence"), "bulk");
	assert_string_equal(field(m, "MIME-Version"), "1.0");
	assert_string_equal(field(m, "Content-Type"), "text/plain; charset=utf-8");
	assert_string_equal(field(m, "Content-Transfer-Encoding"), "8bit");
	assert_non_null(field(m, "Date"));
	assert_null(field(m, "Bcc"));
	{
		const char *id = field(m, "Message-ID");

		assert_non_null(id);
		assert_int_equal(strlen(id), 1 + 32 + 1 + strlen("gw.example.com") + 1);
		assert_int_equal(id[0], '<');
		assert_non_null(strstr(id, "@gw.example.com>"));
	}
	/* The injection attempts end up as text in the body, on their line. */
	assert_non_null(strstr(m, "  From:       eve@example.net  Bcc: victim@example.org\r\n"));
	assert_non_null(strstr(m, "  Subject:    Invoice  Bcc: x@y\r\n"));
	assert_non_null(strstr(m, "Ask your postmaster to release message 0123456789abcdef.\r\n"));
	/* GMime reads it back. */
	st = g_mime_stream_mem_new_with_buffer(m, strlen(m));
	p = g_mime_parser_new_with_stream(st);
	gm = g_mime_parser_construct_message(p, NULL);
	assert_non_null(gm);
	assert_string_equal(g_mime_message_get_subject(gm),
	                    "[Portcullis] Virus found in a message to you: quarantined");
	g_object_unref(gm);
	g_object_unref(p);
	g_object_unref(st);
	free(m);

	/* Two Message-IDs differ. */
	{
		char *a = notify_message(t, NOTIFY_ADMIN, &v, "a@b", "c@d");
		char *b = notify_message(t, NOTIFY_ADMIN, &v, "a@b", "c@d");
		char ida[128];

		snprintf(ida, sizeof(ida), "%s", field(a, "Message-ID"));
		assert_string_not_equal(ida, field(b, "Message-ID"));
		free(a);
		free(b);
	}
	/* Hostile or empty addresses, unknown templates: no message. */
	{
		static const char *const bad[] = {"",
		                                  "a@b\r\nBcc: c@d",
		                                  "a b@c",
		                                  "<a@b>",
		                                  "a@b,c@d",
		                                  "a\"b@c",
		                                  "a@b\x7f",
		                                  "a@b@c",
		                                  "\"a>b\"@c",
		                                  "\"a\\b\"@c",
		                                  "\"ab\"c@d",
		                                  "\"a\rb\"@c",
		                                  "\"unterminated@c",
		                                  "a@",
		                                  "@b",
		                                  "a@b c",
		                                  "\xff@b"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_null(notify_message(t, NOTIFY_SENDER, &v, "pm@x", bad[i]));
			assert_null(notify_message(t, NOTIFY_SENDER, &v, bad[i], "pm@x"));
		}
		assert_null(notify_message(t, NOTIFY_SENDER, &v, NULL, "pm@x"));
		assert_null(notify_message(t, "nosuch", &v, "pm@x", "a@b"));
	}
	/* Quoted local parts, UTF-8 and bare local parts are fine. */
	{
		static const char *const good[] = {"\"john doe\"@example.com",
		                                   "j\xc3\xb6rg@b\xc3\xbc.de", "postmaster",
		                                   "a+tag@x.example"};

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			char want[300];

			m = notify_message(t, NOTIFY_SENDER, &v, "pm@x", good[i]);
			assert_non_null(m);
			snprintf(want, sizeof(want), "<%s>", good[i]);
			assert_string_equal(field(m, "To"), want);
			free(m);
		}
	}
	/* A bad host name never reaches the Message-ID. */
	{
		struct notify_vars h = {.hostname = "evil>\r\nX: y"};

		m = notify_message(t, NOTIFY_ADMIN, &h, "a@b", "c@d");
		assert_non_null(strstr(field(m, "Message-ID"), "@localhost>"));
		free(m);
	}
	notify_templates_free(t);
}

/* Non-ASCII subjects are RFC 2047-encoded, folded, and decode back. */
static void
test_subject_encoding(void **state)
{
	static const char *const subjects[] = {
	    "Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln",
	    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac long euro "
	    "run",
	    "\xf0\x9f\x98\x80 emoji and =?UTF-8?B?fake?= word",
	    "plain ascii subject",
	};
	struct notify_templates *t;
	char *err = NULL;
	(void)state;

	mailwalk_global_init();
	t = load_one("sender", "Subject: %SUBJECT%\n\nbody\n",
	             strlen("Subject: %SUBJECT%\n\nbody\n"), &err);
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		struct notify_vars v = {.subject = subjects[i]};
		char *m = notify_message(t, NOTIFY_SENDER, &v, "a@b", "c@d"), *raw, *dec;
		const char *s = strstr(m, "\r\nSubject: ") + 11, *e = s;
		size_t o = 0;
		int ascii = 1;

		check_wire_form(m);
		/* The raw field: up to the first line that is not a continuation. */
		while (!(e[0] == '\r' && e[1] == '\n' && e[2] != ' '))
			e++;
		raw = malloc((size_t)(e - s) + 1);
		for (const char *p = s; p < e; p++) {
			if (*p == '\r' || *p == '\n')
				continue;
			if ((unsigned char)*p >= 0x80)
				ascii = 0;
			raw[o++] = *p;
		}
		raw[o] = '\0';
		assert_true(ascii);
		/* Each folded line stays short ("Subject: " is 9 bytes before s). */
		for (const char *p = s, *ls = s - 9; p <= e; p++) {
			if (p[0] == '\r') {
				assert_true(p - ls <= 78);
				ls = p + 2;
			}
		}
		if (strcmp(subjects[i], "plain ascii subject") == 0)
			assert_string_equal(raw, subjects[i]);
		else
			assert_memory_equal(raw, "=?UTF-8?B?", 10);
		dec = g_mime_utils_header_decode_text(NULL, raw);
		assert_string_equal(dec, subjects[i]);
		g_free(dec);
		free(raw);
		free(m);
	}
	notify_templates_free(t);
}

/* Long body lines are wrapped at 998 bytes, on a character boundary. */
static void
test_long_lines(void **state)
{
	struct notify_templates *t;
	char *err = NULL, *m, val[NOTIFY_VALUE_MAX + 1];
	struct notify_vars v;
	(void)state;

	t = load_one("admin", "Subject: s\n\n%VIRUS%%FROM%%SUBJECT%\n", 35, &err);
	assert_non_null(t);
	for (size_t i = 0; i + 3 <= NOTIFY_VALUE_MAX; i += 3)
		memcpy(val + i, "\xe2\x82\xac", 3);
	val[NOTIFY_VALUE_MAX - NOTIFY_VALUE_MAX % 3] = '\0';
	memset(&v, 0, sizeof(v));
	v.virus = v.from = v.subject = val;
	m = notify_message(t, NOTIFY_ADMIN, &v, "a@b", "c@d");
	check_wire_form(m);
	/* Every body line is whole characters: split only before a lead byte. */
	for (const char *p = strstr(m, "\r\n\r\n") + 4; *p; p++)
		if (p[0] == '\n')
			assert_true(((unsigned char)p[1] & 0xc0) != 0x80);
	free(m);
	notify_templates_free(t);
}

static int
msg_fd(const char *msg)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	return fd;
}

static void
test_subject_of(void **state)
{
	static const struct {
		const char *msg, *want; /* want NULL: -1 */
	} rows[] = {
	    {"From: a\r\nSubject: hello world\r\n\r\nbody\r\n", "hello world"},
	    {"From: a\nSubject: folded\n  over lines\nTo: b\n\nbody\n", "folded  over lines"},
	    {"subject: =?UTF-8?B?R3LDvMOfZQ==?= =?ISO-8859-1?Q?K=F6ln?=\n\n", "Gr\xc3\xbc\xc3\x9f"
	                                                                      "eK\xc3\xb6ln"},
	    {"Subject: =?UTF-8?Q?a=0D=0ABcc:_x@y?=\n\n", "a  Bcc: x@y"},
	    {"Subject: raw utf-8 \xc3\xa9t\xc3\xa9\n\n", "raw utf-8 \xc3\xa9t\xc3\xa9"},
	    {"From: a\n\nSubject: in the body\n", NULL},
	    {"From: a\nX-Subject: no\n\n", NULL},
	    {"", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int fd = msg_fd(rows[i].msg);
		char out[128];
		int r = notify_subject_of(fd, strlen(rows[i].msg), out, sizeof(out));

		if (rows[i].want == NULL) {
			assert_int_equal(r, -1);
			assert_string_equal(out, "");
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(out, rows[i].want);
		}
		close(fd);
	}
	/* Cut to the buffer, on a character boundary. */
	{
		int fd = msg_fd("Subject: \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n\n");
		char out[8];

		assert_int_equal(notify_subject_of(fd, 21, out, sizeof(out)), 0);
		assert_string_equal(out, "\xc3\xa9\xc3\xa9...");
		close(fd);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_substitution),         cmocka_unit_test(test_values),
	    cmocka_unit_test(test_files_match_defaults), cmocka_unit_test(test_missing_falls_back),
	    cmocka_unit_test(test_broken_files),         cmocka_unit_test(test_message),
	    cmocka_unit_test(test_subject_encoding),     cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_subject_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
