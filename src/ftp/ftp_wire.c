/*
 * ftp_wire: command lines, replies and data-channel addresses. Owns the
 * reply's line copies; everything else is borrowed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftp/ftp_wire.h"
#include "util/xalloc.h"

int
ftp_cmd_parse(const char *line, size_t len, char verb[5], const char **arg)
{
	size_t i = 0, n = 0;

	/* Telnet IAC IP / IAC DM (and a lone DM left after an urgent byte). */
	while (i < len && ((unsigned char)line[i] == 0xff || (unsigned char)line[i] == 0xf4 ||
	                   (unsigned char)line[i] == 0xf2))
		i++;
	for (size_t k = i; k < len; k++)
		if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f)
			return -1;
	while (i + n < len && n < 5 && isalpha((unsigned char)line[i + n]))
		n++;
	if (n < 3 || n > 4 || (i + n < len && line[i + n] != ' '))
		return -1;
	for (size_t k = 0; k < n; k++)
		verb[k] = (char)toupper((unsigned char)line[i + k]);
	verb[n] = '\0';
	*arg = i + n < len ? line + i + n + 1 : line + len;
	return 0;
}

static int
code_of(const char *line, size_t len)
{
	if (len < 3 || line[0] < '1' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

int
ftp_reply_push(struct ftp_reply *r, const char *line, size_t len)
{
	int code = code_of(line, len);

	if (r->done)
		ftp_reply_clear(r);
	if (r->nlines == 0) {
		if (code < 0 || (len > 3 && line[3] != ' ' && line[3] != '-'))
			return -1;
		r->code = code;
	}
	if (r->nlines >= FTP_REPLY_MAX_LINES || r->bytes + len > FTP_REPLY_MAX_BYTES)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\0')
			return -1;
	r->lines = xrealloc(r->lines, (r->nlines + 1) * sizeof(*r->lines));
	r->lines[r->nlines] = xmalloc(len + 1);
	memcpy(r->lines[r->nlines], line, len);
	r->lines[r->nlines][len] = '\0';
	r->nlines++;
	r->bytes += len;
	/* The last line: the code and a space (or the code alone). */
	if (code == r->code && (len == 3 || line[3] == ' ') &&
	    (r->nlines > 1 || len == 3 || line[3] == ' ')) {
		r->done = 1;
		return 1;
	}
	return 0;
}

void
ftp_reply_clear(struct ftp_reply *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	memset(r, 0, sizeof(*r));
}

const char *
ftp_reply_first(const struct ftp_reply *r)
{
	return r->nlines ? r->lines[0] : "";
}

/* Six numbers 0-255 separated by commas, from s; the count of characters used, or -1. */
static int
six_numbers(const char *s, unsigned v[6])
{
	const char *p = s;

	for (int i = 0; i < 6; i++) {
		unsigned long n = 0;
		int digits = 0;

		while (isdigit((unsigned char)*p) && digits < 4) {
			n = n * 10 + (unsigned long)(*p - '0');
			p++;
			digits++;
		}
		if (digits == 0 || n > 255)
			return -1;
		v[i] = (unsigned)n;
		if (i < 5) {
			if (*p != ',')
				return -1;
			p++;
		}
	}
	return (int)(p - s);
}

static void
v4_from(const unsigned v[6], struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl((uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
	sin->sin_port = htons((uint16_t)(v[4] << 8 | v[5]));
	*len = sizeof(*sin);
}

int
ftp_parse_port(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	unsigned v[6];
	int n = six_numbers(arg, v);

	/* port 0 is no port to connect to (and EPRT refuses it too) */
	if (n < 0 || arg[n] != '\0' || (v[4] | v[5]) == 0)
		return -1;
	v4_from(v, ss, len);
	return 0;
}

int
ftp_parse_227(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	unsigned v[6];

	for (const char *p = text; *p; p++)
		if (isdigit((unsigned char)*p) && (p == text || !isdigit((unsigned char)p[-1])) &&
		    six_numbers(p, v) > 0 && (v[4] | v[5]) != 0) {
			v4_from(v, ss, len);
			return 0;
		}
	return -1;
}

int
ftp_parse_eprt(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char d = arg[0], host[INET6_ADDRSTRLEN + 1];
	const char *p, *q;
	unsigned long port;
	char *end;
	int af;

	if (d < 33 || d > 126 || isdigit((unsigned char)d))
		return -1;
	p = arg + 1;
	if ((p[0] != '1' && p[0] != '2') || p[1] != d)
		return -1;
	af = p[0] == '1' ? AF_INET : AF_INET6;
	p += 2;
	if ((q = strchr(p, d)) == NULL || (size_t)(q - p) >= sizeof(host) || q == p)
		return -1;
	memcpy(host, p, (size_t)(q - p));
	host[q - p] = '\0';
	p = q + 1;
	if (!isdigit((unsigned char)*p))
		return -1;
	port = strtoul(p, &end, 10);
	if (*end != d || end[1] != '\0' || port == 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	}
	return 0;
}

int
ftp_parse_229(const char *text, uint16_t *port)
{
	const char *p = strchr(text, '(');
	unsigned long n;
	char d, *end;

	if (p == NULL || (d = p[1]) == '\0' || p[2] != d || p[3] != d)
		return -1;
	p += 4;
	if (!isdigit((unsigned char)*p))
		return -1;
	n = strtoul(p, &end, 10);
	if (*end != d || n == 0 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

/* The IPv4 address of sa, also of a v4-mapped IPv6 one; -1 if none. */
static int
v4_of(const struct sockaddr *sa, struct in_addr *out)
{
	if (sa->sa_family == AF_INET) {
		*out = ((const struct sockaddr_in *)sa)->sin_addr;
		return 0;
	}
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[12], 4);
		return 0;
	}
	return -1;
}

uint16_t
ftp_sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void
ftp_sa_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

int
ftp_format_port(const struct sockaddr *sa, char *buf, size_t cap)
{
	struct in_addr a;
	uint32_t h;
	uint16_t port = ftp_sa_port(sa);

	if (v4_of(sa, &a) < 0)
		return -1;
	h = ntohl(a.s_addr);
	snprintf(buf, cap, "%u,%u,%u,%u,%u,%u", h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255,
	         port >> 8, port & 255);
	return 0;
}

int
ftp_format_eprt(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	struct in_addr a;

	if (v4_of(sa, &a) == 0) {
		inet_ntop(AF_INET, &a, host, sizeof(host));
		snprintf(buf, cap, "|1|%s|%u|", host, ftp_sa_port(sa));
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	snprintf(buf, cap, "|2|%s|%u|", host, ftp_sa_port(sa));
	return 0;
}

int
ftp_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	struct in_addr x, y;

	if (v4_of(a, &x) == 0 || v4_of(b, &y) == 0)
		return v4_of(a, &x) == 0 && v4_of(b, &y) == 0 && x.s_addr == y.s_addr;
	if (a->sa_family != AF_INET6 || b->sa_family != AF_INET6)
		return 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}
