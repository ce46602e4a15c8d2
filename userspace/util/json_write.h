/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * json_write.h: serialises json-c values the way QEMU's QMP writes them.
 *
 * json-c's own writer differs in ways QMP clients notice: it pads braces,
 * escapes with lower-case hex and passes non-ASCII through.  QEMU writes
 * '{"a": 1, "b": 2}', escapes control and non-ASCII characters as \uXXXX
 * with upper-case hex, and prints doubles with the shortest round-trip form.
 */
#ifndef KMIG_JSON_WRITE_H
#define KMIG_JSON_WRITE_H

#include <stddef.h>
#include <json-c/json.h>

/** struct kmig_buf - a growable byte buffer; on allocation failure @oom sticks */
struct kmig_buf {
	char *p;
	size_t len, cap;
	int oom;
};

void kmig_buf_add(struct kmig_buf *b, const void *data, size_t n);
void kmig_buf_puts(struct kmig_buf *b, const char *s);
void kmig_buf_free(struct kmig_buf *b);

/* appends @o (NULL is JSON null) in QMP's compact form */
void kmig_json_write(struct kmig_buf *b, struct json_object *o);
/* appends @s as a JSON string literal, escaped as QEMU does */
void kmig_json_write_str(struct kmig_buf *b, const char *s);
/* the same into a new NUL-terminated string (caller frees), or NULL */
char *kmig_json_to_string(struct json_object *o);

#endif
