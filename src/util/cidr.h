/*
 * cidr: IPv4/IPv6 networks ("10.0.0.0/8", "::1/128", a bare address is a
 * host route) and host:port parsing. No DNS: names are refused, so that a
 * config never depends on a resolver at startup.
 */
#ifndef PC_CIDR_H
#define PC_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct cidr_list {
	struct cidr *v;
	size_t n, cap;
};

/* Parses one network; 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
/* Parses a space/comma separated list; 0, or -1 with the bad item in bad. */
int cidr_list_parse(const char *s, struct cidr_list *out, char *bad, size_t badcap);
void cidr_list_free(struct cidr_list *l);
/* True if sa (AF_INET, AF_INET6; v4-mapped v6 counts as v4) is in a network of l. */
int cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);

/*
 * Parses "1.2.3.4:25", "[::1]:25" (also "*:25" for any address) into a
 * socket address. 0 or -1.
 */
int hostport_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* Formats sa as "1.2.3.4:25" / "[::1]:25" into buf. */
const char *hostport_format(const struct sockaddr *sa, char *buf, size_t cap);
/* Formats only the address ("1.2.3.4", "::1"; v4-mapped shown as v4). */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t cap);

#endif
