/*
 * ex_sis: the SIS reader and the SIS extractor (see ex_sis.h). Layout
 * after Alexander Thoukydides' "SIS file format" notes: little-endian
 * header with the counts and pointers, file records of types 0 (simple)
 * and 1 (one file per language), option and condition records in the
 * same list. Every pointer and length is checked against the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scan/ex_sis.h"
#include "scan/exout.h"
#include "scan/extract.h"

#define SIS_UID3 0x10000419u
#define SIS_UID2_R3 0x1000006du /* EPOC release 3, 4, 5 */
#define SIS_UID2_R6 0x10003a12u /* release 6 adds original sizes and MIME types */
#define SIS_HEAD 68             /* up to and including the component name pointer */
#define SIS_OPT_NOCOMPRESS 0x0008
#define SIS_MAX_LANGS 256 /* languages per record we accept (ISO codes fit) */

enum sis_record {
	SIS_REC_FILE = 0,
	SIS_REC_MULTILANG = 1,
	SIS_REC_OPTIONS = 2,
	SIS_REC_IF = 3,
	SIS_REC_ELSEIF = 4,
	SIS_REC_ELSE = 5,
	SIS_REC_ENDIF = 6,
};

static uint32_t
rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t
rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* True if [off, off + len) lies within n bytes. */
static int
in_buf(size_t n, uint64_t off, uint64_t len)
{
	return off <= n && len <= n - off;
}

/*
 * The destination name's last element (after '\' or ':') as ASCII: UTF-16LE
 * when unicode, else 8-bit; other characters become '?'.
 */
static void
sis_name(const unsigned char *s, size_t len, int unicode, char *out, size_t outsz)
{
	size_t w = unicode ? 2 : 1, o = 0;

	for (size_t i = 0; i + w <= len; i += w) {
		unsigned c = unicode ? rd16(s + i) : s[i];

		if (c == '\\' || c == ':' || c == '/') {
			o = 0;
			continue;
		}
		if (o + 1 < outsz)
			out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

int
sis_parse(const unsigned char *b, size_t n, sis_file_cb cb, void *arg, char *err, size_t errlen)
{
	uint32_t uid2, nlangs, nrec, opts;
	uint64_t p;
	int r6, unicode;

	if (n < SIS_HEAD || rd32(b + 8) != SIS_UID3)
		FAIL("not a SIS file");
	uid2 = rd32(b + 4);
	if (uid2 != SIS_UID2_R3 && uid2 != SIS_UID2_R6)
		FAIL("unknown SIS release 0x%08x", (unsigned)uid2);
	r6 = uid2 == SIS_UID2_R6;
	nlangs = rd16(b + 18);
	nrec = rd16(b + 20);
	opts = rd16(b + 36);
	unicode = opts & 1;
	p = rd32(b + 52);
	if (nlangs == 0 || nlangs > SIS_MAX_LANGS)
		FAIL("%u languages", (unsigned)nlangs);

	for (uint32_t i = 0; i < nrec; i++) {
		uint32_t type, nlen;
		struct sis_file f;

		if (!in_buf(n, p, 4))
			FAIL("record %u beyond the end", (unsigned)i);
		type = rd32(b + p);
		switch (type) {
		case SIS_REC_FILE:
		case SIS_REC_MULTILANG: {
			uint32_t copies = type == SIS_REC_FILE ? 1 : nlangs;
			uint64_t lens = p + 28, ptrs = lens + 4ull * copies,
			         origs = ptrs + 4ull * copies;
			uint64_t end = origs + (r6 ? 4ull * copies + 8 : 0);

			if (!in_buf(n, p, end - p))
				FAIL("file record %u cut short", (unsigned)i);
			memset(&f, 0, sizeof(f));
			nlen = rd32(b + p + 20);
			if (!in_buf(n, rd32(b + p + 24), nlen))
				FAIL("file record %u: name beyond the end", (unsigned)i);
			sis_name(b + rd32(b + p + 24), nlen, unicode, f.name, sizeof(f.name));
			for (uint32_t c = 0; c < copies; c++) {
				uint32_t len = rd32(b + lens + 4ull * c),
				         ptr = rd32(b + ptrs + 4ull * c);

				if (len == 0)
					continue;
				if (!in_buf(n, ptr, len))
					FAIL("file record %u: data beyond the end", (unsigned)i);
				f.data = b + ptr;
				f.len = len;
				f.compressed = !(opts & SIS_OPT_NOCOMPRESS);
				f.orig_len = r6 ? rd32(b + origs + 4ull * c) : 0;
				if (cb(arg, &f) < 0)
					return 1;
			}
			p = end;
			break;
		}
		case SIS_REC_OPTIONS: {
			uint32_t nopt;

			if (!in_buf(n, p, 8))
				FAIL("options record %u cut short", (unsigned)i);
			nopt = rd32(b + p + 4);
			p += 8 + 8ull * nopt * nlangs + 16;
			break;
		}
		case SIS_REC_IF:
		case SIS_REC_ELSEIF:
			if (!in_buf(n, p, 8))
				FAIL("condition record %u cut short", (unsigned)i);
			p += 8ull + rd32(b + p + 4);
			break;
		case SIS_REC_ELSE:
		case SIS_REC_ENDIF:
			p += 4;
			break;
		default:
			FAIL("record %u of unknown type %u", (unsigned)i, (unsigned)type);
		}
	}
	return 0;
}

#undef FAIL

struct sis_walk {
	struct extract_ctx *x;
	uint64_t size, done; /* container bytes; decoded so far (ratio) */
};

/* Inflates (or copies) one file into a bounded child and hands it on. */
static int
sis_child(void *arg, const struct sis_file *f)
{
	struct sis_walk *sw = arg;
	struct extract_ctx *x = sw->x;
	unsigned ratio = extract_max_ratio(x);
	struct exout o;

	if (f->compressed && ratio && f->orig_len + sw->done > sw->size * ratio) {
		extract_note(x, SCAN_LIMIT, LIMIT_RATIO, f->name,
		             "sis: stated size %llu over %u times the container's %llu bytes",
		             (unsigned long long)f->orig_len, ratio, (unsigned long long)sw->size);
		return -1;
	}
	if (exout_open(&o, x, f->orig_len ? f->orig_len : f->len) < 0)
		return -1;
	if (!f->compressed)
		exout_write(&o, f->data, f->len);
	else if (exout_inflate(&o, f->data, f->len) < 0)
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, f->name, "sis: bad compressed data");
	sw->done += o.len;
	return exout_finish(&o, x, f->name);
}

void
extract_sis(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	struct sis_walk sw = {x, size, 0};
	struct exmap m;
	char err[128];

	if (exmap_open(&m, x, fd, off, size, 0, "sis") < 0)
		return;
	if (sis_parse(m.p, (size_t)size, sis_child, &sw, err, sizeof(err)) < 0)
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "sis: %s", err);
	exmap_close(&m);
}
