/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dpdk_gate.h: keeps EAL's interrupt thread, where DPDK 22.11's memif
 * handles its control socket and tears a connection down, apart from the
 * threads that burst on memif's rings or start and stop its devices.
 * While a memif device is open the interrupt thread is parked in an EAL
 * alarm of ours; bursts and device calls run only while it is parked, and
 * it leaves the park only once none is in progress (dpdk_gate.c).
 */
#ifndef KMIG_DPDK_GATE_H
#define KMIG_DPDK_GATE_H

#include <stdbool.h>

/*
 * A memif device opens (arm) or closes (disarm).  Callers serialise these
 * two (the devices' lock).  0, or -errno when EAL cannot set the alarm.
 */
int kmig_dpdk_gate_arm(void);
void kmig_dpdk_gate_disarm(void);

/* a burst may start now (true: leave() when it ends), or not: try later */
bool kmig_dpdk_gate_enter(void);
/* waits up to @us for enter() to succeed; false when it did not */
bool kmig_dpdk_gate_wait(unsigned int us);
void kmig_dpdk_gate_leave(void);

/* around a device call (start, stop, close): waits as long as it takes (armed only) */
void kmig_dpdk_gate_hold(void);
void kmig_dpdk_gate_release(void);

/*
 * At exit, before EAL's cleanup: parks the interrupt thread until the
 * process ends.  DPDK 22.11 never stops that thread, and every wake-up has
 * it walk its interrupt sources, some of which lie in EAL's memory (memif's
 * listener is never unregistered); after the cleanup unmaps that memory, a
 * wake-up would be a SEGV.  Whether it is parked (it did not come within
 * a second otherwise).
 */
bool kmig_dpdk_gate_park_for_good(void);

/* parks so far, and bursts turned away (the process's totals) */
void kmig_dpdk_gate_counts(unsigned long *parks, unsigned long *turned_away);

#endif
