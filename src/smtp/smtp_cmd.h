/*
 * smtp_cmd: the command table and argument parsers of the client side.
 * Pure, no I/O. The verb decides the table row; rows carry flags the
 * session uses (needs HELO first, never offered). Also the xtext codec
 * (RFC 3461) of XFORWARD and XCLIENT values.
 */
#ifndef PC_SMTP_CMD_H
#define PC_SMTP_CMD_H

#include <stddef.h>

enum smtp_verb {
	V_HELO,
	V_EHLO,
	V_MAIL,
	V_RCPT,
	V_DATA,
	V_RSET,
	V_NOOP,
	V_QUIT,
	V_VRFY,
	V_EXPN,
	V_HELP,
	V_STARTTLS,
	V_BDAT,
	V_AUTH,
	V_XCLIENT,
	V_XFORWARD,
	V_UNKNOWN,
};

#define CMD_NEEDS_HELO 0x01  /* 503 before HELO/EHLO */
#define CMD_NOT_OFFERED 0x04 /* an extension we never offer: 502 */

struct smtp_cmd_info {
	const char *name;
	enum smtp_verb verb;
	unsigned flags;
};

/*
 * Splits a command line (no line ending) into its table row and the
 * arguments after the verb (leading spaces skipped; points into line).
 * Unknown verbs give the V_UNKNOWN row. Never fails.
 */
const struct smtp_cmd_info *smtp_cmd_lookup(const char *line, const char **args);

#define SMTP_PATH_MAX 512 /* RFC 5321 allows 256; we are lenient but bounded */
#define SMTP_MAX_PARAMS 16

struct smtp_param {
	char name[32];   /* upper-cased keyword, e.g. "SIZE" */
	char value[256]; /* "" when the parameter has no value */
};

struct smtp_path {
	char addr[SMTP_PATH_MAX + 1]; /* without the angle brackets; "" for <> */
	struct smtp_param params[SMTP_MAX_PARAMS];
	size_t nparams;
};

/*
 * Parses "FROM:<a@b> SIZE=10 BODY=8BITMIME" (prefix "FROM:") or
 * "TO:<a@b>" (prefix "TO:"), case-insensitive prefix, optional space after
 * the colon, the path in angle brackets (a bare address is accepted).
 * Returns 0, or -1 with a short reason in err ("syntax", "path too long",
 * "bad parameter", "too many parameters", "NUL or control character").
 */
int smtp_path_parse(const char *args, const char *prefix, struct smtp_path *out, char *err,
                    size_t errcap);
/* Returns the value of parameter name (upper-case), or NULL if absent. */
const char *smtp_path_param(const struct smtp_path *p, const char *name);

/* Encodes in as xtext (RFC 3461) into out (cap bytes, truncated whole). */
void smtp_xtext_encode(const char *in, char *out, size_t cap);
/*
 * Decodes len bytes of xtext into out (cap bytes); "[UNAVAILABLE]" and
 * "[TEMPUNAVAIL]" (Postfix's markers) become "", control characters '?'.
 */
void smtp_xtext_decode(const char *in, size_t len, char *out, size_t cap);

#endif
