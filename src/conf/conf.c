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
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

enum conf_type { T_STR, T_BOOL, T_UINT, T_SIZE, T_DURATION, T_ENUM, T_LIST };

struct conf_key {
	const char *section;
	const char *key;
	enum conf_type type;
	size_t off;
	uint64_t min, max;	/* for T_UINT, T_SIZE, T_DURATION */
	const char *def;	/* default, parsed like a value from the file */
	const char *const *names; /* for T_ENUM, NULL-terminated */
};

static const char *const log_levels[] = {"err", "warn", "info", "debug", NULL};
static const char *const backends[] = {"builtin", "clamd", "chain", NULL};

#define OFF(f) offsetof(struct pc_config, f)
#define KB 1024ULL
#define MB (1024ULL * 1024)
#define GB (1024ULL * 1024 * 1024)

/* Keep in the order of etc/portcullis.conf, which documents each key. */
static const struct conf_key conf_keys[] = {
    {"log", "level", T_ENUM, OFF(log_level), 0, 0, "info", log_levels},
    {"log", "syslog", T_BOOL, OFF(log_syslog), 0, 0, "no", NULL},
    {"log", "verdicts", T_BOOL, OFF(log_verdicts), 0, 0, "yes", NULL},

    {"scan", "database_dir", T_STR, OFF(database_dir), 0, 0, PORTCULLIS_SIGDIR, NULL},
    {"scan", "backend", T_ENUM, OFF(backend), 0, 0, "builtin", backends},
    {"scan", "clamd_socket", T_STR, OFF(clamd_socket), 0, 0, "/run/clamav/clamd.ctl", NULL},
    {"scan", "clamd_connect_timeout", T_DURATION, OFF(clamd_connect_timeout_ms), 1, 600000,
     "5s", NULL},
    {"scan", "clamd_timeout", T_DURATION, OFF(clamd_timeout_ms), 1, 3600000, "120s", NULL},
    {"scan", "max_depth", T_UINT, OFF(max_depth), 1, 64, "16", NULL},
    {"scan", "max_total_bytes", T_SIZE, OFF(max_total_bytes), 1 * MB, 64 * GB, "400M", NULL},
    {"scan", "max_file_size", T_SIZE, OFF(max_file_size), 1 * KB, 64 * GB, "100M", NULL},
    {"scan", "max_files", T_UINT, OFF(max_files), 1, 10000000, "10000", NULL},
    {"scan", "max_ratio", T_UINT, OFF(max_ratio), 2, 1000000, "250", NULL},
    {"scan", "max_scan_time", T_DURATION, OFF(max_scan_time_ms), 1, 86400000, "120s", NULL},
    {"scan", "mail_max_parts", T_UINT, OFF(mail_max_parts), 1, 1000000, "1000", NULL},
    {"scan", "skip_safe_types", T_BOOL, OFF(skip_safe), 0, 0, "no", NULL},
    {"scan", "safe_types", T_LIST, OFF(safe_types), 0, 0,
     "image/png image/gif image/jpeg image/bmp image/webp audio/mpeg audio/ogg audio/x-wav "
     "video/mp4 video/mpeg",
     NULL},
    {"scan", "safe_extensions", T_LIST, OFF(safe_extensions), 0, 0,
     "png gif jpg jpeg bmp webp mp3 ogg wav mp4 mpeg mpg", NULL},
    {"scan", "tmpdir", T_STR, OFF(tmpdir), 0, 0, "/tmp", NULL},
    {"scan", "threads", T_UINT, OFF(threads), 0, 256, "0", NULL},
    {"scan", "fold_delay", T_DURATION, OFF(fold_delay_ms), 0, 86400000, "10s", NULL},
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/*
 * Parses value for key k into c. Returns NULL on success, else a static or
 * thread-local message (no allocation).
 */
static const char *
conf_parse_value(struct pc_config *c, const struct conf_key *k, const char *value)
{
	static _Thread_local char msg[256];
	char *p = (char *)c + k->off;
	uint64_t v;
	int b;

	switch (k->type) {
	case T_STR:
		if (*value == '\0')
			return "empty value";
		free(*(char **)p);
		*(char **)p = xstrdup(value);
		return NULL;
	case T_LIST:
		free(*(char **)p);
		*(char **)p = xstrdup(value);
		return NULL;
	case T_BOOL:
		if (parse_bool(value, &b) < 0)
			return "expected yes or no";
		*(int *)p = b;
		return NULL;
	case T_ENUM:
		for (int i = 0; k->names[i]; i++)
			if (strcmp(value, k->names[i]) == 0) {
				*(int *)p = i;
				return NULL;
			}
		snprintf(msg, sizeof(msg), "unknown value \"%.64s\"", value);
		return msg;
	case T_UINT:
	case T_SIZE:
	case T_DURATION:
		if (k->type == T_DURATION ? parse_duration_ms(value, &v) < 0
		    : k->type == T_SIZE	  ? parse_size(value, &v) < 0
					  : parse_size(value, &v) < 0 || strspn(value, "0123456789") != strlen(value)) {
			snprintf(msg, sizeof(msg), "\"%.64s\" is not a %s", value,
				 k->type == T_DURATION ? "duration (e.g. 30s, 500ms, 2m)"
				 : k->type == T_SIZE   ? "size (e.g. 512k, 10M, 1G)"
						       : "whole number");
			return msg;
		}
		if (v < k->min || v > k->max) {
			snprintf(msg, sizeof(msg), "%.64s is out of range [%llu, %llu]%s", value,
				 (unsigned long long)k->min, (unsigned long long)k->max,
				 k->type == T_DURATION ? " ms" : k->type == T_SIZE ? " bytes" : "");
			return msg;
		}
		if (k->type == T_UINT)
			*(unsigned *)p = (unsigned)v;
		else
			*(uint64_t *)p = v;
		return NULL;
	}
	return "internal error";
}

static const struct conf_key *
conf_find(const char *section, const char *key, int *section_known)
{
	*section_known = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) != 0)
			continue;
		*section_known = 1;
		if (strcmp(conf_keys[i].key, key) == 0)
			return &conf_keys[i];
	}
	return NULL;
}

void
conf_defaults(struct pc_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++) {
		const char *err = conf_parse_value(c, &conf_keys[i], conf_keys[i].def);
		if (err)
			panic("conf: default of %s.%s: %s", conf_keys[i].section, conf_keys[i].key,
			      err);
	}
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
	int continuation;	/* the line just read continues a value */
	unsigned char seen[NKEYS];
	const struct conf_key *last; /* key of the previous value line */
};

static void
conf_error(struct conf_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
		conf_error(r, "line longer than %d characters; continue a long value on "
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
		int known = 0;

		for (size_t i = 0; i < NKEYS; i++)
			if (strlen(conf_keys[i].section) == len &&
			    strncmp(conf_keys[i].section, t + 1, len) == 0)
				known = 1;
		if (!known)
			conf_error(r, "unknown section [%.*s]", (int)(len > 64 ? 64 : len), t + 1);
	}
	return str;
}

static int
conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_reader *r = user;
	const struct conf_key *k;
	const char *err;
	int section_known;

	if (name == NULL) /* a bare [section] line */
		return 1;
	k = conf_find(section, name, &section_known);
	if (k == NULL) {
		if (section[0] == '\0')
			conf_error(r, "key \"%.64s\" outside of a [section]", name);
		else if (section_known)
			conf_error(r, "unknown key \"%.64s\" in [%.64s]", name, section);
		return 1;
	}
	if (r->continuation && k == r->last && k->type == T_LIST) {
		/* An indented line continues a list value. */
		char **p = (char **)((char *)r->c + k->off);
		char *joined = xasprintf("%s %s", *p, value);
		free(*p);
		*p = joined;
		return 1;
	}
	if (r->seen[k - conf_keys]++) {
		conf_error(r, "duplicate key \"%s\" in [%s]", name, section);
		return 1;
	}
	r->last = k;
	if ((err = conf_parse_value(r->c, k, value)) != NULL)
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
	return r.errors;
}

int
conf_set(struct pc_config *c, const char *section, const char *key, const char *value,
	 FILE *errf)
{
	const struct conf_key *k;
	const char *err;
	int section_known;

	if ((k = conf_find(section, key, &section_known)) == NULL) {
		if (errf)
			fprintf(errf, "unknown key %s.%s\n", section, key);
		return -1;
	}
	if ((err = conf_parse_value(c, k, value)) != NULL) {
		if (errf)
			fprintf(errf, "%s.%s: %s\n", section, key, err);
		return -1;
	}
	return 0;
}

void
conf_dump(const struct pc_config *c, FILE *out)
{
	const char *section = "";

	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *p = (const char *)c + k->off;

		if (strcmp(section, k->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", k->section);
			section = k->section;
		}
		fprintf(out, "%s = ", k->key);
		switch (k->type) {
		case T_STR:
		case T_LIST:
			fprintf(out, "%s\n", *(char *const *)p ? *(char *const *)p : "");
			break;
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
		}
	}
}

void
conf_free(struct pc_config *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].type == T_STR || conf_keys[i].type == T_LIST)
			free(*(char **)((char *)c + conf_keys[i].off));
	memset(c, 0, sizeof(*c));
}
