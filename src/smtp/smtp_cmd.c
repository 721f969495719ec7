/*
 * smtp_cmd: the client-side command table and the MAIL/RCPT argument
 * parser. Owns the table; the session owns what it does with a row. Pure,
 * no I/O, no logging.
 *
 * Flags, per RFC 5321 4.1.4:
 *   CMD_NEEDS_HELO  MAIL RCPT DATA: a transaction needs HELO/EHLO first.
 *                   NOOP RSET HELP VRFY QUIT work before it (RFC 5321
 *                   4.1.4 says servers SHOULD accept them), and so does
 *                   STARTTLS (RFC 3207 does not require EHLO first).
 *   CMD_NOT_OFFERED BDAT AUTH EXPN XCLIENT XFORWARD: never advertised to
 *                   clients; the session answers 502.
 *
 * A verb matches case-insensitively only when a space or the end of the
 * line follows it: "MAILFROM:" and "DATA\t" are unknown.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_cmd.h"

static const struct smtp_cmd_info cmd_table[] = {
    {"HELO", V_HELO, 0},
    {"EHLO", V_EHLO, 0},
    {"MAIL", V_MAIL, CMD_NEEDS_HELO},
    {"RCPT", V_RCPT, CMD_NEEDS_HELO},
    {"DATA", V_DATA, CMD_NEEDS_HELO},
    {"RSET", V_RSET, 0},
    {"NOOP", V_NOOP, 0},
    {"QUIT", V_QUIT, 0},
    {"VRFY", V_VRFY, 0},
    {"EXPN", V_EXPN, CMD_NOT_OFFERED},
    {"HELP", V_HELP, 0},
    {"STARTTLS", V_STARTTLS, 0},
    {"BDAT", V_BDAT, CMD_NOT_OFFERED},
    {"AUTH", V_AUTH, CMD_NOT_OFFERED},
    {"XCLIENT", V_XCLIENT, CMD_NOT_OFFERED},
    {"XFORWARD", V_XFORWARD, CMD_NOT_OFFERED},
};

static const struct smtp_cmd_info cmd_unknown = {"UNKNOWN", V_UNKNOWN, 0};

const struct smtp_cmd_info *
smtp_cmd_lookup(const char *line, const char **args)
{
	const struct smtp_cmd_info *row = &cmd_unknown;
	size_t n;

	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		n = strlen(cmd_table[i].name);
		if (strncasecmp(line, cmd_table[i].name, n) == 0 &&
		    (line[n] == ' ' || line[n] == '\0')) {
			row = &cmd_table[i];
			break;
		}
	}
	/* Unknown: the arguments are what follows the first word. */
	n = row != &cmd_unknown ? strlen(row->name) : strcspn(line, " ");
	line += n;
	while (*line == ' ')
		line++;
	if (args != NULL)
		*args = line;
	return row;
}

static void
set_err(char *err, size_t errcap, const char *reason)
{
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "%s", reason);
}

/* RFC 5321 specials that may not appear unquoted in a local part. */
static int
local_special(unsigned char c)
{
	return c == ' ' || strchr("<>()[]\\,;:@\"", c) != NULL;
}

/*
 * Checks a mailbox (without brackets and route) of len bytes: an optional
 * local part ("quoted" or dot-atom-ish, 8-bit allowed for SMTPUTF8), and,
 * after the one unquoted "@", a domain or an address literal [..]. A bare
 * local part ("postmaster") is accepted; the next hop decides. 0 or -1.
 */
static int
mailbox_check(const char *s, size_t len)
{
	size_t i = 0, at;

	if (len == 0)
		return -1;
	if (s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++)
			if (s[i] == '\\' && ++i >= len)
				return -1;
		if (i >= len)
			return -1;
		i++; /* past the closing quote */
		if (i < len && s[i] != '@')
			return -1;
	} else {
		for (; i < len && s[i] != '@'; i++)
			if (local_special((unsigned char)s[i]))
				return -1;
		if (i == 0)
			return -1;
	}
	if (i == len)
		return 0; /* local part only */
	at = i++;
	if (at + 1 >= len)
		return -1;
	if (s[i] == '[') {
		/* Address literal: what IPv4, "IPv6:..." and tagged literals are
		 * made of (RFC 5321 4.1.3), nothing that could end the path or
		 * open a quoted string when the path is written out again. */
		if (s[len - 1] != ']' || len - i < 3)
			return -1;
		for (i++; i < len - 1; i++) {
			unsigned char c = (unsigned char)s[i];

			if (!(isalnum(c) || c == '.' || c == ':' || c == '-'))
				return -1;
		}
		return 0;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '-' || c == '.' || c >= 0x80))
			return -1;
	}
	return 0;
}

/*
 * Finds the end of a bracketed path starting after "<": the index of the
 * closing ">" outside a quoted string, or -1.
 */
static long
path_close(const char *s)
{
	int quoted = 0;

	for (long i = 0; s[i] != '\0'; i++) {
		if (quoted) {
			if (s[i] == '\\') {
				if (s[++i] == '\0')
					return -1;
			} else if (s[i] == '"')
				quoted = 0;
		} else if (s[i] == '"')
			quoted = 1;
		else if (s[i] == '>')
			return i;
		else if (s[i] == '<' || s[i] == ' ')
			return -1;
	}
	return -1;
}

/* Parses one "KEY[=VALUE]" of len bytes into out; 0 or -1. */
static int
param_parse(const char *s, size_t len, struct smtp_param *out)
{
	const char *eq = memchr(s, '=', len);
	size_t kl = eq ? (size_t)(eq - s) : len, vl = eq ? len - kl - 1 : 0;

	if (kl == 0 || kl >= sizeof(out->name) || !isalnum((unsigned char)s[0]))
		return -1;
	for (size_t i = 0; i < kl; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return -1;
		out->name[i] = (char)toupper((unsigned char)s[i]);
	}
	out->name[kl] = '\0';
	if (eq == NULL) {
		out->value[0] = '\0';
		return 0;
	}
	/* esmtp-value: no "=", no space, no controls (checked by the caller). */
	if (vl == 0 || vl >= sizeof(out->value) || memchr(eq + 1, '=', vl) != NULL)
		return -1;
	memcpy(out->value, eq + 1, vl);
	out->value[vl] = '\0';
	return 0;
}

int
smtp_path_parse(const char *args, const char *prefix, struct smtp_path *out, char *err,
                size_t errcap)
{
	const char *p, *box, *q;
	size_t plen = strlen(prefix), blen;

	memset(out, 0, sizeof(*out));
	for (p = args; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			set_err(err, errcap, "NUL or control character");
			return -1;
		}
	if (strncasecmp(args, prefix, plen) != 0) {
		set_err(err, errcap, "syntax");
		return -1;
	}
	p = args + plen;
	while (*p == ' ')
		p++;
	if (*p == '<') {
		long close = path_close(p + 1);

		if (close < 0 || (p[close + 2] != ' ' && p[close + 2] != '\0')) {
			set_err(err, errcap, "syntax");
			return -1;
		}
		box = p + 1;
		blen = (size_t)close;
		p += close + 2;
		/* A source route "@a,@b:" is obsolete: drop it (RFC 5321 4.1.2, C). */
		if (blen > 0 && box[0] == '@') {
			q = memchr(box, ':', blen);
			if (q == NULL || memchr(box, '"', (size_t)(q - box)) != NULL) {
				set_err(err, errcap, "syntax");
				return -1;
			}
			blen -= (size_t)(q + 1 - box);
			box = q + 1;
			if (blen == 0) {
				set_err(err, errcap, "syntax");
				return -1;
			}
		}
		/* "<>" is the null sender; no recipient is empty. */
		if (blen == 0 && strcasecmp(prefix, "TO:") == 0) {
			set_err(err, errcap, "syntax");
			return -1;
		}
	} else {
		box = p;
		blen = strcspn(p, " ");
		p += blen;
		if (blen == 0 || memchr(box, '<', blen) || memchr(box, '>', blen)) {
			set_err(err, errcap, "syntax");
			return -1;
		}
	}
	if (blen > SMTP_PATH_MAX) {
		set_err(err, errcap, "path too long");
		return -1;
	}
	if (blen > 0 && mailbox_check(box, blen) < 0) {
		set_err(err, errcap, "syntax");
		return -1;
	}
	memcpy(out->addr, box, blen);
	out->addr[blen] = '\0';

	for (;;) {
		size_t tl;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		tl = strcspn(p, " ");
		if (out->nparams == SMTP_MAX_PARAMS) {
			set_err(err, errcap, "too many parameters");
			return -1;
		}
		if (param_parse(p, tl, &out->params[out->nparams]) < 0 ||
		    smtp_path_param(out, out->params[out->nparams].name) != NULL) {
			set_err(err, errcap, "bad parameter");
			return -1;
		}
		out->nparams++;
		p += tl;
	}
	return 0;
}

const char *
smtp_path_param(const struct smtp_path *p, const char *name)
{
	for (size_t i = 0; i < p->nparams; i++)
		if (strcasecmp(p->params[i].name, name) == 0)
			return p->params[i].value;
	return NULL;
}

void
smtp_xtext_encode(const char *in, char *out, size_t cap)
{
	size_t j = 0;

	if (cap == 0)
		return;
	for (; *in && j + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=') {
			snprintf(out + j, cap - j, "+%02X", ch);
			j += 3;
		} else
			out[j++] = (char)ch;
	}
	out[j] = '\0';
}

static int
xdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
smtp_xtext_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t j = 0;

	if (cap == 0)
		return;
	if (len == 13 &&
	    (strncmp(in, "[UNAVAILABLE]", 13) == 0 || strncmp(in, "[TEMPUNAVAIL]", 13) == 0))
		len = 0;
	for (size_t i = 0; i < len && j + 1 < cap; i++) {
		if (in[i] == '+' && i + 2 < len && xdigit(in[i + 1]) >= 0 &&
		    xdigit(in[i + 2]) >= 0) {
			int ch = xdigit(in[i + 1]) << 4 | xdigit(in[i + 2]);

			out[j++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
			i += 2;
		} else
			out[j++] = in[i];
	}
	out[j] = '\0';
}
