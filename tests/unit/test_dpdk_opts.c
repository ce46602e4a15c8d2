// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_dpdk_opts.c: dpdk: URIs (dpdk_opts.h, and uri.c taking them): kmig's
 * own options are checked and kept apart from the device's arguments,
 * iface= expands to an af_packet device, and every bad option is refused
 * with a sentence that names it.  Needs no DPDK.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dpdk_opts.h"
#include "uri.h"
#include "xport.h"

static void test_memif(void **state)
{
	struct kmig_dpdk_opts o;
	char err[512] = "";

	(void)state;
	assert_int_equal(kmig_dpdk_opts_parse("vdev=net_memif0,role=server,socket=/run/k.sock,"
					      "lcore=1,window=1024,timeout=1500,x-loss=0.5",
					      &o, err, sizeof(err)), 0);
	assert_string_equal(o.dev_name, "net_memif0");
	/* kmig's options do not reach the device */
	assert_string_equal(o.devargs, "net_memif0,role=server,socket=/run/k.sock");
	assert_int_equal(o.lcore, 1);
	assert_int_equal(o.window, 1024);
	assert_int_equal(o.timeout_ms, 1500);
	assert_int_equal(o.loss, 5000);		/* per million */
	assert_true(o.eal_given);
	assert_int_equal(o.csum, -1);
	assert_int_equal(o.peer[0], 0xff);	/* broadcast until the SYNACK */
	assert_int_equal(o.queues, 1);
	assert_int_equal(kmig_dpdk_opts_parse("vdev=net_memif0,queues=16", &o, err, sizeof(err)), 0);
	assert_int_equal(o.queues, 16);
	assert_string_equal(o.devargs, "net_memif0");
}

static void test_iface(void **state)
{
	struct kmig_dpdk_opts o;
	char err[512] = "";

	(void)state;
	assert_int_equal(kmig_dpdk_opts_parse("iface=veth0,framecnt=256,peer=02:00:00:00:00:01",
					      &o, err, sizeof(err)), 0);
	assert_string_equal(o.dev_name, "net_af_packet_veth0");
	assert_string_equal(o.devargs, "net_af_packet_veth0,iface=veth0,framecnt=256,qpairs=1,"
			    "blocksz=16384,framesz=16384");
	assert_int_equal(o.peer[5], 1);
	assert_false(o.eal_given);
	/* after vdev=, iface= is the device's own argument */
	assert_int_equal(kmig_dpdk_opts_parse("vdev=net_af_xdp0,iface=veth0,force_copy=1", &o, err,
					      sizeof(err)), 0);
	assert_string_equal(o.devargs, "net_af_xdp0,iface=veth0,force_copy=1");
	assert_int_equal(kmig_dpdk_opts_parse_eal("prefix=kmig1,mem=512,huge=1", &o, err,
						  sizeof(err)), 0);
	assert_int_equal(o.mem_mb, 512);
	assert_true(o.huge);
	assert_string_equal(o.prefix, "kmig1");
}

static void expect_bad(const char *s, const char *want)
{
	struct kmig_dpdk_opts o;
	char err[512] = "";

	assert_int_equal(kmig_dpdk_opts_parse(s, &o, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("'%s': got '%s', wanted '%s'", s, err, want);
}

static void test_bad(void **state)
{
	struct kmig_dpdk_opts o;
	char err[512] = "";

	(void)state;
	expect_bad("", "names no device");
	expect_bad("lcore=1", "names no device");
	expect_bad("role=server", "unknown option 'role'");
	expect_bad("vdev=net_memif0,oops", "'oops' is not KEY=VALUE");
	expect_bad("vdev=a,vdev=b", "only one device");
	expect_bad("vdev=net_memif0,window=1000", "power of 2");
	expect_bad("vdev=net_memif0,window=1", "window=1 is not a number in 16..8192");
	expect_bad("vdev=net_memif0,timeout=-5", "timeout=-5");
	expect_bad("vdev=net_memif0,x-loss=60", "percentage in 0..50");
	expect_bad("vdev=net_memif0,peer=zz", "not a MAC");
	expect_bad("vdev=net_memif0,prefix=a/b", "letters, digits");
	expect_bad("vdev=net_memif0,csum=maybe", "full or header");
	expect_bad("vdev=net_memif0,queues=0", "queues=0 is not a number in 1..16");
	expect_bad("vdev=net_memif0,queues=17", "queues=17 is not a number in 1..16");
	assert_int_equal(kmig_dpdk_opts_parse_eal("vdev=x", &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an EAL option"));
}

static void test_uri(void **state)
{
	struct kmig_uri u;
	char err[512] = "";
	bool bad;

	(void)state;
	assert_int_equal(kmig_uri_parse("dpdk:iface=veth0", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.kind, KMIG_URI_DPDK);
	assert_ptr_equal(u.ops, &kmig_chan_dpdk_ops);
	assert_string_equal(u.path, "iface=veth0");
	assert_string_equal(kmig_uri_scheme(&u), "dpdk");
	/* the options are checked when the URI is parsed, DPDK built in or not */
	assert_int_equal(kmig_uri_parse("dpdk:iface=veth0,burst=0", &u, &bad, err, sizeof(err)),
			 -EINVAL);
	assert_false(bad);
	assert_non_null(strstr(err, "burst=0"));
	/*
	 * multifd over dpdk: takes a queue pair per channel, so the URI says how
	 * many data channels it carries (its queues less the main channel's)
	 */
	assert_false(kmig_chan_dpdk_ops.caps & KMIG_CHAN_F_MULTI);
	assert_int_equal(kmig_uri_parse("dpdk:iface=veth0", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.data_chans, 0);
	assert_int_equal(kmig_uri_parse("dpdk:vdev=net_memif0,queues=5", &u, &bad, err,
					sizeof(err)), 0);
	assert_int_equal(u.data_chans, 4);
	assert_int_equal(kmig_uri_parse("tcp:127.0.0.1:4444", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.data_chans, UINT_MAX);
	assert_int_equal(kmig_uri_parse("file:/tmp/x", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.data_chans, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memif),
		cmocka_unit_test(test_iface),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_uri),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
