/*
 * zipscan: a zip's members found by walking its local headers, not its
 * central directory. libarchive (archive.c) reads a zip first; zipscan
 * runs after it on every zip and takes out what libarchive did not hand
 * on: members behind a garbage or missing central directory, local
 * entries the directory does not list, and the methods libarchive lacks
 * (deflate64, implode). Stored members go to the walker as regions of the
 * container, the others decoded (zlib for deflate, inflate64.c, explode.c)
 * into temporary files, under the walker's limits (extract.h). Damage
 * that could hide a member is noted SCAN_CORRUPT.
 *
 * It also finds a zip that starts after other bytes (a self-extractor: a
 * program with the archive appended), for the walker to open as a child.
 */
#ifndef PC_ZIPSCAN_H
#define PC_ZIPSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "scan/extract.h"

/* The fixed part of a zip local file header, in bytes. */
#define ZIP_LOCAL_HEADER_SIZE 30

/* Names of the members libarchive handed on already (raw, as it gave them). */
struct zip_seen {
	char **names;
	size_t n, cap;
};

/* Adds a name (copied; NULL is ignored); zip_seen_clear frees them all. */
void zip_seen_add(struct zip_seen *s, const char *name);
void zip_seen_clear(struct zip_seen *s);

/*
 * Walks the local headers of the zip in [off, off + size) of fd and hands
 * each member not in seen (each name there covers one member of that name)
 * to the walker through x. seen may be NULL.
 */
void zipscan(struct extract_ctx *x, int fd, uint64_t off, uint64_t size, struct zip_seen *seen);

/*
 * The offset (> 0) of the first plausible zip local header in b[0..n),
 * or 0 if there is none: where a self-extractor's archive starts.
 */
size_t zip_find_embedded(const unsigned char *b, size_t n);

/*
 * True if libarchive's format name for its current zip entry (e.g.
 * "ZIP 2.0 (deflation-64-bit)") names a method libarchive cannot decode
 * and zipscan can: the walker leaves such members to zipscan.
 */
int zip_method_is_ours(const char *format_name);

#endif
