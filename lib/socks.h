/*
 * SOCKS 4, 4a and 5 on the wire: the messages a SOCKS server reads and
 * writes (SOCKS 4 and its 4a extension, RFC 1928 sections 3 to 7, the
 * username/password sub-negotiation of RFC 1929), and the same messages
 * from the other side, for a SOCKS client that reaches an upstream hop.
 *
 * Pure functions over (buf, len): no sockets, no allocation, no logging.
 * A parse returns CT_OK (a whole message; consumed says how many bytes
 * it took, and the bytes after it are the next message's), CT_AGAIN (a
 * prefix of some valid message: call again, from the start, with more
 * bytes), or CT_ERROR with a static reason for the log and, where the
 * protocol has one, the exact reply code to send before closing.  An
 * error is found as soon as the byte that makes it one is there, so
 * that garbage fails at its first byte, and every message has a bound
 * (the *_MAX below) at which the answer is no longer CT_AGAIN: a caller
 * that reads that much never waits for a client that never ends.
 *
 * Strict, since a server that accepts what the RFCs forbid ends up
 * relaying for clients whose meaning it guessed:
 * - a host name (SOCKS 4a, ATYP 3) is 1..255 bytes of letters, digits,
 *   '-', '.' and '_', no empty label; it is lowercased and a trailing
 *   dot dropped, so that an ACL sees one spelling of a name.  No NUL,
 *   no ':' (an IPv6 literal comes as ATYP 4), no '%', no space;
 * - a reserved byte must be zero (RFC 1928 6 says so of every RSV
 *   field).  No client sends anything else; one that does is a stray
 *   non-SOCKS client or an extension whose meaning would be ignored;
 * - a user name has no control characters (it is logged and looked up
 *   in line-based files) and a password no NUL (crypt() would check
 *   only what precedes it), as for HTTP basic authentication.
 * Addresses are not judged: 0.0.0.0, loopback or port 0 (which a UDP
 * ASSOCIATE may send, RFC 1928 7) come through as sent; the caller's
 * policy, after resolving any name, decides where a client may go.
 */
#ifndef CT_SOCKS_H
#define CT_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SOCKS_V4               0x04
#define SOCKS_V5               0x05
#define SOCKS_AUTH_VERSION     0x01  /* of the RFC 1929 sub-negotiation */

#define SOCKS_NAME_MAX         255   /* host name, SOCKS 4a and ATYP 3 */
#define SOCKS_USERID_MAX       255   /* SOCKS 4 user id, before its NUL */
#define SOCKS_CRED_MAX         255   /* RFC 1929 user name and password */

/* The longest message of each kind: past it the answer is never CT_AGAIN. */
#define SOCKS4_REQUEST_MAX     (8 + SOCKS_USERID_MAX + 1 + SOCKS_NAME_MAX + 1)
#define SOCKS5_GREETING_MAX    (2 + 255)
#define SOCKS_HELLO_MAX        SOCKS4_REQUEST_MAX  /* the first message, either version */
#define SOCKS5_AUTH_MAX        (3 + 2 * SOCKS_CRED_MAX)
#define SOCKS5_REQUEST_MAX     (4 + 1 + SOCKS_NAME_MAX + 2)
#define SOCKS5_REPLY_MAX       SOCKS5_REQUEST_MAX  /* a reply may name a host too */
#define SOCKS5_UDP_HEADER_MAX  SOCKS5_REQUEST_MAX
#define SOCKS5_METHOD_REPLY_LEN 2
#define SOCKS5_AUTH_REPLY_LEN  2
#define SOCKS4_REPLY_LEN       8

/* Authentication methods (RFC 1928 3) */
#define SOCKS5_METHOD_NONE     0x00
#define SOCKS5_METHOD_GSSAPI   0x01
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_METHOD_REFUSED  0xff  /* no acceptable methods */

/* What a listener lets in, for socks5_method_select() */
#define SOCKS5_ALLOW_NONE      0x1   /* without authentication */
#define SOCKS5_ALLOW_USERPASS  0x2   /* with a user name and password */

/* RFC 1929 2: any status but 0 is a failure, and the server closes. */
#define SOCKS5_AUTH_SUCCESS    0x00
#define SOCKS5_AUTH_FAILURE    0x01

/* Commands: SOCKS 4 CD takes the first two, SOCKS 5 CMD all three. */
#define SOCKS_CMD_CONNECT      0x01
#define SOCKS_CMD_BIND         0x02
#define SOCKS_CMD_UDP          0x03  /* UDP ASSOCIATE */

/* Address types (RFC 1928 5) */
#define SOCKS5_ATYP_IPV4       0x01
#define SOCKS5_ATYP_NAME       0x03
#define SOCKS5_ATYP_IPV6       0x04

/* SOCKS 5 replies (RFC 1928 6) */
#define SOCKS5_REP_SUCCEEDED         0x00
#define SOCKS5_REP_FAILURE           0x01  /* general SOCKS server failure */
#define SOCKS5_REP_NOT_ALLOWED       0x02  /* connection not allowed by ruleset */
#define SOCKS5_REP_NET_UNREACHABLE   0x03
#define SOCKS5_REP_HOST_UNREACHABLE  0x04
#define SOCKS5_REP_REFUSED           0x05  /* connection refused */
#define SOCKS5_REP_TTL_EXPIRED       0x06
#define SOCKS5_REP_CMD_UNSUPPORTED   0x07
#define SOCKS5_REP_ATYP_UNSUPPORTED  0x08

/* SOCKS 4 replies (CD of the reply) */
#define SOCKS4_REP_GRANTED           90
#define SOCKS4_REP_REJECTED          91  /* rejected or failed */
#define SOCKS4_REP_NO_IDENTD         92  /* identd unreachable */
#define SOCKS4_REP_IDENT_MISMATCH    93  /* identd disagrees with the user id */

/* reply of a parse error that must be answered by closing, not by a message */
#define SOCKS_REPLY_NONE       (-1)

/* A destination or bound address, as the protocol carries it. */
struct socks_addr {
	uint8_t atyp;                       /* SOCKS5_ATYP_*, 0 when unset */
	uint16_t port;                      /* host order */
	uint8_t ip[16];                     /* network order: 4 bytes for IPv4, 16 for IPv6 */
	char name[SOCKS_NAME_MAX + 1];      /* ATYP_NAME: lowercased, no trailing dot, NUL-terminated */
	size_t name_len;
};

/*
 * The first message of a connection, told apart by its version byte:
 * a SOCKS 4 or 4a request, or a SOCKS 5 greeting.
 */
struct socks_hello {
	uint8_t version;                    /* SOCKS_V4 or SOCKS_V5 */
	/* SOCKS 5 */
	size_t nmethods;                    /* 1..255 */
	uint8_t methods[255];               /* as offered */
	/* SOCKS 4 and 4a */
	uint8_t cmd;                        /* SOCKS_CMD_CONNECT or SOCKS_CMD_BIND */
	unsigned socks4a:1;                 /* dst is a name (DSTIP 0.0.0.x, x != 0) */
	struct socks_addr dst;              /* IPV4, or NAME for 4a */
	char userid[SOCKS_USERID_MAX + 1];  /* NUL-terminated */
	size_t userid_len;
	size_t consumed;
	/*
	 * CT_ERROR: what to send before closing: a SOCKS 4 CD
	 * (SOCKS4_REP_REJECTED), a SOCKS 5 method (SOCKS5_METHOD_REFUSED),
	 * or SOCKS_REPLY_NONE for a client of no known version.
	 */
	int reply;
	const char *error;                  /* CT_ERROR: why, a fixed string */
};

/* RFC 1929 request; an error is answered with SOCKS5_AUTH_FAILURE. */
struct socks5_auth {
	char user[SOCKS_CRED_MAX + 1];      /* NUL-terminated, no control characters */
	size_t user_len;                    /* 1..255 */
	char pass[SOCKS_CRED_MAX + 1];      /* NUL-terminated, no NUL inside */
	size_t pass_len;                    /* 1..255 */
	size_t consumed;
	const char *error;
};

/* A SOCKS 5 request (RFC 1928 4). */
struct socks5_request {
	uint8_t cmd;                        /* SOCKS_CMD_* */
	struct socks_addr dst;
	size_t consumed;
	uint8_t reply;                      /* CT_ERROR: the SOCKS5_REP_* to send */
	const char *error;
};

struct socks5_reply {
	uint8_t rep;                        /* set once its byte is there, even on CT_AGAIN and CT_ERROR */
	struct socks_addr bnd;
	size_t consumed;
	const char *error;
};

struct socks4_reply {
	uint8_t cd;                         /* SOCKS4_REP_* */
	uint16_t port;                      /* host order */
	uint8_t ip[4];
	const char *error;
};

/* The header of a UDP datagram relayed through an association (RFC 1928 7). */
struct socks5_udp {
	struct socks_addr dst;
	size_t data_off;                    /* DATA is buf[data_off..len) */
	const char *error;
};

/* ------------------------------------------------------------------ */
/* Server side                                                         */
/* ------------------------------------------------------------------ */

/*
 * The first message of a connection, SOCKS 4/4a request or SOCKS 5
 * greeting, from the start of buf.  CT_ERROR for an unknown version, a
 * greeting of no methods, an unknown SOCKS 4 command, a user id or 4a
 * name longer than 255 bytes or with bytes it may not have, an empty
 * 4a name.  Never CT_AGAIN for len >= SOCKS_HELLO_MAX.
 */
int socks_hello_parse(const uint8_t *buf, size_t len, struct socks_hello *h);

/*
 * The method to answer a greeting's offer with, given what the listener
 * allows (SOCKS5_ALLOW_*): username/password when allowed and offered,
 * even when no authentication would do too, since a client that offers
 * it has credentials and they name it for the log and the limits; else
 * none when allowed and offered; else SOCKS5_METHOD_REFUSED.
 */
uint8_t socks5_method_select(const uint8_t *methods, size_t n, unsigned allow);

/* RFC 1929 request (VER 1, ULEN 1..255, UNAME, PLEN 1..255, PASSWD). */
int socks5_auth_parse(const uint8_t *buf, size_t len, struct socks5_auth *a);

/*
 * RFC 1928 4: VER CMD RSV ATYP DST.ADDR DST.PORT.  CT_ERROR with reply:
 * SOCKS5_REP_CMD_UNSUPPORTED for a CMD but 1..3,
 * SOCKS5_REP_ATYP_UNSUPPORTED for an ATYP but 1, 3, 4,
 * SOCKS5_REP_FAILURE for the rest (version, RSV, a bad name).
 */
int socks5_request_parse(const uint8_t *buf, size_t len, struct socks5_request *r);

/*
 * The header of a datagram, which comes whole: never CT_AGAIN.  CT_OK
 * with u->data_off; CT_DECLINED for FRAG != 0, a fragment, which a
 * server without reassembly must drop (RFC 1928 7) and may count;
 * CT_ERROR for a malformed header (u->error).
 */
int socks5_udp_parse(const uint8_t *buf, size_t len, struct socks5_udp *u);

/* ------------------------------------------------------------------ */
/* Server replies: each writes into out and returns its length         */
/* ------------------------------------------------------------------ */

/* VER METHOD: SOCKS5_METHOD_REPLY_LEN bytes. */
size_t socks5_method_reply_build(uint8_t *out, uint8_t method);

/* VER STATUS (RFC 1929 2): SOCKS5_AUTH_REPLY_LEN bytes. */
size_t socks5_auth_reply_build(uint8_t *out, uint8_t status);

/*
 * VER REP RSV ATYP BND.ADDR BND.PORT, out of SOCKS5_REPLY_MAX bytes;
 * 10 for IPv4, 22 for IPv6.  bnd is IPv4 or IPv6; an IPv4-mapped IPv6
 * address goes as IPv4, and NULL or another family as 0.0.0.0:0 (for
 * a failure, where the address means nothing).
 */
size_t socks5_reply_build(uint8_t *out, uint8_t rep, const struct sockaddr *bnd);

/*
 * VN=0 CD DSTPORT DSTIP: SOCKS4_REPLY_LEN bytes.  bnd as for SOCKS 5,
 * but an IPv6 address also goes as zeros: SOCKS 4 cannot carry one.
 */
size_t socks4_reply_build(uint8_t *out, uint8_t cd, const struct sockaddr *bnd);

/*
 * RSV FRAG=0 ATYP DST.ADDR DST.PORT before a datagram from src to the
 * client, out of SOCKS5_UDP_HEADER_MAX bytes; 0 when src is neither
 * IPv4 nor IPv6.
 */
size_t socks5_udp_header_build(uint8_t *out, const struct sockaddr *src);

/*
 * The SOCKS 5 reply for a connect that failed with err (an errno):
 * ECONNREFUSED refused, ENETUNREACH and ENETDOWN network unreachable,
 * EHOSTUNREACH, EHOSTDOWN and ETIMEDOUT host unreachable, EACCES and
 * EPERM not allowed, anything else a general failure.  ETIMEDOUT is not
 * TTL expired: 0x06 names an IP time-to-live that ran out on the way
 * (an ICMP time exceeded, which Linux reports as EHOSTUNREACH), while a
 * connect that times out found no host answering, which is 0x04.
 */
uint8_t socks5_reply_from_errno(int err);

/* SOCKS 4 has one failure: SOCKS4_REP_GRANTED for success, else REJECTED. */
uint8_t socks4_reply_from_socks5(uint8_t rep);

/* Short texts for the log; "unassigned reply code" for the others. */
const char *socks5_reply_text(uint8_t rep);
const char *socks4_reply_text(uint8_t cd);

/* ------------------------------------------------------------------ */
/* Client side, for a hop of a chain                                   */
/* ------------------------------------------------------------------ */

/* VER NMETHODS METHODS: no authentication, and username/password too when userpass. */
size_t socks5_greeting_build(uint8_t *out, int userpass);

/*
 * The server's choice, SOCKS5_METHOD_REPLY_LEN bytes.  CT_OK with
 * *method: none, or username/password when userpass offered it.
 * CT_ERROR (*why) for another version, SOCKS5_METHOD_REFUSED or a
 * method not offered.  The server must send nothing more before the
 * client's next message; bytes past the two are the caller's to refuse.
 */
int socks5_method_reply_parse(const uint8_t *buf, size_t len, int userpass,
    uint8_t *method, const char **why);

/*
 * RFC 1929 request, out of SOCKS5_AUTH_MAX bytes; 0 when a length is
 * not 1..255.
 */
size_t socks5_auth_build(uint8_t *out, const char *user, size_t user_len,
    const char *pass, size_t pass_len);

/*
 * RFC 1929 status, SOCKS5_AUTH_REPLY_LEN bytes: CT_OK for success,
 * CT_ERROR (*why) for a failure status or another version.
 */
int socks5_auth_reply_parse(const uint8_t *buf, size_t len, const char **why);

/*
 * VER CMD RSV ATYP DST.ADDR DST.PORT, out of SOCKS5_REQUEST_MAX bytes;
 * 0 for a command or address that cannot be sent (unset, bad name).
 */
size_t socks5_request_build(uint8_t *out, uint8_t cmd, const struct socks_addr *dst);

/*
 * The server's reply (RFC 1928 6), of a length that depends on its
 * ATYP.  CT_OK for a well-formed reply, whatever its REP: r->rep is the
 * answer, SOCKS5_REP_SUCCEEDED or the reason for the log.  r->rep is
 * set as soon as its byte is there, so that a server that closes
 * before the end of a failure reply still says why.  After a success
 * the destination's bytes may follow at once: r->consumed.
 */
int socks5_reply_parse(const uint8_t *buf, size_t len, struct socks5_reply *r);

/*
 * VN CD DSTPORT DSTIP USERID NUL [NAME NUL], out of SOCKS4_REQUEST_MAX
 * bytes: SOCKS 4 for an IPv4 dst, 4a (DSTIP 0.0.0.1) for a name.
 * userid may be NULL.  0 for an IPv6 dst, a bad name, a command but
 * CONNECT and BIND, or a user id over 255 bytes.
 */
size_t socks4_request_build(uint8_t *out, uint8_t cmd, const struct socks_addr *dst,
    const char *userid);

/*
 * The 8-byte reply.  CT_OK for VN 0 and a CD of 90..93 (r->cd says
 * which); CT_ERROR (r->error) for anything else.  The destination's
 * bytes may follow: SOCKS4_REPLY_LEN.
 */
int socks4_reply_parse(const uint8_t *buf, size_t len, struct socks4_reply *r);

/* ------------------------------------------------------------------ */
/* Addresses                                                           */
/* ------------------------------------------------------------------ */

/*
 * a = the host name name[0..len) and port, checked and lowercased as a
 * parsed one is.  CT_ERROR with *why for a name the protocol may not
 * carry.
 */
int socks_addr_set_name(struct socks_addr *a, const char *name, size_t len,
    uint16_t port, const char **why);

/* a = the IPv4 or IPv6 sa (IPv4-mapped as IPv4); CT_ERROR for another family. */
int socks_addr_from_sockaddr(struct socks_addr *a, const struct sockaddr *sa);

/*
 * The IPv4 or IPv6 a as a socket address in ss; returns its length, or
 * 0 for a name, which must be resolved first.
 */
socklen_t socks_addr_to_sockaddr(const struct socks_addr *a, struct sockaddr_storage *ss);

#endif
