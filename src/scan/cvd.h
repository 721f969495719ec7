/*
 * cvd: reader of ClamAV's packed databases (.cvd, .cld): a 512-byte ASCII
 * header "ClamAV-VDB:time:version:sigs:flevel:md5:dsig:builder:stime" then
 * a tar archive, gzip-compressed in a .cvd and usually plain in a .cld.
 * Every member is handed to a sink with origin "daily.cvd/daily.ndb" and
 * its extension; sigdb's sink parses it as text (sigdb_load_cvd) and counts
 * the types it does not load. The MD5 of a .cvd is checked; its RSA
 * signature (dsig) is not. cvd knows the container, not the signatures.
 */
#ifndef PC_CVD_H
#define PC_CVD_H

#include <stddef.h>
#include <stdint.h>

#define CVD_HEADER_SIZE 512
/* Limits on what one database may unpack to. */
#define CVD_MAX_MEMBERS 10000
#define CVD_MAX_UNPACKED ((uint64_t)4 << 30)

struct cvd_header {
	char time[64];
	unsigned version;
	unsigned sigs;
	unsigned flevel;
	char md5[33];
	char builder[64];
};

/* Parses the 512-byte header at data; 0 or -1 if it is not one. */
int cvd_parse_header(const uint8_t *data, size_t len, struct cvd_header *h);
/*
 * Where the members go. begin() starts a member named origin ("name/base")
 * of type ext (its extension in lower case, "" if none) and returns its
 * state; feed() gets its bytes in pieces; end() finishes it and returns the
 * signatures it added (for the log line). arg is begin()'s.
 */
struct cvd_sink {
	void *(*begin)(void *arg, const char *origin, const char *ext);
	void (*feed)(void *member, const char *buf, size_t len);
	size_t (*end)(void *member);
	void *arg;
};

/*
 * Hands every member of a whole .cvd/.cld image held in memory to sink.
 * name is the file's base name ("daily.cvd"), for messages; is_cld skips
 * the MD5 check. No I/O. Returns 0, or -1 (bad header, MD5 mismatch, broken
 * archive: members read before the damage were handed on).
 */
int cvd_load(const char *name, const uint8_t *data, size_t len, int is_cld,
             const struct cvd_sink *sink);
/* Maps path and calls cvd_load(). 0 or -1. */
int cvd_load_file(const char *path, const struct cvd_sink *sink);
/* Reads only the header of path for its version. 0 or -1. */
int cvd_file_version(const char *path, unsigned *version);

#endif
