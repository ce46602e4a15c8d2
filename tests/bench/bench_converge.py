# SPDX-License-Identifier: GPL-2.0-only
"""bench_converge.py: make bench's rows for the convergence tools, each against a baseline
run in the same bench:

- compression: 1 GiB of compressible memory (dirtygen --content mixed, about 3.5x for zlib)
  migrated idle with no compression, compress (zlib threads on the main channel) and
  multifd-compression zlib / zstd on 2 channels: RAM GiB/s and wire bytes, as ratios to the
  uncompressed run, and the codecs' own speed against memcpy;
- auto-converge: a workload that dirties faster than max-bandwidth drains, migrated with and
  without auto-converge (and with x-kmig-downtime-guarantee): whether it converged, total time,
  passes, the last throttle, downtime.

Imported by bench.py, which owns Pair and the output."""

import json
import statistics
import subprocess
import os

MiB = 2**20


def compression_rows(Pair, binpath, rounds):
    modes = [
        ("none", {}),
        ("compress, 1 thread, zlib 1", {"caps": ["compress"],
                                        "params": {"compress-threads": 1, "compress-level": 1}}),
        ("compress, 2 threads, zlib 1", {"caps": ["compress"],
                                         "params": {"compress-threads": 2, "compress-level": 1}}),
        ("multifd 2 ch, zlib 1", {"channels": 2, "params": {"multifd-compression": "zlib"}}),
        ("multifd 1 ch, zstd 1", {"channels": 1, "params": {"multifd-compression": "zstd"}}),
        ("multifd 2 ch, zstd 1", {"channels": 2, "params": {"multifd-compression": "zstd"}}),
    ]
    rows = []
    base_rate = base_bytes = None
    for label, kw in modes:
        rate, wire = [], []
        for _ in range(rounds):
            pair = Pair(binpath, "1G", "idle", content="mixed", **kw)
            try:
                info = pair.migrate()
            finally:
                pair.close()
            rate.append(info["ram"]["total"] / (info["total-time"] / 1000) / 2**30)
            wire.append(info["ram"]["transferred"])
        r, w = statistics.median(rate), statistics.median(wire)
        if base_rate is None:
            base_rate, base_bytes = r, w
        rows.append((label, r, r / base_rate, w / MiB, w / base_bytes))
        print(f"compression {label}: {r:.2f} GiB/s ({r / base_rate:.2f}x none), "
              f"{w / MiB:.0f} MiB on the wire ({w / base_bytes:.2f}x none)", flush=True)
    return rows


def codec_speed(binpath):
    """The codecs' own speed on mixed pages, against memcpy of the same pages (kmig-codecbench)."""
    out = subprocess.run([os.path.join(binpath, "kmig-codecbench")], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def converge_rows(Pair, binpath):
    """A 512 MiB workload dirtying 16k pages/s (64 MiB/s) over a 32 MiB/s link."""
    modes = [
        ("no auto-converge", {}),
        ("auto-converge", {"caps": ["auto-converge"]}),
        ("auto-converge + guarantee", {"caps": ["auto-converge", "x-kmig-downtime-guarantee"]}),
    ]
    rows = []
    for label, kw in modes:
        params = {"max-bandwidth": 32 * MiB, "downtime-limit": 300}
        pair = Pair(binpath, "512M", 16000, params=params, **kw)
        seen = {"throttle": 0}

        def poll(info):
            seen["throttle"] = max(seen["throttle"], info.get("cpu-throttle-percentage", 0))
        try:
            info = pair.migrate(timeout=60, on_poll=poll)
        finally:
            pair.close()
        done = info.get("status") == "completed"
        rows.append({"mode": label, "converged": done, "total_ms": info.get("total-time"),
                     "passes": info["ram"]["dirty-sync-count"] if "ram" in info else None,
                     "max_throttle": seen["throttle"], "downtime_ms": info.get("downtime")})
        print(f"converge {label}: " + ("converged" if done else "did not converge in 60 s") +
              f", passes {rows[-1]['passes']}, throttle up to {seen['throttle']}%, "
              f"downtime {info.get('downtime')} ms", flush=True)
    return rows
