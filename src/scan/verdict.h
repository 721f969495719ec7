/*
 * verdict: the result of scanning one object, a small closed set that every
 * caller handles. Only SCAN_CLEAN is clean; the policy of each protocol
 * decides what the other statuses get.
 *
 * A verdict owns copies of every string in it. Merging keeps the most
 * severe status by the order below, and every signature hit.
 */
#ifndef PC_VERDICT_H
#define PC_VERDICT_H

#include <stddef.h>

/* In increasing severity: a merge keeps the higher one. */
enum scan_status {
	SCAN_CLEAN = 0,
	SCAN_CORRUPT,   /* a container that could not be read */
	SCAN_ENCRYPTED, /* a part we could not decrypt */
	SCAN_LIMIT,     /* a configured limit stopped the scan; see .limit */
	SCAN_ERROR,     /* backend failure: never treat as clean */
	SCAN_INFECTED,  /* at least one signature matched; see .hits */
};

enum scan_limit {
	LIMIT_NONE = 0,
	LIMIT_DEPTH,       /* scan.max_depth */
	LIMIT_TOTAL_BYTES, /* scan.max_total_bytes */
	LIMIT_FILES,       /* scan.max_files */
	LIMIT_RATIO,       /* scan.max_ratio */
	LIMIT_TIME,        /* scan.max_scan_time */
	LIMIT_FILE_SIZE,   /* scan.max_file_size */
};

struct scan_hit {
	char *name; /* signature name, e.g. "Eicar-Test-Signature" */
	char *path; /* container path, e.g. "mail.eml//a.zip//clam.exe" */
};

struct scan_verdict {
	enum scan_status status;
	struct scan_hit *hits;
	size_t nhits, hits_cap;
	enum scan_status other; /* most severe finding other than a hit (may be SCAN_CLEAN) */
	enum scan_limit limit;  /* the limit hit, when other is SCAN_LIMIT */
	char *where;            /* container path of the first non-clean, non-infected finding */
	char *reason;           /* human-readable detail for that finding */
};

void verdict_init(struct scan_verdict *v);
/* Frees the strings and returns v to the clean state. */
void verdict_clear(struct scan_verdict *v);
/* Records a signature hit; copies both strings; a duplicate pair is ignored. */
void verdict_add_hit(struct scan_verdict *v, const char *name, const char *path);
/*
 * Records a non-clean, non-infected finding (corrupt, encrypted, limit,
 * error). The status is raised only if more severe; `where` and `reason`
 * are copied and kept from the first finding of the winning status.
 */
void verdict_note(struct scan_verdict *v, enum scan_status st, enum scan_limit limit,
                  const char *where, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds everything in src to dst (copies). */
void verdict_merge(struct scan_verdict *dst, const struct scan_verdict *src);

const char *scan_status_name(enum scan_status st);
const char *scan_limit_name(enum scan_limit l);
/* Comma-separated hit names, e.g. "Eicar-Test-Signature,ClamAV-Test-File"; caller frees. */
char *verdict_names(const struct scan_verdict *v);

#endif
