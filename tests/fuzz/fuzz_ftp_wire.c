/*
 * libFuzzer target for ftp/ftp_wire. The input is cut into lines at LF;
 * each line goes through the command parser (a verb must come out 3-4
 * upper-case letters, the argument inside the line, free of CR, LF and
 * NUL), the reply gatherer (bounded lines and bytes), and every
 * data-channel address parser; a parsed address must format and parse
 * back to the same address and port.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ftp/ftp_wire.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage b;
	socklen_t len;
	char buf[128];

	if (ftp_format_eprt((const struct sockaddr *)ss, buf, sizeof(buf)) < 0)
		abort();
	if (ftp_parse_eprt(buf, &b, &len) < 0 ||
	    !ftp_same_host((struct sockaddr *)ss, (struct sockaddr *)&b) ||
	    ftp_sa_port((struct sockaddr *)ss) != ftp_sa_port((struct sockaddr *)&b))
		abort();
	if (ftp_format_port((const struct sockaddr *)ss, buf, sizeof(buf)) == 0 &&
	    (ftp_parse_port(buf, &b, &len) < 0 ||
	     !ftp_same_host((struct sockaddr *)ss, (struct sockaddr *)&b)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct ftp_reply r;
	const char *p = (const char *)data, *end = p + size;

	if (!init) {
		log_init("fuzz_ftp_wire", 0, LOG_LVL_ERR);
		init = 1;
	}
	memset(&r, 0, sizeof(r));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = malloc(len + 1), verb[5];
		const char *arg;
		struct sockaddr_storage ss;
		socklen_t sl;
		uint16_t port;
		int rc;

		memcpy(line, p, len);
		line[len] = '\0';
		if (ftp_cmd_parse(line, len, verb, &arg) == 0) {
			size_t vl = strlen(verb);

			if (vl < 3 || vl > 4 || arg < line || arg > line + len ||
			    strpbrk(arg, "\r\n") != NULL ||
			    strlen(arg) != (size_t)(line + len - arg))
				abort();
			for (size_t i = 0; i < vl; i++)
				if (verb[i] < 'A' || verb[i] > 'Z')
					abort();
			if (ftp_parse_port(arg, &ss, &sl) == 0)
				check_addr(&ss);
			if (ftp_parse_eprt(arg, &ss, &sl) == 0)
				check_addr(&ss);
		}
		if (ftp_parse_227(line, &ss, &sl) == 0)
			check_addr(&ss);
		if (ftp_parse_229(line, &port) == 0 && port == 0)
			abort();
		rc = ftp_reply_push(&r, line, len);
		if (rc < 0)
			ftp_reply_clear(&r);
		else if (rc == 1) {
			if (r.nlines == 0 || r.nlines > FTP_REPLY_MAX_LINES ||
			    r.bytes > FTP_REPLY_MAX_BYTES || r.code < 100 || r.code > 599)
				abort();
			ftp_reply_clear(&r);
		}
		free(line);
		p += len + (nl != NULL);
	}
	ftp_reply_clear(&r);
	return 0;
}
