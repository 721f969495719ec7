/*
 * omsg: the signed messages between a signature provider and its gateways
 * (alert, update, all-clear, receipt): their encoding, their Ed25519
 * signatures, and their validation. Pure apart from OpenSSL and jansson: no
 * state, no I/O but reading key files. The gateway (src/outbreak/) and the
 * provider (src/provider/, later) link this one module; there is no second
 * copy of the format.
 *
 * Wire form, an envelope (JSON object):
 *
 *   {"payload":   "<base64 of the document's bytes>",
 *    "signature": "<base64 of the 64-byte Ed25519 signature over those bytes>"}
 *
 * The signature covers the payload bytes exactly as sent, so no JSON
 * canonicalisation is needed. The document is a JSON object:
 *
 *   common:   "type": "alert"|"update"|"allclear"|"receipt",
 *             "provider": name (1..64 of [A-Za-z0-9._-]),
 *             "id": message ID (1..64 of [A-Za-z0-9._-]),
 *             "seq": integer >= 1 (the provider's counter, over all types),
 *             "issued": Unix seconds, "expires": Unix seconds (optional for
 *             update and allclear; required for alert; > issued)
 *   alert:    "viruses": [virus IDs awaited] (1..64 names, each 1..128 printable
 *             ASCII without space), "mode": "hold"|"hold_attachments"|"hash",
 *             "sha256": [64-hex strings] (required, 1..4096, for hash; optional
 *             otherwise), "scope": {"direction": "inbound"|"outbound"|"both",
 *             "protocols": ["smtp","ftp"] (non-empty subset)},
 *             "name": optional text for notices (<= 200 bytes, printable UTF-8)
 *   update:   "viruses": [virus IDs carried] (0..4096), "files": [ {"name":
 *             "x.ndb" (1..64 of [A-Za-z0-9._-], no leading '.', extension one of
 *             ndb hdb hsb sha256), "sha256": hex of the file's bytes, and either
 *             "data": base64 of the bytes, or "url": http(s) URL } ] (1..64 files)
 *   allclear: "alert": the alert ID it ends
 *   receipt:  "gateway": gateway ID, "message": the acknowledged message ID,
 *             "message_seq": its seq, "time": Unix seconds,
 *             "state": "sealed"|"open", "detail": optional text
 *             (a receipt carries "provider" = the provider it answers and seq = 0
 *             is allowed for receipts only)
 */
#ifndef PC_OMSG_H
#define PC_OMSG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

/* Limits of a document (the envelope may be at most OMSG_MAX_ENVELOPE). */
#define OMSG_MAX_ENVELOPE (64u << 20)
#define OMSG_ID_MAX 64
#define OMSG_VIRUS_MAX 128

enum omsg_type { OMSG_ALERT = 1, OMSG_UPDATE, OMSG_ALLCLEAR, OMSG_RECEIPT };
enum omsg_mode { OMODE_HOLD = 1, OMODE_HOLD_ATTACHMENTS, OMODE_HASH };
/* scope bits */
#define OSCOPE_INBOUND 1u
#define OSCOPE_OUTBOUND 2u
#define OSCOPE_SMTP 1u
#define OSCOPE_FTP 2u

struct omsg_file {
	char *name; /* validated as above: safe as a file name */
	uint8_t sha256[32];
	unsigned char *data; /* decoded bytes (NULL when url is set) */
	size_t len;
	char *url; /* NULL when data is set */
};

/* A validated document; every string owned, freed by omsg_clear(). */
struct omsg {
	enum omsg_type type;
	char *provider, *id;
	uint64_t seq;
	int64_t issued, expires; /* expires 0: none */
	/* alert and update */
	char **viruses;
	size_t nviruses;
	/* alert */
	enum omsg_mode mode;
	uint8_t (*sha256)[32];
	size_t nsha256;
	unsigned scope_dir;   /* OSCOPE_INBOUND | OSCOPE_OUTBOUND */
	unsigned scope_proto; /* OSCOPE_SMTP | OSCOPE_FTP */
	char *name;           /* may be NULL */
	/* update */
	struct omsg_file *files;
	size_t nfiles;
	/* allclear */
	char *alert;
	/* receipt */
	char *gateway, *message, *state, *detail; /* detail may be NULL */
	uint64_t message_seq;
	int64_t time;
	/* the document's bytes as signed (NUL-terminated), and their SHA-256 */
	char *payload;
	size_t payload_len;
	uint8_t digest[32];
};

/* A set of public keys (key rotation: any of them may sign). */
struct okeyring {
	EVP_PKEY **keys;
	size_t n;
};

/*
 * Parses one public key given as text: 64 hex digits (the 32 raw bytes), a
 * PEM block ("-----BEGIN PUBLIC KEY-----"), or a path to a file holding
 * either. Appends it to kr. 0, or -1 with *err (allocated).
 */
int okeyring_add(struct okeyring *kr, const char *text_or_path, char **err);
void okeyring_free(struct okeyring *kr);

/*
 * Verifies and parses an envelope: the signature must verify with one of
 * kr's keys, the document must be well-formed with every field in its
 * limits, and it must not have expired at now (expires <= now). Replay
 * (seq) is the caller's check. 0 with *out filled, or -1 with *reason set
 * to an allocated one-line reason ("bad signature", "expired at ...",
 * "field seq: missing", ...); *out is then cleared. out->digest is the
 * SHA-256 of the payload.
 */
int omsg_open(const struct okeyring *kr, const char *env, size_t len, time_t now, struct omsg *out,
              char **reason);
/* Same without a signature check (for portcullis-ctl show and tests). */
int omsg_parse_payload(const char *payload, size_t len, time_t now, struct omsg *out,
                       char **reason);
void omsg_clear(struct omsg *m);

/*
 * Signs payload bytes with key and returns the envelope JSON (allocated,
 * NUL-terminated), or NULL with *err.
 */
char *omsg_seal(EVP_PKEY *key, const char *payload, size_t len, char **err);

/*
 * Builds and signs a receipt document for message m. state: "sealed" or
 * "open". Returns the envelope (allocated) or NULL with *err.
 */
char *omsg_receipt(EVP_PKEY *key, const char *gateway, const struct omsg *m, time_t now,
                   const char *state, const char *detail, char **err);

/* Reads a private Ed25519 key (PEM, PKCS#8). NULL with *err. */
EVP_PKEY *okey_load_private(const char *path, char **err);
/*
 * Makes a key pair: the private key as PEM at priv_path (mode 0600, O_EXCL),
 * the public key as PEM at pub_path (0644). Writes the public key's 64 hex
 * digits into hex_out. 0, or -1 with *err.
 */
int okey_generate(const char *priv_path, const char *pub_path, char hex_out[65], char **err);
/* The 64 hex digits of a public key (or a private key's public half). */
int okey_public_hex(EVP_PKEY *key, char hex_out[65]);

const char *omsg_type_name(enum omsg_type t); /* "alert", ... */
const char *omsg_mode_name(enum omsg_mode m); /* "hold", ... */

#endif
