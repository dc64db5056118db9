/*
 * The "via" chains of upstreams and listeners (conf/via.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"

static void
conf_hop_parse(struct conf_ctx *ctx, const struct node *v, const char *what,
    struct conf_hop *h)
{
	char q[CONF_QUOTE_LEN], label[64 + SOCKS_NAME_MAX];
	const char *why;
	socklen_t len;

	if (conf_expect(ctx, v, NODE_SCALAR, what, 1) == CT_ERROR ||
	    (h->text = conf_env_expand(ctx, v)) == NULL)
		return;
	if (proxy_url_parse(h->text, &h->url, &why) != CT_OK) {
		conf_error(ctx, v, "invalid proxy \"%s\" in \"%s\": %s",
		    conf_quote(h->text, q, sizeof(q)), what, why);
		return;
	}
	/* Resolving at load would pin one answer for the configuration's life. */
	if ((len = socks_addr_to_sockaddr(&h->url.addr, &h->addr.ss)) == 0) {
		conf_error(ctx, v, "invalid proxy \"%s\" in \"%s\": the host of a hop must be "
		    "an IP address", conf_quote(h->text, q, sizeof(q)), what);
		return;
	}
	h->addr.len = len;
	snprintf(label, sizeof(label), "%s://", proxy_type_name(h->url.type));
	addr_format((const struct sockaddr *)&h->addr.ss, label + strlen(label),
	    sizeof(label) - strlen(label));
	if ((h->label = strdup(label)) == NULL)
		conf_oom(ctx);
}

void
conf_via_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_via *via = (struct conf_via *)((char *)obj + k->off);
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0 || v->nitems > CONF_VIA_MAX) {
		conf_error(ctx, v, "\"%s\" must have 1 to %d hops", k->name, CONF_VIA_MAX);
		return;
	}
	if ((via->hops = calloc(v->nitems, sizeof(*via->hops))) == NULL) {
		conf_oom(ctx);
		return;
	}
	via->n = v->nitems;
	for (i = 0; i < v->nitems; i++)
		conf_hop_parse(ctx, v->items[i], k->name, &via->hops[i]);
}

void
conf_via_free(struct conf_via *via)
{
	size_t i;

	for (i = 0; i < via->n; i++) {
		explicit_bzero(&via->hops[i].url, sizeof(via->hops[i].url));
		if (via->hops[i].text != NULL)
			explicit_bzero(via->hops[i].text, strlen(via->hops[i].text));
		free(via->hops[i].text);
		free(via->hops[i].label);
	}
	free(via->hops);
	via->hops = NULL;
	via->n = 0;
}

void
conf_via_udp_check(struct conf_ctx *ctx, const struct conf_via *via,
    const struct node *vnode, const char *name, const char *listener)
{
	char q[CONF_QUOTE_LEN], ql[CONF_QUOTE_LEN];
	size_t i;

	if (vnode == NULL || vnode->type != NODE_SEQUENCE || vnode->nitems != via->n)
		return;
	/* A hop without a label did not parse, and was reported. */
	for (i = 0; i < via->n; i++)
		if (via->hops[i].label != NULL && via->hops[i].url.type != PROXY_SOCKS5 &&
		    via->hops[i].url.type != PROXY_SOCKS5H)
			conf_error(ctx, vnode->items[i], "hop %zu (%s) of upstream \"%s\" cannot "
			    "carry the datagrams of udp listener \"%s\": only a SOCKS 5 hop relays "
			    "UDP (UDP ASSOCIATE)", i + 1, via->hops[i].label,
			    conf_quote(name, q, sizeof(q)), conf_quote(listener, ql, sizeof(ql)));
}

void
conf_via_dump(const struct conf_via *via, FILE *out, int indent)
{
	size_t i;

	if (via->n == 0)
		return;
	fprintf(out, "%*svia:\n", indent, "");
	for (i = 0; i < via->n; i++) {
		fprintf(out, "%*s- ", indent + 2, "");
		conf_dump_str(out, via->hops[i].text, 1);
		fputc('\n', out);
	}
}
