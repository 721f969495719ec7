/*
 * smtp_proxy: the SMTP sessions of the gateway. Relays each client's
 * dialogue to the listener's next hop transaction by transaction, receives
 * DATA into a spool, has it scanned and decided on a worker thread, and
 * carries out the decision: hand on (possibly rewritten), reject, drop,
 * quarantine, or fail temporarily.
 *
 * The rule that nothing is lost lives in smtp_message.c: the reply to the
 * client's final dot is the next hop's reply to the delivered message, or a
 * 250 for a message stored with fsync or dropped by policy, or a 4xx/5xx.
 */
#ifndef PC_SMTP_PROXY_H
#define PC_SMTP_PROXY_H

#include <sys/socket.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "daemon/runtime.h"
#include "util/workq.h"

struct proxy;

/* The runtime is set with proxy_set_runtime() before the loop runs. */
struct proxy *proxy_new(struct event_base *base, struct workq *wq);
/* Frees every session at once (no goodbye); for the very end. */
void proxy_free(struct proxy *px);
/* Installs a new runtime for sessions that start from now on (ref taken). */
void proxy_set_runtime(struct proxy *px, struct runtime *rt);
struct runtime *proxy_runtime(struct proxy *px);

/*
 * Binds the listener described by lc (copied; call before dropping
 * privileges). Sessions on it use the runtime's listener section of the
 * same name. 0, or -1 with *err (caller frees).
 */
int proxy_listen(struct proxy *px, const struct smtp_listener_conf *lc, char **err);
/* Stops accepting on every listener. */
void proxy_stop_listening(struct proxy *px);
/*
 * Drains: stops accepting and calls drained(arg) from the loop once the
 * last session and the last notice in flight have ended (at once if none
 * is left).
 */
void proxy_drain(struct proxy *px, void (*drained)(void *arg), void *arg);
/* Sessions and notices in flight: what a drain waits for. */
unsigned proxy_sessions(const struct proxy *px);
/* "smtp@127.0.0.1:10025,in@[::1]:25" for the ready line; caller frees. */
char *proxy_listeners_describe(const struct proxy *px);

#endif
