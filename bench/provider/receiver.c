/*
 * pc-bench-receiver: many simulated gateways behind a few loopback ports,
 * for bench/provider/run (the provider's push fan-out). Gateway i (ID
 * gw-NNNNN) has its own Ed25519 key, derived from the seed and i (the same
 * keys at every run); its push URL is http://127.0.0.1:PORT/gw/ID/outbreak
 * with PORT the (i mod nports)-th port. Each push is handled as a gateway
 * does, with the project's own codec: the alert is verified with the
 * provider's public key (omsg_open), a receipt signed with the gateway's key
 * (omsg_receipt), and the answer is {"accepted": true, "reason": "",
 * "receipt": ENVELOPE}. One thread (its own event loop) per port.
 *
 *   pc-bench-receiver --provider-key HEX --count N --ports P1,P2,...
 *                     [--keys-out FILE] [--seed TEXT]
 *
 * --keys-out writes "ID HEX-PUBLIC-KEY PUSH-URL" per gateway, then "ready"
 * is printed on stdout; SIGTERM or SIGINT stop it (the number of pushes
 * answered is printed on stderr). Not installed; not a test.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <openssl/evp.h>

#include "outbreak/omsg.h"
#include "util/xalloc.h"

#define MAX_PORTS 16
#define MAX_COUNT 200000

struct gw {
	char id[32];
	EVP_PKEY *key;
};

struct port {
	int port;
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
	struct event *tick; /* looks at `stopping` */
	unsigned long answered, refused;
};

static volatile sig_atomic_t stopping;
static struct okeyring provider;
static struct gw *gws;
static size_t ngws;
static struct port ports[MAX_PORTS];
static size_t nports;

/* Gateway i's key: the Ed25519 private key whose seed is SHA-256(seed "/" i). */
static EVP_PKEY *
derive_key(const char *seed, size_t i)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *s = xasprintf("%s/%zu", seed, i);
	EVP_PKEY *k = NULL;

	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) == 1)
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, md, sizeof(md));
	free(s);
	return k;
}

static void
reply(struct evhttp_request *req, int status, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Refused", b);
	evbuffer_free(b);
}

/* The gateway of a path /gw/gw-NNNNN/outbreak, or NULL. */
static struct gw *
gateway_of(const char *uri)
{
	unsigned long i;
	char *end;

	if (strncmp(uri, "/gw/gw-", 7) != 0)
		return NULL;
	errno = 0;
	i = strtoul(uri + 7, &end, 10);
	if (errno || strcmp(end, "/outbreak") != 0 || i >= ngws)
		return NULL;
	return &gws[i];
}

static void
on_push(struct evhttp_request *req, void *arg)
{
	struct port *p = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct gw *g = gateway_of(evhttp_request_get_uri(req));
	struct omsg m = {0};
	char *body, *why = NULL, *receipt, *answer;

	if (g == NULL || evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		p->refused++;
		reply(req, 404,
		      "{\"accepted\":false,\"reason\":\"no such gateway\",\"receipt\":null}");
		return;
	}
	body = xmalloc(len + 1);
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	if (omsg_open(&provider, body, len, time(NULL), &m, &why) < 0) {
		p->refused++;
		reply(req, 403, "{\"accepted\":false,\"reason\":\"refused\",\"receipt\":null}");
		free(why);
		free(body);
		return;
	}
	receipt = omsg_receipt(g->key, g->id, &m, time(NULL), "sealed", NULL, &why);
	if (receipt == NULL) {
		p->refused++;
		reply(req, 500, "{\"accepted\":false,\"reason\":\"no receipt\",\"receipt\":null}");
		free(why);
	} else {
		p->answered++;
		answer = xasprintf("{\"accepted\":true,\"reason\":\"\",\"receipt\":%s}", receipt);
		reply(req, 200, answer);
		free(answer);
		free(receipt);
	}
	omsg_clear(&m);
	free(body);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;

	(void)fd, (void)what;
	if (stopping)
		event_base_loopbreak(p->base);
}

static void *
serve(void *arg)
{
	struct port *p = arg;

	event_base_dispatch(p->base);
	return NULL;
}

static int
port_open(struct port *p)
{
	struct timeval tv = {0, 100000};

	if ((p->base = event_base_new()) == NULL || (p->http = evhttp_new(p->base)) == NULL ||
	    (p->tick = event_new(p->base, -1, EV_PERSIST, on_tick, p)) == NULL ||
	    event_add(p->tick, &tv) < 0)
		return -1;
	evhttp_set_max_body_size(p->http, 64u << 20);
	evhttp_set_timeout(p->http, 60);
	evhttp_set_gencb(p->http, on_push, p);
	if (evhttp_bind_socket(p->http, "127.0.0.1", (ev_uint16_t)p->port) != 0) {
		fprintf(stderr, "pc-bench-receiver: cannot listen on 127.0.0.1:%d\n", p->port);
		return -1;
	}
	return 0;
}

static int
write_keys(const char *path)
{
	FILE *f = fopen(path, "w");
	char hex[65];

	if (f == NULL) {
		fprintf(stderr, "pc-bench-receiver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < ngws; i++) {
		okey_public_hex(gws[i].key, hex);
		fprintf(f, "%s %s http://127.0.0.1:%d/gw/%s/outbreak\n", gws[i].id, hex,
		        ports[i % nports].port, gws[i].id);
	}
	return fclose(f) == 0 ? 0 : -1;
}

static int
parse_ports(char *s)
{
	for (char *t = strtok(s, ","); t != NULL; t = strtok(NULL, ",")) {
		if (nports == MAX_PORTS)
			return -1;
		ports[nports++].port = atoi(t);
	}
	return nports > 0 ? 0 : -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: pc-bench-receiver --provider-key HEX --count N --ports P1,P2,..."
	                " [--keys-out FILE] [--seed TEXT]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *pkey = NULL, *keys_out = NULL, *seed = "pc-bench";
	char *err = NULL;
	sigset_t set;
	int sig;
	unsigned long answered = 0, refused = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--provider-key") == 0)
			pkey = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			ngws = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--ports") == 0) {
			if (parse_ports(argv[i + 1]) < 0)
				usage();
		} else if (strcmp(argv[i], "--keys-out") == 0)
			keys_out = argv[i + 1];
		else if (strcmp(argv[i], "--seed") == 0)
			seed = argv[i + 1];
		else
			usage();
	}
	if (pkey == NULL || ngws == 0 || ngws > MAX_COUNT || nports == 0)
		usage();
	if (okeyring_add(&provider, pkey, &err) < 0) {
		fprintf(stderr, "pc-bench-receiver: provider key: %s\n", err);
		return 1;
	}
	gws = xcalloc(ngws, sizeof(*gws));
	for (size_t i = 0; i < ngws; i++) {
		snprintf(gws[i].id, sizeof(gws[i].id), "gw-%05zu", i);
		if ((gws[i].key = derive_key(seed, i)) == NULL) {
			fprintf(stderr, "pc-bench-receiver: cannot derive key %zu\n", i);
			return 1;
		}
	}
	/* the signals are taken by the main thread only */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < nports; i++)
		if (port_open(&ports[i]) < 0)
			return 1;
	if (keys_out != NULL && write_keys(keys_out) < 0)
		return 1;
	for (size_t i = 0; i < nports; i++)
		pthread_create(&ports[i].tid, NULL, serve, &ports[i]);
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	stopping = 1;
	for (size_t i = 0; i < nports; i++) {
		pthread_join(ports[i].tid, NULL);
		event_free(ports[i].tick);
		answered += ports[i].answered;
		refused += ports[i].refused;
		evhttp_free(ports[i].http);
		event_base_free(ports[i].base);
	}
	fprintf(stderr, "pc-bench-receiver: %lu push(es) answered, %lu refused\n", answered,
	        refused);
	for (size_t i = 0; i < ngws; i++)
		EVP_PKEY_free(gws[i].key);
	free(gws);
	okeyring_free(&provider);
	return 0;
}
