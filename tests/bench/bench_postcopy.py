# SPDX-License-Identifier: GPL-2.0-only
"""bench_postcopy.py: make bench's postcopy rows.  A 256 MiB workload dirtying 40000 pages/s
(160 MB/s) against a 32 MiB/s precopy link never converges; after 1 s of precopy,
migrate-start-postcopy.  The destination workload reads random pages while postcopy runs
(dirtygen --touch), so it faults on missing pages as a running workload would, and verifies
every page once they all arrived.  Rows: total time, downtime (pause to destination running),
faults, mean and max fault latency (fault read to page placed), page requests, for the
background sweep unlimited and held to 64 MiB/s (max-postcopy-bandwidth), each the median of
@rounds runs; and the same workload in precopy alone, for contrast.

Called by bench.py, which owns Pair and the output:

    rows = bench_postcopy.postcopy_rows(Pair, binpath, rounds=3)

Each row is a dict: mode, total_ms, downtime_ms, faults, latency_mean_us, latency_max_us,
requests (medians over the rounds), converged (precopy alone: whether it converged in its
timeout).  It raises when a postcopy migration fails or does not verify.  About 25 s for 3
rounds plus 20 s for the precopy-only contrast."""

import os
import statistics
import time

MiB = 2**20
SIZE, RATE = "256M", 40000
LINK = 32 * MiB
MODES = [
    ("postcopy after 1 s, sweep unlimited", 0),
    ("postcopy after 1 s, sweep 64 MiB/s", 64 * MiB),
]


def _pair_class(Pair):
    """Pair, with the destination workload touching pages during postcopy and verifying."""
    class PostcopyPair(Pair):
        def spawn(self, prog, *args):
            if prog == "kmig-dirtygen" and "dst" in args:
                args = args + ("--touch", "max", "--verify")
            super().spawn(prog, *args)

        def verify_line(self):
            for name in sorted(os.listdir(self.dir)):
                if name.startswith("kmig-dirtygen."):
                    with open(os.path.join(self.dir, name), errors="replace") as f:
                        for line in f:
                            if line.startswith("verify: "):
                                return line.strip()
            return None
    return PostcopyPair


def _one(PP, binpath, sweep):
    pair = PP(binpath, SIZE, RATE, caps=["postcopy-ram"],
              params={"max-bandwidth": LINK, "max-postcopy-bandwidth": sweep})
    asked = {"at": None}

    def poll(info):
        if info.get("status") == "active" and asked["at"] is None:
            asked["at"] = time.time() + 1.0
        if asked["at"] and time.time() >= asked["at"] and info.get("status") == "active":
            pair.src.cmd("migrate-start-postcopy")
            asked["at"] = float("inf")
    try:
        info = pair.migrate(timeout=120, on_poll=poll)
        dpc = pair.dst.cmd("query-migrate").get("x-kmig-postcopy", {})
        deadline = time.time() + 30
        while not pair.verify_line() and time.time() < deadline:
            time.sleep(0.05)
        vline = pair.verify_line()
    finally:
        pair.close()
    pages = int(SIZE[:-1]) * MiB // 4096
    if vline != "verify: %d pages ok, 0 bad" % pages:
        raise RuntimeError("postcopy bench: the destination did not verify: %r" % vline)
    return {"total_ms": info["total-time"], "downtime_ms": info["downtime"],
            "faults": dpc.get("faults", 0), "latency_mean_us": dpc.get("fault-latency-mean-us", 0),
            "latency_max_us": dpc.get("fault-latency-max-us", 0),
            "requests": info["ram"]["postcopy-requests"]}


def postcopy_rows(Pair, binpath, rounds=3, precopy_timeout=20):
    PP = _pair_class(Pair)
    rows = []
    for label, sweep in MODES:
        runs = [_one(PP, binpath, sweep) for _ in range(rounds)]
        row = {"mode": label, "converged": True}
        for k in runs[0]:
            row[k] = statistics.median(r[k] for r in runs)
        rows.append(row)
        print(f"postcopy {label}: total {row['total_ms']:.0f} ms, downtime "
              f"{row['downtime_ms']:.0f} ms, {row['faults']:.0f} faults, latency mean "
              f"{row['latency_mean_us']:.0f} us max {row['latency_max_us']:.0f} us, "
              f"{row['requests']:.0f} requests (median of {rounds})", flush=True)
    # the contrast: precopy alone on the same link
    pair = Pair(binpath, SIZE, RATE, params={"max-bandwidth": LINK})
    try:
        info = pair.migrate(timeout=precopy_timeout)
    finally:
        pair.close()
    done = info.get("status") == "completed"
    rows.append({"mode": "precopy alone", "converged": done,
                 "total_ms": info.get("total-time") if done else None,
                 "downtime_ms": info.get("downtime") if done else None})
    print("postcopy contrast, precopy alone: " +
          (f"converged in {info.get('total-time')} ms" if done else
           f"did not converge in {precopy_timeout} s"), flush=True)
    return rows


if __name__ == "__main__":
    import argparse
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench  # noqa: E402

    ap = argparse.ArgumentParser(description="postcopy rows of make bench, alone")
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    for r in postcopy_rows(bench.Pair, os.path.join(a.build, "bin"), a.rounds):
        print(r)
