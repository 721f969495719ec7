/*
 * strutil: small string helpers shared by parsers: trimming, hex, sizes and
 * durations with units, printable samples of wire data.
 */
#ifndef PC_STRUTIL_H
#define PC_STRUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Trims ASCII white space in place; returns s moved past leading space. */
char *str_trim(char *s);
/* Decodes one hex digit; -1 if c is not one. */
int hexval(int c);
/* Decodes 2*n hex digits into out; 0 or -1 on a non-hex digit. */
int hex_decode(const char *hex, size_t n, uint8_t *out);
/* Writes 2*n lower-case hex digits and a NUL into out. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* "10", "10k", "64M", "2G" (powers of 1024) -> bytes. 0 or -1. */
int parse_size(const char *s, uint64_t *out);
/* "500ms", "30s", "2m", "1h", bare number = seconds -> milliseconds. */
int parse_duration_ms(const char *s, uint64_t *out);
/* "yes/no/true/false/on/off/1/0". */
int parse_bool(const char *s, int *out);
/* Case-insensitive suffix test. */
int str_endswith_ci(const char *s, const char *suffix);

#endif
