/*
 * notify: template files, variable substitution, sanitizing of every value,
 * and the assembly of a notice as an RFC 5322 message. Owns the loaded
 * templates. It neither decides who is notified (policy) nor sends (the
 * SMTP client); rewrite borrows removed / report for replaced parts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "mail/notify.h"
#include "scan/mailwalk.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/strutil.h"
#include "util/strbuf.h"
#include "util/sys.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define NOTIFY_LINE_MAX 998 /* RFC 5322 line length, without CRLF */
#define NOTIFY_EW_RAW 39    /* bytes per RFC 2047 encoded word: 52 base64 characters */

enum notify_which {
	NT_RECIPIENT = 0,
	NT_SENDER,
	NT_ADMIN,
	NT_REMOVED,
	NT_REPORT,
	NT_FTP_ADMIN,
	NT_FTP_REPORT,
	NT_HELD,
	NT_HELD_PART,
	NT_COUNT
};

struct notify_tpl {
	char *subject;
	char *body;
};

struct notify_templates {
	struct notify_tpl t[NT_COUNT];
};

/*
 * The defaults compiled in; templates/ holds the same text (a unit test
 * checks that they agree).
 */
static const struct {
	const char *name, *subject, *body;
} defaults[NT_COUNT] = {
    [NT_RECIPIENT] = {NOTIFY_RECIPIENT, "[Portcullis] Virus found in a message to you: %ACTION%",
                      "A message addressed to you contained a virus and was not delivered as it\n"
                      "was sent.\n"
                      "\n"
                      "  Virus:      %VIRUS%\n"
                      "  Action:     %ACTION%\n"
                      "  From:       %FROM%\n"
                      "  To:         %RCPTS%\n"
                      "  Subject:    %SUBJECT%\n"
                      "  Received:   %DATE%\n"
                      "  Message ID: %ID%\n"
                      "\n"
                      "%RELEASE_HINT%\n"
                      "\n"
                      "-- \n"
                      "Portcullis virus gateway on %HOSTNAME%\n"},
    [NT_SENDER] = {NOTIFY_SENDER, "[Portcullis] Your message contained a virus: %ACTION%",
                   "A message you sent contained a virus and was not delivered as it was\n"
                   "sent.\n"
                   "\n"
                   "  Virus:      %VIRUS%\n"
                   "  Action:     %ACTION%\n"
                   "  To:         %RCPTS%\n"
                   "  Subject:    %SUBJECT%\n"
                   "  Received:   %DATE%\n"
                   "\n"
                   "Please check your computer with an up-to-date virus scanner before you\n"
                   "send the message again.\n"
                   "\n"
                   "-- \n"
                   "Portcullis virus gateway on %HOSTNAME%\n"},
    [NT_ADMIN] = {NOTIFY_ADMIN, "[Portcullis] %DIRECTION% virus %VIRUS%: %ACTION%",
                  "Portcullis found a virus in a message.\n"
                  "\n"
                  "  Virus:      %VIRUS%\n"
                  "  Action:     %ACTION%\n"
                  "  Direction:  %DIRECTION%\n"
                  "  Client:     %CLIENT%\n"
                  "  From:       %FROM%\n"
                  "  To:         %RCPTS%\n"
                  "  Subject:    %SUBJECT%\n"
                  "  Received:   %DATE%\n"
                  "  Message ID: %ID%\n"
                  "\n"
                  "-- \n"
                  "Portcullis virus gateway on %HOSTNAME%\n"},
    [NT_REMOVED] = {NOTIFY_REMOVED, "Attachment removed",
                    "The attachment %FILENAME% was removed by Portcullis because it contains "
                    "%VIRUS%.\n"},
    [NT_REPORT] = {NOTIFY_REPORT, "Virus report",
                   "This part of the message was replaced by Portcullis because it contains\n"
                   "a virus.\n"
                   "\n"
                   "  Part:       %PART%\n"
                   "  File name:  %FILENAME%\n"
                   "  Virus:      %VIRUS%\n"
                   "  Scanned:    %DATE% on %HOSTNAME%\n"},
    [NT_FTP_ADMIN] = {NOTIFY_FTP_ADMIN, "[Portcullis] %DIRECTION% FTP virus %VIRUS%: %ACTION%",
                      "Portcullis found a virus in a file transferred over FTP.\n"
                      "\n"
                      "  Virus:      %VIRUS%\n"
                      "  Action:     %ACTION%\n"
                      "  Direction:  %DIRECTION%\n"
                      "  Command:    %COMMAND%\n"
                      "  File name:  %FILENAME%\n"
                      "  Client:     %CLIENT%\n"
                      "  User:       %USER%\n"
                      "  Server:     %SERVER%\n"
                      "  Received:   %DATE%\n"
                      "  Quarantine: %ID%\n"
                      "\n"
                      "-- \n"
                      "Portcullis virus gateway on %HOSTNAME%\n"},
    [NT_FTP_REPORT] = {NOTIFY_FTP_REPORT, "Virus report",
                       "This file was replaced by Portcullis because it contains a virus.\n"
                       "\n"
                       "  File name:  %FILENAME%\n"
                       "  Virus:      %VIRUS%\n"
                       "  Scanned:    %DATE% on %HOSTNAME%\n"},
    [NT_HELD] = {NOTIFY_HELD, "[Portcullis] A message to you is held: outbreak alert %ALERT%",
                 "A message addressed to you is held by Portcullis because a virus outbreak\n"
                 "is under way and no signature for it exists yet. It will be scanned again\n"
                 "and delivered as soon as the signature arrives, if it is clean.\n"
                 "\n"
                 "  Alert:      %ALERT% (%VIRUS%)\n"
                 "  From:       %FROM%\n"
                 "  To:         %RCPTS%\n"
                 "  Subject:    %SUBJECT%\n"
                 "  Received:   %DATE%\n"
                 "  Held as:    %ID%\n"
                 "\n"
                 "-- \n"
                 "Portcullis virus gateway on %HOSTNAME%\n"},
    [NT_HELD_PART] = {NOTIFY_HELD_PART, "Attachment held",
                      "The attachment %FILENAME% is held by Portcullis during virus outbreak "
                      "alert %ALERT% (%VIRUS%). The whole message is held as %ID% and will be "
                      "delivered once it is scanned with the new signatures.\n"},
};

/* Index of a template name, or -1. */
static int
which_index(const char *which)
{
	if (which == NULL)
		return -1;
	for (int i = 0; i < NT_COUNT; i++)
		if (strcmp(defaults[i].name, which) == 0)
			return i;
	return -1;
}

/* A sanitized copy of a value, at most NOTIFY_VALUE_MAX bytes; caller frees. */
static char *
clean_value(const char *in)
{
	char *out = xmalloc(NOTIFY_VALUE_MAX + 1);

	sanitize(in, out, NOTIFY_VALUE_MAX + 1, SAN_VALUE);
	return out;
}

/* The value of variable name (namelen bytes), or NULL if it is not one. */
static const char *
var_lookup(const struct notify_vars *v, const char *name, size_t namelen)
{
	static const struct {
		const char *name;
		size_t off;
	} vars[] = {
	    {"ID", offsetof(struct notify_vars, id)},
	    {"VIRUS", offsetof(struct notify_vars, virus)},
	    {"FROM", offsetof(struct notify_vars, from)},
	    {"RCPTS", offsetof(struct notify_vars, rcpts)},
	    {"SUBJECT", offsetof(struct notify_vars, subject)},
	    {"DATE", offsetof(struct notify_vars, date)},
	    {"ACTION", offsetof(struct notify_vars, action)},
	    {"CLIENT", offsetof(struct notify_vars, client)},
	    {"HOSTNAME", offsetof(struct notify_vars, hostname)},
	    {"RELEASE_HINT", offsetof(struct notify_vars, release_hint)},
	    {"PART", offsetof(struct notify_vars, part)},
	    {"FILENAME", offsetof(struct notify_vars, filename)},
	    {"DIRECTION", offsetof(struct notify_vars, direction)},
	    {"USER", offsetof(struct notify_vars, user)},
	    {"SERVER", offsetof(struct notify_vars, server)},
	    {"COMMAND", offsetof(struct notify_vars, command)},
	    {"ALERT", offsetof(struct notify_vars, alert)},
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (strlen(vars[i].name) == namelen && memcmp(vars[i].name, name, namelen) == 0) {
			const char *val = *(const char *const *)((const char *)v + vars[i].off);

			return val ? val : "";
		}
	}
	return NULL;
}

/*
 * Substitutes the variables of text in one pass; with id_only, %ID% only
 * and unsanitized (for the release hint, which is sanitized as a whole
 * where it is used). Caller frees.
 */
static char *
expand(const char *text, const struct notify_vars *v, int id_only)
{
	struct sbuf b = {0};
	const char *p = text;

	while (*p) {
		const char *pct = strchr(p, '%'), *end, *val = NULL;
		size_t nl = 0;

		if (pct == NULL) {
			sb_adds(&b, p);
			break;
		}
		sb_add(&b, p, (size_t)(pct - p));
		end = strchr(pct + 1, '%');
		if (end) {
			nl = (size_t)(end - pct - 1);
			if (!id_only)
				val = var_lookup(v, pct + 1, nl);
			else if (nl == 2 && memcmp(pct + 1, "ID", 2) == 0)
				val = v->id ? v->id : "";
		}
		if (val == NULL) {
			/* Not a variable: keep the '%', look again after it. */
			sb_add(&b, "%", 1);
			p = pct + 1;
			continue;
		}
		if (id_only) {
			sb_adds(&b, val);
		} else {
			char *hint = NULL, *c;

			/* The release hint may name %ID% itself. */
			if (nl == 12 && memcmp(pct + 1, "RELEASE_HINT", 12) == 0)
				val = hint = expand(val, v, 1);
			c = clean_value(val);
			sb_adds(&b, c);
			free(c);
			free(hint);
		}
		p = end + 1;
	}
	return sb_take(&b);
}

/*
 * Parses one template file's text (n bytes) into tp: CRLF becomes LF, an
 * optional `Subject:` first line must be followed by a blank line. Returns 0,
 * or -1 with *why (static).
 */
static int
tpl_parse(const char *text, size_t n, int idx, struct notify_tpl *tp, const char **why)
{
	struct sbuf b = {0};
	char *s, *nl, *body;

	if (memchr(text, '\0', n) != NULL) {
		*why = "contains a NUL byte";
		return -1;
	}
	if (!utf8_valid(text, n)) {
		*why = "not valid UTF-8";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n'))
			sb_add(&b, text + i, 1);
	s = sb_take(&b);
	if (strncasecmp(s, "Subject:", 8) != 0) {
		tp->subject = xstrdup(defaults[idx].subject);
		tp->body = s;
		return 0;
	}
	nl = strchr(s, '\n');
	if (nl != NULL && nl[1] != '\n') {
		free(s);
		*why = "the Subject line must be followed by a blank line";
		return -1;
	}
	body = nl ? nl + 2 : s + strlen(s);
	if (nl)
		*nl = '\0';
	tp->subject = xstrdup(str_trim(s + 8));
	tp->body = xstrdup(body);
	free(s);
	return 0;
}

/*
 * Reads dir/name.txt into tp. Returns 1 if loaded, 0 if missing, -1 on an
 * error with *err set.
 */
static int
tpl_load(const char *dir, int idx, struct notify_tpl *tp, char **err)
{
	char *path = xasprintf("%s/%s.txt", dir, defaults[idx].name), *buf = NULL;
	const char *why = NULL;
	size_t n;
	int r = read_file_small(path, NOTIFY_TEMPLATE_MAX, 0, &buf, &n, err);

	if (r > 0) {
		log_debug("notify template=%s missing, using the built-in default", path);
		r = 0;
	} else if (r == 0) {
		r = 1;
		if (tpl_parse(buf, n, idx, tp, &why) < 0) {
			*err = xasprintf("%s: %s", path, why);
			r = -1;
		}
	}
	free(buf);
	free(path);
	return r;
}

struct notify_templates *
notify_templates_load(const char *dir, char **err)
{
	struct notify_templates *t = xcalloc(1, sizeof(*t));

	*err = NULL;
	for (int i = 0; i < NT_COUNT; i++) {
		int r = dir && *dir ? tpl_load(dir, i, &t->t[i], err) : 0;

		if (r < 0) {
			notify_templates_free(t);
			return NULL;
		}
		if (r == 0) {
			t->t[i].subject = xstrdup(defaults[i].subject);
			t->t[i].body = xstrdup(defaults[i].body);
		}
	}
	return t;
}

void
notify_templates_free(struct notify_templates *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < NT_COUNT; i++) {
		free(t->t[i].subject);
		free(t->t[i].body);
	}
	free(t);
}

char *
notify_render(const struct notify_templates *t, const char *which, const struct notify_vars *v)
{
	static const struct notify_vars none;
	int i = which_index(which);

	if (i < 0)
		return NULL;
	return expand(t ? t->t[i].body : defaults[i].body, v ? v : &none, 0);
}

char *
notify_render_subject(const struct notify_templates *t, const char *which,
                      const struct notify_vars *v)
{
	static const struct notify_vars none;
	int i = which_index(which);
	char *s, *out;

	if (i < 0)
		return NULL;
	s = expand(t ? t->t[i].subject : defaults[i].subject, v ? v : &none, 0);
	out = xmalloc(NOTIFY_SUBJECT_MAX + 1);
	sanitize(s, out, NOTIFY_SUBJECT_MAX + 1, SAN_VALUE);
	free(s);
	return out;
}

/* True if the n bytes at s are an unquoted address part: no control, space or specials. */
static int
atom_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || strchr("<>()\",;\\@", c) != NULL)
			return 0;
	}
	return 1;
}

/*
 * True if a bare address is safe to put between <> in a header field:
 * local@domain (or a single local part), the local part either plain or
 * quoted ("john doe"@example.com; no '\\', '<', '>' or control inside), UTF-8
 * allowed (SMTPUTF8), at most NOTIFY_ADDR_MAX bytes.
 */
static int
addr_ok(const char *a)
{
	const char *at;
	size_t n;

	if (a == NULL || (n = strlen(a)) == 0 || n > NOTIFY_ADDR_MAX || !utf8_valid(a, n))
		return 0;
	if (a[0] == '"') {
		const char *q = strchr(a + 1, '"');

		if (q == NULL || q[1] != '@')
			return 0;
		for (const char *p = a + 1; p < q; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f || strchr("\\<>", *p) != NULL)
				return 0;
		return atom_ok(q + 2, strlen(q + 2));
	}
	at = strrchr(a, '@');
	if (at == NULL)
		return atom_ok(a, n);
	return atom_ok(a, (size_t)(at - a)) && atom_ok(at + 1, strlen(at + 1));
}

/* A host name for the Message-ID: letters, digits, '-' and '.'; else "localhost". */
static const char *
msgid_host(const char *h)
{
	if (h == NULL || *h == '\0' || strlen(h) > 253)
		return "localhost";
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return "localhost";
	return h;
}

/* Standard base64 of n bytes appended to b. */
static void
b64_add(struct sbuf *b, const unsigned char *in, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		sb_add(b, q, 4);
	}
}

/*
 * Appends "Subject: ..." and CRLF for a sanitized subject: as is when it
 * is printable ASCII, else as RFC 2047 B encoded words of at most
 * NOTIFY_EW_RAW bytes each (whole characters), folded.
 */
static void
add_subject(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	int ascii = 1;

	for (size_t k = 0; k < n; k++)
		if (p[k] < 0x20 || p[k] >= 0x7f)
			ascii = 0;
	sb_adds(b, "Subject: ");
	if (ascii) {
		sb_adds(b, s);
		sb_adds(b, "\r\n");
		return;
	}
	while (i < n) {
		size_t take = 0;

		/* Whole UTF-8 characters only: never start a word mid-character. */
		while (i + take < n) {
			uint32_t cp;
			size_t l = utf8_decode(p + i + take, n - i - take, &cp);

			if (l == 0)
				l = 1;
			if (take + l > NOTIFY_EW_RAW)
				break;
			take += l;
		}
		if (i > 0)
			sb_adds(b, "\r\n ");
		sb_adds(b, "=?UTF-8?B?");
		b64_add(b, p + i, take);
		sb_adds(b, "?=");
		i += take;
	}
	sb_adds(b, "\r\n");
}

/* Appends an RFC 5322 date of now (local time, numeric zone; C names). */
static void
add_date(struct sbuf *b)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	long off;
	char line[80];

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(line, sizeof(line), "Date: %s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n",
	         days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60,
	         labs(off) % 60);
	sb_adds(b, line);
}

/* Appends "Message-ID: <32 random hex digits@host>" and CRLF. */
static void
add_msgid(struct sbuf *b, const char *host)
{
	static unsigned counter;
	unsigned char rnd[16];
	char hex[2 * sizeof(rnd) + 1];
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(rnd)) {
		/* No entropy source: unique is enough for a Message-ID. */
		struct timespec ts;
		unsigned c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);

		log_warn("notify: getrandom");
		clock_gettime(CLOCK_REALTIME, &ts);
		memset(rnd, 0, sizeof(rnd));
		memcpy(rnd, &ts.tv_sec, sizeof(ts.tv_sec) < 8 ? sizeof(ts.tv_sec) : 8);
		memcpy(rnd + 8, &ts.tv_nsec, 4);
		memcpy(rnd + 12, &c, 4);
	}
	hex_encode(rnd, sizeof(rnd), hex);
	sb_adds(b, "Message-ID: <");
	sb_adds(b, hex);
	sb_adds(b, "@");
	sb_adds(b, msgid_host(host));
	sb_adds(b, ">\r\n");
}

/* Appends text (LF lines) with CRLF line ends, wrapping lines over 998 bytes. */
static void
add_body(struct sbuf *b, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p) {
		size_t n = strcspn((const char *)p, "\n");

		while (n > NOTIFY_LINE_MAX) {
			size_t cut = NOTIFY_LINE_MAX;

			/* Back up to a character boundary. */
			while (cut > 0 && (p[cut] & 0xc0) == 0x80)
				cut--;
			sb_add(b, (const char *)p, cut);
			sb_adds(b, "\r\n");
			p += cut;
			n -= cut;
		}
		sb_add(b, (const char *)p, n);
		sb_adds(b, "\r\n");
		p += n;
		if (*p == '\n')
			p++;
	}
}

char *
notify_message(const struct notify_templates *t, const char *which, const struct notify_vars *v,
               const char *from_addr, const char *to_addr)
{
	static const struct notify_vars none;
	struct sbuf b = {0};
	char *subject, *body;

	if (which_index(which) < 0)
		return NULL;
	if (!addr_ok(from_addr) || !addr_ok(to_addr)) {
		char f[64], to[64];

		sanitize(from_addr, f, sizeof(f), SAN_VALUE);
		sanitize(to_addr, to, sizeof(to), SAN_VALUE);
		log_warnx("notify template=%s refused from=<%s> to=<%s> reason=bad address", which,
		          f, to);
		return NULL;
	}
	if (v == NULL)
		v = &none;
	subject = notify_render_subject(t, which, v);
	body = notify_render(t, which, v);
	add_date(&b);
	add_msgid(&b, v->hostname);
	sb_adds(&b, "From: Portcullis <");
	sb_adds(&b, from_addr);
	sb_adds(&b, ">\r\nTo: <");
	sb_adds(&b, to_addr);
	sb_adds(&b, ">\r\n");
	add_subject(&b, subject);
	sb_adds(&b, "Auto-Submitted: auto-replied\r\n"
	            "Precedence: bulk\r\n"
	            "MIME-Version: 1.0\r\n"
	            "Content-Type: text/plain; charset=utf-8\r\n"
	            "Content-Transfer-Encoding: 8bit\r\n"
	            "\r\n");
	add_body(&b, body);
	free(subject);
	free(body);
	return sb_take(&b);
}

/*
 * The raw value of the first Subject field in the header block hdr (n
 * bytes), unfolded (line ends removed); NULL if there is none. Caller frees.
 */
static char *
raw_subject(const char *hdr, size_t n)
{
	const char *p = hdr, *end = hdr + n;
	struct sbuf b = {0};
	int in = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0)
			break; /* the blank line ends the header block */
		if (p[0] == ' ' || p[0] == '\t') {
			if (in)
				sb_add(&b, p, len);
		} else if (in) {
			break;
		} else if (len >= 8 && strncasecmp(p, "Subject:", 8) == 0) {
			in = 1;
			sb_add(&b, p + 8, len - 8);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (!in)
		return NULL;
	return sb_take(&b);
}

int
notify_subject_of(int fd, uint64_t size, char *out, size_t cap)
{
	size_t want = size < NOTIFY_HEADER_READ_MAX ? (size_t)size : NOTIFY_HEADER_READ_MAX;
	char *buf = xmalloc(want + 1), *raw, *dec;
	ssize_t n = pread_full(fd, buf, want, 0);
	size_t got = n > 0 ? (size_t)n : 0;

	if (cap > 0)
		out[0] = '\0';
	/* NUL bytes would cut the value short; no header has them. */
	for (size_t i = 0; i < got; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	raw = raw_subject(buf, got);
	free(buf);
	if (raw == NULL)
		return -1;
	mailwalk_global_init();
	dec = g_mime_utils_header_decode_text(NULL, raw);
	free(raw);
	if (dec == NULL)
		return -1;
	if (cap > 0)
		sanitize(str_trim(dec), out, cap, SAN_VALUE);
	g_free(dec);
	return 0;
}
