/*
 * ex_tnef: the attachments of a TNEF stream (winmail.dat,
 * application/ms-tnef), read with libytnef. Each attachment goes to the
 * walker as a child named by its long file name (MAPI), or its TNEF
 * title. We check the attribute framing first: libytnef allocates every
 * attribute's stated length before it reads it, so a length beyond the
 * object is refused here (corrupt) and never becomes an allocation.
 * libytnef prints to stdout about damage; portcullis-scan keeps its own
 * results on another stream for that reason.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h> /* ytnef.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <ytnef.h>

#include "scan/exout.h"
#include "scan/extract.h"

#define TNEF_SIGNATURE 0x223e9f78u
#define TNEF_HEAD 6   /* signature, key */
#define TNEF_FRAME 11 /* level, id, length, then data, then a 16-bit checksum */

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Walks the attribute frames of b[0..n): 0 if each fits in the object
 * (trailing bytes shorter than a frame are allowed), -1 otherwise. Sets
 * each frame's checksum to the sum of its data: libytnef stops at a wrong
 * one, and a checksum protects against nothing an attacker does (clam.tnef
 * has wrong ones, and ClamAV does not check them).
 */
static int
tnef_frames_fix(unsigned char *b, size_t n)
{
	size_t p = TNEF_HEAD;

	if (n < TNEF_HEAD || le32(b) != TNEF_SIGNATURE)
		return -1;
	while (n - p >= 9) {
		uint32_t len = le32(b + p + 5);

		uint16_t sum = 0;

		if (len == 0 || (uint64_t)len + TNEF_FRAME > n - p)
			return -1;
		for (size_t i = 0; i < len; i++)
			sum = (uint16_t)(sum + b[p + 9 + i]);
		b[p + 9 + len] = (unsigned char)(sum & 0xff);
		b[p + 10 + len] = (unsigned char)(sum >> 8);
		p += TNEF_FRAME + len;
	}
	return 0;
}

/* The attachment's name: the MAPI long file name, else the TNEF title. */
static const char *
tnef_name(Attachment *a)
{
	variableLength *v =
	    MAPIFindProperty(&a->MAPI, PROP_TAG(PT_STRING8, PR_ATTACH_LONG_FILENAME));

	if (v != MAPI_UNDEFINED && v->size > 0 && memchr(v->data, '\0', (size_t)v->size))
		return (const char *)v->data;
	if (a->Title.size > 0 && memchr(a->Title.data, '\0', (size_t)a->Title.size))
		return (const char *)a->Title.data;
	return NULL;
}

/* Hands every attachment of a parsed stream on. */
static void
tnef_children(struct extract_ctx *x, TNEFStruct *t)
{
	for (Attachment *a = t->starting_attach.next; a; a = a->next) {
		const char *name = tnef_name(a);
		variableLength *v;
		const BYTE *data = NULL;
		size_t len = 0;

		if (a->FileData.size > 0) {
			data = a->FileData.data;
			len = (size_t)a->FileData.size;
		} else if ((v = MAPIFindProperty(&a->MAPI,
		                                 PROP_TAG(PT_BINARY, PR_ATTACH_DATA_OBJ))) !=
		               MAPI_UNDEFINED &&
		           v->size > 0) {
			data = v->data;
			len = (size_t)v->size;
		} else if ((v = MAPIFindProperty(&a->MAPI,
		                                 PROP_TAG(PT_OBJECT, PR_ATTACH_DATA_OBJ))) !=
		               MAPI_UNDEFINED &&
		           v->size > 16) {
			/* An embedded object: its interface GUID, then its bytes. */
			data = v->data + 16;
			len = (size_t)v->size - 16;
		}
		if (data == NULL)
			continue;
		if (extract_child_mem(x, name, data, len) < 0)
			return;
	}
}

void
extract_tnef(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	TNEFStruct t;
	struct exmap m;
	int r;

	if (size > LONG_MAX) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "tnef: too large");
		return;
	}
	/* Writable but private: libytnef's pointers are not const. */
	if (exmap_open(&m, x, fd, off, size, 1, "tnef") < 0)
		return;
	if (tnef_frames_fix(m.p, (size_t)size) < 0) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL,
		             "tnef: bad signature or attribute beyond the end");
		exmap_close(&m);
		return;
	}
	TNEFInitialize(&t);
	t.Debug = 0;
	r = TNEFParseMemory(m.p, (long)size, &t);
	/* What was parsed before damage is still handed on. */
	tnef_children(x, &t);
	if (r < 0)
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL,
		             "tnef: damaged stream (libytnef %d)", r);
	TNEFFree(&t);
	exmap_close(&m);
}
