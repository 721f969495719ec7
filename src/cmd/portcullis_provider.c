/*
 * portcullis-provider: the signature provider's command line (issue 11,
 * first slice): keys, alerts, updates and all-clears numbered, signed,
 * stored and written to the pull feed; the list of what was published;
 * enrolment tokens; the push of each new document to the gateways (fanout).
 * main() and argument parsing only: the work is src/provider/'s (publish,
 * build, pstore, feed, fanout).
 *
 * Exit status: 0 done (a document published is 0 even when some pushes
 * failed: those gateways get it by pull); 1 refused or failed (the reason
 * on stderr, for a bad signature file one `path:line: reason` per bad
 * line); 2 usage.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outbreak/omsg.h"
#include "config.h"
#include "provider/build.h"
#include "provider/fanout.h"
#include "provider/cpass.h"
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
	fprintf(f,
	        "usage: portcullis-provider keygen [--out PREFIX]\n"
	        "       portcullis-provider [-d STATE_DIR] [-k KEYFILE] [-n PROVIDER_NAME]"
	        " [-f FEED_DIR] COMMAND\n"
	        "commands:\n"
	        "  alert --virus ID [--virus ID...] [--mode hold|hold_attachments|hash]\n"
	        "        [--sha256 HEX...] [--direction inbound|outbound|both]\n"
	        "        [--protocol smtp|ftp...] [--ttl 24h] [--name TEXT] [--id ID] [PUSH]\n"
	        "  update [--virus ID...] [--id ID] [PUSH] FILE...\n"
	        "  allclear --alert ID [--id ID] [PUSH]\n"
	        "  push [--id ID] [PUSH]          (a published document again; default the last)\n"
	        "  documents\n"
	        "  enrol-token [--ttl 24h] [--count N]\n"
	        "  serve --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]\n"
	        "        [--templates DIR] [--max-upload 16M] [PUSH]\n"
	        "  passwd                 (the console's password, read from stdin)\n"
	        "  gateways\n"
	        "  receipts\n"
	        "PUSH (after publishing, to every gateway with a push URL):\n"
	        "  --no-push | [--push-parallel 256] [--push-timeout 5s] [--push-attempts 4]\n"
	        "  [--push-ca FILE]\n"
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

/* The push options every publishing command takes (getopt codes P_*). */
enum { P_NO_PUSH = 1000, P_PARALLEL, P_TIMEOUT, P_ATTEMPTS, P_CA };
/* clang-format off */
#define PUSH_OPTIONS                                                                               \
	{"no-push", no_argument, NULL, P_NO_PUSH},                                                 \
	{"push-parallel", required_argument, NULL, P_PARALLEL},                                    \
	{"push-timeout", required_argument, NULL, P_TIMEOUT},                                      \
	{"push-attempts", required_argument, NULL, P_ATTEMPTS},                                    \
	{"push-ca", required_argument, NULL, P_CA}
/* clang-format on */

struct push_args {
	int off;
	struct fanout_opts o;
};

static void
push_args_init(struct push_args *pa)
{
	pa->off = 0;
	fanout_opts_default(&pa->o);
}

static int
parse_count(const char *s, unsigned long min, unsigned long max, const char *what,
            unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "portcullis-provider: %s \"%.40s\": %lu..%lu\n", what, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Takes one push option: 1 taken, 0 not a push option, -1 bad value. */
static int
push_arg(struct push_args *pa, int ch, const char *arg)
{
	unsigned long v;
	uint64_t ms;

	switch (ch) {
	case P_NO_PUSH:
		pa->off = 1;
		return 1;
	case P_PARALLEL:
		if (parse_count(arg, 1, 10000, "--push-parallel", &v) < 0)
			return -1;
		pa->o.parallel = (unsigned)v;
		return 1;
	case P_ATTEMPTS:
		if (parse_count(arg, 1, 20, "--push-attempts", &v) < 0)
			return -1;
		pa->o.attempts = (unsigned)v;
		return 1;
	case P_TIMEOUT:
		if (parse_duration_ms(arg, &ms) < 0 || ms < 100 || ms > 3600 * 1000) {
			fprintf(stderr,
			        "portcullis-provider: --push-timeout \"%.40s\": 100ms..1h\n", arg);
			return -1;
		}
		pa->o.timeout_ms = (long)ms;
		return 1;
	case P_CA:
		pa->o.ca_file = arg;
		return 1;
	default:
		return 0;
	}
}

/*
 * Pushes a published document to the gateways (in the foreground) and
 * prints the outcome. The exit status does not depend on it: a gateway the
 * push missed gets the document by pull.
 */
static void
push_doc(const struct globals *g, struct push_args *pa, const char *id, uint64_t seq,
         const char *envelope)
{
	struct fanout_stats st;
	char *err = NULL;

	if (pa->off)
		return;
	pa->o.provider = g->name;
	fflush(stdout);
	if (log_get_level() < LOG_LVL_INFO)
		log_set_level(LOG_LVL_INFO);
	if (fanout_push(&pa->o, g->state_dir, id, seq, envelope, &st, &err) < 0) {
		fprintf(stderr,
		        "portcullis-provider: not pushed (the gateways get it by pull): %s\n",
		        err ? err : "failed");
		free(err);
		return;
	}
	printf("pushed to %zu gateways: %zu receipts, %zu failed (they get it by pull) in %.2f s\n",
	       st.gateways, st.receipts, st.failed, st.seconds);
	fflush(stdout);
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
	return 0;
}

/*
 * After a publication: reports it, lets the publisher (and its lock) go,
 * then pushes the document. Returns the exit status.
 */
static int
published(const struct globals *g, struct push_args *pa, struct publisher **p, int rc,
          struct build_doc *d, char *path, char *err)
{
	rc = report(rc, d, path, err);
	publish_close(*p);
	*p = NULL;
	if (rc == 0)
		push_doc(g, pa, d->id, d->seq, d->envelope);
	build_doc_clear(d);
	return rc;
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
	                                     PUSH_OPTIONS,
	                                     {NULL, 0, NULL, 0}};
	struct list vir = {0}, sha = {0}, proto = {0};
	struct build_alert a = {0};
	struct build_doc d = {0};
	struct publisher *p = NULL;
	struct push_args pa;
	char *path = NULL, *err = NULL;
	int ch, rc = 2, k;

	push_args_init(&pa);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((k = push_arg(&pa, ch, optarg)) != 0) {
			if (k < 0)
				goto out;
			continue;
		}
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
	rc = published(g, &pa, &p, rc, &d, path, err);
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
	                                     PUSH_OPTIONS,
	                                     {NULL, 0, NULL, 0}};
	struct list vir = {0};
	struct build_files *f = NULL;
	struct build_doc d = {0};
	struct publisher *p = NULL;
	struct push_args pa;
	const char *id = NULL;
	char *path = NULL, *err = NULL;
	int ch, rc = 2, k;

	push_args_init(&pa);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((k = push_arg(&pa, ch, optarg)) != 0) {
			if (k < 0)
				goto out;
		} else if (ch == 'v') {
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
	rc = published(g, &pa, &p, rc, &d, path, err);
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
	                                     PUSH_OPTIONS,
	                                     {NULL, 0, NULL, 0}};
	const char *alert = NULL, *id = NULL;
	struct build_doc d = {0};
	struct publisher *p;
	struct push_args pa;
	char *path = NULL, *err = NULL;
	int ch, rc, k;

	push_args_init(&pa);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((k = push_arg(&pa, ch, optarg)) != 0) {
			if (k < 0)
				return 2;
		} else if (ch == 'a') {
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
	return published(g, &pa, &p, rc, &d, path, err);
}

static int
cmd_push(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"id", required_argument, NULL, 'i'}, PUSH_OPTIONS, {NULL, 0, NULL, 0}};
	struct pstore_doc d = {0};
	struct push_args pa;
	struct publisher *p;
	const char *id = NULL;
	char *err = NULL;
	int ch, rc, k;

	push_args_init(&pa);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((k = push_arg(&pa, ch, optarg)) != 0) {
			if (k < 0)
				return 2;
		} else if (ch == 'i') {
			id = optarg;
		} else {
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
	rc = pstore_document(publish_store(p), id, &d, &err);
	publish_close(p);
	if (rc <= 0) {
		fprintf(stderr, "portcullis-provider: %s\n",
		        rc < 0 ? err
		        : id   ? "no such document published here"
		               : "nothing published yet");
		free(err);
		return 1;
	}
	printf("seq=%llu type=%s id=%s\n", (unsigned long long)d.seq, d.type, d.id);
	push_doc(g, &pa, d.id, d.seq, d.envelope);
	pstore_doc_clear(&d);
	return 0;
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
	                                     {"count", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	char(*tokens)[PSTORE_TOKEN_HEX + 1], *err = NULL;
	int64_t ttl = 24 * 3600;
	unsigned long count = 1;
	struct publisher *p;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 't' && parse_ttl(optarg, &ttl) == 0)
			continue;
		if (ch == 'c' && parse_count(optarg, 1, 100000, "--count", &count) == 0)
			continue;
		usage(stderr);
		return 2;
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((p = open_pub(g, 0)) == NULL)
		return 1;
	tokens = xcalloc(count, sizeof(*tokens));
	rc = pstore_enrol_tokens_new(publish_store(p), time(NULL), ttl, count, tokens, &err);
	if (rc < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err);
		free(err);
	} else {
		for (unsigned long i = 0; i < count; i++)
			printf("%s\n", tokens[i]);
	}
	free(tokens);
	publish_close(p);
	return rc < 0 ? 1 : 0;
}

static int
cmd_serve(const struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
	                                     {"tls-cert", required_argument, NULL, 'c'},
	                                     {"tls-key", required_argument, NULL, 'k'},
	                                     {"templates", required_argument, NULL, 'T'},
	                                     {"max-upload", required_argument, NULL, 'U'},
	                                     PUSH_OPTIONS,
	                                     {NULL, 0, NULL, 0}};
	struct pserver_opts o = {0};
	struct push_args pa;
	char *err = NULL;
	int ch, taken;

	push_args_init(&pa);

	o.templates = PORTCULLIS_TEMPLATEDIR "/provider";

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'l') {
			o.listen = optarg;
		} else if (ch == 'c') {
			o.tls_cert = optarg;
		} else if (ch == 'k') {
			o.tls_key = optarg;
		} else if (ch == 'T') {
			o.templates = optarg;
		} else if ((taken = push_arg(&pa, ch, optarg)) != 0) {
			if (taken < 0)
				return 2;
		} else if (ch == 'U') {
			if (parse_size(optarg, &o.max_upload) < 0 || o.max_upload == 0 ||
			    o.max_upload > (1ull << 30)) {
				fprintf(stderr,
				        "portcullis-provider: --max-upload \"%.40s\": a size"
				        " up to 1G\n",
				        optarg);
				return 2;
			}
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
	pa.o.provider = g->name;
	o.push = pa.off ? NULL : &pa.o;
	if (log_get_level() < LOG_LVL_INFO)
		log_set_level(LOG_LVL_INFO);
	if (pserver_run(&o, &err) < 0) {
		fprintf(stderr, "portcullis-provider: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	return 0;
}

/* The console's password: one line from stdin, stored as an scrypt hash. */
static int
cmd_passwd(const struct globals *g, int argc, char **argv)
{
	char buf[CPASS_MAX_LEN + 2], *line, *err = NULL;
	size_t n;
	int rc;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	if (fgets(buf, sizeof(buf), stdin) == NULL) {
		fprintf(stderr, "portcullis-provider: passwd reads the new password from stdin\n");
		return 1;
	}
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n > CPASS_MAX_LEN) {
		fprintf(stderr, "portcullis-provider: the password is longer than %d bytes\n",
		        CPASS_MAX_LEN);
		return 1;
	}
	buf[n] = '\0';
	if (n < CPASS_MIN_LEN) {
		fprintf(stderr, "portcullis-provider: the password needs at least %d characters\n",
		        CPASS_MIN_LEN);
		return 1;
	}
	if (mkdir(g->state_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "portcullis-provider: %s: %s\n", g->state_dir, strerror(errno));
		return 1;
	}
	line = cpass_hash(buf, &err);
	memset(buf, 0, sizeof(buf));
	rc = line != NULL ? cpass_store(g->state_dir, line, &err) : -1;
	if (rc < 0)
		fprintf(stderr, "portcullis-provider: %s\n", err ? err : "failed");
	else
		printf("console password set (%s/%s)\n", g->state_dir, CPASS_FILE);
	free(line);
	free(err);
	return rc < 0 ? 1 : 0;
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
    {"keygen", cmd_keygen},           {"alert", cmd_alert},   {"update", cmd_update},
    {"allclear", cmd_allclear},       {"push", cmd_push},     {"documents", cmd_documents},
    {"enrol-token", cmd_enrol_token}, {"serve", cmd_serve},   {"gateways", cmd_gateways},
    {"receipts", cmd_receipts},       {"passwd", cmd_passwd},
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
