/*
 * cvd: .cvd/.cld container -> members handed to a sink. Owns the header
 * format, the MD5 check, the archive walk and its limits; the formats of
 * the members are the sink's (sigdb.c).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "scan/cvd.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define CVD_READ_CHUNK (64 * 1024)

int
cvd_parse_header(const uint8_t *data, size_t len, struct cvd_header *h)
{
	char buf[CVD_HEADER_SIZE + 1], *f[10], *p, *e;
	size_t n = 0;

	memset(h, 0, sizeof(*h));
	if (len < CVD_HEADER_SIZE || memcmp(data, "ClamAV-VDB:", 11) != 0)
		return -1;
	memcpy(buf, data, CVD_HEADER_SIZE);
	buf[CVD_HEADER_SIZE] = '\0';
	for (e = buf + strlen(buf); e > buf && (e[-1] == ' ' || e[-1] == '\n'); e--)
		e[-1] = '\0';
	for (p = buf; n < 10; p = e + 1) {
		f[n++] = p;
		if ((e = strchr(p, ':')) == NULL)
			break;
		*e = '\0';
	}
	/* ClamAV-VDB, time, version, sigs, flevel, md5, dsig, builder, stime */
	if (n < 6)
		return -1;
	for (int i = 2; i <= 4; i++) {
		if (f[i][0] == '\0' || strlen(f[i]) > 9)
			return -1;
		for (p = f[i]; *p; p++)
			if (!isdigit((unsigned char)*p))
				return -1;
	}
	snprintf(h->time, sizeof(h->time), "%s", f[1]);
	h->version = (unsigned)strtoul(f[2], NULL, 10);
	h->sigs = (unsigned)strtoul(f[3], NULL, 10);
	h->flevel = (unsigned)strtoul(f[4], NULL, 10);
	snprintf(h->md5, sizeof(h->md5), "%s", f[5]);
	if (n > 7)
		snprintf(h->builder, sizeof(h->builder), "%s", f[7]);
	return 0;
}

/* Lower-case extension of a member's base name; "" if none. */
static const char *
member_ext(const char *base, char *out, size_t outlen)
{
	const char *dot = strrchr(base, '.');
	size_t i;

	out[0] = '\0';
	if (dot == NULL || dot == base || strlen(dot + 1) >= outlen)
		return out;
	for (i = 0; dot[1 + i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)dot[1 + i]);
	out[i] = '\0';
	return out;
}

static int
cvd_check_md5(const char *name, const struct cvd_header *h, const uint8_t *body, size_t len)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (EVP_Digest(body, len, md, &mdlen, EVP_md5(), NULL) != 1) {
		log_warnx("cvd: %s: cannot compute MD5", name);
		return -1;
	}
	hex_encode(md, mdlen, hex);
	if (strcasecmp(hex, h->md5) != 0) {
		log_warnx("cvd: %s: MD5 mismatch (header %.32s, content %s): not loaded", name,
		          h->md5, hex);
		return -1;
	}
	return 0;
}

int
cvd_load(const char *name, const uint8_t *data, size_t len, int is_cld, const struct cvd_sink *sink)
{
	struct cvd_header h;
	struct archive *a;
	struct archive_entry *ent;
	uint64_t unpacked = 0;
	size_t members = 0, loaded = 0;
	char *buf;
	int r, rc = 0;

	if (cvd_parse_header(data, len, &h) != 0) {
		log_warnx("cvd: %s: not a ClamAV database (bad header)", name);
		return -1;
	}
	if (!is_cld && cvd_check_md5(name, &h, data + CVD_HEADER_SIZE, len - CVD_HEADER_SIZE) != 0)
		return -1;
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_none(a);
	archive_read_support_format_tar(a);
	if (len == CVD_HEADER_SIZE ||
	    archive_read_open_memory(a, data + CVD_HEADER_SIZE, len - CVD_HEADER_SIZE) !=
	        ARCHIVE_OK) {
		log_warnx("cvd: %s: cannot open archive: %s", name,
		          len == CVD_HEADER_SIZE ? "empty" : archive_error_string(a));
		archive_read_free(a);
		return -1;
	}
	buf = xmalloc(CVD_READ_CHUNK);
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(ent), *base;
		void *m;
		char ext[16], *origin;
		la_ssize_t n;

		if (++members > CVD_MAX_MEMBERS) {
			log_warnx("cvd: %s: more than %d members, rest ignored", name,
			          CVD_MAX_MEMBERS);
			rc = -1;
			break;
		}
		if (path == NULL || archive_entry_filetype(ent) != AE_IFREG)
			continue;
		base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		if (strcmp(base, "COPYING") == 0) {
			log_debug("cvd: %s/%s: licence text, skipped", name, base);
			continue;
		}
		origin = xasprintf("%s/%s", name, base);
		m = sink->begin(sink->arg, origin, member_ext(base, ext, sizeof(ext)));
		while ((n = archive_read_data(a, buf, CVD_READ_CHUNK)) > 0) {
			unpacked += (uint64_t)n;
			if (unpacked > CVD_MAX_UNPACKED)
				break;
			sink->feed(m, buf, (size_t)n);
		}
		loaded += sink->end(m);
		free(origin);
		if (unpacked > CVD_MAX_UNPACKED) {
			log_warnx("cvd: %s: unpacks to more than %llu bytes, rest ignored", name,
			          (unsigned long long)CVD_MAX_UNPACKED);
			rc = -1;
			break;
		}
		if (n < 0) {
			log_warnx("cvd: %s/%s: %s", name, base, archive_error_string(a));
			rc = -1;
			break;
		}
	}
	if (rc == 0 && r != ARCHIVE_EOF) {
		log_warnx("cvd: %s: %s", name, archive_error_string(a));
		rc = -1;
	}
	free(buf);
	archive_read_free(a);
	log_info("cvd: %s version=%u sigs=%u flevel=%u built=\"%s\" members=%zu loaded=%zu%s", name,
	         h.version, h.sigs, h.flevel, h.time, members, loaded, rc ? " damaged" : "");
	return rc;
}

int
cvd_load_file(const char *path, const struct cvd_sink *sink)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct stat st;
	void *map;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("cvd: %s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < CVD_HEADER_SIZE) {
		log_warnx("cvd: %s: not a ClamAV database (too short)", path);
		close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		log_warn("cvd: %s: mmap", path);
		return -1;
	}
	rc = cvd_load(base, map, (size_t)st.st_size, str_endswith_ci(path, ".cld"), sink);
	munmap(map, (size_t)st.st_size);
	return rc;
}

int
cvd_file_version(const char *path, unsigned *version)
{
	uint8_t hdr[CVD_HEADER_SIZE];
	struct cvd_header h;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n != (ssize_t)sizeof(hdr) || cvd_parse_header(hdr, sizeof(hdr), &h) != 0)
		return -1;
	*version = h.version;
	return 0;
}
