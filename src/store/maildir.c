/*
 * maildir: writes one message into a Maildir (tmp/ -> fsync -> new/ ->
 * fsync new/). Owns the unique file name: SECONDS.PID_TID_RANDOM.HOST with
 * '/' and ':' in the host name escaped as \057 and \072, as the Maildir
 * convention asks. Leaves the message bytes and any added headers to the
 * caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/maildir.h"
#include "util/log.h"

#define MAILDIR_NAME_MAX 256
#define MAILDIR_MAX_TRIES 8

/* Writes the host name, escaped for a Maildir file name, into out. */
static void
maildir_host(char *out, size_t cap)
{
	char host[128];
	size_t o = 0;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p && o + 5 < cap; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '/' || c == ':' || c < 0x21 || c > 0x7e || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\%03o", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int
maildir_deliver(const char *maildir, int fd, uint64_t size, const char *prepend, char *name_out,
                size_t cap, int *err_class)
{
	static const char *const sub[] = {"tmp", "new", "cur"};
	char host[160], rnd[17], name[MAILDIR_NAME_MAX];
	char tmp[MAILDIR_NAME_MAX + 8], dst[MAILDIR_NAME_MAX + 8];
	int mdfd = -1, rc = 1, cls = STORE_ERR_IO;
	const char *step = "open";

	if (cap > 0)
		name_out[0] = '\0';
	if (storeio_mkdirs_at(AT_FDCWD, maildir, 0700) < 0 ||
	    (mdfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto fail;
	step = "mkdir";
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (storeio_mkdirs_at(mdfd, sub[i], 0700) < 0)
			goto fail;

	maildir_host(host, sizeof(host));
	step = "write";
	for (int tries = 0; tries < MAILDIR_MAX_TRIES && rc == 1; tries++) {
		if (storeio_random_hex(rnd, 8) < 0)
			goto fail;
		snprintf(name, sizeof(name), "%lld.%d_%d_%s.%s", (long long)time(NULL),
		         (int)getpid(), (int)gettid(), rnd, host);
		snprintf(tmp, sizeof(tmp), "tmp/%s", name);
		snprintf(dst, sizeof(dst), "new/%s", name);
		rc = storeio_write_new_at(mdfd, tmp, fd, size, prepend);
	}
	if (rc != 0) {
		if (rc == 1)
			errno = EEXIST;
		goto fail;
	}
	step = "rename";
	if (renameat2(mdfd, tmp, mdfd, dst, RENAME_NOREPLACE) < 0 &&
	    (errno != EINVAL || renameat(mdfd, tmp, mdfd, dst) < 0)) {
		int saved = errno;

		unlinkat(mdfd, tmp, 0);
		errno = saved;
		goto fail;
	}
	step = "fsync";
	if (storeio_fsync_dir_at(mdfd, "new") < 0) {
		int saved = errno;

		/* Not durable: take it back rather than claim delivery. */
		unlinkat(mdfd, dst, 0);
		errno = saved;
		goto fail;
	}
	close(mdfd);
	if (cap > strlen(name))
		memcpy(name_out, name, strlen(name) + 1);
	if (err_class != NULL)
		*err_class = STORE_OK;
	return 0;
fail:
	cls = storeio_class(errno);
	log_warn("maildir: %s: %s (%s)", maildir, step, storeio_err_name(cls));
	if (mdfd >= 0)
		close(mdfd);
	if (err_class != NULL)
		*err_class = cls;
	return -1;
}
