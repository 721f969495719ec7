/*
 * console: the operator's web console of portcullis-provider serve (issue
 * 11), the routes under /console/ (docs/provider.md, "Console"): login by
 * password (cpass), sessions in memory (cookie pc_session), CSRF tokens on
 * every form, a strict Content-Security-Policy on every response; a
 * dashboard of gateways, documents and receipts (updated live by a small
 * script polling /console/api/state); forms that publish an alert, an
 * update (uploaded signature files) or an all-clear through publish.h,
 * then start the push fan-out (fanout.h). Pages are the template files of
 * the template directory (tmpl.h).
 */
#ifndef PC_CONSOLE_H
#define PC_CONSOLE_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "provider/pstore.h"

/* The default for --max-upload: the signature files of one update. */
#define CONSOLE_MAX_UPLOAD (16u << 20)
/* What a multipart body may carry beyond its files (boundaries, fields). */
#define CONSOLE_UPLOAD_SLACK (64u * 1024)

struct console_opts {
	const char *state_dir, *feed_dir, *key_path, *provider;
	const char *templates;          /* the directory of login.html, console.html, ... */
	uint64_t max_upload;            /* the files of one update, together */
	int tls;                        /* served over HTTPS: cookies get Secure */
	const struct fanout_opts *push; /* fan-out of what it publishes; NULL: none */
};

struct console;
struct fanout_opts;

/*
 * The console over ps (the server's handle, borrowed), answering on base's
 * loop (password checks run on a thread of their own); o and its strings
 * must outlive it. NULL with *err.
 */
struct console *console_new(const struct console_opts *o, struct pstore *ps,
                            struct event_base *base, char **err);
void console_free(struct console *c);

/* Answers req, whose path (undecoded) is /console or starts with /console/. */
void console_handle(struct console *c, struct evhttp_request *req, const char *path);

#endif
