# SPDX-License-Identifier: GPL-2.0-only
"""bench_converge.py: make bench's rows for the convergence tools, each against a baseline
run in the same bench:

- compression: 1 GiB of compressible memory (dirtygen --content mixed, about 3.5x for zlib)
  migrated idle with no compression, compress (zlib threads on the main channel) and
  multifd-compression zlib / zstd on 2 channels: RAM GiB/s and wire bytes, as ratios to the
  uncompressed run, and the codecs' own speed against memcpy;
- convergence: one workload that dirties about twice what max-bandwidth drains, migrated with
  nothing, xbzrle, compress, multifd zstd, auto-converge and the downtime guarantee: whether
  it converged, total time, downtime, bytes sent, passes, the highest throttle.

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


WORKLOAD = ("64M", 8000)      # 64 MiB, 8000 pages/s = 31 MiB/s of writes (dirtygen --content delta)
LINK = 16 * MiB               # max-bandwidth: the workload dirties about twice what it drains
MODES = [
    ("none", {}),
    ("xbzrle", {"caps": ["xbzrle"]}),
    ("compress (zlib 1, 2 threads)", {"caps": ["compress"], "params": {"compress-threads": 2}}),
    ("multifd 2 ch, zstd 1", {"channels": 2, "params": {"multifd-compression": "zstd"}}),
    ("auto-converge", {"caps": ["auto-converge"]}),
    ("auto-converge + guarantee", {"caps": ["auto-converge", "x-kmig-downtime-guarantee"]}),
    ("guarantee", {"caps": ["x-kmig-downtime-guarantee"]}),
]


def converge_rows(Pair, binpath):
    """The same dirtying workload over the same link with each tool: whether it converged
    (within 45 s without a throttle, 120 s with one: QEMU's rule takes two periods per step),
    total time, downtime, bytes sent, passes, the highest throttle."""
    rows = []
    size, rate = WORKLOAD
    for label, kw in MODES:
        params = dict(kw.get("params", {}), **{"max-bandwidth": LINK, "downtime-limit": 300})
        pair = Pair(binpath, size, rate, content="delta", caps=kw.get("caps"), params=params,
                    channels=kw.get("channels", 0))
        seen = {"throttle": 0}
        timeout = 120 if "auto-converge" in kw.get("caps", []) else 45

        def poll(info):
            seen["throttle"] = max(seen["throttle"], info.get("cpu-throttle-percentage", 0))
        try:
            info = pair.migrate(timeout=timeout, on_poll=poll)
        finally:
            pair.close()
        done = info.get("status") == "completed"
        ram = info.get("ram", {})
        rows.append({"mode": label, "converged": done, "total_ms": info.get("total-time"),
                     "downtime_ms": info.get("downtime"), "bytes": ram.get("transferred"),
                     "passes": ram.get("dirty-sync-count"), "max_throttle": seen["throttle"]})
        r = rows[-1]
        print(f"converge {label}: " + (f"converged in {r['total_ms']} ms, downtime "
                                       f"{r['downtime_ms']} ms, {r['bytes'] / MiB:.0f} MiB sent, "
                                       f"{r['passes']} passes" if done else
                                       f"did not converge in {timeout} s") +
              f", throttle up to {seen['throttle']}%", flush=True)
    return rows
