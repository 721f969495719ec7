/*
 * sys: thin, checked wrappers over system calls that several modules need:
 * a monotonic clock and a write that finishes or fails.
 */
#ifndef PC_SYS_H
#define PC_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock (not wall time). */
uint64_t monotonic_ms(void);
/* Seconds on the monotonic clock, with sub-second precision. */
double monotonic_s(void);
/* Writes all len bytes to fd, retrying on EINTR and short writes; 0 or -1. */
int write_all(int fd, const void *buf, size_t len);

#endif
