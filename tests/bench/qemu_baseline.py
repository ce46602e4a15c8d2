# SPDX-License-Identifier: GPL-2.0-only
"""QEMU 7.2's own migration of the same 1 GiB, as a second baseline for make bench.

The source guest is stopped (-S) with its RAM in a file that is filled with non-zero
pages first. So QEMU sends every page, as kmig does for a filled workload, and it does
so in its best case: no vCPU is running and nothing is dirtied. Both QEMUs listen only
on a unix QMP socket in a temporary directory, and the migration uses 127.0.0.1.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

QEMU = shutil.which("qemu-system-x86_64")


def _qmp(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.time() > deadline:
                raise RuntimeError("QEMU did not open its QMP socket")
            time.sleep(0.05)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'{"execute": "qmp_capabilities"}')
    f.readline()
    return s, f


def _cmd(conn, execute, arguments=None):
    s, f = conn
    req = {"execute": execute}
    if arguments is not None:
        req["arguments"] = arguments
    s.sendall(json.dumps(req).encode())
    while True:
        msg = json.loads(f.readline())
        if "event" not in msg:
            return msg


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate_1g():
    """Returns QEMU's migration throughput in GiB/s (from its own total-time)."""
    d = tempfile.mkdtemp(prefix="kmig-bench-qemu.")
    ram = os.path.join("/dev/shm", os.path.basename(d) + ".ram")
    procs = []
    try:
        page = bytes((i * 131 + 7) & 255 for i in range(4096)) * 256
        with open(ram, "wb") as f:
            for _ in range((1 << 30) // len(page)):
                f.write(page)
        base = [QEMU, "-machine", "pc,accel=tcg,memory-backend=m", "-m", "1G",
                "-display", "none", "-nodefaults", "-S"]
        port = _free_port()
        procs.append(subprocess.Popen(base + [
            "-object", f"memory-backend-file,id=m,size=1G,mem-path={ram},share=on",
            "-qmp", f"unix:{d}/src.qmp,server=on,wait=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(base + [
            "-object", "memory-backend-ram,id=m,size=1G,prealloc=on",
            "-qmp", f"unix:{d}/dst.qmp,server=on,wait=off",
            "-incoming", f"tcp:127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 60
        src = _qmp(f"{d}/src.qmp", deadline)
        _qmp(f"{d}/dst.qmp", deadline)     # the destination is up (prealloc done)
        _cmd(src, "migrate-set-parameters", {"max-bandwidth": 0})
        t0 = time.monotonic()
        _cmd(src, "migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        while time.time() < deadline + 120:
            info = _cmd(src, "query-migrate")["return"]
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.01)
        wall = time.monotonic() - t0
        if info.get("status") != "completed":
            raise RuntimeError(f"QEMU migration {info.get('status')}: {info.get('error-desc')}")
        # QEMU's own total-time; once seen as 0, so fall back to our clock then
        secs = info.get("total-time", 0) / 1000 or wall
        return 1.0 / secs
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if os.path.exists(ram):
            os.unlink(ram)
        shutil.rmtree(d, ignore_errors=True)
