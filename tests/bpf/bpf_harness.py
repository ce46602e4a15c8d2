# SPDX-License-Identifier: GPL-2.0-only
"""bpf_harness.py: the e2e harness (tests/e2e/harness.py) with two additions the bpf suites
need: extra environment variables for one process and a command prefix (setpriv, to take
kmigd's BPF privileges away).
Everything else -- bounded waits, teardown of every process and directory -- is the e2e one."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import Harness  # noqa: E402,F401  (re-exported)

# kmigd without the capabilities eBPF needs (CAP_SYS_PTRACE stays: it reads the
# workload's pagemap, which the uffd-wp fallback needs)
NO_BPF_PRIVS = ["setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin",
                "--inh-caps=-bpf,-perfmon,-sys_admin"]


class BpfHarness(Harness):
    def __init__(self, bindir, tag):
        super().__init__(bindir, tag)
        self.env = {}       # process name -> extra environment
        self.prefix = {}    # process name -> argv prefix

    def _spawn(self, name, argv, netns=None):
        log = self.path(name + ".log")
        argv = self.prefix.get(name, []) + argv
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        env = dict(os.environ, **self.env.get(name, {}))
        with open(log, "w") as lf:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                 start_new_session=True, cwd=self.dir, env=env)
        return p, log
