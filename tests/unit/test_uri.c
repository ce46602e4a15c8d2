// SPDX-License-Identifier: GPL-2.0-only
/* test_uri.c: migration URI parsing and QEMU's error texts for bad ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "uri.h"
#include "xport.h"

static void test_good(void **state)
{
	struct kmig_uri u;
	char err[512] = "";
	bool bad;

	assert_int_equal(kmig_uri_parse("tcp:127.0.0.1:4444", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.kind, KMIG_URI_TCP);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "4444");
	assert_int_equal(kmig_uri_parse("tcp:[::1]:5,ipv6", &u, &bad, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "5");
	assert_int_equal(kmig_uri_parse("tcp::0", &u, &bad, err, sizeof(err)), 0);
	assert_string_equal(u.host, "");
	assert_int_equal(kmig_uri_parse("unix:/run/k.sock", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.kind, KMIG_URI_UNIX);
	assert_string_equal(u.path, "/run/k.sock");
	assert_int_equal(kmig_uri_parse("exec:cat > /dev/null", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.kind, KMIG_URI_EXEC);
	assert_int_equal(kmig_uri_parse("file:/tmp/x", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.kind, KMIG_URI_FILE);
	assert_int_equal(kmig_uri_parse("fd:mig", &u, &bad, err, sizeof(err)), 0);
	assert_int_equal(u.kind, KMIG_URI_FD);
	assert_string_equal(err, "");
	assert_ptr_equal(u.ops, &kmig_chan_fd_ops);
	assert_string_equal(kmig_uri_scheme(&u), "fd");
}

static void expect_bad(const char *s, bool want_bad_scheme, const char *want)
{
	struct kmig_uri u;
	char err[512] = "";
	bool bad;

	assert_int_equal(kmig_uri_parse(s, &u, &bad, err, sizeof(err)), -EINVAL);
	assert_int_equal(bad, want_bad_scheme);
	assert_string_equal(err, want);
}

static void test_bad(void **state)
{
	expect_bad("no-such-proto:x", true, "Parameter 'uri' expects a valid migration protocol");
	expect_bad("", true, "Parameter 'uri' expects a valid migration protocol");
	expect_bad("tcp:", false, "error parsing address ''");
	expect_bad("tcp:127.0.0.1", false, "error parsing address '127.0.0.1'");
	expect_bad("tcp:[::1]", false, "error parsing address '[::1]'");
	expect_bad("tcp:host:", false, "error parsing address 'host:'");
	expect_bad("unix:", false, "Parameter 'uri' expects a non-empty unix path of at most "
				   "4095 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
