// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_json_stream.c: framing of QMP input: values split over reads, many
 * values in one read, recovery after garbage, big integers, limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_stream.h"
#include "json_write.h"

struct seen {
	int n;
	char out[16][256];	/* serialised value, or "ERR:" + text */
};

static int collect(void *opaque, struct json_object *obj, const char *err)
{
	struct seen *s = opaque;
	char *t;

	if (s->n == 16)
		return 1;
	if (err) {
		snprintf(s->out[s->n++], 256, "ERR:%s", err);
		return 0;
	}
	t = kmig_json_to_string(obj);
	snprintf(s->out[s->n++], 256, "%s", t);
	free(t);
	json_object_put(obj);
	return 0;
}

static void feed(struct kmig_json_stream *js, struct seen *s, const char *text)
{
	assert_int_equal(kmig_json_stream_feed(js, text, strlen(text), collect, s), 0);
}

static void test_split_and_batched(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"execute\": \"q");
	assert_int_equal(s.n, 0);
	feed(js, &s, "uery-status\"}{\"a\"");
	assert_int_equal(s.n, 1);
	assert_string_equal(s.out[0], "{\"execute\": \"query-status\"}");
	feed(js, &s, ": [1, {\"b\": \"}\"}]}\r\n{}  []");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.out[1], "{\"a\": [1, {\"b\": \"}\"}]}");
	assert_string_equal(s.out[2], "{}");
	assert_string_equal(s.out[3], "[]");
	kmig_json_stream_free(js);
}

static void test_one_byte_at_a_time(void **state)
{
	const char *text = "{\"id\": \"x\\\"y\", \"n\": -12.5e3, \"t\": true}";
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	for (size_t i = 0; text[i]; i++)
		assert_int_equal(kmig_json_stream_feed(js, text + i, 1, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.out[0], "{\"id\": \"x\\\"y\", \"n\": -12500, \"t\": true}");
	kmig_json_stream_free(js);
}

static void test_bad_keyword_and_recovery(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"execute\": foo}\n{\"execute\": \"x\"}");
	assert_int_equal(s.n, 2);
	assert_string_equal(s.out[0], "ERR:JSON parse error, invalid keyword 'foo'");
	assert_string_equal(s.out[1], "{\"execute\": \"x\"}");
	kmig_json_stream_free(js);
}

static void test_stray_bytes_recover(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"a\": \xff garbage here\n{\"b\": 1}");
	assert_true(s.n >= 2);
	assert_string_equal(s.out[0], "ERR:JSON parse error, stray '\xef\xbf\xbd'");
	assert_string_equal(s.out[s.n - 1], "{\"b\": 1}");
	kmig_json_stream_free(js);
}

static void test_stray_control_byte(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "\x01\n{\"b\": 1}");
	assert_int_equal(s.n, 2);
	assert_string_equal(s.out[0], "ERR:JSON parse error, stray '\x01'");
	assert_string_equal(s.out[1], "{\"b\": 1}");
	kmig_json_stream_free(js);
}

static void test_structural_errors(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"a\" 1}\n{\"a\": 1,}\n{1: 2}\n}\n{\"ok\": 1}");
	assert_int_equal(s.n, 5);
	for (int i = 0; i < 4; i++)
		assert_memory_equal(s.out[i], "ERR:JSON parse error", 20);
	assert_string_equal(s.out[4], "{\"ok\": 1}");
	kmig_json_stream_free(js);
}

static void test_big_integers_become_doubles(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "[18446744073709551615, 18446744073709551616, -9223372036854775808, "
		     "-9223372036854775809, 000]");
	assert_int_equal(s.n, 1);
	assert_string_equal(s.out[0], "[18446744073709551615, 1.8446744073709552e+19, "
				      "-9223372036854775808, -9.223372036854776e+18, 0]");
	kmig_json_stream_free(js);
}

static void test_top_level_scalars(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "5 \"x\" null true\n");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.out[0], "5");
	assert_string_equal(s.out[1], "\"x\"");
	assert_string_equal(s.out[2], "null");
	assert_string_equal(s.out[3], "true");
	kmig_json_stream_free(js);
}

static void test_depth_limit(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };
	char *deep = malloc(KMIG_JSON_MAX_DEPTH + 2);

	memset(deep, '[', KMIG_JSON_MAX_DEPTH + 1);
	deep[KMIG_JSON_MAX_DEPTH + 1] = 0;
	feed(js, &s, deep);
	feed(js, &s, "\n{\"after\": 1}");
	assert_string_equal(s.out[0], "ERR:JSON nesting depth limit exceeded");
	assert_string_equal(s.out[s.n - 1], "{\"after\": 1}");
	free(deep);
	kmig_json_stream_free(js);
}

static void test_size_limit(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };
	size_t n = KMIG_JSON_MAX_VALUE + 16;
	char *big = malloc(n + 1);

	big[0] = '"';
	memset(big + 1, 'a', n - 1);
	big[n] = 0;
	feed(js, &s, "{\"s\": ");
	feed(js, &s, big);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.out[0], "ERR:JSON token size limit exceeded");
	free(big);
	kmig_json_stream_free(js);
}

/* a raw control byte inside a string ends the value at once (QEMU's lexer) */
static void test_control_byte_in_string(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"execute\": \"qu\nery-status\"}\n{\"execute\": \"x\"}");
	assert_int_equal(s.n, 2);
	assert_string_equal(s.out[0], "ERR:JSON parse error, stray '\"qu\n'");
	assert_string_equal(s.out[1], "{\"execute\": \"x\"}");
	/* an unterminated string, then a newline and a command */
	feed(js, &s, "{\"execute\": \"abc");
	assert_int_equal(s.n, 2);
	feed(js, &s, "\n{\"execute\": \"y\"}");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.out[2], "ERR:JSON parse error, stray '\"abc\n'");
	assert_string_equal(s.out[3], "{\"execute\": \"y\"}");
	/* a tab is a control byte too; so is one after a backslash */
	feed(js, &s, "[\"a\tb\"]\n[\"c\\\x01\"]\n[1]");
	assert_int_equal(s.n, 7);
	assert_string_equal(s.out[4], "ERR:JSON parse error, stray '\"a\t'");
	assert_string_equal(s.out[5], "ERR:JSON parse error, stray '\"c\\\x01'");
	assert_string_equal(s.out[6], "[1]");
	kmig_json_stream_free(js);
}

/* a closer that does not match the innermost opener ends the value at once */
static void test_mismatched_closer(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"a\": [1}");
	assert_int_equal(s.n, 1);
	assert_true(!strncmp(s.out[0], "ERR:JSON parse error, ", 22));
	feed(js, &s, "\n{\"execute\": \"x\"}");
	assert_int_equal(s.n, 2);
	assert_string_equal(s.out[1], "{\"execute\": \"x\"}");
	feed(js, &s, "{[}\n{\"execute\": \"y\"}");
	assert_int_equal(s.n, 4);
	assert_true(!strncmp(s.out[2], "ERR:JSON parse error, ", 22));
	assert_string_equal(s.out[3], "{\"execute\": \"y\"}");
	feed(js, &s, "[{]\n[2]");
	assert_int_equal(s.n, 6);
	assert_string_equal(s.out[5], "[2]");
	kmig_json_stream_free(js);
}

static void test_duplicate_key(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	struct seen s = { 0 };

	feed(js, &s, "{\"a\": 1, \"a\": 2}");
	feed(js, &s, "{\"x\": [{\"b\": 1}, {\"c\": {\"d\": 1, \"d\": {}}}]}");
	/* no false alarms: colons in strings, nested objects, empty objects */
	feed(js, &s, "{\"a\": {\"b\": {}}, \"c\": [{\"d\": \"1:2\", \"e\": 2}], \"f:\": {}}");
	feed(js, &s, "{\"execute\": \"q\", \"arguments\": {\"execute\": 1}}");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.out[0], "ERR:JSON parse error, duplicate key");
	assert_string_equal(s.out[1], "ERR:JSON parse error, duplicate key");
	assert_string_equal(s.out[2], "{\"a\": {\"b\": {}}, \"c\": [{\"d\": \"1:2\", \"e\": 2}], "
			    "\"f:\": {}}");
	assert_string_equal(s.out[3], "{\"execute\": \"q\", \"arguments\": {\"execute\": 1}}");
	kmig_json_stream_free(js);
}

static int stop_after_first(void *opaque, struct json_object *obj, const char *err)
{
	int *n = opaque;

	json_object_put(obj);
	return ++*n == 1 ? 7 : 0;
}

static void test_callback_stops(void **state)
{
	struct kmig_json_stream *js = kmig_json_stream_new();
	int n = 0;

	assert_int_equal(kmig_json_stream_feed(js, "{}{}{}", 6, stop_after_first, &n), 7);
	assert_int_equal(n, 1);
	kmig_json_stream_free(js);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_and_batched),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_bad_keyword_and_recovery),
		cmocka_unit_test(test_stray_bytes_recover),
		cmocka_unit_test(test_stray_control_byte),
		cmocka_unit_test(test_control_byte_in_string),
		cmocka_unit_test(test_mismatched_closer),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_structural_errors),
		cmocka_unit_test(test_big_integers_become_doubles),
		cmocka_unit_test(test_top_level_scalars),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_callback_stops),
	};

	return cmocka_run_group_tests_name("json_stream", tests, NULL, NULL);
}
