/*
 * The "auth" block of an http listener or route: HTTP basic
 * authentication against an htpasswd file.  The file is read while the
 * configuration loads, so that an unreadable file, a duplicate user or
 * a hash that libcrypt would not verify is an error at load (and a
 * reload with it keeps the old configuration); workers only look users
 * up.  A reload reads the file again.
 */
#ifndef CT_CONF_AUTH_H
#define CT_CONF_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define CONF_AUTH_USER_MAX      255     /* bytes of a user name */
#define CONF_AUTH_HASH_MAX      512     /* bytes of a hash */
#define CONF_AUTH_REALM_MAX     128
#define CONF_AUTH_FILE_MAX      ((size_t)16 << 20)
#define CONF_AUTH_FAILURES_DEFAULT 10

/* The hash kinds that are verified; anything else is refused at load. */
enum conf_auth_hash {
	CONF_AUTH_BCRYPT,           /* $2y$, $2b$, $2a$ */
	CONF_AUTH_SHA512,           /* $6$: sha512crypt */
	CONF_AUTH_SHA256,           /* $5$: sha256crypt */
	CONF_AUTH_YESCRYPT          /* $y$ */
};

struct conf_auth_user {
	char *name;
	char *hash;                 /* as in the file, for crypt_r() */
	enum conf_auth_hash kind;
};

struct conf_auth {
	int off;                    /* a route's "auth: off": the listener's does not apply */
	char *realm;                /* required; no quotes, backslashes or control characters */
	char *htpasswd;             /* the file's path, as written */
	int pass_authorization;     /* default false: Authorization is not sent upstream */
	unsigned max_failures;      /* per client address and minute, per worker; default 10, 0: none */
	struct conf_auth_user *users;   /* sorted by name (bytes), unique */
	size_t nusers;
	/*
	 * SHA-256 of the file's bytes: part of the key of a worker's cache
	 * of verified credentials, so that an entry made against one
	 * version of a file never answers for another.
	 */
	unsigned char version[32];
};

/*
 * Receives one error of an htpasswd text: its line (1-based) and the
 * message, which names the user when it can.
 */
typedef void (*conf_htpasswd_err_cb)(void *arg, unsigned line, const char *msg);

/*
 * Parses htpasswd text (len bytes, NUL bytes refused) into a's users,
 * sorted; every error goes to err.  Returns CT_OK, or CT_ERROR when
 * there was any error (a's users are then freed) or memory ran out
 * (err is told, line 0).
 */
int conf_htpasswd_parse(const char *text, size_t len, struct conf_auth *a,
    conf_htpasswd_err_cb err, void *arg);

/* The user named (name, len) in a, or NULL. */
const struct conf_auth_user *conf_auth_user_find(const struct conf_auth *a,
    const char *name, size_t len);

/* Frees a and what it holds; NULL is fine. */
void conf_auth_free(struct conf_auth *a);

#endif
