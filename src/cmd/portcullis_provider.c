/*
 * portcullis-provider: the signature provider's command line (issue 11,
 * first slice): keys, alerts, updates and all-clears numbered, signed,
 * stored and written to the pull feed; the list of what was published;
 * enrolment tokens. main() and argument parsing only: the work is
 * src/provider/'s (publish, build, pstore, feed).
 *
 * Exit status: 0 done; 1 refused or failed (the reason on stderr, for a bad
 * signature file one `path:line: reason` per bad line); 2 usage.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outbreak/omsg.h"
#include "provider/build.h"
#include "provider/pserver.h"
#include "provider/publish.h"
#include "provider/pstore.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define DEFAULT_STATE_DIR "/var/lib/portcullis-provider"
#define MAX_LIST 4096 /* --virus, --sha256, --protocol, files: at most */

struct globals {
	const char *state_dir, *key, *name, *feed_dir;
	char *key_buf, *feed_buf;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: portcullis-provider keygen [--out PREFIX]\n"
	           "       portcullis-provider [-d STATE_DIR] [-k KEYFILE] [-n PROVIDER_NAME]"
	           " [-f FEED_DIR] COMMAND\n"
	           "commands:\n"
	           "  alert --virus ID [--virus ID...] [--mode hold|hold_attachments|hash]\n"
	           "        [--sha256 HEX...] [--direction inbound|outbound|both]\n"
	           "        [--protocol smtp|ftp...] [--ttl 24h] [--name TEXT] [--id ID]\n"
	           "  update [--virus ID...] [--id ID] FILE...\n"
	           "  allclear --alert ID [--id ID]\n"
	           "  documents\n"
	           "  enrol-token [--ttl 24h]\n"
	           "  serve --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]\n"
	           "  gateways\n"
	           "  receipts\n"
	           "defaults: STATE_DIR " DEFAULT_STATE_DIR ", KEYFILE STATE_DIR/provider.key,\n"
	           "          FEED_DIR STATE_DIR/feed, PROVIDER_NAME provider\n");
}

/* A growing list of option values (pointers into argv). */
struct list {
	const char **v;
	size_t n, cap;
};

static int
list_add(struct list *l, const char *s, const char *what)
{
	if (l->n >= MAX_LIST) {
		fprintf(stderr, "portcullis-provider: more than %d %s\n", MAX_LIST, what);
		return -1;
	}
	l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = s;
	return 0;
}

static int
parse_ttl(const char *s, int64_t *out)
{
	uint64_t ms;

	if (parse_duration_ms(s, &ms) < 0 || ms < 1000 || ms / 1000 > 366ull * 24 * 3600) {
		fprintf(stderr, "portcullis-provider: bad duration \"%.40s\" (1s..366 days)\n", s);
		return -1;
	}
	*out = (int64_t)(ms / 1000);
	return 0;
}

/* Prints what a publication did, or why it failed. */
static int
report(int rc, struct build_doc *d, char *path, char *err)
{
	if (rc < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	printf("seq=%llu type=%s id=%s envelope=%s\n", (unsigned long long)d->seq, d->type, d->id,
	       path);
	free(path);
	build_doc_clear(d);
	return 0;
}

static struct publisher *
open_pub(const struct globals *g, int need_key)
{
	char *err = NULL;
	struct publisher *p =
	    publish_open(g->state_dir, g->feed_dir, need_key ? g->key : NULL, g->name, &err);

	if (p == NULL) {
		fprintf(stderr, "portcullis-provider: %s\n", err);
		free(err);
	}
	return p;
}

static int
cmd_keygen(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	char *prefix = NULL, *priv, *pub, *err = NULL, hex[65];
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'o') {
			usage(stderr);
			return 2;
		}
		free(prefix);
		prefix = xstrdup(optarg);
	}
	if (optind != argc) {
		usage(stderr);
		free(prefix);
		return 2;
	}
	if (prefix == NULL) {
		if (mkdir(g->state_dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "portcullis-provider: %s: %s\n", g->state_dir,
			        strerror(errno));
			return 1;
		}
		prefix = xasprintf("%s/provider", g->state_dir);
	}
	priv = xasprintf("%s.key", prefix);
	pub = xasprintf("%s.pub", prefix);
	rc = okey_generate(priv, pub, hex, &err);
	if (rc < 0)
		fprintf(stderr, "portcullis-provider: %s\n", err);
	else
		printf("%s\n", hex);
	free(err);
	free(priv);
	free(pub);
	free(prefix);
	return rc < 0 ? 1 : 0;
}

static int
cmd_alert(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"virus", required_argument, NULL, 'v'},
	                                     {"mode", required_argument, NULL, 'm'},
	                                     {"sha256", required_argument, NULL, 's'},
	                                     {"direction", required_argument, NULL, 'D'},
	                                     {"protocol", required_argument, NULL, 'p'},
	                                     {"ttl", required_argument, NULL, 't'},
	                                     {"name", required_argument, NULL, 'N'},
	                                     {"id", required_argument, NULL, 'i'},
	                                     {NULL, 0, NULL, 0}};
	struct list vir = {0}, sha = {0}, proto = {0};
	struct build_alert a = {0};
	struct build_doc d = {0};
	struct publisher *p = NULL;
	char *path = NULL, *err = NULL;
	int ch, rc = 2;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			if (list_add(&vir, optarg, "viruses") < 0)
				goto out;
			break;
		case 's':
			if (list_add(&sha, optarg, "hashes") < 0)
				goto out;
			break;
		case 'p':
			if (list_add(&proto, optarg, "protocols") < 0)
				goto out;
			break;
		case 'm':
			a.mode = optarg;
			break;
		case 'D':
			a.direction = optarg;
			break;
		case 't':
			if (parse_ttl(optarg, &a.ttl) < 0)
				goto out;
			break;
		case 'N':
			a.name = optarg;
			break;
		case 'i':
			a.id = optarg;
			break;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc || vir.n == 0) {
		fprintf(stderr, "portcullis-provider: alert needs --virus and takes no operands\n");
		goto out;
	}
	a.viruses = vir.v;
	a.nviruses = vir.n;
	a.sha256 = sha.v;
	a.nsha256 = sha.n;
	a.protocols = proto.v;
	a.nprotocols = proto.n;
	rc = 1;
	if ((p = open_pub(g, 1)) == NULL)
		goto out;
	rc = publish_alert(p, &a, time(NULL), &d, &path, &err);
	rc = report(rc, &d, path, err);
out:
	publish_close(p);
	free(vir.v);
	free(sha.v);
	free(proto.v);
	return rc;
}

static int
cmd_update(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"virus", required_argument, NULL, 'v'},
	                                     {"id", required_argument, NULL, 'i'},
	                                     {NULL, 0, NULL, 0}};
	struct list vir = {0};
	struct build_files *f = NULL;
	struct build_doc d = {0};
	struct publisher *p = NULL;
	const char *id = NULL;
	char *path = NULL, *err = NULL;
	int ch, rc = 2;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'v') {
			if (list_add(&vir, optarg, "viruses") < 0)
				goto out;
		} else if (ch == 'i') {
			id = optarg;
		} else {
			usage(stderr);
			goto out;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "portcullis-provider: update needs signature files\n");
		goto out;
	}
	rc = 1;
	if ((f = build_files_load((const char *const *)argv + optind, (size_t)(argc - optind),
	                          &err)) == NULL) {
		fprintf(stderr, "%s\nportcullis-provider: update refused, nothing published\n",
		        err);
		free(err);
		goto out;
	}
	if ((p = open_pub(g, 1)) == NULL)
		goto out;
	rc = publish_update(p, f, vir.n ? vir.v : NULL, vir.n, id, time(NULL), &d, &path, &err);
	rc = report(rc, &d, path, err);
out:
	publish_close(p);
	build_files_free(f);
	free(vir.v);
	return rc;
}

static int
cmd_allclear(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"alert", required_argument, NULL, 'a'},
	                                     {"id", required_argument, NULL, 'i'},
	                                     {NULL, 0, NULL, 0}};
	const char *alert = NULL, *id = NULL;
	struct build_doc d = {0};
	struct publisher *p;
	char *path = NULL, *err = NULL;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a') {
			alert = optarg;
		} else if (ch == 'i') {
			id = optarg;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || alert == NULL) {
		fprintf(stderr, "portcullis-provider: allclear needs --alert ID\n");
		return 2;
	}
	if ((p = open_pub(g, 1)) == NULL)
		return 1;
	rc = publish_allclear(p, alert, id, time(NULL), &d, &path, &err);
	rc = report(rc, &d, path, err);
	publish_close(p);
	return rc;
}

static int
cmd_documents(const struct globals *g, int argc, char **argv)
{
	struct publisher *p;
	struct pstore_doc *docs;
	size_t n;
	char *err = NULL;

	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if ((p = open_pub(g, 0)) == NULL)
		return 1;
	if (pstore_documents(publish_store(p), 0, &docs, &n, &err) < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err);
		free(err);
		publish_close(p);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%llu\t%s\t%s\t%lld\t%s\n", (unsigned long long)docs[i].seq, docs[i].type,
		       docs[i].id, (long long)docs[i].created, docs[i].url);
	pstore_docs_free(docs, n);
	publish_close(p);
	return 0;
}

static int
cmd_enrol_token(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"ttl", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	char token[PSTORE_TOKEN_HEX + 1], *err = NULL;
	int64_t ttl = 24 * 3600;
	struct publisher *p;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 't' || parse_ttl(optarg, &ttl) < 0) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((p = open_pub(g, 0)) == NULL)
		return 1;
	rc = pstore_enrol_token_new(publish_store(p), time(NULL), ttl, token, &err);
	if (rc < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err);
		free(err);
	} else {
		printf("%s\n", token);
	}
	publish_close(p);
	return rc < 0 ? 1 : 0;
}

static int
cmd_serve(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
	                                     {"tls-cert", required_argument, NULL, 'c'},
	                                     {"tls-key", required_argument, NULL, 'k'},
	                                     {NULL, 0, NULL, 0}};
	struct pserver_opts o = {0};
	char *err = NULL;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'l') {
			o.listen = optarg;
		} else if (ch == 'c') {
			o.tls_cert = optarg;
		} else if (ch == 'k') {
			o.tls_key = optarg;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || o.listen == NULL || (o.tls_cert == NULL) != (o.tls_key == NULL)) {
		fprintf(stderr, "portcullis-provider: serve needs --listen ADDR:PORT (and both or"
		                " neither of --tls-cert, --tls-key)\n");
		return 2;
	}
	o.state_dir = g->state_dir;
	o.feed_dir = g->feed_dir;
	o.key_path = g->key;
	o.provider = g->name;
	if (log_get_level() < LOG_LVL_INFO)
		log_set_level(LOG_LVL_INFO);
	if (pserver_run(&o, &err) < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	return 0;
}

/* Unix seconds as ISO 8601 UTC into buf. */
static const char *
iso_utc(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
	return buf;
}

static int
cmd_gateways(const struct globals *g, int argc, char **argv)
{
	struct publisher *p;
	struct pstore_gateway *gw;
	size_t n;
	char *err = NULL, when[32];

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if ((p = open_pub(g, 0)) == NULL)
		return 1;
	if (pstore_gateways(publish_store(p), &gw, &n, &err) < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err);
		free(err);
		publish_close(p);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\t%s\t%s\t%s\n", gw[i].id, gw[i].state,
		       iso_utc(gw[i].last_seen, when, sizeof(when)),
		       gw[i].last_message ? gw[i].last_message : "-");
	pstore_gateways_free(gw, n);
	publish_close(p);
	return 0;
}

static int
cmd_receipts(const struct globals *g, int argc, char **argv)
{
	struct publisher *p;
	struct pstore_receipt *r;
	size_t n;
	char *err = NULL, when[32];

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if ((p = open_pub(g, 0)) == NULL)
		return 1;
	if (pstore_receipts(publish_store(p), &r, &n, &err) < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err);
		free(err);
		publish_close(p);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\t%s\t%llu\t%s\t%s\n", r[i].gateway, r[i].message,
		       (unsigned long long)r[i].message_seq, r[i].state,
		       iso_utc(r[i].time, when, sizeof(when)));
	pstore_receipts_free(r, n);
	publish_close(p);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(const struct globals *, int, char **);
} commands[] = {
    {"keygen", cmd_keygen},     {"alert", cmd_alert},         {"update", cmd_update},
    {"allclear", cmd_allclear}, {"documents", cmd_documents}, {"enrol-token", cmd_enrol_token},
    {"serve", cmd_serve},       {"gateways", cmd_gateways},   {"receipts", cmd_receipts},
};

int
main(int argc, char **argv)
{
	struct globals g = {DEFAULT_STATE_DIR, NULL, "provider", NULL, NULL, NULL};
	int ch, rc;

	log_init("portcullis-provider", 0, getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	while ((ch = getopt(argc, argv, "+d:k:n:f:h")) != -1) {
		switch (ch) {
		case 'd':
			g.state_dir = optarg;
			break;
		case 'k':
			g.key = optarg;
			break;
		case 'n':
			g.name = optarg;
			break;
		case 'f':
			g.feed_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (g.key == NULL)
		g.key = g.key_buf = xasprintf("%s/provider.key", g.state_dir);
	if (g.feed_dir == NULL)
		g.feed_dir = g.feed_buf = xasprintf("%s/feed", g.state_dir);
	if (!build_name_ok(g.name)) {
		fprintf(stderr, "portcullis-provider: -n \"%.80s\": 1..64 of [A-Za-z0-9._-]\n",
		        g.name);
		rc = 2;
		goto out;
	}
	rc = 2;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			rc = commands[i].fn(&g, argc - optind, argv + optind);
			goto out;
		}
	usage(stderr);
out:
	free(g.key_buf);
	free(g.feed_buf);
	return rc;
}
