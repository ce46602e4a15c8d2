// SPDX-License-Identifier: GPL-2.0-only
/*
 * json_write.c: QMP-compatible JSON output (see json_write.h for why json-c's
 * writer is not used on the wire).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"

void kmig_buf_add(struct kmig_buf *b, const void *data, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
}

void kmig_buf_puts(struct kmig_buf *b, const char *s)
{
	kmig_buf_add(b, s, strlen(s));
}

void kmig_buf_free(struct kmig_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

/* Decodes one UTF-8 sequence; invalid input yields U+FFFD and one byte. */
static unsigned int utf8_next(const unsigned char **sp)
{
	const unsigned char *s = *sp;
	unsigned int cp, need, min;

	if (s[0] < 0x80) {
		*sp = s + 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f; need = 1; min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f; need = 2; min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07; need = 3; min = 0x10000;
	} else {
		*sp = s + 1;
		return 0xfffd;
	}
	for (unsigned int i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*sp = s + 1;
			return 0xfffd;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*sp = s + need + 1;
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0xfffd;
	return cp;
}

void kmig_json_write_str(struct kmig_buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[16];

	kmig_buf_add(b, "\"", 1);
	while (*s) {
		unsigned int cp = utf8_next(&s);

		switch (cp) {
		case '"': kmig_buf_puts(b, "\\\""); continue;
		case '\\': kmig_buf_puts(b, "\\\\"); continue;
		case '\b': kmig_buf_puts(b, "\\b"); continue;
		case '\f': kmig_buf_puts(b, "\\f"); continue;
		case '\n': kmig_buf_puts(b, "\\n"); continue;
		case '\r': kmig_buf_puts(b, "\\r"); continue;
		case '\t': kmig_buf_puts(b, "\\t"); continue;
		}
		if (cp >= 0x20 && cp < 0x7f) {
			char c = (char)cp;

			kmig_buf_add(b, &c, 1);
		} else if (cp < 0x10000) {
			snprintf(esc, sizeof(esc), "\\u%04X", cp);
			kmig_buf_puts(b, esc);
		} else {
			cp -= 0x10000;
			snprintf(esc, sizeof(esc), "\\u%04X\\u%04X", 0xd800 + (cp >> 10),
				 0xdc00 + (cp & 0x3ff));
			kmig_buf_puts(b, esc);
		}
	}
	kmig_buf_add(b, "\"", 1);
}

/* shortest %g form that reads back to the same double */
static void write_double(struct kmig_buf *b, double d)
{
	char s[40];

	if (!isfinite(d)) {
		kmig_buf_puts(b, "null");	/* JSON has no inf/nan */
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	kmig_buf_puts(b, s);
}

void kmig_json_write(struct kmig_buf *b, struct json_object *o)
{
	char num[32];
	int first = 1;

	switch (json_object_get_type(o)) {
	case json_type_null:
		kmig_buf_puts(b, "null");
		break;
	case json_type_boolean:
		kmig_buf_puts(b, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
		if (json_object_get_int64(o) < 0)
			snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(o));
		else
			snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(o));
		kmig_buf_puts(b, num);
		break;
	case json_type_double:
		write_double(b, json_object_get_double(o));
		break;
	case json_type_string:
		kmig_json_write_str(b, json_object_get_string(o));
		break;
	case json_type_object:
		kmig_buf_add(b, "{", 1);
		json_object_object_foreach(o, key, val) {
			if (!first)
				kmig_buf_add(b, ", ", 2);
			first = 0;
			kmig_json_write_str(b, key);
			kmig_buf_add(b, ": ", 2);
			kmig_json_write(b, val);
		}
		kmig_buf_add(b, "}", 1);
		break;
	case json_type_array:
		kmig_buf_add(b, "[", 1);
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				kmig_buf_add(b, ", ", 2);
			kmig_json_write(b, json_object_array_get_idx(o, i));
		}
		kmig_buf_add(b, "]", 1);
		break;
	}
}

char *kmig_json_to_string(struct json_object *o)
{
	struct kmig_buf b = { 0 };

	kmig_json_write(&b, o);
	if (b.oom) {
		kmig_buf_free(&b);
		return NULL;
	}
	return b.p;
}
