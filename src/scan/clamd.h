/*
 * clamd: a scan backend that hands the bytes to a running ClamAV daemon with
 * INSTREAM (4-byte big-endian length-prefixed chunks, zero-length end) over
 * a unix socket or TCP, with connect and I/O timeouts, and one reconnect on
 * a dropped connection. clamd does its own unpacking, so only top-level
 * objects are sent. A failure of any kind is a SCAN_ERROR verdict, never
 * clean.
 */
#ifndef PC_CLAMD_H
#define PC_CLAMD_H

#include <stddef.h>
#include <stdint.h>

#include "scan/verdict.h"

struct clamd;
struct clamd_stream;

/*
 * addr is a unix socket path ("/run/clamav/clamd.ctl") or "host:port"
 * ("127.0.0.1:3310", "[::1]:3310"). Copies addr.
 */
struct clamd *clamd_new(const char *addr, uint64_t connect_timeout_ms, uint64_t io_timeout_ms);
void clamd_free(struct clamd *c);
/* PING; 0 if clamd answered PONG. */
int clamd_ping(struct clamd *c);

/* Streaming: open, feed chunks, close with the result in v at `path`. */
struct clamd_stream *clamd_stream_open(struct clamd *c);
int clamd_stream_feed(struct clamd_stream *s, const void *buf, size_t len);
int clamd_stream_close(struct clamd_stream *s, struct scan_verdict *v, const char *path);

/* Convenience: streams everything readable on fd. 0 or -1 (noted in v). */
int clamd_scan_fd(struct clamd *c, int fd, const char *path, struct scan_verdict *v);

#endif
