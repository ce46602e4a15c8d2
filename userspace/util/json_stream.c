// SPDX-License-Identifier: GPL-2.0-only
/*
 * json_stream.c: frames top-level JSON values out of a byte stream.
 *
 * A small lexer tracks strings and nesting to find where each value ends,
 * then json-c parses the framed text.  The lexer also does the three things
 * json-c cannot do for QMP: it names an invalid keyword the way QEMU does,
 * it resynchronises after garbage, and it turns integers too large for 64
 * bits into doubles (json-c would silently saturate them to UINT64_MAX,
 * which would make 2^64 pass as a valid uint64).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_stream.h"

enum lex_state {
	LEX_VALUE,	/* between tokens */
	LEX_STRING,
	LEX_ESCAPE,
	LEX_NUMBER,
	LEX_WORD,
	LEX_RECOVER,	/* after an error: skip to a sync point */
};

#define MAX_BIGNUMS 64

struct kmig_json_stream {
	/* bit d of @stack: the container opened at depth d+1 is an array */
	uint64_t stack[(KMIG_JSON_MAX_DEPTH + 63) / 64];
	/*
	 * Colons seen at the top level of each object of the current value, in
	 * the order the objects open: json-c keeps one member per key, so a
	 * parsed object with fewer members than colons had a duplicate key.
	 */
	uint32_t *keys;
	size_t nkeys, keys_cap;
	size_t open_obj[KMIG_JSON_MAX_DEPTH];	/* index into @keys per open object */
	bool oom;
	char *buf;
	size_t len, cap;
	size_t pos;		/* next byte to lex */
	size_t start;		/* start of the current value */
	size_t tok;		/* start of the current number or word */
	int depth;
	bool in_value;
	enum lex_state st;
	char bad_word[64];	/* first invalid keyword of this value */
	size_t bignum[MAX_BIGNUMS];	/* ends of integers to turn into doubles */
	int nbig;
};

struct kmig_json_stream *kmig_json_stream_new(void)
{
	return calloc(1, sizeof(struct kmig_json_stream));
}

void kmig_json_stream_free(struct kmig_json_stream *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s->keys);
	free(s);
}

static void reset_value(struct kmig_json_stream *s)
{
	s->depth = 0;
	s->in_value = false;
	s->bad_word[0] = 0;
	s->nbig = 0;
	s->nkeys = 0;
}

static bool top_is_array(const struct kmig_json_stream *s)
{
	int d = s->depth - 1;

	return s->stack[d / 64] >> (d % 64) & 1;
}

/* pushes a container; false when it is nested too deep or memory ran out */
static bool push(struct kmig_json_stream *s, bool array)
{
	int d = s->depth;

	if (d >= KMIG_JSON_MAX_DEPTH)
		return false;
	if (array) {
		s->stack[d / 64] |= 1ull << (d % 64);
	} else {
		s->stack[d / 64] &= ~(1ull << (d % 64));
		if (s->nkeys == s->keys_cap) {
			size_t cap = s->keys_cap ? 2 * s->keys_cap : 64;
			uint32_t *k = realloc(s->keys, cap * sizeof(*k));

			if (!k) {
				s->oom = true;
				return false;
			}
			s->keys = k;
			s->keys_cap = cap;
		}
		s->open_obj[d] = s->nkeys;
		s->keys[s->nkeys++] = 0;
	}
	s->depth++;
	return true;
}

/*
 * Walks @o in document order (objects and arrays before their members) and
 * compares each object's member count with the colons counted for it.
 * Returns false at the first object that lost a member to a duplicate key.
 */
static bool members_match(struct json_object *o, const uint32_t *keys, size_t nkeys, size_t *k)
{
	if (json_object_is_type(o, json_type_array)) {
		size_t n = json_object_array_length(o);

		for (size_t i = 0; i < n; i++)
			if (!members_match(json_object_array_get_idx(o, i), keys, nkeys, k))
				return false;
		return true;
	}
	if (!json_object_is_type(o, json_type_object))
		return true;
	if (*k >= nkeys || keys[*k] != (uint32_t)json_object_object_length(o))
		return false;
	(*k)++;
	json_object_object_foreach(o, key, val) {
		(void)key;
		if (!members_match(val, keys, nkeys, k))
			return false;
	}
	return true;
}

/* Does the integer text [b, e) fit in int64 (if negative) or uint64? */
static bool int_fits(const char *b, const char *e)
{
	bool neg = *b == '-';
	const char *lim = neg ? "9223372036854775808" : "18446744073709551615";
	size_t n;

	if (neg)
		b++;
	while (b < e - 1 && *b == '0')
		b++;
	n = (size_t)(e - b);
	if (n != strlen(lim))
		return n < strlen(lim);
	return memcmp(b, lim, n) <= 0;
}

static void end_number(struct kmig_json_stream *s)
{
	const char *b = s->buf + s->tok, *e = s->buf + s->pos;

	if (memchr(b, '.', e - b) || memchr(b, 'e', e - b) || memchr(b, 'E', e - b))
		return;
	if (!int_fits(b, e) && s->nbig < MAX_BIGNUMS)
		s->bignum[s->nbig++] = s->pos;
}

static void end_word(struct kmig_json_stream *s)
{
	size_t n = s->pos - s->tok;
	const char *w = s->buf + s->tok;

	if ((n == 4 && !memcmp(w, "true", 4)) || (n == 5 && !memcmp(w, "false", 5)) ||
	    (n == 4 && !memcmp(w, "null", 4)))
		return;
	if (!s->bad_word[0])
		snprintf(s->bad_word, sizeof(s->bad_word), "%.*s", (int)n, w);
}

/* json-c's error texts, reworded where QEMU's clients expect QEMU's */
static void parse_error(char *out, size_t n, enum json_tokener_error err)
{
	switch (err) {
	case json_tokener_error_parse_object_key_name:
		snprintf(out, n, "JSON parse error, key is not a string in object");
		break;
	case json_tokener_error_parse_object_key_sep:
		snprintf(out, n, "JSON parse error, missing : in object pair");
		break;
	case json_tokener_error_parse_object_value_sep:
	case json_tokener_error_parse_array:
		snprintf(out, n, "JSON parse error, expected separator in list");
		break;
	case json_tokener_error_parse_unexpected:
	case json_tokener_error_parse_eof:
		snprintf(out, n, "JSON parse error, expecting value");
		break;
	default:
		snprintf(out, n, "JSON parse error, %s", json_tokener_error_desc(err));
	}
}

/* Parses the framed value [start, pos) and hands it to the callback. */
static int emit_value(struct kmig_json_stream *s, kmig_json_cb cb, void *opaque)
{
	size_t n = s->pos - s->start;
	char msg[160];
	char *text;
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error err;
	int ret;

	if (s->bad_word[0]) {
		snprintf(msg, sizeof(msg), "JSON parse error, invalid keyword '%s'", s->bad_word);
		reset_value(s);
		return cb(opaque, NULL, msg);
	}
	/* room for "e0" after each oversized integer */
	text = malloc(n + 2 * (size_t)s->nbig + 1);
	tok = json_tokener_new_ex(KMIG_JSON_MAX_DEPTH + 1);
	if (!text || !tok) {
		free(text);
		if (tok)
			json_tokener_free(tok);
		return -ENOMEM;
	}
	size_t o = 0, from = s->start;

	for (int i = 0; i < s->nbig; i++) {
		memcpy(text + o, s->buf + from, s->bignum[i] - from);
		o += s->bignum[i] - from;
		memcpy(text + o, "e0", 2);
		o += 2;
		from = s->bignum[i];
	}
	memcpy(text + o, s->buf + from, s->pos - from);
	o += s->pos - from;
	text[o] = 0;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)o);
	err = json_tokener_get_error(tok);
	if (err == json_tokener_continue) {
		/* a scalar at top level needs an end marker for json-c */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);
	free(text);
	if (err == json_tokener_success) {
		size_t k = 0;

		if (!members_match(obj, s->keys, s->nkeys, &k)) {
			json_object_put(obj);
			reset_value(s);
			return cb(opaque, NULL, "JSON parse error, duplicate key");
		}
	}
	reset_value(s);
	if (err != json_tokener_success) {
		json_object_put(obj);
		parse_error(msg, sizeof(msg), err);
		return cb(opaque, NULL, msg);
	}
	ret = cb(opaque, obj, NULL);
	return ret;
}

/*
 * A byte a JSON string cannot hold (a control byte, 0xFE, 0xFF): the value
 * ends here, as in QEMU's lexer, and the error names the string so far.
 */
static int string_error(struct kmig_json_stream *s, size_t from, kmig_json_cb cb, void *opaque)
{
	size_t n = s->pos - from;
	char *msg = malloc(n + 32);
	int ret;

	if (!msg)
		return -ENOMEM;
	snprintf(msg, n + 32, "JSON parse error, stray '%.*s'", (int)n, s->buf + from);
	reset_value(s);
	s->st = LEX_RECOVER;
	ret = cb(opaque, NULL, msg);
	free(msg);
	return ret;
}

static int lex_error(struct kmig_json_stream *s, unsigned char c, kmig_json_cb cb, void *opaque)
{
	char msg[64];

	if (c >= 0x80)
		/* not valid UTF-8 here: U+FFFD, as QEMU reports it */
		snprintf(msg, sizeof(msg), "JSON parse error, stray '\xef\xbf\xbd'");
	else
		/* the byte itself; the writer escapes control bytes (0x01 -> \u0001) */
		snprintf(msg, sizeof(msg), "JSON parse error, stray '%c'", c);
	reset_value(s);
	s->st = LEX_RECOVER;
	return cb(opaque, NULL, msg);
}

static bool is_sync(unsigned char c)
{
	return c == '{' || c == '[' || c == '}' || c == ']' || c == ':' || c == ',' ||
	       (c < 0x20 && c != '\t') || c >= 0xfe;
}

/*
 * Lexes from s->pos.  Returns 0 when more input is needed, non-zero when
 * the callback asked to stop.
 */
static int lex(struct kmig_json_stream *s, kmig_json_cb cb, void *opaque)
{
	int ret;

	while (s->pos < s->len) {
		unsigned char c = (unsigned char)s->buf[s->pos];

		switch (s->st) {
		case LEX_RECOVER:
			if (!is_sync(c)) {
				s->pos++;
				continue;
			}
			s->st = LEX_VALUE;
			if (c == '}' || c == ']' || c == ':' || c == ',' || c < 0x20 || c >= 0xfe) {
				s->pos++;	/* a sync point that cannot start a value */
				continue;
			}
			continue;
		case LEX_STRING:
		case LEX_ESCAPE:
			s->pos++;
			if (c < 0x20 || c >= 0xfe) {
				ret = string_error(s, s->tok, cb, opaque);
				if (ret)
					return ret;
				continue;
			}
			if (s->st == LEX_ESCAPE)
				s->st = LEX_STRING;
			else if (c == '\\')
				s->st = LEX_ESCAPE;
			else if (c == '"')
				s->st = LEX_VALUE;
			else
				continue;
			if (s->st == LEX_VALUE && s->depth == 0)
				goto value_done;
			continue;
		case LEX_NUMBER:
			if (strchr("0123456789+-.eE", c) && c) {
				s->pos++;
				continue;
			}
			end_number(s);
			s->st = LEX_VALUE;
			if (s->depth == 0)
				goto value_done;
			continue;
		case LEX_WORD:
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_') {
				s->pos++;
				continue;
			}
			end_word(s);
			s->st = LEX_VALUE;
			if (s->depth == 0)
				goto value_done;
			continue;
		case LEX_VALUE:
			break;
		}
		/* LEX_VALUE */
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			s->pos++;
			continue;
		}
		if (!s->in_value) {
			s->in_value = true;
			s->start = s->pos;
		}
		if (c == '{' || c == '[') {
			s->pos++;
			if (!push(s, c == '[')) {
				if (s->oom)
					return -ENOMEM;
				reset_value(s);
				s->st = LEX_RECOVER;
				ret = cb(opaque, NULL, "JSON nesting depth limit "
					 "exceeded");
				if (ret)
					return ret;
			}
			continue;
		}
		if (c == '}' || c == ']') {
			s->pos++;
			if (s->depth == 0) {
				reset_value(s);
				ret = cb(opaque, NULL, "JSON parse error, expecting value");
				if (ret)
					return ret;
				continue;
			}
			/* a closer that does not match its opener ends the value now */
			if (top_is_array(s) != (c == ']'))
				goto value_done;
			if (--s->depth > 0)
				continue;
			goto value_done;
		}
		if (c == ':' && s->depth > 0 && !top_is_array(s))
			s->keys[s->open_obj[s->depth - 1]]++;
		if (c == ',' || c == ':') {
			s->pos++;
			continue;
		}
		if (c == '"') {
			s->st = LEX_STRING;
			s->tok = s->pos++;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			s->st = LEX_NUMBER;
			s->tok = s->pos++;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			s->st = LEX_WORD;
			s->tok = s->pos++;
			continue;
		}
		s->pos++;
		ret = lex_error(s, c, cb, opaque);
		if (ret)
			return ret;
		continue;
value_done:
		ret = emit_value(s, cb, opaque);
		if (ret)
			return ret;
	}
	return 0;
}

int kmig_json_stream_feed(struct kmig_json_stream *s, const char *data, size_t len,
			  kmig_json_cb cb, void *opaque)
{
	size_t keep;
	int ret;

	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;

		while (cap < s->len + len)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = cap;
	}
	if (len) {	/* an empty feed only re-lexes what is buffered */
		memcpy(s->buf + s->len, data, len);
		s->len += len;
	}
	ret = lex(s, cb, opaque);
	if (ret)
		return ret;
	/* keep only the unfinished value (or the unfinished token) */
	keep = s->in_value ? s->start :
	       (s->st == LEX_NUMBER || s->st == LEX_WORD || s->st == LEX_STRING ||
		s->st == LEX_ESCAPE) ? s->tok : s->pos;
	if (s->pos - keep > KMIG_JSON_MAX_VALUE) {
		reset_value(s);
		s->st = LEX_RECOVER;
		keep = s->pos;
		ret = cb(opaque, NULL, "JSON token size limit exceeded");
	}
	if (keep)
		memmove(s->buf, s->buf + keep, s->len - keep);
	s->len -= keep;
	s->pos -= keep;
	s->tok -= s->tok >= keep ? keep : s->tok;
	for (int i = 0; i < s->nbig; i++)
		s->bignum[i] -= keep;
	s->start -= s->start >= keep ? keep : s->start;
	return ret;
}
