#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# /init of the kmig test guest (tests/vm/run_vm.py builds the initramfs).
# It loads kmig.ko for the running kernel, runs kmig-vmtest, a complete
# kmig migration with the kmod tracker (verified page by page by the
# destination workload), unloads the module and checks the kernel log.
# kmig.mode=bench on the command line runs kmig-vmbench and two
# migrations (kmod, then uffd-wp after rmmod) instead.  Every result is a
# TAP line; KMIG-VM-DONE is the last line of a guest that did not hang.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up 2>/dev/null
echo KMIG-VM-START
kv=$(uname -r)
mode=$(sed -n 's/.*kmig\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
rounds=$(sed -n 's/.*kmig\.rounds=\([0-9]*\).*/\1/p' /proc/cmdline)
n=0
tap() { # tap RC NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
done_() { echo "KMIG-VM-DONE"; sync; poweroff -f; }
up() { cut -d' ' -f1 /proc/uptime; }
# a child that exited stays a zombie until waited for: not alive
alive() { [ -e /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status; }
writes() { sed -n 's/.*"writes": *\([0-9]*\).*/\1/p' $1 2>/dev/null; }

# baseline SIZE SECS: the bench's dirtygen, tracked by no one
baseline() {
	d=/tmp/base; mkdir -p $d
	kmigd --qmp $d/s.qmp --workload $d/s.wl >$d/s.log 2>&1 & sp=$!
	i=0; while [ ! -S $d/s.wl ] && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.1; done
	kmig-dirtygen --agent $d/s.wl --size $1 --rate $BENCH_RATE $DG_OPTS --pidfile $d/sg.pid --report $d/s.rep \
		>$d/sg.log 2>&1 & sg=$!
	i=0; while [ ! -f $d/sg.pid ] && [ $i -lt 600 ]; do i=$((i+1)); sleep 0.1; done
	t0=$(up); sleep $2; kill -TERM $sg; wait $sg; t1=$(up)
	echo "BENCH baseline rate=$BENCH_RATE size=$1 seconds=$(awk "BEGIN{print $t1 - $t0}") writes=$(writes $d/s.rep)"
	kill $sp; wait $sp 2>/dev/null
}

insmod /lib/kmig/$kv/kmig.ko; tap $? "insmod kmig.ko on $kv"
grep -q ' clean_record_shared_mapping_range$' /proc/kallsyms; tap $? "kernel exports clean_record_shared_mapping_range"
[ -c /dev/kmig ]; tap $? "/dev/kmig exists"

# busy TRACKER SIZE SECS: the dirtygen writing flat out while a migration that
# cannot converge runs for SECS and is cancelled: its writes/s under tracking
busy() {
	d=/tmp/busy-$1; mkdir -p $d
	kmigd --qmp $d/s.qmp --workload $d/s.wl >$d/s.log 2>&1 & sp=$!
	kmigd --qmp $d/d.qmp --workload $d/d.wl --incoming defer >$d/d.log 2>&1 & dp=$!
	i=0; while [ ! -S $d/s.wl ] || [ ! -S $d/d.wl ]; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.1; done
	kmig-dirtygen --agent $d/s.wl --size $2 --rate 0 $DG_OPTS --pidfile $d/sg.pid \
		--report $d/s.rep >$d/sg.log 2>&1 & sg=$!
	kmig-dirtygen --agent $d/d.wl --size $2 --role dst --idle --pidfile $d/dg.pid \
		>$d/dg.log 2>&1 & dg=$!
	i=0; while [ ! -f $d/sg.pid ] || [ ! -f $d/dg.pid ]; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1; done
	t0=$(up)
	timeout $(($3 + 30)) kmig migrate --timeout $3 --src $d/s.qmp --dst $d/d.qmp \
		unix:$d/mig.sock >$d/mig.log 2>&1
	kill -TERM $sg; wait $sg; t1=$(up)
	last=$(tr '\r' '\n' <$d/mig.log | grep 'syncs' | tail -1 | tr -s ' ')
	echo "BENCH busy tracker=$1 size=$2 seconds=$(awk "BEGIN{print $t1 - $t0}") writes=$(writes $d/s.rep) last=[$last]"
	kill $dg $sp $dp 2>/dev/null; wait $dg $sp $dp 2>/dev/null
}

# the bench's workload: 100k pages/s asked, 90 % of writes to 10 % of its pages
BENCH_SIZE=128M
BENCH_RATE=100000
DG_OPTS=
# e2e TRACKER SIZE RATE: one migration between two kmigd over a unix socket
e2e() {
	d=/tmp/e2e-$1; mkdir -p $d
	kmigd --qmp $d/s.qmp --workload $d/s.wl >$d/s.log 2>&1 & sp=$!
	kmigd --qmp $d/d.qmp --workload $d/d.wl --incoming defer >$d/d.log 2>&1 & dp=$!
	i=0; while [ ! -S $d/s.wl ] || [ ! -S $d/d.wl ]; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.1; done
	kmig-dirtygen --agent $d/s.wl --size $2 --rate $3 $DG_OPTS --pidfile $d/sg.pid \
		--checksum-out $d/s.sum --report $d/s.rep >$d/sg.log 2>&1 & sg=$!
	kmig-dirtygen --agent $d/d.wl --size $2 --role dst --idle --verify --pidfile $d/dg.pid \
		--checksum-out $d/d.sum --report $d/d.rep >$d/dg.log 2>&1 & dg=$!
	i=0; while [ ! -f $d/sg.pid ] || [ ! -f $d/dg.pid ]; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1; done
	t0=$(up)
	timeout 600 kmig migrate --timeout 500 $MIG_OPTS --src $d/s.qmp --dst $d/d.qmp \
		unix:$d/mig.sock >$d/mig.log 2>&1
	rc=$?
	t1=$(up)
	kmig --qmp $d/s.qmp query-migrate >$d/qm.json 2>&1
	got=$(sed -n 's/.*"x-kmig-tracker": *"\([^"]*\)".*/\1/p' $d/qm.json)
	tap $rc "migration with tracker $1 completed ($2, dirtying $3 pages/s, $(awk "BEGIN{print $t1 - $t0}") s)"
	[ "$got" = "$1" ]; tap $? "query-migrate names the tracker: '$got' (want '$1')"
	i=0; while ! grep -q '^verify: ' $d/dg.log && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done
	pages=$(($(echo $2 | sed 's/M$//') * 256))
	grep -q "^verify: $pages pages ok, 0 bad" $d/dg.log
	tap $? "destination verified every page: $(grep '^verify: ' $d/dg.log)"
	# the source writes its hash when it exits, after the hand-over
	i=0; while alive $sg && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.1; done
	i=0; while [ ! -s $d/d.sum ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
	[ -s $d/s.sum ] && [ "$(cat $d/s.sum)" = "$(cat $d/d.sum)" ]
	tap $? "source and destination memory hashes agree ($(cat $d/s.sum 2>/dev/null) $(cat $d/d.sum 2>/dev/null))"
	i=0; while [ ! -s $d/s.rep ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
	echo "BENCH e2e tracker=$1 size=$2 seconds=$(awk "BEGIN{print $t1 - $t0}") writes=$(writes $d/s.rep)"
	if [ "$rc" != 0 ]; then sed 's/^/# /' $d/mig.log $d/s.log $d/sg.log | tail -30; fi
	kill $sg $dg $sp $dp 2>/dev/null; wait $sg $dg $sp $dp 2>/dev/null
}

if [ "$mode" = bench ] || [ "$mode" = micro ]; then
	DG_OPTS="--pattern hot"
	MIG_OPTS="--downtime 1000"
	kmig-vmbench; tap $? "kmig-vmbench ran"
	[ "$mode" = micro ] && done_
	baseline $BENCH_SIZE 10
	e2e kmod $BENCH_SIZE $BENCH_RATE
	BENCH_RATE=0 baseline $BENCH_SIZE 10
	busy kmod $BENCH_SIZE 10
	rmmod kmig; tap $? "rmmod kmig"
	e2e uffd-wp $BENCH_SIZE $BENCH_RATE
	busy uffd-wp $BENCH_SIZE 10
	done_
fi

kmig-vmtest --rounds ${rounds:-200}; tap $? "kmig-vmtest exit status"
e2e kmod 64M 2000
rmmod kmig; tap $? "rmmod kmig"
! grep -q '^kmig ' /proc/modules; tap $? "module gone after rmmod"
# without /dev/kmig, "auto" falls back: to uffd-wp where the kernel has it (6.7+)
case $kv in 6.1.*) ;; *) e2e uffd-wp 64M 2000 ;; esac
dmesg > /tmp/dmesg.txt
! grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace|kmig: cannot' /tmp/dmesg.txt > /tmp/bad.txt
tap $? "no kernel warning, BUG or kmig error in dmesg"
sed 's/^/# dmesg: /' /tmp/bad.txt | head -20
done_
