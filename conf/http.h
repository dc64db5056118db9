/*
 * What an http listener adds to a listener: its routes, the header
 * rewriting of the routes that proxy, and compression of responses.
 */
#ifndef CT_CONF_HTTP_H
#define CT_CONF_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "conf/cache.h"
#include "conf/limit.h"
struct conf_auth;
#include "conf/rules.h"

struct conf_kv {
	char *name;                 /* a valid field name (token) */
	char *value;                /* a valid field value: no CR, LF or NUL */
};

/* Header rewriting: remove, then set (replace or add), then add. */
struct conf_header_ops {
	struct conf_kv *set;
	size_t nset;
	struct conf_kv *add;
	size_t nadd;
	char **remove;
	size_t nremove;
};

enum conf_route_action {
	CONF_ROUTE_UPSTREAM,        /* proxy to upstream */
	CONF_ROUTE_RETURN,          /* answer with status and body */
	CONF_ROUTE_REDIRECT,        /* answer status with Location */
	/*
	 * Never configured: the one route of a forward listener's
	 * absolute-form requests, whose targets name their destinations.
	 */
	CONF_ROUTE_FORWARD
};

/* A route's match on the client certificate (listeners with tls.verify). */
enum conf_client_cert {
	CONF_CLIENT_CERT_ANY,       /* not looked at */
	CONF_CLIENT_CERT_VERIFIED,  /* one was presented and verified */
	CONF_CLIENT_CERT_UNVERIFIED /* none, or one that did not verify */
};

/*
 * One route of an HTTP listener.  Every match field that is set must
 * match; routes are tried in order and the first match wins.
 */
struct conf_route {
	char *host;                 /* NULL: any; "a.example.com", or "*.example.com" (any subdomain, not the bare domain); compared without port, case-insensitively */
	char *path_prefix;          /* NULL: any */
	char *path_exact;           /* NULL: any; compared with the path without the query */
	char **methods;             /* NULL/0: any; upper-case tokens */
	size_t nmethods;
	enum conf_client_cert client_cert;
	enum conf_route_action action;   /* exactly one of upstream / return / redirect */
	char *upstream_name;
	size_t upstream;            /* index, resolved in the second pass */
	unsigned status;            /* return: 100..599 (default 200); redirect: 301, 302, 303, 307, 308 (default 302) */
	char *body;                 /* return: default "" */
	char *location;             /* redirect: this, or scheme */
	char *scheme;               /* redirect: "https": the request's host and target on https */
	unsigned port;              /* redirect with scheme: 0 (default), or the port to name */
	char *host_rewrite;         /* NULL: the client's Host is sent upstream */
	struct conf_header_ops request_headers;
	struct conf_header_ops response_headers;
	struct conf_limit_refs limits; /* request rates per key */
	struct conf_auth *auth;     /* NULL: the listener's; auth->off: none */
	struct conf_rules rules;    /* upstream routes only */
	struct conf_route_cache *cache; /* upstream routes only; NULL: not cached */
};

struct conf_compress {
	int enabled;                /* the "compress" key is present */
	char **types;               /* media types without parameters, lower-case; default text/html */
	size_t ntypes;
	uint64_t min_size;          /* default 1k: smaller (known) bodies are not compressed */
	int level;                  /* 1..9, default 5 */
};

#endif
