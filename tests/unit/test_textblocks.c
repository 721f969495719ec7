/*
 * Unit tests for scan/textblocks and scan/binhex: a table of texts and the
 * events they must give ("[kind:name]" at a begin, the decoded bytes,
 * "<ok>", "<missing>" or "<damaged>" at an end), each fed whole, byte by
 * byte and in 7-byte chunks, so that line reassembly is tested too; damaged
 * input; the collector's limits; and clam.exe.binhex decoded to clam.exe.
 * The vectors were made with small encoders (yEnc, BinHex) written for the
 * purpose in Python, independent of the decoders.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scan/binhex.h"
#include "scan/textblocks.h"

struct rec {
	char buf[16384];
	size_t len;
	int stop_at_begin;
};

static void
rec_add(struct rec *r, const void *p, size_t n)
{
	assert_true(r->len + n < sizeof(r->buf));
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static int
rec_begin(void *arg, enum tb_kind kind, const char *name)
{
	struct rec *r = arg;
	char tmp[400];
	int n = snprintf(tmp, sizeof(tmp), "[%s:%s]", tb_kind_id(kind), name ? name : "-");

	rec_add(r, tmp, (size_t)n);
	return r->stop_at_begin ? -1 : 0;
}

static int
rec_data(void *arg, const void *buf, size_t len)
{
	rec_add(arg, buf, len);
	return 0;
}

static int
rec_end(void *arg, enum tb_end how)
{
	static const char *const names[] = {"<ok>", "<missing>", "<damaged>"};

	rec_add(arg, names[how], strlen(names[how]));
	return 0;
}

static const struct tb_ops rec_ops = {rec_begin, rec_data, rec_end};

static const struct {
	const char *what;
	const char *in;
	const char *want; /* NULL: "[hqx:h.txt]" ... "<damaged>" */
	size_t wantlen;
} vectors[] = {
    {"yEnc",
     "some text\n"
     "=ybegin line=128 size=13 name=h.txt\n"
     "r\x8f\x96\x96\x99VJ\xa1\x99\x9c\x96\x8eK\n"
     "=yend size=13 crc32=ebe6c6e6\n"
     "after\n"
     "",
     "[yenc:h.txt]Hello, world!<ok>", 29},
    {"yEnc, CRLF",
     "some text\x0d\n"
     "=ybegin line=128 size=13 name=h.txt\x0d\n"
     "r\x8f\x96\x96\x99VJ\xa1\x99\x9c\x96\x8eK\x0d\n"
     "=yend size=13 crc32=ebe6c6e6\x0d\n"
     "",
     "[yenc:h.txt]Hello, world!<ok>", 29},
    {"yEnc, CRC wrong",
     "=ybegin line=128 size=13 name=h.txt\n"
     "r\x8f\x96\x96\x99VJ\xa1\x99\x9c\x96\x8eK\n"
     "=yend size=13 crc32=ebe6c6e7\n"
     "",
     "[yenc:h.txt]Hello, world!<damaged>", 34},
    {"yEnc, no =yend",
     "=ybegin line=128 size=13 name=h.txt\n"
     "r\x8f\x96\x96\x99VJ\xa1\x99\x9c\x96\x8eK\n"
     "",
     "[yenc:h.txt]Hello, world!<missing>", 34},
    {"yEnc, all bytes, =ypart, escapes",
     "=ybegin part=1 line=64 size=256 name=all.bin\n"
     "=ypart begin=1 end=256\n"
     "*+,-./0123456789:;<=}>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\n"
     "ijklmnopqrstuvwxyz{|}~"
     "\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95"
     "\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\n"
     "\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"
     "\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6"
     "\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\n"
     "\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff="
     "@\x01\x02\x03\x04\x05\x06\x07\x08\x09=J\x0b\x0c="
     "M\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\"#$%\n"
     "&'()\n"
     "=yend size=256 part=1 pcrc32=29058c73\n"
     "",
     "[yenc:all.bin]\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\n"
     "\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
     "!\"#$%&'()*+,-./"
     "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
     "\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95"
     "\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac"
     "\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3"
     "\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda"
     "\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1"
     "\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff<ok>",
     274},
    {"BinHex, both forks",
     "mac file:\n"
     "(This file must be converted with BinHex 4.0)\n"
     ":\"@JZG(Kd!&4&@&4dG(Kd!!!!!!!0!!!!!9D$5'9XE'mX)(G[FQaN)AVH8RUh:\n"
     "bye\n"
     "",
     "[hqx:h.txt]Hello, world!<ok>[hqx:h.txt.rsrc]R<ok>", 49},
    {"BinHex, CRC wrong",
     "(This file must be converted with BinHex 4.0)\n"
     ":\"@JZG(Kd!&4&@&4dG(Kd!!!!!!!0!!!!!%DL5'9XE'mX)(G[FQaN)AVI!!!:\n"
     "",
     "[hqx:h.txt]Hello, world!<damaged>", 33},
    {"BinHex, run-length codes",
     "(This file must be converted with BinHex 4.0)\n"
     ":!A)!9%9B9(4dH(3!!!!!!!`!!!!!1P*\"N!U3!&TkkJ!!:\n"
     "",
     "[hqx:r]AAAAAAAAAA\x90Z<ok>", 23},
    {"BinHex, cut short",
     "(This file must be converted with BinHex 4.0)\n"
     ":\"@JZG(Kd!&4&@&4dG(Kd!!!!!!!0!!!!!%DL5'9XE'mX)(G[F\n"
     "",
     NULL, 0},
    {"BinHex, a bad character",
     "(This file must be converted with BinHex 4.0)\n"
     ":\"@JZG(Kd!&4&@&4dG(Kd!!!!!!!0!!!!!%DL5'9XE'm~)(G[FQaN)AVH!!!:\n"
     "",
     NULL, 0},
    {"BinHex line without data",
     "(This file must be converted with BinHex 4.0)\n"
     "not data\n"
     "",
     "", 0},
    {"base64 token in HTML",
     "<a "
     "href=\"data:application/x;base64,CzBVep/"
     "E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW+yBFao+"
     "02f4jSG2St9wBJktwlbrfBClOc5i94gcsUXabwOUKL1R5nsPoDTJXfKHG6xA1Wn+kye4TOF2Cp8zxFjtgharP9Bk+"
     "Y4it0vccQWaLsNX6H0RpjrPY/SJHbJG22wAlSm+Uud4DKE1yl7zhBitQdZq/"
     "5AkuU3idwucMMVZ7oMXqDzRZfqPI7RI3XIGmy/AVOl+Eqc7zGD1ih6zR9htAZYqv1PkeQ2iNstf8IUZrkLXa/"
     "yRJbpO43QInTHGW\">x</a>\n"
     "",
     "[b64-:-]\x0b"
     "0Uz\x9f\xc4\xe9\x0e"
     "3X}\xa2\xc7\xec\x11"
     "6[\x80\xa5\xca\xef\x14"
     "9^\x83\xa8\xcd\xf2\x17<a\x86\xab\xd0\xf5\x1a?d\x89\xae\xd3\xf8\x1d"
     "Bg\x8c\xb1\xd6\xfb "
     "Ej\x8f\xb4\xd9\xfe#Hm\x92\xb7\xdc\x01&Kp\x95\xba\xdf\x04)Ns\x98\xbd\xe2\x07,Qv\x9b\xc0\xe5\n"
     "/Ty\x9e\xc3\xe8\x0d"
     "2W|\xa1\xc6\xeb\x10"
     "5Z\x7f\xa4\xc9\xee\x13"
     "8]\x82\xa7\xcc\xf1\x16;`\x85\xaa\xcf\xf4\x19>c\x88\xad\xd2\xf7\x1c"
     "Af\x8b\xb0\xd5\xfa\x1f"
     "Di\x8e\xb3\xd8\xfd\"Gl\x91\xb6\xdb\x00%Jo\x94\xb9\xde\x03(Mr\x97\xbc\xe1\x06+"
     "Pu\x9a\xbf\xe4\x09.Sx\x9d\xc2\xe7\x0c"
     "1V{\xa0\xc5\xea\x0f"
     "4Y~\xa3\xc8\xed\x12"
     "7\\\x81\xa6\xcb\xf0\x15:_\x84\xa9\xce\xf3\x18=b\x87\xac\xd1\xf6\x1b@e\x8a\xaf\xd4\xf9\x1e"
     "Ch\x8d\xb2\xd7\xfc!Fk\x90\xb5\xda\xff$In\x93\xb8\xdd\x02'Lq\x96<ok>",
     252},
    {"base64 lines after a word",
     "Hi\n"
     "CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW+yBFao+02f4j\n"
     "SG2St9wBJktwlbrfBClOc5i94gcsUXabwOUKL1R5nsPoDTJXfKHG6xA1Wn+kye4TOF2Cp8zxFjtg\n"
     "harP9Bk+Y4it0vccQWaLsNX6H0RpjrPY/SJHbJG22wAlSm+Uud4DKE1yl7zhBitQdZq/5AkuU3id\n"
     "wucMMVZ7oMXqDzRZfqPI7RI3XIGmy/AVOl+Eqc7zGD1ih6zR9htAZYqv1PkeQ2iNstf8IUZrkLXa\n"
     "/yRJbpO43QInTHGW\n"
     "\n"
     "bye\n"
     "",
     "[b64-:-]\x0b"
     "0Uz\x9f\xc4\xe9\x0e"
     "3X}\xa2\xc7\xec\x11"
     "6[\x80\xa5\xca\xef\x14"
     "9^\x83\xa8\xcd\xf2\x17<a\x86\xab\xd0\xf5\x1a?d\x89\xae\xd3\xf8\x1d"
     "Bg\x8c\xb1\xd6\xfb "
     "Ej\x8f\xb4\xd9\xfe#Hm\x92\xb7\xdc\x01&Kp\x95\xba\xdf\x04)Ns\x98\xbd\xe2\x07,Qv\x9b\xc0\xe5\n"
     "/Ty\x9e\xc3\xe8\x0d"
     "2W|\xa1\xc6\xeb\x10"
     "5Z\x7f\xa4\xc9\xee\x13"
     "8]\x82\xa7\xcc\xf1\x16;`\x85\xaa\xcf\xf4\x19>c\x88\xad\xd2\xf7\x1c"
     "Af\x8b\xb0\xd5\xfa\x1f"
     "Di\x8e\xb3\xd8\xfd\"Gl\x91\xb6\xdb\x00%Jo\x94\xb9\xde\x03(Mr\x97\xbc\xe1\x06+"
     "Pu\x9a\xbf\xe4\x09.Sx\x9d\xc2\xe7\x0c"
     "1V{\xa0\xc5\xea\x0f"
     "4Y~\xa3\xc8\xed\x12"
     "7\\\x81\xa6\xcb\xf0\x15:_\x84\xa9\xce\xf3\x18=b\x87\xac\xd1\xf6\x1b@e\x8a\xaf\xd4\xf9\x1e"
     "Ch\x8d\xb2\xd7\xfc!Fk\x90\xb5\xda\xff$In\x93\xb8\xdd\x02'Lq\x96<ok>",
     252},
    {"base64 run too short",
     "x "
     "CzBVep/"
     "E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW+yBFao+"
     "02f4jSG2St9wBJktwlbrfBClOc5i94gcsUXabwOUKL1R5nsPoDTJXfKHG6xA1Wn+kye4TOF2Cp8zxFjtgharP9Bk+"
     "Y4it0vccQWaLsNX6H0RpjrPY/SJHbJG22wAlSm+U y\n"
     "",
     "", 0},
    {"embedded MIME entity",
     "text\n"
     "--b 1\n"
     "Content-Type: text/plain\n"
     "\n"
     "hi\n"
     "--b 1--\n"
     "",
     "[mime:-]MIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"b 1\"\n"
     "\n"
     "--b 1\n"
     "Content-Type: text/plain\n"
     "\n"
     "hi\n"
     "--b 1--\n"
     "<ok>",
     120},
    {"boundary with a quote",
     "--a\"b\\\n"
     "content-type: text/plain\n"
     "\n"
     "x\n"
     "",
     "[mime:-]MIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"a\\\"b\\\\\"\n"
     "\n"
     "--a\"b\\\n"
     "content-type: text/plain\n"
     "\n"
     "x\n"
     "<ok>",
     115},
    {"signature dashes are no boundary",
     "-- \n"
     "John\n"
     "--\n"
     "Content: none\n"
     "",
     "", 0},
    {"uu",
     "text\n"
     "begin 644 a.txt\n"
     "-2&5L;&\\L('=O<FQD(0``\n"
     "`\n"
     "end\n"
     "",
     "[uu:a.txt]Hello, world!<ok>", 27},
};

/* Feeds in (len bytes) in chunks of step (0: whole) and records the events. */
static void
run(const struct tb_options *o, const char *in, size_t len, size_t step, struct rec *r)
{
	struct textblocks *tb = tb_new(o, &rec_ops, r);

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < len;) {
		size_t n = step == 0 || len - i < step ? len - i : step;

		assert_int_equal(tb_push(tb, in + i, n), 0);
		i += n;
	}
	assert_int_equal(tb_finish(tb), 0);
	tb_free(tb);
}

static void
test_vectors(void **state)
{
	static const size_t steps[] = {0, 1, 7};
	struct rec *r = malloc(sizeof(*r));
	(void)state;

	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			run(NULL, vectors[v].in, strlen(vectors[v].in), steps[s], r);
			if (vectors[v].want == NULL) {
				if (r->len < 20 || memcmp(r->buf, "[hqx:h.txt]", 11) != 0 ||
				    memcmp(r->buf + r->len - 9, "<damaged>", 9) != 0)
					fail_msg("%s (step %zu): got %.*s", vectors[v].what,
					         steps[s], (int)r->len, r->buf);
				continue;
			}
			if (r->len != vectors[v].wantlen ||
			    memcmp(r->buf, vectors[v].want, r->len) != 0)
				fail_msg("%s (step %zu): got %zu bytes %.*s", vectors[v].what,
				         steps[s], r->len, (int)r->len, r->buf);
		}
	}
	free(r);
}

/* no_uu: the uu block is parsed (its lines are no base64 run) but not reported. */
static void
test_no_uu(void **state)
{
	static const char in[] = "begin 644 a.txt\n-2&5L;&\\L('=O<FQD(0``\n`\nend\n";
	struct tb_options o = {1, 0, 0};
	struct rec *r = malloc(sizeof(*r));
	(void)state;

	run(&o, in, strlen(in), 0, r);
	assert_int_equal(r->len, 0);
	free(r);
}

/* A callback's -1 stops the parser for good. */
static void
test_stop(void **state)
{
	static const char in[] = "=ybegin line=128 size=1 name=x\nk\n=yend size=1\n";
	struct rec *r = calloc(1, sizeof(*r));
	struct textblocks *tb;
	(void)state;

	r->stop_at_begin = 1;
	tb = tb_new(NULL, &rec_ops, r);
	assert_int_equal(tb_push(tb, in, strlen(in)), -1);
	assert_int_equal(tb_push(tb, "x\n", 2), -1);
	assert_int_equal(tb_finish(tb), -1);
	tb_free(tb);
	free(r);
}

/* Hostile input: every byte value, long lines, markers without data. */
static void
test_garbage(void **state)
{
	unsigned char *buf = malloc(300000);
	struct rec *r = malloc(sizeof(*r));
	struct textblocks *tb;
	(void)state;

	srand(3);
	for (size_t i = 0; i < 300000; i++)
		buf[i] = (unsigned char)rand();
	memcpy(buf + 1000, "\n=ybegin x\n", 11);
	memcpy(buf + 5000, "\n(This file must be converted with BinHex 4.0)\n:", 48);
	memcpy(buf + 9000, "\n--x\nContent-Type: a\n", 21);
	tb = tb_new(NULL, &rec_ops, r);
	memset(r, 0, sizeof(*r));
	/* Events may overflow the recorder: only robustness counts here. */
	for (size_t i = 0; i < 300000; i += 4096) {
		r->len = 0;
		tb_push(tb, buf + i, 300000 - i < 4096 ? 300000 - i : 4096);
	}
	r->len = 0;
	tb_finish(tb);
	tb_free(tb);
	free(r);
	free(buf);
}

/* Reads all of fd's bytes [off, off + len) into a new buffer. */
static unsigned char *
read_region(int fd, uint64_t off, uint64_t len)
{
	unsigned char *b = malloc(len + 1);

	assert_int_equal(pread(fd, b, len, (off_t)off), (ssize_t)len);
	return b;
}

/* The collector: blocks in one file, per-kind numbers, sanitized names. */
static void
test_collect(void **state)
{
	static const char in[] = "begin 644 a\x01.txt\n-2&5L;&\\L('=O<FQD(0``\n`\nend\n"
	                         "=ybegin line=128 size=1 name=y\nk\n=yend size=1\n"
	                         "begin 644 b\n!80``\n`\nend\n";
	struct tb_collect *c = tbc_new(NULL, NULL, NULL);
	const struct tb_block *b;
	unsigned char *d;
	(void)state;

	assert_int_equal(tbc_push(c, in, strlen(in)), 0);
	assert_int_equal(tbc_finish(c), 0);
	assert_int_equal(tbc_count(c), 3);
	b = tbc_block(c, 0);
	assert_int_equal(b->kind, TB_UU);
	assert_int_equal(b->num, 1);
	assert_string_equal(b->name, "a?.txt");
	d = read_region(tbc_fd(c), b->off, b->size);
	assert_memory_equal(d, "Hello, world!", 13);
	free(d);
	b = tbc_block(c, 1);
	assert_int_equal(b->kind, TB_YENC);
	assert_int_equal(b->num, 1);
	assert_int_equal(b->size, 1);
	assert_int_equal(b->how, TB_END_OK);
	b = tbc_block(c, 2);
	assert_int_equal(b->kind, TB_UU);
	assert_int_equal(b->num, 2);
	assert_int_equal(tbc_limit(c), LIMIT_NONE);
	tbc_free(c);
}

/* max_blocks, max_text, max_block: the search stops or the block is cut. */
static void
test_collect_limits(void **state)
{
	static const char three[] = "=ybegin line=128 size=1 name=1\nk\n=yend\n"
	                            "=ybegin line=128 size=1 name=2\nk\n=yend\n"
	                            "=ybegin line=128 size=1 name=3\nk\n=yend\n";
	struct tb_limits l;
	struct tb_collect *c;
	char big[5000];
	(void)state;

	memset(&l, 0, sizeof(l));
	l.max_blocks = 2;
	c = tbc_new(NULL, &l, NULL);
	assert_int_equal(tbc_push(c, three, strlen(three)), 0);
	assert_int_equal(tbc_finish(c), 0);
	assert_int_equal(tbc_count(c), 2);
	assert_int_equal(tbc_limit(c), LIMIT_FILES);
	tbc_free(c);

	memset(&l, 0, sizeof(l));
	l.max_text = 40;
	c = tbc_new(NULL, &l, NULL);
	assert_int_equal(tbc_push(c, three, strlen(three)), 0);
	assert_int_equal(tbc_finish(c), 0);
	assert_int_equal(tbc_count(c), 1);
	assert_int_equal(tbc_limit(c), LIMIT_FILE_SIZE);
	tbc_free(c);

	memset(&l, 0, sizeof(l));
	l.max_block = 100;
	memset(big, 'k', sizeof(big));
	memcpy(big, "=ybegin line=128 size=4000 name=b\n", 34);
	big[sizeof(big) - 1] = '\n';
	c = tbc_new(NULL, &l, NULL);
	assert_int_equal(tbc_push(c, big, sizeof(big)), 0);
	assert_int_equal(tbc_finish(c), 0);
	assert_int_equal(tbc_count(c), 1);
	assert_int_equal(tbc_block(c, 0)->size, 100);
	assert_int_equal(tbc_block(c, 0)->cut, LIMIT_FILE_SIZE);
	tbc_free(c);
}

/* BinHex run-length codes expanding far past max_ratio are cut. */
static void
test_collect_ratio(void **state)
{
	struct tb_limits l;
	struct tb_collect *c;
	(void)state;

	memset(&l, 0, sizeof(l));
	l.max_ratio = 10;
	c = tbc_new(NULL, &l, NULL);
	/* header "b", data length 0xffffffff, then 'A' and 0x90 0xff repeated */
	{
		static const char head[] = "(This file must be converted with BinHex 4.0)\n:";
		/* encoded with the alphabet by hand: see test_textblocks.py for the encoder */
		unsigned char raw[3 + 22 + 3 * 40000];
		size_t n = 0, k = 0;
		static const char abc[] =
		    "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
		char *enc = malloc(sizeof(raw) * 2);
		uint32_t acc = 0;
		unsigned nb = 0;

		raw[n++] = 1;
		raw[n++] = 'b';
		raw[n++] = 0;
		memset(raw + n, 'x', 10);
		n += 10;
		memcpy(raw + n, "\xff\xff\xff\xff\0\0\0\0", 8);
		n += 8;
		raw[n++] = 0; /* header CRC: wrong, decoded all the same */
		raw[n++] = 0;
		raw[n++] = 'A';
		for (int i = 0; i < 40000; i++) {
			raw[n++] = 0x90;
			raw[n++] = 0xff;
		}
		for (size_t i = 0; i < n; i++) {
			acc = acc << 8 | raw[i];
			nb += 8;
			while (nb >= 6) {
				nb -= 6;
				enc[k++] = abc[(acc >> nb) & 63];
			}
			acc &= 0xff;
		}
		assert_int_equal(tbc_push(c, head, strlen(head)), 0);
		assert_int_equal(tbc_push(c, enc, k), 0);
		free(enc);
	}
	assert_int_equal(tbc_finish(c), 0);
	assert_int_equal(tbc_count(c), 1);
	assert_int_equal(tbc_block(c, 0)->cut, LIMIT_RATIO);
	assert_true(tbc_block(c, 0)->size < 2 * 1024 * 1024);
	tbc_free(c);
}

/* ClamAV's clam.exe.binhex holds clam.exe (544 bytes, starting "MZ") with right CRCs. */
static void
test_clam_binhex(void **state)
{
	const char *dir = getenv("PC_TESTFILES");
	char path[512];
	static char buf[65536];
	struct tb_collect *c;
	unsigned char *d;
	ssize_t n;
	int fd;
	(void)state;

	snprintf(path, sizeof(path), "%s/clam.exe.binhex",
	         dir ? dir : "/usr/share/clamav-testfiles");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		skip();
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0);
	c = tbc_new(NULL, NULL, NULL);
	assert_int_equal(tbc_push(c, buf, (size_t)n), 0);
	assert_int_equal(tbc_finish(c), 0);
	assert_true(tbc_count(c) >= 1);
	assert_string_equal(tbc_block(c, 0)->name, "clam.exe");
	assert_int_equal(tbc_block(c, 0)->size, 544);
	assert_int_equal(tbc_block(c, 0)->how, TB_END_OK);
	d = read_region(tbc_fd(c), tbc_block(c, 0)->off, 2);
	assert_memory_equal(d, "MZ", 2);
	free(d);
	tbc_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),       cmocka_unit_test(test_no_uu),
	    cmocka_unit_test(test_stop),          cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_collect),       cmocka_unit_test(test_collect_limits),
	    cmocka_unit_test(test_collect_ratio), cmocka_unit_test(test_clam_binhex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
