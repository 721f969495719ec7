/*
 * policy: decides direction and action. Owns the parsed network and domain
 * lists; the verdict and the message belong to the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"
#include "util/words.h"
#include "util/xalloc.h"

int
policy_init(struct policy *p, const struct pc_config *c, char **err)
{
	char bad[80];

	memset(p, 0, sizeof(*p));
	p->direction_by = c->direction_by;
	if (cidr_list_parse(c->internal_networks, &p->internal, bad, sizeof(bad)) < 0) {
		*err = xasprintf("policy.internal_networks: bad network \"%s\"", bad);
		return -1;
	}
	words_split(c->internal_domains, &p->internal_domains, &p->ninternal_domains);
	p->dir[DIR_INBOUND] = c->inbound;
	p->dir[DIR_OUTBOUND] = c->outbound;
	p->dir[DIR_INBOUND].notify_admin = xstrdup(c->inbound.notify_admin);
	p->dir[DIR_OUTBOUND].notify_admin = xstrdup(c->outbound.notify_admin);
	return 0;
}

void
policy_free(struct policy *p)
{
	cidr_list_free(&p->internal);
	words_free(p->internal_domains, p->ninternal_domains);
	free(p->dir[0].notify_admin);
	free(p->dir[1].notify_admin);
	memset(p, 0, sizeof(*p));
}

const char *
direction_name(enum direction d)
{
	return d == DIR_INBOUND ? "inbound" : "outbound";
}

/* True if addr's domain (after the last '@') is an internal domain or a
 * subdomain of one. */
static int
rcpt_internal(const struct policy *p, const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t dl;

	if (at == NULL)
		return 1; /* a local name such as "postmaster" */
	at++;
	dl = strlen(at);
	for (size_t i = 0; i < p->ninternal_domains; i++) {
		const char *d = p->internal_domains[i];
		size_t n = strlen(d);

		if (strcasecmp(at, d) == 0)
			return 1;
		if (dl > n && at[dl - n - 1] == '.' && strcasecmp(at + dl - n, d) == 0)
			return 1;
	}
	return 0;
}

enum direction
policy_direction(const struct policy *p, int listener_dir, const struct sockaddr *next_hop,
                 const struct sockaddr *client, const char *const *rcpts, size_t nrcpts)
{
	if (listener_dir == LDIR_INBOUND)
		return DIR_INBOUND;
	if (listener_dir == LDIR_OUTBOUND)
		return DIR_OUTBOUND;
	switch (p->direction_by) {
	case DIRBY_CLIENT:
		/* A client inside sends outbound. */
		return client && cidr_list_match(&p->internal, client) ? DIR_OUTBOUND : DIR_INBOUND;
	case DIRBY_RECIPIENT:
		/* Inbound only if every recipient is inside. */
		for (size_t i = 0; i < nrcpts; i++)
			if (!rcpt_internal(p, rcpts[i]))
				return DIR_OUTBOUND;
		return DIR_INBOUND;
	default:
		/* As in the founding patent: where the data goes. */
		if (next_hop == NULL)
			return DIR_INBOUND;
		return cidr_list_match(&p->internal, next_hop) ? DIR_INBOUND : DIR_OUTBOUND;
	}
}

enum direction
policy_direction_dest(const struct policy *p, int listener_dir, const struct sockaddr *dest)
{
	if (listener_dir == LDIR_INBOUND)
		return DIR_INBOUND;
	if (listener_dir == LDIR_OUTBOUND)
		return DIR_OUTBOUND;
	return dest && cidr_list_match(&p->internal, dest) ? DIR_INBOUND : DIR_OUTBOUND;
}

void
policy_decide(const struct policy *p, enum direction d, const struct scan_verdict *v, int ftp,
              struct policy_decision *out)
{
	const struct dir_policy *dp = &p->dir[d];

	memset(out, 0, sizeof(*out));
	switch (v->status) {
	case SCAN_CLEAN:
		out->action = ACT_PASS;
		return;
	case SCAN_INFECTED:
		out->action = ftp ? dp->ftp_infected : dp->infected;
		return;
	case SCAN_ERROR:
		out->action = dp->scanner_error;
		out->cause = "scanner unavailable";
		break;
	case SCAN_LIMIT:
		if (v->limit == LIMIT_TIME) {
			out->action = dp->scan_timeout;
			out->cause = "scan timeout";
		} else {
			out->action = dp->limit;
			out->cause = "limit";
		}
		break;
	case SCAN_ENCRYPTED:
		out->action = dp->encrypted;
		out->cause = "encrypted";
		break;
	case SCAN_CORRUPT:
		out->action = dp->corrupt;
		out->cause = "corrupt";
		break;
	}
	if (v->status == SCAN_LIMIT && v->limit != LIMIT_TIME)
		snprintf(out->cause_detail, sizeof(out->cause_detail), "limit %s",
		         scan_limit_name(v->limit));
	else
		snprintf(out->cause_detail, sizeof(out->cause_detail), "%s", out->cause);
}
