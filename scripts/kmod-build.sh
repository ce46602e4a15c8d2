#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Builds kmig.ko out of tree against each kernel header tree given (default:
# the newest installed Debian 12 6.1 and 6.12 "-amd64" headers), each in its
# own copy of kmod/ under OUT/<kernel release>/, so the source tree stays
# clean and two kernels never share objects.  Fails on any compiler or
# modpost warning (an unexported symbol is one).  `make kmod` calls it.
# Usage: scripts/kmod-build.sh OUT [KDIR...]
set -eu
cd "$(dirname "$0")/.."
out=$1; shift
if [ $# = 0 ]; then
	for re in '6\.1\.0-[0-9]+-amd64' '6\.12\.[0-9]+\+deb12-amd64'; do
		k=$(ls -d /usr/src/linux-headers-* 2>/dev/null | grep -E "/linux-headers-$re\$" |
		    sort -V | tail -1)
		[ -n "$k" ] || { echo "kmod: no installed headers matching $re (scripts/deps.sh installs them)" >&2; exit 1; }
		set -- "$@" "$k"
	done
fi
for kdir in "$@"; do
	[ -f "$kdir/Module.symvers" ] && [ -f "$kdir/.config" ] ||
		{ echo "kmod: $kdir is not a configured kernel tree with Module.symvers" >&2; exit 1; }
	# one object directory per tree: /lib/modules/R/build and /usr/src/linux-headers-R agree
	rel=$(basename "$(readlink -f "$kdir")"); rel=${rel#linux-headers-}
	d="$out/$rel"
	mkdir -p "$d/include/uapi/linux"
	for f in kmod/Kbuild kmod/kmig_core.h kmod/kmig_main.c kmod/kmig_range.c kmod/kmig_harvest.c; do
		cmp -s "$f" "$d/${f#kmod/}" || cp "$f" "$d/${f#kmod/}"
	done
	cmp -s include/uapi/linux/kmig.h "$d/include/uapi/linux/kmig.h" ||
		cp include/uapi/linux/kmig.h "$d/include/uapi/linux/kmig.h"
	log="$d/build.log"
	if ! nice -n 10 make -C "$kdir" M="$(cd "$d" && pwd)" modules >"$log" 2>&1; then
		cat "$log" >&2
		echo "kmod: build against $kdir failed" >&2
		exit 1
	fi
	if grep -E 'warning:|WARNING:|undefined!' "$log" | grep -v 'Skipping BTF' >&2; then
		echo "kmod: build against $kdir has warnings" >&2
		exit 1
	fi
	echo "kmod: $d/kmig.ko ($rel)"
done
