/*
 * cpass: scrypt password lines for the console (cpass.h): encoding,
 * checking, and the file that holds one.
 */
#include "provider/cpass.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/strutil.h"
#include "util/sys.h"
#include "util/xalloc.h"

#define SCRYPT_N (1u << 15)
#define SCRYPT_R 8u
#define SCRYPT_P 1u
#define SALT_LEN 16
#define HASH_LEN 32
#define MAX_SALT 64
#define MAX_HASH 64
/* The memory scrypt may use when checking a stored line (128 * N * r * p). */
#define MAX_MEM (256ull << 20)
#define MAX_LINE 512

static int
scrypt(const char *pw, const unsigned char *salt, size_t saltlen, uint64_t n, uint64_t r,
       uint64_t p, unsigned char *out, size_t outlen)
{
	return EVP_PBE_scrypt(pw, strlen(pw), salt, saltlen, n, r, p, 128 * n * r * p + (1u << 20),
	                      out, outlen) == 1
	           ? 0
	           : -1;
}

char *
cpass_hash(const char *pw, char **err)
{
	unsigned char salt[SALT_LEN], h[HASH_LEN];
	char salt_hex[2 * SALT_LEN + 1], h_hex[2 * HASH_LEN + 1];

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		*err = xstrdup("no random bytes for the salt");
		return NULL;
	}
	if (scrypt(pw, salt, sizeof(salt), SCRYPT_N, SCRYPT_R, SCRYPT_P, h, sizeof(h)) < 0) {
		*err = xstrdup("scrypt failed");
		return NULL;
	}
	hex_encode(salt, sizeof(salt), salt_hex);
	salt_hex[2 * SALT_LEN] = '\0';
	hex_encode(h, sizeof(h), h_hex);
	h_hex[2 * HASH_LEN] = '\0';
	OPENSSL_cleanse(h, sizeof(h));
	return xasprintf("scrypt$%u$%u$%u$%s$%s", SCRYPT_N, SCRYPT_R, SCRYPT_P, salt_hex, h_hex);
}

/* A decimal field up to '$'; advances *s past the '$'. */
static int
field_u64(const char **s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (**s < '0' || **s > '9')
		return -1;
	v = strtoull(*s, &end, 10);
	if (errno != 0 || *end != '$' || v == 0 || v > max)
		return -1;
	*out = v;
	*s = end + 1;
	return 0;
}

/* A hex field up to '$' or the end into out (at most cap bytes). */
static int
field_hex(const char **s, unsigned char *out, size_t cap, size_t *len)
{
	const char *end = strchr(*s, '$');
	size_t n = end ? (size_t)(end - *s) : strlen(*s);

	if (n == 0 || n % 2 != 0 || n / 2 > cap || hex_decode(*s, n / 2, out) < 0)
		return -1;
	*len = n / 2;
	*s += n + (end ? 1 : 0);
	return 0;
}

int
cpass_verify(const char *line, const char *pw, char **err)
{
	unsigned char salt[MAX_SALT], want[MAX_HASH], got[MAX_HASH];
	uint64_t n, r, p;
	size_t saltlen, hlen;
	const char *s = line;
	int ok;

	if (strncmp(s, "scrypt$", 7) != 0)
		goto bad;
	s += 7;
	if (field_u64(&s, 1u << 24, &n) < 0 || (n & (n - 1)) != 0 || n < 2 ||
	    field_u64(&s, 64, &r) < 0 || field_u64(&s, 64, &p) < 0 || 128 * n * r * p > MAX_MEM ||
	    field_hex(&s, salt, sizeof(salt), &saltlen) < 0 || strchr(s, '$') != NULL ||
	    field_hex(&s, want, sizeof(want), &hlen) < 0 || *s != '\0' || hlen < 16)
		goto bad;
	if (scrypt(pw, salt, saltlen, n, r, p, got, hlen) < 0) {
		*err = xstrdup("scrypt failed");
		return -1;
	}
	ok = CRYPTO_memcmp(got, want, hlen) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
bad:
	*err = xstrdup("the console password file is not a scrypt$N$r$p$salt$hash line");
	return -1;
}

int
cpass_store(const char *state_dir, const char *line, char **err)
{
	char *data = xasprintf("%s\n", line);
	int rc = write_file_atomic(state_dir, CPASS_FILE, data, strlen(data), 0600, err);

	free(data);
	return rc;
}

int
cpass_load(const char *state_dir, char **line, char **err)
{
	char *path = xasprintf("%s/%s", state_dir, CPASS_FILE), buf[MAX_LINE + 2];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		int e = errno;

		if (e == ENOENT) {
			free(path);
			return 1;
		}
		*err = xasprintf("%s: %s", path, strerror(e));
		free(path);
		return -1;
	}
	n = pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n < 0 || (size_t)n > MAX_LINE) {
		*err = xasprintf("%s: unreadable or longer than %d bytes", path, MAX_LINE);
		free(path);
		return -1;
	}
	free(path);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*line = xstrdup(buf);
	return 0;
}
