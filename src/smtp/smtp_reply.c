/*
 * smtp_reply: replies of an SMTP server (the next hop), parsed a line at a
 * time, and replies formatted for the client. A reply owns copies of its
 * lines; the caller owns the struct. No I/O, no logging.
 *
 * A line is "DDD" [ ("-" | " ") text ], first digit 2-5 (RFC 5321 4.2).
 * "-" continues the reply; " " or nothing ends it. The enhanced status
 * code (RFC 2034/3463, "C.SSS.DDD" with C the code's first digit) is taken
 * from the first line; continuation lines lose the same kind of prefix so
 * that lines[] holds only text and formatting can repeat r->enh. Control
 * characters in the text (a next hop's stray CR, NUL ...) become "?" so
 * that nothing but text ever reaches the client; one trailing CR (a line
 * handed over with its CR) is dropped.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_reply.h"
#include "util/sanitize.h"
#include "util/xalloc.h"

const char *
smtp_status_name(enum smtp_status st)
{
	static const char *names[] = {"reply",    "connect", "timeout", "closed",
	                              "protocol", "tls",     "local"};

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void
smtp_reply_clear(struct smtp_reply *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	smtp_reply_init(r);
}

/*
 * Length of an enhanced status code of class `cls` at the start of s (of
 * len bytes), followed by a space or the end; 0 if there is none.
 */
static size_t
enh_len(const char *s, size_t len, char cls)
{
	size_t i = 0, n;

	if (len < 5 || s[0] != cls || (cls != '2' && cls != '4' && cls != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (n = 0; i < len && n < 4 && isdigit((unsigned char)s[i]); i++, n++)
			;
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

/* A copy of len bytes of s with control characters but TAB replaced by '?'. */
static char *
clean_copy(const char *s, size_t len)
{
	char *t = xmalloc(len + 1);

	sanitize_mem(s, len, t, len + 1, SAN_REPLY);
	return t;
}

/* Appends a copy of text (sanitized like parsed lines) to r's lines. */
static void
reply_push(struct smtp_reply *r, const char *text, size_t len)
{
	/* lines[] grows one at a time; SMTP_REPLY_MAX_LINES bounds it. */
	r->lines = xrealloc(r->lines, (r->nlines + 1) * sizeof(*r->lines));
	r->lines[r->nlines++] = clean_copy(text, len);
}

/*
 * Feeding a line to a complete reply starts a new reply (as if
 * smtp_reply_clear() had been called), so a caller can feed a stream of
 * lines and take each reply when 1 comes back. On -1 r keeps what it had.
 */
int
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
	int code, last;
	size_t n;

	if (r->complete)
		smtp_reply_clear(r);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < 3 || line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	if (len > 3 && line[3] != '-' && line[3] != ' ')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return -1;
	if (r->nlines >= SMTP_REPLY_MAX_LINES)
		return -1;
	last = len == 3 || line[3] == ' ';
	line += len > 3 ? 4 : 3;
	len -= len > 3 ? 4 : 3;

	n = enh_len(line, len, (char)('0' + code / 100));
	if (r->nlines == 0 && n > 0) {
		memcpy(r->enh, line, n);
		r->enh[n] = '\0';
	}
	if (n > 0 && r->enh[0] != '\0') {
		line += n;
		len -= n;
		if (len > 0 && line[0] == ' ') {
			line++;
			len--;
		}
	}
	r->code = code;
	reply_push(r, line, len);
	r->complete = last;
	return last;
}

int
smtp_reply_has(const struct smtp_reply *r, const char *kw, const char **arg)
{
	size_t kl = strlen(kw);

	/* Line 0 of an EHLO reply is the server's name and greeting. */
	for (size_t i = 1; i < r->nlines; i++) {
		const char *l = r->lines[i];

		if (strncasecmp(l, kw, kl) != 0 || (l[kl] != '\0' && l[kl] != ' '))
			continue;
		if (arg != NULL) {
			l += kl;
			while (*l == ' ')
				l++;
			*arg = l;
		}
		return 1;
	}
	return 0;
}

void
smtp_reply_add_line(struct smtp_reply *r, const char *text)
{
	reply_push(r, text, strlen(text));
}

void
smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src)
{
	smtp_reply_init(dst);
	dst->code = src->code;
	memcpy(dst->enh, src->enh, sizeof(dst->enh));
	for (size_t i = 0; i < src->nlines; i++)
		smtp_reply_add_line(dst, src->lines[i]);
	dst->complete = src->complete;
}

char *
smtp_reply_format(const struct smtp_reply *r)
{
	size_t cap = 64, n = 0, nl = r->nlines > 0 ? r->nlines : 1;
	char *out;

	for (size_t i = 0; i < r->nlines; i++)
		cap += strlen(r->lines[i]) + strlen(r->enh) + 8;
	out = xmalloc(cap);
	for (size_t i = 0; i < nl; i++) {
		const char *text = i < r->nlines ? r->lines[i] : "";
		char sep = i + 1 < nl ? '-' : ' ';

		n += (size_t)snprintf(out + n, cap - n, "%03d", r->code % 1000);
		if (r->enh[0] != '\0')
			n += (size_t)snprintf(out + n, cap - n, "%c%s%s%s", sep, r->enh,
			                      text[0] ? " " : "", text);
		else if (text[0] != '\0')
			n += (size_t)snprintf(out + n, cap - n, "%c%s", sep, text);
		else if (sep == '-')
			n += (size_t)snprintf(out + n, cap - n, "-");
		n += (size_t)snprintf(out + n, cap - n, "\r\n");
	}
	return out;
}
