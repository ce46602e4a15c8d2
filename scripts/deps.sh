#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Installs the Debian 12 packages kmig's build and tests need, when missing.
# Called by `make check` / `make deps`; needs root only when something is
# missing.  Why each package is here is in README.md ("Dependencies").
set -eu
PKGS="build-essential pkg-config python3 libjson-c-dev libcmocka-dev libxxhash-dev socat iproute2"
# page compression: zlib for the compress capability and multifd zlib, libzstd for multifd zstd
PKGS="$PKGS zlib1g-dev libzstd-dev"
# the fuzz targets (libFuzzer and its sanitizer runtime)
PKGS="$PKGS clang libclang-rt-14-dev"
# the eBPF dirty tracker (bpf/bpf.mk): compiler, strip, skeletons, loader library
PKGS="$PKGS llvm bpftool libbpf-dev"
# kmod/ (docs/kmod.md): headers of Debian's two kernels, linux-source-6.1 for
# KUnit on UML and checkpatch, flex/bison/bc for that build, QEMU + busybox +
# cpio for the test guests
PKGS="$PKGS linux-headers-amd64 linux-headers-6.12-amd64 linux-source-6.1 flex bison bc \
	qemu-system-x86 busybox-static cpio"
# the dpdk: channel (userspace/xport/dpdk.mk): DPDK 22.11 with its memif, af_packet, af_xdp PMDs
PKGS="$PKGS libdpdk-dev"
# make bench also compares against QEMU's own migration
[ -n "${KMIG_DEPS_BENCH:-}" ] && PKGS="$PKGS qemu-system-x86"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
