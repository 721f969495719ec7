/*
 * gen_conf_man: writes portcullis.conf(5) (mdoc) from the parser's own key
 * table (conf_key_doc) and the comments of etc/portcullis.conf, which
 * describe each key. Run by the build; it fails when a key of the table is
 * not in etc/portcullis.conf or the other way round, so that neither the
 * page nor the example file can drift from the code.
 *
 * usage: gen_conf_man ETC_FILE OUT_FILE "Month DD, YYYY"
 *
 * etc/portcullis.conf's shape: "[section]" (or ";[section]" when the
 * section is shown commented out); "key = value" (or ";key = value"); "; "
 * comment lines, which describe the key or keys that follow them, or the
 * section when a section header follows. A blank line ends a description.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conf/conf.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_LINE 1024

struct group {
	char *section;
	char **keys;
	size_t nkeys;
	char *text; /* comment lines, '\n'-separated */
};

struct doc {
	char *intro;
	char **sec_names, **sec_text;
	size_t nsec;
	struct group *g;
	size_t ng;
};

static int
is_key_line(const char *l, char *key, size_t cap)
{
	size_t n = 0;

	if (*l == ';')
		l++;
	while (islower((unsigned char)l[n]) || isdigit((unsigned char)l[n]) || l[n] == '_')
		n++;
	if (n == 0 || n >= cap || strncmp(l + n, " =", 2) != 0)
		return 0;
	memcpy(key, l, n);
	key[n] = '\0';
	return 1;
}

static int
is_section_line(const char *l, char *sec, size_t cap)
{
	const char *end;
	size_t n;

	if (*l == ';')
		l++;
	if (*l != '[' || (end = strchr(l, ']')) == NULL || end[1] != '\0')
		return 0;
	n = (size_t)(end - l - 1);
	if (n == 0 || n >= cap)
		return 0;
	memcpy(sec, l + 1, n);
	sec[n] = '\0';
	return 1;
}

static void
parse(FILE *f, struct doc *d)
{
	char line[MAX_LINE], key[64], sec[64], *cur = NULL;
	struct sbuf pending = {0};
	int have_pending = 0, last_was_key = 0;

	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0') {
			/* A description that no key follows belongs to the section. */
			if (have_pending && cur == NULL) {
				free(d->intro);
				d->intro = sb_take(&pending);
			} else if (have_pending) {
				char *t = sb_take(&pending);
				char **st = &d->sec_text[d->nsec - 1];
				char *joined = xasprintf("%s%s%s", *st ? *st : "", *st ? "\n\n" : "", t);

				free(*st);
				free(t);
				*st = joined;
			}
			have_pending = 0;
			last_was_key = 0;
			continue;
		}
		if (is_section_line(line, sec, sizeof(sec))) {
			d->sec_names = xrealloc(d->sec_names, (d->nsec + 1) * sizeof(char *));
			d->sec_text = xrealloc(d->sec_text, (d->nsec + 1) * sizeof(char *));
			d->sec_names[d->nsec] = xstrdup(sec);
			d->sec_text[d->nsec] = have_pending ? sb_take(&pending) : NULL;
			d->nsec++;
			cur = d->sec_names[d->nsec - 1];
			have_pending = 0;
			last_was_key = 0;
			continue;
		}
		if (cur && is_key_line(line, key, sizeof(key))) {
			struct group *g;

			if (have_pending || !last_was_key) {
				d->g = xrealloc(d->g, (d->ng + 1) * sizeof(*d->g));
				g = &d->g[d->ng++];
				memset(g, 0, sizeof(*g));
				g->section = cur;
				g->text = have_pending ? sb_take(&pending) : NULL;
			}
			g = &d->g[d->ng - 1];
			g->keys = xrealloc(g->keys, (g->nkeys + 1) * sizeof(char *));
			g->keys[g->nkeys++] = xstrdup(key);
			have_pending = 0;
			last_was_key = 1;
			continue;
		}
		if (line[0] == ';') {
			const char *t = line + 1;

			if (*t == ' ')
				t++;
			sb_addf(&pending, "%s%s", have_pending ? "\n" : "", t);
			have_pending = 1;
			last_was_key = 0;
		}
		/* else: a list value's continuation line */
	}
	if (have_pending)
		free(sb_take(&pending));
}

/* The section a table key is documented under: [smtp.NAME] is [smtp]. */
static const struct group *
find(const struct doc *d, const char *section, const char *key)
{
	for (size_t i = 0; i < d->ng; i++)
		if (strcmp(d->g[i].section, section) == 0)
			for (size_t k = 0; k < d->g[i].nkeys; k++)
				if (strcmp(d->g[i].keys[k], key) == 0)
					return &d->g[i];
	return NULL;
}

/* Writes text as mdoc: "\" escaped, a leading '.' or '\'' guarded, indented
 * lines as a literal display. */
static void
emit_text(FILE *o, const char *text)
{
	const char *p = text;
	int literal = 0;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		int indented = n > 1 && p[0] == ' ' && p[1] == ' ';

		if (indented && !literal) {
			fputs(".Bd -literal -offset indent\n", o);
			literal = 1;
		} else if (!indented && literal) {
			fputs(".Ed\n", o);
			literal = 0;
		}
		if (!literal)
			while (n > 0 && *p == ' ') {
				p++;
				n--;
			}
		if (n == 0) {
			if (!literal)
				fputs(".Pp\n", o);
		} else {
			if (*p == '.' || *p == '\'')
				fputs("\\&", o);
			for (size_t i = 0; i < n; i++)
				if (p[i] == '\\')
					fputs("\\e", o);
				else if (!literal && p[i] == ' ' && i > 1 && i + 1 < n &&
				         strchr(".?!", p[i - 1]) && isupper((unsigned char)p[i + 1]) &&
				         !(i >= 4 && (strncmp(p + i - 4, "e.g.", 4) == 0 ||
				                      strncmp(p + i - 4, "i.e.", 4) == 0)))
					fputc('\n', o); /* mdoc: a new sentence on a new line */
				else
					fputc(p[i], o);
			fputc('\n', o);
		}
		p = nl ? nl + 1 : NULL;
	}
	if (literal)
		fputs(".Ed\n", o);
}

static void
emit(FILE *o, const struct doc *d, const char *date)
{
	struct conf_key_doc k;

	fprintf(o,
	        ".\\\" Generated by man/gen_conf_man.c from the parser's key table and\n"
	        ".\\\" etc/portcullis.conf: edit those, not this file.\n"
	        ".Dd %s\n.Dt PORTCULLIS.CONF 5\n.Os Portcullis %s\n"
	        ".Sh NAME\n.Nm portcullis.conf\n"
	        ".Nd configuration file of the Portcullis anti-virus gateway\n"
	        ".Sh SYNOPSIS\n.Pa %s\n.Sh DESCRIPTION\n",
	        date, PORTCULLIS_VERSION, PORTCULLIS_CONF);
	emit_text(o, d->intro ? d->intro : "");
	fputs(".Pp\nEach key below is shown with its default, its type and, where it has one, "
	      "its range or its allowed values.\n"
	      "A size takes k, M, G (powers of 1024); a duration takes ms, s, m, h, d.\n",
	      o);
	for (size_t s = 0; s < d->nsec; s++) {
		fprintf(o, ".Ss \\&[%s]\n", d->sec_names[s]);
		if (d->sec_text[s])
			emit_text(o, d->sec_text[s]);
		fputs(".Bl -tag -width Ds\n", o);
		for (size_t gi = 0; gi < d->ng; gi++) {
			const struct group *g = &d->g[gi];

			if (g->section != d->sec_names[s])
				continue;
			for (size_t ki = 0; ki < g->nkeys; ki++) {
				for (size_t i = 0; i < conf_key_count(); i++) {
					conf_key_doc(i, &k);
					if (strcmp(k.key, g->keys[ki]) == 0 &&
					    strncmp(k.section, g->section, strlen(k.section)) == 0)
						break;
				}
				fprintf(o, ".It Cm %s No = Ar %s\n", g->keys[ki], k.def[0] ? k.def : "\"\"");
				fprintf(o, "(%s%s%s)\n", k.type, k.range[0] ? ": " : "", k.range);
			}
			if (g->text)
				emit_text(o, g->text);
		}
		fputs(".El\n", o);
	}
	fputs(".Sh FILES\n.Bl -tag -width Ds\n.It Pa " PORTCULLIS_CONF
	      "\nthe configuration file read by default\n.El\n"
	      ".Sh SEE ALSO\n.Xr portcullis-scan 1 ,\n.Xr portcullis-ctl 8 ,\n"
	      ".Xr portcullis-provider 8 ,\n.Xr portcullisd 8\n",
	      o);
}

static void
doc_free(struct doc *d)
{
	for (size_t i = 0; i < d->ng; i++) {
		for (size_t k = 0; k < d->g[i].nkeys; k++)
			free(d->g[i].keys[k]);
		free(d->g[i].keys);
		free(d->g[i].text);
	}
	for (size_t i = 0; i < d->nsec; i++) {
		free(d->sec_names[i]);
		free(d->sec_text[i]);
	}
	free(d->g);
	free(d->sec_names);
	free(d->sec_text);
	free(d->intro);
}

int
main(int argc, char **argv)
{
	struct doc d = {0};
	struct conf_key_doc k;
	FILE *in, *out;
	int bad = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: gen_conf_man ETC_FILE OUT_FILE DATE\n");
		return 2;
	}
	if ((in = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	parse(in, &d);
	fclose(in);
	/* Every key of the table is documented, under its section... */
	for (size_t i = 0; i < conf_key_count(); i++) {
		conf_key_doc(i, &k);
		if (find(&d, k.section, k.key) == NULL) {
			fprintf(stderr, "%s: [%s] %s is a key of the parser but is not shown here\n",
			        argv[1], k.section, k.key);
			bad = 1;
		}
	}
	/* ...and every key shown is one of the table's. */
	for (size_t gi = 0; gi < d.ng; gi++)
		for (size_t ki = 0; ki < d.g[gi].nkeys; ki++) {
			int found = 0;

			for (size_t i = 0; i < conf_key_count() && !found; i++) {
				conf_key_doc(i, &k);
				found = strcmp(k.key, d.g[gi].keys[ki]) == 0 &&
				        strcmp(k.section, d.g[gi].section) == 0;
			}
			if (!found) {
				fprintf(stderr, "%s: [%s] %s is not a key the parser knows\n", argv[1],
				        d.g[gi].section, d.g[gi].keys[ki]);
				bad = 1;
			}
		}
	if (!bad && (out = fopen(argv[2], "w")) == NULL) {
		perror(argv[2]);
		bad = 1;
	} else if (!bad) {
		emit(out, &d, argv[3]);
		if (fclose(out) != 0) {
			perror(argv[2]);
			bad = 1;
		}
	}
	doc_free(&d);
	return bad;
}
