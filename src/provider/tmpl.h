/*
 * tmpl: the console's tiny template language. A template is a file of the
 * template directory (templates/provider/); in it `{{name}}` is replaced by
 * the HTML-escaped value of variable name, `{{{name}}}` by the value as is
 * (a fragment the caller built, itself rendered from a template). An
 * unknown name renders empty. Nothing else is special: no loops, no
 * conditions (rows are rendered one by one from a row template and joined).
 */
#ifndef PC_TMPL_H
#define PC_TMPL_H

#include <stddef.h>

#include "util/strbuf.h"

/* The largest template file read. */
#define TMPL_MAX_FILE (256u * 1024)

struct tmpl_var {
	const char *name;
	const char *value; /* NULL renders empty */
};

/*
 * Reads DIR/name (name of [a-z0-9-] and one dot with an extension, no
 * other character: anything else is refused) into *out (allocated,
 * NUL-terminated), *len its size. 0; 1 if there is no such file or the name
 * is refused; -1 with *err on another error.
 */
int tmpl_load(const char *dir, const char *name, char **out, size_t *len, char **err);

/* Appends s HTML-escaped (& < > " ') to b. */
void tmpl_escape(struct sbuf *b, const char *s);

/* Appends text with its variables replaced (vars[0..n)) to b. */
void tmpl_render(struct sbuf *b, const char *text, const struct tmpl_var *vars, size_t n);

/*
 * Loads DIR/name and renders it into b. 0, or -1 with *err (a missing
 * template is an error here).
 */
int tmpl_render_file(struct sbuf *b, const char *dir, const char *name, const struct tmpl_var *vars,
                     size_t n, char **err);

#endif
