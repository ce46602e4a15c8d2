#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Boots Debian's 6.1 and 6.12 kernels in QEMU (TCG) and runs kmig's in-VM tests.

Why it exists: the host kernel cannot load modules, so kmig.ko is tested in a
throw-away guest.  This script makes sure the guest kernels (vmlinuz from
Debian's linux-image-*-unsigned packages) and their headers are there (a cold
cache downloads and installs them), builds kmig.ko for each kernel and the
static userspace (kmigd, kmig, kmig-dirtygen, kmig-vmtest, kmig-vmbench),
packs an initramfs with busybox-static and tests/vm/init.sh, boots each
(kernel, vCPU count) with a timeout and re-prints the guest's TAP lines.  A
guest that hangs, panics or never prints its end marker is a failure.
Everything cached lives under --cache (default /var/cache/kmig), never in the
repository; each guest's console log is kept there for post-mortems.

  tests/vm/run_vm.py                 # tests: 6.1 and 6.12, 1 and 2 vCPUs
  tests/vm/run_vm.py --bench         # make vmbench: one 6.12 guest, numbers
"""

import argparse
import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Debian 12's two kernels, the -amd64 flavour (cloud-amd64 lacks MAPPING_DIRTY_HELPERS)
NEWEST = {"6.1": r"^linux-headers-6\.1\.0-[0-9]+-amd64$",
          "6.12": r"^linux-headers-6\.12\.[0-9]+\+deb12-amd64$"}
TAP = re.compile(r"^(not ok|ok) \d+ - (.*)$")
STATIC = os.path.join("build", "vm-static")
VMTEST_SRC = sorted(glob.glob(os.path.join(ROOT, "tests", "vm", "vmtest_*.c")))


def log(msg):
    print(f"# {msg}", flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def apt_install(pkgs):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + pkgs, env=env,
        stdout=subprocess.DEVNULL)


def available(pkg):
    return subprocess.run(["apt-cache", "show", pkg], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def resolve_kernel(series):
    """KMIG_KV_<series> if set, else the newest installed headers (scripts/deps.sh
    installs Debian's meta packages), else the newest Debian still has"""
    env = os.environ.get("KMIG_KV_" + series.replace(".", ""))
    if env:
        return env
    pat = re.compile(NEWEST[series])
    def key(n):
        return [int(x) for x in re.findall(r"\d+", n)]
    have = sorted((os.path.basename(d) for d in glob.glob("/usr/src/linux-headers-*")
                   if pat.match(os.path.basename(d))), key=key)
    if have:
        return have[-1][len("linux-headers-"):]
    out = subprocess.run(["apt-cache", "search", "--names-only", NEWEST[series]],
                         capture_output=True, text=True).stdout
    names = sorted((line.split()[0] for line in out.splitlines()), key=key)
    if not names:
        raise RuntimeError(f"no linux-headers package for {series} in apt")
    return names[-1][len("linux-headers-"):]


def ensure_kernel(cache, kv):
    """headers installed, vmlinuz extracted into the cache; returns the vmlinuz path"""
    if not os.path.isdir(f"/usr/src/linux-headers-{kv}"):
        log(f"installing linux-headers-{kv}")
        apt_install([f"linux-headers-{kv}"])
    vmlinuz = os.path.join(cache, "vm", kv, "vmlinuz")
    if os.path.exists(vmlinuz):
        return vmlinuz
    os.makedirs(os.path.dirname(vmlinuz), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(vmlinuz)) as tmp:
        log(f"downloading linux-image-{kv}-unsigned")
        os.chmod(tmp, 0o755)
        run(["apt-get", "download", f"linux-image-{kv}-unsigned"], cwd=tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = glob.glob(os.path.join(tmp, "*.deb"))[0]
        fs = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        run(["tar", "-x", "-C", tmp, f"./boot/vmlinuz-{kv}"], stdin=fs.stdout)
        fs.wait()
        shutil.move(os.path.join(tmp, "boot", f"vmlinuz-{kv}"), vmlinuz)
    return vmlinuz


def build_ko(cache, kv):
    """kmig.ko for @kv via scripts/kmod-build.sh, objects in the cache"""
    run([os.path.join(ROOT, "scripts", "kmod-build.sh"), os.path.join(cache, "vm", "ko"),
         f"/usr/src/linux-headers-{kv}"], stdout=subprocess.DEVNULL)
    return os.path.join(cache, "vm", "ko", kv, "kmig.ko")


def build_userspace():
    """static kmigd/kmig/kmig-dirtygen (without the bpf tracker and the dpdk: channel: the
    guests run neither, and static libbpf / DPDK would need libraries Debian ships shared
    only) and the two guest programs"""
    flags = [f"BUILD={STATIC}", "LDFLAGS=-static", "KMIG_BPF=0", "KMIG_DPDK=0"]
    # make does not rebuild for changed flags: a build made with others starts afresh
    stamp = os.path.join(ROOT, STATIC, "flags")
    try:
        with open(stamp) as f:
            same = f.read() == " ".join(flags)
    except OSError:
        same = False
    if not same:
        shutil.rmtree(os.path.join(ROOT, STATIC), ignore_errors=True)
        os.makedirs(os.path.join(ROOT, STATIC))
        with open(stamp, "w") as f:
            f.write(" ".join(flags))
    run(["nice", "-n", "10", "make", "-s", "-C", ROOT] + flags + ["-j2"] +
        [f"{STATIC}/bin/{b}" for b in ("kmigd", "kmig", "kmig-dirtygen")],
        stdout=subprocess.DEVNULL)
    bindir = os.path.join(ROOT, STATIC, "bin")
    cflags = ["-std=gnu11", "-D_GNU_SOURCE", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
              "-static", "-pthread", "-I" + os.path.join(ROOT, "include", "uapi")]
    run(["gcc"] + cflags + ["-o", os.path.join(bindir, "kmig-vmtest")] + VMTEST_SRC)
    bench = [os.path.join(ROOT, "tests", "vm", "vmbench.c")] + [
        os.path.join(ROOT, "userspace", p) for p in
        ("track/tracker.c", "track/track_uffd.c", "track/track_kmod.c", "track/track_bpf.c",
         "track/bpf_dirty.c", "util/log.c")]
    # the bpf back end as a build without BPF has it (tracker.c lists every back end)
    run(["gcc"] + cflags + ["-DKMIG_NO_BPF", "-Wno-unused-parameter", "-Iuserspace/track",
                            "-Iuserspace/util", "-o",
                            os.path.join(bindir, "kmig-vmbench")] + bench, cwd=ROOT)
    return bindir


def initramfs(cache, bindir, kos):
    out = os.path.join(cache, "vm", "initramfs.cpio.gz")
    with tempfile.TemporaryDirectory(prefix="kmig-initramfs-") as root:
        os.chmod(root, 0o755)		# mkdtemp's 0700 would lock other users out of /
        for sub in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        shutil.copy(os.path.join(ROOT, "tests", "vm", "init.sh"), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        for b in ("kmigd", "kmig", "kmig-dirtygen", "kmig-vmtest", "kmig-vmbench"):
            shutil.copy(os.path.join(bindir, b), os.path.join(root, "bin", b))
        for kv, ko in kos.items():
            os.makedirs(os.path.join(root, "lib", "kmig", kv))
            shutil.copy(ko, os.path.join(root, "lib", "kmig", kv, "kmig.ko"))
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/:/bin/sh\nusera:x:1001:1001::/:/bin/sh\n"
                    "userb:x:1002:1002::/:/bin/sh\n")
        files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                              input=files.encode(), capture_output=True, check=True).stdout
        gz = subprocess.run(["gzip", "-1"], input=cpio, capture_output=True, check=True).stdout
    with open(out, "wb") as f:
        f.write(gz)
    return out


def die_with_parent():
    """in the qemu child: SIGKILL when run_vm.py dies, however it dies (a suite
    timeout SIGKILLs us, and a SIGKILL runs no cleanup of ours)"""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)		# PR_SET_PDEATHSIG


def boot(cache, vmlinuz, initrd, tag, smp, mem, append, timeout):
    """runs one guest; returns (console text, seconds, how it ended)"""
    logf = os.path.join(cache, "vm", f"console-{tag}.log")
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
           "-smp", str(smp), "-m", mem, "-nic", "none", "-kernel", vmlinuz, "-initrd", initrd,
           "-append", "console=ttyS0 panic=-1 oops=panic loglevel=4 " + append,
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]
    t0 = time.monotonic()
    with open(logf, "w") as lf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                             preexec_fn=die_with_parent)
        try:
            p.wait(timeout=timeout)
            how = "exited"
        except subprocess.TimeoutExpired:
            how = f"timeout after {timeout} s"
        finally:
            if p.poll() is None:
                p.kill()		# our own qemu, by its pid
                p.wait()
    with open(logf, errors="replace") as f:
        text = f.read().replace("\r", "")
    return text, time.monotonic() - t0, how


def boot_retrying(*args):
    """boot(), again (at most twice more) when the kernel itself died before our init ran:
    under TCG with 2 vCPUs Debian's 6.12 kernel now and then oopses in its own initcalls
    (int3 left by text patching), before kmig's module or tests exist in the guest."""
    for attempt in range(3):
        text, secs, how = boot(*args)
        early = "KMIG-VM-START" not in text and re.search(r"Kernel panic|Oops:", text)
        if not early or attempt == 2:
            return text, secs, how
        line = next((x for x in text.splitlines() if "Oops:" in x or "RIP:" in x), "")
        print(f"# {args[3]}: the kernel died in its own boot before init ({line.strip()}); "
              "booting again", flush=True)
    return text, secs, how


def kv(line):
    return dict(re.findall(r"(\w+)=([^\s\[]+|\[[^\]]*\])", line))


def bench_table(lines):
    """the BENCH lines of one run as a table of kmod vs uffd-wp and their ratio"""
    wr, hv, mig, base = {}, {}, {}, {}
    for line in lines:
        d = kv(line)
        t = d.get("tracker")
        if "first_write_ns" in d:
            wr[t] = (int(d["first_write_ns"]), int(d["rewrite_ns"]))
        elif "harvest_ms_per_gib" in d:
            hv[(t, d["pct"])] = float(d["harvest_ms_per_gib"])
        elif line.startswith("BENCH baseline") and d.get("writes"):
            base[d["rate"]] = int(d["writes"]) / float(d["seconds"])
        elif line.startswith(("BENCH e2e", "BENCH busy")) and d.get("writes"):
            mig[(line.split()[1], t)] = int(d["writes"]) / float(d["seconds"])

    def row(name, a, b, target=""):
        if a is None or b is None:
            return f"| {name} | {a} | {b} | - | {target} |"
        fmt = (lambda v: f"{v:,.0f}") if max(a, b) >= 100 else (lambda v: f"{v:.2f}")
        return f"| {name} | {fmt(a)} | {fmt(b)} | {a / b:.3f} | {target} |"

    out = ["| metric | kmod | uffd-wp | kmod / uffd-wp | target |", "|---|---|---|---|---|"]
    k, u = wr.get("kmod", (None, None)), wr.get("uffd-wp", (None, None))
    out.append(row("first write to a page after a harvest (ns)", k[0], u[0]))
    if None not in k + u:
        out.append(row("  its cost over a rewrite of the page (ns)", max(k[0] - k[1], 0),
                       u[0] - u[1], "<= 0.1"))
    for pct in ("1", "10", "100"):
        out.append(row(f"harvest at {pct} % dirty (ms per GiB)", hv.get(("kmod", pct)),
                       hv.get(("uffd-wp", pct)), "<= 0.5" if pct == "10" else ""))
    for kind, rate, what in (("e2e", "100000", "completed migration, 100k writes/s asked"),
                             ("busy", "0", "10 s of migration, writing flat out")):
        b = base.get(rate)
        out.append(row(f"workload writes/s, {what} (alone: {b:,.0f})" if b else
                       f"workload writes/s, {what}", mig.get((kind, "kmod")),
                       mig.get((kind, "uffd-wp"))))
    return "\n".join(out)


class Tap:
    def __init__(self):
        self.n = self.failed = 0

    def line(self, ok, name):
        self.n += 1
        self.failed += not ok
        print(f"{'ok' if ok else 'not ok'} {self.n} - {name}", flush=True)


def judge(t, tag, text, secs, how):
    """re-prints the guest's TAP; the guest itself must have finished cleanly"""
    count = 0
    for line in text.splitlines():
        m = TAP.match(line.strip())
        if m:
            count += 1
            t.line(m.group(1) == "ok", f"{tag}: {m.group(2)}")
        elif line.startswith("#") and "SKIP" not in line:
            print(f"# {tag}: {line.lstrip('# ')}")
    started, done = "KMIG-VM-START" in text, "KMIG-VM-DONE" in text
    panic = re.search(r"Kernel panic|BUG:|Oops:|general protection fault", text)
    ok = started and done and not panic and count > 0
    why = ("panic: " + panic.group(0)) if panic else (
        "no start marker (kernel did not boot)" if not started else
        "no end marker (guest hung or died: " + how + ")" if not done else
        "no TAP line" if not count else "")
    t.line(ok, f"{tag}: guest booted, ran {count} checks and powered off ({secs:.0f} s){' - ' + why if why else ''}")
    if not ok:
        for line in text.splitlines()[-40:]:
            print(f"# {tag} console: {line}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.environ.get("KMIG_CACHE", "/var/cache/kmig"))
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--micro", action="store_true", help="with --bench: kmig-vmbench only")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--only", help="one guest, e.g. 6.12/2")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per guest")
    args = ap.parse_args()
    t = Tap()
    try:
        series = ["6.12"] if args.bench else ["6.1", "6.12"]
        kvs = {s: resolve_kernel(s) for s in series}
        vmlinuz = {s: ensure_kernel(args.cache, kv) for s, kv in kvs.items()}
        kos = {kv: build_ko(args.cache, kv) for kv in kvs.values()}
        t.line(True, "kmig.ko built for " + ", ".join(kvs.values()))
        bindir = build_userspace()
        initrd = initramfs(args.cache, bindir, kos)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
        t.line(False, f"set-up (kernels, module, static binaries, initramfs): {e}")
        print(f"1..{t.n}")
        return 1
    if args.bench:
        mode = "micro" if args.micro else "bench"
        text, secs, how = boot_retrying(args.cache, vmlinuz["6.12"], initrd, "bench-6.12", 2,
                                        "2G", f"kmig.mode={mode}", args.timeout * 2)
        judge(t, "vmbench 6.12/2", text, secs, how)
        lines = [x for x in text.splitlines() if x.startswith("BENCH")]
        table = bench_table(lines)
        with open(os.path.join(args.cache, "vm", "vmbench.txt"), "w") as f:
            f.write("\n".join(lines) + "\n\n" + table + "\n")
        print("\n".join("# " + x for x in lines))
        print(table)
    else:
        for s in series:
            for smp in (1, 2):
                tag = f"{s}/{smp}"
                if args.only and args.only != tag:
                    continue
                text, secs, how = boot_retrying(args.cache, vmlinuz[s], initrd,
                                                tag.replace("/", "-"), smp, "1G",
                                                f"kmig.mode=test kmig.rounds={args.rounds}",
                                                args.timeout)
                judge(t, f"vm {kvs[s]} smp{smp}", text, secs, how)
    print(f"1..{t.n}")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
