/*
 * portcullis-ctl: the administrator's tool for the quarantine: list, show,
 * release, delete and purge messages; and for outbreak sealing (see
 * docs/outbreak.md): the gateway's key pair, documents handed to the
 * daemon, its alerts and its hold store, and the transparency log. Owns
 * argument parsing, the output formats and the choice of next hop and
 * envelope for a quarantine release; the storage itself is
 * store/quarantine, the sending smtp/smtp_send and store/maildir.
 *
 * IDs from the command line are checked (16 lower-case hex digits) before
 * anything is opened. Everything printed that came from the wire (stored
 * envelope, headers) has bytes outside printable ASCII escaped as \xNN,
 * except with `show --raw`, which copies the stored message unchanged.
 *
 * An item is an SMTP message or an FTP file (the protocol column; NULL,
 * from before FTP, is SMTP). An FTP file is released by writing it into a
 * directory the administrator names (`release ID --dir DIR`) under
 * ID-NAME, NAME built from the stored file name with only [A-Za-z0-9._-]
 * left, so that a name from the wire cannot leave DIR.
 *
 * outbreak and hold: everything but `outbreak keygen` and `outbreak log`
 * is a request to the running portcullisd over HTTP on its control socket
 * STATE_DIR/control.sock (libcurl; 120 s for a release, 30 s otherwise);
 * the hold store is the daemon's, so it is never opened here. Alert IDs
 * (1..64 of [A-Za-z0-9._-]) and hold IDs (quarantine IDs) are checked
 * before the socket is, so nothing else ends up in a request's path.
 * `outbreak keygen` makes the gateway's key pair (omsg, never replacing a
 * file); `outbreak log` reads STATE_DIR/transparency.log itself and
 * `--verify` checks its hash chain (tlog).
 *
 * Exit status: 0 success; 1 unknown ID, or the daemon refused (a document
 * not accepted, 404 unknown ID, 409 wrong state), or `log --verify` found
 * the chain broken; 2 any other error (usage, invalid ID, I/O, refused
 * release, the daemon cannot be reached, its own failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "conf/conf.h"
#include "config.h"
#include "outbreak/omsg.h"
#include "outbreak/tlog.h"
#include "store/maildir.h"
#include "store/quarantine.h"
#include "smtp/smtp_send.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/strutil.h"
#include "util/sys.h"
#include "util/xalloc.h"

#define EX_OK 0
#define EX_UNKNOWN 1
#define EX_ERR 2

#define CTL_HEADER_MAX (256 * 1024) /* show prints at most this much header */
#define CTL_REPLY_MAX 4096
#define CTL_MAX_TO 1000  /* --to given at most this often */
#define CTL_NAME_MAX 100 /* the NAME of a released FTP file's ID-NAME */

#define CTL_SOCK_NAME "control.sock"     /* in outbreak.state_dir */
#define CTL_TLOG_NAME "transparency.log" /* in outbreak.state_dir */
#define CTL_ANSWER_MAX (256u << 20)      /* the largest answer read from the socket */
#define CTL_TIMEOUT_S 30L                /* a control socket request ... */
#define CTL_RELEASE_TIMEOUT_S 120L       /* ... and one that releases */
#define CTL_CONNECT_TIMEOUT_S 10L

struct ctl {
	struct pc_config conf;
	const char *config_path; /* NULL = none loaded */
	const char *dir;         /* --dir, else conf.quarantine_dir */
	const char *next_hop;    /* --next-hop, or NULL */
	uint64_t timeout_ms;     /* --timeout, 0 = the listener's next_hop_timeout */
	struct quarantine *q;
	char *sock; /* outbreak, hold: STATE_DIR/control.sock */
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: portcullis-ctl [options] quarantine list [--json]\n"
	        "       portcullis-ctl [options] quarantine show ID [--raw]\n"
	        "       portcullis-ctl [options] quarantine release ID [--to ADDR]...\n"
	        "       portcullis-ctl [options] quarantine release ID --dir OUTDIR\n"
	        "       portcullis-ctl [options] quarantine delete ID\n"
	        "       portcullis-ctl [options] quarantine purge [--older-than AGE] [--max-size "
	        "SIZE]\n"
	        "       portcullis-ctl [options] outbreak keygen [--out PREFIX]\n"
	        "       portcullis-ctl [options] outbreak submit FILE|-\n"
	        "       portcullis-ctl [options] outbreak status|list [--json]\n"
	        "       portcullis-ctl [options] outbreak show ID\n"
	        "       portcullis-ctl [options] outbreak release ID | lift ID\n"
	        "       portcullis-ctl [options] outbreak log [--verify]\n"
	        "       portcullis-ctl [options] hold list [--json] | show ID | release ID"
	        " | delete ID\n"
	        "\n"
	        "Manages the quarantine of portcullisd, and its outbreak sealing.\n"
	        "\n"
	        "  -c, --config FILE    configuration (default %s if it exists)\n"
	        "  -d, --dir DIR        quarantine directory (overrides quarantine.dir)\n"
	        "  -n, --next-hop NH    release to smtp:HOST:PORT or maildir:PATH instead of\n"
	        "                       the next hop stored with the message\n"
	        "  -T, --timeout DUR    wait at most DUR for the next hop (default: the\n"
	        "                       listener's smtp.next_hop_timeout)\n"
	        "  -v, --verbose        debug logging on stderr\n"
	        "  -V, --version        print the version\n"
	        "  -h, --help           this text\n"
	        "\n"
	        "release sends an SMTP message to its next hop (or --next-hop, to the --to\n"
	        "addresses). An FTP file is released with --dir OUTDIR (after the ID; not\n"
	        "the quarantine's -d/--dir): it is written to the existing directory\n"
	        "OUTDIR as a new file ID-NAME, NAME being the stored file name reduced to\n"
	        "[A-Za-z0-9._-]; an existing file is never replaced.\n"
	        "\n"
	        "AGE: 30d, 12h, 90m, 45s. SIZE: 500M, 1G (powers of 1024). Defaults for purge:\n"
	        "quarantine.max_age and quarantine.max_size.\n"
	        "\n"
	        "outbreak keygen writes the gateway's Ed25519 key pair, PREFIX.key (0600)\n"
	        "and PREFIX.pub (0644), never replacing a file, and prints the public key\n"
	        "as 64 hex digits. Default: outbreak.gateway_key (the public key beside it,\n"
	        ".pub for .key), else STATE_DIR/gateway.key and .pub.\n"
	        "outbreak log prints the transparency log STATE_DIR/transparency.log, one\n"
	        "line per entry (n, time, result, source, type, id, seq, reason); --verify\n"
	        "checks its hash chain.\n"
	        "The other outbreak and hold commands ask the running portcullisd over its\n"
	        "control socket STATE_DIR/control.sock (STATE_DIR: outbreak.state_dir).\n"
	        "submit sends a signed document (an envelope; - reads standard input) and\n"
	        "prints the daemon's answer. release (of an alert) lifts its seal and\n"
	        "rescans and releases its held mail; lift only lifts the seal. hold IDs are\n"
	        "16 hex digits, as in `hold list`.\n"
	        "\n"
	        "Exit status: 0 success, 1 unknown ID or refused by portcullisd (a document\n"
	        "not accepted, a wrong state) or a broken log chain (log --verify), 2 any\n",
	        PORTCULLIS_CONF);
}

/* Prints s with every byte outside printable ASCII (and space unless
 * keep_space) as \xNN; "-" for NULL or "". */
static void
put_field(FILE *f, const char *s, int keep_space)
{
	if (s == NULL || *s == '\0') {
		fputc('-', f);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p > 0x20 && *p < 0x7f && *p != '\\') || (keep_space && *p == ' '))
			fputc(*p, f);
		else
			fprintf(f, "\\x%02x", *p);
	}
}

/* Writes Unix time t as 2024-05-01T12:00:00Z into buf (>= 32 bytes). */
static const char *
iso_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%lld", (long long)t);
	return buf;
}

/* The protocol of a record: a row from before the column is SMTP. */
static const char *
rec_protocol(const struct q_record *r)
{
	return r->protocol != NULL ? r->protocol : "smtp";
}

static int
rec_is_ftp(const struct q_record *r)
{
	return strcmp(rec_protocol(r), "ftp") == 0;
}

/* A JSON string or null; text that is not UTF-8 gets '?' for high bytes. */
static json_t *
j_str(const char *s)
{
	json_t *j;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	copy = xstrdup(s);
	sanitize(copy, copy, strlen(copy) + 1, SAN_JSON);
	j = json_string(copy);
	free(copy);
	return j ? j : json_null();
}

static json_t *
record_json(const struct q_record *r)
{
	json_t *o = json_object(), *rc = json_array();
	char t[40];

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "time", json_string(iso_time(r->time, t, sizeof(t))));
	json_object_set_new(o, "time_unix", json_integer(r->time));
	json_object_set_new(o, "direction", j_str(r->direction));
	json_object_set_new(o, "listener", j_str(r->listener));
	json_object_set_new(o, "next_hop", j_str(r->next_hop));
	json_object_set_new(o, "client_addr", j_str(r->client_addr));
	json_object_set_new(o, "helo", j_str(r->helo));
	json_object_set_new(o, "mail_from", j_str(r->mail_from));
	for (size_t i = 0; i < r->nrcpts; i++)
		json_array_append_new(rc, j_str(r->rcpts[i]));
	json_object_set_new(o, "rcpts", rc);
	json_object_set_new(o, "virus_names", j_str(r->virus_names));
	json_object_set_new(o, "status", j_str(r->status));
	json_object_set_new(o, "size",
	                    json_integer(r->size > INT64_MAX ? INT64_MAX : (json_int_t)r->size));
	json_object_set_new(o, "action", j_str(r->action));
	json_object_set_new(o, "released_at",
	                    r->released_at ? json_string(iso_time(r->released_at, t, sizeof(t)))
	                                   : json_null());
	json_object_set_new(o, "released_reply", j_str(r->released_reply));
	json_object_set_new(o, "protocol", j_str(rec_protocol(r)));
	json_object_set_new(o, "user", j_str(r->user));
	json_object_set_new(o, "file_name", j_str(r->file_name));
	return o;
}

/* Strips one pair of <> so that "<a@b>" and "a@b" print alike. */
static void
put_addr(FILE *f, const char *a)
{
	size_t len = a ? strlen(a) : 0;
	char *s;

	if (len >= 2 && a[0] == '<' && a[len - 1] == '>') {
		s = xstrndup(a + 1, len - 2);
	} else {
		s = xstrdup(a ? a : "");
	}
	fputc('<', f);
	if (*s)
		put_field(f, s, 0);
	fputc('>', f);
	free(s);
}

static void
put_rcpts(FILE *f, const struct q_record *r, const char *sep)
{
	if (r->nrcpts == 0)
		fputc('-', f);
	for (size_t i = 0; i < r->nrcpts; i++) {
		if (i > 0)
			fputs(sep, f);
		put_addr(f, r->rcpts[i]);
	}
}

/* Virus names, stored space-separated, printed comma-separated so that
 * the list stays one column per field. */
static void
put_names(FILE *f, const char *names)
{
	char *s, *tok, *save = NULL;
	int first = 1;

	if (names == NULL || strspn(names, " ") == strlen(names)) {
		fputc('-', f);
		return;
	}
	s = xstrdup(names);
	for (tok = strtok_r(s, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (!first)
			fputc(',', f);
		put_field(f, tok, 0);
		first = 0;
	}
	free(s);
}

/*
 * One line: ID TIME DIRECTION <FROM> <RCPT>,... NAME,... SIZE ACTION RELEASED
 * for a message; for an FTP file the two envelope columns are ftp:USER
 * and the file name (escaped, spaces too), so every line has nine columns.
 */
static void
list_line(const struct q_record *r)
{
	char t[40];

	printf("%s %s ", r->id, iso_time(r->time, t, sizeof(t)));
	put_field(stdout, r->direction, 0);
	putchar(' ');
	if (rec_is_ftp(r)) {
		fputs("ftp:", stdout);
		put_field(stdout, r->user, 0);
		putchar(' ');
		put_field(stdout, r->file_name, 0);
	} else {
		put_addr(stdout, r->mail_from);
		putchar(' ');
		put_rcpts(stdout, r, ",");
	}
	putchar(' ');
	put_names(stdout, r->virus_names);
	printf(" %" PRIu64 " ", r->size);
	put_field(stdout, r->action, 0);
	printf(" %s\n", r->released_at ? iso_time(r->released_at, t, sizeof(t)) : "-");
}

static int
cmd_list(struct ctl *c, int json)
{
	struct q_record *v;
	size_t n;

	if (quarantine_list(c->q, &v, &n) < 0) {
		log_warnx("cannot read the quarantine index in %s", c->dir);
		return EX_ERR;
	}
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, record_json(&v[i]));
		json_dumpf(a, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
		json_decref(a);
	} else {
		for (size_t i = 0; i < n; i++)
			list_line(&v[i]);
	}
	quarantine_records_free(v, n);
	return fflush(stdout) == 0 ? EX_OK : EX_ERR;
}

/* Looks up id; prints why not and returns the exit status when absent. */
static int
get_record(struct ctl *c, const char *id, struct q_record *r)
{
	int rc = quarantine_get(c->q, id, r);

	if (rc == 1) {
		log_warnx("%s: no such message in %s", id, c->dir);
		return EX_UNKNOWN;
	}
	if (rc < 0)
		return EX_ERR;
	return EX_OK;
}

/* Opens the stored message of r; its size in *size. fd or -1 (logged). */
static int
open_message(struct ctl *c, const struct q_record *r, uint64_t *size)
{
	struct stat st;
	int fd = quarantine_open_message(c->q, r);

	if (fd < 0) {
		log_warn("%s: cannot open %s", r->id, r->path ? r->path : "(bad time)");
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warnx("%s: %s is not a regular file", r->id, r->path);
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static void
show_kv(const char *key, const char *val)
{
	printf("%s: ", key);
	put_field(stdout, val, 1);
	putchar('\n');
}

/* Prints the header block of the message (up to the first empty line,
 * at most CTL_HEADER_MAX bytes), escaped. 0 or -1. */
static int
show_headers(int fd, uint64_t size)
{
	char buf[8192];
	uint64_t off = 0;
	int bol = 1;

	while (off < size && off < CTL_HEADER_MAX) {
		ssize_t n = pread_full(fd, buf, sizeof(buf), off);

		if (n <= 0)
			return n < 0 ? -1 : 0;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[i];

			if (ch == '\r' && i + 1 < n && buf[i + 1] == '\n')
				continue;
			if (ch == '\n') {
				if (bol)
					return 0; /* the empty line ends the header */
				putchar('\n');
				bol = 1;
				continue;
			}
			if ((ch >= 0x20 && ch < 0x7f && ch != '\\') || ch == '\t')
				putchar(ch);
			else
				printf("\\x%02x", ch);
			bol = 0;
		}
		off += (uint64_t)n;
	}
	if (!bol)
		putchar('\n');
	return 0;
}

static int
cmd_show(struct ctl *c, const char *id, int raw)
{
	struct q_record r;
	uint64_t size = 0;
	char t[40];
	int rc, fd;

	if ((rc = get_record(c, id, &r)) != EX_OK)
		return rc;
	fd = open_message(c, &r, &size);
	if (raw) {
		rc = fd < 0 || copy_fd_range(STDOUT_FILENO, fd, 0, size) < 0 ? EX_ERR : EX_OK;
		goto out;
	}
	printf("id: %s\n", r.id);
	printf("time: %s\n", iso_time(r.time, t, sizeof(t)));
	show_kv("protocol", rec_protocol(&r));
	show_kv("direction", r.direction);
	show_kv("listener", r.listener);
	show_kv("next_hop", r.next_hop);
	show_kv("client_addr", r.client_addr);
	show_kv("helo", r.helo);
	printf("mail_from: ");
	put_addr(stdout, r.mail_from);
	printf("\nrcpts: ");
	put_rcpts(stdout, &r, " ");
	putchar('\n');
	show_kv("user", r.user);
	show_kv("file_name", r.file_name);
	show_kv("virus_names", r.virus_names);
	show_kv("status", r.status);
	show_kv("action", r.action);
	printf("size: %" PRIu64 "\n", r.size);
	show_kv("path", r.path);
	printf("released_at: %s\n", r.released_at ? iso_time(r.released_at, t, sizeof(t)) : "-");
	show_kv("released_reply", r.released_reply);
	if (rec_is_ftp(&r)) {
		/* A file, not a message: no header block (see --raw). */
		rc = fd < 0 ? EX_ERR : EX_OK;
		goto out;
	}
	putchar('\n');
	rc = fd < 0 || show_headers(fd, size) < 0 ? EX_ERR : EX_OK;
out:
	if (fd >= 0)
		close(fd);
	quarantine_record_clear(&r);
	if (fflush(stdout) != 0)
		rc = EX_ERR;
	return rc;
}

/* The listener a record came through, else the first; NULL if none. */
static const struct smtp_listener_conf *
ctl_listener(struct ctl *c, const char *name)
{
	for (size_t i = 0; name != NULL && i < c->conf.nlisteners; i++)
		if (c->conf.listeners[i].name && strcmp(c->conf.listeners[i].name, name) == 0)
			return &c->conf.listeners[i];
	return c->conf.nlisteners > 0 ? &c->conf.listeners[0] : NULL;
}

/*
 * Hands the message in fd to the SMTP next hop nh ("smtp:HOST:PORT") and
 * says what happened in one log line per outcome. 0 when the next hop
 * accepted it, with its reply (lines joined by '\n') in reply; -1 when it
 * refused or the exchange failed.
 */
static int
release_smtp(const char *id, const char *nh, const struct smtp_send_req *req, char *reply,
             size_t replycap)
{
	static const char *why[] = {
	    [SMTP_ERR_CONNECT] = "cannot connect",
	    [SMTP_ERR_TIMEOUT] = "no answer in time",
	    [SMTP_ERR_CLOSED] = "the next hop closed the connection",
	    [SMTP_ERR_PROTOCOL] = "the next hop broke the protocol",
	    [SMTP_ERR_TLS] = "TLS failed",
	    [SMTP_ERR_LOCAL] = "a local error",
	};
	struct smtp_send_result res;
	enum smtp_status st = smtp_send(req, &res);
	const char *step = smtp_send_step_name(res.step);
	int delivered = st == SMTP_REPLY && res.reply.code / 100 == 2;
	/* The index keeps the lines; a log line shows them on one line. */
	char *text = smtp_send_reply_text(&res.reply, delivered ? "\n" : " / ");
	int rc = -1;

	if (delivered) {
		snprintf(reply, replycap, "%s", text);
		if (res.accepted < req->nrcpts)
			log_warnx("%s: release to %s reached %zu of %zu recipients", id, nh,
			          res.accepted, req->nrcpts);
		rc = 0;
	} else if (st == SMTP_REPLY) {
		log_warnx("%s: release to %s refused %s step=%s reply=\"%s\"", id, nh,
		          res.reply.code / 100 == 4 ? "temporarily (4xx), retry later"
		                                    : "permanently (5xx)",
		          step, text);
	} else {
		log_warnx("%s: release to %s failed: %s status=%s step=%s detail=\"%s\"%s%s%s", id,
		          nh,
		          (unsigned)st < sizeof(why) / sizeof(why[0]) && why[st] ? why[st] : "?",
		          smtp_status_name(st), step, res.detail, text[0] ? " reply=\"" : "", text,
		          text[0] ? "\"" : "");
	}
	free(text);
	smtp_send_result_clear(&res);
	return rc;
}

/*
 * The NAME of a released FTP file: the part of the stored file name after
 * its last '/', each byte outside [A-Za-z0-9._-] and each leading '.' as
 * '_', at most CTL_NAME_MAX bytes, "file" when nothing is left. It can be
 * neither "." nor ".." nor contain a '/', so DIR/ID-NAME stays in DIR.
 */
static void
ftp_release_name(const char *file_name, char out[CTL_NAME_MAX + 1])
{
	const char *base = file_name ? file_name : "", *slash = strrchr(base, '/');
	size_t n = 0;
	int leading = 1;

	if (slash != NULL)
		base = slash + 1;
	for (const unsigned char *p = (const unsigned char *)base; *p && n < CTL_NAME_MAX; p++) {
		unsigned char ch = *p;
		int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		         (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';

		if (ch == '.' && leading)
			ok = 0;
		else
			leading = 0;
		out[n++] = ok ? (char)ch : '_';
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, CTL_NAME_MAX + 1, "file");
}

/*
 * Writes the stored FTP file (fd, size bytes) to a new file ID-NAME in the
 * existing directory dir: created with O_EXCL (an existing name, even a
 * dangling symlink, is never replaced), mode 0640, fsynced, and the
 * directory fsynced. The reply for the index ("written to DIR/ID-NAME")
 * goes into reply. 0, or -1 (logged; a partly written file is removed).
 */
static int
release_ftp(const struct q_record *r, const char *dir, int fd, uint64_t size, char *reply,
            size_t replycap)
{
	char name[QUARANTINE_ID_LEN + 1 + CTL_NAME_MAX + 1], base[CTL_NAME_MAX + 1];
	size_t dlen = strlen(dir);
	int dfd, out, saved;

	/* "out/" and "out" name the same place: one '/' in the reply. */
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	ftp_release_name(r->file_name, base);
	snprintf(name, sizeof(name), "%s-%s", r->id, base);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		log_warnx("%s: --dir %.*s: %s", r->id, (int)dlen, dir,
		          errno == ENOTDIR ? "not a directory" : strerror(errno));
		return -1;
	}
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	             0640);
	if (out < 0) {
		log_warnx("%s: %.*s/%s: %s%s", r->id, (int)dlen, dir, name, strerror(errno),
		          errno == EEXIST ? " (released there before? nothing was replaced)" : "");
		close(dfd);
		return -1;
	}
	if (copy_fd_range(out, fd, 0, size) < 0 || fsync(out) < 0) {
		saved = errno;
		close(out);
		goto fail;
	}
	if (close(out) < 0) {
		saved = errno;
		goto fail;
	}
	if (fsync(dfd) < 0)
		log_warn("%s: %.*s: fsync", r->id, (int)dlen, dir);
	close(dfd);
	snprintf(reply, replycap, "written to %.*s/%s", (int)dlen, dir, name);
	return 0;
fail:
	log_warnx("%s: %.*s/%s: write failed: %s", r->id, (int)dlen, dir, name, strerror(saved));
	if (unlinkat(dfd, name, 0) < 0)
		log_warn("%s: %.*s/%s: cannot remove the partial file", r->id, (int)dlen, dir,
		         name);
	close(dfd);
	return -1;
}

static int
cmd_release(struct ctl *c, const char *id, char **to, size_t nto, const char *outdir)
{
	const struct smtp_listener_conf *l;
	const char *nh = NULL, *const * rcpts;
	char reply[CTL_REPLY_MAX];
	struct q_record r;
	uint64_t size = 0, timeout;
	size_t n = 0;
	int rc, fd, cls;

	if ((rc = get_record(c, id, &r)) != EX_OK)
		return rc;
	rc = EX_ERR;
	if (rec_is_ftp(&r)) {
		if (outdir == NULL || *outdir == '\0') {
			log_warnx("%s: an FTP file is released into a directory: give --dir DIR "
			          "(after the ID)",
			          id);
			goto out;
		}
		if (nto > 0 || c->next_hop != NULL) {
			log_warnx("%s: --to and --next-hop are for SMTP messages, this is an FTP "
			          "file (use --dir DIR)",
			          id);
			goto out;
		}
		if ((fd = open_message(c, &r, &size)) < 0)
			goto out;
		if (release_ftp(&r, outdir, fd, size, reply, sizeof(reply)) < 0) {
			close(fd);
			goto out;
		}
		close(fd);
		goto released;
	}
	if (strcmp(rec_protocol(&r), "smtp") != 0) {
		log_warnx("%s: protocol %.50s: this portcullis-ctl cannot release it", id,
		          r.protocol);
		goto out;
	}
	if (outdir != NULL) {
		log_warnx("%s: --dir is for FTP files; this is an SMTP message (its next hop, or "
		          "--next-hop and --to)",
		          id);
		goto out;
	}
	l = ctl_listener(c, r.listener);
	nh = c->next_hop                 ? c->next_hop
	     : r.next_hop && *r.next_hop ? r.next_hop
	     : l                         ? l->next_hop
	                                 : NULL;
	timeout = c->timeout_ms ? c->timeout_ms : l ? l->next_hop_timeout_ms : 300000;
	rcpts = nto > 0 ? (const char *const *)to : (const char *const *)r.rcpts;
	n = nto > 0 ? nto : r.nrcpts;
	if (nh == NULL || *nh == '\0') {
		log_warnx("%s: no next hop known (use --next-hop)", id);
		goto out;
	}
	if (n == 0) {
		log_warnx("%s: no recipients stored (use --to)", id);
		goto out;
	}
	if ((fd = open_message(c, &r, &size)) < 0)
		goto out;
	if (strncmp(nh, "smtp:", 5) == 0) {
		struct smtp_send_req req = {
		    .next_hop = nh + 5,
		    .helo = l && l->hostname && *l->hostname ? l->hostname : NULL,
		    .mail_from = r.mail_from ? r.mail_from : "",
		    .rcpts = rcpts,
		    .nrcpts = n,
		    .fd = fd,
		    .size = size,
		    .timeout_ms = timeout,
		};

		if (release_smtp(id, nh, &req, reply, sizeof(reply)) < 0) {
			close(fd);
			goto out;
		}
	} else if (strncmp(nh, "maildir:", 8) == 0 && nh[8] != '\0') {
		char name[256];

		if (nto > 0)
			log_warnx("%s: --to has no effect for a Maildir next hop", id);
		if (maildir_deliver(nh + 8, fd, size, NULL, name, sizeof(name), &cls) < 0) {
			log_warnx("%s: release to %s failed (%s)", id, nh, storeio_err_name(cls));
			close(fd);
			goto out;
		}
		snprintf(reply, sizeof(reply), "delivered to %s/new/%s", nh, name);
	} else {
		log_warnx("%s: next hop %.200s is neither smtp:HOST:PORT nor maildir:PATH", id, nh);
		close(fd);
		goto out;
	}
	close(fd);
released:
	for (char *line = reply, *nl; line != NULL; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		put_field(stdout, line, 1);
		putchar('\n');
		if (nl != NULL)
			nl[-1] = '\n'; /* the index keeps the reply whole */
	}
	if (quarantine_mark_released(c->q, id, time(NULL), reply) != 0) {
		log_warnx("%s: released, but the release could not be recorded", id);
		goto out;
	}
	if (rec_is_ftp(&r))
		log_info("%s: released: %s", id, reply);
	else
		log_info("%s: released to %s rcpts=%zu", id, nh, n);
	rc = EX_OK;
out:
	quarantine_record_clear(&r);
	if (fflush(stdout) != 0)
		rc = EX_ERR;
	return rc;
}

static int
cmd_delete(struct ctl *c, const char *id)
{
	int rc = quarantine_delete(c->q, id);

	if (rc == 1) {
		log_warnx("%s: no such message in %s", id, c->dir);
		return EX_UNKNOWN;
	}
	if (rc < 0)
		return EX_ERR;
	printf("deleted %s\n", id);
	return EX_OK;
}

static int
cmd_purge(struct ctl *c, const char *age, const char *maxsize)
{
	uint64_t age_ms = c->conf.quarantine_max_age_ms, max = c->conf.quarantine_max_size;
	struct q_purge_stats st;
	int rc;

	if (age != NULL && parse_duration_ms(age, &age_ms) < 0) {
		log_warnx("--older-than %.100s: not a duration (30d, 12h, 90m)", age);
		return EX_ERR;
	}
	if (maxsize != NULL && parse_size(maxsize, &max) < 0) {
		log_warnx("--max-size %.100s: not a size (500M, 1G)", maxsize);
		return EX_ERR;
	}
	rc = quarantine_purge(c->q, time(NULL), age_ms, max, &st);
	printf("purged %zu messages, %" PRIu64 " bytes", st.deleted, st.bytes);
	if (st.failed)
		printf(", %zu failed", st.failed);
	putchar('\n');
	return rc < 0 ? EX_ERR : EX_OK;
}

/* Checks the ID before anything is opened. */
static int
check_id(const char *id)
{
	if (quarantine_id_valid(id))
		return 0;
	fputs("portcullis-ctl: invalid ID ", stderr);
	put_field(stderr, id, 0);
	fputs(" (want 16 hex digits, as in `quarantine list`)\n", stderr);
	return -1;
}

/* Loads -c FILE, or the default file if it exists. 0 or -1. */
static int
ctl_config(struct ctl *c)
{
	const char *path = c->config_path;
	int n;

	conf_defaults(&c->conf);
	if (path == NULL) {
		if (access(PORTCULLIS_CONF, F_OK) != 0)
			return 0;
		path = PORTCULLIS_CONF;
	}
	n = conf_load(&c->conf, path, stderr);
	if (n != 0) {
		if (n > 0)
			fprintf(stderr, "portcullis-ctl: %s: %d error%s\n", path, n,
			        n == 1 ? "" : "s");
		return -1;
	}
	return 0;
}

/* Opens the quarantine; it must exist already (a typo must not create a
 * new one). 0 or -1. */
static int
ctl_open(struct ctl *c)
{
	struct stat st;
	char *err = NULL;

	if (c->dir == NULL || *c->dir == '\0') {
		log_warnx("no quarantine directory (quarantine.dir or --dir)");
		return -1;
	}
	if (stat(c->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("%s: no quarantine directory there", c->dir);
		return -1;
	}
	if ((c->q = quarantine_open(c->dir, &err)) == NULL) {
		log_warnx("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

/* Parses the quarantine subcommand at argv[0] and runs it. */
static int
ctl_quarantine(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"raw", no_argument, NULL, 'r'},
	    {"to", required_argument, NULL, 't'},
	    {"older-than", required_argument, NULL, 'o'},
	    {"max-size", required_argument, NULL, 's'},
	    {"dir", required_argument, NULL, 'D'},
	    {NULL, 0, NULL, 0},
	};
	const char *sub, *age = NULL, *maxsize = NULL, *id = NULL, *outdir = NULL;
	char **to = NULL;
	size_t nto = 0;
	int json = 0, raw = 0, ch, rc = EX_ERR;
	int takes_id;

	if (argc < 1) {
		usage(stderr);
		return EX_ERR;
	}
	sub = argv[0];
	optind = 0; /* a fresh getopt over the subcommand's arguments */
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'r':
			raw = 1;
			break;
		case 't':
			if (nto >= CTL_MAX_TO) {
				log_warnx("--to given more than %d times", CTL_MAX_TO);
				goto out;
			}
			to = xrealloc(to, (nto + 1) * sizeof(*to));
			to[nto++] = optarg;
			break;
		case 'o':
			age = optarg;
			break;
		case 's':
			maxsize = optarg;
			break;
		case 'D':
			outdir = optarg;
			break;
		default:
			usage(stderr);
			goto out;
		}
	}
	takes_id = !strcmp(sub, "show") || !strcmp(sub, "release") || !strcmp(sub, "delete");
	if (!takes_id && strcmp(sub, "list") != 0 && strcmp(sub, "purge") != 0) {
		log_warnx("unknown quarantine command %.100s", sub);
		usage(stderr);
		goto out;
	}
	if (argc - optind != (takes_id ? 1 : 0) || (json && strcmp(sub, "list")) ||
	    (raw && strcmp(sub, "show")) || ((nto || outdir) && strcmp(sub, "release")) ||
	    ((age || maxsize) && strcmp(sub, "purge"))) {
		usage(stderr);
		goto out;
	}
	if (takes_id) {
		id = argv[optind];
		if (check_id(id) < 0)
			goto out;
	}
	if (ctl_open(c) < 0)
		goto out;
	if (!strcmp(sub, "list"))
		rc = cmd_list(c, json);
	else if (!strcmp(sub, "show"))
		rc = cmd_show(c, id, raw);
	else if (!strcmp(sub, "release"))
		rc = cmd_release(c, id, to, nto, outdir);
	else if (!strcmp(sub, "delete"))
		rc = cmd_delete(c, id);
	else
		rc = cmd_purge(c, age, maxsize);
out:
	free(to);
	return rc;
}

/* --- outbreak and hold ---------------------------------------------------- */

/* An alert ID as omsg takes it: 1..OMSG_ID_MAX of [A-Za-z0-9._-]. */
static int
alert_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > OMSG_ID_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

static int
check_alert_id(const char *id)
{
	if (alert_id_valid(id))
		return 0;
	fputs("portcullis-ctl: invalid alert ID ", stderr);
	put_field(stderr, id, 0);
	fprintf(stderr, " (want 1 to %d of A-Z a-z 0-9 . _ -, as in `outbreak list`)\n",
	        OMSG_ID_MAX);
	return -1;
}

static int
check_hold_id(const char *id)
{
	if (quarantine_id_valid(id))
		return 0;
	fputs("portcullis-ctl: invalid hold ID ", stderr);
	put_field(stderr, id, 0);
	fputs(" (want 16 hex digits, as in `hold list`)\n", stderr);
	return -1;
}

/* One answer of the control socket. */
struct ctl_answer {
	long status; /* HTTP status */
	char *body;  /* NUL-terminated, or NULL when empty */
	size_t len;
	json_t *json; /* body parsed, or NULL when it is not JSON */
	int over;     /* the body went past CTL_ANSWER_MAX */
};

static void
ctl_answer_clear(struct ctl_answer *a)
{
	free(a->body);
	json_decref(a->json);
	memset(a, 0, sizeof(*a));
}

static size_t
answer_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ctl_answer *a = arg;
	size_t n = size * nmemb;

	if (n > CTL_ANSWER_MAX - a->len) {
		a->over = 1;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	a->body = xrealloc(a->body, a->len + n + 1);
	memcpy(a->body + a->len, data, n);
	a->len += n;
	a->body[a->len] = '\0';
	return n;
}

/* Why the socket at path takes no connection: connect()'s own errno, with
 * a hint for the usual cases. */
static void
sock_why(const char *path, char *buf, size_t cap)
{
	struct sockaddr_un sa;
	int fd, e;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(buf, cap, "%s", strerror(errno));
		return;
	}
	e = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
	close(fd);
	switch (e) {
	case 0:
		snprintf(buf, cap, "the connection failed (try again)");
		break;
	case ENOENT:
		snprintf(buf, cap,
		         "%s (is portcullisd running, with [outbreak] and this "
		         "state_dir?)",
		         strerror(e));
		break;
	case ECONNREFUSED:
		snprintf(buf, cap, "%s (is portcullisd running?)", strerror(e));
		break;
	case EACCES:
	case EPERM:
		snprintf(buf, cap, "%s (run as portcullisd's user)", strerror(e));
		break;
	default:
		snprintf(buf, cap, "%s", strerror(e));
	}
}

/*
 * One request to the daemon's control socket: method "GET" or "POST", path
 * such as "/status" (checked by the caller: nothing in it is escaped), an
 * optional body (POST). 0 with *a filled when an HTTP answer came, whatever
 * its status; -1 when the daemon could not be reached or the exchange broke
 * (said why, naming the socket).
 */
static int
ctl_call(struct ctl *c, const char *method, const char *path, const char *body, size_t len,
         long timeout_s, struct ctl_answer *a)
{
	char url[256], errbuf[CURL_ERROR_SIZE], why[512];
	struct curl_slist *hdr = NULL;
	json_error_t je;
	CURLcode cc;
	CURL *h;

	memset(a, 0, sizeof(*a));
	if (strlen(c->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_warnx("control socket %s: the path is too long for a UNIX socket (a shorter "
		          "outbreak.state_dir)",
		          c->sock);
		return -1;
	}
	snprintf(url, sizeof(url), "http://localhost%s", path);
	if ((h = curl_easy_init()) == NULL) {
		log_warnx("libcurl cannot be initialised");
		return -1;
	}
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* "/alerts/.." stays as it is */
	curl_easy_setopt(h, CURLOPT_PROXY, "");      /* never http_proxy from the environment */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CTL_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, answer_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
	if (strcmp(method, "POST") == 0) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	log_debug("%s %s on %s", method, path, c->sock);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	if (cc == CURLE_COULDNT_CONNECT) {
		sock_why(c->sock, why, sizeof(why));
		log_warnx("cannot reach portcullisd at its control socket %s: %s", c->sock, why);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		log_warnx("%s %s: no answer from portcullisd on %s within %ld s (it may still "
		          "finish: see its log)",
		          method, path, c->sock, timeout_s);
	} else if (cc == CURLE_WRITE_ERROR && a->over) {
		log_warnx("%s %s: the answer on %s is larger than %u bytes", method, path, c->sock,
		          CTL_ANSWER_MAX);
	} else if (cc != CURLE_OK) {
		log_warnx("%s %s on the control socket %s: %s", method, path, c->sock,
		          errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	if (cc != CURLE_OK) {
		ctl_answer_clear(a);
		return -1;
	}
	if (a->len > 0)
		a->json = json_loadb(a->body, a->len, 0, &je);
	return 0;
}

/* Says why an answer is not 2xx; the exit status: 1 for an unknown ID or a
 * wrong state (404, 409), else 2. */
static int
answer_error(const char *method, const char *path, const struct ctl_answer *a)
{
	const char *e = json_string_value(json_object_get(a->json, "error"));

	fprintf(stderr, "portcullis-ctl: %s %s: ", method, path);
	put_field(stderr, e ? e : "no reason given", 1);
	fprintf(stderr, " (HTTP %ld)\n", a->status);
	return a->status == 404 || a->status == 409 ? EX_UNKNOWN : EX_ERR;
}

/* ctl_call() with the checks every command but submit wants: a 2xx answer
 * in JSON. EX_OK with a->json set, else the exit status (said why). */
static int
ctl_request(struct ctl *c, const char *method, const char *path, long timeout_s,
            struct ctl_answer *a)
{
	if (ctl_call(c, method, path, NULL, 0, timeout_s, a) < 0)
		return EX_ERR;
	if (a->status < 200 || a->status > 299)
		return answer_error(method, path, a);
	if (a->json == NULL) {
		log_warnx("%s %s: the answer (HTTP %ld) is not JSON", method, path, a->status);
		return EX_ERR;
	}
	return EX_OK;
}

static int
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
	return fflush(stdout) == 0 ? EX_OK : EX_ERR;
}

/* Keys whose integer values are Unix times (0: none). */
static int
is_time_key(const char *key)
{
	static const char *const keys[] = {"issued", "expires", "received",
	                                   "ended",  "time",    "released_at"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

/*
 * Prints one JSON value as a column or a show value: a string escaped
 * (spaces kept only if keep_space), a time key's integer as ISO 8601 UTC
 * (0 and null: "-"), an array as its elements comma-separated, a scope
 * object as DIRECTION:PROTOCOL,..., another object as compact JSON.
 */
static void
put_value(FILE *f, const char *key, json_t *v, int keep_space)
{
	char t[40];

	if (v == NULL || json_is_null(v)) {
		fputc('-', f);
	} else if (json_is_string(v)) {
		put_field(f, json_string_value(v), keep_space);
	} else if (json_is_integer(v)) {
		if (key != NULL && is_time_key(key))
			fputs(json_integer_value(v) ? iso_time(json_integer_value(v), t, sizeof(t))
			                            : "-",
			      f);
		else
			fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "yes" : "no", f);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;

		if (json_array_size(v) == 0)
			fputc('-', f);
		for (i = 0; i < json_array_size(v); i++) {
			e = json_array_get(v, i);
			if (i > 0)
				fputc(',', f);
			put_value(f, NULL, e, 0);
		}
	} else if (key != NULL && strcmp(key, "scope") == 0 && json_is_object(v)) {
		put_field(f, json_string_value(json_object_get(v, "direction")), 0);
		fputc(':', f);
		put_value(f, NULL, json_object_get(v, "protocols"), 0);
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

		put_field(f, s, keep_space);
		free(s);
	}
}

/* key: value lines for every member of o, in the daemon's order; arrays
 * of objects only counted (they are listed by the caller). */
static void
show_object(json_t *o)
{
	const char *key;
	json_t *v;

	for (void *it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it)) {
		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		put_field(stdout, key, 0);
		fputs(": ", stdout);
		if (json_is_array(v) && json_is_object(json_array_get(v, 0)))
			printf("%zu", json_array_size(v));
		else
			put_value(stdout, key, v, 1);
		putchar('\n');
	}
}

/* A list that is a JSON array or a space-separated string, as one column:
 * comma-separated, "-" when empty. */
static void
put_words(FILE *f, json_t *v)
{
	if (json_is_string(v))
		put_names(f, json_string_value(v));
	else
		put_value(f, NULL, v, 0);
}

/*
 * One line per alert: ID STATE MODE SCOPE VIRUSES ISSUED, SCOPE as
 * DIRECTION:PROTOCOL,... The scope is taken as docs/outbreak.md shows it
 * ("scope": {"direction", "protocols"}) or as flat "direction" and
 * "protocols" (a list or a space-separated string) members.
 */
static void
alert_line(json_t *a)
{
	json_t *scope = json_object_get(a, "scope");

	put_value(stdout, "id", json_object_get(a, "id"), 0);
	putchar(' ');
	put_value(stdout, "state", json_object_get(a, "state"), 0);
	putchar(' ');
	put_value(stdout, "mode", json_object_get(a, "mode"), 0);
	putchar(' ');
	if (scope == NULL)
		scope = a;
	put_field(stdout, json_string_value(json_object_get(scope, "direction")), 0);
	putchar(':');
	put_words(stdout, json_object_get(scope, "protocols"));
	putchar(' ');
	put_words(stdout, json_object_get(a, "viruses"));
	putchar(' ');
	put_value(stdout, "issued", json_object_get(a, "issued"), 0);
	putchar('\n');
}

/* One line per held item: ID TIME ALERT <FROM> <RCPT>,... SIZE RELEASED. */
static void
hold_line(json_t *h)
{
	json_t *rc = json_object_get(h, "rcpts"), *rel = json_object_get(h, "released_at"), *v;
	const char *from = json_string_value(json_object_get(h, "mail_from"));
	size_t i;

	put_value(stdout, "id", json_object_get(h, "id"), 0);
	putchar(' ');
	put_value(stdout, "time", json_object_get(h, "time"), 0);
	putchar(' ');
	put_value(stdout, "alert", json_object_get(h, "alert"), 0);
	putchar(' ');
	put_addr(stdout, from);
	putchar(' ');
	if (json_array_size(rc) == 0)
		putchar('-');
	for (i = 0; i < json_array_size(rc); i++) {
		v = json_array_get(rc, i);
		if (i > 0)
			putchar(',');
		put_addr(stdout, json_string_value(v));
	}
	putchar(' ');
	put_value(stdout, "size", json_object_get(h, "size"), 0);
	putchar(' ');
	if (rel == NULL && json_is_boolean(json_object_get(h, "released")))
		fputs(json_is_true(json_object_get(h, "released")) ? "released" : "-", stdout);
	else
		put_value(stdout, "released_at", rel, 0);
	putchar('\n');
}

/* The list in an answer: the answer itself when it is an array, else its
 * member key or "items" (an array); NULL if none. */
static json_t *
answer_list(json_t *j, const char *key)
{
	json_t *a = json_is_array(j) ? j : json_object_get(j, key);

	if (!json_is_array(a))
		a = json_object_get(j, "items");
	return json_is_array(a) ? a : NULL;
}

static int
cmd_ob_status(struct ctl *c, int json)
{
	struct ctl_answer a;
	json_t *alerts, *v;
	size_t i;
	int rc;

	if ((rc = ctl_request(c, "GET", "/status", CTL_TIMEOUT_S, &a)) != EX_OK)
		goto out;
	if (json) {
		rc = print_json(a.json);
		goto out;
	}
	show_object(a.json);
	alerts = answer_list(a.json, "alerts");
	for (i = 0; i < json_array_size(alerts); i++) {
		v = json_array_get(alerts, i);
		alert_line(v);
	}
	rc = fflush(stdout) == 0 ? EX_OK : EX_ERR;
out:
	ctl_answer_clear(&a);
	return rc;
}

/* GET path; prints the list under key one line each (line()), or the
 * answer as JSON. */
static int
cmd_list_remote(struct ctl *c, const char *path, const char *key, int json, void (*line)(json_t *))
{
	struct ctl_answer a;
	json_t *list, *v;
	size_t i;
	int rc;

	if ((rc = ctl_request(c, "GET", path, CTL_TIMEOUT_S, &a)) != EX_OK)
		goto out;
	if (json) {
		rc = print_json(a.json);
		goto out;
	}
	if ((list = answer_list(a.json, key)) == NULL) {
		log_warnx("GET %s: the answer holds no list of %s", path, key);
		rc = EX_ERR;
		goto out;
	}
	for (i = 0; i < json_array_size(list); i++) {
		v = json_array_get(list, i);
		line(v);
	}
	rc = fflush(stdout) == 0 ? EX_OK : EX_ERR;
out:
	ctl_answer_clear(&a);
	return rc;
}

/* GET or POST prefix/ID[/action] (ID checked); prints the answer as
 * key: value lines (an object under key is printed instead of the answer
 * when the answer wraps it). */
static int
cmd_remote_id(struct ctl *c, const char *method, const char *prefix, const char *id,
              const char *action, const char *key, long timeout_s)
{
	char path[32 + OMSG_ID_MAX + 32];
	struct ctl_answer a;
	json_t *o;
	int rc;

	snprintf(path, sizeof(path), "%s/%s%s%s", prefix, id, action ? "/" : "",
	         action ? action : "");
	if ((rc = ctl_request(c, method, path, timeout_s, &a)) != EX_OK)
		goto out;
	o = json_object_get(a.json, key);
	if (!json_is_object(o))
		o = a.json;
	if (json_object_size(o) == 1 && json_is_string(json_object_get(o, "result"))) {
		/* an action's answer: {"result": "what was done"} */
		put_field(stdout, json_string_value(json_object_get(o, "result")), 1);
		putchar('\n');
	} else if (json_is_object(o)) {
		show_object(o);
	} else
		print_json(o);
	rc = fflush(stdout) == 0 ? EX_OK : EX_ERR;
out:
	ctl_answer_clear(&a);
	return rc;
}

/* Reads all of fd, at most max bytes. The bytes (NUL-terminated) or NULL:
 * *too_big when there were more. */
static char *
read_limited(int fd, uint64_t max, size_t *len, int *too_big)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	*too_big = 0;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap)
			buf = xgrow(buf, &cap, n + 65536, 1);
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			*too_big = 1;
			free(buf);
			return NULL;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmd_ob_submit(struct ctl *c, const char *file)
{
	int stdin_ = strcmp(file, "-") == 0, fd, too_big, rc;
	const char *name = stdin_ ? "standard input" : file, *why;
	struct ctl_answer a;
	json_t *acc;
	size_t len = 0;
	char *doc;

	fd = stdin_ ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_warn("%s", file);
		return EX_ERR;
	}
	doc = read_limited(fd, c->conf.outbreak_max_document, &len, &too_big);
	if (doc == NULL && !too_big)
		log_warn("%s: read", name);
	if (!stdin_)
		close(fd);
	if (too_big)
		log_warnx("%s: larger than outbreak.max_document (%" PRIu64 " bytes)", name,
		          c->conf.outbreak_max_document);
	if (doc == NULL)
		return EX_ERR;
	rc = ctl_call(c, "POST", "/submit", doc, len, CTL_TIMEOUT_S, &a);
	free(doc);
	if (rc < 0)
		return EX_ERR;
	if (a.json == NULL) {
		log_warnx("POST /submit: the answer (HTTP %ld) is not JSON", a.status);
		rc = a.status >= 400 && a.status < 500 ? EX_UNKNOWN : EX_ERR;
		goto out;
	}
	print_json(a.json);
	acc = json_object_get(a.json, "accepted");
	if (json_is_true(acc) && a.status >= 200 && a.status <= 299) {
		rc = EX_OK;
		goto out;
	}
	why = json_string_value(json_object_get(a.json, "reason"));
	if (why == NULL)
		why = json_string_value(json_object_get(a.json, "error"));
	fprintf(stderr, "portcullis-ctl: %s: %s: ", name,
	        a.status >= 500 ? "portcullisd failed" : "not accepted");
	put_field(stderr, why ? why : "no reason given", 1);
	fprintf(stderr, " (HTTP %ld)\n", a.status);
	/* 5xx: the daemon's own failure (try again), not a verdict on the document */
	rc = a.status >= 500 ? EX_ERR : EX_UNKNOWN;
out:
	ctl_answer_clear(&a);
	return rc;
}

static int
cmd_ob_keygen(struct ctl *c, const char *prefix)
{
	const char *gk = c->conf.outbreak_gateway_key;
	char *priv, *pub, *err = NULL, hex[65];
	struct stat st;
	size_t n;
	int rc = EX_ERR;

	if (prefix != NULL) {
		priv = xasprintf("%s.key", prefix);
		pub = xasprintf("%s.pub", prefix);
	} else if (gk != NULL && *gk != '\0') {
		/* where the daemon reads it; the public key beside it */
		n = strlen(gk);
		priv = xstrdup(gk);
		if (n > 4 && strcmp(gk + n - 4, ".key") == 0)
			pub = xasprintf("%.*s.pub", (int)(n - 4), gk);
		else
			pub = xasprintf("%s.pub", gk);
	} else {
		priv = xasprintf("%s/gateway.key", c->conf.outbreak_state_dir);
		pub = xasprintf("%s/gateway.pub", c->conf.outbreak_state_dir);
	}
	if (lstat(priv, &st) == 0 || lstat(pub, &st) == 0) {
		log_warnx("%s exists: nothing was replaced (remove the old pair first, or "
		          "--out PREFIX)",
		          lstat(priv, &st) == 0 ? priv : pub);
		goto out;
	}
	if (okey_generate(priv, pub, hex, &err) < 0) {
		log_warnx("keygen: %s", err ? err : "failed");
		goto out;
	}
	log_info("wrote %s and %s", priv, pub);
	printf("%s\n", hex);
	rc = fflush(stdout) == 0 ? EX_OK : EX_ERR;
out:
	free(err);
	free(priv);
	free(pub);
	return rc;
}

/* One line per entry of the transparency log: N TIME RESULT SOURCE TYPE
 * ID SEQ REASON (the reason last, spaces kept). */
static int
cmd_ob_log(struct ctl *c, int verify)
{
	char *path = xasprintf("%s/" CTL_TLOG_NAME, c->conf.outbreak_state_dir);
	char *line = NULL, *err = NULL;
	size_t cap = 0, lineno = 0, entries = 0, bad = 0;
	ssize_t len;
	int rc = EX_ERR, broken = 0;
	FILE *f;

	if (verify) {
		if (tlog_verify(path, &entries, &bad, &err) == 0) {
			printf("ok: %zu entries\n", entries);
			rc = EX_OK;
		} else {
			const char *why = err ? err : "unknown error";
			char pre[48];

			/* tlog's reason may itself begin with "line L: " */
			snprintf(pre, sizeof(pre), "line %zu: ", bad);
			if (bad > 0 && strncmp(why, pre, strlen(pre)) == 0)
				why += strlen(pre);
			if (bad > 0)
				printf("FAILED at line %zu: ", bad);
			else
				fputs("FAILED: ", stdout);
			put_field(stdout, why, 1);
			putchar('\n');
			/* no line to blame: the log could not be read at all */
			rc = bad > 0 ? EX_UNKNOWN : EX_ERR;
		}
		free(err);
		free(path);
		if (fflush(stdout) != 0)
			rc = EX_ERR;
		return rc;
	}
	if ((f = fopen(path, "re")) == NULL) {
		log_warn("%s", path);
		free(path);
		return EX_ERR;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		static const char *const cols[] = {"time", "result", "source", "type", "id", "seq"};
		json_error_t je;
		json_t *e;

		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if ((e = json_loadb(line, (size_t)len, 0, &je)) == NULL || !json_is_object(e)) {
			log_warnx("%s:%zu: not a JSON object (see `outbreak log --verify`)", path,
			          lineno);
			json_decref(e);
			broken = 1;
			continue;
		}
		put_value(stdout, "n", json_object_get(e, "n"), 0);
		for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
			putchar(' ');
			put_value(stdout, cols[i], json_object_get(e, cols[i]), 0);
		}
		putchar(' ');
		put_value(stdout, "reason", json_object_get(e, "reason"), 1);
		putchar('\n');
		json_decref(e);
	}
	if (ferror(f))
		log_warn("%s: read", path);
	else if (!broken)
		rc = EX_OK;
	fclose(f);
	free(line);
	free(path);
	if (fflush(stdout) != 0)
		rc = EX_ERR;
	return rc;
}

/* Parses the outbreak subcommand at argv[0] and runs it. */
static int
ctl_outbreak(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"out", required_argument, NULL, 'o'},
	    {"verify", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	const char *sub, *out = NULL, *arg = NULL;
	int json = 0, verify = 0, ch, nargs;

	if (argc < 1) {
		usage(stderr);
		return EX_ERR;
	}
	sub = argv[0];
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'y':
			verify = 1;
			break;
		default:
			usage(stderr);
			return EX_ERR;
		}
	}
	if (!strcmp(sub, "submit") || !strcmp(sub, "show") || !strcmp(sub, "release") ||
	    !strcmp(sub, "lift")) {
		nargs = 1;
	} else if (!strcmp(sub, "keygen") || !strcmp(sub, "status") || !strcmp(sub, "list") ||
	           !strcmp(sub, "log")) {
		nargs = 0;
	} else {
		log_warnx("unknown outbreak command %.100s", sub);
		usage(stderr);
		return EX_ERR;
	}
	if (argc - optind != nargs || (json && strcmp(sub, "status") && strcmp(sub, "list")) ||
	    (out && strcmp(sub, "keygen")) || (verify && strcmp(sub, "log"))) {
		usage(stderr);
		return EX_ERR;
	}
	if (nargs == 1) {
		arg = argv[optind];
		if (strcmp(sub, "submit") != 0 && check_alert_id(arg) < 0)
			return EX_ERR;
	}
	if (!strcmp(sub, "keygen"))
		return cmd_ob_keygen(c, out);
	if (!strcmp(sub, "log"))
		return cmd_ob_log(c, verify);
	if (!strcmp(sub, "submit"))
		return cmd_ob_submit(c, arg);
	if (!strcmp(sub, "status"))
		return cmd_ob_status(c, json);
	if (!strcmp(sub, "list"))
		return cmd_list_remote(c, "/alerts", "alerts", json, alert_line);
	if (!strcmp(sub, "show"))
		return cmd_remote_id(c, "GET", "/alerts", arg, NULL, "alert", CTL_TIMEOUT_S);
	if (!strcmp(sub, "release"))
		return cmd_remote_id(c, "POST", "/alerts", arg, "release", "alert",
		                     CTL_RELEASE_TIMEOUT_S);
	return cmd_remote_id(c, "POST", "/alerts", arg, "lift", "alert", CTL_TIMEOUT_S);
}

/* Parses the hold subcommand at argv[0] and runs it. */
static int
ctl_hold(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const char *sub, *id = NULL;
	int json = 0, ch, takes_id;

	if (argc < 1) {
		usage(stderr);
		return EX_ERR;
	}
	sub = argv[0];
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j') {
			usage(stderr);
			return EX_ERR;
		}
		json = 1;
	}
	takes_id = !strcmp(sub, "show") || !strcmp(sub, "release") || !strcmp(sub, "delete");
	if (!takes_id && strcmp(sub, "list") != 0) {
		log_warnx("unknown hold command %.100s", sub);
		usage(stderr);
		return EX_ERR;
	}
	if (argc - optind != (takes_id ? 1 : 0) || (json && strcmp(sub, "list"))) {
		usage(stderr);
		return EX_ERR;
	}
	if (takes_id) {
		id = argv[optind];
		if (check_hold_id(id) < 0)
			return EX_ERR;
	}
	if (!strcmp(sub, "list"))
		return cmd_list_remote(c, "/hold", "hold", json, hold_line);
	if (!strcmp(sub, "show"))
		return cmd_remote_id(c, "GET", "/hold", id, NULL, "item", CTL_TIMEOUT_S);
	if (!strcmp(sub, "release"))
		return cmd_remote_id(c, "POST", "/hold", id, "release", "item",
		                     CTL_RELEASE_TIMEOUT_S);
	return cmd_remote_id(c, "POST", "/hold", id, "delete", "item", CTL_TIMEOUT_S);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},   {"dir", required_argument, NULL, 'd'},
	    {"next-hop", required_argument, NULL, 'n'}, {"timeout", required_argument, NULL, 'T'},
	    {"verbose", no_argument, NULL, 'v'},        {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	const char *cmd;
	struct ctl c;
	int ch, verbose = 0, rc;

	memset(&c, 0, sizeof(c));
	log_init("portcullis-ctl", 0, LOG_LVL_WARN);
	/* '+': stop at "quarantine" (outbreak, hold); the subcommand parses its own
	 * options. */
	while ((ch = getopt_long(argc, argv, "+c:d:n:T:vVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c.config_path = optarg;
			break;
		case 'd':
			c.dir = optarg;
			break;
		case 'n':
			c.next_hop = optarg;
			break;
		case 'T':
			if (parse_duration_ms(optarg, &c.timeout_ms) < 0 || c.timeout_ms == 0) {
				fprintf(stderr, "portcullis-ctl: --timeout %s: not a duration\n",
				        optarg);
				return EX_ERR;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("portcullis-ctl %s\n", PORTCULLIS_VERSION);
			return EX_OK;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_ERR;
		}
	}
	if (argc - optind < 2 ||
	    (strcmp(argv[optind], "quarantine") != 0 && strcmp(argv[optind], "outbreak") != 0 &&
	     strcmp(argv[optind], "hold") != 0)) {
		usage(stderr);
		return EX_ERR;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "quarantine") != 0 &&
	    (c.dir != NULL || c.next_hop != NULL || c.timeout_ms != 0)) {
		log_warnx("-d, -n and -T are for quarantine commands, not %s", cmd);
		return EX_ERR;
	}
	if (ctl_config(&c) < 0) {
		conf_free(&c.conf);
		return EX_ERR;
	}
	log_set_level(verbose ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	if (strcmp(cmd, "quarantine") == 0) {
		if (c.dir == NULL)
			c.dir = c.conf.quarantine_dir;
		rc = ctl_quarantine(&c, argc - optind - 1, argv + optind + 1);
	} else {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_warnx("libcurl cannot be initialised");
			conf_free(&c.conf);
			return EX_ERR;
		}
		c.sock = xasprintf("%s/" CTL_SOCK_NAME, c.conf.outbreak_state_dir);
		if (strcmp(cmd, "outbreak") == 0)
			rc = ctl_outbreak(&c, argc - optind - 1, argv + optind + 1);
		else
			rc = ctl_hold(&c, argc - optind - 1, argv + optind + 1);
		free(c.sock);
		curl_global_cleanup();
	}
	quarantine_free(c.q);
	conf_free(&c.conf);
	return rc;
}
