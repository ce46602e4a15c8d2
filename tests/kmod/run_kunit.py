#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""KUnit tests of kmod/ on UML, as TAP for tests/run.py.

Why it exists: Debian's kernels have KUnit off, so the module's logic is
tested inside a UML kernel built from Debian's linux-source-6.1.  This
script copies kmod/ (and the uapi header) into drivers/misc/kmig of an
extracted tree kept in a cache directory outside the repository, hooks it
into drivers/misc/{Kconfig,Makefile}, runs tools/testing/kunit/kunit.py
with a build directory in the same cache (the first build takes 6-15
minutes on 2 cores, a rerun ~30 s), and prints each KUnit case as a TAP
line.  A run that executed no case, or a kernel that crashed, is a failure.
"""

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARBALL = "/usr/src/linux-source-6.1.tar.xz"
CASE = re.compile(r"^\s+(not ok|ok) \d+ (?:- )?(\S+)(.*)$")


def log(msg):
    print(f"# {msg}", flush=True)


def ensure_tree(cache):
    src = os.path.join(cache, "linux-source-6.1")
    if os.path.exists(os.path.join(src, "Makefile")):
        return src
    if not os.path.exists(TARBALL):
        log("installing linux-source-6.1")
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "linux-source-6.1"], check=True, stdout=subprocess.DEVNULL)
    log(f"extracting {TARBALL} into {cache}")
    os.makedirs(cache, exist_ok=True)
    subprocess.run(["tar", "-C", cache, "-xf", TARBALL], check=True)
    return src


def sync(src, dst):
    """copies only what changed, so make sees an incremental build"""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not os.path.exists(dst) or not filecmp.cmp(src, dst, shallow=False):
        shutil.copy(src, dst)


def link_module(src):
    kdir = os.path.join(src, "drivers", "misc", "kmig")
    for name in os.listdir(os.path.join(ROOT, "kmod")):
        if name.endswith((".c", ".h")) or name in ("Kconfig", "Kbuild"):
            if name.endswith(".mod.c"):
                continue
            sync(os.path.join(ROOT, "kmod", name), os.path.join(kdir, name))
    sync(os.path.join(ROOT, "include", "uapi", "linux", "kmig.h"),
         os.path.join(kdir, "include", "uapi", "linux", "kmig.h"))
    hooks = [("Kconfig", 'source "drivers/misc/kmig/Kconfig"\n', "endmenu"),
             ("Makefile", "obj-$(CONFIG_KMIG)\t\t+= kmig/\n", None)]
    for fname, line, before in hooks:
        path = os.path.join(src, "drivers", "misc", fname)
        with open(path) as f:
            text = f.read()
        if line in text:
            continue
        if before:
            i = text.rindex(before)
            text = text[:i] + line + text[i:]
        else:
            text += line
        with open(path, "w") as f:
            f.write(text)


# UML has no huge PMDs and so no pmd_dirty(), which mm/mapping_dirty_helpers.c
# names in a WARN_ON that can never run there: give it the true answer, 0.
UML_SHIM = ("\n/* kmig KUnit shim: UML has no huge PMDs, so none is dirty */\n"
            "#ifndef pmd_dirty\nstatic inline int pmd_dirty(pmd_t pmd) { return 0; }\n#endif\n")


def patch_uml(src):
    path = os.path.join(src, "arch", "um", "include", "asm", "pgtable.h")
    with open(path) as f:
        text = f.read()
    if "kmig KUnit shim" in text:
        return
    i = text.rindex("#endif")
    with open(path, "w") as f:
        f.write(text[:i] + UML_SHIM + text[i:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.environ.get("KMIG_CACHE", "/var/cache/kmig"))
    ap.add_argument("--timeout", type=int, default=300, help="seconds for the UML run")
    args = ap.parse_args()
    src = ensure_tree(args.cache)
    link_module(src)
    patch_uml(src)
    build = os.path.join(args.cache, "kunit-build-6.1")
    os.makedirs(build, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "tests", "kmod", "kunitconfig"),
                os.path.join(build, ".kunitconfig"))
    cmd = ["nice", "-n", "10", sys.executable, "tools/testing/kunit/kunit.py", "run",
           f"--build_dir={build}", f"--kunitconfig={build}/.kunitconfig",
           f"--jobs={os.cpu_count() or 2}", f"--timeout={args.timeout}",
           "--raw_output=kunit"]
    log("running: " + " ".join(cmd))
    p = subprocess.run(cmd, cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace")
    out = p.stdout
    with open(os.path.join(build, "kmig-kunit.log"), "w") as f:
        f.write(out)
    n = failed = 0
    for line in out.splitlines():
        m = CASE.match(line)
        if not m:
            continue
        n += 1
        ok = m.group(1) == "ok"
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {n} - kunit {m.group(2)}{m.group(3)}", flush=True)
    if n == 0:
        print("not ok 1 - kunit: no KUnit case ran (build or boot failed)")
        print("\n".join("# " + line for line in out.splitlines()[-40:]))
        return 1
    if p.returncode != 0 and not failed:
        print(f"not ok {n + 1} - kunit.py exited {p.returncode}")
        print("\n".join("# " + line for line in out.splitlines()[-40:]))
        return 1
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
