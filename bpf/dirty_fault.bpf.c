// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirty_fault.bpf.c: the kernel half of kmig's "bpf" dirty tracker.  It
 * runs on every page fault (the x86 exceptions:page_fault_user and
 * page_fault_kernel tracepoints, attached as raw tracepoints so neither
 * tracefs nor kernel BTF is needed at run time) and, for write faults of
 * the one workload process it was loaded for inside one of its RAM
 * blocks, sets the page's bit in a user-mappable bitmap and credits the
 * thread that took the fault.  It only observes faults: making every first
 * write after a harvest fault is uffd-wp's job (see track_bpf.c).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kmig_bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* set by the loader before load (.rodata: constants to the verifier) */
const volatile unsigned int target_tgid = 0;	/* in the workload's pid namespace */
const volatile unsigned int use_pidns = 0;	/* 0: the workload lives in the init pid ns */
const volatile unsigned long long pidns_dev = 0;
const volatile unsigned long long pidns_ino = 0;
const volatile unsigned int nranges = 0;
const volatile struct kmig_bpf_range ranges[KMIG_BPF_MAX_RANGES] = {};

/* counters the loader reads (.bss, mmapped by the skeleton) */
unsigned long long write_faults = 0;	/* write faults inside the ranges */
unsigned long long pages_dirtied = 0;	/* bits that went 0 -> 1 */
unsigned long long threads_lost = 0;	/* such pages whose thread found thread_pages full */

/* one bit per page of every range; user space swaps words out with xchg */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);			/* resized by the loader */
} dirty_bm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KMIG_BPF_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct kmig_bpf_thread);
} thread_pages SEC(".maps");

static __always_inline void credit_thread(__u32 tid)
{
	struct kmig_bpf_thread *t = bpf_map_lookup_elem(&thread_pages, &tid);
	struct kmig_bpf_thread fresh = { .pages = 1 };

	if (t) {
		__sync_fetch_and_add(&t->pages, 1);
		return;
	}
	bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	if (!bpf_map_update_elem(&thread_pages, &tid, &fresh, BPF_NOEXIST))
		return;
	/* another CPU inserted it meanwhile, or the map is full */
	t = bpf_map_lookup_elem(&thread_pages, &tid);
	if (t)
		__sync_fetch_and_add(&t->pages, 1);
	else
		__sync_fetch_and_add(&threads_lost, 1);
}

static __always_inline int on_fault(unsigned long addr, unsigned long error_code)
{
	__u32 tgid, tid;

	if (!(error_code & X86_PF_WRITE))
		return 0;
	if (use_pidns) {
		struct bpf_pidns_info ns;

		/* fails for tasks of other pid namespaces: not the workload */
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
			return 0;
		tgid = ns.tgid;
		tid = ns.pid;
	} else {
		__u64 id = bpf_get_current_pid_tgid();

		tgid = id >> 32;
		tid = (__u32)id;
	}
	if (tgid != target_tgid)
		return 0;

	for (__u32 i = 0; i < KMIG_BPF_MAX_RANGES; i++) {
		__u64 pg, bit, *word;
		__u32 w;

		if (i >= nranges)
			break;
		if (addr < ranges[i].start || addr >= ranges[i].end)
			continue;
		pg = (addr - ranges[i].start) >> KMIG_BPF_PAGE_SHIFT;
		w = (__u32)(ranges[i].word + (pg >> 6));
		bit = 1ULL << (pg & 63);
		word = bpf_map_lookup_elem(&dirty_bm, &w);
		if (!word)
			break;
		__sync_fetch_and_add(&write_faults, 1);
		/* only the fault that sets the bit counts: retried faults and
		 * racing threads on one page credit it once */
		if (__sync_fetch_and_or(word, bit) & bit)
			break;
		__sync_fetch_and_add(&pages_dirtied, 1);
		credit_thread(tid);
		break;
	}
	return 0;
}

/* a write by the workload's own code */
SEC("raw_tp/page_fault_user")
int BPF_PROG(handle_page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return on_fault(address, error_code);
}

/* a write by the kernel on the workload's behalf (copy_to_user in read(2), ...) */
SEC("raw_tp/page_fault_kernel")
int BPF_PROG(handle_page_fault_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return on_fault(address, error_code);
}
