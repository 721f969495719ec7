/*
 * tls: builds SSL_CTX objects. Owns nothing after returning them; the
 * caller frees with SSL_CTX_free().
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/tls.h"
#include "util/log.h"
#include "util/xalloc.h"

static char *
tls_error(const char *what, const char *path)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	return xasprintf("%s %s: %s", what, path, buf);
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, char **err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		fatalx("tls: cannot create context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A peer that closes without close_notify has simply gone (SMTP has
	 * its own end of data): report EOF, not an error. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*err = tls_error("cannot load certificate", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		*err = tls_error("cannot load key", key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*err = tls_error("key does not match certificate", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *
tls_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		fatalx("tls: cannot create context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

const char *
tls_describe(SSL *ssl, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return buf;
}
