/*
 * ftp_proxy: the FTP gateway as a whole. Owns the listeners, the table of
 * live sessions (by id, for worker jobs coming back) and the runtime new
 * sessions start with. Each accepted connection becomes a session
 * (ftp_session.c).
 */
#include <stdlib.h>
#include <string.h>

#include "ftp/ftp_session.h"
#include "util/log.h"
#include "util/xalloc.h"

static void
accept_cb(void *arg, struct net_listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	fsess_start(arg, l, fd, sa, salen);
}

int
ftp_proxy_listen(struct ftp_proxy *px, const struct ftp_listener_conf *lc, char **err)
{
	struct net_listener *l = net_listen(px->base, lc->name, lc->listen, accept_cb, px, err);

	if (l == NULL)
		return -1;
	px->listeners = xrealloc(px->listeners, (px->nlisteners + 1) * sizeof(*px->listeners));
	px->listeners[px->nlisteners++] = l;
	return 0;
}

static void
drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ftp_proxy *px = arg;

	(void)fd;
	(void)what;
	if (px->drained && ftp_proxy_sessions(px) == 0) {
		void (*fn)(void *) = px->drained;

		px->drained = NULL; /* once */
		fn(px->drained_arg);
	}
}

void
ftp_proxy_check_drained(struct ftp_proxy *px)
{
	struct timeval zero = {0, 0};

	if (px->drained && ftp_proxy_sessions(px) == 0)
		evtimer_add(px->drained_ev, &zero);
}

void
ftp_proxy_drain(struct ftp_proxy *px, void (*drained)(void *arg), void *arg)
{
	for (size_t i = 0; i < px->nlisteners; i++)
		net_listener_stop(px->listeners[i]);
	px->drained = drained;
	px->drained_arg = arg;
	ftp_proxy_check_drained(px);
}

unsigned
ftp_proxy_sessions(const struct ftp_proxy *px)
{
	return px ? (unsigned)idtab_count(px->sessions) : 0;
}

char *
ftp_proxy_listeners_describe(const struct ftp_proxy *px)
{
	char *s = xstrdup("");

	for (size_t i = 0; px && i < px->nlisteners; i++) {
		char *t =
		    xasprintf("%s%s%s@%s", s, s[0] ? "," : "", net_listener_name(px->listeners[i]),
		              net_listener_addr(px->listeners[i]));

		free(s);
		s = t;
	}
	return s;
}

struct ftp_proxy *
ftp_proxy_new(struct event_base *base, struct workq *wq)
{
	struct ftp_proxy *px = xcalloc(1, sizeof(*px));

	px->base = base;
	px->wq = wq;
	px->sessions = idtab_new();
	px->access = access_new();
	px->drained_ev = evtimer_new(base, drained_cb, px);
	if (px->drained_ev == NULL)
		fatalx("out of memory (ftp proxy timer)");
	return px;
}

void
ftp_proxy_set_runtime(struct ftp_proxy *px, struct runtime *rt)
{
	struct runtime *old = px->rt;

	for (size_t i = 0; i < px->nlisteners; i++) {
		const char *name = net_listener_name(px->listeners[i]);
		size_t k = 0;

		while (k < rt->conf.nftp_listeners && strcmp(rt->conf.ftp_listeners[k].name, name))
			k++;
		if (k == rt->conf.nftp_listeners)
			log_warnx(
			    "ftp listener %s is no longer configured: it keeps its old settings "
			    "until a restart",
			    name);
	}
	px->rt = runtime_ref(rt);
	runtime_unref(old);
}

void
ftp_proxy_free(struct ftp_proxy *px)
{
	struct fsess *s;

	if (px == NULL)
		return;
	while ((s = idtab_any(px->sessions)) != NULL)
		fsess_free(s);
	for (size_t i = 0; i < px->nlisteners; i++)
		net_listener_free(px->listeners[i]);
	free(px->listeners);
	idtab_free(px->sessions);
	access_free(px->access);
	event_free(px->drained_ev);
	runtime_unref(px->rt);
	free(px);
}
