/*
 * mailbody: the decoded content of one MIME part or uuencoded block, as the
 * mail walker hands it to its callback. Either a file that already holds the
 * decoded bytes (a uu block, a part GMime decoded), or a region of the
 * message itself decoded as it is read (base64 or unencoded parts): then
 * nothing is written anywhere unless the reader asks for a file
 * (mail_body_fd), so a part that is not a container goes from the spool to
 * the engine in one pass. The size is exact from the start either way.
 */
#ifndef PC_MAILBODY_H
#define PC_MAILBODY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mail_body;

enum mail_body_enc {
	MAIL_BODY_IDENTITY, /* the region's bytes as they are */
	MAIL_BODY_BASE64,   /* decoded with scan/b64dec */
};

/*
 * A body over size bytes at offset 0 of fd, which is borrowed (closed by
 * mail_body_free only if own is set). Never NULL.
 */
struct mail_body *mail_body_new_fd(int fd, uint64_t size, int own);

/*
 * A body over [off, off + len) of fd (borrowed, read with pread), or of
 * map when it is not NULL (fd mapped from offset 0, borrowed: it must stay
 * mapped until the body is freed; read in place, no copy), decoded as enc
 * and cut after max bytes (0: no cut). Base64 is counted first, so the
 * region is read twice. tmpdir is where mail_body_fd spools (NULL: /tmp).
 * Returns NULL with errno set if the region cannot be read.
 */
struct mail_body *mail_body_new_region(int fd, const void *map, uint64_t off, uint64_t len,
                                       enum mail_body_enc enc, uint64_t max, const char *tmpdir);
void mail_body_free(struct mail_body *b);

/* Decoded size (after the cut). */
uint64_t mail_body_size(const struct mail_body *b);
/* 1 if the decoded content was longer than max and was cut. */
int mail_body_cut(const struct mail_body *b);

/*
 * Copies the next decoded bytes into buf: returns how many (at most len),
 * 0 at the end, -1 with errno on a read error. A short count is not the end.
 */
ssize_t mail_body_read(struct mail_body *b, void *buf, size_t len);
/* Starts reading from the first byte again; 0 or -1 with errno. */
int mail_body_rewind(struct mail_body *b);

/*
 * A seekable fd positioned at 0 holding exactly mail_body_size() bytes: the
 * backing file, or a temporary file the body fills on the first call
 * (reading it through; the read position is rewound). Owned by the body;
 * the caller may read and seek it but must not close it. -1 with errno.
 */
int mail_body_fd(struct mail_body *b);

#endif
