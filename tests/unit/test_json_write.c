// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_json_write.c: QMP's output form: separators, \uXXXX escapes with
 * upper-case hex, surrogate pairs, invalid UTF-8, doubles, big integers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "json_write.h"

static void check(struct json_object *o, const char *want)
{
	char *got = kmig_json_to_string(o);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	json_object_put(o);
}

static void test_layout(void **state)
{
	check(json_tokener_parse("{\"a\":[1,true,null,{}],\"b\":\"x\"}"),
	      "{\"a\": [1, true, null, {}], \"b\": \"x\"}");
	check(NULL, "null");
	check(json_object_new_array(), "[]");
}

static void test_escapes(void **state)
{
	check(json_object_new_string("q\"b\\s/\b\f\n\r\t\x01\x7f"),
	      "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u007F\"");
	check(json_object_new_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
	      "\"\\u00E9\\u20AC\\uD83D\\uDE00\"");
	/* invalid UTF-8 (lone continuation, overlong, surrogate) -> U+FFFD */
	check(json_object_new_string("\x80|\xc0\xaf|\xed\xa0\x80|\xff"),
	      "\"\\uFFFD|\\uFFFD|\\uFFFD|\\uFFFD\"");
}

static void test_numbers(void **state)
{
	check(json_object_new_uint64(UINT64_MAX), "18446744073709551615");
	check(json_object_new_int64(INT64_MIN), "-9223372036854775808");
	check(json_object_new_double(0.5176455720198414), "0.5176455720198414");
	check(json_object_new_double(2699.5490412371137), "2699.5490412371137");
	check(json_object_new_double(18446744073709551616.0), "1.8446744073709552e+19");
	check(json_object_new_double(0.1), "0.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_numbers),
	};

	return cmocka_run_group_tests_name("json_write", tests, NULL, NULL);
}
