/*
 * policy: direction + verdict -> action. Pure: no I/O, no state. The SMTP
 * proxy (and later the FTP proxy) asks it what to do; doing it is theirs.
 */
#ifndef PC_POLICY_H
#define PC_POLICY_H

#include <sys/socket.h>

#include "conf/conf.h"
#include "scan/verdict.h"
#include "util/cidr.h"

enum direction { DIR_INBOUND = 0, DIR_OUTBOUND };

/* The parsed, ready-to-use form of [policy]; owns its lists. */
struct policy {
	int direction_by;
	struct cidr_list internal;
	char **internal_domains;
	size_t ninternal_domains;
	struct dir_policy dir[2]; /* copies; notify_admin strings owned */
};

/* Builds from c (copied). 0, or -1 with *err (caller frees). */
int policy_init(struct policy *p, const struct pc_config *c, char **err);
void policy_free(struct policy *p);

/*
 * Decides the direction of one message. listener_dir is the listener's
 * `direction` key; next_hop is NULL for a Maildir next hop (inside by
 * definition); client is the SMTP client's address; rcpts are the accepted
 * recipients (addresses without brackets).
 */
enum direction policy_direction(const struct policy *p, int listener_dir,
                                const struct sockaddr *next_hop, const struct sockaddr *client,
                                const char *const *rcpts, size_t nrcpts);
/*
 * The direction of an FTP transfer: where the file goes (the server for an
 * upload, the client for a download). dest inside internal_networks is
 * inbound, as for a mail next hop; the listener's direction key overrides.
 */
enum direction policy_direction_dest(const struct policy *p, int listener_dir,
                                     const struct sockaddr *dest);
const char *direction_name(enum direction d);

struct policy_decision {
	int action;            /* enum policy_action */
	const char *cause;     /* for non-infected, non-clean verdicts: "encrypted",
	                          "limit", "corrupt", "scanner unavailable", "scan timeout" */
	char cause_detail[96]; /* "limit max_ratio", ... for replies and headers */
};

/*
 * What the verdict gets in direction d. Clean always gives ACT_PASS. ftp
 * set: an infected file gets the direction's ftp_infected action.
 */
void policy_decide(const struct policy *p, enum direction d, const struct scan_verdict *v, int ftp,
                   struct policy_decision *out);

#endif
