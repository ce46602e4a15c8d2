# SPDX-License-Identifier: GPL-2.0-only
# dpdk.mk: builds the dpdk: channel.  Its protocol (dp_*.c: frames, acks,
# retransmission) is plain C and always built, so the unit tests run
# everywhere; the DPDK glue (xport_dpdk*.c) is built when pkg-config finds
# libdpdk (Debian: libdpdk-dev), with DPDK's flags for those files only.
# Without it, xport_dpdk_stub.c answers every dpdk: URI with a sentence
# saying kmig was built without DPDK (make KMIG_DPDK=0 forces that build).
# Included by the top-level Makefile (BUILD, CFLAGS, LDLIBS, XPORT_SRC).

KMIG_DPDK ?= $(if $(shell pkg-config --exists libdpdk 2>/dev/null && echo y),1,0)

XPORT_SRC += userspace/xport/dp_wire.c userspace/xport/dp_hash_avx2.c userspace/xport/dp_conn.c \
	userspace/xport/dp_tx.c userspace/xport/dp_rx.c userspace/xport/dpdk_opts.c
# the frame hash's AVX2 build; dp_wire.c picks it at run time
$(BUILD)/obj/userspace/xport/dp_hash_avx2.o: CFLAGS += -mavx2

ifeq ($(KMIG_DPDK),1)
DPDK_GLUE := userspace/xport/xport_dpdk.c userspace/xport/dpdk_chan.c userspace/xport/dpdk_eal.c \
	userspace/xport/dpdk_port.c userspace/xport/dpdk_devargs.c userspace/xport/dpdk_frames.c \
	userspace/xport/dpdk_gate.c
XPORT_SRC += $(DPDK_GLUE)
# DPDK's headers are not -Wextra -Wshadow clean: take them as system headers
DPDK_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags libdpdk)) \
	-DALLOW_EXPERIMENTAL_API
$(patsubst %.c,$(BUILD)/obj/%.o,$(DPDK_GLUE)): CFLAGS += $(DPDK_CFLAGS)
# as-needed: only binaries that pull the channel in depend on the DPDK libraries
LDLIBS += -Wl,--push-state,--as-needed $(shell pkg-config --libs libdpdk) -Wl,--pop-state
else
XPORT_SRC += userspace/xport/xport_dpdk_stub.c
CFLAGS    += -DKMIG_NO_DPDK
endif
