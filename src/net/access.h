/*
 * access: who may open a session on a listener, and how often. A listener's
 * rules (an allow-list of networks, a limit on sessions at once from one
 * address and on new connections per minute from one address, and the
 * networks exempt from both limits) are checked against a table of the
 * addresses seen, kept by the proxy (one table per protocol, all its
 * listeners). Event-loop thread only: no locks.
 *
 * The table is bounded: an address is forgotten once it has no session and
 * its minute is over; beyond ACCESS_MAX_ADDRS addresses a new one is served
 * without being counted (and a warning says so once a minute).
 */
#ifndef PC_ACCESS_H
#define PC_ACCESS_H

#include <stdint.h>
#include <sys/socket.h>

#include "util/cidr.h"

#define ACCESS_MAX_ADDRS 100000
#define ACCESS_WINDOW_MS 60000 /* the rate limit's unit: connections per minute */

struct access_rules {
	struct cidr_list clients;    /* who may connect at all */
	struct cidr_list exceptions; /* exempt from the two limits */
	unsigned max_per_client;     /* sessions at once from one address; 0 = no limit */
	unsigned max_rate;           /* connections per minute from one address; 0 = no limit */
};

/* Parses both lists; 0, or -1 with *err (allocated, naming the bad item). */
int access_rules_init(struct access_rules *r, const char *clients, const char *exceptions,
                      unsigned max_per_client, unsigned max_rate, char **err);
void access_rules_free(struct access_rules *r);

enum access_result {
	ACCESS_OK = 0,
	ACCESS_DENIED,   /* not in clients */
	ACCESS_TOO_MANY, /* max_per_client sessions already open */
	ACCESS_TOO_FAST, /* more than max_rate connections this minute */
};

struct access;

struct access *access_new(void);
void access_free(struct access *a);
/*
 * Decides on a new connection from sa at now_ms (monotonic_ms()). Every attempt
 * from an allowed, non-exempt address counts toward its rate. On ACCESS_OK
 * the address's session count goes up: call access_done() when the session
 * ends (exactly once per ACCESS_OK).
 */
enum access_result access_admit(struct access *a, const struct access_rules *r,
                                const struct sockaddr *sa, uint64_t now_ms);
void access_done(struct access *a, const struct sockaddr *sa, uint64_t now_ms);
/* Addresses in the table now (tests, metrics). */
size_t access_count(const struct access *a);
/* "allowed", "not-allowed", "too-many-sessions", "too-fast". */
const char *access_result_name(enum access_result r);

#endif
