# SPDX-License-Identifier: GPL-2.0-only
# kmig top-level build.  `make` builds the agent (kmigd) and the CLI (kmig);
# `make check` installs missing build dependencies, builds twice (plain and
# ASan+UBSan) and runs every test; `make kmod` / `make bpf` build the kernel
# module and eBPF programs (later issues); `make bench` runs benchmarks.

VERSION   := 0.1.0
BUILD     ?= build
SAN       ?=
CC        ?= cc
PYTHON    ?= python3

# -Wno-format-truncation: every snprintf into a fixed buffer truncates on purpose.
CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -D_GNU_SOURCE -DKMIG_VERSION='"$(VERSION)"' \
	$(shell pkg-config --cflags json-c 2>/dev/null)
ifeq ($(SAN),1)
CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS     += -fsanitize=address,undefined
endif
# SAN=thread: a ThreadSanitizer build for hunting races by hand (not part of make check)
ifeq ($(SAN),thread)
CFLAGS_BASE += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS     += -fsanitize=thread
endif
GEN       := $(BUILD)/qapi
INCLUDES  := -Iuserspace/util -Iuserspace/qmp -Iuserspace/engine -Iuserspace/kmigd \
	-Iuserspace/track -Iuserspace/lib -Iuserspace/xport -I$(GEN) -Iinclude/uapi
CFLAGS    += $(CFLAGS_BASE) $(INCLUDES)
LDLIBS    += $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c) -lpthread

SCHEMA    := qapi/schema/kmig.json
SCHEMA_SRC:= $(wildcard qapi/schema/*.json)
QAPIGEN   := $(wildcard qapi/gen/*.py)
GEN_C     := $(GEN)/qapi-types.c $(GEN)/qapi-visit.c $(GEN)/qapi-commands.c \
	$(GEN)/qapi-events.c $(GEN)/qapi-introspect.c
GEN_H     := $(GEN)/qapi-types.h $(GEN)/qapi-visit.h $(GEN)/qapi-commands.h $(GEN)/qapi-events.h

UTIL_SRC  := userspace/util/log.c userspace/util/loop.c userspace/util/json_stream.c \
	userspace/util/json_write.c
QMP_SRC   := userspace/qmp/qapi_rt.c userspace/qmp/qmp_server.c userspace/qmp/qmp_control.c \
	userspace/qmp/qmp_params.c userspace/qmp/qmp_migration.c
ENGINE_SRC:= userspace/engine/uri.c userspace/engine/migrate.c userspace/engine/precopy.c \
	userspace/engine/incoming.c userspace/engine/ratelimit.c userspace/engine/workload.c \
	userspace/engine/pagehash.c userspace/engine/pagehash_avx2.c
XPORT_SRC := userspace/xport/xport_fd.c
TRACK_SRC := userspace/track/tracker.c userspace/track/track_uffd.c userspace/track/track_kmod.c
LIBKMIG_SRC := userspace/lib/wl_proto.c userspace/lib/libkmig.c
KMIGD_SRC := userspace/kmigd/main.c userspace/kmigd/wl_server.c
CLI_SRC   := userspace/cli/kmig.c userspace/cli/qmp_client.c userspace/cli/migrate_cmd.c
DIRTYGEN_SRC := userspace/workload/dirtygen.c userspace/workload/dg_memory.c
SENDLOOP_SRC := userspace/bench/sendloop.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ   := $(call obj,$(UTIL_SRC) $(QMP_SRC) $(ENGINE_SRC) $(XPORT_SRC) $(TRACK_SRC) \
	$(LIBKMIG_SRC) $(GEN_C))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all check check-build test deps demo bench bpf clean
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/bin/kmigd $(BUILD)/bin/kmig $(BUILD)/bin/kmig-dirtygen $(BUILD)/bin/kmig-sendloop

# The generator rewrites only changed files; the stamp orders the rule.
$(GEN)/.stamp: $(SCHEMA_SRC) $(QAPIGEN)
	@mkdir -p $(GEN)
	$(PYTHON) qapi/gen/main.py -o $(GEN) $(SCHEMA)
	@touch $@
$(GEN_C) $(GEN_H): $(GEN)/.stamp

$(BUILD)/obj/%.o: %.c $(GEN)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the one file built for AVX2; pagehash.c only calls it on CPUs that have it
$(BUILD)/obj/userspace/engine/pagehash_avx2.o: CFLAGS += -mavx2

$(BUILD)/lib/libkmigd.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bin/kmigd: $(call obj,$(KMIGD_SRC)) $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/kmig: $(call obj,$(CLI_SRC)) $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/kmig-dirtygen: $(call obj,$(DIRTYGEN_SRC)) $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/kmig-sendloop: $(call obj,$(SENDLOOP_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

check-build: all $(UNIT_TESTS)

deps:
	@scripts/deps.sh

# The README's test command.  Runs the plain build, then the same suite
# against an ASan+UBSan build, and prints one "N passed, N failed" line.
check: deps
	$(MAKE) check-build
	$(MAKE) BUILD=build/san SAN=1 check-build
	$(PYTHON) tests/run.py --build build --build build/san

test: check

demo: deps all
	@scripts/demo.sh

# Benchmarks, not tests: ratios against baselines measured in the same run.
bench: deps all
	@KMIG_DEPS_BENCH=1 scripts/deps.sh
	$(PYTHON) tests/bench/bench.py --build $(BUILD)

# Kernel module (make kmod [KDIR=...], make kmod-check, make vmbench)
include kmod/kmod.mk
# eBPF programs: wired here, filled in by their issue.
bpf:
	@if [ -n "$$(ls bpf/*.bpf.c 2>/dev/null)" ]; then $(MAKE) -C bpf; \
	else echo "bpf: no programs yet"; fi

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
