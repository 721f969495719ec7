/*
 * sanitize: one loop for every rule set. It runs per log line and per name
 * of every member and part, so ASCII takes no decoder call and nothing is
 * allocated. Owns no state.
 */
#include <string.h>

#include "util/sanitize.h"
#include "util/utf8.h"

/* What replaces the ASCII byte c under rules, or 0 to keep it. */
static char
ascii_replacement(unsigned char c, unsigned rules)
{
	if (!(rules & SAN_CTL) || (c >= 0x20 && c != 0x7f))
		return 0;
	if (c == '\t' && (rules & SAN_KEEP_TAB))
		return 0;
	if ((c == '\t' || c == '\r' || c == '\n') && (rules & SAN_EOL_SPACE))
		return ' ';
	return '?';
}

size_t
sanitize_mem(const char *in, size_t len, char *out, size_t cap, unsigned rules)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, mark = 0;
	int cut = 0;

	if (cap == 0)
		return 0;
	if (s == NULL)
		len = 0;
	if (rules & SAN_PATH)
		while (i < len && s[i] == '/')
			i++;
	while (i < len) {
		size_t l = 1, w;
		char rep = 0;

		if (s[i] < 0x80) {
			rep = ascii_replacement(s[i], rules);
		} else if (rules & SAN_ASCII) {
			rep = '?';
		} else if (rules & SAN_UTF8) {
			uint32_t cp;

			l = utf8_decode(s + i, len - i, &cp);
			if (l == 0 || cp == UTF8_INVALID || cp <= 0x9f)
				rep = '?';
			if (l == 0)
				l = 1;
		}
		if ((rules & SAN_PATH) && s[i] == '/' && o > 0 && out[o - 1] == '/') {
			i += l;
			continue;
		}
		w = rep ? 1 : l;
		if (o + w > cap - 1) {
			cut = 1;
			break;
		}
		/* Where "..." still fits after this character. */
		if (o + w + 3 <= cap - 1)
			mark = o + w;
		if (rep)
			out[o] = rep;
		else
			memmove(out + o, s + i, w);
		o += w;
		i += l;
	}
	if (cut && (rules & SAN_MARK) && cap >= 4) {
		memcpy(out + mark, "...", 3);
		o = mark + 3;
	}
	out[o] = '\0';
	return o;
}

size_t
sanitize(const char *in, char *out, size_t cap, unsigned rules)
{
	return sanitize_mem(in, in ? strlen(in) : 0, out, cap, rules);
}
