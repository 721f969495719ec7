/*
 * notify: the text of every notice Portcullis writes, from templates an
 * admin can edit: the notices to the recipients, the sender and the admin
 * (complete RFC 5322 messages, sent through the next hop by the caller),
 * and the texts that take the place of an infected part (removed.txt for
 * strip, report.txt for replace; used by rewrite).
 *
 * A template file is an optional first line `Subject: ...`, a blank line,
 * then the body (LF or CRLF). Missing files fall back to the defaults
 * compiled in, so a broken install still notifies. Variables are %NAME%
 * (see notify_vars); one pass, so a value that contains %ID% stays as it
 * is; an unknown %X% is left as is.
 *
 * Every value comes from the wire or may, so every value is sanitized
 * before it is put anywhere (util/sanitize.h SAN_VALUE): invalid UTF-8 and
 * control characters (CR, LF, NUL, TAB, C1) become '?' or a space, and it
 * is cut to NOTIFY_VALUE_MAX bytes, "..." marking the cut. Header fields built here never carry CR,
 * LF or NUL from a value; a non-ASCII Subject is RFC 2047-encoded. Sending is the caller's.
 */
#ifndef PC_NOTIFY_H
#define PC_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#define NOTIFY_TEMPLATE_MAX (64 * 1024)     /* bytes of one template file */
#define NOTIFY_VALUE_MAX 1000               /* bytes of one substituted value */
#define NOTIFY_SUBJECT_MAX 200              /* bytes of a rendered Subject before encoding */
#define NOTIFY_ADDR_MAX 254                 /* bytes of a From / To address */
#define NOTIFY_HEADER_READ_MAX (256 * 1024) /* bytes read looking for a Subject */

/* The template names: notify_render's `which`, and the file which + ".txt". */
#define NOTIFY_RECIPIENT "recipient"
#define NOTIFY_SENDER "sender"
#define NOTIFY_ADMIN "admin"
#define NOTIFY_REMOVED "removed"
#define NOTIFY_REPORT "report"
#define NOTIFY_FTP_ADMIN "ftp-admin"   /* to the admin: an infected FTP file */
#define NOTIFY_FTP_REPORT "ftp-report" /* what an FTP receiver gets instead of the file */
#define NOTIFY_HELD "held"             /* to the recipients: a message held (outbreak) */
#define NOTIFY_HELD_PART "held-part"   /* in place of an attachment held (outbreak) */

struct notify_templates;

/*
 * The values of the variables; NULL is the empty string. Nothing is copied
 * and nothing need be sanitized by the caller.
 */
struct notify_vars {
	const char *id;           /* %ID%: quarantine ID */
	const char *virus;        /* %VIRUS%: names, comma-separated */
	const char *from;         /* %FROM%: envelope sender */
	const char *rcpts;        /* %RCPTS%: envelope recipients, comma-separated */
	const char *subject;      /* %SUBJECT%: the original Subject, decoded */
	const char *date;         /* %DATE%: when the message arrived */
	const char *action;       /* %ACTION%: "quarantined", "dropped", ... */
	const char *client;       /* %CLIENT%: "[addr]:port" of the SMTP client */
	const char *hostname;     /* %HOSTNAME%: ours */
	const char *release_hint; /* %RELEASE_HINT%: from the configuration; its own %ID%
	                             is replaced by id (the only nested variable) */
	const char *part;         /* %PART%: MIME part id, "2.1" */
	const char *filename;     /* %FILENAME%: the part's declared name */
	const char *direction;    /* %DIRECTION%: "inbound" / "outbound" */
	const char *user;         /* %USER%: the FTP login name */
	const char *server;       /* %SERVER%: the FTP server, "ftp:addr:port" */
	const char *command;      /* %COMMAND%: RETR, STOR, APPE, STOU */
	const char *alert;        /* %ALERT%: the outbreak alert's ID */
};

/*
 * Loads recipient.txt, sender.txt, admin.txt, removed.txt, report.txt,
 * ftp-admin.txt, ftp-report.txt, held.txt and held-part.txt
 * from dir (NULL: the defaults only). A missing file gets the built-in
 * default (logged at debug). A file that cannot be read, is larger than
 * NOTIFY_TEMPLATE_MAX, holds a NUL or invalid UTF-8, or whose Subject line
 * is not followed by a blank line is an error: returns NULL with *err set
 * ("dir/name.txt: why"; caller frees), so that `portcullisd -t` reports it.
 */
struct notify_templates *notify_templates_load(const char *dir, char **err);
void notify_templates_free(struct notify_templates *t);

/*
 * The body of template `which` with the variables substituted (LF line
 * ends, values sanitized). t NULL means the built-in defaults (also for
 * notify_render_subject and notify_message). Returns a string the caller
 * frees, or NULL if which is not a template name.
 */
char *notify_render(const struct notify_templates *t, const char *which,
                    const struct notify_vars *v);
/* Its Subject the same way, on one line, cut to NOTIFY_SUBJECT_MAX; caller frees. */
char *notify_render_subject(const struct notify_templates *t, const char *which,
                            const struct notify_vars *v);

/*
 * A complete message from template which (CRLF line ends, ends in CRLF):
 * Date, Message-ID <random@hostname>, From, To, Subject (RFC 2047 when not
 * ASCII), Auto-Submitted: auto-replied, Precedence: bulk, MIME-Version,
 * text/plain; charset=utf-8, 8bit, then the body (lines longer than 998
 * bytes wrapped). from_addr and to_addr are bare addresses (local@domain,
 * the local part possibly quoted: "john doe"@example.com). One that is
 * empty, longer than NOTIFY_ADDR_MAX, not UTF-8, or holds a control
 * character, or outside a quoted local part a space or one of <>()",;\@
 * (inside one: \ < >), is refused: returns NULL (logged), as for an unknown
 * which. The caller must handle NULL. Caller frees.
 */
char *notify_message(const struct notify_templates *t, const char *which,
                     const struct notify_vars *v, const char *from_addr, const char *to_addr);

/*
 * Finds the Subject field in the header block of the message in bytes
 * [0, size) of fd (read with pread, at most NOTIFY_HEADER_READ_MAX), unfolds
 * and decodes it (RFC 2047, by GMime) and stores it sanitized in out (cap
 * bytes, NUL-terminated, cut at a character boundary). Returns 0, or -1
 * (out = "") if there is none or it cannot be read.
 */
int notify_subject_of(int fd, uint64_t size, char *out, size_t cap);

#endif
