/*
 * words: the lists a configuration value holds ("image/png image/gif",
 * "example.org, example.net"): words separated by spaces, commas or TABs.
 * Used by the scanner's safe type lists and the policy's internal domains.
 */
#ifndef PC_WORDS_H
#define PC_WORDS_H

#include <stddef.h>

/*
 * Splits s (NULL is "") into *out, a new array of *n copies (NULL and 0
 * when there are none); runs of separators make no empty words. Free with
 * words_free().
 */
void words_split(const char *s, char ***out, size_t *n);
/* Frees the n words of v and v itself; v may be NULL. */
void words_free(char **v, size_t n);

#endif
