/*
 * rewrite_copy: the input and output of a rewrite. Reads the spooled
 * message with pread (exact ranges; the file offset is GMime's), converts
 * the caller's header lines to the message's line ends, and writes the
 * copy: headers, then the gaps between the edits copied byte for byte and
 * each edit's new bytes. Also rewrite_add_headers(), which is that copy
 * with no edit. Owns nothing beyond a call.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/rewrite.h"
#include "mail/rewrite_int.h"
#include "util/log.h"
#include "util/sys.h"
#include "util/xalloc.h"

int
rw_read_at(int fd, void *buf, size_t len, int64_t off)
{
	return pread_full(fd, buf, len, (uint64_t)off) == (ssize_t)len ? 0 : -1;
}

char *
rw_read_range(int fd, int64_t off, size_t len)
{
	char *s = xmalloc(len + 1);

	if (rw_read_at(fd, s, len, off) < 0) {
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

const char *
rw_message_eol(int fd, uint64_t size)
{
	char buf[4096];
	size_t want = size < sizeof(buf) ? (size_t)size : sizeof(buf);
	char *nl;

	if (want == 0 || rw_read_at(fd, buf, want, 0) < 0)
		return "\r\n";
	nl = memchr(buf, '\n', want);
	if (nl != NULL && (nl == buf || nl[-1] != '\r'))
		return "\n";
	return "\r\n";
}

char *
rw_headers_convert(const char *h, const char *eol, size_t *len)
{
	size_t n = h ? strlen(h) : 0, o = 0, el = strlen(eol);
	char *out;

	*len = 0;
	if (n == 0)
		return xstrdup("");
	if (h[n - 1] != '\n' || h[0] == ' ' || h[0] == '\t' || h[0] == '\r' || h[0] == '\n')
		return NULL;
	out = xmalloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '\r') {
			if (i + 1 >= n || h[i + 1] != '\n')
				goto bad;
			continue;
		}
		if (h[i] == '\n') {
			/* A blank line would end the header block early. */
			if (i + 1 < n && (h[i + 1] == '\n' || h[i + 1] == '\r'))
				goto bad;
			memcpy(out + o, eol, el);
			o += el;
			continue;
		}
		out[o++] = h[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
bad:
	free(out);
	return NULL;
}

int
rewrite_add_headers(int in_fd, uint64_t size, const char *headers, int out_fd)
{
	char *h;
	size_t hl;
	int r;

	h = rw_headers_convert(headers, rw_message_eol(in_fd, size), &hl);
	if (h == NULL) {
		log_warnx("rewrite: malformed header lines to add");
		return -1;
	}
	r = write_all(out_fd, h, hl) < 0 || copy_fd_range(out_fd, in_fd, 0, size) < 0 ? -1 : 0;
	if (r < 0)
		log_warn("rewrite: copy");
	free(h);
	return r;
}

int
rw_write_out(int in_fd, uint64_t size, const struct rw_edit *e, size_t n, const char *h, size_t hl,
             int out_fd, uint64_t *written)
{
	int64_t pos = 0;

	*written = 0;
	if (write_all(out_fd, h, hl) < 0)
		return -1;
	*written += hl;
	for (size_t i = 0; i < n; i++) {
		if (copy_fd_range(out_fd, in_fd, (uint64_t)pos, (uint64_t)(e[i].begin - pos)) < 0 ||
		    write_all(out_fd, e[i].text, e[i].len) < 0)
			return -1;
		*written += (uint64_t)(e[i].begin - pos) + e[i].len;
		pos = e[i].end;
	}
	if (copy_fd_range(out_fd, in_fd, (uint64_t)pos, size - (uint64_t)pos) < 0)
		return -1;
	*written += size - (uint64_t)pos;
	return 0;
}
