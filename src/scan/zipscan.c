/*
 * zipscan: walks a zip's local headers (APPNOTE 4.3.7) from the start of
 * the region to the central directory, resynchronising on the next local
 * header signature after bytes that are none. Owns nothing beyond one
 * call: the headers it reads, the compressed bytes of a deflate64 or
 * implode member (held in memory, at most scan.max_file_size), and the
 * temporary file a decoded member goes to. The walker (extract.h) types,
 * scans and limits the members; the decoders are zlib, inflate64.c and
 * explode.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "scan/explode.h"
#include "scan/inflate64.h"
#include "scan/zipscan.h"
#include "util/sys.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"

#define ZIP_LOCAL 0x04034b50u
#define ZIP_CENTRAL 0x02014b50u
#define ZIP_END 0x06054b50u
#define ZIP_END64 0x06064b50u
#define ZIP_LOC64 0x07064b50u
#define ZIP_EXTRA_DATA 0x08064b50u
#define ZIP_DIGSIG 0x05054b50u
#define ZIP_DESC 0x08074b50u

#define ZIP_NAME_MAX 65535 /* the field is 16 bits: names are whole, to match libarchive's */
#define ZIP_BLOCK (64 * 1024)
#define ZIP_RATIO_FLOOR (1024 * 1024) /* as WALK_RATIO_FLOOR */

#define ZF_ENCRYPTED 0x0001
#define ZF_DESCRIPTOR 0x0008

enum { ZM_STORED = 0, ZM_IMPLODE = 6, ZM_DEFLATE = 8, ZM_DEFLATE64 = 9 };

struct zip_local {
	uint64_t at;    /* the header's offset in the region */
	uint64_t data;  /* its data's offset */
	uint64_t csize; /* compressed size (ZIP_UNKNOWN with a descriptor) */
	uint64_t usize; /* uncompressed size, or ZIP_UNKNOWN */
	unsigned flags, method;
	char name[ZIP_NAME_MAX + 1];
};

#define ZIP_UNKNOWN UINT64_MAX

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

void
zip_seen_add(struct zip_seen *s, const char *name)
{
	if (name == NULL)
		return;
	s->names = xgrow(s->names, &s->cap, s->n + 1, sizeof(*s->names));
	s->names[s->n++] = xstrdup(name);
}

void
zip_seen_clear(struct zip_seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	memset(s, 0, sizeof(*s));
}

/* Equal names, '\\' and '/' alike (libarchive turns one into the other). */
static int
same_name(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !((*a == '/' || *a == '\\') && (*b == '/' || *b == '\\')))
			return 0;
	return *a == *b;
}

/* Takes name out of seen if it is there: libarchive handed that member on. */
static int
seen_take(struct zip_seen *s, const char *name)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->names[i] && same_name(s->names[i], name)) {
			free(s->names[i]);
			s->names[i] = NULL;
			return 1;
		}
	return 0;
}

int
zip_method_is_ours(const char *format_name)
{
	return format_name && (strstr(format_name, "(deflation-64-bit)") != NULL ||
	                       strstr(format_name, "(imploded)") != NULL);
}

/* Reads exactly len bytes at off: 0, or -1 (short or failed). */
static int
rd(int fd, uint64_t off, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/*
 * Whether the 30 + n bytes at b (n >= 0 of them after the fixed part) may
 * be a local header: a version a zip tool writes, a known method, a name
 * of sane length without NUL. Keeps resynchronisation from taking a
 * chance "PK\3\4" inside compressed data for a member.
 */
static int
local_plausible(const unsigned char *b, size_t n)
{
	unsigned method = le16(b + 8), nlen = le16(b + 26);

	if (le32(b) != ZIP_LOCAL || (le16(b + 4) & 0xff) > 63)
		return 0;
	if (!(method <= 9 || method == 12 || method == 14 || method == 18 || method == 19 ||
	      method == 93 || method == 95 || method == 96 || method == 97 || method == 98 ||
	      method == 99))
		return 0;
	if (nlen == 0 || nlen > 1024)
		return 0;
	if (n >= (size_t)nlen && memchr(b + ZIP_LOCAL_HEADER_SIZE, 0, nlen) != NULL)
		return 0;
	return 1;
}

size_t
zip_find_embedded(const unsigned char *b, size_t n)
{
	const unsigned char *p = b + 1;

	while (n > ZIP_LOCAL_HEADER_SIZE &&
	       (p = memmem(p, n - (size_t)(p - b), "PK\3\4", 4)) != NULL) {
		size_t at = (size_t)(p - b);

		if (at + ZIP_LOCAL_HEADER_SIZE > n)
			break;
		if (local_plausible(p, n - at - ZIP_LOCAL_HEADER_SIZE))
			return at;
		p++;
	}
	return 0;
}

/*
 * Searches [from, end) of the region for the next plausible local header
 * or the central directory: its offset, or end.
 */
static uint64_t
resync(int fd, uint64_t off, uint64_t from, uint64_t end)
{
	unsigned char buf[ZIP_BLOCK + ZIP_LOCAL_HEADER_SIZE + 1024];

	while (from + 4 <= end) {
		size_t want = end - from < sizeof(buf) ? (size_t)(end - from) : sizeof(buf);
		size_t i;

		if (rd(fd, off + from, buf, want) < 0)
			return end;
		for (i = 0; i + 4 <= want; i++) {
			const unsigned char *p;

			p = memchr(buf + i, 'P', want - 3 - i);
			if (p == NULL)
				break;
			i = (size_t)(p - buf);
			if (p[1] != 'K')
				continue;
			if (le32(p) == ZIP_CENTRAL || le32(p) == ZIP_END)
				return from + i;
			if (le32(p) == ZIP_LOCAL &&
			    (i + ZIP_LOCAL_HEADER_SIZE > want ||
			     local_plausible(p, want - i - ZIP_LOCAL_HEADER_SIZE)))
				return from + i;
		}
		if (want < sizeof(buf))
			break;
		from += ZIP_BLOCK; /* the overlap holds a header cut by the block end */
	}
	return end;
}

/* Reads the local header at `at`: 0, or -1 if it is none or cut. */
static int
read_local(int fd, uint64_t off, uint64_t size, uint64_t at, struct zip_local *z)
{
	unsigned char h[ZIP_LOCAL_HEADER_SIZE];
	unsigned nlen, xlen;
	unsigned char *extra;

	if (size - at < ZIP_LOCAL_HEADER_SIZE || rd(fd, off + at, h, sizeof(h)) < 0 ||
	    le32(h) != ZIP_LOCAL)
		return -1;
	memset(z, 0, sizeof(*z));
	z->at = at;
	z->flags = le16(h + 6);
	z->method = le16(h + 8);
	z->csize = le32(h + 18);
	z->usize = le32(h + 22);
	nlen = le16(h + 26);
	xlen = le16(h + 28);
	if (size - at - ZIP_LOCAL_HEADER_SIZE < (uint64_t)nlen + xlen)
		return -1;
	if (rd(fd, off + at + ZIP_LOCAL_HEADER_SIZE, z->name,
	       nlen < ZIP_NAME_MAX ? nlen : ZIP_NAME_MAX) < 0)
		return -1;
	z->name[nlen < ZIP_NAME_MAX ? nlen : ZIP_NAME_MAX] = '\0';
	/* Zip64 sizes (APPNOTE 4.5.3): usize then csize, each only if maxed out. */
	extra = xmalloc(xlen + 1);
	if (rd(fd, off + at + ZIP_LOCAL_HEADER_SIZE + nlen, extra, xlen) == 0) {
		for (unsigned i = 0; i + 4 <= xlen;) {
			unsigned id = le16(extra + i), len = le16(extra + i + 2), k = i + 4;

			if (i + 4 + len > xlen)
				break;
			if (id == 0x0001) {
				if (z->usize == 0xffffffffu && k + 8 <= i + 4 + len) {
					z->usize = le64(extra + k);
					k += 8;
				}
				if (z->csize == 0xffffffffu && k + 8 <= i + 4 + len)
					z->csize = le64(extra + k);
			}
			i += 4 + len;
		}
	}
	free(extra);
	z->data = at + ZIP_LOCAL_HEADER_SIZE + nlen + xlen;
	if ((z->flags & ZF_DESCRIPTOR) && z->csize == 0) {
		z->csize = ZIP_UNKNOWN;
		if (z->usize == 0)
			z->usize = ZIP_UNKNOWN;
	}
	return 0;
}

/*
 * A stored member with a data descriptor: its size is where a descriptor
 * ("PK\7\x08", crc, csize with csize = the bytes so far) follows, else up
 * to the next header. Returns the data's length.
 */
static uint64_t
stored_length(int fd, uint64_t off, uint64_t size, const struct zip_local *z)
{
	unsigned char buf[ZIP_BLOCK + 16];
	uint64_t from = z->data;

	while (from < size) {
		size_t want = size - from < sizeof(buf) ? (size_t)(size - from) : sizeof(buf);

		if (rd(fd, off + from, buf, want) < 0)
			break;
		for (size_t i = 0; i + 16 <= want; i++)
			if (buf[i] == 'P' && le32(buf + i) == ZIP_DESC &&
			    le32(buf + i + 8) == from + i - z->data)
				return from + i - z->data;
		if (want < sizeof(buf))
			break;
		from += ZIP_BLOCK;
	}
	return resync(fd, off, z->data, size) - z->data;
}

/* Where a decoder's output goes: a temporary file, under the limits. */
struct zip_out {
	struct extract_ctx *x;
	int fd;
	uint64_t n, max, packed;
	unsigned ratio;
	enum scan_limit cut;
	int err;
};

/* zdec_out: appends to the temporary file; -1 once a limit is reached. */
static int
out_write(void *arg, const unsigned char *buf, size_t len)
{
	struct zip_out *o = arg;

	if (o->max && o->n + len > o->max) {
		len = (size_t)(o->max - o->n);
		o->cut = LIMIT_FILE_SIZE;
	}
	if (len && write_all(o->fd, buf, len) < 0) {
		o->err = errno;
		return -1;
	}
	o->n += len;
	if (o->cut == LIMIT_NONE && o->ratio && o->n >= ZIP_RATIO_FLOOR &&
	    o->n / (o->packed ? o->packed : 1) > o->ratio)
		o->cut = LIMIT_RATIO;
	if (o->cut == LIMIT_NONE && extract_stopped(o->x))
		return -1;
	return o->cut == LIMIT_NONE ? 0 : -1;
}

/*
 * Inflates a deflate member with zlib, streaming from the file. Sets
 * *used to the compressed bytes consumed. Returns ZDEC_*.
 */
static int
inflate_zlib(int fd, uint64_t off, uint64_t data, uint64_t avail, struct zip_out *o, uint64_t *used)
{
	unsigned char *in = xmalloc(ZIP_BLOCK), *out = xmalloc(ZIP_BLOCK);
	uint64_t pos = 0;
	z_stream zs;
	int r = Z_OK, res = ZDEC_TRUNCATED;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
		free(in);
		free(out);
		*used = 0;
		return ZDEC_BAD;
	}
	while (r != Z_STREAM_END) {
		if (zs.avail_in == 0) {
			size_t want = avail - pos < ZIP_BLOCK ? (size_t)(avail - pos) : ZIP_BLOCK;

			if (want == 0 || rd(fd, off + data + pos, in, want) < 0)
				break;
			zs.next_in = in;
			zs.avail_in = (uInt)want;
			pos += want;
		}
		zs.next_out = out;
		zs.avail_out = ZIP_BLOCK;
		r = inflate(&zs, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			res = ZDEC_BAD;
			break;
		}
		if (zs.avail_out < ZIP_BLOCK && out_write(o, out, ZIP_BLOCK - zs.avail_out) < 0) {
			res = ZDEC_STOPPED;
			break;
		}
		if (r == Z_STREAM_END)
			res = ZDEC_OK;
	}
	*used = pos - zs.avail_in;
	inflateEnd(&zs);
	free(in);
	free(out);
	return res;
}

/*
 * Decodes one member to a temporary file and hands it to the walker.
 * Sets *used to the compressed bytes the decoder consumed (for members
 * whose size only a descriptor gives). Returns -1 when the walk stops.
 */
static int
decode_member(struct extract_ctx *x, int fd, uint64_t off, uint64_t size, const struct zip_local *z,
              uint64_t *used)
{
	struct zip_out o;
	uint64_t avail =
	    z->csize == ZIP_UNKNOWN || z->csize > size - z->data ? size - z->data : z->csize;
	int r, stop;

	memset(&o, 0, sizeof(o));
	o.x = x;
	o.max = extract_max_child(x);
	o.ratio = extract_max_ratio(x);
	o.packed = avail;
	o.fd = tmpfd_open_for(extract_tmpdir(x),
	                      z->usize == ZIP_UNKNOWN ? TMPFD_SIZE_UNKNOWN : z->usize);
	*used = avail;
	if (o.fd < 0) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, z->name, "temporary file: %s",
		             strerror(errno));
		return -1;
	}
	if (z->method == ZM_DEFLATE) {
		r = inflate_zlib(fd, off, z->data, avail, &o, used);
	} else {
		uint64_t max = extract_max_child(x);
		unsigned char *in;
		size_t consumed = 0;

		/* These decoders read from memory: the packed bytes, bounded. */
		if (max && avail > max) {
			extract_note(x, SCAN_LIMIT, LIMIT_FILE_SIZE, z->name,
			             "packed member too large");
			close(o.fd);
			return 0;
		}
		in = xmalloc(avail ? (size_t)avail : 1);
		if (rd(fd, off + z->data, in, (size_t)avail) < 0) {
			r = ZDEC_TRUNCATED;
		} else if (z->method == ZM_DEFLATE64) {
			r = inflate64(in, (size_t)avail, 1, out_write, &o, &consumed);
		} else {
			r = explode(in, (size_t)avail, z->flags, z->usize, out_write, &o,
			            &consumed);
		}
		free(in);
		*used = consumed;
	}
	if (o.err)
		extract_note(x, SCAN_ERROR, LIMIT_NONE, z->name, "temporary file: %s",
		             strerror(o.err));
	else if (o.cut != LIMIT_NONE)
		extract_note(x, SCAN_LIMIT, o.cut, z->name,
		             o.cut == LIMIT_RATIO ? "compression ratio too high"
		                                  : "file too large");
	else if (r == ZDEC_BAD || r == ZDEC_TRUNCATED)
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, z->name, "zip method %u: %s data",
		             z->method, r == ZDEC_BAD ? "bad" : "truncated");
	/* What could be decoded is scanned, as the walker does with libarchive's. */
	stop = o.err ? -1 : 0;
	if (!stop && o.n > 0)
		stop = extract_child_fd(x, z->name, o.fd, 0, o.n);
	close(o.fd);
	return stop;
}

/* One member: hands it on (or notes why not). Returns -1 when the walk stops. */
static int
member(struct extract_ctx *x, int fd, uint64_t off, uint64_t size, struct zip_local *z,
       struct zip_seen *seen, uint64_t *next)
{
	uint64_t used = 0, len;
	int known = z->csize != ZIP_UNKNOWN;

	if (known && z->csize > size - z->data) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, z->name, "zip member cut short");
		z->csize = size - z->data;
	}
	/* A directory: nothing to scan. */
	if (z->name[0] && z->name[strlen(z->name) - 1] == '/' && known && z->csize == 0) {
		*next = z->data;
		return 0;
	}
	if (seen_take(seen, z->name)) {
		/* libarchive's: only its end is needed. */
		*next = known ? z->data + z->csize : resync(fd, off, z->data, size);
		return 0;
	}
	if (z->flags & ZF_ENCRYPTED) {
		extract_note(x, SCAN_ENCRYPTED, LIMIT_NONE, z->name, "encrypted member");
		*next = known ? z->data + z->csize : resync(fd, off, z->data, size);
		return 0;
	}
	switch (z->method) {
	case ZM_STORED:
		len = known ? z->csize : stored_length(fd, off, size, z);
		*next = z->data + len;
		return extract_child_fd(x, z->name, fd, off + z->data, len);
	case ZM_DEFLATE:
	case ZM_DEFLATE64:
	case ZM_IMPLODE:
		if (decode_member(x, fd, off, size, z, &used) < 0)
			return -1;
		*next = known ? z->data + z->csize : z->data + used;
		return 0;
	default:
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, z->name,
		             "zip method %u: not read (no central directory entry)", z->method);
		*next = known ? z->data + z->csize : resync(fd, off, z->data, size);
		return 0;
	}
}

void
zipscan(struct extract_ctx *x, int fd, uint64_t off, uint64_t size, struct zip_seen *seen)
{
	uint64_t pos = 0;
	struct zip_local *z = xmalloc(sizeof(*z));

	while (pos + 4 <= size && !extract_stopped(x)) {
		unsigned char sig[4];
		uint64_t next = pos;

		if (rd(fd, off + pos, sig, 4) < 0)
			break;
		switch (le32(sig)) {
		case ZIP_LOCAL:
			if (read_local(fd, off, size, pos, z) < 0) {
				extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL,
				             "zip local header cut short at %llu",
				             (unsigned long long)pos);
				pos = size;
				break;
			}
			if (member(x, fd, off, size, z, seen, &next) < 0) {
				free(z);
				return;
			}
			pos = next > pos ? next : pos + 4;
			break;
		case ZIP_DESC:
			pos += 16;
			break;
		case ZIP_CENTRAL:
		case ZIP_END:
		case ZIP_END64:
		case ZIP_LOC64:
		case ZIP_EXTRA_DATA:
		case ZIP_DIGSIG:
			pos = size; /* the members end where the directory starts */
			break;
		default:
			/* A descriptor without signature, or damage: the next header. */
			pos = resync(fd, off, pos + 1, size);
			break;
		}
	}
	free(z);
}
