/*
 * smtp_proxy: the SMTP gateway as a whole. Owns the listeners, the table
 * of live sessions (by id, for worker jobs coming back), the notices in
 * flight and the runtime new sessions start with. Each accepted connection
 * becomes a session (smtp_session.c); everything a session does is in the
 * files named in smtp_session.h.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_proxy.h"
#include "smtp/smtp_session.h"
#include "util/xalloc.h"

static void
proxy_accept_cb(void *arg, struct net_listener *l, int fd, const struct sockaddr *sa,
                socklen_t salen)
{
	session_start(arg, l, fd, sa, salen);
}

int
proxy_listen(struct proxy *px, const struct smtp_listener_conf *lc, char **err)
{
	struct net_listener *l =
	    net_listen(px->base, lc->name, lc->listen, proxy_accept_cb, px, err);

	if (l == NULL)
		return -1;
	px->listeners = xrealloc(px->listeners, (px->nlisteners + 1) * sizeof(*px->listeners));
	px->listeners[px->nlisteners++] = l;
	return 0;
}

void
proxy_stop_listening(struct proxy *px)
{
	for (size_t i = 0; i < px->nlisteners; i++)
		net_listener_stop(px->listeners[i]);
}

static void
proxy_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *px = arg;

	if (px->drained && proxy_sessions(px) == 0) {
		void (*fn)(void *) = px->drained;

		px->drained = NULL; /* once */
		fn(px->drained_arg);
	}
}

void
proxy_check_drained(struct proxy *px)
{
	struct timeval zero = {0, 0};

	if (px->drained && proxy_sessions(px) == 0)
		evtimer_add(px->drained_ev, &zero);
}

void
proxy_drain(struct proxy *px, void (*drained)(void *arg), void *arg)
{
	proxy_stop_listening(px);
	px->drained = drained;
	px->drained_arg = arg;
	proxy_check_drained(px);
}

unsigned
proxy_sessions(const struct proxy *px)
{
	return (unsigned)idtab_count(px->sessions) + px->nnotices;
}

char *
proxy_listeners_describe(const struct proxy *px)
{
	char *s = xstrdup("");

	for (size_t i = 0; i < px->nlisteners; i++) {
		char *t =
		    xasprintf("%s%s%s@%s", s, s[0] ? "," : "", net_listener_name(px->listeners[i]),
		              net_listener_addr(px->listeners[i]));

		free(s);
		s = t;
	}
	return s;
}

struct proxy *
proxy_new(struct event_base *base, struct workq *wq)
{
	struct proxy *px = xcalloc(1, sizeof(*px));

	px->base = base;
	px->wq = wq;
	px->sessions = idtab_new();
	px->access = access_new();
	px->drained_ev = evtimer_new(base, proxy_drained_cb, px);
	if (px->drained_ev == NULL)
		fatalx("out of memory (proxy timer)");
	return px;
}

void
proxy_set_runtime(struct proxy *px, struct runtime *rt)
{
	struct runtime *old = px->rt;

	/* Sockets are bound once, as root: say what a reload cannot change. */
	for (size_t i = 0; i < px->nlisteners; i++) {
		const char *name = net_listener_name(px->listeners[i]);
		const struct smtp_listener_conf *lc = runtime_listener(rt, name, NULL);

		if (lc == NULL)
			log_warnx("listener %s is no longer configured: it keeps running with the "
			          "first listener's settings until a restart",
			          name);
		else if (strcmp(lc->listen, net_listener_addr(px->listeners[i])) != 0)
			log_warnx("listener %s: listen = %s takes a restart; still on %s", name,
			          lc->listen, net_listener_addr(px->listeners[i]));
	}
	for (size_t i = 0; i < rt->conf.nlisteners && px->nlisteners; i++) {
		size_t k = 0;

		while (k < px->nlisteners &&
		       strcmp(net_listener_name(px->listeners[k]), rt->conf.listeners[i].name) != 0)
			k++;
		if (k == px->nlisteners)
			log_warnx("listener %s is new: it takes a restart",
			          rt->conf.listeners[i].name);
	}
	px->rt = runtime_ref(rt);
	runtime_unref(old);
}

struct runtime *
proxy_runtime(struct proxy *px)
{
	return px->rt;
}

void
proxy_free(struct proxy *px)
{
	struct session *s;

	if (px == NULL)
		return;
	while ((s = idtab_any(px->sessions)) != NULL)
		session_free(s);
	notices_abort(px);
	for (size_t i = 0; i < px->nlisteners; i++)
		net_listener_free(px->listeners[i]);
	free(px->listeners);
	idtab_free(px->sessions);
	access_free(px->access);
	event_free(px->drained_ev);
	runtime_unref(px->rt);
	free(px);
}
