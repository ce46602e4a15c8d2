#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Runs the kernel's scripts/checkpatch.pl (--strict) over the module and its
# uapi header.  checkpatch comes from Debian's linux-source-6.1, extracted
# into the cache (KMIG_CACHE, default /var/cache/kmig) if it is not there.
set -eu
cd "$(dirname "$0")/.."
cache=${KMIG_CACHE:-/var/cache/kmig}
src=$cache/linux-source-6.1
if [ ! -f "$src/scripts/checkpatch.pl" ]; then
	[ -f /usr/src/linux-source-6.1.tar.xz ] || {
		echo "checkpatch: /usr/src/linux-source-6.1.tar.xz missing (scripts/deps.sh installs linux-source-6.1)" >&2
		exit 1
	}
	mkdir -p "$cache"
	tar -C "$cache" -xf /usr/src/linux-source-6.1.tar.xz
fi
perl "$src/scripts/checkpatch.pl" --no-tree --strict --terse --show-types -f \
	kmod/*.c kmod/*.h include/uapi/linux/kmig.h
