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

/* A unit after a number, and what it multiplies by. */
struct unit {
	const char *name;
	uint64_t mul;
};

/*
 * A number followed by one of the n units (names compared with cmp: case
 * matters for durations, where "m" is minutes, not for sizes) -> number
 * times its multiplier, refusing overflow. 0 or -1.
 */
static int
parse_scaled(const char *s, const struct unit *units, size_t n,
             int (*cmp)(const char *, const char *), uint64_t *out)
{
	uint64_t v;
	const char *u;

	if (parse_number(s, &v, &u) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (cmp(u, units[i].name) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mul)
			return -1;
		*out = v * units[i].mul;
		return 0;
	}
	return -1;
}

int
parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
	    {"", 1},
	    {"b", 1},
	    {"k", 1024},
	    {"kb", 1024},
	    {"kib", 1024},
	    {"m", 1024 * 1024},
	    {"mb", 1024 * 1024},
	    {"mib", 1024 * 1024},
	    {"g", 1024ULL * 1024 * 1024},
	    {"gb", 1024ULL * 1024 * 1024},
	    {"gib", 1024ULL * 1024 * 1024},
	};

	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), strcasecmp, out);
}

int
parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
	    {"", 1000},
	    {"s", 1000},
	    {"ms", 1},
	    {"m", 60 * 1000},
	    {"min", 60 * 1000},
	    {"h", 3600 * 1000},
	    {"d", 86400ULL * 1000},
	};

	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), strcmp, out);
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
