/*
 * conf: the configuration, one INI file read with libinih.
 *
 * Every key is a row of one table (section, key, type, target, bounds,
 * default). Defaults go through the same parser as the file, so a default
 * can never be a value the file would refuse. Unknown sections and keys,
 * bad values and duplicate keys are errors reported as `file:line: message`;
 * conf_load() reports all of them, not just the first.
 *
 * A struct pc_config owns its strings; conf_free() releases them.
 */
#ifndef PC_CONF_H
#define PC_CONF_H

#include <stdint.h>
#include <stdio.h>

enum scan_backend { BACKEND_BUILTIN = 0, BACKEND_CLAMD, BACKEND_CHAIN };

/* What policy does with a message; the order is the names' order in conf.c. */
enum policy_action {
	ACT_PASS = 0,
	ACT_REJECT,
	ACT_DROP,
	ACT_QUARANTINE,
	ACT_STRIP,
	ACT_REPLACE,
	ACT_TEMPFAIL,
};

enum direction_by { DIRBY_NEXTHOP = 0, DIRBY_CLIENT, DIRBY_RECIPIENT };
enum listener_direction { LDIR_AUTO = 0, LDIR_INBOUND, LDIR_OUTBOUND };
enum tls_mode { TLS_NONE = 0, TLS_MAY, TLS_REQUIRE };
enum forward_client { FWD_AUTO = 0, FWD_XFORWARD, FWD_XCLIENT, FWD_OFF };

/* [inbound] and [outbound]: what each verdict gets in that direction. */
struct dir_policy {
	int infected;  /* enum policy_action: pass reject drop quarantine strip replace */
	int encrypted; /* the causes: tempfail reject quarantine pass */
	int limit;
	int corrupt;
	int scanner_error;
	int scan_timeout;
	int notify_recipient;
	int notify_sender;
	char *notify_admin; /* "" = none */
	int add_headers;
	int ftp_infected; /* FTP: pass, block (ACT_REJECT), quarantine or replace */
};

/* [smtp] and each [smtp.NAME]: one listener and its next hop. */
struct smtp_listener_conf {
	char *name; /* "smtp" for [smtp], NAME for [smtp.NAME] */
	char *listen;
	char *next_hop; /* "maildir:PATH" or "smtp:HOST:PORT" */
	char *hostname; /* "" = gethostname() */
	uint64_t max_message_size;
	unsigned max_recipients;
	unsigned max_line_length;
	unsigned max_sessions;
	char *clients;                    /* CIDRs allowed to connect */
	unsigned max_sessions_per_client; /* 0 = no limit */
	unsigned max_connection_rate;     /* per client per minute; 0 = no limit */
	char *limit_exceptions;           /* CIDRs exempt from the two limits */
	uint64_t command_timeout_ms;
	uint64_t data_timeout_ms;
	uint64_t next_hop_timeout_ms;
	uint64_t memory_spool;
	char *tls_cert; /* "" = no STARTTLS */
	char *tls_key;
	int next_hop_tls;                /* enum tls_mode */
	int forward_client;              /* enum forward_client */
	int direction;                   /* enum listener_direction */
	char *authorized_xforward_hosts; /* clients whose XFORWARD we believe */
	unsigned char seen[32];          /* duplicate-key detection while loading */
};

enum ftp_data_mode { FTP_DATA_PASSIVE = 0, FTP_DATA_ACTIVE };

/* [ftp] and each [ftp.NAME]: one FTP listener and its server(s). */
struct ftp_listener_conf {
	char *name; /* "ftp" for [ftp], NAME for [ftp.NAME] */
	char *listen;
	char *upstream;          /* "HOST:PORT"; "" = chosen by the client (USER name@host) */
	char *allowed_upstreams; /* CIDRs and host names a client may choose */
	char *clients;           /* CIDRs allowed to use the listener */
	char *data_ports;        /* "LO-HI" for every data listener we open; "" = any */
	int upstream_mode;       /* enum ftp_data_mode: data connections to the server */
	char *hostname;          /* "" = gethostname() */
	unsigned max_sessions;
	unsigned max_sessions_per_client;
	unsigned max_connection_rate; /* per client per minute; 0 = no limit */
	char *limit_exceptions;       /* CIDRs exempt from the two limits */
	unsigned max_line_length;
	uint64_t command_timeout_ms;
	uint64_t data_timeout_ms;
	uint64_t upstream_timeout_ms;
	uint64_t memory_spool;
	uint64_t max_file_size;
	uint64_t keepalive_interval_ms; /* a held download's "150-" lines; 0 = none */
	int trickle;                    /* downloads: all but the tail passed on as it comes */
	char *tls_cert, *tls_key;       /* AUTH TLS offered to clients when both are set */
	int upstream_tls;               /* enum tls_mode: AUTH TLS toward the server */
	uint64_t trickle_hold;          /* the tail held until the scan is clean */
	int direction;                  /* enum listener_direction */
	char *notify_next_hop;          /* where admin notices go: smtp:HOST:PORT, maildir:PATH;
	                                   "" = the first SMTP listener's next hop */
	unsigned char seen[32];
};

struct pc_config {
	/* [log] */
	int log_level; /* enum log_level */
	int log_syslog;
	int log_verdicts;

	/* [scan] */
	char *database_dir;
	int backend; /* enum scan_backend */
	char *clamd_socket;
	uint64_t clamd_connect_timeout_ms;
	uint64_t clamd_timeout_ms;
	unsigned max_depth;
	uint64_t max_total_bytes;
	uint64_t max_file_size;
	unsigned max_files;
	unsigned max_ratio;
	uint64_t max_scan_time_ms;
	unsigned mail_max_parts;
	int text_blocks;          /* look for encoded blocks in text */
	unsigned text_max_blocks; /* blocks decoded per text object */
	uint64_t text_max_bytes;  /* bytes of a text object searched */
	unsigned text_b64_min;    /* shortest base64 run, in characters */
	unsigned doc_max_objects;
	uint64_t mail_max_header_size;
	unsigned mail_max_boundaries;
	unsigned mail_max_junk_lines;
	int skip_safe;
	char *safe_types;
	char *safe_extensions;
	char *tmpdir;
	unsigned threads;
	uint64_t fold_delay_ms;
	char *cache_dir; /* compiled signature cache; "" = none */

	/* [daemon] */
	char *daemon_user; /* "" = do not drop privileges */
	char *spool_dir;
	unsigned workers;
	uint64_t drain_timeout_ms;

	/* [policy] */
	int direction_by; /* enum direction_by */
	char *internal_networks;
	char *internal_domains;

	/* [inbound], [outbound] */
	struct dir_policy inbound, outbound;

	/* [quarantine] */
	char *quarantine_dir;
	uint64_t quarantine_max_age_ms;
	uint64_t quarantine_max_size;
	char *quarantine_release_hint;

	/* [outbreak]: signed alerts and updates from a provider */
	char *outbreak_provider_keys; /* words: 64 hex digits or a PEM file; "" = off */
	char *outbreak_state_dir;     /* seal state, transparency log, control socket */
	char *outbreak_hold_dir;      /* the hold store */
	char *outbreak_gateway_id;    /* "" = the host name */
	char *outbreak_gateway_key;   /* "" = STATE_DIR/gateway.key (made when missing) */
	char *outbreak_push_listen;   /* HTTPS push endpoint; "" = off */
	char *outbreak_push_clients;
	char *outbreak_push_tls_cert, *outbreak_push_tls_key;
	char *outbreak_feed_url;    /* pull; "" = off */
	char *outbreak_receipt_url; /* where pulled documents' receipts go; "" = none */
	char *outbreak_enrol_url;   /* the provider's POST /enrol; "" = enrolled by hand */
	char *outbreak_enrol_token; /* the one-time token for it */
	char *outbreak_push_url;    /* the push URL announced; "" = from push_listen */
	char *outbreak_scope;       /* the scope announced; "" = none */
	uint64_t outbreak_poll_interval_ms;
	uint64_t outbreak_fetch_timeout_ms;
	uint64_t outbreak_max_document;
	unsigned outbreak_release_threads;
	uint64_t outbreak_release_retry_ms;
	int outbreak_notify_recipient;

	/* [notify] */
	char *notify_from;
	char *notify_template_dir;

	/* [metrics] */
	char *metrics_listen;               /* ADDRESS:PORT of /metrics and /healthz; "" = off */
	char *metrics_clients;              /* CIDRs allowed to ask */
	uint64_t metrics_min_free_space;    /* /healthz: free bytes the spool needs */
	uint64_t metrics_health_timeout_ms; /* /healthz: the next hop's connect */

	/* [smtp], [smtp.NAME]: at least one; the built-in one is replaced as
	 * soon as the file names any smtp section. */
	struct smtp_listener_conf *listeners;
	size_t nlisteners;
	int listeners_implicit;

	/* [ftp], [ftp.NAME]: none unless the file names one. */
	struct ftp_listener_conf *ftp_listeners;
	size_t nftp_listeners;
};

/* Parses a data_ports value "LO-HI" (1024..65535); "" gives 0, 0. 0 or -1. */
int conf_port_range(const char *s, unsigned *lo, unsigned *hi);

/* Sets every key to its default. Defaults that fail to parse are a panic. */
void conf_defaults(struct pc_config *c);
/*
 * Reads path over the values already in c. Each error is written to errf
 * (may be NULL) as "path:line: message". Returns the number of errors, or
 * -1 if the file cannot be opened (also reported).
 */
int conf_load(struct pc_config *c, const char *path, FILE *errf);
/*
 * Sets one key from a string as if read from a file ("scan", "max_depth",
 * "8"; "smtp.in", "listen", "[::1]:25" for a listener, which is created if
 * needed); for command-line overrides and tests. 0, or -1 with a message.
 */
int conf_set(struct pc_config *c, const char *section, const char *key, const char *value,
             FILE *errf);
/* Names of enum values, for logs. */
const char *policy_action_name(int action);
/* Writes every key with its current value, as an INI file. */
void conf_dump(const struct pc_config *c, FILE *out);

/* One key of the table, described for portcullis.conf(5) (man/gen_conf_man.c). */
struct conf_key_doc {
	const char *section; /* "smtp" and "ftp" stand for [smtp.NAME] and [ftp.NAME] too */
	const char *key;
	const char *type; /* "string", "number", "size", "duration", "yes|no", ... */
	const char *def;  /* the default, as written in the file */
	char range[64];   /* "1..64", "1k..64G", "", or the allowed words "a | b | c" */
};
/* The number of keys in the table, and key i of it (in the table's order). */
size_t conf_key_count(void);
void conf_key_doc(size_t i, struct conf_key_doc *out);
void conf_free(struct pc_config *c);

#endif
