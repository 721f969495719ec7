/*
 * sig: the types of one parsed signature, shared by the parser that makes
 * them (sigdb), the translator of body signatures (ndb), the lookup of
 * hash signatures (hashset), and ClamAV's target types, which the engine
 * matches against what filetype says an object is. Types only: who owns a
 * signature is the sigdb's business (sigdb.h).
 */
#ifndef PC_SIG_H
#define PC_SIG_H

#include <stdint.h>

/* Bit (1u << ClamAV target) for body signature target types (filetype.h lists them). */
#define TARGET_BIT(t) (1u << (t))

enum hash_type { HASH_MD5 = 0, HASH_SHA1, HASH_SHA256, HASH_NTYPES };

/* Offset kinds of a body signature (ClamAV .ndb field 3). */
enum ndb_offset_kind {
	NDB_OFF_ANY = 0, /* "*" */
	NDB_OFF_ABS,     /* "n" or "n,m": start in [n, n+m] */
	NDB_OFF_EOF,     /* "EOF-n" or "EOF-n,m": start in [size-n, size-n+m] */
};

struct ndb_sig {
	char *name;
	unsigned target; /* ClamAV target type, 0 = any */
	enum ndb_offset_kind off_kind;
	uint64_t off_min, off_span; /* start in [off_min, off_min + off_span] */
	char *hexsig;               /* the body signature as written */
	char *origin;               /* "file:line", for messages */
};

struct hash_sig {
	enum hash_type type;
	uint8_t digest[32];
	uint64_t size; /* exact size, unless size_any */
	int size_any;  /* "*" in .hsb */
	char *name;
};

#endif
