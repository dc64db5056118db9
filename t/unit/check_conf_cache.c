/*
 * The "caches" section and a route's "cache" block: defaults, every
 * key, the dump that loads back the same, and each error at its
 * file:line:col, those of the second pass (the zone a route names, the
 * zones against shm_size) included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

/* Lines 1-12: two zones, an http listener, its route open for a "cache" on line 13. */
#define HEAD \
	"shm_size: 128m\n" \
	"upstreams:\n" \
	"  app: {servers: [{address: 127.0.0.1:9}]}\n" \
	"caches:\n" \
	"  main: {size: 16m}\n" \
	"  alt: {size: 8m, key: [\"cookie:lang\"]}\n" \
	"listeners:\n" \
	"  - name: web\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: http\n" \
	"    routes:\n" \
	"      - upstream: app\n"

/* Line 13, the value at column 16. */
#define ROUTE(block) HEAD "        cache: " block "\n"

/* Lines 1-9: a listener that caches nothing; line 10 "caches:", line 11 zone z at column 6. */
#define ZONE(zone) \
	"shm_size: 128m\n" \
	"upstreams:\n" \
	"  app: {servers: [{address: 127.0.0.1:9}]}\n" \
	"listeners:\n" \
	"  - name: web\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: http\n" \
	"    routes:\n" \
	"      - upstream: app\n" \
	"caches:\n" \
	"  z: " zone "\n"

static struct conf *
load_ok(const char *text)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(text, &e);

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	return c;
}

START_TEST(cache_defaults)
{
	struct conf *c = load_ok(ZONE("{}"));
	const struct conf_route_cache *rc;
	const struct conf_cache *z;

	ck_assert_uint_eq(c->ncaches, 1);
	z = &c->caches[0];
	ck_assert_str_eq(z->name, "z");
	ck_assert_uint_eq(z->size, 64 << 20);
	ck_assert_uint_eq(z->max_object, 1 << 20);
	ck_assert_uint_eq(z->nkey, 0);
	ck_assert_ptr_null(z->key);
	ck_assert_ptr_null(c->listeners[0].routes[0].cache);
	conf_free(c);

	c = load_ok(ROUTE("{zone: main}"));
	rc = c->listeners[0].routes[0].cache;

	ck_assert_ptr_nonnull(rc);
	ck_assert_str_eq(rc->zone_name, "main");
	ck_assert_uint_eq(rc->zone, 0);
	ck_assert_uint_eq(rc->nvalid + rc->nbypass + rc->nno_store + rc->npurge, 0);
	ck_assert_int_eq(rc->set_cookie, 0);
	ck_assert_int_eq(rc->stale_on_error, 0);
	ck_assert_uint_eq(rc->lock_timeout_ms, 5000);
	ck_assert_uint_eq(rc->methods, CONF_CACHE_GET | CONF_CACHE_HEAD);
	conf_free(c);

	/* An empty section: no zones. */
	c = load_ok("caches: {}\n" "upstreams:\n  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners: [{name: t, listen: 127.0.0.1:8080, mode: tcp, upstream: app}]\n");
	ck_assert_uint_eq(c->ncaches, 0);
	conf_free(c);
}
END_TEST

/* The default max_object is lowered to a quarter of a small zone; a written one is kept. */
START_TEST(cache_max_object_follows_size)
{
	static const struct {
		const char *zone;
		uint64_t max;
	} cases[] = {
		{ "{size: 1m}", 256 << 10 },
		{ "{size: 2m}", 512 << 10 },
		{ "{size: 4m}", 1 << 20 },
		{ "{size: 32g}", 1 << 20 },
		{ "{size: 1m, max_object: 256k}", 256 << 10 },
		{ "{max_object: 1k}", 1 << 10 },
		{ "{max_object: 16m}", 16 << 20 },
	};
	struct conf *c;
	char text[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), ZONE("%s"), cases[i].zone);
		/* 32g needs its room in the segment: "shm_size: 128m" becomes 64g. */
		if (strstr(cases[i].zone, "32g") != NULL)
			memcpy(text, "shm_size: 64g \n", 15);
		c = load_ok(text);
		ck_assert_msg(c->caches[0].max_object == cases[i].max, "%s: %llu", cases[i].zone,
		    (unsigned long long)c->caches[0].max_object);
		conf_free(c);
	}
}
END_TEST

START_TEST(cache_every_key_round_trip)
{
	struct conf *c = load_ok(
	    "shm_size: 2g\n"
	    "caches:\n"
	    "  main: {size: 256m, max_object: 8m, key: [\"header:Accept-Language\", "
	    "\"cookie:Lang\"]}\n"
	    "  \"b.2\": {size: 1g}\n"
	    "upstreams:\n"
	    "  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners:\n"
	    "  - name: web\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: http\n"
	    "    routes:\n"
	    "      - match: {path_prefix: /static/}\n"
	    "        upstream: app\n"
	    "        cache:\n"
	    "          zone: b.2\n"
	    "          methods: [GET]\n"
	    "          valid: {200: 10m, 301: 1h, 404: 1m, 500: 0, any: 3650d}\n"
	    "          bypass: [\"cookie:session\", \"header:Authorization\"]\n"
	    "          no_store: [\"header:X-No-Cache\"]\n"
	    "          set_cookie: true\n"
	    "          stale_on_error: true\n"
	    "          lock_timeout: 250ms\n"
	    "          purge: [127.0.0.1/32, \"::1\"]\n"
	    "      - upstream: app\n"
	    "        cache: {zone: main, lock_timeout: 60s}\n"
	    "      - return: {status: 204}\n");
	const struct conf_route_cache *rc;
	const struct conf_cache *z;
	struct conf *again;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		ck_assert_uint_eq(c->ncaches, 2);
		z = &c->caches[0];
		ck_assert_str_eq(z->name, "main");
		ck_assert_uint_eq(z->size, 256 << 20);
		ck_assert_uint_eq(z->max_object, 8 << 20);
		ck_assert_uint_eq(z->nkey, 2);
		ck_assert_int_eq(z->key[0].kind, CONF_CACHE_HEADER);
		ck_assert_str_eq(z->key[0].name, "accept-language");
		ck_assert_int_eq(z->key[1].kind, CONF_CACHE_COOKIE);
		ck_assert_str_eq(z->key[1].name, "Lang");
		ck_assert_str_eq(c->caches[1].name, "b.2");
		ck_assert_uint_eq(c->caches[1].size, UINT64_C(1) << 30);
		rc = c->listeners[0].routes[0].cache;
		ck_assert_ptr_nonnull(rc);
		ck_assert_uint_eq(rc->zone, 1);
		ck_assert_uint_eq(rc->methods, CONF_CACHE_GET);
		ck_assert_uint_eq(rc->nvalid, 5);
		ck_assert_uint_eq(rc->valid[0].status, 200);
		ck_assert_uint_eq(rc->valid[0].ms, 600000);
		ck_assert_uint_eq(rc->valid[2].status, 404);
		ck_assert_uint_eq(rc->valid[3].status, 500);
		ck_assert_uint_eq(rc->valid[3].ms, 0);
		ck_assert_uint_eq(rc->valid[4].status, 0);
		ck_assert_uint_eq(rc->valid[4].ms, UINT64_C(3650) * 86400 * 1000);
		ck_assert_uint_eq(rc->nbypass, 2);
		ck_assert_int_eq(rc->bypass[0].kind, CONF_CACHE_COOKIE);
		ck_assert_str_eq(rc->bypass[0].name, "session");
		ck_assert_str_eq(rc->bypass[1].name, "authorization");
		ck_assert_uint_eq(rc->nno_store, 1);
		ck_assert_str_eq(rc->no_store[0].name, "x-no-cache");
		ck_assert_int_eq(rc->set_cookie, 1);
		ck_assert_int_eq(rc->stale_on_error, 1);
		ck_assert_uint_eq(rc->lock_timeout_ms, 250);
		ck_assert_uint_eq(rc->npurge, 2);
		ck_assert_uint_eq(rc->purge[0].prefix, 32);
		ck_assert_uint_eq(rc->purge[1].prefix, 128);
		rc = c->listeners[0].routes[1].cache;
		ck_assert_ptr_nonnull(rc);
		ck_assert_uint_eq(rc->zone, 0);
		ck_assert_uint_eq(rc->methods, CONF_CACHE_GET | CONF_CACHE_HEAD);
		ck_assert_uint_eq(rc->lock_timeout_ms, 60000);
		ck_assert_ptr_null(c->listeners[0].routes[2].cache);
		again = conf_errs_round_trip(c);
		conf_free(c);
		c = again;
	}
	conf_free(c);
}
END_TEST

/* "$" in a cookie's name is a token character, and the loader's escape. */
START_TEST(cache_dollar_round_trip)
{
	struct conf *c = load_ok(ZONE("{key: [\"cookie:a$$b\"]}")), *again;
	char *out;

	ck_assert_str_eq(c->caches[0].key[0].name, "a$b");
	out = conf_errs_dump(c);
	ck_assert_ptr_nonnull(strstr(out, "caches:\n  \"z\":\n    size: 64m\n    max_object: 1m\n"
	    "    key: [\"cookie:a$$b\"]\n"));
	ck_assert_ptr_nonnull(strstr(out, "        # cache: (off)\n"));
	free(out);
	again = conf_errs_round_trip(c);
	ck_assert_str_eq(again->caches[0].key[0].name, "a$b");
	conf_free(again);
	conf_free(c);
}
END_TEST

START_TEST(cache_zone_errors)
{
	conf_errs_expect(ZONE("{size: 512k}"),
	    "t.yaml:11:13: \"size\" must be between 1m and 64g, not \"512k\"");
	conf_errs_expect(ZONE("{size: 65g}"),
	    "t.yaml:11:13: \"size\" must be between 1m and 64g, not \"65g\"");
	conf_errs_expect(ZONE("{size: lots}"),
	    "t.yaml:11:13: invalid size \"lots\" for \"size\": missing number");
	conf_errs_expect(ZONE("{max_object: 1023}"),
	    "t.yaml:11:19: \"max_object\" must be between 1k and 16g, not \"1023\"");
	conf_errs_expect(ZONE("{size: 16m, max_object: 5m}"),
	    "t.yaml:11:18: \"max_object\" must be at most a quarter of \"size\" (4m), not 5m: "
	    "one object may not take more than a quarter of its zone");
	/* The size may come after it: the check follows the walk. */
	conf_errs_expect(ZONE("{max_object: 2m, size: 4m}"),
	    "t.yaml:11:7: \"max_object\" must be at most a quarter of \"size\" (1m), not 2m: "
	    "one object may not take more than a quarter of its zone");
	conf_errs_expect(ZONE("{sise: 1m}"),
	    "t.yaml:11:7: unknown key \"sise\" in cache zone, did you mean \"size\"?");
	conf_errs_expect(ZONE("64m"),
	    "t.yaml:11:6: \"z\" must be a mapping");
	conf_errs_expect(ZONE("{key: \"header:a\"}"),
	    "t.yaml:11:12: \"key\" must be a sequence");
	conf_errs_expect(ZONE("{key: [\"query:x\"]}"),
	    "t.yaml:11:13: invalid part \"query:x\" in \"key\": use header:NAME or cookie:NAME");
	conf_errs_expect(ZONE("{key: [header]}"),
	    "t.yaml:11:13: invalid part \"header\" in \"key\": use header:NAME or cookie:NAME");
	conf_errs_expect(ZONE("{key: [\"cookie:\"]}"),
	    "t.yaml:11:13: invalid name \"\" in \"key\": use letters, digits and "
	    "!#$%&'*+-.^_`|~");
	conf_errs_expect(ZONE("{key: [\"header:a b\"]}"),
	    "t.yaml:11:13: invalid name \"a b\" in \"key\": use letters, digits and "
	    "!#$%&'*+-.^_`|~");
	conf_errs_expect(ZONE("{key: [[x]]}"),
	    "t.yaml:11:13: each entry of \"key\" must be a scalar");
	conf_errs_expect(ZONE("{key: [\"header:X-A\", \"header:x-a\"]}"),
	    "t.yaml:11:27: duplicate part \"header:x-a\" in \"key\" (first at line 11, "
	    "column 13)");
	conf_errs_expect(ZONE("{key: [a, b, c, d, e, f, g, h, i]}"),
	    "t.yaml:11:12: \"key\" must have at most 8 entries, not 9");
	/* Cookies are told apart by case; header names are not. */
	conf_free(load_ok(ZONE("{key: [\"cookie:A\", \"cookie:a\", \"header:a\"]}")));
}
END_TEST

START_TEST(cache_section_errors)
{
	conf_errs_expect(ZONE("{size: 1m}") "  \"a b\": {size: 1m}\n",
	    "t.yaml:12:3: invalid cache zone name \"a b\": use 1 to 63 characters from "
	    "A-Z a-z 0-9 _ . -");
	conf_errs_expect(ZONE("{size: 1m}") "  z: {size: 2m}\n",
	    "t.yaml:12:3: duplicate cache zone \"z\" (first at line 11, column 3)");
	conf_errs_expect("caches: [a]\nupstreams:\n  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners: [{name: t, listen: 127.0.0.1:8080, mode: tcp, upstream: app}]\n",
	    "t.yaml:1:9: \"caches\" must be a mapping");
	conf_errs_expect(ZONE("{size: 1m}")
	    "  a: {size: 1m}\n  b: {size: 1m}\n  c: {size: 1m}\n  d: {size: 1m}\n"
	    "  e: {size: 1m}\n  f: {size: 1m}\n  g: {size: 1m}\n  h: {size: 1m}\n"
	    "  i: {size: 1m}\n  j: {size: 1m}\n  k: {size: 1m}\n  l: {size: 1m}\n"
	    "  m: {size: 1m}\n  n: {size: 1m}\n  o: {size: 1m}\n  p: {size: 1m}\n",
	    "t.yaml:11:3: \"caches\" may have 16 entries at most");
	conf_errs_expect("cache: {}\nupstreams:\n  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners: [{name: t, listen: 127.0.0.1:8080, mode: tcp, upstream: app}]\n",
	    "t.yaml:1:1: unknown key \"cache\" at top level, did you mean \"caches\"?");
}
END_TEST

/* The zones and 16m of cuttle's tables within shm_size: at the "caches" key. */
START_TEST(cache_shm_size)
{
	struct conf *c;

	/* 112m and 16m: exactly 128m. */
	c = load_ok(ZONE("{size: 100m}") "  y: {size: 12m}\n");
	conf_free(c);
	conf_errs_expect(ZONE("{size: 100m}") "  y: {size: 13m}\n",
	    "t.yaml:10:1: the caches (113m) and cuttle's own tables need more than shm_size "
	    "(128m): raise shm_size to 129m or shrink the caches");
	/* The default zone does not fit the default segment. */
	conf_errs_expect("caches:\n  z: {}\nupstreams:\n  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners: [{name: t, listen: 127.0.0.1:8080, mode: tcp, upstream: app}]\n",
	    "t.yaml:1:1: the caches (64m) and cuttle's own tables need more than shm_size "
	    "(32m): raise shm_size to 80m or shrink the caches");
}
END_TEST

START_TEST(cache_route_errors)
{
	conf_errs_expect(ROUTE("{zone: nope}"),
	    "t.yaml:13:23: no cache zone \"nope\"");
	conf_errs_expect(ROUTE("{zone: mian}"),
	    "t.yaml:13:23: no cache zone \"mian\", did you mean \"main\"?");
	conf_errs_expect(ROUTE("{}"),
	    "t.yaml:13:16: missing required key \"zone\" in cache");
	conf_errs_expect(ROUTE("{zone: \"\"}"),
	    "t.yaml:13:23: \"zone\" must not be empty");
	conf_errs_expect(ROUTE("main"),
	    "t.yaml:13:16: \"cache\" must be a mapping");
	conf_errs_expect(ROUTE("{zone: main, zones: x}"),
	    "t.yaml:13:29: unknown key \"zones\" in cache, did you mean \"zone\"?");
	conf_errs_expect(ROUTE("{zone: main, methods: [GET, POST]}"),
	    "t.yaml:13:44: invalid method \"POST\" in \"methods\" of cache: a cache answers "
	    "GET and HEAD only");
	conf_errs_expect(ROUTE("{zone: main, methods: [get]}"),
	    "t.yaml:13:39: invalid method \"get\" in \"methods\" of cache: a cache answers "
	    "GET and HEAD only");
	conf_errs_expect(ROUTE("{zone: main, methods: [GET, GET]}"),
	    "t.yaml:13:44: duplicate method GET in \"methods\" of cache");
	conf_errs_expect(ROUTE("{zone: main, methods: [HEAD]}"),
	    "t.yaml:13:38: \"methods\" of cache needs GET: a HEAD is answered from a stored GET");
	conf_errs_expect(ROUTE("{zone: main, methods: []}"),
	    "t.yaml:13:38: \"methods\" of cache needs GET: a HEAD is answered from a stored GET");
	conf_errs_expect(ROUTE("{zone: main, methods: GET}"),
	    "t.yaml:13:38: \"methods\" must be a sequence");
	conf_errs_expect(ROUTE("{zone: main, valid: [200]}"),
	    "t.yaml:13:36: \"valid\" must be a mapping");
	conf_errs_expect(ROUTE("{zone: main, valid: {99: 1m}}"),
	    "t.yaml:13:37: invalid status \"99\" in \"valid\": use 100 to 599 or \"any\"");
	conf_errs_expect(ROUTE("{zone: main, valid: {600: 1m}}"),
	    "t.yaml:13:37: invalid status \"600\" in \"valid\": use 100 to 599 or \"any\"");
	conf_errs_expect(ROUTE("{zone: main, valid: {ok: 1m}}"),
	    "t.yaml:13:37: invalid status \"ok\" in \"valid\": use 100 to 599 or \"any\"");
	conf_errs_expect(ROUTE("{zone: main, valid: {200: 1500ms}}"),
	    "t.yaml:13:42: \"200\" is 0 (not stored) or whole seconds, not \"1500ms\"");
	conf_errs_expect(ROUTE("{zone: main, valid: {200: 3651d}}"),
	    "t.yaml:13:42: \"200\" must be at most 3650d, not \"3651d\"");
	conf_errs_expect(ROUTE("{zone: main, valid: {200: soon}}"),
	    "t.yaml:13:42: invalid duration \"soon\" for \"200\": missing number");
	conf_errs_expect(ROUTE("{zone: main, valid: {200: [1m]}}"),
	    "t.yaml:13:42: \"200\" must be a scalar");
	conf_errs_expect(ROUTE("{zone: main, valid: {200: 1m, 200: 2m}}"),
	    "t.yaml:13:46: duplicate status 200 in \"valid\" (first at line 13, column 37)");
	conf_errs_expect(ROUTE("{zone: main, valid: {any: 1m, 404: 2m}}"),
	    "t.yaml:13:46: status 404 after \"any\" in \"valid\" would never be used: \"any\" "
	    "matches every status, so it goes last");
	conf_errs_expect(ROUTE("{zone: main, valid: {any: 1m, any: 2m}}"),
	    "t.yaml:13:46: duplicate status any in \"valid\" (first at line 13, column 37)");
	conf_errs_expect(ROUTE("{zone: main, valid: {100: 1s, 101: 1s, 102: 1s, 103: 1s, "
	    "200: 1s, 201: 1s, 202: 1s, 203: 1s, 204: 1s, 205: 1s, 206: 1s, 207: 1s, 208: 1s, "
	    "226: 1s, 300: 1s, 301: 1s, 302: 1s}}"),
	    "t.yaml:13:36: \"valid\" must have at most 16 entries, not 17");
	conf_errs_expect(ROUTE("{zone: main, bypass: [\"arg:x\"]}"),
	    "t.yaml:13:38: invalid part \"arg:x\" in \"bypass\": use header:NAME or cookie:NAME");
	conf_errs_expect(ROUTE("{zone: main, no_store: [\"header:a;b\"]}"),
	    "t.yaml:13:40: invalid name \"a;b\" in \"no_store\": use letters, digits and "
	    "!#$%&'*+-.^_`|~");
	conf_errs_expect(ROUTE("{zone: main, no_store: [\"cookie:s\", \"cookie:s\"]}"),
	    "t.yaml:13:52: duplicate part \"cookie:s\" in \"no_store\" (first at line 13, "
	    "column 40)");
	conf_errs_expect(ROUTE("{zone: main, set_cookie: yes}"),
	    "t.yaml:13:41: \"set_cookie\" must be true or false, not \"yes\"");
	conf_errs_expect(ROUTE("{zone: main, stale_on_error: 1}"),
	    "t.yaml:13:45: \"stale_on_error\" must be true or false, not \"1\"");
	conf_errs_expect(ROUTE("{zone: main, lock_timeout: 9ms}"),
	    "t.yaml:13:43: \"lock_timeout\" must be at least 10ms, not \"9ms\"");
	conf_errs_expect(ROUTE("{zone: main, lock_timeout: 61s}"),
	    "t.yaml:13:43: \"lock_timeout\" must be at most 1m, not \"61s\"");
	conf_errs_expect(ROUTE("{zone: main, lock_timeout: 0}"),
	    "t.yaml:13:43: \"lock_timeout\" must be greater than 0");
	conf_errs_expect(ROUTE("{zone: main, purge: [10.0.0.1/8]}"),
	    "t.yaml:13:37: invalid CIDR \"10.0.0.1/8\" for \"purge\": host bits set");
	conf_errs_expect(ROUTE("{zone: main, purge: 127.0.0.1}"),
	    "t.yaml:13:36: \"purge\" must be a sequence");
}
END_TEST

/* Only routes that proxy have a response to store, and only mode http has routes. */
START_TEST(cache_where_allowed)
{
	conf_errs_expect(HEAD
	    "      - return: {status: 204}\n"
	    "        cache: {zone: main}\n",
	    "t.yaml:14:9: \"cache\" is only for routes with \"upstream\"");
	conf_errs_expect(HEAD
	    "      - redirect: {location: \"https://example.com/\"}\n"
	    "        cache: {zone: main}\n",
	    "t.yaml:14:9: \"cache\" is only for routes with \"upstream\"");
	/* Forward and tcp listeners have no routes: the one error is there, not at the zone. */
	conf_errs_expect("upstreams:\n  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners:\n"
	    "  - {name: f, listen: 127.0.0.1:8080, mode: forward,\n"
	    "     routes: [{upstream: app, cache: {zone: nope}}]}\n",
	    "t.yaml:5:6: \"routes\" is only for mode http");
	conf_errs_expect("upstreams:\n  app: {servers: [{address: 127.0.0.1:9}]}\n"
	    "listeners:\n"
	    "  - {name: t, listen: 127.0.0.1:8080, mode: tcp, upstream: app,\n"
	    "     routes: [{upstream: app, cache: {zone: nope}}]}\n",
	    "t.yaml:5:6: \"routes\" is only for mode http");
}
END_TEST

Suite *
suite_conf_cache(void)
{
	Suite *s = suite_create("conf_cache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, cache_defaults);
	tcase_add_test(tc, cache_max_object_follows_size);
	tcase_add_test(tc, cache_every_key_round_trip);
	tcase_add_test(tc, cache_dollar_round_trip);
	tcase_add_test(tc, cache_zone_errors);
	tcase_add_test(tc, cache_section_errors);
	tcase_add_test(tc, cache_shm_size);
	tcase_add_test(tc, cache_route_errors);
	tcase_add_test(tc, cache_where_allowed);
	suite_add_tcase(s, tc);
	return s;
}
