/*
 * binhex: decodes BinHex 4.0 (RFC 1741, the Macintosh "hqx" format): the
 * 6-bit characters between the two ':' are turned into bytes, the 0x90
 * run-length code is expanded, and the result is split into its header
 * (name, type, creator, fork lengths), data fork and resource fork, each
 * followed by a CRC-16 (CCITT, XMODEM) that is checked. A push decoder
 * written by hand, since no library Debian packages decodes BinHex; it
 * does no I/O and owns nothing but its small state.
 *
 * The caller finds the `(This file must be converted with BinHex 4.0)`
 * line and the opening ':' (textblocks.c) and pushes what follows the
 * ':'. Line ends and other white space between characters are skipped.
 * The closing ':' ends the input; any other character is damage and ends
 * it too. Each fork is reported with begin/data/end, the data fork first;
 * an empty fork is not reported. Damage never stops the bytes decoded so
 * far from being delivered: the fork then ends with HQX_FORK_DAMAGED.
 */
#ifndef PC_BINHEX_H
#define PC_BINHEX_H

#include <stddef.h>

#define HQX_NAME_MAX 63 /* the format's longest file name */

enum hqx_fork { HQX_DATA = 0, HQX_RSRC };

enum hqx_fork_end {
	HQX_FORK_OK = 0,  /* complete, CRC right */
	HQX_FORK_BADCRC,  /* complete, CRC wrong */
	HQX_FORK_DAMAGED, /* cut short: input ended, bad character or bad header */
};

enum hqx_status {
	HQX_MORE = 0, /* all input used; more may follow */
	HQX_DONE,     /* the closing ':' was read */
	HQX_BAD,      /* a character outside the alphabet ended the input */
	HQX_STOP,     /* a callback returned -1 */
};

struct hqx_ops {
	/* A fork starts; name is the raw name from the header (NUL-terminated). */
	int (*begin)(void *arg, enum hqx_fork which, const char *name);
	int (*data)(void *arg, const void *buf, size_t len);
	int (*end)(void *arg, enum hqx_fork_end how);
};

struct hqx;

/* Returns a decoder calling ops with arg; ops is not copied. */
struct hqx *hqx_new(const struct hqx_ops *ops, void *arg);
void hqx_free(struct hqx *h);
/*
 * Decodes the next len characters. *used gets how many were consumed: all
 * of them for HQX_MORE, up to and including the closing ':' or the bad
 * character otherwise. After HQX_DONE/HQX_BAD/HQX_STOP the decoder takes no
 * more input (and returns the same status).
 */
enum hqx_status hqx_push(struct hqx *h, const void *buf, size_t len, size_t *used);
/* Ends the input: a fork still open ends as HQX_FORK_DAMAGED. */
enum hqx_status hqx_finish(struct hqx *h);
/* True if the header was read and its CRC was right. */
int hqx_header_ok(const struct hqx *h);

#endif
