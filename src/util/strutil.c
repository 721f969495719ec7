/*
 * strutil: string helpers with no knowledge of mail, FTP or signatures.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/strutil.h"

char *
str_trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *hex, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
parse_number(const char *s, uint64_t *num, const char **unit)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	*num = v;
	*unit = end;
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mul = 1;
	const char *u;

	if (parse_number(s, &v, &u) < 0)
		return -1;
	if (*u == '\0' || strcasecmp(u, "b") == 0)
		mul = 1;
	else if (strcasecmp(u, "k") == 0 || strcasecmp(u, "kb") == 0 || strcasecmp(u, "kib") == 0)
		mul = 1024;
	else if (strcasecmp(u, "m") == 0 || strcasecmp(u, "mb") == 0 || strcasecmp(u, "mib") == 0)
		mul = 1024 * 1024;
	else if (strcasecmp(u, "g") == 0 || strcasecmp(u, "gb") == 0 || strcasecmp(u, "gib") == 0)
		mul = 1024ULL * 1024 * 1024;
	else
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v, mul;
	const char *u;

	if (parse_number(s, &v, &u) < 0)
		return -1;
	if (*u == '\0' || strcmp(u, "s") == 0)
		mul = 1000;
	else if (strcmp(u, "ms") == 0)
		mul = 1;
	else if (strcmp(u, "m") == 0 || strcmp(u, "min") == 0)
		mul = 60 * 1000;
	else if (strcmp(u, "h") == 0)
		mul = 3600 * 1000;
	else if (strcmp(u, "d") == 0)
		mul = 86400ULL * 1000;
	else
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcasecmp(s, "on") ||
	    !strcmp(s, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcasecmp(s, "off") ||
	    !strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	return -1;
}

int
str_endswith_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}
