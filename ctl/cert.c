/*
 * cuttlectl cert: certificates for cuttle's TLS, and a look at them.
 *
 * "gen" makes what a test bed or an internal deployment needs without
 * the openssl(1) incantations: a CA, and server and client certificates
 * that it signs, each as BASE.crt (the certificate, PEM) and BASE.key
 * (PKCS#8 PEM, mode 0600 whatever the file was before).  The choices
 * are fixed to what current clients accept: version 3, SHA-256, 128
 * random bits of serial, and a notBefore a minute in the past so that a
 * peer whose clock is a little behind does not refuse a certificate
 * made a moment ago.
 *
 * "show" prints what matters when a handshake fails: names, validity,
 * key and fingerprint of every certificate of a PEM file, or of the
 * chain that a server sends.  Against a server it never refuses the
 * chain, being an inspection tool: it reports whether the chain
 * verified against the system's store instead.  The connect and every
 * read or write of the handshake time out after CTL_CERT_TIMEOUT_S.
 *
 * Nothing here needs the admin socket.  Errors are one line
 * "cuttlectl: ..." on stderr, with OpenSSL's reason when there is one;
 * the exit status is 1, or 2 for a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/ct.h"
#include "ctl/cert.h"

#define CTL_CERT_SAN_MAX     64
#define CTL_CERT_DAYS_MAX    36500
#define CTL_CERT_CN_MAX      64       /* ub-common-name of RFC 5280 */
#define CTL_CERT_DNS_MAX     253
#define CTL_CERT_SERIAL_BITS 128
#define CTL_CERT_SKEW_S      60       /* notBefore this far in the past */
#define CTL_CERT_TIMEOUT_S   5
#define CTL_CERT_TEXT_MAX    1024     /* a name or a SAN as printed */

#define CTL_CERT_EXIT_OK    0
#define CTL_CERT_EXIT_FAIL  1
#define CTL_CERT_EXIT_USAGE 2
#define CTL_CERT_GO         -1        /* options parsed: go on */

/* How ctl_cert_err ends its message. */
#define CTL_CERT_PLAIN 0
#define CTL_CERT_SSL   1              /* with OpenSSL's reason */
#define CTL_CERT_USAGE 2              /* then the usage */

#define CTL_CERT_DNS_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._*"

/* What "gen" can make. */
struct ctl_cert_kind {
	const char *name;             /* ca, server, client */
	const char *eku;              /* extendedKeyUsage; NULL for the CA */
	long days;                    /* validity by default */
};

struct ctl_cert_keydef {
	const char *name;             /* as --key-type takes it */
	int bits;                     /* RSA modulus; 0 for ECDSA P-256 */
};

/* One "gen", as the command line asked for it. */
struct ctl_cert_req {
	const struct ctl_cert_kind *kind;
	const struct ctl_cert_keydef *key;
	const char *dir;
	const char *name;             /* the files are dir/name.{crt,key} */
	const char *cn;
	const char *ca;               /* the signing CA's base; NULL for a CA */
	const char *san[CTL_CERT_SAN_MAX];
	size_t nsan;
	long days;
	char san_cn[CTL_CERT_CN_MAX + 8];  /* the SAN made of the CN */
};

/* One certificate as "show" prints it. */
struct ctl_cert_info {
	char subject[CTL_CERT_TEXT_MAX];
	char issuer[CTL_CERT_TEXT_MAX];
	char serial[136];             /* upper-case hex, cut at 64 bytes */
	json_t *san;                  /* strings "DNS:name", "IP:addr", ... */
	char not_before[32];
	char not_after[32];
	long long days_left;          /* floor of the days to notAfter */
	char key_type[32];            /* ECDSA, RSA, Ed25519, ... */
	char curve[64];               /* P-256 and the like; "" but for ECDSA */
	int key_bits;
	char sha256[EVP_MAX_MD_SIZE * 3];
};

/* One "show" of a server. */
struct ctl_cert_peer {
	const char *target;           /* HOST:PORT as given, for messages */
	char host[NI_MAXHOST];
	char port[8];
	const char *sni;              /* sent: --sni, else a host that is
	                                 no IP address (RFC 6066), or NULL */
	int json;
};

static const struct ctl_cert_kind ctl_cert_kinds[] = {
	{ "ca", NULL, 3650 },
	{ "server", "serverAuth", 825 },
	{ "client", "clientAuth", 825 },
};

static const struct ctl_cert_keydef ctl_cert_keys[] = {
	{ "ecdsa", 0 },
	{ "rsa2048", 2048 },
	{ "rsa3072", 3072 },
	{ "rsa4096", 4096 },
};

/* ------------------------------------------------------------------ */
/* Messages */

static int ctl_cert_err(int how, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ctl_cert_usage(FILE *out)
{
	fprintf(out,
	    "usage: cuttlectl cert gen ca [--out DIR] [--name BASE] [--cn NAME]\n"
	    "           [--key-type TYPE] [--days N]\n"
	    "       cuttlectl cert gen server|client [--out DIR] [--name BASE] --cn NAME\n"
	    "           [--san DNS:name|IP:addr]... [--key-type TYPE] [--days N] [--ca BASE]\n"
	    "       cuttlectl cert show FILE|HOST:PORT [--sni NAME] [--json]\n"
	    "key types: ecdsa (P-256, the default), rsa2048, rsa3072, rsa4096\n");
}

/*
 * "cuttlectl: MESSAGE" on stderr.  With CTL_CERT_SSL it goes on with
 * the first error that OpenSSL queued (the later ones follow from it);
 * the queue is emptied either way, so that the next message does not
 * inherit a stale reason.  With CTL_CERT_USAGE the usage follows.
 * Returns the exit status that goes with the message.
 */
static int
ctl_cert_err(int how, const char *fmt, ...)
{
	char reason[256];
	unsigned long e;
	va_list ap;

	fputs("cuttlectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (how == CTL_CERT_SSL && (e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		fprintf(stderr, ": %s", reason);
	}
	ERR_clear_error();
	fputc('\n', stderr);
	if (how != CTL_CERT_USAGE)
		return CTL_CERT_EXIT_FAIL;
	ctl_cert_usage(stderr);
	return CTL_CERT_EXIT_USAGE;
}

/* An unknown option, or one without its value, as getopt_long found it. */
static int
ctl_cert_opt_bad(const char *cmd, int ch, char **argv)
{
	if (ch == ':')
		return ctl_cert_err(CTL_CERT_USAGE,
		    "cert %s: %s needs a value", cmd, argv[optind - 1]);
	return ctl_cert_err(CTL_CERT_USAGE,
	    "cert %s: unknown option %s", cmd, argv[optind - 1]);
}

/* ------------------------------------------------------------------ */
/* The command line of "gen" */

/* 1 when s is an IPv4 or IPv6 address, as inet_pton takes them. */
static int
ctl_cert_is_ip(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/*
 * DNS:name or IP:address.  A name is checked only for the characters a
 * host name (or a wildcard) can have, which also keeps out the commas
 * and the spaces of a mistyped list.
 */
static int
ctl_cert_san_ok(const char *s)
{
	size_t len;

	if (strncasecmp(s, "IP:", 3) == 0)
		return ctl_cert_is_ip(s + 3);
	if (strncasecmp(s, "DNS:", 4) != 0)
		return 0;
	len = strlen(s + 4);
	return len > 0 && len <= CTL_CERT_DNS_MAX && strspn(s + 4, CTL_CERT_DNS_CHARS) == len;
}

/* A base name of files: no directory part, not hidden, room for ".crt". */
static int
ctl_cert_base_ok(const char *s)
{
	return *s != '\0' && *s != '.' && strchr(s, '/') == NULL && strlen(s) <= NAME_MAX - 4;
}

static int
ctl_cert_days_parse(const char *s, long *days)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return CT_ERROR;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > CTL_CERT_DAYS_MAX)
		return CT_ERROR;
	*days = v;
	return CT_OK;
}

/*
 * The entry named name of a table of n entries of size bytes, each
 * starting with its name (ctl_cert_kinds, ctl_cert_keys), or NULL.
 */
static const void *
ctl_cert_lookup(const void *table, size_t n, size_t size, const char *name)
{
	const char *p = table;

	for (; n > 0; n--, p += size)
		if (strcmp(*(const char *const *)(const void *)p, name) == 0)
			return p;
	return NULL;
}

/* One option of "gen" into rq; CTL_CERT_GO, or the exit status. */
static int
ctl_cert_gen_opt(struct ctl_cert_req *rq, int ch, char **argv)
{
	switch (ch) {
	case 'o':
		rq->dir = optarg;
		break;
	case 'n':
		rq->name = optarg;
		break;
	case 'c':
		rq->cn = optarg;
		break;
	case 'a':
		rq->ca = optarg;
		break;
	case 'S':
		if (rq->nsan == CTL_CERT_SAN_MAX)
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen: more than %d --san", CTL_CERT_SAN_MAX);
		if (!ctl_cert_san_ok(optarg))
			return ctl_cert_err(CTL_CERT_USAGE, "cert gen: bad --san \"%s\": "
			    "DNS:name or IP:address", optarg);
		rq->san[rq->nsan++] = optarg;
		break;
	case 'k':
		rq->key = ctl_cert_lookup(ctl_cert_keys, CT_NELEM(ctl_cert_keys),
		    sizeof(ctl_cert_keys[0]), optarg);
		if (rq->key == NULL)
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen: unknown --key-type \"%s\"", optarg);
		break;
	case 'd':
		if (ctl_cert_days_parse(optarg, &rq->days) == CT_ERROR)
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen: --days takes a whole number "
			    "from 1 to %d, not \"%s\"", CTL_CERT_DAYS_MAX, optarg);
		break;
	case 'h':
		ctl_cert_usage(stdout);
		return CTL_CERT_EXIT_OK;
	default:
		return ctl_cert_opt_bad("gen", ch, argv);
	}
	return CTL_CERT_GO;
}

/*
 * The defaults that depend on the kind, and the checks across options:
 * a CA has no --ca, the others need a CN, and a server without --san
 * is named by its CN (as an IP address when the CN is one).
 */
static int
ctl_cert_gen_check(struct ctl_cert_req *rq)
{
	const char *k = rq->kind->name;

	if (rq->kind->eku == NULL) {
		if (rq->ca != NULL)
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen ca: --ca is for server and client certificates");
		rq->cn = rq->cn != NULL ? rq->cn : "cuttle CA";
		rq->name = rq->name != NULL ? rq->name : "ca";
	} else {
		if (rq->cn == NULL)
			return ctl_cert_err(CTL_CERT_USAGE, "cert gen %s: --cn is required", k);
		rq->ca = rq->ca != NULL ? rq->ca : "ca";
		if (rq->name == NULL && !ctl_cert_base_ok(rq->cn))
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen %s: the CN \"%s\" is no file name; "
			    "give --name", k, rq->cn);
		rq->name = rq->name != NULL ? rq->name : rq->cn;
	}
	rq->days = rq->days != 0 ? rq->days : rq->kind->days;
	if (*rq->cn == '\0' || strlen(rq->cn) > CTL_CERT_CN_MAX)
		return ctl_cert_err(CTL_CERT_USAGE,
		    "cert gen %s: the CN must have 1 to %d bytes",
		    k, CTL_CERT_CN_MAX);
	if (!ctl_cert_base_ok(rq->name))
		return ctl_cert_err(CTL_CERT_USAGE,
		    "cert gen %s: bad --name \"%s\": a file name "
		    "without '/' that does not start with '.'", k, rq->name);
	if (rq->ca != NULL && !ctl_cert_base_ok(rq->ca))
		return ctl_cert_err(CTL_CERT_USAGE, "cert gen %s: bad --ca \"%s\"", k, rq->ca);
	if (rq->ca != NULL && strcmp(rq->ca, rq->name) == 0)
		return ctl_cert_err(CTL_CERT_USAGE,
		    "cert gen %s: --name and --ca name the same files", k);
	if (strcmp(k, "server") == 0 && rq->nsan == 0) {
		snprintf(rq->san_cn, sizeof(rq->san_cn), "%s:%s",
		    ctl_cert_is_ip(rq->cn) ? "IP" : "DNS", rq->cn);
		if (!ctl_cert_san_ok(rq->san_cn))
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen server: the CN \"%s\" is no host "
			    "name; give --san", rq->cn);
		rq->san[rq->nsan++] = rq->san_cn;
	}
	return CTL_CERT_GO;
}

/* argv is {"gen", ...}; CTL_CERT_GO with rq filled, or the exit status. */
static int
ctl_cert_gen_parse(int argc, char **argv, struct ctl_cert_req *rq)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "cn", required_argument, NULL, 'c' },
		{ "san", required_argument, NULL, 'S' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "days", required_argument, NULL, 'd' },
		{ "ca", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rc;

	memset(rq, 0, sizeof(*rq));
	rq->dir = ".";
	rq->key = &ctl_cert_keys[0];
	/* optind 0: glibc starts afresh after the global options' parse. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
		if ((rc = ctl_cert_gen_opt(rq, ch, argv)) != CTL_CERT_GO)
			return rc;
	if (argc - optind != 1)
		return ctl_cert_err(CTL_CERT_USAGE, "cert gen: %s", argc - optind == 0 ?
		    "which certificate: ca, server or client?" : "too many arguments");
	rq->kind = ctl_cert_lookup(ctl_cert_kinds, CT_NELEM(ctl_cert_kinds),
	    sizeof(ctl_cert_kinds[0]), argv[optind]);
	if (rq->kind == NULL)
		return ctl_cert_err(CTL_CERT_USAGE,
		    "cert gen: \"%s\" is none of ca, server, client",
		    argv[optind]);
	return ctl_cert_gen_check(rq);
}

/* ------------------------------------------------------------------ */
/* Keys and certificates */

static EVP_PKEY *
ctl_cert_key_new(const struct ctl_cert_keydef *k)
{
	EVP_PKEY *key;

	if (k->bits == 0)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)k->bits);
	if (key == NULL)
		ctl_cert_err(CTL_CERT_SSL, "cannot make a %s key", k->name);
	return key;
}

/* A positive random serial; zero, which is not positive, is drawn again. */
static int
ctl_cert_serial_set(X509 *x)
{
	BIGNUM *bn;
	int rc = CT_ERROR;

	if ((bn = BN_new()) == NULL)
		return CT_ERROR;
	do {
		if (!BN_rand(bn, CTL_CERT_SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
			goto done;
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rc = CT_OK;
done:
	BN_free(bn);
	return rc;
}

/* One extension written as in openssl.cnf ("critical,CA:TRUE"). */
static int
ctl_cert_ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		return CT_ERROR;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? CT_OK : CT_ERROR;
}

/* The subjectAltName of rq's SANs, checked already by ctl_cert_san_ok. */
static int
ctl_cert_san_add(const struct ctl_cert_req *rq, X509 *x)
{
	GENERAL_NAMES *names;
	GENERAL_NAME *gn;
	const char *s;
	size_t i;
	int rc = CT_ERROR;

	if (rq->nsan == 0)
		return CT_OK;
	if ((names = sk_GENERAL_NAME_new_null()) == NULL)
		return CT_ERROR;
	for (i = 0; i < rq->nsan; i++) {
		s = rq->san[i];
		if (strncasecmp(s, "IP:", 3) == 0)
			gn = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, s + 3, 0);
		else
			gn = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_DNS, s + 4, 0);
		if (gn == NULL)
			goto done;
		if (!sk_GENERAL_NAME_push(names, gn)) {
			GENERAL_NAME_free(gn);
			goto done;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1)
		rc = CT_OK;
done:
	GENERAL_NAMES_free(names);
	return rc;
}

/*
 * The extensions of rq's kind.  keyEncipherment only for RSA: an ECDSA
 * key cannot encipher, and some verifiers refuse a usage that the key
 * cannot have.
 */
static int
ctl_cert_exts_add(const struct ctl_cert_req *rq, X509 *x, X509 *issuer, EVP_PKEY *key)
{
	static const struct { int nid; const char *value; } ca[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
	};
	struct { int nid; const char *value; } leaf[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ?
		    "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature" },
		{ NID_ext_key_usage, rq->kind->eku },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, "keyid:always" },
	};
	size_t i;

	if (rq->kind->eku == NULL) {
		for (i = 0; i < CT_NELEM(ca); i++)
			if (ctl_cert_ext_add(x, issuer, ca[i].nid, ca[i].value) == CT_ERROR)
				return CT_ERROR;
		return CT_OK;
	}
	for (i = 0; i < CT_NELEM(leaf); i++)
		if (ctl_cert_ext_add(x, issuer, leaf[i].nid, leaf[i].value) == CT_ERROR)
			return CT_ERROR;
	return ctl_cert_san_add(rq, x);
}

/*
 * The certificate of rq for key, signed by ca's key cakey, or by key
 * itself when ca is NULL; NULL with the error printed.
 */
static X509 *
ctl_cert_make(const struct ctl_cert_req *rq, EVP_PKEY *key, X509 *ca, EVP_PKEY *cakey)
{
	X509 *x, *issuer;

	if ((x = X509_new()) == NULL)
		goto fail;
	issuer = ca != NULL ? ca : x;
	if (!X509_set_version(x, X509_VERSION_3) || ctl_cert_serial_set(x) == CT_ERROR ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -CTL_CERT_SKEW_S) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)rq->days, 0, NULL) == NULL ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	    (const unsigned char *)rq->cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(issuer)) ||
	    !X509_set_pubkey(x, key) ||
	    ctl_cert_exts_add(rq, x, issuer, key) == CT_ERROR ||
	    !X509_sign(x, ca != NULL ? cakey : key, EVP_sha256()))
		goto fail;
	return x;
fail:
	ctl_cert_err(CTL_CERT_SSL, "cannot make the certificate of \"%s\"", rq->cn);
	X509_free(x);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Files */

static int
ctl_cert_path(char *buf, size_t size, const char *dir, const char *base, const char *ext)
{
	int n = snprintf(buf, size, "%s/%s%s", dir, base, ext);

	if (n < 0 || (size_t)n >= size) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s/%s%s: path too long", dir, base, ext);
		return CT_ERROR;
	}
	return CT_OK;
}

/* Never prompts: a CA key under a passphrase is refused, not waited on. */
static int
ctl_cert_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * The first certificate (into x) or else private key (into key) of the
 * PEM file path.
 */
static int
ctl_cert_pem_read(const char *path, X509 **x, EVP_PKEY **key)
{
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: %s", path, strerror(errno));
		return CT_ERROR;
	}
	if (x != NULL)
		*x = PEM_read_X509(fp, NULL, NULL, NULL);
	else
		*key = PEM_read_PrivateKey(fp, NULL, ctl_cert_no_passphrase, NULL);
	fclose(fp);
	if (x != NULL ? *x != NULL : *key != NULL)
		return CT_OK;
	ctl_cert_err(CTL_CERT_SSL, "%s: %s", path, x != NULL ? "no PEM certificate" :
	    "no PEM private key without a passphrase");
	return CT_ERROR;
}

/*
 * The signing CA, rq->dir/rq->ca.{crt,key}: a CA certificate and the
 * key that goes with it.  On error the caller still frees *ca and *key.
 */
static int
ctl_cert_ca_load(const struct ctl_cert_req *rq, X509 **ca, EVP_PKEY **key)
{
	char crt[PATH_MAX], kp[PATH_MAX];

	if (ctl_cert_path(crt, sizeof(crt), rq->dir, rq->ca, ".crt") == CT_ERROR ||
	    ctl_cert_path(kp, sizeof(kp), rq->dir, rq->ca, ".key") == CT_ERROR)
		return CT_ERROR;
	if (ctl_cert_pem_read(crt, ca, NULL) == CT_ERROR ||
	    ctl_cert_pem_read(kp, NULL, key) == CT_ERROR)
		return CT_ERROR;
	if (X509_check_ca(*ca) == 0) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: not a CA certificate", crt);
		return CT_ERROR;
	}
	if (X509_check_private_key(*ca, *key) != 1) {
		ctl_cert_err(CTL_CERT_SSL, "%s is not the key of %s", kp, crt);
		return CT_ERROR;
	}
	return CT_OK;
}

/*
 * Opens path for writing, truncated.  The mode is set again with fchmod
 * because open() keeps the mode of a file that exists: a key written
 * over a readable file must not stay readable.  The file is empty by
 * then, so nothing is exposed in between.  A symbolic link is not
 * followed: in a shared directory it could send a key elsewhere.
 */
static FILE *
ctl_cert_file_create(const char *path, mode_t mode)
{
	FILE *fp;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) == -1) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fchmod(fd, mode) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return fp;
}

/* Writes key (PKCS#8) or else x to path, and names the file on stdout. */
static int
ctl_cert_write(const char *path, EVP_PKEY *key, X509 *x)
{
	FILE *fp;
	int ok;

	if ((fp = ctl_cert_file_create(path, key != NULL ? 0600 : 0644)) == NULL)
		return CT_ERROR;
	if (key != NULL)
		ok = PEM_write_PKCS8PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_X509(fp, x);
	if (!ok) {
		ctl_cert_err(CTL_CERT_SSL, "%s: cannot write", path);
		fclose(fp);
		return CT_ERROR;
	}
	if (fclose(fp) == EOF) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: %s", path, strerror(errno));
		return CT_ERROR;
	}
	printf("%s\n", path);
	return CT_OK;
}

/* "gen": argv is {"gen", ...}. */
static int
ctl_cert_gen(int argc, char **argv)
{
	struct ctl_cert_req rq;
	char crt[PATH_MAX], kp[PATH_MAX];
	EVP_PKEY *key = NULL, *cakey = NULL;
	X509 *x = NULL, *ca = NULL;
	int rc;

	if ((rc = ctl_cert_gen_parse(argc, argv, &rq)) != CTL_CERT_GO)
		return rc;
	rc = CTL_CERT_EXIT_FAIL;
	if (ctl_cert_path(crt, sizeof(crt), rq.dir, rq.name, ".crt") == CT_ERROR ||
	    ctl_cert_path(kp, sizeof(kp), rq.dir, rq.name, ".key") == CT_ERROR)
		return rc;
	if (rq.ca != NULL && ctl_cert_ca_load(&rq, &ca, &cakey) == CT_ERROR)
		goto done;
	if ((key = ctl_cert_key_new(rq.key)) == NULL ||
	    (x = ctl_cert_make(&rq, key, ca, cakey)) == NULL)
		goto done;
	if (ctl_cert_write(kp, key, NULL) == CT_OK && ctl_cert_write(crt, NULL, x) == CT_OK)
		rc = CTL_CERT_EXIT_OK;
done:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

/* ------------------------------------------------------------------ */
/* What "show" prints of a certificate */

/* A name in the RFC 2253 form, its non-ASCII bytes escaped. */
static void
ctl_cert_name(const X509_NAME *name, char *buf, size_t size)
{
	BIO *b;
	int n = 0;

	if ((b = BIO_new(BIO_s_mem())) != NULL &&
	    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/*
 * prefix and then s, with every byte outside printable ASCII as \xHH:
 * the names come from any server, and go to a terminal or into JSON.
 */
static void
ctl_cert_str(char *buf, size_t size, const char *prefix, const ASN1_STRING *s)
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int i, n = ASN1_STRING_length(s);
	size_t len;

	len = (size_t)snprintf(buf, size, "%s", prefix);
	for (i = 0; i < n && len + 5 < size; i++) {
		if (p[i] > 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[len++] = (char)p[i];
		else
			len += (size_t)snprintf(buf + len, size - len, "\\x%02x", p[i]);
	}
	buf[len] = '\0';
}

/* One SAN as "TYPE:value" into buf; CT_DECLINED for the kinds not shown. */
static int
ctl_cert_san_str(const GENERAL_NAME *gn, char *buf, size_t size)
{
	const ASN1_OCTET_STRING *ip;
	char addr[INET6_ADDRSTRLEN];
	int type, af;
	void *v;

	v = GENERAL_NAME_get0_value(gn, &type);
	switch (type) {
	case GEN_DNS:
		ctl_cert_str(buf, size, "DNS:", v);
		return CT_OK;
	case GEN_EMAIL:
		ctl_cert_str(buf, size, "email:", v);
		return CT_OK;
	case GEN_URI:
		ctl_cert_str(buf, size, "URI:", v);
		return CT_OK;
	case GEN_IPADD:
		ip = v;
		af = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
		if ((ASN1_STRING_length(ip) != 4 && ASN1_STRING_length(ip) != 16) ||
		    inet_ntop(af, ASN1_STRING_get0_data(ip), addr, sizeof(addr)) == NULL)
			snprintf(addr, sizeof(addr), "invalid");
		snprintf(buf, size, "IP:%s", addr);
		return CT_OK;
	default:
		return CT_DECLINED;
	}
}

static int
ctl_cert_sans(X509 *x, json_t *out)
{
	GENERAL_NAMES *names;
	char buf[CTL_CERT_TEXT_MAX];
	int i, rc = CT_OK;

	if ((names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL)) == NULL)
		return CT_OK;
	for (i = 0; i < sk_GENERAL_NAME_num(names) && rc == CT_OK; i++)
		if (ctl_cert_san_str(sk_GENERAL_NAME_value(names, i), buf, sizeof(buf)) == CT_OK &&
		    json_array_append_new(out, json_string(buf)) == -1)
			rc = CT_ERROR;
	GENERAL_NAMES_free(names);
	return rc;
}

static void
ctl_cert_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "invalid");
}

/* Whole days from now to notAfter, rounded down: -1 as soon as it passed. */
static long long
ctl_cert_days_left(const X509 *x)
{
	long long s;
	int day, sec;

	if (!ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(x)))
		return 0;
	s = (long long)day * 86400 + sec;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

static void
ctl_cert_key_info(const X509 *x, struct ctl_cert_info *ci)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	const char *nist;
	char group[64];
	size_t len;
	int id;

	snprintf(ci->key_type, sizeof(ci->key_type), "unknown");
	if (pk == NULL)
		return;
	ci->key_bits = EVP_PKEY_get_bits(pk);
	id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_EC) {
		snprintf(ci->key_type, sizeof(ci->key_type), "ECDSA");
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), &len)) {
			nist = EC_curve_nid2nist(OBJ_txt2nid(group));
			snprintf(ci->curve, sizeof(ci->curve), "%s", nist != NULL ? nist : group);
		}
	} else if (id == EVP_PKEY_RSA) {
		snprintf(ci->key_type, sizeof(ci->key_type), "RSA");
	} else if (id != NID_undef) {
		snprintf(ci->key_type, sizeof(ci->key_type), "%s", OBJ_nid2sn(id));
	}
}

static void
ctl_cert_serial(const X509 *x, char *buf, size_t size)
{
	BIGNUM *bn;
	char *hex = NULL;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) != NULL)
		hex = BN_bn2hex(bn);
	snprintf(buf, size, "%s", hex != NULL ? hex : "invalid");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* The SHA-256 of the DER, as openssl x509 -fingerprint prints it. */
static void
ctl_cert_fingerprint(const X509 *x, char *buf, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t len = 0;

	buf[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n))
		return;
	for (i = 0; i < n && len + 4 <= size; i++)
		len += (size_t)snprintf(buf + len, size - len, i > 0 ? ":%02X" : "%02X", md[i]);
}

/* ci for x; the caller releases ci->san, whatever the result. */
static int
ctl_cert_info_fill(X509 *x, struct ctl_cert_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	if ((ci->san = json_array()) == NULL || ctl_cert_sans(x, ci->san) == CT_ERROR)
		return CT_ERROR;
	ctl_cert_name(X509_get_subject_name(x), ci->subject, sizeof(ci->subject));
	ctl_cert_name(X509_get_issuer_name(x), ci->issuer, sizeof(ci->issuer));
	ctl_cert_serial(x, ci->serial, sizeof(ci->serial));
	ctl_cert_time(X509_get0_notBefore(x), ci->not_before, sizeof(ci->not_before));
	ctl_cert_time(X509_get0_notAfter(x), ci->not_after, sizeof(ci->not_after));
	ci->days_left = ctl_cert_days_left(x);
	ctl_cert_key_info(x, ci);
	ctl_cert_fingerprint(x, ci->sha256, sizeof(ci->sha256));
	return CT_OK;
}

static json_t *
ctl_cert_info_json(const struct ctl_cert_info *ci, size_t index)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:O, s:s, s:s, s:I, s:s, s:s?, s:i, s:s}",
	    "index", (json_int_t)index, "subject", ci->subject, "issuer", ci->issuer,
	    "serial", ci->serial, "san", ci->san, "not_before", ci->not_before,
	    "not_after", ci->not_after, "days_left", (json_int_t)ci->days_left,
	    "key_type", ci->key_type, "curve", *ci->curve != '\0' ? ci->curve : NULL,
	    "key_bits", ci->key_bits, "sha256", ci->sha256);
}

static void
ctl_cert_info_print(const struct ctl_cert_info *ci, size_t index)
{
	json_t *v;
	size_t i;

	printf("certificate %zu\n", index);
	printf("  subject:    %s\n", ci->subject);
	printf("  issuer:     %s\n", ci->issuer);
	printf("  serial:     %s\n", ci->serial);
	printf("  san:        %s", json_array_size(ci->san) == 0 ? "-" : "");
	json_array_foreach(ci->san, i, v)
		printf("%s%s", i > 0 ? ", " : "", json_string_value(v));
	printf("\n  not before: %s\n", ci->not_before);
	printf("  not after:  %s\n", ci->not_after);
	printf("  days left:  %lld\n", ci->days_left);
	if (*ci->curve != '\0')
		printf("  key:        %s %s\n", ci->key_type, ci->curve);
	else
		printf("  key:        %s %d\n", ci->key_type, ci->key_bits);
	printf("  sha256:     %s\n", ci->sha256);
}

/*
 * Prints every certificate of chain, leaf first as it comes; into out
 * (a JSON array) instead when out is not NULL.
 */
static int
ctl_cert_chain_show(STACK_OF(X509) *chain, json_t *out)
{
	struct ctl_cert_info ci;
	json_t *j;
	int i, rc = CT_OK;

	for (i = 0; i < sk_X509_num(chain) && rc == CT_OK; i++) {
		if (ctl_cert_info_fill(sk_X509_value(chain, i), &ci) == CT_ERROR) {
			rc = CT_ERROR;
		} else if (out != NULL) {
			j = ctl_cert_info_json(&ci, (size_t)i);
			rc = json_array_append_new(out, j) == 0 ? CT_OK : CT_ERROR;
		} else {
			if (i > 0)
				putchar('\n');
			ctl_cert_info_print(&ci, (size_t)i);
		}
		json_decref(ci.san);
	}
	if (rc == CT_ERROR)
		ctl_cert_err(CTL_CERT_PLAIN, "out of memory");
	return rc;
}

static void
ctl_cert_json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

/* ------------------------------------------------------------------ */
/* show FILE */

/*
 * Every certificate of a PEM file.  PEM_read_X509 passes over blocks of
 * other kinds (a key in the same file) and fails with "no start line"
 * at the end: that is the only failure after at least one certificate
 * that is not an error.
 */
static STACK_OF(X509) *
ctl_cert_pem_chain(const char *path)
{
	STACK_OF(X509) *chain;
	unsigned long e;
	X509 *x;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((chain = sk_X509_new_null()) == NULL)
		goto fail;
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			goto fail;
		}
	}
	e = ERR_peek_last_error();
	if (sk_X509_num(chain) == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		goto fail;
	ERR_clear_error();
	fclose(fp);
	return chain;
fail:
	ctl_cert_err(CTL_CERT_SSL, "%s: %s", path, sk_X509_num(chain) > 0 ?
	    "invalid certificate after the first ones" : "no PEM certificate");
	sk_X509_pop_free(chain, X509_free);
	fclose(fp);
	return NULL;
}

static int
ctl_cert_show_file(const char *path, int json)
{
	STACK_OF(X509) *chain;
	json_t *out = NULL;
	int rc = CTL_CERT_EXIT_FAIL;

	if ((chain = ctl_cert_pem_chain(path)) == NULL)
		return rc;
	if (json && (out = json_array()) == NULL) {
		ctl_cert_err(CTL_CERT_PLAIN, "out of memory");
		goto done;
	}
	if (ctl_cert_chain_show(chain, out) == CT_OK) {
		if (out != NULL)
			ctl_cert_json_print(out);
		rc = CTL_CERT_EXIT_OK;
	}
done:
	json_decref(out);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* ------------------------------------------------------------------ */
/* show HOST:PORT */

/*
 * HOST:PORT or [HOST]:PORT into p; CT_DECLINED when s has neither form.
 * A bare IPv6 address has too many colons to tell where the port is.
 */
static int
ctl_cert_hostport(const char *s, struct ctl_cert_peer *p)
{
	const char *colon, *end;
	size_t hlen;

	p->target = s;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return CT_DECLINED;
		s++;
		colon = end + 1;
	} else {
		if ((colon = strchr(s, ':')) == NULL || strchr(colon + 1, ':') != NULL)
			return CT_DECLINED;
		end = colon;
	}
	hlen = (size_t)(end - s);
	if (hlen == 0 || hlen >= sizeof(p->host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) > 5 || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return CT_DECLINED;
	memcpy(p->host, s, hlen);
	p->host[hlen] = '\0';
	snprintf(p->port, sizeof(p->port), "%s", colon + 1);
	return CT_OK;
}

/* A blocking socket whose connect and I/O time out after CTL_CERT_TIMEOUT_S. */
static int
ctl_cert_connect_one(const struct addrinfo *ai)
{
	struct timeval tv = { .tv_sec = CTL_CERT_TIMEOUT_S };
	int fd, saved;

	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
		return -1;
	/* On Linux, SO_SNDTIMEO bounds connect() too (it fails with EINPROGRESS). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	saved = errno == EINPROGRESS ? ETIMEDOUT : errno;
	close(fd);
	errno = saved;
	return -1;
}

/* A connection to the first address of p that answers. */
static int
ctl_cert_connect(const struct ctl_cert_peer *p)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, err, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(p->host, p->port, &hints, &res)) != 0) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: %s", p->host, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
		if ((fd = ctl_cert_connect_one(ai)) == -1)
			saved = errno;
	freeaddrinfo(res);
	if (fd == -1)
		ctl_cert_err(CTL_CERT_PLAIN, "%s: connect: %s", p->target, strerror(saved));
	return fd;
}

/*
 * The SNI, which is also the name that the verification checks; with
 * no SNI, the host's IP address is checked instead.
 */
static int
ctl_cert_expect(SSL *ssl, const struct ctl_cert_peer *p)
{
	if (p->sni == NULL)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->host) ?
		    CT_OK : CT_ERROR;
	if (!SSL_set_tlsext_host_name(ssl, p->sni) || !SSL_set1_host(ssl, p->sni))
		return CT_ERROR;
	return CT_OK;
}

/*
 * Why SSL_connect returned rv, as one line.  A read or write that timed
 * out fails with EAGAIN, which OpenSSL takes for "try again".
 */
static void
ctl_cert_handshake_err(const struct ctl_cert_peer *p, SSL *ssl, int rv)
{
	int e = SSL_get_error(ssl, rv);

	if (e == SSL_ERROR_SSL)
		ctl_cert_err(CTL_CERT_SSL, "%s: TLS handshake failed", p->target);
	else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
	    (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
		ctl_cert_err(CTL_CERT_PLAIN,
		    "%s: TLS handshake: timed out after %d s", p->target,
		    CTL_CERT_TIMEOUT_S);
	else if (e == SSL_ERROR_SYSCALL && errno != 0)
		ctl_cert_err(CTL_CERT_PLAIN,
		    "%s: TLS handshake: %s", p->target, strerror(errno));
	else
		ctl_cert_err(CTL_CERT_PLAIN,
		    "%s: TLS handshake: the server closed the connection",
		    p->target);
}

/* The result of the verification that was not enforced. */
static const char *
ctl_cert_verify_str(SSL *ssl, long *res)
{
	*res = SSL_get_verify_result(ssl);
	return *res == X509_V_OK ? NULL : X509_verify_cert_error_string(*res);
}

static int
ctl_cert_peer_json(const struct ctl_cert_peer *p, SSL *ssl, STACK_OF(X509) *chain)
{
	const char *why;
	json_t *j, *certs;
	long res;
	int rc = CT_ERROR;

	why = ctl_cert_verify_str(ssl, &res);
	if ((certs = json_array()) == NULL || ctl_cert_chain_show(chain, certs) == CT_ERROR) {
		json_decref(certs);
		return CT_ERROR;
	}
	j = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:b, s:s?, s:o}", "host", p->host,
	    "port", p->port, "sni", p->sni, "protocol", SSL_get_version(ssl),
	    "cipher", SSL_get_cipher_name(ssl), "verified", why == NULL,
	    "verify_error", why, "chain", certs);
	if (j != NULL) {
		ctl_cert_json_print(j);
		json_decref(j);
		rc = CT_OK;
	} else {
		ctl_cert_err(CTL_CERT_PLAIN, "out of memory");
	}
	return rc;
}

static int
ctl_cert_peer_print(const struct ctl_cert_peer *p, SSL *ssl)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	const char *why;
	long res;

	if (chain == NULL) {
		ctl_cert_err(CTL_CERT_PLAIN, "%s: the server sent no certificate", p->target);
		return CT_ERROR;
	}
	if (p->json)
		return ctl_cert_peer_json(p, ssl, chain);
	why = ctl_cert_verify_str(ssl, &res);
	printf("server:       %s\n", p->target);
	printf("sni:          %s\n", p->sni != NULL ? p->sni : "-");
	printf("protocol:     %s\n", SSL_get_version(ssl));
	printf("cipher:       %s\n", SSL_get_cipher_name(ssl));
	if (why == NULL)
		printf("verified:     yes\n");
	else
		printf("verified:     no (%s)\n", why);
	putchar('\n');
	return ctl_cert_chain_show(chain, NULL);
}

/*
 * A TLS handshake with p that verifies the chain against the system's
 * store but goes on whatever the result, which it prints.
 */
static int
ctl_cert_show_peer(const struct ctl_cert_peer *p)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd, rv, rc = CTL_CERT_EXIT_FAIL;

	if ((fd = ctl_cert_connect(p)) == -1)
		return rc;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_default_verify_paths(ctx) || (ssl = SSL_new(ctx)) == NULL ||
	    ctl_cert_expect(ssl, p) == CT_ERROR || !SSL_set_fd(ssl, fd)) {
		ctl_cert_err(CTL_CERT_SSL, "%s: cannot set up TLS", p->target);
		goto done;
	}
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	errno = 0;
	if ((rv = SSL_connect(ssl)) != 1) {
		ctl_cert_handshake_err(p, ssl, rv);
		goto done;
	}
	if (ctl_cert_peer_print(p, ssl) == CT_OK)
		rc = CTL_CERT_EXIT_OK;
	SSL_shutdown(ssl);
done:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return rc;
}

/*
 * "show": argv is {"show", ...}.  An existing file is a file even when
 * its name looks like HOST:PORT.
 */
static int
ctl_cert_show(int argc, char **argv, int json)
{
	static const struct option opts[] = {
		{ "sni", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_cert_peer p;
	int ch;

	memset(&p, 0, sizeof(p));
	p.json = json;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hj", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (*optarg == '\0')
				return ctl_cert_err(CTL_CERT_USAGE,
				    "cert show: --sni needs a name");
			p.sni = optarg;
			break;
		case 'j':
			p.json = 1;
			break;
		case 'h':
			ctl_cert_usage(stdout);
			return CTL_CERT_EXIT_OK;
		default:
			return ctl_cert_opt_bad("show", ch, argv);
		}
	}
	if (argc - optind != 1)
		return ctl_cert_err(CTL_CERT_USAGE, "cert show: %s", argc - optind == 0 ?
		    "a FILE or HOST:PORT is needed" : "too many arguments");
	if (access(argv[optind], F_OK) == 0 || ctl_cert_hostport(argv[optind], &p) != CT_OK) {
		if (p.sni != NULL)
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert show: --sni is for HOST:PORT");
		return ctl_cert_show_file(argv[optind], p.json);
	}
	if (p.sni == NULL && !ctl_cert_is_ip(p.host))
		p.sni = p.host;
	return ctl_cert_show_peer(&p);
}

/* ------------------------------------------------------------------ */
/* Entry point */

int
ctl_cert_main(int argc, char **argv, int json)
{
	if (argc < 2)
		return ctl_cert_err(CTL_CERT_USAGE, "cert: gen or show?");
	if (strcmp(argv[1], "gen") == 0) {
		if (json)
			return ctl_cert_err(CTL_CERT_USAGE,
			    "cert gen: --json is not supported");
		return ctl_cert_gen(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "show") == 0)
		return ctl_cert_show(argc - 1, argv + 1, json);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		ctl_cert_usage(stdout);
		return CTL_CERT_EXIT_OK;
	}
	return ctl_cert_err(CTL_CERT_USAGE, "cert: unknown subcommand \"%s\"", argv[1]);
}
