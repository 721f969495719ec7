/*
 * libFuzzer target for outbreak/omsg: any bytes as a document payload
 * (omsg_parse_payload: the JSON, every field's type and limits) and as an
 * envelope (omsg_open against a fixed key: base64, the signature check).
 * Whatever is accepted must be cleared without a leak; nothing may crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "outbreak/omsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct okeyring ring;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct omsg m;
	char *reason = NULL, *buf;

	if (ring.n == 0) {
		char *err = NULL;

		if (okeyring_add(&ring,
		                 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		                 &err) < 0)
			abort();
	}
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (omsg_parse_payload(buf, size, 1800000000, &m, &reason) == 0) {
		if (m.type < OMSG_ALERT || m.type > OMSG_RECEIPT || m.id == NULL)
			abort();
		omsg_clear(&m);
	} else
		free(reason);
	reason = NULL;
	if (omsg_open(&ring, buf, size, 1800000000, &m, &reason) == 0)
		abort(); /* nobody holds the private key of RFC 8032's test 1 here */
	free(reason);
	free(buf);
	return 0;
}
