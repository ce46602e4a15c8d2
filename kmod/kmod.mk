# SPDX-License-Identifier: GPL-2.0-only
# kmod/kmod.mk: make rules for the kernel module, included by the top-level
# Makefile.
#   make kmod               kmig.ko for the newest installed Debian 6.1 and
#                           6.12 -amd64 headers, in build/kmod/<release>/
#   make kmod KDIR=DIR      for that kernel tree only
#   make kmod-check         checkpatch, both builds, KUnit (UML), in-VM tests
#   make vmbench            kmod vs uffd-wp in one 6.12 guest (docs/kmod.md)

.PHONY: kmod kmod-check vmbench

kmod:
	@scripts/kmod-build.sh $(BUILD)/kmod $(KDIR)

kmod-check: deps
	$(PYTHON) tests/kmod/run.py

vmbench: deps
	$(PYTHON) tests/vm/run_vm.py --bench
