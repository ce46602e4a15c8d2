#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""test_dpdk.py: the dpdk: channel end to end (root; DPDK 22.11 with its memif, af_packet and
af_xdp PMDs).  Real migrations between two kmigd over memif (zero-copy destination), over
af_packet on a veth pair between two namespaces it creates (MTU 9000 and 1500), over af_xdp
where it loads, with 1 % loss, reordering and duplication injected, with EAL on hugepages; a
cancel, a killed destination or source, a destination that stops acknowledging, and a hostile
source.

    python3 tests/dpdk/test_dpdk.py --build build [-k NAME]...

Prints TAP and skips (with the reason) when kmigd was built without DPDK, when not root, or
when a PMD is missing.  Every process, namespace, veth, hugetlbfs mount, hugepage reservation
and EAL runtime directory it creates is removed on the way out, also on failure and SIGTERM.
About 25 s on 2 cores in each build (plain, ASan+UBSan).
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dpdk_harness import ROOT, DpdkHarness, prefix_base  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import Interrupted, Tap, install_signal_handlers  # noqa: E402
from test_migration import run_in, sanitized  # noqa: E402

import scenarios_dpdk as sd  # noqa: E402
import scenarios_fail as sf  # noqa: E402

SCENARIOS = [
    ("memif", "memif zero-copy, dirtying", sd.m1_memif),
    ("lossy", "memif with injected loss/reordering/duplication", sd.m2_memif_lossy),
    ("afp9000", "af_packet over veth, MTU 9000, frames of other protocols", sd.m3_af_packet_9000),
    ("afp1500", "af_packet over veth, MTU 1500", sd.m4_af_packet_1500),
    ("afxdp", "af_xdp over veth", sd.m5_af_xdp),
    ("huge", "EAL on hugepages", sd.m6_hugepages),
    ("codecs", "compress and xbzrle over memif", sd.m7_memif_codecs),
    ("postcopy", "postcopy over memif", sd.m8_memif_postcopy),
    ("pcafp", "postcopy over af_packet (veth, MTU 9000)",
     lambda t, h: sd.m8_memif_postcopy(t, h, "af_packet")),
    ("pcrecover", "postcopy recovery over memif", sd.m9_memif_postcopy_recover),
    ("pcrecafp", "postcopy recovery over af_packet (veth, MTU 9000)",
     lambda t, h: sd.m9_memif_postcopy_recover(t, h, "af_packet")),
    ("multifd", "multifd over memif, a queue pair per channel", sd.m10_memif_multifd),
    ("cancel", "cancel", sf.f1_cancel),
    ("killed", "killed destination", sf.f2_killed),
    ("killedsrc", "killed source", sf.f2b_killed_source),
    ("stopped", "destination stops acknowledging", sf.f3_stops_acking),
    ("hostile", "hostile source", sf.f4_hostile_source),
    ("releaseram", "release-ram refused", sf.f5_release_ram),
    ("queues", "multifd without enough queues refused", sf.f6_queues),
]


def unavailable(bindir):
    """Why this suite cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (DPDK's EAL, network namespaces, hugepages)"
    r = subprocess.run(["ldd", os.path.join(bindir, "kmigd")], capture_output=True, text=True)
    if "librte_eal" not in r.stdout:
        return "kmigd was built without DPDK (install libdpdk-dev and rebuild)"
    if not glob.glob("/usr/lib/*/dpdk/pmds-*/librte_net_memif.so*"):
        return "DPDK's memif PMD is not installed"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", action="append", default=[], help="run only these scenarios")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    bindir = os.path.join(build, "bin")
    why = unavailable(bindir)
    if why:
        print("1..0 # SKIP %s" % why)
        return 0
    san = sanitized(bindir)
    if san:
        # DPDK's own leaks (lsan.supp says which), not kmig's
        os.environ["LSAN_OPTIONS"] = "suppressions=%s" % os.path.join(HERE, "lsan.supp")
    t = Tap()
    install_signal_handlers()
    left = []
    try:
        for name, title, fn in SCENARIOS:
            if args.k and name not in args.k:
                continue
            h = DpdkHarness(bindir, name)
            try:
                run_in(t, h, title, fn, san)
            finally:
                left += h.leftovers()
    except Interrupted:
        t.ok(False, "interrupted")
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [ln.split()[0] for ln in ns.splitlines() if "kmig-dp-%d-" % os.getpid() in ln]
    t.ok(not left, "nothing left behind (namespaces, veths, hugetlbfs mounts, EAL runtime "
         "directories %s-*)" % prefix_base(), "\n".join(left))
    print("1..%d" % t.n)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
