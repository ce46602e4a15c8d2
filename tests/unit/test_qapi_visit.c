// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_qapi_visit.c: the generated visitors plus qapi_rt's checks: QEMU's
 * error texts and paths, integer widths and two's complement, alternates,
 * nested lists, and a lossless out->in round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_write.h"
#include "qapi-visit.h"

/* parses @text as MigrateSetParameters; returns the error text or "" */
static const char *parse_params(const char *text, MigrateSetParameters *out)
{
	static struct kmig_err err;
	struct json_object *o = json_tokener_parse(text);

	memset(&err, 0, sizeof(err));
	memset(out, 0, sizeof(*out));
	assert_non_null(o);
	visit_in_MigrateSetParameters(o, NULL, NULL, out, &err);
	json_object_put(o);
	return err.set ? err.desc : "";
}

static void expect_params_err(const char *text, const char *want)
{
	MigrateSetParameters p;

	assert_string_equal(parse_params(text, &p), want);
	qapi_clear_MigrateSetParameters(&p);
}

static void test_integer_rules(void **state)
{
	MigrateSetParameters p;

	assert_string_equal(parse_params("{\"max-bandwidth\": -1, \"compress-level\": 9, "
					 "\"x-checkpoint-delay\": 4294967295}", &p), "");
	assert_true(p.has_max_bandwidth && p.max_bandwidth == UINT64_MAX);
	assert_int_equal(p.compress_level, 9);
	assert_int_equal(p.x_checkpoint_delay, 4294967295u);
	assert_false(p.has_downtime_limit);
	qapi_clear_MigrateSetParameters(&p);
	expect_params_err("{\"compress-level\": -1}", "Parameter 'compress-level' expects uint8_t");
	expect_params_err("{\"compress-level\": 256}", "Parameter 'compress-level' expects uint8_t");
	expect_params_err("{\"compress-level\": \"5\"}", "Parameter 'compress-level' expects uint64");
	expect_params_err("{\"compress-level\": 5.5}", "Parameter 'compress-level' expects uint64");
	expect_params_err("{\"compress-level\": null}", "Parameter 'compress-level' expects uint64");
	expect_params_err("{\"x-checkpoint-delay\": 4294967296}",
			  "Parameter 'x-checkpoint-delay' expects uint32_t");
	expect_params_err("{\"max-bandwidth\": 1.5}", "Parameter 'max-bandwidth' expects uint64");
}

static void test_type_and_member_errors(void **state)
{
	expect_params_err("{\"block-incremental\": 1}",
			  "Invalid parameter type for 'block-incremental', expected: boolean");
	expect_params_err("{\"tls-creds\": 5}",
			  "Invalid parameter type for 'tls-creds', expected: StrOrNull");
	expect_params_err("{\"multifd-compression\": \"lz4\"}",
			  "Parameter 'multifd-compression' does not accept value 'lz4'");
	expect_params_err("{\"multifd-compression\": 1}",
			  "Invalid parameter type for 'multifd-compression', expected: string");
	expect_params_err("{\"compress_level\": 1}", "Parameter 'compress_level' is unexpected");
	expect_params_err("{\"block-bitmap-mapping\": \"x\"}",
			  "Invalid parameter type for 'block-bitmap-mapping', expected: array");
	expect_params_err("{\"block-bitmap-mapping\": [{\"node-name\": \"n\"}]}",
			  "Parameter 'block-bitmap-mapping[0].alias' is missing");
	expect_params_err("{\"block-bitmap-mapping\": [{\"node-name\": \"n\", \"alias\": \"a\", "
			  "\"bitmaps\": [{\"name\": \"b\", \"alias\": \"c\", \"x\": 1}]}]}",
			  "Parameter 'block-bitmap-mapping[0].bitmaps[0].x' is unexpected");
}

static void test_str_or_null(void **state)
{
	MigrateSetParameters p;

	assert_string_equal(parse_params("{\"tls-creds\": null, \"tls-hostname\": \"h\"}", &p), "");
	assert_int_equal(p.tls_creds.type, KMIG_QTYPE_NULL);
	assert_int_equal(p.tls_hostname.type, KMIG_QTYPE_STRING);
	assert_string_equal(p.tls_hostname.u.s, "h");
	qapi_clear_MigrateSetParameters(&p);
}

static void test_caps_list_paths(void **state)
{
	static const struct {
		const char *in, *err;
	} cases[] = {
		{ "{\"capabilities\": [{\"capability\": \"xbzrle\", \"state\": \"true\"}]}",
		  "Invalid parameter type for 'capabilities[0].state', expected: boolean" },
		{ "{\"capabilities\": [{\"capability\": \"xbzrle\"}]}",
		  "Parameter 'capabilities[0].state' is missing" },
		{ "{\"capabilities\": [{\"capability\": \"XBZRLE\", \"state\": true}]}",
		  "Parameter 'capability' does not accept value 'XBZRLE'" },
		{ "{\"capabilities\": {}}",
		  "Invalid parameter type for 'capabilities', expected: array" },
		{ "{}", "Parameter 'capabilities' is missing" },
		{ "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q_obj_migrate_set_capabilities_arg a = { 0 };
		struct kmig_err err = { 0 };
		struct json_object *o = json_tokener_parse(cases[i].in);

		visit_in_q_obj_migrate_set_capabilities_arg(o, NULL, NULL, &a, &err);
		assert_string_equal(err.set ? err.desc : "", cases[i].err);
		if (!err.set) {
			assert_int_equal(a.capabilities.n, 1);
			assert_int_equal(a.capabilities.v[0].capability, MIGRATION_CAPABILITY_EVENTS);
			assert_true(a.capabilities.v[0].state);
		}
		qapi_clear_q_obj_migrate_set_capabilities_arg(&a);
		json_object_put(o);
	}
}

static void test_enum_in_list_is_named_null(void **state)
{
	q_obj_qmp_capabilities_arg a = { 0 };
	struct kmig_err err = { 0 };
	struct json_object *o = json_tokener_parse("{\"enable\": [\"foo\"]}");

	visit_in_q_obj_qmp_capabilities_arg(o, NULL, NULL, &a, &err);
	assert_string_equal(err.desc, "Parameter 'null' does not accept value 'foo'");
	qapi_clear_q_obj_qmp_capabilities_arg(&a);
	json_object_put(o);
}

static void test_round_trip(void **state)
{
	const char *text = "{\"status\": \"failed\", \"ram\": {\"transferred\": 1, \"remaining\": 2, "
			   "\"total\": 3, \"duplicate\": 4, \"skipped\": 5, \"normal\": 6, "
			   "\"normal-bytes\": 7, \"dirty-pages-rate\": 8, \"mbps\": 2.5, "
			   "\"dirty-sync-count\": 9, \"postcopy-requests\": 10, \"page-size\": 4096, "
			   "\"multifd-bytes\": 11, \"pages-per-second\": 12, \"precopy-bytes\": 13, "
			   "\"downtime-bytes\": 14, \"postcopy-bytes\": 15, "
			   "\"dirty-sync-missed-zero-copy\": 16}, \"error-desc\": \"\\u00e9\", "
			   "\"socket-address\": [{\"type\": \"unix\", \"path\": \"/p\"}]}";
	struct json_object *in = json_tokener_parse(text), *out;
	MigrationInfo mi = { 0 };
	struct kmig_err err = { 0 };

	assert_true(visit_in_MigrationInfo(in, NULL, NULL, &mi, &err));
	assert_int_equal(mi.socket_address.v[0].type, SOCKET_ADDRESS_TYPE_UNIX);
	assert_string_equal(mi.socket_address.v[0].u.q_unix.path, "/p");
	out = visit_out_MigrationInfo(&mi);
	assert_true(json_object_equal(in, out));
	json_object_put(out);
	json_object_put(in);
	qapi_clear_MigrationInfo(&mi);
}

static void test_union_discriminator(void **state)
{
	SocketAddress sa = { 0 };
	struct kmig_err err = { 0 };
	struct json_object *o = json_tokener_parse("{\"type\": \"inet\", \"host\": \"h\"}");

	assert_false(visit_in_SocketAddress(o, "a", NULL, &sa, &err));
	assert_string_equal(err.desc, "Parameter 'a.port' is missing");
	qapi_clear_SocketAddress(&sa);
	json_object_put(o);
	memset(&err, 0, sizeof(err));
	o = json_tokener_parse("{\"type\": \"unix\", \"path\": \"/p\", \"host\": \"h\"}");
	assert_false(visit_in_SocketAddress(o, NULL, NULL, &sa, &err));
	assert_string_equal(err.desc, "Parameter 'host' is unexpected");
	qapi_clear_SocketAddress(&sa);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integer_rules),
		cmocka_unit_test(test_type_and_member_errors),
		cmocka_unit_test(test_str_or_null),
		cmocka_unit_test(test_caps_list_paths),
		cmocka_unit_test(test_enum_in_list_is_named_null),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_union_discriminator),
	};

	return cmocka_run_group_tests_name("qapi_visit", tests, NULL, NULL);
}
