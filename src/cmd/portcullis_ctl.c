/*
 * portcullis-ctl: the administrator's tool for the quarantine: list, show,
 * release, delete and purge messages. Owns argument parsing, the output
 * formats and the choice of next hop and envelope for a release; the
 * storage itself is store/quarantine, the sending smtp/smtp_send and
 * store/maildir.
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
 * Exit status: 0 success, 1 unknown ID, 2 any other error (usage, invalid
 * ID, I/O, refused release).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conf/conf.h"
#include "config.h"
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

struct ctl {
	struct pc_config conf;
	const char *config_path; /* NULL = none loaded */
	const char *dir;         /* --dir, else conf.quarantine_dir */
	const char *next_hop;    /* --next-hop, or NULL */
	uint64_t timeout_ms;     /* --timeout, 0 = the listener's next_hop_timeout */
	struct quarantine *q;
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
	        "\n"
	        "Manages the quarantine of portcullisd.\n"
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
	        "Exit status: 0 success, 1 unknown ID, 2 any other error.\n",
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},   {"dir", required_argument, NULL, 'd'},
	    {"next-hop", required_argument, NULL, 'n'}, {"timeout", required_argument, NULL, 'T'},
	    {"verbose", no_argument, NULL, 'v'},        {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	struct ctl c;
	int ch, verbose = 0, rc;

	memset(&c, 0, sizeof(c));
	log_init("portcullis-ctl", 0, LOG_LVL_WARN);
	/* '+': stop at "quarantine"; the subcommand parses its own options. */
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
	if (argc - optind < 2 || strcmp(argv[optind], "quarantine") != 0) {
		usage(stderr);
		return EX_ERR;
	}
	if (ctl_config(&c) < 0) {
		conf_free(&c.conf);
		return EX_ERR;
	}
	log_set_level(verbose ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	if (c.dir == NULL)
		c.dir = c.conf.quarantine_dir;
	rc = ctl_quarantine(&c, argc - optind - 1, argv + optind + 1);
	quarantine_free(c.q);
	conf_free(&c.conf);
	return rc;
}
