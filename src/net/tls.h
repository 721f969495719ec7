/*
 * tls: OpenSSL contexts for both legs. The server context presents the
 * listener's certificate for STARTTLS; the client context is used toward the
 * next hop (opportunistic, as MTAs do between each other: no verification,
 * TLS 1.2 or better).
 */
#ifndef PC_TLS_H
#define PC_TLS_H

#include <openssl/ssl.h>

/* Loads cert and key (PEM). NULL with *err set (caller frees). */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char **err);
/* Never NULL (allocation failure is fatal). */
SSL_CTX *tls_client_ctx(void);
/* "TLSv1.3:TLS_AES_256_GCM_SHA384" for logs; buf returned. */
const char *tls_describe(SSL *ssl, char *buf, size_t cap);

#endif
