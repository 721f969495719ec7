/*
 * libFuzzer target for smtp/smtp_reply. The input is cut into lines at LF
 * and fed; a malformed line restarts the reply. Every complete reply is
 * formatted, and the formatted text parsed again must give the same code,
 * enhanced code and lines; its lines must hold no control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_reply.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_round_trip(const struct smtp_reply *a)
{
	struct smtp_reply b;
	char *w = smtp_reply_format(a), *p = w, *nl;
	int rc = 0;

	smtp_reply_init(&b);
	while ((nl = strstr(p, "\r\n")) != NULL) {
		if (rc != 0)
			abort(); /* text after the last line */
		rc = smtp_reply_feed(&b, p, (size_t)(nl - p));
		if (rc < 0)
			abort();
		p = nl + 2;
	}
	if (rc != 1 || *p != '\0' || b.code != a->code || strcmp(b.enh, a->enh) != 0 ||
	    b.nlines != a->nlines)
		abort();
	for (size_t i = 0; i < a->nlines; i++) {
		if (strcmp(a->lines[i], b.lines[i]) != 0)
			abort();
		for (const char *c = a->lines[i]; *c; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t')
				abort();
	}
	(void)smtp_reply_has(a, "PIPELINING", NULL);
	free(w);
	smtp_reply_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct smtp_reply r;
	const char *p = (const char *)data, *end = p + size;

	if (!init) {
		log_init("fuzz_smtp_reply", 0, LOG_LVL_ERR);
		init = 1;
	}
	smtp_reply_init(&r);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int rc = smtp_reply_feed(&r, p, len);

		if (rc < 0)
			smtp_reply_clear(&r);
		else if (rc == 1) {
			if (!r.complete || r.nlines == 0 || r.nlines > SMTP_REPLY_MAX_LINES ||
			    r.code < 200 || r.code > 599)
				abort();
			check_round_trip(&r);
		}
		p += len + (nl != NULL);
	}
	smtp_reply_clear(&r);
	return 0;
}
