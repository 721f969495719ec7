/*
 * listener: one bound, listening TCP socket on the event loop, and the
 * count of the sessions it started that are still alive (for max_sessions
 * and for the log). Protocol-neutral: the SMTP and FTP proxies own a list
 * of them and get each accepted socket through a callback.
 *
 * Bind before dropping privileges; the socket stays open until
 * net_listener_free(), accepting until net_listener_stop().
 */
#ifndef PC_NET_LISTENER_H
#define PC_NET_LISTENER_H

#include <sys/socket.h>

#include <event2/event.h>

struct net_listener;

/* fd is the callee's; sa is valid during the call only. */
typedef void (*net_accept_cb)(void *arg, struct net_listener *l, int fd, const struct sockaddr *sa,
                              socklen_t salen);

/*
 * A bound, listening, non-blocking TCP socket on addr ("127.0.0.1:10025",
 * "[::1]:25"; SO_REUSEADDR, IPv6 only for an IPv6 address): the fd, or -1
 * with *err (allocated) naming what, the address and why. For servers that
 * hand the socket to another accept loop (evhttp).
 */
int net_bind(const char *what, const char *addr, char **err);

/*
 * Binds addr ("127.0.0.1:10025", "[::1]:25") and listens. name and addr are
 * copied. NULL with *err (caller frees) when the address is bad or taken.
 */
struct net_listener *net_listen(struct event_base *base, const char *name, const char *addr,
                                net_accept_cb cb, void *arg, char **err);
/* Stops accepting and closes the socket; the sessions already accepted go on. */
void net_listener_stop(struct net_listener *l);
void net_listener_free(struct net_listener *l);
const char *net_listener_name(const struct net_listener *l);
const char *net_listener_addr(const struct net_listener *l);
/* Sessions: counted up when one starts, down when it ends; returns the new count. */
unsigned net_listener_hold(struct net_listener *l);
void net_listener_release(struct net_listener *l);

#endif
