/*
 * cpass: the console's password (portcullis-provider passwd, the console's
 * login): one line `scrypt$N$r$p$SALT_HEX$HASH_HEX` in
 * STATE_DIR/console.passwd (0600, replaced atomically). OpenSSL's scrypt
 * (EVP_PBE_scrypt), N=2^15, r=8, p=1, a random 16-byte salt, a 32-byte
 * hash; checked with CRYPTO_memcmp. Slow on purpose (tens of ms).
 */
#ifndef PC_CPASS_H
#define PC_CPASS_H

#define CPASS_FILE "console.passwd"
#define CPASS_MIN_LEN 8
#define CPASS_MAX_LEN 1024

/* The encoded line for password pw (allocated, no newline). NULL with *err. */
char *cpass_hash(const char *pw, char **err);

/* 1 if pw matches the encoded line, 0 if not, -1 with *err if line is bad. */
int cpass_verify(const char *line, const char *pw, char **err);

/* Writes line to STATE_DIR/console.passwd (0600, atomically). 0, or -1 with *err. */
int cpass_store(const char *state_dir, const char *line, char **err);

/*
 * Reads STATE_DIR/console.passwd into *line (allocated, newline removed).
 * 0; 1 if there is no such file; -1 with *err.
 */
int cpass_load(const char *state_dir, char **line, char **err);

#endif
