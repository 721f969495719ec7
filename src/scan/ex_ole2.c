/*
 * ex_ole2: the streams of an OLE2 compound document (Office 97 files,
 * MSI, ...), read with libgsf's MSOLE reader over a read-only mapping of
 * the object. Each stream goes to the walker as a child named by its
 * storage path ("Macros/VBA/Module1"), so that what lives in streams (VBA
 * macros, embedded objects, the document itself) is scanned on its own.
 * A package (Ole10Native) stream also gives the file packaged in it, and
 * a PowerPoint document stream the OLE objects embedded in it,
 * which PowerPoint stores zlib-compressed inside its records. Leaves the
 * OLE2 sector chains, and their loops, to libgsf.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsf/gsf-infile-msole.h>
#include <gsf/gsf-infile.h>
#include <gsf/gsf-input-memory.h>
#include <gsf/gsf-input.h>
#include <gsf/gsf-utils.h>

#include "scan/exout.h"
#include "scan/extract.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"

#define OLE2_MAX_NEST 32 /* storages inside storages; libgsf allows more */
#define PPT_STREAM "PowerPoint Document"
#define PPT_EXOLEOBJSTG 0x1011 /* [MS-PPT] 2.10.34: an embedded OLE object's storage */
#define PPT_CONTAINER 0xf      /* recVer of a record that holds records */
#define PPT_MAX_OBJECTS 1024
#define OLE10_STREAM "\1Ole10Native"
#define OLE10_HEAD 8192 /* the most of a package header we read */
#define OLE2_CHUNK 65536

static pthread_once_t gsf_once = PTHREAD_ONCE_INIT;

static void
ole2_init(void)
{
	gsf_init();
}

/*
 * The embedded OLE objects of a PowerPoint document stream held in the
 * first len bytes of fd: [MS-PPT] records (recVer:4 recInstance:12,
 * recType:16, recLen:32), containers opened in place; an ExOleObjStg of
 * recInstance 1 holds its decompressed size and a zlib stream. Each
 * object (itself an OLE2 file) is a child "PowerPoint Document/#n".
 * Returns -1 when the walk must stop.
 */
static int
ppt_objects(struct extract_ctx *x, int fd, uint64_t len, const char *path)
{
	uint64_t p = 0;
	unsigned n = 0;

	while (len - p >= 8 && n < PPT_MAX_OBJECTS) {
		unsigned char h[8];
		unsigned ver, inst, type;
		uint32_t rlen;

		if (pread(fd, h, sizeof(h), (off_t)p) != (ssize_t)sizeof(h))
			return 0;
		ver = h[0] & 0xf;
		inst = (unsigned)(h[0] >> 4 | h[1] << 4);
		type = (unsigned)(h[2] | h[3] << 8);
		rlen = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		       (uint32_t)h[7] << 24;
		if (ver == PPT_CONTAINER) {
			p += 8;
			continue;
		}
		if (rlen > len - p - 8) {
			extract_note(x, SCAN_CORRUPT, LIMIT_NONE, path,
			             "ppt: record beyond the stream");
			return 0;
		}
		if (type == PPT_EXOLEOBJSTG && inst == 1 && rlen > 4) {
			unsigned char *z = malloc(rlen - 4);
			char *name = xasprintf("%s/#%u", path, ++n);
			struct exout o;
			int r = 0;

			if (z == NULL ||
			    pread(fd, z, rlen - 4, (off_t)(p + 12)) != (ssize_t)(rlen - 4)) {
				extract_note(x, SCAN_ERROR, LIMIT_NONE, name,
				             "ppt: cannot read the object");
			} else if (exout_open(&o, x, TMPFD_SIZE_UNKNOWN) == 0) {
				if (exout_inflate(&o, z, rlen - 4) < 0)
					extract_note(x, SCAN_CORRUPT, LIMIT_NONE, name,
					             "ppt: bad compressed object");
				r = exout_finish(&o, x, name);
			}
			free(z);
			free(name);
			if (r < 0)
				return -1;
		}
		p += 8 + (uint64_t)rlen;
	}
	return 0;
}

/*
 * The file packaged in an "\1Ole10Native" stream held in the first len
 * bytes of fd (an object inserted as a package): a u32 size, u16 flags,
 * the label and the source path (NUL-terminated), two u16, a u32-counted
 * temporary path, then the u32-counted data. The data is a child named by
 * the label. Returns -1 when the walk must stop.
 */
static int
ole10native(struct extract_ctx *x, int fd, uint64_t len, const char *path)
{
	unsigned char h[OLE10_HEAD];
	size_t n, p = 6, label;
	uint32_t tl, dl;
	char *name;
	int r;

	if (len < 6)
		return 0;
	n = (size_t)(len < sizeof(h) ? len : sizeof(h));
	if (pread(fd, h, n, 0) != (ssize_t)n)
		return 0;
	label = p;
	for (int s = 0; s < 2; s++) { /* the label, the source path */
		const unsigned char *z = memchr(h + p, '\0', n - p);

		if (z == NULL)
			goto bad;
		p = (size_t)(z - h) + 1;
	}
	if (n - p < 8)
		goto bad;
	tl = (uint32_t)h[p + 4] | (uint32_t)h[p + 5] << 8 | (uint32_t)h[p + 6] << 16 |
	     (uint32_t)h[p + 7] << 24;
	if (tl > n - p - 8 || n - p - 8 - tl < 4)
		goto bad;
	p += 8 + tl;
	dl = (uint32_t)h[p] | (uint32_t)h[p + 1] << 8 | (uint32_t)h[p + 2] << 16 |
	     (uint32_t)h[p + 3] << 24;
	p += 4;
	if (dl > len - p)
		goto bad;
	name = xasprintf("%s/%s", path, (const char *)h + label);
	r = extract_child_fd(x, name, fd, p, dl);
	free(name);
	return r;
bad:
	extract_note(x, SCAN_CORRUPT, LIMIT_NONE, path, "ole2: bad Ole10Native header");
	return 0;
}

/* Copies one stream into a bounded file and hands it on. Returns -1: stop. */
static int
ole2_stream(struct extract_ctx *x, GsfInput *in, const char *path)
{
	gsf_off_t left = gsf_input_size(in);
	const char *base;
	struct exout o;

	if (exout_open(&o, x, left < 0 ? 0 : (uint64_t)left) < 0)
		return -1;
	while (left > 0) {
		size_t n = left > OLE2_CHUNK ? OLE2_CHUNK : (size_t)left;
		const guint8 *b = gsf_input_read(in, n, NULL);

		if (b == NULL) {
			extract_note(x, SCAN_CORRUPT, LIMIT_NONE, path, "ole2: stream cut short");
			break;
		}
		if (exout_write(&o, b, n) < 0)
			break;
		left -= (gsf_off_t)n;
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!o.failed &&
	    ((strcmp(base, PPT_STREAM) == 0 && ppt_objects(x, o.fd, o.len, path) < 0) ||
	     (strcmp(base, OLE10_STREAM) == 0 && ole10native(x, o.fd, o.len, path) < 0))) {
		exout_close(&o);
		return -1;
	}
	return exout_finish(&o, x, path);
}

/* Walks one storage: its streams, then the storages in it. -1: stop. */
static int
ole2_storage(struct extract_ctx *x, GsfInfile *dir, const char *prefix, unsigned nest)
{
	int n = gsf_infile_num_children(dir);

	for (int i = 0; i < n; i++) {
		const char *nm = gsf_infile_name_by_index(dir, i);
		GsfInput *in = gsf_infile_child_by_index(dir, i);
		char *path;
		int r = 0;

		path = prefix ? xasprintf("%s/%s", prefix, nm ? nm : "") : xstrdup(nm ? nm : "");
		if (in == NULL) {
			extract_note(x, SCAN_CORRUPT, LIMIT_NONE, path, "ole2: unreadable entry");
		} else if (GSF_IS_INFILE(in) && gsf_infile_num_children(GSF_INFILE(in)) >= 0) {
			if (nest >= OLE2_MAX_NEST)
				extract_note(x, SCAN_CORRUPT, LIMIT_NONE, path,
				             "ole2: storages nested over %d deep", OLE2_MAX_NEST);
			else
				r = ole2_storage(x, GSF_INFILE(in), path, nest + 1);
		} else {
			r = ole2_stream(x, in, path);
		}
		if (in)
			g_object_unref(in);
		free(path);
		if (r < 0 || extract_stopped(x))
			return -1;
	}
	return 0;
}

void
extract_ole2(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	GError *err = NULL;
	GsfInput *src;
	GsfInfile *ole;
	struct exmap m;

	if (exmap_open(&m, x, fd, off, size, 0, "ole2") < 0)
		return;
	pthread_once(&gsf_once, ole2_init);
	src = gsf_input_memory_new(m.p, (gsf_off_t)size, FALSE);
	ole = src ? gsf_infile_msole_new(src, &err) : NULL;
	if (ole == NULL) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "ole2: %s",
		             err && err->message ? err->message : "not a compound document");
	} else {
		ole2_storage(x, ole, NULL, 0);
		g_object_unref(ole);
	}
	if (err)
		g_error_free(err);
	if (src)
		g_object_unref(src);
	exmap_close(&m);
}
