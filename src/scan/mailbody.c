/*
 * mailbody: reading a part's decoded content without a copy on disk. A
 * region body decodes its raw bytes straight into the reader's buffer,
 * from the mapped message in place or pread in chunks of MB_RAW; a file
 * body is a pread window. Owns
 * the raw buffer (base64 only), the temporary file of mail_body_fd, and the fd when told
 * to; borrows the message's fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan/b64dec.h"
#include "scan/mailbody.h"
#include "util/sys.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"

#define MB_RAW (64 * 1024) /* raw bytes per pread */

struct mail_body {
	int fd;
	const unsigned char *map; /* region: the message mapped from 0, or NULL */
	int own;
	int region; /* 0: fd holds the decoded bytes at 0 */
	enum mail_body_enc enc;
	uint64_t off, len; /* region: where the raw bytes are */
	uint64_t size;     /* decoded, after the cut */
	int cut;
	uint64_t pos;     /* decoded bytes handed out */
	uint64_t raw_pos; /* region: raw bytes decoded so far */
	struct b64dec dec;
	unsigned char pend[3]; /* decoded but not yet handed out (tiny reads) */
	unsigned npend;
	unsigned char *raw; /* MB_RAW, for base64 read with pread */
	const char *tmpdir;
	int spool; /* mail_body_fd's temporary file, or -1 */
};

struct mail_body *
mail_body_new_fd(int fd, uint64_t size, int own)
{
	struct mail_body *b = xcalloc(1, sizeof(*b));

	b->fd = fd;
	b->own = own;
	b->size = size;
	b->spool = -1;
	return b;
}

/* Reads the region once to count what its base64 decodes to. */
static int
count_base64(struct mail_body *b, uint64_t *out)
{
	struct b64dec c;
	uint64_t done = 0;

	b64dec_init(&c);
	if (b->map) {
		b64dec_count(&c, b->map + b->off, (size_t)b->len);
		done = b->len;
	}
	while (done < b->len) {
		size_t want = b->len - done < MB_RAW ? (size_t)(b->len - done) : MB_RAW;
		ssize_t n = pread_full(b->fd, b->raw, want, b->off + done);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		b64dec_count(&c, b->raw, (size_t)n);
		done += (uint64_t)n;
	}
	*out = b64dec_count_size(&c);
	return 0;
}

struct mail_body *
mail_body_new_region(int fd, const void *map, uint64_t off, uint64_t len, enum mail_body_enc enc,
                     uint64_t max, const char *tmpdir)
{
	struct mail_body *b = xcalloc(1, sizeof(*b));
	uint64_t full = len;

	b->fd = fd;
	b->map = map;
	b->region = 1;
	b->enc = enc;
	b->off = off;
	b->len = len;
	b->tmpdir = tmpdir;
	b->spool = -1;
	if (enc == MAIL_BODY_BASE64 && map == NULL)
		b->raw = xmalloc(MB_RAW);
	b64dec_init(&b->dec);
	if (enc == MAIL_BODY_BASE64 && count_base64(b, &full) < 0) {
		int saved = errno;

		mail_body_free(b);
		errno = saved;
		return NULL;
	}
	b->size = full;
	if (max && full > max) {
		b->size = max;
		b->cut = 1;
	}
	return b;
}

void
mail_body_free(struct mail_body *b)
{
	if (b == NULL)
		return;
	if (b->own && b->fd >= 0)
		close(b->fd);
	if (b->spool >= 0)
		close(b->spool);
	free(b->raw);
	free(b);
}

uint64_t
mail_body_size(const struct mail_body *b)
{
	return b->size;
}

int
mail_body_cut(const struct mail_body *b)
{
	return b->cut;
}

/*
 * Decodes the next raw bytes into buf (len >= 3): at most len bytes, 0 when
 * the raw region is used up. Reads at most len / 3 * 4 raw bytes, which
 * cannot decode to more than len even with an incomplete group carried in.
 */
static ssize_t
read_base64(struct mail_body *b, unsigned char *buf, size_t len)
{
	for (;;) {
		size_t want = len / 3 * 4;
		ssize_t n;
		size_t got;

		if (b->raw_pos >= b->len)
			return (ssize_t)b64dec_finish(&b->dec, buf); /* 0 the second time */
		if (want > MB_RAW)
			want = MB_RAW;
		if (want > b->len - b->raw_pos)
			want = (size_t)(b->len - b->raw_pos);
		if (b->map) {
			/* In place: no copy of the raw bytes. */
			got = b64dec_step(&b->dec, b->map + b->off + b->raw_pos, want, buf);
			b->raw_pos += want;
			if (got > 0)
				return (ssize_t)got;
			continue;
		}
		n = pread_full(b->fd, b->raw, want, b->off + b->raw_pos);
		if (n < 0)
			return -1;
		if (n == 0) {
			b->raw_pos = b->len; /* the file shrank: what we have is all */
			return (ssize_t)b64dec_finish(&b->dec, buf);
		}
		b->raw_pos += (uint64_t)n;
		got = b64dec_step(&b->dec, b->raw, (size_t)n, buf);
		if (got > 0)
			return (ssize_t)got;
	}
}

ssize_t
mail_body_read(struct mail_body *b, void *buf, size_t len)
{
	unsigned char *o = buf;
	ssize_t n;

	size_t want = len;

	if (b->pos >= b->size || len == 0)
		return 0;
	if (len > b->size - b->pos)
		len = (size_t)(b->size - b->pos);
	if (b->npend > 0) {
		n = (ssize_t)(len < b->npend ? len : b->npend);
		memcpy(o, b->pend, (size_t)n);
		memmove(b->pend, b->pend + n, b->npend - (size_t)n);
		b->npend -= (unsigned)n;
	} else if (!b->region) {
		n = pread(b->fd, o, len, (off_t)b->pos);
	} else if (b->enc == MAIL_BODY_IDENTITY && b->map) {
		memcpy(o, b->map + b->off + b->pos, len);
		n = (ssize_t)len;
	} else if (b->enc == MAIL_BODY_IDENTITY) {
		n = pread(b->fd, o, len, (off_t)(b->off + b->pos));
	} else if (want >= 3) {
		/* Decode as much as buf holds; past the cut is dropped. */
		n = read_base64(b, o, want);
		if (n > (ssize_t)len)
			n = (ssize_t)len;
	} else {
		/* A read smaller than a group: decode one into pend first. */
		n = read_base64(b, b->pend, sizeof(b->pend));
		if (n > 0) {
			b->npend = (unsigned)n;
			return mail_body_read(b, buf, len);
		}
	}
	if (n > 0)
		b->pos += (uint64_t)n;
	return n;
}

int
mail_body_rewind(struct mail_body *b)
{
	b->pos = 0;
	b->raw_pos = 0;
	b->npend = 0;
	b64dec_init(&b->dec);
	return 0;
}

int
mail_body_fd(struct mail_body *b)
{
	unsigned char *buf;
	int fd, saved;

	mail_body_rewind(b);
	if (!b->region)
		return lseek(b->fd, 0, SEEK_SET) < 0 ? -1 : b->fd;
	if (b->spool >= 0)
		return lseek(b->spool, 0, SEEK_SET) < 0 ? -1 : b->spool;
	fd = tmpfd_open_for(b->tmpdir, b->size);
	if (fd < 0)
		return -1;
	buf = xmalloc(MB_RAW);
	for (;;) {
		ssize_t n = mail_body_read(b, buf, MB_RAW);

		if (n == 0)
			break;
		if (n < 0 || write_all(fd, buf, (size_t)n) < 0)
			goto fail;
	}
	free(buf);
	mail_body_rewind(b);
	if (lseek(fd, 0, SEEK_SET) < 0)
		goto fail_nobuf;
	b->spool = fd;
	return fd;
fail:
	free(buf);
fail_nobuf:
	saved = errno;
	close(fd);
	mail_body_rewind(b);
	errno = saved;
	return -1;
}
