/*
 * portcullis-scan: scans files and directories from the command line, like
 * clamscan, with the same engine the gateway uses. Owns argument parsing,
 * the directory walk, the worker threads and the output format; scanning
 * itself is scanner_scan_fd().
 *
 * Output: `path: OK`, `path: Name FOUND` (one line per hit, path being the
 * container path of the hit), `path: ENCRYPTED|LIMIT x|CORRUPT UNSCANNED
 * (where: reason)`, `path: ERROR (reason)`, then a summary. Exit status: 1 if
 * anything was found, else 2 on any error or unscanned file, else 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "config.h"
#include "scan/dbcache.h"
#include "scan/scanner.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/sys.h"

struct cli {
	struct scanner *scanner;
	int recursive;
	int mail; /* every file is a mail message (--mail) */
	int quiet;
	int progress;

	/*
	 * The results: the process's stdout, kept on an fd of our own, while
	 * fd 1 goes to stderr: libraries the walker runs (libytnef) print
	 * about damaged input to stdout, and our output is parsed.
	 */
	FILE *out;

	pthread_mutex_t lock; /* guards the queue, the counters and out */
	pthread_cond_t cond;
	char **queue;
	size_t qhead, qlen, qcap;
	int done_adding;

	unsigned long scanned, infected, unscanned, errors;
	unsigned long long bytes;
	double last_progress;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: portcullis-scan [options] PATH...\n"
	        "       portcullis-scan -t [-c FILE]\n"
	        "\n"
	        "Scans files with the Portcullis engine: ClamAV .ndb/.hdb/.hsb/.cvd/.cld and\n"
	        ".sha256 signatures, inside archives and mail, like clamscan.\n"
	        "\n"
	        "  -d, --database DIR   signature directory (scan.database_dir,\n"
	        "                       default %s)\n"
	        "      --cache-dir DIR  keep compiled signatures in DIR and reuse them\n"
	        "                       while the signatures are unchanged\n"
	        "                       (scan.cache_dir, default /var/cache/portcullis;\n"
	        "                       \"\" turns the cache off)\n"
	        "      --clamd ADDR     also scan with clamd at ADDR (unix socket path or\n"
	        "                       host:port); any hit counts (scan.backend = chain)\n"
	        "      --clamd-only     scan with clamd only (scan.backend = clamd)\n"
	        "  -c, --config FILE    read settings from FILE (default: built-in defaults)\n"
	        "  -t, --test-config    check the configuration and exit (0 = valid)\n"
	        "  -r, --recursive      descend into directories\n"
	        "  -m, --mail           every file is one mail message (or mbox), walked\n"
	        "                       as portcullisd walks SMTP DATA, whatever its\n"
	        "                       first bytes look like\n"
	        "  -j, --jobs N         scanning threads (default: scan.threads, 0 = CPUs)\n"
	        "      --skip-safe      skip parts whose content type and name are both\n"
	        "                       on the safe lists (scan.skip_safe_types)\n"
	        "  -q, --quiet          print only findings, not OK lines\n"
	        "      --no-summary     do not print the summary\n"
	        "  -v, --verbose        debug logging on stderr\n"
	        "  -V, --version        print the version\n"
	        "  -h, --help           this text\n"
	        "\n"
	        "Exit status: 0 all clean, 1 something found, 2 errors or unscanned files.\n",
	        PORTCULLIS_SIGDIR);
}

/* Prints one file's result and updates the counters; call with lock held. */
static void
cli_report(struct cli *cli, const char *path, const struct scan_verdict *v)
{
	cli->scanned++;
	if (v->status == SCAN_INFECTED) {
		cli->infected++;
		for (size_t i = 0; i < v->nhits; i++)
			fprintf(cli->out, "%s: %s FOUND\n", v->hits[i].path, v->hits[i].name);
	}
	switch (v->other) {
	case SCAN_CLEAN:
	case SCAN_INFECTED:
		if (v->status == SCAN_CLEAN && !cli->quiet)
			fprintf(cli->out, "%s: OK\n", path);
		break;
	case SCAN_ERROR:
		cli->errors++;
		fprintf(cli->out, "%s: ERROR (%s: %s)\n", path, v->where ? v->where : path,
		        v->reason ? v->reason : "");
		break;
	case SCAN_LIMIT:
		if (v->status != SCAN_INFECTED)
			cli->unscanned++;
		fprintf(cli->out, "%s: LIMIT %s UNSCANNED (%s: %s)\n", path,
		        scan_limit_name(v->limit), v->where ? v->where : path,
		        v->reason ? v->reason : "");
		break;
	case SCAN_ENCRYPTED:
	case SCAN_CORRUPT:
		if (v->status != SCAN_INFECTED)
			cli->unscanned++;
		fprintf(cli->out, "%s: %s UNSCANNED (%s: %s)\n", path,
		        v->other == SCAN_ENCRYPTED ? "ENCRYPTED" : "CORRUPT",
		        v->where ? v->where : path, v->reason ? v->reason : "");
		break;
	}
	fflush(cli->out);
}

static void
cli_error(struct cli *cli, const char *path, const char *what)
{
	pthread_mutex_lock(&cli->lock);
	cli->errors++;
	fprintf(cli->out, "%s: ERROR (%s)\n", path, what);
	fflush(cli->out);
	pthread_mutex_unlock(&cli->lock);
}

static void
cli_progress(struct cli *cli, int final)
{
	double t = monotonic_s();

	if (!cli->progress || (!final && t - cli->last_progress < 0.5))
		return;
	cli->last_progress = t;
	fprintf(stderr, "\r%lu files, %.1f MB scanned%s", cli->scanned,
	        (double)cli->bytes / (1024.0 * 1024.0), final ? "\n" : "");
}

static void
cli_scan_file(struct cli *cli, const char *path)
{
	struct scan_verdict v;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) < 0) {
		cli_error(cli, path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0) {
		cli_error(cli, path, strerror(errno));
		close(fd);
		return;
	}
	verdict_init(&v);
	if (cli->mail)
		scanner_scan_message_fd(cli->scanner, fd, path, &v);
	else
		scanner_scan_fd(cli->scanner, fd, path, &v);
	close(fd);
	pthread_mutex_lock(&cli->lock);
	cli->bytes += (unsigned long long)st.st_size;
	cli_report(cli, path, &v);
	cli_progress(cli, 0);
	pthread_mutex_unlock(&cli->lock);
	verdict_clear(&v);
}

static void
cli_enqueue(struct cli *cli, const char *path)
{
	pthread_mutex_lock(&cli->lock);
	if (cli->qhead > 0 && cli->qhead == cli->qlen)
		cli->qhead = cli->qlen = 0;
	cli->queue = xgrow(cli->queue, &cli->qcap, cli->qlen + 1, sizeof(*cli->queue));
	cli->queue[cli->qlen++] = xstrdup(path);
	pthread_cond_signal(&cli->cond);
	pthread_mutex_unlock(&cli->lock);
}

static void *
cli_worker(void *arg)
{
	struct cli *cli = arg;
	char *path;

	for (;;) {
		pthread_mutex_lock(&cli->lock);
		while (cli->qhead == cli->qlen && !cli->done_adding)
			pthread_cond_wait(&cli->cond, &cli->lock);
		if (cli->qhead == cli->qlen) {
			pthread_mutex_unlock(&cli->lock);
			return NULL;
		}
		path = cli->queue[cli->qhead++];
		pthread_mutex_unlock(&cli->lock);
		cli_scan_file(cli, path);
		free(path);
	}
}

/* Queues path, descending into directories when -r is given. */
static void
cli_add(struct cli *cli, const char *path, int top)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if ((top ? stat(path, &st) : lstat(path, &st)) < 0) {
		cli_error(cli, path, strerror(errno));
		return;
	}
	if (S_ISREG(st.st_mode)) {
		cli_enqueue(cli, path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		/* Symlinks inside trees are not followed; devices are not files. */
		if (top)
			cli_error(cli, path, "not a regular file");
		return;
	}
	if (!cli->recursive) {
		cli_error(cli, path, "is a directory (use -r)");
		return;
	}
	if ((d = opendir(path)) == NULL) {
		cli_error(cli, path, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char *child;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child =
		    xasprintf("%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", de->d_name);
		cli_add(cli, child, 0);
		free(child);
	}
	closedir(d);
}

static unsigned
cli_threads(unsigned configured)
{
	long n = configured ? (long)configured : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

int
main(int argc, char **argv)
{
	enum { OPT_CLAMD = 256, OPT_CLAMD_ONLY, OPT_SKIP_SAFE, OPT_NO_SUMMARY, OPT_CACHE_DIR };
	static const struct option longopts[] = {
	    {"database", required_argument, NULL, 'd'},
	    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	    {"clamd", required_argument, NULL, OPT_CLAMD},
	    {"clamd-only", no_argument, NULL, OPT_CLAMD_ONLY},
	    {"config", required_argument, NULL, 'c'},
	    {"test-config", no_argument, NULL, 't'},
	    {"recursive", no_argument, NULL, 'r'},
	    {"mail", no_argument, NULL, 'm'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"skip-safe", no_argument, NULL, OPT_SKIP_SAFE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"no-summary", no_argument, NULL, OPT_NO_SUMMARY},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dbdir = NULL, *clamd = NULL, *config = NULL, *jobs = NULL, *cache_dir = NULL;
	int test_config = 0, clamd_only = 0, skip_safe = 0, summary = 1, verbose = 0, ch, fd;
	struct cli cli = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct scanner_stats stats;
	struct pc_config conf;
	pthread_t *workers;
	unsigned nthreads;
	char *err = NULL;
	double t0;

	while ((ch = getopt_long(argc, argv, "d:c:trmj:qvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dbdir = optarg;
			break;
		case OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case OPT_CLAMD:
			clamd = optarg;
			break;
		case OPT_CLAMD_ONLY:
			clamd_only = 1;
			break;
		case 'c':
			config = optarg;
			break;
		case 't':
			test_config = 1;
			break;
		case 'r':
			cli.recursive = 1;
			break;
		case 'm':
			cli.mail = 1;
			break;
		case 'j':
			jobs = optarg;
			break;
		case OPT_SKIP_SAFE:
			skip_safe = 1;
			break;
		case 'q':
			cli.quiet = 1;
			break;
		case OPT_NO_SUMMARY:
			summary = 0;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("portcullis-scan %s\n", PORTCULLIS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;

	conf_defaults(&conf);
	if (config && conf_load(&conf, config, stderr) != 0) {
		conf_free(&conf);
		fprintf(stderr, "portcullis-scan: %s: configuration has errors\n", config);
		return 2;
	}
	if (test_config) {
		printf("%s: configuration OK\n", config ? config : "(built-in defaults)");
		conf_free(&conf);
		return 0;
	}
	if ((dbdir && conf_set(&conf, "scan", "database_dir", dbdir, stderr) < 0) ||
	    (clamd && conf_set(&conf, "scan", "clamd_socket", clamd, stderr) < 0) ||
	    (clamd &&
	     conf_set(&conf, "scan", "backend", clamd_only ? "clamd" : "chain", stderr) < 0) ||
	    (jobs && conf_set(&conf, "scan", "threads", jobs, stderr) < 0) ||
	    (cache_dir && conf_set(&conf, "scan", "cache_dir", cache_dir, stderr) < 0) ||
	    (skip_safe && conf_set(&conf, "scan", "skip_safe_types", "yes", stderr) < 0)) {
		conf_free(&conf);
		return 2;
	}
	/* Results go to stdout; the verdict log line only with -v. */
	if (!verbose)
		conf.log_verdicts = 0;
	if (clamd_only && !clamd) {
		fprintf(stderr, "portcullis-scan: --clamd-only needs --clamd ADDR\n");
		conf_free(&conf);
		return 2;
	}
	log_init("portcullis-scan", conf.log_syslog,
	         verbose ? LOG_LVL_DEBUG : (enum log_level)conf.log_level);
	if (argc == 0) {
		usage(stderr);
		conf_free(&conf);
		return 2;
	}

	fflush(stdout);
	if ((fd = dup(STDOUT_FILENO)) < 0 || (cli.out = fdopen(fd, "w")) == NULL ||
	    dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		fatal("cannot set up the output");

	t0 = monotonic_s();
	if ((cli.scanner = scanner_new(&conf, &err)) == NULL) {
		log_err("%s", err ? err : "cannot start the scanner");
		free(err);
		conf_free(&conf);
		return 2;
	}
	log_info("scanner ready in %.3f s", monotonic_s() - t0);
	cli.progress = isatty(STDERR_FILENO) && !cli.quiet;
	nthreads = cli_threads(conf.threads);
	workers = xcalloc(nthreads, sizeof(*workers));
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&workers[i], NULL, cli_worker, &cli) != 0)
			fatalx("cannot start scanning threads");
	for (int i = 0; i < argc; i++)
		cli_add(&cli, argv[i], 1);
	pthread_mutex_lock(&cli.lock);
	cli.done_adding = 1;
	pthread_cond_broadcast(&cli.cond);
	pthread_mutex_unlock(&cli.lock);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(workers[i], NULL);
	cli_progress(&cli, 1);

	if (summary) {
		double secs = monotonic_s() - t0;

		scanner_stats(cli.scanner, &stats);
		fprintf(cli.out, "\n----------- SCAN SUMMARY -----------\n");
		fprintf(cli.out, "Known signatures: %zu\n", stats.body_sigs + stats.hash_sigs);
		fprintf(cli.out, "Scanned files: %lu\n", cli.scanned);
		fprintf(cli.out, "Infected files: %lu\n", cli.infected);
		fprintf(cli.out, "Unscanned files: %lu\n", cli.unscanned);
		fprintf(cli.out, "Errors: %lu\n", cli.errors);
		fprintf(cli.out, "Data scanned: %.2f MB\n", (double)cli.bytes / (1024.0 * 1024.0));
		fprintf(cli.out, "Time: %.3f sec\n", secs);
	}
	fflush(cli.out);
	scanner_free(cli.scanner);
	free(workers);
	free(cli.queue);
	conf_free(&conf);
	dbcache_set_dir(NULL);
	if (cli.infected)
		return 1;
	return cli.errors || cli.unscanned ? 2 : 0;
}
