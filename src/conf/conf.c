/*
 * conf: key table and libinih loader. Owns the parsing of every value and
 * the error messages for them; the meaning of each key belongs to the
 * module that reads it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "conf/conf.h"
#include "config.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

/*
 * T_STR: non-empty string; T_STR0: string that may be empty; T_LIST: space
 * separated words; T_ADDR: host:port; T_NEXTHOP: maildir:PATH or
 * smtp:HOST:PORT; T_CIDRS: list of networks.
 */
enum conf_type {
	T_STR,
	T_STR0,
	T_BOOL,
	T_UINT,
	T_SIZE,
	T_DURATION,
	T_ENUM,
	T_LIST,
	T_ADDR,
	T_NEXTHOP,
	T_CIDRS,
	T_PORTS,    /* "LO-HI" or "" */
	T_HOSTPORT, /* "HOST:PORT" (numeric) or "" */
};

/* Where a key's value lives: struct pc_config, or one listener. */
enum conf_scope { SC_GLOBAL, SC_LISTENER, SC_FTP };

struct conf_key {
	const char *section;
	const char *key;
	enum conf_type type;
	size_t off;
	uint64_t min, max;        /* for T_UINT, T_SIZE, T_DURATION; T_ENUM: allowed mask */
	const char *def;          /* default, parsed like a value from the file */
	const char *const *names; /* for T_ENUM, NULL-terminated */
	enum conf_scope scope;
};

static const char *const log_levels[] = {"err", "warn", "info", "debug", NULL};
static const char *const backends[] = {"builtin", "clamd", "chain", NULL};
static const char *const actions[] = {"pass",  "reject",  "drop",     "quarantine",
                                      "strip", "replace", "tempfail", NULL};
static const char *const dirby[] = {"nexthop", "client", "recipient", NULL};
static const char *const ldirs[] = {"auto", "inbound", "outbound", NULL};
static const char *const tlsmodes[] = {"none", "may", "require", NULL};
static const char *const fwds[] = {"auto", "xforward", "xclient", "off", NULL};
/* FTP's infected actions share enum policy_action: "block" is ACT_REJECT. */
static const char *const ftp_actions[] = {"pass",  "block",   "drop",     "quarantine",
                                          "strip", "replace", "tempfail", NULL};
static const char *const datamodes[] = {"passive", "active", NULL};

#define BIT(a) (1u << (a))
#define INFECTED_ACTIONS                                                                           \
	(BIT(ACT_PASS) | BIT(ACT_REJECT) | BIT(ACT_DROP) | BIT(ACT_QUARANTINE) | BIT(ACT_STRIP) |  \
	 BIT(ACT_REPLACE))
#define FTP_ACTIONS (BIT(ACT_PASS) | BIT(ACT_REJECT) | BIT(ACT_QUARANTINE) | BIT(ACT_REPLACE))
#define CAUSE_ACTIONS (BIT(ACT_TEMPFAIL) | BIT(ACT_REJECT) | BIT(ACT_QUARANTINE) | BIT(ACT_PASS))

#define OFF(f) offsetof(struct pc_config, f)
#define LOFF(f) offsetof(struct smtp_listener_conf, f)
#define FOFF(f) offsetof(struct ftp_listener_conf, f)
/* The rows of [inbound] and [outbound]; one row per key. */
/* clang-format off */
#define DIR_ROWS(sec, fld, infected_default)                                                       \
	{sec, "infected", T_ENUM, OFF(fld.infected), INFECTED_ACTIONS, 0, infected_default,        \
	 actions, SC_GLOBAL},                                                                      \
	{sec, "encrypted", T_ENUM, OFF(fld.encrypted), CAUSE_ACTIONS, 0, "tempfail", actions,      \
	 SC_GLOBAL},                                                                               \
	{sec, "limit", T_ENUM, OFF(fld.limit), CAUSE_ACTIONS, 0, "tempfail", actions, SC_GLOBAL},  \
	{sec, "corrupt", T_ENUM, OFF(fld.corrupt), CAUSE_ACTIONS, 0, "tempfail", actions,          \
	 SC_GLOBAL},                                                                               \
	{sec, "scanner_error", T_ENUM, OFF(fld.scanner_error), CAUSE_ACTIONS, 0, "tempfail",       \
	 actions, SC_GLOBAL},                                                                      \
	{sec, "scan_timeout", T_ENUM, OFF(fld.scan_timeout), CAUSE_ACTIONS, 0, "tempfail",         \
	 actions, SC_GLOBAL},                                                                      \
	{sec, "notify_recipient", T_BOOL, OFF(fld.notify_recipient), 0, 0, "yes", NULL,            \
	 SC_GLOBAL},                                                                               \
	{sec, "notify_sender", T_BOOL, OFF(fld.notify_sender), 0, 0, "no", NULL, SC_GLOBAL},       \
	{sec, "notify_admin", T_STR0, OFF(fld.notify_admin), 0, 0, "", NULL, SC_GLOBAL},           \
	{sec, "add_headers", T_BOOL, OFF(fld.add_headers), 0, 0, "yes", NULL, SC_GLOBAL},        \
	{sec, "ftp_infected", T_ENUM, OFF(fld.ftp_infected), FTP_ACTIONS, 0, "block",            \
	 ftp_actions, SC_GLOBAL}
/* clang-format on */
#define KB 1024ULL
#define MB (1024ULL * 1024)
#define GB (1024ULL * 1024 * 1024)

/* Keep in the order of etc/portcullis.conf, which documents each key. */
/* clang-format off */
static const struct conf_key conf_keys[] = {
    {"log", "level", T_ENUM, OFF(log_level), 0, 0, "info", log_levels, SC_GLOBAL},
    {"log", "syslog", T_BOOL, OFF(log_syslog), 0, 0, "no", NULL, SC_GLOBAL},
    {"log", "verdicts", T_BOOL, OFF(log_verdicts), 0, 0, "yes", NULL, SC_GLOBAL},

    {"scan", "database_dir", T_STR, OFF(database_dir), 0, 0, PORTCULLIS_SIGDIR, NULL, SC_GLOBAL},
    {"scan", "backend", T_ENUM, OFF(backend), 0, 0, "builtin", backends, SC_GLOBAL},
    {"scan", "clamd_socket", T_STR, OFF(clamd_socket), 0, 0, "/run/clamav/clamd.ctl", NULL, SC_GLOBAL},
    {"scan", "clamd_connect_timeout", T_DURATION, OFF(clamd_connect_timeout_ms), 1, 600000,
     "5s", NULL, SC_GLOBAL},
    {"scan", "clamd_timeout", T_DURATION, OFF(clamd_timeout_ms), 1, 3600000, "120s", NULL, SC_GLOBAL},
    {"scan", "max_depth", T_UINT, OFF(max_depth), 1, 64, "16", NULL, SC_GLOBAL},
    {"scan", "max_total_bytes", T_SIZE, OFF(max_total_bytes), 1 * MB, 64 * GB, "400M", NULL, SC_GLOBAL},
    {"scan", "max_file_size", T_SIZE, OFF(max_file_size), 1 * KB, 64 * GB, "100M", NULL, SC_GLOBAL},
    {"scan", "max_files", T_UINT, OFF(max_files), 1, 10000000, "10000", NULL, SC_GLOBAL},
    {"scan", "max_ratio", T_UINT, OFF(max_ratio), 2, 1000000, "250", NULL, SC_GLOBAL},
    {"scan", "max_scan_time", T_DURATION, OFF(max_scan_time_ms), 1, 86400000, "120s", NULL, SC_GLOBAL},
    {"scan", "mail_max_parts", T_UINT, OFF(mail_max_parts), 1, 1000000, "1000", NULL, SC_GLOBAL},
    {"scan", "text_blocks", T_BOOL, OFF(text_blocks), 0, 0, "yes", NULL, SC_GLOBAL},
    {"scan", "text_max_blocks", T_UINT, OFF(text_max_blocks), 1, 1000000, "256", NULL, SC_GLOBAL},
    {"scan", "text_max_bytes", T_SIZE, OFF(text_max_bytes), 1 * KB, 64 * GB, "100M", NULL, SC_GLOBAL},
    {"scan", "text_b64_min", T_UINT, OFF(text_b64_min), 16, 1000000, "256", NULL, SC_GLOBAL},
    {"scan", "doc_max_objects", T_UINT, OFF(doc_max_objects), 1, 10000000, "10000", NULL, SC_GLOBAL},
    {"scan", "mail_max_header_size", T_SIZE, OFF(mail_max_header_size), 0, 64 * MB, "1M", NULL, SC_GLOBAL},
    {"scan", "mail_max_boundaries", T_UINT, OFF(mail_max_boundaries), 1, 1000, "64", NULL, SC_GLOBAL},
    {"scan", "mail_max_junk_lines", T_UINT, OFF(mail_max_junk_lines), 0, 1000, "16", NULL, SC_GLOBAL},
    {"scan", "skip_safe_types", T_BOOL, OFF(skip_safe), 0, 0, "no", NULL, SC_GLOBAL},
    {"scan", "safe_types", T_LIST, OFF(safe_types), 0, 0,
     "image/png image/gif image/jpeg image/bmp image/webp audio/mpeg audio/ogg audio/x-wav "
     "video/mp4 video/mpeg",
     NULL, SC_GLOBAL},
    {"scan", "safe_extensions", T_LIST, OFF(safe_extensions), 0, 0,
     "png gif jpg jpeg bmp webp mp3 ogg wav mp4 mpeg mpg", NULL, SC_GLOBAL},
    {"scan", "tmpdir", T_STR, OFF(tmpdir), 0, 0, "/tmp", NULL, SC_GLOBAL},
    {"scan", "threads", T_UINT, OFF(threads), 0, 256, "0", NULL, SC_GLOBAL},
    {"scan", "fold_delay", T_DURATION, OFF(fold_delay_ms), 0, 86400000, "10s", NULL, SC_GLOBAL},
    {"scan", "cache_dir", T_STR0, OFF(cache_dir), 0, 0, "/var/cache/portcullis", NULL, SC_GLOBAL},

    {"daemon", "user", T_STR0, OFF(daemon_user), 0, 0, "portcullis", NULL, SC_GLOBAL},
    {"daemon", "spool_dir", T_STR, OFF(spool_dir), 0, 0, "/var/spool/portcullis", NULL, SC_GLOBAL},
    {"daemon", "workers", T_UINT, OFF(workers), 0, 256, "0", NULL, SC_GLOBAL},
    {"daemon", "drain_timeout", T_DURATION, OFF(drain_timeout_ms), 0, 3600000, "30s", NULL, SC_GLOBAL},

    {"smtp", "listen", T_ADDR, LOFF(listen), 0, 0, "127.0.0.1:10025", NULL, SC_LISTENER},
    {"smtp", "next_hop", T_NEXTHOP, LOFF(next_hop), 0, 0, "maildir:/var/lib/portcullis/Maildir",
     NULL, SC_LISTENER},
    {"smtp", "hostname", T_STR0, LOFF(hostname), 0, 0, "", NULL, SC_LISTENER},
    {"smtp", "max_message_size", T_SIZE, LOFF(max_message_size), 1 * KB, 4 * GB, "50M", NULL,
     SC_LISTENER},
    {"smtp", "max_recipients", T_UINT, LOFF(max_recipients), 1, 100000, "1000", NULL,
     SC_LISTENER},
    {"smtp", "max_line_length", T_UINT, LOFF(max_line_length), 512, 1048576, "2048", NULL,
     SC_LISTENER},
    {"smtp", "max_sessions", T_UINT, LOFF(max_sessions), 1, 100000, "200", NULL, SC_LISTENER},
    {"smtp", "clients", T_CIDRS, LOFF(clients), 0, 0, "0.0.0.0/0 ::/0", NULL, SC_LISTENER},
    {"smtp", "max_sessions_per_client", T_UINT, LOFF(max_sessions_per_client), 0, 100000, "50",
     NULL, SC_LISTENER},
    {"smtp", "max_connection_rate", T_UINT, LOFF(max_connection_rate), 0, 1000000, "0", NULL,
     SC_LISTENER},
    {"smtp", "limit_exceptions", T_CIDRS, LOFF(limit_exceptions), 0, 0, "127.0.0.0/8 ::1/128",
     NULL, SC_LISTENER},
    {"smtp", "command_timeout", T_DURATION, LOFF(command_timeout_ms), 100, 86400000, "300s", NULL,
     SC_LISTENER},
    {"smtp", "data_timeout", T_DURATION, LOFF(data_timeout_ms), 100, 86400000, "600s", NULL,
     SC_LISTENER},
    {"smtp", "next_hop_timeout", T_DURATION, LOFF(next_hop_timeout_ms), 100, 86400000, "300s",
     NULL, SC_LISTENER},
    {"smtp", "memory_spool", T_SIZE, LOFF(memory_spool), 0, 1 * GB, "256k", NULL, SC_LISTENER},
    {"smtp", "tls_cert", T_STR0, LOFF(tls_cert), 0, 0, "", NULL, SC_LISTENER},
    {"smtp", "tls_key", T_STR0, LOFF(tls_key), 0, 0, "", NULL, SC_LISTENER},
    {"smtp", "next_hop_tls", T_ENUM, LOFF(next_hop_tls), 0, 0, "may", tlsmodes, SC_LISTENER},
    {"smtp", "forward_client", T_ENUM, LOFF(forward_client), 0, 0, "auto", fwds, SC_LISTENER},
    {"smtp", "direction", T_ENUM, LOFF(direction), 0, 0, "auto", ldirs, SC_LISTENER},
    {"smtp", "authorized_xforward_hosts", T_CIDRS, LOFF(authorized_xforward_hosts), 0, 0,
     "127.0.0.0/8 ::1/128", NULL, SC_LISTENER},

    {"ftp", "listen", T_ADDR, FOFF(listen), 0, 0, "127.0.0.1:2121", NULL, SC_FTP},
    {"ftp", "upstream", T_HOSTPORT, FOFF(upstream), 0, 0, "", NULL, SC_FTP},
    {"ftp", "allowed_upstreams", T_LIST, FOFF(allowed_upstreams), 0, 0, "", NULL, SC_FTP},
    {"ftp", "clients", T_CIDRS, FOFF(clients), 0, 0,
     "127.0.0.0/8 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7", NULL, SC_FTP},
    {"ftp", "data_ports", T_PORTS, FOFF(data_ports), 0, 0, "", NULL, SC_FTP},
    {"ftp", "upstream_mode", T_ENUM, FOFF(upstream_mode), 0, 0, "passive", datamodes, SC_FTP},
    {"ftp", "hostname", T_STR0, FOFF(hostname), 0, 0, "", NULL, SC_FTP},
    {"ftp", "max_sessions", T_UINT, FOFF(max_sessions), 1, 100000, "200", NULL, SC_FTP},
    {"ftp", "max_sessions_per_client", T_UINT, FOFF(max_sessions_per_client), 1, 100000, "20",
     NULL, SC_FTP},
    {"ftp", "max_connection_rate", T_UINT, FOFF(max_connection_rate), 0, 1000000, "0", NULL,
     SC_FTP},
    {"ftp", "limit_exceptions", T_CIDRS, FOFF(limit_exceptions), 0, 0, "", NULL, SC_FTP},
    {"ftp", "max_line_length", T_UINT, FOFF(max_line_length), 128, 65536, "1024", NULL, SC_FTP},
    {"ftp", "command_timeout", T_DURATION, FOFF(command_timeout_ms), 100, 86400000, "300s", NULL,
     SC_FTP},
    {"ftp", "data_timeout", T_DURATION, FOFF(data_timeout_ms), 100, 86400000, "120s", NULL,
     SC_FTP},
    {"ftp", "upstream_timeout", T_DURATION, FOFF(upstream_timeout_ms), 100, 86400000, "60s",
     NULL, SC_FTP},
    {"ftp", "memory_spool", T_SIZE, FOFF(memory_spool), 0, 1 * GB, "1M", NULL, SC_FTP},
    {"ftp", "max_file_size", T_SIZE, FOFF(max_file_size), 1 * KB, 1024 * GB, "4G", NULL, SC_FTP},
    {"ftp", "direction", T_ENUM, FOFF(direction), 0, 0, "auto", ldirs, SC_FTP},
    {"ftp", "notify_next_hop", T_NEXTHOP, FOFF(notify_next_hop), 0, 0, "", NULL, SC_FTP},
    {"ftp", "tls_cert", T_STR0, FOFF(tls_cert), 0, 0, "", NULL, SC_FTP},
    {"ftp", "tls_key", T_STR0, FOFF(tls_key), 0, 0, "", NULL, SC_FTP},
    {"ftp", "upstream_tls", T_ENUM, FOFF(upstream_tls), 0, 0, "may", tlsmodes, SC_FTP},
    {"ftp", "trickle", T_BOOL, FOFF(trickle), 0, 0, "no", NULL, SC_FTP},
    {"ftp", "trickle_hold", T_SIZE, FOFF(trickle_hold), 1 * KB, 1 * GB, "1M", NULL, SC_FTP},
    {"ftp", "keepalive_interval", T_DURATION, FOFF(keepalive_interval_ms), 0, 86400000, "15s",
     NULL, SC_FTP},

    {"policy", "direction_by", T_ENUM, OFF(direction_by), 0, 0, "nexthop", dirby, SC_GLOBAL},
    {"policy", "internal_networks", T_CIDRS, OFF(internal_networks), 0, 0,
     "127.0.0.0/8 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7", NULL, SC_GLOBAL},
    {"policy", "internal_domains", T_LIST, OFF(internal_domains), 0, 0, "", NULL, SC_GLOBAL},

    DIR_ROWS("inbound", inbound, "quarantine"),
    DIR_ROWS("outbound", outbound, "reject"),

    {"quarantine", "dir", T_STR, OFF(quarantine_dir), 0, 0, "/var/lib/portcullis/quarantine",
     NULL, SC_GLOBAL},
    {"quarantine", "max_age", T_DURATION, OFF(quarantine_max_age_ms), 0, 3650ULL * 86400000,
     "30d", NULL, SC_GLOBAL},
    {"quarantine", "max_size", T_SIZE, OFF(quarantine_max_size), 0, 1024 * GB, "1G", NULL, SC_GLOBAL},
    {"quarantine", "release_hint", T_STR0, OFF(quarantine_release_hint), 0, 0,
     "Ask your postmaster to release message %ID%.", NULL, SC_GLOBAL},

    {"outbreak", "provider_keys", T_LIST, OFF(outbreak_provider_keys), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "state_dir", T_STR, OFF(outbreak_state_dir), 0, 0, "/var/lib/portcullis/outbreak",
     NULL, SC_GLOBAL},
    {"outbreak", "hold_dir", T_STR, OFF(outbreak_hold_dir), 0, 0, "/var/lib/portcullis/hold", NULL,
     SC_GLOBAL},
    {"outbreak", "gateway_id", T_STR0, OFF(outbreak_gateway_id), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "gateway_key", T_STR0, OFF(outbreak_gateway_key), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "push_listen", T_STR0, OFF(outbreak_push_listen), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "push_clients", T_CIDRS, OFF(outbreak_push_clients), 0, 0, "127.0.0.0/8 ::1/128",
     NULL, SC_GLOBAL},
    {"outbreak", "push_tls_cert", T_STR0, OFF(outbreak_push_tls_cert), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "push_tls_key", T_STR0, OFF(outbreak_push_tls_key), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "feed_url", T_STR0, OFF(outbreak_feed_url), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "receipt_url", T_STR0, OFF(outbreak_receipt_url), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "enrol_url", T_STR0, OFF(outbreak_enrol_url), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "enrol_token", T_STR0, OFF(outbreak_enrol_token), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "push_url", T_STR0, OFF(outbreak_push_url), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "scope", T_STR0, OFF(outbreak_scope), 0, 0, "", NULL, SC_GLOBAL},
    {"outbreak", "poll_interval", T_DURATION, OFF(outbreak_poll_interval_ms), 1000, 86400000, "60s",
     NULL, SC_GLOBAL},
    {"outbreak", "fetch_timeout", T_DURATION, OFF(outbreak_fetch_timeout_ms), 100, 3600000, "30s",
     NULL, SC_GLOBAL},
    {"outbreak", "max_document", T_SIZE, OFF(outbreak_max_document), 1 * KB, 64 * MB, "16M", NULL,
     SC_GLOBAL},
    {"outbreak", "release_threads", T_UINT, OFF(outbreak_release_threads), 1, 64, "4", NULL,
     SC_GLOBAL},
    {"outbreak", "release_retry", T_DURATION, OFF(outbreak_release_retry_ms), 100, 86400000, "60s",
     NULL, SC_GLOBAL},
    {"outbreak", "notify_recipient", T_BOOL, OFF(outbreak_notify_recipient), 0, 0, "yes", NULL,
     SC_GLOBAL},

    {"notify", "from", T_STR, OFF(notify_from), 0, 0, "postmaster", NULL, SC_GLOBAL},
    {"notify", "template_dir", T_STR, OFF(notify_template_dir), 0, 0, PORTCULLIS_TEMPLATEDIR,
     NULL, SC_GLOBAL},

    {"metrics", "listen", T_STR0, OFF(metrics_listen), 0, 0, "", NULL, SC_GLOBAL},
    {"metrics", "clients", T_CIDRS, OFF(metrics_clients), 0, 0, "127.0.0.0/8 ::1/128", NULL,
     SC_GLOBAL},
    {"metrics", "min_free_space", T_SIZE, OFF(metrics_min_free_space), 0, 1024 * GB, "100M", NULL,
     SC_GLOBAL},
    {"metrics", "health_timeout", T_DURATION, OFF(metrics_health_timeout_ms), 100, 600000, "3s",
     NULL, SC_GLOBAL},
};
/* clang-format on */
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* Parses "maildir:/abs/path" or "smtp:HOST:PORT"; 0 or -1. */
static int
nexthop_valid(const char *v)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (strncmp(v, "maildir:", 8) == 0)
		return v[8] == '/' ? 0 : -1;
	if (strncmp(v, "smtp:", 5) == 0)
		return hostport_parse(v + 5, &ss, &len);
	return -1;
}

/*
 * Parses value for key k into the struct at base (a pc_config or a
 * listener). Returns NULL on success, else a thread-local message.
 */
static const char *
conf_parse_value(void *base, const struct conf_key *k, const char *value)
{
	static _Thread_local char msg[256];
	char *p = (char *)base + k->off;
	struct sockaddr_storage ss;
	struct cidr_list cl;
	socklen_t sl;
	uint64_t v;
	int b;

	switch (k->type) {
	case T_STR:
		if (*value == '\0')
			return "empty value";
		/* FALLTHROUGH */
	case T_STR0:
	case T_LIST:
		break;
	case T_ADDR:
		if (hostport_parse(value, &ss, &sl) < 0) {
			snprintf(msg, sizeof(msg),
			         "\"%.64s\" is not ADDRESS:PORT (e.g. 127.0.0.1:10025, [::1]:25)",
			         value);
			return msg;
		}
		break;
	case T_NEXTHOP:
		if ((*value || k->def == NULL || *k->def) && nexthop_valid(value) < 0) {
			snprintf(msg, sizeof(msg),
			         "\"%.64s\" is not maildir:/PATH or smtp:ADDRESS:PORT", value);
			return msg;
		}
		break;
	case T_PORTS: {
		unsigned lo, hi;

		if (conf_port_range(value, &lo, &hi) < 0) {
			snprintf(msg, sizeof(msg),
			         "\"%.64s\" is not a port range LO-HI within 1024-65535", value);
			return msg;
		}
		break;
	}
	case T_HOSTPORT:
		if (*value && hostport_parse(value, &ss, &sl) < 0) {
			snprintf(msg, sizeof(msg),
			         "\"%.64s\" is not ADDRESS:PORT (e.g. 192.0.2.1:21, [::1]:21)",
			         value);
			return msg;
		}
		break;
	case T_CIDRS: {
		char bad[80];

		if (cidr_list_parse(value, &cl, bad, sizeof(bad)) < 0) {
			snprintf(msg, sizeof(msg), "\"%.64s\" is not a network (e.g. 10.0.0.0/8)",
			         bad);
			return msg;
		}
		cidr_list_free(&cl);
		break;
	}
	case T_BOOL:
		if (parse_bool(value, &b) < 0)
			return "expected yes or no";
		*(int *)p = b;
		return NULL;
	case T_ENUM:
		for (int i = 0; k->names[i]; i++)
			if (strcmp(value, k->names[i]) == 0 && (k->min == 0 || (k->min & BIT(i)))) {
				*(int *)p = i;
				return NULL;
			}
		snprintf(msg, sizeof(msg), "unknown value \"%.64s\" (expected:", value);
		for (int i = 0; k->names[i]; i++)
			if (k->min == 0 || (k->min & BIT(i)))
				snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " %s",
				         k->names[i]);
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ")");
		return msg;
	case T_UINT:
	case T_SIZE:
	case T_DURATION:
		if (k->type == T_DURATION ? parse_duration_ms(value, &v) < 0
		    : k->type == T_SIZE   ? parse_size(value, &v) < 0
		                          : parse_size(value, &v) < 0 ||
		                              strspn(value, "0123456789") != strlen(value)) {
			snprintf(msg, sizeof(msg), "\"%.64s\" is not a %s", value,
			         k->type == T_DURATION ? "duration (e.g. 30s, 500ms, 2m)"
			         : k->type == T_SIZE   ? "size (e.g. 512k, 10M, 1G)"
			                               : "whole number");
			return msg;
		}
		if (v < k->min || v > k->max) {
			snprintf(msg, sizeof(msg), "%.64s is out of range [%llu, %llu]%s", value,
			         (unsigned long long)k->min, (unsigned long long)k->max,
			         k->type == T_DURATION ? " ms"
			         : k->type == T_SIZE   ? " bytes"
			                               : "");
			return msg;
		}
		if (k->type == T_UINT)
			*(unsigned *)p = (unsigned)v;
		else
			*(uint64_t *)p = v;
		return NULL;
	}
	/* Every string type lands here once validated. */
	free(*(char **)p);
	*(char **)p = xstrdup(value);
	return NULL;
}

static int
is_string_type(enum conf_type t)
{
	return t == T_STR || t == T_STR0 || t == T_LIST || t == T_ADDR || t == T_NEXTHOP ||
	       t == T_CIDRS || t == T_PORTS || t == T_HOSTPORT;
}

int
conf_port_range(const char *s, unsigned *lo, unsigned *hi)
{
	char *end;
	unsigned long a, b;

	*lo = *hi = 0;
	if (*s == '\0')
		return 0;
	errno = 0;
	a = strtoul(s, &end, 10);
	if (end == s || *end != '-' || errno)
		return -1;
	s = end + 1;
	b = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || errno || a < 1024 || b > 65535 || a > b)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

/* "smtp" and "smtp.NAME" are listener sections; returns NAME or NULL. */
static const char *
listener_section(const char *section)
{
	if (strcmp(section, "smtp") == 0)
		return "smtp";
	if (strncmp(section, "smtp.", 5) == 0 && section[5] != '\0')
		return section + 5;
	return NULL;
}

/* "ftp" and "ftp.NAME" likewise. */
static const char *
ftp_section(const char *section)
{
	if (strcmp(section, "ftp") == 0)
		return "ftp";
	if (strncmp(section, "ftp.", 4) == 0 && section[4] != '\0')
		return section + 4;
	return NULL;
}

static const char *
table_section(const char *section)
{
	return listener_section(section) ? "smtp" : ftp_section(section) ? "ftp" : section;
}

/* The index of the first row of a scope: listener keys are counted from it. */
static size_t
scope_first(enum conf_scope sc)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == sc)
			return i;
	return 0;
}

static const struct conf_key *
conf_find(const char *section, const char *key, int *section_known)
{
	const char *tsec = table_section(section);

	*section_known = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(conf_keys[i].section, tsec) != 0)
			continue;
		*section_known = 1;
		if (strcmp(conf_keys[i].key, key) == 0)
			return &conf_keys[i];
	}
	return NULL;
}

static void
listener_free(struct smtp_listener_conf *l)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SC_LISTENER && is_string_type(conf_keys[i].type))
			free(*(char **)((char *)l + conf_keys[i].off));
	free(l->name);
	memset(l, 0, sizeof(*l));
}

/* Returns the listener called name, creating it with defaults if needed. */
static struct smtp_listener_conf *
conf_listener(struct pc_config *c, const char *name)
{
	struct smtp_listener_conf *l;

	if (c->listeners_implicit) {
		/* The file names its own listeners: drop the built-in one. */
		for (size_t i = 0; i < c->nlisteners; i++)
			listener_free(&c->listeners[i]);
		c->nlisteners = 0;
		c->listeners_implicit = 0;
	}
	for (size_t i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*c->listeners));
	l = &c->listeners[c->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->name = xstrdup(name);
	for (size_t i = 0; i < NKEYS; i++) {
		if (conf_keys[i].scope != SC_LISTENER)
			continue;
		const char *err = conf_parse_value(l, &conf_keys[i], conf_keys[i].def);
		if (err)
			panic("conf: default of smtp.%s: %s", conf_keys[i].key, err);
	}
	return l;
}

static void
ftp_listener_free(struct ftp_listener_conf *l)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SC_FTP && is_string_type(conf_keys[i].type))
			free(*(char **)((char *)l + conf_keys[i].off));
	free(l->name);
	memset(l, 0, sizeof(*l));
}

/* Returns the FTP listener called name, creating it with defaults if needed. */
static struct ftp_listener_conf *
conf_ftp_listener(struct pc_config *c, const char *name)
{
	struct ftp_listener_conf *l;

	for (size_t i = 0; i < c->nftp_listeners; i++)
		if (strcmp(c->ftp_listeners[i].name, name) == 0)
			return &c->ftp_listeners[i];
	c->ftp_listeners =
	    xrealloc(c->ftp_listeners, (c->nftp_listeners + 1) * sizeof(*c->ftp_listeners));
	l = &c->ftp_listeners[c->nftp_listeners++];
	memset(l, 0, sizeof(*l));
	l->name = xstrdup(name);
	for (size_t i = 0; i < NKEYS; i++) {
		if (conf_keys[i].scope != SC_FTP)
			continue;
		const char *err = conf_parse_value(l, &conf_keys[i], conf_keys[i].def);
		if (err)
			panic("conf: default of ftp.%s: %s", conf_keys[i].key, err);
	}
	return l;
}

void
conf_defaults(struct pc_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++) {
		if (conf_keys[i].scope != SC_GLOBAL)
			continue;
		const char *err = conf_parse_value(c, &conf_keys[i], conf_keys[i].def);
		if (err)
			panic("conf: default of %s.%s: %s", conf_keys[i].section, conf_keys[i].key,
			      err);
	}
	conf_listener(c, "smtp");
	c->listeners_implicit = 1;
}

/* State of one conf_load(): libinih calls back without line numbers, so
 * our reader counts them. */
struct conf_reader {
	FILE *fp;
	const char *path;
	FILE *errf;
	struct pc_config *c;
	unsigned lineno;
	int errors;
	int continuation; /* the line just read continues a value */
	unsigned char seen[NKEYS];
	const struct conf_key *last; /* key of the previous value line */
	void *last_base;
};

static void conf_error(struct conf_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conf_error(struct conf_reader *r, const char *fmt, ...)
{
	va_list ap;

	r->errors++;
	if (r->errf == NULL)
		return;
	fprintf(r->errf, "%s:%u: ", r->path, r->lineno);
	va_start(ap, fmt);
	vfprintf(r->errf, fmt, ap);
	va_end(ap);
	fputc('\n', r->errf);
}

static int
section_known(const char *name, size_t len)
{
	char buf[128];

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].section, table_section(buf)) == 0)
			return 1;
	return 0;
}

/* libinih's line buffer is INI_MAX_LINE (200) bytes in Debian's build. */
#define CONF_MAX_LINE 190

static char *
conf_read_line(char *str, int num, void *stream)
{
	struct conf_reader *r = stream;
	char line[4096], *t;
	size_t n;

	if (fgets(line, sizeof(line), r->fp) == NULL)
		return NULL;
	r->lineno++;
	n = strlen(line);
	if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
		int ch;
		while ((ch = fgetc(r->fp)) != EOF && ch != '\n')
			;
		n = CONF_MAX_LINE + 1;
	}
	if (n > CONF_MAX_LINE || (int)n >= num) {
		conf_error(r,
		           "line longer than %d characters; continue a long value on "
		           "indented lines",
		           CONF_MAX_LINE);
		strcpy(str, "\n");
		r->continuation = 0;
		return str;
	}
	memcpy(str, line, n + 1);
	t = str_trim(line);
	r->continuation = (str[0] == ' ' || str[0] == '\t') && *t && *t != ';' && *t != '#';
	/* libinih reports only its first syntax error; find them all here. */
	if (*t && *t != ';' && *t != '#' && !r->continuation &&
	    (*t == '[' ? strchr(t, ']') == NULL : strpbrk(t, "=:") == NULL)) {
		conf_error(r, "syntax error (expected [section] or key = value): \"%.40s\"", t);
		strcpy(str, "\n");
	} else if (*t == '[') {
		/* libinih says nothing of a section without keys: check it here. */
		size_t len = (size_t)(strchr(t, ']') - t - 1);

		if (!section_known(t + 1, len))
			conf_error(r, "unknown section [%.*s]", (int)(len > 64 ? 64 : len), t + 1);
	}
	return str;
}

static int
conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_reader *r = user;
	const struct conf_key *k;
	const char *err, *lname;
	unsigned char *seen;
	void *base;
	int known;

	if (name == NULL) /* a bare [section] line */
		return 1;
	k = conf_find(section, name, &known);
	if (k == NULL) {
		if (section[0] == '\0')
			conf_error(r, "key \"%.64s\" outside of a [section]", name);
		else if (known)
			conf_error(r, "unknown key \"%.64s\" in [%.64s]", name, section);
		return 1;
	}
	if (k->scope == SC_LISTENER) {
		struct smtp_listener_conf *l;

		lname = listener_section(section);
		l = conf_listener(r->c, lname);
		base = l;
		/* Listener keys are indexed from the first listener row. */
		seen = &l->seen[(size_t)(k - conf_keys) - scope_first(SC_LISTENER)];
	} else if (k->scope == SC_FTP) {
		struct ftp_listener_conf *l = conf_ftp_listener(r->c, ftp_section(section));

		base = l;
		seen = &l->seen[(size_t)(k - conf_keys) - scope_first(SC_FTP)];
	} else {
		base = r->c;
		seen = &r->seen[k - conf_keys];
	}
	if (r->continuation && k == r->last && base == r->last_base && k->type == T_LIST) {
		/* An indented line continues a list value. */
		char **p = (char **)((char *)base + k->off);
		char *joined = xasprintf("%s %s", *p, value);
		free(*p);
		*p = joined;
		return 1;
	}
	if ((*seen)++) {
		conf_error(r, "duplicate key \"%s\" in [%s]", name, section);
		return 1;
	}
	r->last = k;
	r->last_base = base;
	if ((err = conf_parse_value(base, k, value)) != NULL)
		conf_error(r, "%s.%s: %s", section, name, err);
	return 1;
}

int
conf_load(struct pc_config *c, const char *path, FILE *errf)
{
	struct conf_reader r = {.path = path, .errf = errf, .c = c};
	int rc;

	if ((r.fp = fopen(path, "r")) == NULL) {
		if (errf)
			fprintf(errf, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(conf_read_line, &r, conf_handler, &r);
	if (rc > 0 && r.errors == 0) {
		r.lineno = (unsigned)rc;
		conf_error(&r, "syntax error");
	}
	fclose(r.fp);
	/* A file that names only FTP listeners wants no built-in SMTP one. */
	if (c->listeners_implicit && c->nftp_listeners > 0) {
		for (size_t i = 0; i < c->nlisteners; i++)
			listener_free(&c->listeners[i]);
		c->nlisteners = 0;
		c->listeners_implicit = 0;
	}
	/* Two listeners on one address would fail at bind: say it here. */
	for (size_t i = 0; i < c->nlisteners + c->nftp_listeners; i++)
		for (size_t j = i + 1; j < c->nlisteners + c->nftp_listeners; j++) {
			const char *ai = i < c->nlisteners
			                     ? c->listeners[i].listen
			                     : c->ftp_listeners[i - c->nlisteners].listen;
			const char *aj = j < c->nlisteners
			                     ? c->listeners[j].listen
			                     : c->ftp_listeners[j - c->nlisteners].listen;
			const char *ni = i < c->nlisteners
			                     ? c->listeners[i].name
			                     : c->ftp_listeners[i - c->nlisteners].name;
			const char *nj = j < c->nlisteners
			                     ? c->listeners[j].name
			                     : c->ftp_listeners[j - c->nlisteners].name;

			if (strcmp(ai, aj) == 0) {
				r.errors++;
				if (errf)
					fprintf(errf, "%s: listeners %s and %s both listen on %s\n",
					        path, ni, nj, ai);
			}
		}
	for (size_t i = 0; i < c->nlisteners; i++)
		if ((c->listeners[i].tls_cert[0] == '\0') != (c->listeners[i].tls_key[0] == '\0')) {
			r.errors++;
			if (errf)
				fprintf(errf, "%s: [%s]: tls_cert and tls_key go together\n", path,
				        c->listeners[i].name);
		}
	return r.errors;
}

int
conf_set(struct pc_config *c, const char *section, const char *key, const char *value, FILE *errf)
{
	const struct conf_key *k;
	const char *err;
	int known;
	void *base;

	if ((k = conf_find(section, key, &known)) == NULL) {
		if (errf)
			fprintf(errf, "unknown key %s.%s\n", section, key);
		return -1;
	}
	base = k->scope == SC_LISTENER ? (void *)conf_listener(c, listener_section(section))
	       : k->scope == SC_FTP    ? (void *)conf_ftp_listener(c, ftp_section(section))
	                               : (void *)c;
	if ((err = conf_parse_value(base, k, value)) != NULL) {
		if (errf)
			fprintf(errf, "%s.%s: %s\n", section, key, err);
		return -1;
	}
	return 0;
}

const char *
policy_action_name(int action)
{
	if (action < 0 || action > ACT_TEMPFAIL)
		return "unknown";
	return actions[action];
}

static void
dump_value(const struct conf_key *k, const void *base, FILE *out)
{
	const char *p = (const char *)base + k->off;

	fprintf(out, "%s = ", k->key);
	switch (k->type) {
	case T_BOOL:
		fprintf(out, "%s\n", *(const int *)p ? "yes" : "no");
		break;
	case T_ENUM:
		fprintf(out, "%s\n", k->names[*(const int *)p]);
		break;
	case T_UINT:
		fprintf(out, "%u\n", *(const unsigned *)p);
		break;
	case T_SIZE:
		fprintf(out, "%llu\n", (unsigned long long)*(const uint64_t *)p);
		break;
	case T_DURATION:
		fprintf(out, "%llums\n", (unsigned long long)*(const uint64_t *)p);
		break;
	default:
		fprintf(out, "%s\n", *(char *const *)p ? *(char *const *)p : "");
		break;
	}
}

void
conf_dump(const struct pc_config *c, FILE *out)
{
	const char *section = "";

	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope != SC_GLOBAL)
			continue;
		if (strcmp(section, k->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", k->section);
			section = k->section;
		}
		dump_value(k, c, out);
	}
	for (size_t l = 0; l < c->nlisteners; l++) {
		if (strcmp(c->listeners[l].name, "smtp") == 0)
			fprintf(out, "\n[smtp]\n");
		else
			fprintf(out, "\n[smtp.%s]\n", c->listeners[l].name);
		for (size_t i = 0; i < NKEYS; i++)
			if (conf_keys[i].scope == SC_LISTENER)
				dump_value(&conf_keys[i], &c->listeners[l], out);
	}
	for (size_t l = 0; l < c->nftp_listeners; l++) {
		if (strcmp(c->ftp_listeners[l].name, "ftp") == 0)
			fprintf(out, "\n[ftp]\n");
		else
			fprintf(out, "\n[ftp.%s]\n", c->ftp_listeners[l].name);
		for (size_t i = 0; i < NKEYS; i++)
			if (conf_keys[i].scope == SC_FTP)
				dump_value(&conf_keys[i], &c->ftp_listeners[l], out);
	}
}

void
conf_free(struct pc_config *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].scope == SC_GLOBAL && is_string_type(conf_keys[i].type))
			free(*(char **)((char *)c + conf_keys[i].off));
	for (size_t i = 0; i < c->nlisteners; i++)
		listener_free(&c->listeners[i]);
	free(c->listeners);
	for (size_t i = 0; i < c->nftp_listeners; i++)
		ftp_listener_free(&c->ftp_listeners[i]);
	free(c->ftp_listeners);
	memset(c, 0, sizeof(*c));
}

size_t
conf_key_count(void)
{
	return NKEYS;
}

/* v as the largest unit that divides it ("64G", "30s"). */
static void
unit_format(char *buf, size_t cap, uint64_t v, int duration)
{
	static const struct {
		uint64_t mul;
		const char *u;
	} sizes[] = {{GB, "G"}, {MB, "M"}, {KB, "k"}, {1, ""}},
	  times[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
	const size_t n =
	    duration ? sizeof(times) / sizeof(times[0]) : sizeof(sizes) / sizeof(sizes[0]);

	for (size_t i = 0; i < n; i++) {
		uint64_t mul = duration ? times[i].mul : sizes[i].mul;

		if (v == 0 || v % mul == 0) {
			snprintf(buf, cap, "%llu%s", (unsigned long long)(v / mul),
			         v == 0     ? (duration ? "s" : "")
			         : duration ? times[i].u
			                    : sizes[i].u);
			return;
		}
	}
	snprintf(buf, cap, "%llu", (unsigned long long)v);
}

void
conf_key_doc(size_t i, struct conf_key_doc *out)
{
	const struct conf_key *k = &conf_keys[i];
	static const char *const types[] = {
	    [T_STR] = "string",        [T_STR0] = "string",    [T_BOOL] = "yes | no",
	    [T_UINT] = "number",       [T_SIZE] = "size",      [T_DURATION] = "duration",
	    [T_ENUM] = "word",         [T_LIST] = "words",     [T_ADDR] = "address:port",
	    [T_NEXTHOP] = "next hop",  [T_CIDRS] = "networks", [T_PORTS] = "port range",
	    [T_HOSTPORT] = "host:port"};
	char lo[24], hi[24];
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	out->section = k->section;
	out->key = k->key;
	out->type = types[k->type];
	out->def = k->def;
	switch (k->type) {
	case T_UINT:
		snprintf(out->range, sizeof(out->range), "%llu..%llu", (unsigned long long)k->min,
		         (unsigned long long)k->max);
		break;
	case T_SIZE:
	case T_DURATION:
		unit_format(lo, sizeof(lo), k->min, k->type == T_DURATION);
		unit_format(hi, sizeof(hi), k->max, k->type == T_DURATION);
		snprintf(out->range, sizeof(out->range), "%s..%s", lo, hi);
		break;
	case T_ENUM:
		for (size_t j = 0; k->names[j] != NULL; j++) {
			if (k->min && !(k->min & (1u << j)))
				continue;
			used += (size_t)snprintf(out->range + used, sizeof(out->range) - used,
			                         "%s%s", used ? " | " : "", k->names[j]);
			if (used >= sizeof(out->range))
				break;
		}
		break;
	default:
		break;
	}
}
