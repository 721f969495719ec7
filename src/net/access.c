/*
 * access: the allow-list and the per-address limits (see access.h). The
 * table is a hash of 16-byte addresses (IPv4 as v4-mapped IPv6) with
 * chaining; it doubles when it holds more entries than buckets.
 */
#include "net/access.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

struct entry {
	struct entry *next;
	uint8_t key[16];
	unsigned sessions;     /* open now */
	unsigned attempts;     /* in the minute that began at window_start */
	uint64_t window_start; /* monotonic ms */
};

struct access {
	struct entry **b;
	size_t nb, n;
	uint64_t last_sweep, last_full_warning;
};

int
access_rules_init(struct access_rules *r, const char *clients, const char *exceptions,
                  unsigned max_per_client, unsigned max_rate, char **err)
{
	char bad[80];

	memset(r, 0, sizeof(*r));
	r->max_per_client = max_per_client;
	r->max_rate = max_rate;
	if (cidr_list_parse(clients ? clients : "", &r->clients, bad, sizeof(bad)) < 0) {
		*err = xasprintf("clients: bad network %s", bad);
		access_rules_free(r);
		return -1;
	}
	if (cidr_list_parse(exceptions ? exceptions : "", &r->exceptions, bad, sizeof(bad)) < 0) {
		*err = xasprintf("limit_exceptions: bad network %s", bad);
		access_rules_free(r);
		return -1;
	}
	return 0;
}

void
access_rules_free(struct access_rules *r)
{
	cidr_list_free(&r->clients);
	cidr_list_free(&r->exceptions);
}

struct access *
access_new(void)
{
	struct access *a = xcalloc(1, sizeof(*a));

	a->nb = 256;
	a->b = xcalloc(a->nb, sizeof(*a->b));
	return a;
}

void
access_free(struct access *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nb; i++)
		while (a->b[i]) {
			struct entry *e = a->b[i];

			a->b[i] = e->next;
			free(e);
		}
	free(a->b);
	free(a);
}

/* sa's address as 16 bytes; 0, or -1 for a family without one (AF_UNIX). */
static int
key_of(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa->sa_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static size_t
hash_of(const uint8_t key[16], size_t nb)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h % nb);
}

static struct entry **
find(struct access *a, const uint8_t key[16])
{
	struct entry **pp = &a->b[hash_of(key, a->nb)];

	while (*pp && memcmp((*pp)->key, key, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
grow(struct access *a)
{
	size_t nb = a->nb * 2;
	struct entry **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < a->nb; i++)
		while (a->b[i]) {
			struct entry *e = a->b[i];
			size_t h = hash_of(e->key, nb);

			a->b[i] = e->next;
			e->next = b[h];
			b[h] = e;
		}
	free(a->b);
	a->b = b;
	a->nb = nb;
}

static int
idle(const struct entry *e, uint64_t now)
{
	return e->sessions == 0 && now - e->window_start >= ACCESS_WINDOW_MS;
}

/* Forgets the addresses with no session whose minute is over. */
static void
sweep(struct access *a, uint64_t now)
{
	a->last_sweep = now;
	for (size_t i = 0; i < a->nb; i++)
		for (struct entry **pp = &a->b[i]; *pp;) {
			struct entry *e = *pp;

			if (idle(e, now)) {
				*pp = e->next;
				free(e);
				a->n--;
			} else {
				pp = &e->next;
			}
		}
}

enum access_result
access_admit(struct access *a, const struct access_rules *r, const struct sockaddr *sa,
             uint64_t now_ms)
{
	uint8_t key[16];
	struct entry **pp, *e;
	int exempt;

	if (!cidr_list_match(&r->clients, sa))
		return ACCESS_DENIED;
	if (key_of(sa, key) < 0)
		return ACCESS_OK;
	exempt = cidr_list_match(&r->exceptions, sa);
	if (a->n >= 1024 && now_ms - a->last_sweep >= 1000)
		sweep(a, now_ms);
	pp = find(a, key);
	if ((e = *pp) == NULL) {
		if (a->n >= ACCESS_MAX_ADDRS) {
			if (now_ms - a->last_full_warning >= ACCESS_WINDOW_MS) {
				a->last_full_warning = now_ms;
				log_warnx(
				    "access: %u addresses tracked; new ones are served uncounted",
				    ACCESS_MAX_ADDRS);
			}
			return ACCESS_OK;
		}
		e = *pp = xcalloc(1, sizeof(*e));
		memcpy(e->key, key, 16);
		e->window_start = now_ms;
		if (++a->n > a->nb)
			grow(a);
	}
	if (now_ms - e->window_start >= ACCESS_WINDOW_MS) {
		e->window_start = now_ms;
		e->attempts = 0;
	}
	if (!exempt) {
		e->attempts++;
		if (r->max_rate && e->attempts > r->max_rate)
			return ACCESS_TOO_FAST;
		if (r->max_per_client && e->sessions >= r->max_per_client)
			return ACCESS_TOO_MANY;
	}
	e->sessions++;
	return ACCESS_OK;
}

void
access_done(struct access *a, const struct sockaddr *sa, uint64_t now_ms)
{
	uint8_t key[16];
	struct entry **pp, *e;

	if (key_of(sa, key) < 0)
		return;
	pp = find(a, key);
	if ((e = *pp) == NULL)
		return;
	if (e->sessions > 0)
		e->sessions--;
	if (idle(e, now_ms)) {
		*pp = e->next;
		free(e);
		a->n--;
	}
}

size_t
access_count(const struct access *a)
{
	return a->n;
}

const char *
access_result_name(enum access_result r)
{
	switch (r) {
	case ACCESS_OK:
		return "allowed";
	case ACCESS_DENIED:
		return "not-allowed";
	case ACCESS_TOO_MANY:
		return "too-many-sessions";
	case ACCESS_TOO_FAST:
		return "too-fast";
	}
	return "?";
}
