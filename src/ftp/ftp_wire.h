/*
 * ftp_wire: the FTP control channel's text, pure (no I/O): a client's
 * command line split into verb and argument, a server's reply gathered
 * line by line (RFC 959 multi-line replies), and the data-channel
 * addresses of PORT/PASV (RFC 959) and EPRT/EPSV (RFC 2428), parsed and
 * formatted. Unit-tested and fuzzed; every input is from the wire.
 */
#ifndef PC_FTP_WIRE_H
#define PC_FTP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Lines and bytes one reply may hold; more is a protocol error. */
#define FTP_REPLY_MAX_LINES 256
#define FTP_REPLY_MAX_BYTES (64 * 1024)

/*
 * Splits a command line (no CR LF) into verb (upper-cased, 3 or 4
 * letters, NUL-terminated) and *arg (the text after one space, "" if
 * none; points into line). Telnet IP/Synch bytes before the verb (as
 * clients send before ABOR) are skipped. -1 for anything else: no verb,
 * a control character or NUL anywhere (a CR inside a line is refused so
 * that no second command can be smuggled to the server).
 */
int ftp_cmd_parse(const char *line, size_t len, char verb[5], const char **arg);

/* One reply of the server: its code and its lines as received (no CR LF). */
struct ftp_reply {
	int code;
	char **lines;
	size_t nlines;
	size_t bytes;
	int done;
};

/*
 * Adds a line to r. 1 when the reply is complete, 0 when more lines are
 * due, -1 when the line cannot start a reply or the reply is too long.
 */
int ftp_reply_push(struct ftp_reply *r, const char *line, size_t len);
void ftp_reply_clear(struct ftp_reply *r);
/* The reply's first line, or "". */
const char *ftp_reply_first(const struct ftp_reply *r);

/*
 * PORT's argument "h1,h2,h3,h4,p1,p2" into an IPv4 sockaddr; the same six
 * numbers found anywhere in text for a 227 reply. Port 0 is refused. 0 or -1.
 */
int ftp_parse_port(const char *arg, struct sockaddr_storage *ss, socklen_t *len);
int ftp_parse_227(const char *text, struct sockaddr_storage *ss, socklen_t *len);
/* EPRT's argument "|1|132.235.1.2|6275|" or "|2|::1|5282|". 0 or -1. */
int ftp_parse_eprt(const char *arg, struct sockaddr_storage *ss, socklen_t *len);
/* The port of a 229 reply's "(|||6446|)"; 0 or -1. */
int ftp_parse_229(const char *text, uint16_t *port);

/* "h1,h2,h3,h4,p1,p2" of an IPv4 address (a v4-mapped IPv6 one too); -1 if not IPv4. */
int ftp_format_port(const struct sockaddr *sa, char *buf, size_t cap);
/* "|1|addr|port|" or "|2|addr|port|". */
int ftp_format_eprt(const struct sockaddr *sa, char *buf, size_t cap);
/* The port of sa (host order). */
uint16_t ftp_sa_port(const struct sockaddr *sa);
void ftp_sa_set_port(struct sockaddr *sa, uint16_t port);
/* 1 if a and b are the same host (v4-mapped IPv6 equals IPv4). */
int ftp_same_host(const struct sockaddr *a, const struct sockaddr *b);

#endif
