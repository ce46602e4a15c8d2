// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_commands.c: every command's argument validation, through the
 * generated marshallers and the hand-written handlers, without a socket.
 * Each case runs a command and checks the error text (or success) and,
 * where it matters, what query-migrate-parameters reads back afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_write.h"
#include "agent.h"
#include "migrate.h"
#include "qapi-commands.h"
#include "qmp_server.h"
#include "tracker.h"

static struct kmig_agent d;

static int setup(void **state)
{
	kmig_agent_init(&d, kmig_mig_new(NULL, NULL), false);
	return d.mig ? 0 : -1;
}

static int teardown(void **state)
{
	kmig_mig_free(d.mig);
	kmig_agent_fini(&d);
	return 0;
}

/* runs @cmd with @args (JSON text or NULL); returns "" or the error desc */
static const char *run(const char *cmd, const char *args, char **ret_text)
{
	static char desc[1024];
	struct kmig_qmp_ctx ctx = { .a = &d };
	struct json_object *a = args ? json_tokener_parse(args) : NULL, *ret = NULL;
	struct kmig_err err = { 0 };
	const struct kmig_qmp_command *c;

	for (c = kmig_qmp_commands; c->name && strcmp(c->name, cmd); c++)
		;
	assert_non_null(c->name);
	if (args)
		assert_non_null(a);
	c->fn(&ctx, a, &ret, &err);
	snprintf(desc, sizeof(desc), "%s", err.set ? err.desc : "");
	if (ret_text)
		*ret_text = err.set ? NULL : kmig_json_to_string(ret);
	json_object_put(ret);
	json_object_put(a);
	return desc;
}

/* the value query-migrate-parameters reports for @name, as JSON text */
static char *param(const char *name)
{
	char *all, *out;
	struct json_object *o, *v;

	assert_string_equal(run("query-migrate-parameters", NULL, &all), "");
	o = json_tokener_parse(all);
	free(all);
	if (!json_object_object_get_ex(o, name, &v)) {
		json_object_put(o);
		return strdup("<absent>");
	}
	out = kmig_json_to_string(v);
	json_object_put(o);
	return out;
}

static void expect_param(const char *name, const char *want)
{
	char *got = param(name);

	assert_string_equal(got, want);
	free(got);
}

static void test_set_parameters_ranges(void **state)
{
	static const struct {
		const char *args, *err;
	} cases[] = {
		{ "{\"compress-level\": 10}", "Parameter 'compress_level' expects a value between 0 and 9" },
		{ "{\"compress-threads\": 0}", "Parameter 'compress_threads' expects a value between 1 and 255" },
		{ "{\"decompress-threads\": 0}", "Parameter 'decompress_threads' expects a value between 1 and 255" },
		{ "{\"cpu-throttle-initial\": 100}", "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99" },
		{ "{\"cpu-throttle-increment\": 0}", "Parameter 'cpu_throttle_increment' expects an integer in the range of 1 to 99" },
		{ "{\"downtime-limit\": 2000001}", "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms" },
		{ "{\"downtime-limit\": -1}", "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms" },
		{ "{\"throttle-trigger-threshold\": 101}", "Parameter 'throttle_trigger_threshold' expects an integer in the range of 1 to 100" },
		{ "{\"max-cpu-throttle\": 19}", "Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99" },
		{ "{\"max-cpu-throttle\": 100}", "Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99" },
		{ "{\"multifd-channels\": 0}", "Parameter 'multifd_channels' expects a value between 1 and 255" },
		{ "{\"multifd-zlib-level\": 10}", "Parameter 'multifd_zlib_level' expects a value between 0 and 9" },
		{ "{\"multifd-zstd-level\": 21}", "Parameter 'multifd_zstd_level' expects a value between 0 and 20" },
		{ "{\"xbzrle-cache-size\": 1000000}", "Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size" },
		{ "{\"xbzrle-cache-size\": 2048}", "Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size" },
		{ "{\"announce-initial\": 100001}", "Parameter 'announce_initial' expects a value between 0 and 100000" },
		{ "{\"announce-max\": 100001}", "Parameter 'announce_max' expects a value between 0 and 100000" },
		{ "{\"announce-rounds\": 1001}", "Parameter 'announce_rounds' expects a value between 0 and 1000" },
		{ "{\"announce-step\": 0}", "Parameter 'announce_step' expects a value between 0 and 10000" },
		{ "{\"no-such-param\": 1}", "Parameter 'no-such-param' is unexpected" },
		{ "{\"compress-level\": 5, \"cpu-throttle-initial\": 0}", "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99" },
		{ "{\"compress-level\": 5, \"no-such-param\": 0}", "Parameter 'no-such-param' is unexpected" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(run("migrate-set-parameters", cases[i].args, NULL), cases[i].err);
		/* nothing of a rejected request is applied */
		expect_param("compress-level", "1");
	}
}

/* x-kmig-tracker: "auto" or a compiled-in back end; the refusal lists them */
static void test_tracker_parameter(void **state)
{
	char want[512];
	size_t o;

	expect_param("x-kmig-tracker", "\"auto\"");
	assert_string_equal(run("migrate-set-parameters", "{\"x-kmig-tracker\": \"uffd-wp\"}",
				NULL), "");
	expect_param("x-kmig-tracker", "\"uffd-wp\"");
	o = (size_t)snprintf(want, sizeof(want), "Parameter 'x-kmig-tracker' expects 'auto'");
	for (size_t i = 0; kmig_trackers[i]; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, ", '%s'", kmig_trackers[i]->name);
	assert_string_equal(run("migrate-set-parameters", "{\"x-kmig-tracker\": \"nope\"}",
				NULL), want);
	expect_param("x-kmig-tracker", "\"uffd-wp\"");
	assert_string_equal(run("migrate-set-parameters", "{\"x-kmig-tracker\": \"auto\"}",
				NULL), "");
}

static void test_set_parameters_apply(void **state)
{
	assert_string_equal(run("migrate-set-parameters", "{\"max-bandwidth\": -33554432, "
				"\"tls-creds\": null, \"tls-authz\": \"a0\", \"multifd-zstd-level\": 20}",
				NULL), "");
	expect_param("max-bandwidth", "18446744073675997184");
	expect_param("tls-creds", "\"\"");
	expect_param("tls-authz", "\"a0\"");
	expect_param("multifd-zstd-level", "20");
	expect_param("block-bitmap-mapping", "<absent>");
	assert_string_equal(run("migrate-set-parameters", "{\"block-bitmap-mapping\": []}", NULL), "");
	expect_param("block-bitmap-mapping", "[]");
	/* feeding the whole query output back is accepted */
	char *all;

	assert_string_equal(run("query-migrate-parameters", NULL, &all), "");
	assert_string_equal(run("migrate-set-parameters", all, NULL), "");
	free(all);
}

static void test_legacy_units(void **state)
{
	assert_string_equal(run("migrate_set_downtime", "{\"value\": 0.5}", NULL), "");
	expect_param("downtime-limit", "500");
	assert_string_equal(run("migrate_set_downtime", "{\"value\": -1}", NULL),
			    "Parameter 'downtime_limit' expects an integer in the range of 0 to 2000 seconds");
	assert_string_equal(run("migrate_set_downtime", "{\"value\": \"x\"}", NULL),
			    "Invalid parameter type for 'value', expected: number");
	assert_string_equal(run("migrate_set_speed", "{\"value\": 33554432}", NULL), "");
	expect_param("max-bandwidth", "33554432");
	assert_string_equal(run("migrate_set_speed", "{\"value\": -1}", NULL),
			    "Parameter 'max_bandwidth' expects an integer in the range of 0 to 18446744073709551615 bytes/second");
	assert_string_equal(run("migrate-set-cache-size", "{\"value\": 1000000}", NULL), "");
	expect_param("xbzrle-cache-size", "524288");
	char *r;

	assert_string_equal(run("query-migrate-cache-size", NULL, &r), "");
	assert_string_equal(r, "524288");
	free(r);
	assert_string_equal(run("migrate-set-cache-size", "{\"value\": 100}", NULL),
			    "Parameter 'cache size' expects is smaller than page size");
}

static void test_capabilities(void **state)
{
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": [{\"capability\": "
				"\"zero-copy-send\", \"state\": true}]}", NULL),
			    "Zero copy only available for non-compressed non-TLS multifd migration");
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": [{\"capability\": "
				"\"postcopy-preempt\", \"state\": true}]}", NULL),
			    "Postcopy preempt requires postcopy-ram");
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"multifd\", \"state\": true}, "
				"{\"capability\": \"zero-copy-send\", \"state\": true}]}", NULL), "");
	assert_true(d.caps[MIGRATION_CAPABILITY_ZERO_COPY_SEND]);
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"events\", \"state\": true}, "
				"{\"capability\": \"background-snapshot\", \"state\": true}]}", NULL),
			    "Background-snapshot is not compatible with multifd");
	assert_false(d.caps[MIGRATION_CAPABILITY_EVENTS]);	/* atomic */
	/* postcopy: QEMU's checks */
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"postcopy-ram\", \"state\": true}, "
				"{\"capability\": \"x-ignore-shared\", \"state\": true}]}", NULL),
			    "Postcopy is not compatible with ignore-shared");
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"postcopy-ram\", \"state\": true}, "
				"{\"capability\": \"compress\", \"state\": true}]}", NULL),
			    "Postcopy is not currently compatible with compression");
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"zero-copy-send\", \"state\": false}, "
				"{\"capability\": \"multifd\", \"state\": false}, "
				"{\"capability\": \"postcopy-ram\", \"state\": true}]}", NULL), "");
	/* a channel without a return path cannot carry postcopy (QEMU's text) */
	assert_string_equal(run("migrate", "{\"uri\": \"exec:true\"}", NULL),
			    "Unable to open return-path for postcopy");
	assert_string_equal(run("migrate-start-postcopy", NULL, NULL), "");	/* it ran */
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"postcopy-ram\", \"state\": false}, "
				"{\"capability\": \"return-path\", \"state\": true}]}", NULL), "");
	assert_string_equal(run("migrate", "{\"uri\": \"file:/nonexistent/x\"}", NULL),
			    "Unable to open return-path for postcopy");
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": ["
				"{\"capability\": \"return-path\", \"state\": false}]}", NULL), "");
	assert_string_equal(run("migrate-pause", NULL, NULL),
			    "migrate-pause is currently only supported during postcopy-active state");
	assert_string_equal(run("migrate-recover", "{\"uri\": \"tcp:127.0.0.1:0\"}", NULL),
			    "Migrate recover can only be run when postcopy is paused.");
}

static void test_no_argument_commands(void **state)
{
	static const char *const cmds[] = {
		"query-migrate", "query-migrate-capabilities", "query-migrate-parameters",
		"migrate_cancel", "query-status", "query-version", "query-commands",
		"query-qmp-schema", "query-migrate-cache-size",
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		assert_string_equal(run(cmds[i], "{\"x\": 1}", NULL), "Parameter 'x' is unexpected");
		assert_string_equal(run(cmds[i], "{}", NULL), "");
	}
}

static void test_migration_control_without_migration(void **state)
{
	char *r;

	assert_string_equal(run("query-migrate", NULL, &r), "");
	assert_string_equal(r, "{}");
	free(r);
	assert_string_equal(run("migrate-start-postcopy", NULL, NULL),
			    "Enable postcopy with migrate_set_capability before the start of migration");
	assert_string_equal(run("migrate-continue", "{\"state\": \"pre-switchover\"}", NULL),
			    "Migration not in expected state: none");
	assert_string_equal(run("migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:1\"}", NULL),
			    "'-incoming' was not specified on the command line");
	assert_string_equal(run("migrate", "{\"uri\": \"tcp:127.0.0.1:1\", \"resume\": true}", NULL),
			    "Cannot resume if there is no paused migration");
	assert_string_equal(run("migrate", "{}", NULL), "Parameter 'uri' is missing");
	assert_string_equal(run("migrate", "{\"uri\": \"no-such-proto:x\"}", NULL),
			    "Parameter 'uri' expects a valid migration protocol");
	assert_string_equal(run("query-migrate", NULL, &r), "");
	assert_string_equal(r, "{\"status\": \"failed\"}");
	free(r);
	assert_string_equal(run("migrate", "{\"uri\": \"tcp:127.0.0.1\"}", NULL),
			    "error parsing address '127.0.0.1'");
	assert_string_equal(run("query-migrate", NULL, &r), "");
	assert_string_equal(r, "{\"status\": \"failed\", \"error-desc\": \"error parsing address '127.0.0.1'\"}");
	free(r);
	assert_string_equal(run("xen-save-devices-state", "{}", NULL), "Parameter 'filename' is missing");
	assert_string_equal(run("xen-save-devices-state", "{\"filename\": \"/x\"}", NULL),
			    "xen-save-devices-state is not supported by kmig: kmig runs no Xen guest");
	assert_string_equal(run("x-colo-lost-heartbeat", NULL, NULL), "The feature 'colo' is not enabled");
}

static void test_unimplemented_capability_refused(void **state)
{
	char *r;

	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": [{\"capability\": "
				"\"block\", \"state\": true}]}", NULL), "");
	assert_string_equal(run("migrate", "{\"uri\": \"tcp:127.0.0.1:1\"}", NULL),
			    "Capability 'block' is not implemented by kmig yet; "
			    "disable it to migrate");
	assert_string_equal(run("query-migrate", NULL, &r), "");
	assert_string_equal(r, "{}");	/* refused before anything started */
	free(r);
	assert_string_equal(run("migrate-set-capabilities", "{\"capabilities\": [{\"capability\": "
				"\"block\", \"state\": false}, {\"capability\": "
				"\"events\", \"state\": true}, {\"capability\": "
				"\"return-path\", \"state\": true}]}", NULL), "");
	assert_string_equal(run("migrate", "{\"uri\": \"no-such-proto:x\"}", NULL),
			    "Parameter 'uri' expects a valid migration protocol");
}

static void test_fds_and_cont(void **state)
{
	assert_string_equal(run("getfd", "{\"fdname\": \"1x\"}", NULL),
			    "Parameter 'fdname' expects a name not starting with a digit");
	assert_string_equal(run("getfd", "{\"fdname\": \"mig\"}", NULL),
			    "No file descriptor supplied via SCM_RIGHTS");
	assert_string_equal(run("getfd", "{}", NULL), "Parameter 'fdname' is missing");
	assert_string_equal(run("closefd", "{\"fdname\": \"mig\"}", NULL),
			    "File descriptor named 'mig' not found");
	assert_string_equal(run("migrate", "{\"uri\": \"fd:mig\"}", NULL),
			    "File descriptor named 'mig' has not been found");
	/* nothing held stopped: cont does nothing, as QEMU's on a running guest */
	assert_string_equal(run("cont", NULL, NULL), "");
	assert_string_equal(run("cont", "{\"x\": 1}", NULL), "Parameter 'x' is unexpected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_parameters_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_parameters_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tracker_parameter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_units, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_argument_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_control_without_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_and_cont, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unimplemented_capability_refused, setup, teardown),
	};

	return cmocka_run_group_tests_name("commands", tests, NULL, NULL);
}
