# SPDX-License-Identifier: GPL-2.0-only
# kmig top-level build.  `make` builds the agent (kmigd) and the CLI (kmig);
# `make check` installs missing build dependencies, builds twice (plain and
# ASan+UBSan) and runs every test; `make kmod` / `make bpf` build the kernel
# module and eBPF programs (later issues); `make bench` runs benchmarks.

VERSION   := 0.1.0
# quiet by default ("CC file"); make V=1 shows the commands
ifeq ($(V),1)
Q :=
else
Q := @
endif
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
# SAN=fuzz (with CC=clang): libFuzzer coverage plus ASan+UBSan, for the fuzz targets
ifeq ($(SAN),fuzz)
CFLAGS_BASE += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -Wno-unknown-warning-option
LDFLAGS     += -fsanitize=address,undefined
endif
# SAN=thread: a ThreadSanitizer build for hunting races by hand (not part of make check)
ifeq ($(SAN),thread)
CFLAGS_BASE += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS     += -fsanitize=thread
endif
GEN       := $(BUILD)/qapi
INCLUDES  := -Iuserspace/util -Iuserspace/qmp -Iuserspace/engine -Iuserspace/kmigd \
	-Iuserspace/track -Iuserspace/lib -Iuserspace/xport -Itests/fuzz -I$(GEN) -Iinclude/uapi
CFLAGS    += $(CFLAGS_BASE) $(INCLUDES)
LDLIBS    += $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c) -lz -lzstd -lpthread

SCHEMA    := qapi/schema/kmig.json
SCHEMA_SRC:= $(wildcard qapi/schema/*.json)
QAPIGEN   := $(wildcard qapi/gen/*.py)
GEN_C     := $(GEN)/qapi-types.c $(GEN)/qapi-visit.c $(GEN)/qapi-commands.c \
	$(GEN)/qapi-events.c $(GEN)/qapi-introspect.c
GEN_H     := $(GEN)/qapi-types.h $(GEN)/qapi-visit.h $(GEN)/qapi-commands.h $(GEN)/qapi-events.h

UTIL_SRC  := userspace/util/log.c userspace/util/loop.c userspace/util/json_stream.c \
	userspace/util/json_write.c
QMP_SRC   := userspace/qmp/qapi_rt.c userspace/qmp/qmp_server.c userspace/qmp/qmp_control.c \
	userspace/qmp/qmp_params.c userspace/qmp/qmp_migration.c userspace/qmp/qmp_agent.c \
	userspace/qmp/qmp_postcopy.c
ENGINE_SRC:= userspace/engine/migrate.c userspace/engine/migrate_postcopy.c userspace/engine/src.c userspace/engine/src_pages.c \
	userspace/engine/sender.c userspace/engine/retpath.c userspace/engine/converge.c \
	userspace/engine/batch.c userspace/engine/codec_raw.c userspace/engine/codec_xbzrle.c \
	userspace/engine/xbzrle_send.c userspace/engine/codec_zlib.c \
	userspace/engine/codec_zstd.c userspace/engine/dst.c userspace/engine/dst_recv.c \
	userspace/engine/dst_pool.c userspace/engine/src_postcopy.c \
	userspace/engine/dst_postcopy.c userspace/engine/dst_fault.c \
	userspace/engine/block.c userspace/engine/ratelimit.c \
	userspace/engine/pagehash.c userspace/engine/pagehash_avx2.c \
	userspace/engine/xbzrle.c userspace/engine/xbzrle_cache.c
XPORT_SRC := userspace/xport/uri.c userspace/xport/xport_fd.c userspace/xport/xport_sock.c \
	userspace/xport/xport_pipe.c
TRACK_SRC := userspace/track/tracker.c userspace/track/track_uffd.c userspace/track/track_kmod.c
LIBKMIG_SRC := userspace/lib/wl_proto.c userspace/lib/libkmig.c userspace/lib/kmig_throttle.c \
	userspace/lib/kmig_postcopy.c
KMIGD_SRC := userspace/kmigd/main.c
AGENT_SRC := userspace/kmigd/wl_server.c userspace/kmigd/wl_conn.c userspace/kmigd/throttle_cgroup.c \
	userspace/kmigd/cgroup_fs.c
CLI_SRC   := userspace/cli/kmig.c userspace/cli/qmp_client.c userspace/cli/migrate_cmd.c
DIRTYGEN_SRC := userspace/workload/dirtygen.c userspace/workload/dg_memory.c
SENDLOOP_SRC := userspace/bench/sendloop.c
CODECBENCH_SRC := userspace/bench/codecbench.c
# calc-dirty-rate / query-dirty-rate, `kmig dirtyrate`, the bpf tracker (issue 9)
QMP_SRC   += userspace/qmp/qmp_dirtyrate.c userspace/dirtyrate/dirtyrate.c \
	userspace/dirtyrate/dr_sample.c userspace/dirtyrate/dr_exact.c
CLI_SRC   += userspace/cli/dirtyrate_cmd.c userspace/cli/dr_render.c
CFLAGS    += -Iuserspace/dirtyrate
include bpf/bpf.mk
include userspace/xport/dpdk.mk

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ   := $(call obj,$(UTIL_SRC) $(QMP_SRC) $(ENGINE_SRC) $(XPORT_SRC) $(TRACK_SRC) $(AGENT_SRC) \
	$(GEN_C))
# libkmig, what a workload links, is a library of its own (static and shared)
LIBKMIG_OBJ := $(patsubst %.c,$(BUILD)/pic/%.o,$(LIBKMIG_SRC))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all check check-build test deps demo bench kmod bpf bpf-skels clean fuzz \
	fuzz-build
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/bin/kmigd $(BUILD)/bin/kmig $(BUILD)/bin/kmig-dirtygen $(BUILD)/bin/kmig-sendloop \
	$(BUILD)/bin/kmig-codecbench $(BUILD)/lib/libkmig.so.0

# The generator rewrites only changed files; the stamp orders the rule.
$(GEN)/.stamp: $(SCHEMA_SRC) $(QAPIGEN)
	@mkdir -p $(GEN)
	$(PYTHON) qapi/gen/main.py -o $(GEN) $(SCHEMA)
	@touch $@
$(GEN_C) $(GEN_H): $(GEN)/.stamp

$(BUILD)/obj/%.o: %.c $(GEN)/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the one file built for AVX2; pagehash.c only calls it on CPUs that have it
$(BUILD)/obj/userspace/engine/pagehash_avx2.o: CFLAGS += -mavx2

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (pic)")
	$(Q)$(CC) $(CFLAGS_BASE) -Iuserspace/lib -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

# archives are written anew: a member whose source is gone must not linger
$(BUILD)/lib/libkmigd.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/lib/libkmig.a: $(LIBKMIG_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/lib/libkmig.so.0: $(LIBKMIG_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libkmig.so.0 -o $@ $^

$(BUILD)/bin/kmigd: $(call obj,$(KMIGD_SRC)) $(BUILD)/lib/libkmigd.a $(BUILD)/lib/libkmig.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/kmig: $(call obj,$(CLI_SRC)) $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the test workload links libkmig only, as a VMM would
$(BUILD)/bin/kmig-dirtygen: $(call obj,$(DIRTYGEN_SRC)) $(BUILD)/lib/libkmig.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lpthread

$(BUILD)/bin/kmig-sendloop: $(call obj,$(SENDLOOP_SRC))
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/bin/kmig-codecbench: $(call obj,$(CODECBENCH_SRC)) $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/lib/libkmigd.a $(BUILD)/lib/libkmig.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

check-build: all $(UNIT_TESTS)

# libFuzzer targets (tests/fuzz/): built by clang into build/fuzz
FUZZ_BUILD   := build/fuzz
FUZZ_TARGETS := fuzz_qmp fuzz_stream
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/mem_chan.o \
		$(BUILD)/lib/libkmigd.a $(BUILD)/lib/libkmig.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) SAN=fuzz CC=clang $(addprefix $(FUZZ_BUILD)/fuzz/,$(FUZZ_TARGETS))
# `make fuzz`: each target for FUZZ_SECONDS (make check runs them for a few seconds)
fuzz: deps
	$(MAKE) fuzz-build
	$(PYTHON) tests/fuzz/run.py --bindir $(FUZZ_BUILD)/fuzz --seconds $(FUZZ_SECONDS)

deps:
	@scripts/deps.sh

# The README's test command.  Runs the plain build, then the same suite
# against an ASan+UBSan build, and prints one "N passed, N failed, N skipped" line.
check: deps
	$(MAKE) check-build
	$(MAKE) BUILD=build/san SAN=1 check-build
	$(MAKE) fuzz-build
	$(PYTHON) tests/run.py --build build --build build/san --fuzz $(FUZZ_BUILD)/fuzz

test: check

demo: deps all
	@scripts/demo.sh

# Benchmarks, not tests: ratios against baselines measured in the same run.
bench: deps all
	@KMIG_DEPS_BENCH=1 scripts/deps.sh
	$(PYTHON) tests/bench/bench.py --build $(BUILD)

# Kernel module (make kmod [KDIR=...], make kmod-check, make vmbench)
include kmod/kmod.mk
bpf: bpf-skels

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/pic -name '*.d' 2>/dev/null)
