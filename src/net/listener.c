/*
 * listener: owns the listening socket (through an evconnlistener), its
 * name and address, and the session count. Leaves the sessions to the
 * protocol that accepted them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "net/listener.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/xalloc.h"

#define BACKLOG 128

struct net_listener {
	char *name;
	char *addr;
	struct evconnlistener *evl;
	net_accept_cb cb;
	void *arg;
	unsigned nsessions;
};

static void
listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen,
                   void *arg)
{
	struct net_listener *l = arg;

	l->cb(l->arg, l, fd, sa, (socklen_t)salen);
}

static void
listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct net_listener *l = arg;

	/* EMFILE and friends: libevent goes on accepting once fds are free. */
	log_warn("listener %s: accept", l->name);
}

int
net_bind(const char *what, const char *addr, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (hostport_parse(addr, &ss, &len) < 0) {
		*err = xasprintf("%s \"%s\": not ADDRESS:PORT", what, addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = xasprintf("%s: socket: %s", what, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, BACKLOG) < 0) {
		*err = xasprintf("%s cannot listen on %s: %s", what, addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct net_listener *
net_listen(struct event_base *base, const char *name, const char *addr, net_accept_cb cb, void *arg,
           char **err)
{
	struct net_listener *l;
	char *what = xasprintf("[%s]", name);
	int fd = net_bind(what, addr, err);

	free(what);
	if (fd < 0)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->name = xstrdup(name);
	l->addr = xstrdup(addr);
	l->cb = cb;
	l->arg = arg;
	l->evl = evconnlistener_new(base, listener_accept_cb, l, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (l->evl == NULL)
		fatalx("evconnlistener_new failed");
	evconnlistener_set_error_cb(l->evl, listener_error_cb);
	return l;
}

void
net_listener_stop(struct net_listener *l)
{
	/* Closed, not just disabled: new clients get a refusal at once
	 * instead of waiting in the backlog of a socket nobody accepts on. */
	if (l->evl) {
		evconnlistener_free(l->evl);
		l->evl = NULL;
	}
}

void
net_listener_free(struct net_listener *l)
{
	if (l == NULL)
		return;
	if (l->evl)
		evconnlistener_free(l->evl);
	free(l->name);
	free(l->addr);
	free(l);
}

const char *
net_listener_name(const struct net_listener *l)
{
	return l->name;
}

const char *
net_listener_addr(const struct net_listener *l)
{
	return l->addr;
}

unsigned
net_listener_hold(struct net_listener *l)
{
	return ++l->nsessions;
}

void
net_listener_release(struct net_listener *l)
{
	if (l->nsessions > 0)
		l->nsessions--;
}
