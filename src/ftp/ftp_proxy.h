/*
 * ftp_proxy: the FTP sessions of the gateway. Relays each client's control
 * channel to its server command by command, opens the data channels of
 * both legs itself (PASV/EPSV/PORT/EPRT, chosen independently on each),
 * spools every file that crosses (RETR, STOR, APPE, STOU), has it scanned
 * and decided on a worker thread through the one inspection path, and
 * only then hands it on, or blocks, quarantines or replaces it, echoing
 * the scanner's report in a multi-line reply.
 *
 * Nothing is lost: the client gets the server's 226 only for a file the
 * server (or the client) got whole and clean or passed by policy; a file
 * not handed on gets a 4xx/5xx reply that says why.
 */
#ifndef PC_FTP_PROXY_H
#define PC_FTP_PROXY_H

#include <event2/event.h>

#include "conf/conf.h"
#include "daemon/runtime.h"
#include "util/workq.h"

struct ftp_proxy;

/* The runtime is set with ftp_proxy_set_runtime() before the loop runs. */
struct ftp_proxy *ftp_proxy_new(struct event_base *base, struct workq *wq);
/* Frees every session at once; for the very end. NULL is fine. */
void ftp_proxy_free(struct ftp_proxy *px);
/* Installs a new runtime for sessions that start from now on (ref taken). */
void ftp_proxy_set_runtime(struct ftp_proxy *px, struct runtime *rt);
/* Binds the listener lc describes (before dropping privileges). 0, or -1 with *err. */
int ftp_proxy_listen(struct ftp_proxy *px, const struct ftp_listener_conf *lc, char **err);
/* Stops accepting; drained(arg) runs from the loop once the last session ended. */
void ftp_proxy_drain(struct ftp_proxy *px, void (*drained)(void *arg), void *arg);
unsigned ftp_proxy_sessions(const struct ftp_proxy *px);
/* "ftp@127.0.0.1:2121,..." (caller frees), "" when none. */
char *ftp_proxy_listeners_describe(const struct ftp_proxy *px);

#endif
