/*
 * extract: the table of extractors (see extract.h). The walker side of
 * the interface (extract_child_fd and the rest) is in walk.c, which owns
 * the walk's state.
 */
#include <stddef.h>

#include "scan/arj.h"
#include "scan/docfmt.h"
#include "scan/extract.h"

static const struct {
	enum extract_format f;
	const char *name;
	extract_fn fn;
} table[] = {
    {EXF_NONE, "none", NULL},         {EXF_PDF, "pdf", pdf_extract},
    {EXF_RTF, "rtf", rtf_extract},    {EXF_HTML, "html", htmldata_extract},
    {EXF_TNEF, "tnef", extract_tnef}, {EXF_CHM, "chm", extract_chm},
    {EXF_SZDD, "szdd", extract_szdd}, {EXF_KWAJ, "kwaj", extract_kwaj},
    {EXF_OLE2, "ole2", extract_ole2}, {EXF_SIS, "sis", extract_sis},
    {EXF_ARJ, "arj", arj_extract},
};

extract_fn
extract_for(enum extract_format f)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].f == f)
			return table[i].fn;
	return NULL;
}

const char *
extract_format_name(enum extract_format f)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].f == f)
			return table[i].name;
	return "?";
}
