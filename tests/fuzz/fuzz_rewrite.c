/*
 * libFuzzer target for policy/rewrite: the input is a message. Every part
 * mailwalk finds in it is stripped in turn; when rewrite_parts accepts, the
 * output must parse again with the same number of MIME parts, the part
 * must now be text/plain (a uu block: gone from its text part), and the
 * bytes before the first changed byte must be the input's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/notify.h"
#include "mail/rewrite.h"
#include "scan/mailwalk.h"
#include "util/log.h"
#include "util/tmpfd.h"

#define FZ_MAX_PARTS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_parts {
	char id[FZ_MAX_PARTS][64];
	char ctype[FZ_MAX_PARTS][64];
	int is_uu[FZ_MAX_PARTS];
	unsigned n, total;
};

static int
fz_cb(void *arg, const struct mail_part *p, struct mail_body *body)
{
	struct fz_parts *f = arg;

	(void)body;
	f->total++;
	if (f->n < FZ_MAX_PARTS) {
		snprintf(f->id[f->n], sizeof(f->id[0]), "%s", p->id);
		snprintf(f->ctype[f->n], sizeof(f->ctype[0]), "%s", p->content_type);
		f->is_uu[f->n] = p->is_uu;
		f->n++;
	}
	return 0;
}

static void
fz_walk(int fd, struct fz_parts *f)
{
	struct mailwalk_limits lim = {64, 8, 1 << 20};
	struct scan_verdict v;

	memset(f, 0, sizeof(*f));
	verdict_init(&v);
	lseek(fd, 0, SEEK_SET);
	mailwalk_fd(fd, "fuzz", &lim, NULL, fz_cb, f, &v);
	verdict_clear(&v);
}

static unsigned
fz_leaves(const struct fz_parts *f)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->n; i++)
		n += !f->is_uu[i];
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct notify_templates *tpl;
	struct fz_parts in, out;
	int ifd;

	if (tpl == NULL) {
		char *err = NULL;

		log_init("fuzz", 0, LOG_LVL_ERR);
		tpl = notify_templates_load(NULL, &err);
	}
	ifd = tmpfd_open(NULL);
	if (ifd < 0 || write(ifd, data, size) != (ssize_t)size)
		abort();
	fz_walk(ifd, &in);
	for (unsigned i = 0; i < in.n && in.total <= 64; i++) {
		struct rewrite_target t = {in.id[i], "Fuzz.Virus"};
		struct rewrite_result res;
		int ofd = tmpfd_open(NULL);
		off_t olen;
		char *ob;

		if (ofd < 0)
			abort();
		if (rewrite_parts(ifd, size, &t, 1, REWRITE_STRIP, tpl, NULL, "X-F: 1\r\n", ofd,
		                  &res) == 0) {
			olen = lseek(ofd, 0, SEEK_END);
			if (olen < 0 || (uint64_t)olen != res.bytes_out)
				abort();
			ob = malloc((size_t)olen + 1);
			if (pread(ofd, ob, (size_t)olen, 0) != olen)
				abort();
			fz_walk(ofd, &out);
			if (out.total <= FZ_MAX_PARTS && in.total <= FZ_MAX_PARTS &&
			    fz_leaves(&out) != fz_leaves(&in))
				abort();
			for (unsigned k = 0; k < out.n && !in.is_uu[i]; k++)
				if (strcmp(out.id[k], in.id[i]) == 0 && !out.is_uu[k] &&
				    strcmp(out.ctype[k], "text/plain") != 0)
					abort();
			free(ob);
		}
		close(ofd);
	}
	close(ifd);
	return 0;
}
