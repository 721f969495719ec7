/*
 * pserver: the provider's HTTP(S) server (portcullis-provider serve, issue
 * 11): serves the pull feed from FEED_DIR with ETags, enrols gateways that
 * present a one-time token (pstore registry), and receives the gateways'
 * signed receipts (verified with each gateway's registered key, stored in
 * pstore), and answers the operator's console (console.h). libevent's
 * evhttp; HTTPS through bufferevent_openssl when a certificate and key are
 * given. Routes: docs/provider.md.
 */
#ifndef PC_PSERVER_H
#define PC_PSERVER_H

struct fanout_opts;

#include <stddef.h>
#include <stdint.h>

/* The largest request body accepted (enrolment, receipt, console forms but uploads). */
#define PSERVER_MAX_BODY (1u << 20)

struct pserver_opts {
	const char *listen;             /* ADDR:PORT */
	const char *tls_cert, *tls_key; /* both or neither */
	const char *state_dir, *feed_dir;
	const char
	    *key_path; /* the provider's private key (its public half is sent at enrolment) */
	const char *provider;  /* the provider's name (receipts must answer it) */
	const char *templates; /* the console's template directory */
	uint64_t max_upload;   /* the console's update upload limit (0: CONSOLE_MAX_UPLOAD) */
	const struct fanout_opts *push; /* fan-out of what the console publishes; NULL: none */
};

/*
 * Runs the server until SIGTERM or SIGINT. 0 on a clean stop; -1 with *err
 * (allocated) when it cannot start.
 */
int pserver_run(const struct pserver_opts *o, char **err);

#endif
