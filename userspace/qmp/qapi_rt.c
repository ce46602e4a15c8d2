// SPDX-License-Identifier: GPL-2.0-only
/*
 * qapi_rt.c: input checks and builtin visitors for the generated QAPI code.
 *
 * Error texts follow QEMU's qobject input visitor word for word, because
 * QMP clients match on them: type errors and missing members name the full
 * path ("capabilities[0].state"); integer-width and enum errors name only
 * the member ("null" inside a list), as QEMU does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qapi_rt.h"

void kmig_err_set(struct kmig_err *e, enum kmig_err_class cls, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->set)
		return;
	e->set = true;
	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
}

const char *kmig_err_class_name(enum kmig_err_class cls)
{
	switch (cls) {
	case KMIG_ERR_COMMAND_NOT_FOUND:
		return "CommandNotFound";
	case KMIG_ERR_DEVICE_NOT_ACTIVE:
		return "DeviceNotActive";
	case KMIG_ERR_DEVICE_NOT_FOUND:
		return "DeviceNotFound";
	default:
		return "GenericError";
	}
}

enum kmig_qtype kmig_qtype_of(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		return KMIG_QTYPE_NULL;
	case json_type_boolean:
		return KMIG_QTYPE_BOOL;
	case json_type_int:
	case json_type_double:
		return KMIG_QTYPE_NUM;
	case json_type_string:
		return KMIG_QTYPE_STRING;
	case json_type_object:
		return KMIG_QTYPE_DICT;
	case json_type_array:
		return KMIG_QTYPE_LIST;
	}
	return KMIG_QTYPE_NONE;
}

void kmig_qpath_member(char *buf, size_t n, const char *parent, const char *member)
{
	if (parent && *parent)
		snprintf(buf, n, "%s.%s", parent, member);
	else
		snprintf(buf, n, "%s", member);
}

void kmig_qpath_index(char *buf, size_t n, const char *parent, size_t idx)
{
	snprintf(buf, n, "%s[%zu]", parent ? parent : "", idx);
}

/* QEMU prints a top-level value's name as 'null' */
static const char *pname(const char *s)
{
	return s && *s ? s : "null";
}

bool kmig_in_type_error(const char *path, const char *expected, struct kmig_err *e)
{
	kmig_err_generic(e, "Invalid parameter type for '%s', expected: %s", pname(path), expected);
	return false;
}

bool kmig_in_object(struct json_object *o, const char *path, struct kmig_err *e)
{
	return json_object_is_type(o, json_type_object) || kmig_in_type_error(path, "object", e);
}

bool kmig_in_array(struct json_object *o, const char *path, struct kmig_err *e)
{
	return json_object_is_type(o, json_type_array) || kmig_in_type_error(path, "array", e);
}

bool kmig_in_missing(const char *path, struct kmig_err *e)
{
	kmig_err_generic(e, "Parameter '%s' is missing", pname(path));
	return false;
}

bool kmig_in_nomem(struct kmig_err *e)
{
	kmig_err_generic(e, "Out of memory");
	return false;
}

static bool listed(const char *const *list, const char *key)
{
	for (; list && *list; list++)
		if (!strcmp(*list, key))
			return true;
	return false;
}

bool kmig_in_check_struct(struct json_object *o, const char *path, const char *const *known,
			  const char *const *known2, struct kmig_err *e)
{
	char p[KMIG_QPATH_MAX];

	json_object_object_foreach(o, key, val) {
		(void)val;
		if (!listed(known, key) && !listed(known2, key)) {
			kmig_qpath_member(p, sizeof(p), path, key);
			kmig_err_generic(e, "Parameter '%s' is unexpected", p);
			return false;
		}
	}
	return true;
}

bool kmig_in_enum(struct json_object *o, const char *path, const char *name,
		  const char *const *table, int count, int *out, struct kmig_err *e)
{
	const char *s;

	if (!json_object_is_type(o, json_type_string))
		return kmig_in_type_error(path, "string", e);
	s = json_object_get_string(o);
	for (int i = 0; i < count; i++) {
		if (!strcmp(table[i], s)) {
			*out = i;
			return true;
		}
	}
	kmig_err_generic(e, "Parameter '%s' does not accept value '%s'", pname(name), s);
	return false;
}

bool visit_in_str(struct json_object *o, const char *path, const char *name, char **out,
		  struct kmig_err *e)
{
	(void)name;
	if (!json_object_is_type(o, json_type_string))
		return kmig_in_type_error(path, "string", e);
	*out = strdup(json_object_get_string(o));
	return *out || kmig_in_nomem(e);
}

bool visit_in_number(struct json_object *o, const char *path, const char *name, double *out,
		     struct kmig_err *e)
{
	(void)name;
	if (json_object_is_type(o, json_type_double)) {
		*out = json_object_get_double(o);
		return true;
	}
	if (json_object_is_type(o, json_type_int)) {
		int64_t i = json_object_get_int64(o);

		*out = i < 0 ? (double)i : (double)json_object_get_uint64(o);
		return true;
	}
	return kmig_in_type_error(path, "number", e);
}

bool visit_in_bool(struct json_object *o, const char *path, const char *name, bool *out,
		   struct kmig_err *e)
{
	(void)name;
	if (!json_object_is_type(o, json_type_boolean))
		return kmig_in_type_error(path, "boolean", e);
	*out = json_object_get_boolean(o);
	return true;
}

/*
 * A JSON integer as uint64, the way QEMU's visitor reads it: negative
 * numbers are taken as their two's complement (QEMU keeps this for backward
 * compatibility), anything but an integer fails.  Integers beyond 64 bits
 * reach us as doubles (the stream layer makes them so), and fail here too.
 */
static bool in_u64(struct json_object *o, const char *path, uint64_t *out, struct kmig_err *e)
{
	int64_t i;

	if (!json_object_is_type(o, json_type_int)) {
		kmig_err_generic(e, "Parameter '%s' expects uint64", pname(path));
		return false;
	}
	i = json_object_get_int64(o);
	*out = i < 0 ? (uint64_t)i : json_object_get_uint64(o);
	return true;
}

static bool in_i64(struct json_object *o, const char *path, int64_t *out, struct kmig_err *e)
{
	if (!json_object_is_type(o, json_type_int)) {
		kmig_err_generic(e, "Parameter '%s' expects integer", pname(path));
		return false;
	}
	*out = json_object_get_int64(o);
	/* json-c saturates: INT64_MAX may stand for a larger uint64 */
	if (*out == INT64_MAX && json_object_get_uint64(o) != (uint64_t)INT64_MAX) {
		kmig_err_generic(e, "Parameter '%s' expects integer", pname(path));
		return false;
	}
	return true;
}

#define UINT_VISITOR(T, CT, MAX, TNAME)							\
bool visit_in_##T(struct json_object *o, const char *path, const char *name, CT *out,	\
		  struct kmig_err *e)							\
{											\
	uint64_t v;									\
											\
	if (!in_u64(o, path, &v, e))							\
		return false;								\
	if (v > (MAX)) {								\
		kmig_err_generic(e, "Parameter '%s' expects %s", pname(name), TNAME);	\
		return false;								\
	}										\
	*out = (CT)v;									\
	return true;									\
}											\
struct json_object *visit_out_##T(const CT *in)						\
{											\
	return json_object_new_uint64(*in);						\
}
UINT_VISITOR(uint8, uint8_t, UINT8_MAX, "uint8_t")
UINT_VISITOR(uint16, uint16_t, UINT16_MAX, "uint16_t")
UINT_VISITOR(uint32, uint32_t, UINT32_MAX, "uint32_t")
UINT_VISITOR(uint64, uint64_t, UINT64_MAX, "uint64_t")
UINT_VISITOR(size, uint64_t, UINT64_MAX, "size")

#define INT_VISITOR(T, CT, MIN, MAX, TNAME)						\
bool visit_in_##T(struct json_object *o, const char *path, const char *name, CT *out,	\
		  struct kmig_err *e)							\
{											\
	int64_t v;									\
											\
	if (!in_i64(o, path, &v, e))							\
		return false;								\
	if (v < (MIN) || v > (MAX)) {							\
		kmig_err_generic(e, "Parameter '%s' expects %s", pname(name), TNAME);	\
		return false;								\
	}										\
	*out = (CT)v;									\
	return true;									\
}											\
struct json_object *visit_out_##T(const CT *in)						\
{											\
	return json_object_new_int64(*in);						\
}
INT_VISITOR(int, int64_t, INT64_MIN, INT64_MAX, "int64_t")
INT_VISITOR(int8, int8_t, INT8_MIN, INT8_MAX, "int8_t")
INT_VISITOR(int16, int16_t, INT16_MIN, INT16_MAX, "int16_t")
INT_VISITOR(int32, int32_t, INT32_MIN, INT32_MAX, "int32_t")
INT_VISITOR(int64, int64_t, INT64_MIN, INT64_MAX, "int64_t")

bool visit_in_any(struct json_object *o, const char *path, const char *name,
		  struct json_object **out, struct kmig_err *e)
{
	(void)path; (void)name; (void)e;
	*out = json_object_get(o);
	return true;
}

bool visit_in_null(struct json_object *o, const char *path, const char *name, char *out,
		   struct kmig_err *e)
{
	(void)name;
	*out = 0;
	return !o || kmig_in_type_error(path, "null", e);
}

struct json_object *visit_out_str(char *const *in)
{
	return json_object_new_string(*in ? *in : "");
}

struct json_object *visit_out_number(const double *in)
{
	return json_object_new_double(*in);
}

struct json_object *visit_out_bool(const bool *in)
{
	return json_object_new_boolean(*in);
}

struct json_object *visit_out_any(struct json_object *const *in)
{
	return json_object_get(*in);
}

struct json_object *visit_out_null(const char *in)
{
	(void)in;
	return NULL;
}

void qapi_clear_str(char **p)
{
	free(*p);
	*p = NULL;
}

void qapi_clear_any(struct json_object **p)
{
	json_object_put(*p);
	*p = NULL;
}
