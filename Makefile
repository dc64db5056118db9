# cuttle: one non-recursive Makefile.  Objects go to $(B)/ so that the
# normal and the sanitizer builds live side by side.

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR  = $(PREFIX)/sbin
MANDIR   = $(PREFIX)/share/man
SYSCONFDIR ?= /etc/cuttle
SYSTEMDDIR ?= /lib/systemd/system

CC      ?= cc
B       ?= build
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wcast-qual
CFLAGS  ?= -O2 -g
# Kept apart from CFLAGS so that "make CFLAGS=..." changes only optimisation.
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -I. $(WARN) -MMD -MP
# jansson: the admin API (ctl/admin.c in cuttle) and cuttlectl; OpenSSL: TLS
# (conf/tls.c builds the contexts at load) and "cuttlectl cert"; libcrypt:
# the hashes of htpasswd files (conf/auth.c, worker/auth.c); libmaxminddb:
# a listener's geo; PCRE2: the expressions of a route's rules; c-ares: the
# workers' name lookups without blocking (worker/resolve.c); hiredis: the
# master's link to Redis, through its asynchronous API (master/redis.c).
LDLIBS   = -lyaml -lz -lpthread -ljansson -lssl -lcrypto -lcrypt -lmaxminddb -lpcre2-8 -lcares \
           -lhiredis

CORE_SRC   := $(sort $(wildcard lib/*.c conf/*.c shm/*.c))
# ctl/admin*.c is part of cuttle; ctl/cuttlectl.c and ctl/cert.c are a program of their own.
CUTTLE_SRC := $(sort $(wildcard core/*.c master/*.c worker/*.c ctl/admin*.c))
CTL_SRC    := ctl/cuttlectl.c ctl/cert.c
UNIT_SRC   := $(sort $(wildcard t/unit/*.c))

CORE_OBJ   := $(CORE_SRC:%.c=$(B)/%.o)
# The dashboard's files (ctl/ui/) become a C file in $(B)/, made at build
# time: the binary serves them, and the repository keeps only the files.
UI_FILES   := $(sort $(wildcard ctl/ui/*.html ctl/ui/*.js ctl/ui/*.css))
CUTTLE_OBJ := $(CUTTLE_SRC:%.c=$(B)/%.o) $(B)/ctl/ui_files.o
CTL_OBJ    := $(CTL_SRC:%.c=$(B)/%.o)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(B)/%.o)

CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

MANPAGES := $(wildcard man/*.[0-9])
PROVE    ?= prove
PROVE_FLAGS ?= -v -j2 --timer

.PHONY: all run deps test unit integration manlint asan fuzz bench install clean

all: $(B)/cuttle $(B)/cuttlectl

$(B)/cuttle: $(CUTTLE_OBJ) $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/cuttlectl: $(CTL_OBJ) $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/check_cuttle: $(UNIT_OBJ) $(CORE_OBJ) $(filter-out $(B)/master/main.o,$(CUTTLE_OBJ))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/ctl/ui_files.c: ctl/ui_embed.sh $(UI_FILES)
	@mkdir -p $(@D)
	sh ctl/ui_embed.sh $(UI_FILES) > $@.tmp && mv $@.tmp $@

$(B)/ctl/ui_files.o: $(B)/ctl/ui_files.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(B)/cuttle -c conf/cuttle.yaml

unit: $(B)/check_cuttle
	CK_FORK=yes ./$(B)/check_cuttle

integration: $(B)/cuttle $(B)/cuttlectl t/browser/node_modules
	CUTTLE_BIN=$(CURDIR)/$(B)/cuttle CUTTLECTL_BIN=$(CURDIR)/$(B)/cuttlectl $(PROVE) $(PROVE_FLAGS) t/

manlint:
	mandoc -T lint -W warning $(MANPAGES)

# What only the tests use: clients and other proxies to talk to cuttle
# (ncat, dig, python3-socks) and to chain it with (dante, tinyproxy).
# chromium: t/86-dashboard-browser.t drives the dashboard in it, headless,
# with playwright-core from npm (t/browser/package-lock.json, npm ci).
# redis-server, redis-sentinel: t/90-redis-link.t starts its own.
TEST_PKGS = ncat bind9-dnsutils python3-socks dante-server tinyproxy-bin chromium \
            redis-server redis-sentinel

test: deps
	@sh scripts/deps.sh $(TEST_PKGS)
	@$(MAKE) --no-print-directory all $(B)/check_cuttle
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory manlint
	@$(MAKE) --no-print-directory integration

# Everything again under AddressSanitizer and UndefinedBehaviorSanitizer,
# in its own build directory.  halt_on_error makes a report fail the test.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan: deps
	@sh scripts/deps.sh $(TEST_PKGS)
	@$(MAKE) --no-print-directory B=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" all build-asan/check_cuttle t/browser/node_modules
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 CK_FORK=yes ./build-asan/check_cuttle
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    CUTTLE_BIN=$(CURDIR)/build-asan/cuttle CUTTLECTL_BIN=$(CURDIR)/build-asan/cuttlectl CUTTLE_ASAN=1 $(PROVE) $(PROVE_FLAGS) t/

# libFuzzer targets for the parsers of untrusted input, each run for
# FUZZ_SECONDS on a copy of its seed corpus (the copy grows; the seeds in
# t/fuzz/corpus/ stay as they are).  Not part of "make test".
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS    = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -std=c11 -D_GNU_SOURCE -I. $(WARN)
FUZZ_NAMES   := $(patsubst t/fuzz/fuzz_%.c,%,$(wildcard t/fuzz/fuzz_*.c))

fuzz:
	@echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null || \
	    { echo "fuzz: $(FUZZ_CC) cannot link libFuzzer; on Debian: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(FUZZ_NAMES:%=build-fuzz/fuzz_%)
	@for t in $(FUZZ_NAMES); do \
	    rm -rf build-fuzz/corpus/$$t && mkdir -p build-fuzz/corpus/$$t build-fuzz/crashes && \
	    cp t/fuzz/corpus/$$t/* build-fuzz/corpus/$$t/ && \
	    echo "fuzz: $$t for $(FUZZ_SECONDS)s" && \
	    dict=t/fuzz/$$t.dict && { [ -f $$dict ] || dict=t/fuzz/http.dict; } && \
	    ./build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -dict=$$dict -artifact_prefix=build-fuzz/crashes/$$t- \
	        build-fuzz/corpus/$$t || exit 1; \
	done

# Compares cuttle with nginx and HAProxy on loopback (about 5 minutes) and
# rewrites docs/BENCHMARKS.md; see scripts/bench/run.sh.
bench: deps
	@sh scripts/bench/deps.sh
	@$(MAKE) --no-print-directory all
	bash scripts/bench/run.sh

# The lib/ sources each target links, by target name; the HTTP parser by default.
# A target's dictionary is t/fuzz/<name>.dict, else http.dict.  FUZZ_LDLIBS_<name>:
# the libraries a target needs (ws: the handshake's SHA-1 from OpenSSL).
FUZZ_LIB_tls_hello  = lib/tls_hello.c
FUZZ_LIB_http_cache = lib/http_cache.c lib/http_parse.c
FUZZ_LIB_socks      = lib/socks.c lib/proxy_url.c lib/addr.c
FUZZ_LIB_ws         = lib/ws.c lib/http_basic.c
FUZZ_LDLIBS_ws      = -lcrypto
FUZZ_LIB_DEFAULT    = lib/http_parse.c

build-fuzz/fuzz_%: t/fuzz/fuzz_%.c lib/http_parse.c lib/http_parse.h lib/tls_hello.c lib/tls_hello.h \
                   lib/socks.c lib/socks.h lib/proxy_url.c lib/proxy_url.h lib/addr.c lib/addr.h lib/ct.h \
                   t/fuzz/socks_kind.h lib/ws.c lib/ws.h lib/http_basic.c lib/http_basic.h \
                   lib/http_cache.c lib/http_cache.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(or $(FUZZ_LIB_$*),$(FUZZ_LIB_DEFAULT)) $(FUZZ_LDLIBS_$*)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(B)/cuttle $(DESTDIR)$(SBINDIR)/cuttle
	install -m 0755 $(B)/cuttlectl $(DESTDIR)$(SBINDIR)/cuttlectl
	install -m 0644 man/cuttle.8 $(DESTDIR)$(MANDIR)/man8/cuttle.8
	install -m 0644 man/cuttlectl.8 $(DESTDIR)$(MANDIR)/man8/cuttlectl.8
	install -m 0644 man/cuttle.yaml.5 $(DESTDIR)$(MANDIR)/man5/cuttle.yaml.5
	[ -e $(DESTDIR)$(SYSCONFDIR)/cuttle.yaml ] || install -m 0644 conf/cuttle.yaml $(DESTDIR)$(SYSCONFDIR)/cuttle.yaml
	install -d $(DESTDIR)$(SYSTEMDDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    scripts/cuttle.service > $(DESTDIR)$(SYSTEMDDIR)/cuttle.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/cuttle.service

# playwright-core, at the version of the lock file, for the browser test.
# Debian's npm package only when there is no npm: a nodejs from
# elsewhere (NodeSource) brings its own and conflicts with Debian's.
t/browser/node_modules: t/browser/package.json t/browser/package-lock.json
	@command -v npm >/dev/null 2>&1 || sh scripts/deps.sh npm
	cd t/browser && npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf build build-asan

-include $(CORE_OBJ:.o=.d) $(CUTTLE_OBJ:.o=.d) $(CTL_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
