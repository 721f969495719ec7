/*
 * utf8: the one UTF-8 decoder. Every check of text from the wire (names
 * shown in paths and logs, notice values, template files, addresses) and
 * every cut at a character boundary goes through it, so that they all agree
 * on what a character is. Pure functions, no state.
 */
#ifndef PC_UTF8_H
#define PC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* *cp of a sequence of the right shape that is not a Unicode scalar value. */
#define UTF8_INVALID UINT32_MAX

/*
 * Decodes the character at s (n > 0 bytes left). Returns its length, 1 to
 * 4, with the code point in *cp; or 0 if s does not start a sequence of the
 * right shape: a byte that cannot lead (80-C1, F5-FF), a missing
 * continuation byte, or fewer than its length left (a caller that goes on
 * takes one byte as bad). A sequence of the right shape whose value is no
 * Unicode scalar value in its shortest form (overlong, a surrogate, above
 * U+10FFFF) returns its length with *cp = UTF8_INVALID, so that the caller
 * can replace it as one unit.
 */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* True if the n bytes at s are valid UTF-8 from start to end (U+0000 allowed). */
int utf8_valid(const char *s, size_t n);

#endif
