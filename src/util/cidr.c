/*
 * cidr: network lists and host:port parsing, numeric addresses only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"
#include "util/xalloc.h"

int
cidr_parse(const char *s, struct cidr *out)
{
	char buf[80], *slash, *end;
	unsigned long prefix;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else
		return -1;
	if (slash) {
		if (*slash < '0' || *slash > '9')
			return -1;
		prefix = strtoul(slash, &end, 10);
		if (*end != '\0' || prefix > out->prefix)
			return -1;
		out->prefix = (unsigned)prefix;
	}
	return 0;
}

int
cidr_list_parse(const char *s, struct cidr_list *out, char *bad, size_t badcap)
{
	char *copy = xstrdup(s), *tok, *save = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (tok = strtok_r(copy, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		struct cidr c;

		if (cidr_parse(tok, &c) < 0) {
			snprintf(bad, badcap, "%s", tok);
			rc = -1;
			break;
		}
		out->v = xgrow(out->v, &out->cap, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = c;
	}
	free(copy);
	if (rc < 0)
		cidr_list_free(out);
	return rc;
}

void
cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
prefix_match(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	return ((a[bytes] ^ b[bytes]) & (0xff << (8 - bits))) == 0;
}

int
cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	uint8_t a4[4];
	const uint8_t *a6 = NULL;
	int have4 = 0;

	if (sa->sa_family == AF_INET) {
		memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		have4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		a6 = in6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(a4, a6 + 12, 4);
			have4 = 1;
		}
	} else
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct cidr *c = &l->v[i];

		if (c->family == AF_INET && have4 && prefix_match(a4, c->addr, c->prefix))
			return 1;
		if (c->family == AF_INET6 && a6 && prefix_match(a6, c->addr, c->prefix))
			return 1;
	}
	return 0;
}

int
hostport_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *p;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	p = colon + 1;
	if (*p < '0' || *p > '9')
		return -1;
	port = strtoul(p, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -1;
	if (strcmp(host, "*") == 0 ||
	    inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

const char *
addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
		          (socklen_t)cap);
	else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(in6))
			inet_ntop(AF_INET, in6->s6_addr + 12, buf, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, in6, buf, (socklen_t)cap);
	} else
		snprintf(buf, cap, "unknown");
	return buf;
}

const char *
hostport_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	unsigned port = 0;

	addr_format(sa, a, sizeof(a));
	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	if (strchr(a, ':'))
		snprintf(buf, cap, "[%s]:%u", a, port);
	else
		snprintf(buf, cap, "%s:%u", a, port);
	return buf;
}
