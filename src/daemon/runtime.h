/*
 * runtime: the daemon's wiring built from one configuration and swapped as
 * a whole on reload (SIGHUP): the config, the scanner, the parsed policy,
 * the notification templates, the quarantine, the TLS contexts, and the
 * inspection path's environment made of them. Reference-counted: a session
 * takes a reference when it starts and keeps deciding with that runtime
 * until it ends, so a reload never changes the rules in the middle of a
 * transaction.
 *
 * Only what a configuration determines lives here. State that must survive
 * a reload (the outbreak seal, say) belongs to the daemon (daemon.h), not
 * to a runtime: a SIGHUP replaces the runtime.
 *
 * Building compiles the signatures: call runtime_build() on a worker
 * thread when the event loop is running.
 */
#ifndef PC_RUNTIME_H
#define PC_RUNTIME_H

#include <stdatomic.h>

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "inspect/inspect.h"
#include "mail/notify.h"
#include "policy/policy.h"
#include "scan/scanner.h"
#include "store/quarantine.h"
#include "net/access.h"
#include "util/cidr.h"

struct runtime {
	_Atomic int refs;
	struct pc_config conf;
	struct scanner *scanner;
	struct policy policy;
	struct notify_templates *templates;
	struct quarantine *quarantine;
	SSL_CTX *client_tls;
	SSL_CTX **server_tls;             /* one per conf.listeners[i]; NULL = no STARTTLS */
	SSL_CTX **ftp_tls;                /* one per conf.ftp_listeners[i]; NULL = no AUTH TLS */
	SSL_CTX *ftp_client_tls;          /* toward FTP servers: TLS 1.2 at most (see runtime.c) */
	struct cidr_list *xforward_hosts; /* one per conf.listeners[i] */
	struct access_rules *smtp_access; /* one per conf.listeners[i] */
	struct access_rules *ftp_access;  /* one per conf.ftp_listeners[i] */
	char hostname[256];               /* gethostname() unless a listener sets its own */
	struct inspect_env inspect;       /* borrows the scanner, policy, quarantine, templates */
};

/*
 * Builds a runtime from *c, taking ownership of its contents (c is zeroed).
 * NULL with *err set (caller frees) on any failure.
 */
struct runtime *runtime_build(struct pc_config *c, char **err);
struct runtime *runtime_ref(struct runtime *rt);
void runtime_unref(struct runtime *rt);
/* The listener section called name, or NULL; its index in *idx. */
const struct smtp_listener_conf *runtime_listener(const struct runtime *rt, const char *name,
                                                  size_t *idx);
/* The hostname a listener uses in its banner and EHLO. */
const char *runtime_hostname(const struct runtime *rt, const struct smtp_listener_conf *lc);

#endif
