/*
 * The "forward" and "socks" blocks of a listener (conf/proxy.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"

/* A port, 1..65535, as a scalar of its own; 0 when it is not one (reported). */
static uint16_t
conf_port_parse(struct conf_ctx *ctx, const struct node *v, const char *what)
{
	char q[CONF_QUOTE_LEN], *t, *end;
	unsigned long n;

	if (conf_expect(ctx, v, NODE_SCALAR, what, 1) == CT_ERROR ||
	    (t = conf_env_expand(ctx, v)) == NULL)
		return 0;
	errno = 0;
	n = strtoul(t, &end, 10);
	if (t[0] < '0' || t[0] > '9' || *end != '\0' || errno != 0 || n == 0 || n > 65535) {
		conf_error(ctx, v, "invalid port \"%s\" in \"%s\": a number from 1 to 65535",
		    conf_quote(t, q, sizeof(q)), what);
		n = 0;
	}
	free(t);
	return (uint16_t)n;
}

static void
conf_connect_ports_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_proxy *p = obj;
	size_t i, j;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0 || v->nitems > CONF_CONNECT_PORTS_MAX) {
		conf_error(ctx, v, "\"%s\" must have 1 to %d entries", k->name,
		    CONF_CONNECT_PORTS_MAX);
		return;
	}
	if ((p->connect_ports = calloc(v->nitems, sizeof(*p->connect_ports))) == NULL) {
		conf_oom(ctx);
		return;
	}
	for (i = 0; i < v->nitems; i++) {
		uint16_t port = conf_port_parse(ctx, v->items[i], k->name);

		for (j = 0; port != 0 && j < p->nconnect_ports; j++)
			if (p->connect_ports[j] == port)
				conf_error(ctx, v->items[i], "duplicate port %u in \"%s\"", port,
				    k->name);
		if (port != 0)
			p->connect_ports[p->nconnect_ports++] = port;
	}
}

static const struct conf_key conf_forward_keys[] = {
	{ "connect_ports", 0, conf_connect_ports_parse, 0, 0, 0 },
	{ "keepalive",     0, conf_keepalive_parse, offsetof(struct conf_proxy, keepalive), 0, 0 },
};

CONF_TABLE(conf_forward_table, "in forward", conf_forward_keys);

void
conf_forward_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	conf_map_parse(ctx, k, v, &conf_forward_table, (char *)obj + k->off);
}

static void
conf_socks_versions_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_proxy *p = obj;
	char q[CONF_QUOTE_LEN];
	unsigned bit;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0) {
		conf_error(ctx, v, "\"%s\" must have at least one entry", k->name);
		return;
	}
	p->socks_versions = 0;
	for (i = 0; i < v->nitems; i++) {
		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    (t = conf_env_expand(ctx, v->items[i])) == NULL)
			continue;
		bit = strcmp(t, "4") == 0 ? CONF_SOCKS_V4 : strcmp(t, "5") == 0 ? CONF_SOCKS_V5 : 0;
		if (bit == 0)
			conf_error(ctx, v->items[i], "invalid SOCKS version \"%s\" in \"%s\": "
			    "4 (with 4a) or 5", conf_quote(t, q, sizeof(q)), k->name);
		else if (p->socks_versions & bit)
			conf_error(ctx, v->items[i], "duplicate SOCKS version %s in \"%s\"", t,
			    k->name);
		p->socks_versions |= bit;
		free(t);
	}
}

static const struct conf_key conf_socks_keys[] = {
	{ "versions", 0, conf_socks_versions_parse, 0, 0, 0 },
	{ "udp",      0, conf_bool_parse, offsetof(struct conf_proxy, socks_udp), 0, 0 },
};

CONF_TABLE(conf_socks_table, "in socks", conf_socks_keys);

void
conf_socks_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	conf_map_parse(ctx, k, v, &conf_socks_table, (char *)obj + k->off);
}

/* Before the walk: what a "keepalive" block leaves out keeps these. */
void
conf_proxy_init(struct conf_proxy *p)
{
	p->keepalive.max_idle = CONF_KEEPALIVE_DEFAULT;
	p->keepalive.idle_timeout_ms = CONF_KEEPALIVE_TIMEOUT_DEFAULT;
}

void
conf_proxy_defaults(struct conf_ctx *ctx, struct conf_proxy *p, int forward)
{
	if (forward && p->nconnect_ports == 0) {
		free(p->connect_ports);
		if ((p->connect_ports = calloc(1, sizeof(*p->connect_ports))) == NULL) {
			conf_oom(ctx);
			return;
		}
		p->connect_ports[0] = 443;
		p->nconnect_ports = 1;
	}
	if (!forward && p->socks_versions == 0)
		p->socks_versions = CONF_SOCKS_V4 | CONF_SOCKS_V5;
}

void
conf_proxy_free(struct conf_proxy *p)
{
	free(p->connect_ports);
	p->connect_ports = NULL;
	p->nconnect_ports = 0;
}

void
conf_proxy_dump(const struct conf_proxy *p, int forward, FILE *out)
{
	char d[32];
	size_t i;

	if (forward) {
		fputs("    forward:\n      connect_ports: [", out);
		for (i = 0; i < p->nconnect_ports; i++)
			fprintf(out, "%s%u", i > 0 ? ", " : "", p->connect_ports[i]);
		fprintf(out, "]\n      keepalive:\n        max_idle: %u\n        idle_timeout: %s\n",
		    p->keepalive.max_idle,
		    conf_duration_format(p->keepalive.idle_timeout_ms, d, sizeof(d)));
		return;
	}
	fprintf(out, "    socks:\n      versions: [%s%s%s]\n      udp: %s\n",
	    p->socks_versions & CONF_SOCKS_V4 ? "4" : "",
	    p->socks_versions == (CONF_SOCKS_V4 | CONF_SOCKS_V5) ? ", " : "",
	    p->socks_versions & CONF_SOCKS_V5 ? "5" : "", conf_bool_name(p->socks_udp));
}
