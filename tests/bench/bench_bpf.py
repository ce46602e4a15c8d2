#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench_bpf.py: the uffd-wp and bpf dirty trackers side by side, for `make bench`.

Runs build/tests-bpf/bench_track (tests/bpf/bench_track.c): a 1 GiB workload block, 1 / 10 /
100 % of its pages written per round, each round untracked, under uffd-wp and under bpf, in
alternating order.  Reports per dirty share the medians of the harvest time and of the
writer's cost per page (its write faults included), the paired ratios bpf / uffd-wp (median
over rounds of the per-round ratio: steadier on a shared VM than a ratio of medians), how much
of the bpf harvest is the bitmap swap, and exactness: pages missed and extra, summed over all
rounds (anything but 0 is a bug).  Also the harvest of "bitmap-only", the design the bpf back
end does not ship (swap + re-protect without reading PAGEMAP_SCAN's answer), for what it
would save.

    python3 tests/bench/bench_bpf.py --build build [--rounds 5] [--mib 1024]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def run(build, rounds=5, mib=1024):
    """Runs the benchmark; prints its table; returns the summary dict (or None)."""
    exe = os.path.join(build, "tests-bpf", "bench_track")
    if not os.access(exe, os.X_OK):
        print("bpf trackers: skipped: %s not built" % exe)
        return None
    p = subprocess.run([exe, str(mib), str(rounds)], capture_output=True, text=True,
                       timeout=1800)
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode or not rows or "error" in rows[0]:
        print("bpf trackers: failed: %s %s" % (rows[:1], p.stderr.strip()[-500:]))
        return None
    out = {"mib": mib, "rounds": rounds, "shares": {}}
    print()
    print("dirty trackers on %d MiB, %d rounds (medians; ratios: median of per-round ratios "
          "to uffd-wp)" % (mib, rounds))
    print("dirty  pages | harvest ms: uffd-wp   bpf (ratio)  bitmap-only (ratio) | writer ns/page: "
          "untracked uffd-wp   bpf (ratio) | missed/extra: uffd-wp bpf bitmap-only")
    for pct in sorted({r["pct"] for r in rows}):
        by = {t: [r for r in rows if r["pct"] == pct and r["tracker"] == t]
              for t in ("none", "uffd-wp", "bpf", "bitmap-only")}

        def med(t, k):
            return statistics.median(r[k] for r in by[t])

        def ratio(t, k):
            pairs = [(u[k], x[k]) for u, x in zip(by["uffd-wp"], by[t]) if u[k] > 0]
            return round(statistics.median(x / u for u, x in pairs), 3) if pairs else None

        exact = {t: [sum(r["missed"] for r in by[t]), sum(r["extra"] for r in by[t])]
                 for t in ("uffd-wp", "bpf", "bitmap-only")}
        s = {"pages": by["bpf"][0]["pages"],
             "harvest_ms": {t: med(t, "harvest_ms") for t in ("uffd-wp", "bpf", "bitmap-only")},
             "harvest_ratio": {t: ratio(t, "harvest_ms") for t in ("bpf", "bitmap-only")},
             "bpf_swap_ms": med("bpf", "take_ms"),
             "write_ns_per_page": {"untracked": med("none", "write_ns_per_page"),
                                   "uffd-wp": med("uffd-wp", "write_ns_per_page"),
                                   "bpf": med("bpf", "write_ns_per_page")},
             "write_ratio_bpf": ratio("bpf", "write_ns_per_page"),
             "missed_extra": exact}
        out["shares"][pct] = s
        h, w = s["harvest_ms"], s["write_ns_per_page"]
        print("%3d %% %7d | %18.2f %5.2f (%4.2f) %12.2f (%4.2f) | %25.0f %7.0f %5.0f (%4.2f) | "
              "%13s %5s %s" % (pct, s["pages"], h["uffd-wp"], h["bpf"], s["harvest_ratio"]["bpf"],
                               h["bitmap-only"], s["harvest_ratio"]["bitmap-only"],
                               w["untracked"], w["uffd-wp"], w["bpf"], s["write_ratio_bpf"],
                               "%d/%d" % tuple(exact["uffd-wp"]), "%d/%d" % tuple(exact["bpf"]),
                               "%d/%d" % tuple(exact["bitmap-only"])))
    print("bpf = uffd-wp's harvest plus the program's bitmap (exact, with per-thread counts); "
          "bitmap-only = swap the bitmap and re-protect, not shipped: it misses writes made "
          "through get_user_pages and can lose a fault in flight (track_bpf.c)")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mib", type=int, default=1024)
    args = ap.parse_args()
    res = run(args.build, args.rounds, args.mib)
    if res:
        print(json.dumps(res))
    return 0 if res else 1


if __name__ == "__main__":
    sys.exit(main())
