# SPDX-License-Identifier: GPL-2.0-only
# bpf.mk: builds kmig's eBPF programs the libbpf-bootstrap way and wires
# them into the agent: vmlinux.h dumped from this machine's kernel BTF,
# each bpf/*.bpf.c compiled by clang for the BPF target (-mcpu=v3 for the
# atomic fetch-OR), stripped, and turned into a skeleton header by bpftool
# that userspace/track/bpf_dirty.c includes.  Included by the top-level
# Makefile (BUILD, CFLAGS, LDLIBS, TRACK_SRC are its variables).
#
# Without clang, bpftool, libbpf or /sys/kernel/btf/vmlinux the agent is
# built with KMIG_NO_BPF: the "bpf" tracker then refuses to open and says
# why (make KMIG_BPF=0 forces that build).

BPF_CLANG  ?= clang
BPFTOOL    ?= bpftool
LLVM_STRIP ?= llvm-strip
BPF_BTF    ?= /sys/kernel/btf/vmlinux
BPF_ARCH   ?= x86
BPF_OUT    := $(BUILD)/bpf
BPF_PROGS  := $(wildcard bpf/*.bpf.c)
BPF_SKELS  := $(patsubst bpf/%.bpf.c,$(BPF_OUT)/%.skel.h,$(BPF_PROGS))

KMIG_BPF ?= $(if $(and $(shell command -v $(BPF_CLANG) 2>/dev/null),\
	$(shell command -v $(BPFTOOL) 2>/dev/null),$(shell command -v $(LLVM_STRIP) 2>/dev/null),\
	$(wildcard $(BPF_BTF)),$(shell pkg-config --exists libbpf 2>/dev/null && echo y)),1,0)

TRACK_SRC += userspace/track/track_bpf.c userspace/track/bpf_dirty.c
CFLAGS    += -Ibpf

ifeq ($(KMIG_BPF),1)
CFLAGS    += -I$(BPF_OUT)
# as-needed: only the binaries that pull the bpf tracker in depend on libbpf
LDLIBS    += -Wl,--push-state,--as-needed $(shell pkg-config --libs libbpf) -Wl,--pop-state
# the first build has no .d file yet to say so
$(BUILD)/obj/userspace/track/bpf_dirty.o: $(BPF_SKELS)
else
CFLAGS    += -DKMIG_NO_BPF
endif

$(BPF_OUT)/vmlinux.h: $(BPF_BTF)
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $< format c > $@.tmp
	@mv $@.tmp $@

$(BPF_OUT)/%.bpf.o: bpf/%.bpf.c bpf/kmig_bpf.h $(BPF_OUT)/vmlinux.h
	$(BPF_CLANG) -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) \
		-I$(BPF_OUT) -Ibpf -c $< -o $@
	$(LLVM_STRIP) -g $@

$(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp
	@mv $@.tmp $@

# ---- tests/bpf: C test programs (run by tests/bpf/run.py) ----
BPF_TESTS := $(patsubst tests/bpf/%.c,$(BUILD)/tests-bpf/%,$(wildcard tests/bpf/test_*.c \
	tests/bpf/bench_*.c))

# the workload child, linked into the test that drives it
$(BUILD)/tests-bpf/test_bpf_track: $(BUILD)/obj/tests/bpf/wl_child.o

$(BUILD)/tests-bpf/%: $(BUILD)/obj/tests/bpf/%.o $(BUILD)/lib/libkmigd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

check-build: $(BPF_TESTS)
# make bench runs tests/bench/bench_bpf.py, which drives this one
bench: $(BUILD)/tests-bpf/bench_track

bpf-skels: $(if $(filter 1,$(KMIG_BPF)),$(BPF_SKELS))
	@echo "bpf: KMIG_BPF=$(KMIG_BPF) $(if $(filter 1,$(KMIG_BPF)),skeletons: $(BPF_SKELS),(built without eBPF))"

# The rules above must not become the Makefile's default goal: the next
# target defined (the top-level `all`) takes that role again.
.DEFAULT_GOAL :=
