/*
 * libFuzzer target for smtp/smtp_cmd. The input is one command line: the
 * lookup must return a row and point args inside the line; the arguments
 * are parsed as MAIL FROM and RCPT TO. A path that parses is printed back
 * as "FROM:<addr> NAME=VALUE ..." and must parse to the same result; its
 * address and parameters must respect every bound and hold no control
 * characters.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_clean(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void
check_path(const char *args, const char *prefix)
{
	struct smtp_path a, b;
	char err[64], *line;
	size_t cap, n;

	if (smtp_path_parse(args, prefix, &a, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	check_clean(a.addr, SMTP_PATH_MAX);
	if (a.nparams > SMTP_MAX_PARAMS)
		abort();
	cap = strlen(prefix) + strlen(a.addr) + 3 + a.nparams * (32 + 256 + 2) + 1;
	line = malloc(cap);
	n = (size_t)snprintf(line, cap, "%s<%s>", prefix, a.addr);
	for (size_t i = 0; i < a.nparams; i++) {
		const struct smtp_param *p = &a.params[i];

		check_clean(p->name, sizeof(p->name) - 1);
		check_clean(p->value, sizeof(p->value) - 1);
		for (const char *c = p->name; *c; c++)
			if (islower((unsigned char)*c))
				abort();
		if (smtp_path_param(&a, p->name) != p->value)
			abort(); /* duplicates are refused */
		n += (size_t)snprintf(line + n, cap - n, " %s%s%s", p->name, p->value[0] ? "=" : "",
		                      p->value);
	}
	if (smtp_path_parse(line, prefix, &b, err, sizeof(err)) < 0)
		abort();
	if (strcmp(a.addr, b.addr) != 0 || a.nparams != b.nparams)
		abort();
	for (size_t i = 0; i < a.nparams; i++)
		if (strcmp(a.params[i].name, b.params[i].name) != 0 ||
		    strcmp(a.params[i].value, b.params[i].value) != 0)
			abort();
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	const char *args = NULL;
	const struct smtp_cmd_info *c;

	memcpy(line, data, size);
	line[size] = '\0';
	c = smtp_cmd_lookup(line, &args);
	if (c == NULL || c->name == NULL || args < line || args > line + strlen(line))
		abort();
	check_path(args, "FROM:");
	check_path(args, "TO:");
	check_path(line, "FROM:");
	free(line);
	return 0;
}
