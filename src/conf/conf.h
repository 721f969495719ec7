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
	int skip_safe;
	char *safe_types;
	char *safe_extensions;
	char *tmpdir;
	unsigned threads;
	uint64_t fold_delay_ms;
};

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
 * "8"); for command-line overrides. 0, or -1 with a message in errf.
 */
int conf_set(struct pc_config *c, const char *section, const char *key, const char *value,
	     FILE *errf);
/* Writes every key with its current value, as an INI file. */
void conf_dump(const struct pc_config *c, FILE *out);
void conf_free(struct pc_config *c);

#endif
