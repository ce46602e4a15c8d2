# SPDX-License-Identifier: GPL-2.0-only
"""dpdk_harness.py: the e2e harness (tests/e2e/harness.py) with what the dpdk suite adds, all
of it removed on the way out, also after a failure or a signal:

- every kmigd starts DPDK's EAL at start-up (kmigd --dpdk) with a file prefix of its own,
  whose runtime directory (/var/run/dpdk/PREFIX) is removed after the process is gone;
- network namespaces joined by a veth pair with a given MTU (no addresses: the dpdk channel
  speaks raw Ethernet);
- a hugetlbfs mount and the hugepages reserved for it (the old count is put back).
"""

import glob
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import Fail, Harness  # noqa: E402

RUNTIME = "/var/run/dpdk"
NR_HUGE = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"


def prefix_base():
    return "kmig-t%d" % os.getpid()


class DpdkHarness(Harness):
    def __init__(self, bindir, tag):
        super().__init__(bindir, tag)
        self.tag = tag
        self.eal = {}           # kmigd name -> extra EAL options (huge=1, ...)
        self.prefixes = []
        self.mounts = []
        self.huge_saved = None

    def _spawn(self, name, argv, netns=None):
        if argv and argv[0].endswith("/kmigd"):
            prefix = "%s-%s" % (prefix_base(), name)
            self.prefixes.append(prefix)
            opts = "prefix=%s,mem=%s" % (prefix, self.eal.get(name, {}).get("mem", 256))
            for k, v in self.eal.get(name, {}).items():
                if k != "mem":
                    opts += ",%s=%s" % (k, v)
            argv = argv + ["--dpdk", opts, "-v"]
        return super()._spawn(name, argv, netns)

    # -- namespaces --

    def veth(self, tag, mtu):
        """Two namespaces joined by a veth pair of MTU @mtu, links up.
        Returns (ns_a, ns_b, veth_a, veth_b)."""
        pid = os.getpid()
        a, b = "kmig-dp-%d-%sa" % (pid, tag), "kmig-dp-%d-%sb" % (pid, tag)
        va, vb = "kd%d%sa" % (pid % 10000, tag), "kd%d%sb" % (pid % 10000, tag)
        self._veth_between(a, b, va, vb)
        for ns, dev in ((a, va), (b, vb)):
            self._ip("-n", ns, "link", "set", dev, "mtu", str(mtu))
            self._ip("-n", ns, "link", "set", dev, "up")
        return a, b, va, vb

    # -- hugepages --

    def hugepages(self, pages):
        """Reserves @pages more 2 MiB hugepages and mounts a hugetlbfs of our own.
        Returns its path, or raises Fail saying why not."""
        try:
            with open(NR_HUGE) as f:
                old = int(f.read())
        except OSError as e:
            raise Fail("no 2 MiB hugepages here: %s" % e)
        self.huge_saved = old
        with open(NR_HUGE, "w") as f:
            f.write(str(old + pages))
        with open(NR_HUGE) as f:
            got = int(f.read())
        if got < old + pages:
            raise Fail("only %d of %d hugepages could be reserved" % (got - old, pages))
        path = "/tmp/kmig-huge-%d-%s" % (os.getpid(), self.tag)
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", path],
                           capture_output=True, text=True, timeout=15)
        if r.returncode:
            os.rmdir(path)
            raise Fail("cannot mount hugetlbfs: %s" % r.stderr.strip())
        self.mounts.append(path)
        return path

    # -- teardown --

    def leftovers(self):
        """What of ours is still there (runtime directories, mounts)."""
        left = [d for d in glob.glob(os.path.join(RUNTIME, prefix_base() + "-*"))]
        with open("/proc/mounts") as f:
            left += [ln.split()[1] for ln in f if "kmig-huge-%d-" % os.getpid() in ln]
        return left

    def _close(self):
        self.stop_all()
        for path in reversed(self.mounts):
            subprocess.run(["umount", path], capture_output=True, timeout=15)
            try:
                os.rmdir(path)
            except OSError:
                pass
        self.mounts = []
        if self.huge_saved is not None:
            try:
                with open(NR_HUGE, "w") as f:
                    f.write(str(self.huge_saved))
            except OSError:
                pass
            self.huge_saved = None
        # a kmigd that was killed could not remove its EAL runtime directory
        for p in self.prefixes:
            shutil.rmtree(os.path.join(RUNTIME, p), ignore_errors=True)
        super()._close()


def chan_lines(agent, wait=3.0):
    """kmigd's lines saying how each dpdk channel opened and what it counted when it closed
    (waits up to @wait s for a closing line)."""
    end = time.monotonic() + wait
    while True:
        lines = agent.text().splitlines()
        opened = [ln for ln in lines if "dpdk: channel open " in ln]
        closed = [ln for ln in lines if "dpdk: channel closed " in ln]
        if closed or time.monotonic() > end:
            return opened, closed
        time.sleep(0.05)
