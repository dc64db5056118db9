# cuttle: one non-recursive Makefile.  Objects go to $(B)/ so that the
# normal and the sanitizer builds live side by side.

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR  = $(PREFIX)/sbin
MANDIR   = $(PREFIX)/share/man
SYSCONFDIR ?= /etc/cuttle

CC      ?= cc
B       ?= build
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wcast-qual
CFLAGS  ?= -O2 -g
# Kept apart from CFLAGS so that "make CFLAGS=..." changes only optimisation.
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -I. $(WARN) -MMD -MP
LDLIBS   = -lyaml -lpthread

CORE_SRC   := $(sort $(wildcard lib/*.c conf/*.c shm/*.c))
CUTTLE_SRC := $(sort $(wildcard master/*.c worker/*.c))
UNIT_SRC   := $(sort $(wildcard t/unit/*.c))

CORE_OBJ   := $(CORE_SRC:%.c=$(B)/%.o)
CUTTLE_OBJ := $(CUTTLE_SRC:%.c=$(B)/%.o)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(B)/%.o)

CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

MANPAGES := $(wildcard man/*.[0-9])
PROVE    ?= prove
PROVE_FLAGS ?= -v -j2 --timer

.PHONY: all run deps test unit integration manlint asan install clean

all: $(B)/cuttle

$(B)/cuttle: $(CUTTLE_OBJ) $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/check_cuttle: $(UNIT_OBJ) $(CORE_OBJ) $(filter-out $(B)/master/main.o,$(CUTTLE_OBJ))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(B)/cuttle -c conf/cuttle.yaml

unit: $(B)/check_cuttle
	CK_FORK=yes ./$(B)/check_cuttle

integration: $(B)/cuttle
	CUTTLE_BIN=$(CURDIR)/$(B)/cuttle $(PROVE) $(PROVE_FLAGS) t/

manlint:
	mandoc -T lint -W warning $(MANPAGES)

test: deps
	@$(MAKE) --no-print-directory all $(B)/check_cuttle
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory manlint
	@$(MAKE) --no-print-directory integration

# Everything again under AddressSanitizer and UndefinedBehaviorSanitizer,
# in its own build directory.  halt_on_error makes a report fail the test.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan: deps
	@$(MAKE) --no-print-directory B=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" all build-asan/check_cuttle
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 CK_FORK=yes ./build-asan/check_cuttle
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    CUTTLE_BIN=$(CURDIR)/build-asan/cuttle CUTTLE_ASAN=1 $(PROVE) $(PROVE_FLAGS) t/

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(B)/cuttle $(DESTDIR)$(SBINDIR)/cuttle
	install -m 0644 man/cuttle.8 $(DESTDIR)$(MANDIR)/man8/cuttle.8
	install -m 0644 man/cuttle.yaml.5 $(DESTDIR)$(MANDIR)/man5/cuttle.yaml.5
	[ -e $(DESTDIR)$(SYSCONFDIR)/cuttle.yaml ] || install -m 0644 conf/cuttle.yaml $(DESTDIR)$(SYSCONFDIR)/cuttle.yaml

clean:
	rm -rf build build-asan

-include $(CORE_OBJ:.o=.d) $(CUTTLE_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
