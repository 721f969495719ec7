/*
 * sanitize: the one family of copies that make text from the wire safe to
 * put somewhere else: a log line, a verdict path, a notice or header value,
 * a reply to an SMTP client, a JSON index. Each place names its rules with
 * one of the SAN_* presets below; the rules differ only where what the
 * place can hold differs. Every replacement is one byte ('?' or ' ') for
 * one character or one bad byte, so the output is never longer than the
 * input and a copy may be made in place.
 *
 * Not here: escaping (portcullis-ctl prints bytes as \xNN), which keeps
 * every byte instead of replacing it.
 */
#ifndef PC_SANITIZE_H
#define PC_SANITIZE_H

#include <stddef.h>

/* The rules; a preset combines them. */
enum san_rule {
	SAN_CTL = 1 << 0,       /* C0 controls (NUL, TAB, CR, LF ...) and DEL become '?' */
	SAN_KEEP_TAB = 1 << 1,  /* with SAN_CTL: TAB stays */
	SAN_EOL_SPACE = 1 << 2, /* with SAN_CTL: CR, LF and TAB become ' ' (stays one line) */
	SAN_UTF8 = 1 << 3,      /* bytes >= 0x80 must be UTF-8 (utf8_decode) and no C1 control:
	                           a bad byte becomes '?', so does each overlong, surrogate or
	                           C1 sequence as a whole; a cut falls between characters */
	SAN_ASCII = 1 << 4,     /* every byte >= 0x80 becomes '?' */
	SAN_PATH = 1 << 5,      /* leading '/' dropped, a run of '/' becomes one */
	SAN_MARK = 1 << 6,      /* a cut ends in "..." (when cap is 4 or more) */
};

/* Log lines: controls only; other bytes are the log reader's to show. */
#define SAN_LOG (SAN_CTL)
/* Reply text relayed to an SMTP client: controls but TAB. */
#define SAN_REPLY (SAN_CTL | SAN_KEEP_TAB)
/* A short sample of a peer's bytes in a reason: printable ASCII. */
#define SAN_SAMPLE (SAN_CTL | SAN_ASCII)
/* Text jansson refused (not UTF-8); the controls it escapes itself. */
#define SAN_JSON (SAN_ASCII)
/* Names of members and parts: shown in paths ("a.zip//b/c"), never file names. */
#define SAN_NAME (SAN_CTL | SAN_UTF8 | SAN_PATH)
/* Values put in notices and header fields: one line, cut visibly. */
#define SAN_VALUE (SAN_CTL | SAN_EOL_SPACE | SAN_UTF8 | SAN_MARK)

/* Bytes kept of one name from the wire (archive member, MIME file name). */
#define SAN_NAME_MAX 255

/*
 * Copies len bytes of in (NULL: none) to out under rules, NUL-terminated,
 * cut so that it fits in cap bytes (nothing is written if cap is 0). out
 * may be in. Returns the bytes written, the NUL not counted.
 */
size_t sanitize_mem(const char *in, size_t len, char *out, size_t cap, unsigned rules);
/* The same for the string in (NULL is ""). */
size_t sanitize(const char *in, char *out, size_t cap, unsigned rules);

#endif
