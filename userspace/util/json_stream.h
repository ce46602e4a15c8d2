/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * json_stream.h: splits a byte stream into top-level JSON values, the way
 * QMP reads its socket.
 *
 * Bytes go in as they arrive (a value may span reads, a read may hold many
 * values); each complete value comes out parsed by json-c, or as an error
 * text.  After an error the stream resynchronises at the next structural
 * character or control byte, so one bad request does not poison the rest.
 */
#ifndef KMIG_JSON_STREAM_H
#define KMIG_JSON_STREAM_H

#include <stddef.h>
#include <json-c/json.h>

/* largest value accepted, and deepest nesting, before it is an error */
#define KMIG_JSON_MAX_VALUE (64u << 20)	/* QEMU's MAX_TOKEN_SIZE */
#define KMIG_JSON_MAX_DEPTH 1024

/*
 * Called once per value: @obj is the parsed value (the callee owns it; NULL
 * for a JSON null) when @err is NULL, else @err describes why the input was
 * rejected.  Return non-zero to stop feeding (e.g. the client went away).
 */
typedef int (*kmig_json_cb)(void *opaque, struct json_object *obj, const char *err);

struct kmig_json_stream;

struct kmig_json_stream *kmig_json_stream_new(void);
void kmig_json_stream_free(struct kmig_json_stream *s);
/* returns 0, the callback's non-zero value, or -ENOMEM */
int kmig_json_stream_feed(struct kmig_json_stream *s, const char *data, size_t len,
			  kmig_json_cb cb, void *opaque);

#endif
