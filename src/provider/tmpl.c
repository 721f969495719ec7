/*
 * tmpl: loading and rendering the console's templates (tmpl.h). One pass
 * over the text; names are at most TMPL_MAX_NAME bytes, so a stray "{{"
 * costs nothing but copying it.
 */
#include "provider/tmpl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sys.h"
#include "util/xalloc.h"

#define TMPL_MAX_NAME 64

/* [a-z0-9-]{1,64} "." [a-z]{1,8} */
static int
file_name_ok(const char *s)
{
	const char *dot = strchr(s, '.');
	size_t stem, ext;

	if (dot == NULL || strchr(dot + 1, '.') != NULL)
		return 0;
	stem = (size_t)(dot - s);
	ext = strlen(dot + 1);
	if (stem == 0 || stem > 64 || ext == 0 || ext > 8)
		return 0;
	for (size_t i = 0; i < stem; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	for (size_t i = 0; i < ext; i++)
		if (!(dot[1 + i] >= 'a' && dot[1 + i] <= 'z'))
			return 0;
	return 1;
}

int
tmpl_load(const char *dir, const char *name, char **out, size_t *len, char **err)
{
	char *path;
	int r;

	if (!file_name_ok(name))
		return 1;
	path = xasprintf("%s/%s", dir, name);
	r = read_file_small(path, TMPL_MAX_FILE, 1, out, len, err);
	free(path);
	return r;
}

void
tmpl_escape(struct sbuf *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep;

		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		sb_add(b, run, (size_t)(s - run));
		sb_adds(b, rep);
		run = s + 1;
	}
	sb_add(b, run, (size_t)(s - run));
}

static const char *
lookup(const struct tmpl_var *vars, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
			return vars[i].value ? vars[i].value : "";
	return "";
}

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

void
tmpl_render(struct sbuf *b, const char *text, const struct tmpl_var *vars, size_t n)
{
	const char *p = text;

	for (;;) {
		const char *open = strstr(p, "{{"), *name, *end;
		int raw;
		size_t len = 0;

		if (open == NULL) {
			sb_adds(b, p);
			return;
		}
		raw = open[2] == '{';
		name = open + (raw ? 3 : 2);
		while (len <= TMPL_MAX_NAME && name_char(name[len]))
			len++;
		end = name + len;
		if (len == 0 || len > TMPL_MAX_NAME ||
		    strncmp(end, raw ? "}}}" : "}}", raw ? 3 : 2)) {
			/* not a variable: copy the braces and go on after them */
			sb_add(b, p, (size_t)(open - p) + 2);
			p = open + 2;
			continue;
		}
		sb_add(b, p, (size_t)(open - p));
		if (raw)
			sb_adds(b, lookup(vars, n, name, len));
		else
			tmpl_escape(b, lookup(vars, n, name, len));
		p = end + (raw ? 3 : 2);
	}
}

int
tmpl_render_file(struct sbuf *b, const char *dir, const char *name, const struct tmpl_var *vars,
                 size_t n, char **err)
{
	char *text;
	size_t len;
	int rc = tmpl_load(dir, name, &text, &len, err);

	if (rc == 1)
		*err = xasprintf("%s/%s: no such template", dir, name);
	if (rc != 0)
		return -1;
	tmpl_render(b, text, vars, n);
	free(text);
	return 0;
}
