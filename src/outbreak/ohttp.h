/*
 * ohttp: the push endpoint (HTTPS, outbreak.push_listen) and the control
 * socket (STATE_DIR/control.sock) of the outbreak module, on the daemon's
 * event loop (libevent's evhttp). Routes and answers: docs/outbreak.md.
 */
#ifndef PC_OHTTP_H
#define PC_OHTTP_H

#include <event2/event.h>

#include "conf/conf.h"
#include "outbreak/outbreak.h"

struct workq;
struct ohttp;

/*
 * Serves the push endpoint on push_fd (taken over; -1: none) and the
 * control socket. Call after the privilege drop (the socket and the TLS
 * key are read as the daemon's user). NULL with *err.
 */
struct ohttp *ohttp_new(struct event_base *base, struct workq *wq, struct outbreak *ob,
                        const struct pc_config *c, int push_fd, char **err);
/* Stops serving (requests in flight get no answer); accepts NULL. */
void ohttp_free(struct ohttp *h);

#endif
