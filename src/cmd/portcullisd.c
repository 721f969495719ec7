/*
 * portcullisd: the gateway daemon's main(): options, the configuration
 * check (-t), logging; the daemon itself is daemon/daemon.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "conf/conf.h"
#include "config.h"
#include "daemon/daemon.h"
#include "util/log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: portcullisd [-c FILE] [-f] [-t] [-v]\n"
	        "  -c FILE  configuration (default %s if it exists, else built-in defaults)\n"
	        "  -f       stay in the foreground and log to stderr (or syslog, if\n"
	        "           log.syslog = yes)\n"
	        "  -t       check the configuration and exit (0 = valid)\n"
	        "  -v       debug logging\n",
	        PORTCULLIS_CONF);
}

int
main(int argc, char **argv)
{
	struct daemon_opts o = {0};
	struct pc_config conf;
	int test = 0, ch;

	while ((ch = getopt(argc, argv, "c:ftvh")) != -1) {
		switch (ch) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'f':
			o.foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.config_path == NULL && access(PORTCULLIS_CONF, R_OK) == 0)
		o.config_path = PORTCULLIS_CONF;
	if (daemon_load_config(o.config_path, &conf) < 0) {
		fprintf(stderr, "portcullisd: %s: configuration has errors\n", o.config_path);
		return 2;
	}
	if (test) {
		printf("%s: configuration OK\n",
		       o.config_path ? o.config_path : "(built-in defaults)");
		conf_free(&conf);
		return 0;
	}
	log_init("portcullisd", daemon_log_to_syslog(&conf, o.foreground),
	         o.verbose ? LOG_LVL_DEBUG : (enum log_level)conf.log_level);
	return daemon_run(&o, &conf);
}
