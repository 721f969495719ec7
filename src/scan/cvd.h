/*
 * cvd: reader of ClamAV's packed databases (.cvd, .cld): a 512-byte ASCII
 * header "ClamAV-VDB:time:version:sigs:flevel:md5:dsig:builder:stime" then
 * a tar archive, gzip-compressed in a .cvd and usually plain in a .cld.
 * Every member goes through sigdb's text parser with origin
 * "daily.cvd/daily.ndb"; members of types we do not load are counted by
 * extension. The MD5 of a .cvd is checked; its RSA signature (dsig) is not.
 */
#ifndef PC_CVD_H
#define PC_CVD_H

#include <stddef.h>
#include <stdint.h>

#include "scan/sigdb.h"

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
 * Loads a whole .cvd/.cld image held in memory into db. name is the file's
 * base name ("daily.cvd"), for messages; is_cld skips the MD5 check. No I/O.
 * Returns 0, or -1 (bad header, MD5 mismatch, broken archive: signatures
 * read before the damage stay in db).
 */
int cvd_load(struct sigdb *db, const char *name, const uint8_t *data, size_t len, int is_cld);
/* Maps path and calls cvd_load(). 0 or -1. */
int cvd_load_file(struct sigdb *db, const char *path);
/* Reads only the header of path for its version. 0 or -1. */
int cvd_file_version(const char *path, unsigned *version);

#endif
