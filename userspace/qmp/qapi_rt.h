/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qapi_rt.h: the small runtime the generated QAPI code stands on.
 *
 * It holds the error type every QMP handler reports through, the input
 * helpers that check one JSON value against a builtin type with QEMU's
 * exact error texts, and the builtin visitors.  It deliberately has no
 * QObject layer: values are json-c objects on the way in and out.
 */
#ifndef KMIG_QAPI_RT_H
#define KMIG_QAPI_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* QMP error classes, as QEMU names them on the wire */
enum kmig_err_class {
	KMIG_ERR_GENERIC,
	KMIG_ERR_COMMAND_NOT_FOUND,
	KMIG_ERR_DEVICE_NOT_ACTIVE,
	KMIG_ERR_DEVICE_NOT_FOUND,
};

/**
 * struct kmig_err - an error on its way to a QMP client or the CLI
 * @set:  whether an error was recorded (only the first one is kept)
 * @cls:  the QMP error class
 * @desc: the human-readable text sent as "desc"
 */
struct kmig_err {
	bool set;
	enum kmig_err_class cls;
	char desc[1024];
};

void kmig_err_set(struct kmig_err *e, enum kmig_err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define kmig_err_generic(e, ...) kmig_err_set((e), KMIG_ERR_GENERIC, __VA_ARGS__)
const char *kmig_err_class_name(enum kmig_err_class cls);

/* JSON kind of a value, for alternates; NULL pointer is JSON null */
enum kmig_qtype {
	KMIG_QTYPE_NONE,
	KMIG_QTYPE_NULL,
	KMIG_QTYPE_NUM,
	KMIG_QTYPE_STRING,
	KMIG_QTYPE_DICT,
	KMIG_QTYPE_LIST,
	KMIG_QTYPE_BOOL,
};
enum kmig_qtype kmig_qtype_of(struct json_object *o);

struct kmig_qmp_ctx;
typedef int (*kmig_qmp_marshal_fn)(struct kmig_qmp_ctx *ctx, struct json_object *args,
				   struct json_object **ret, struct kmig_err *err);
/** struct kmig_qmp_command - one row of the generated dispatch table */
struct kmig_qmp_command {
	const char *name;
	kmig_qmp_marshal_fn fn;
};

/*
 * Member paths, as QEMU prints them in errors: "capabilities[0].state".
 * A NULL parent means a top-level argument.
 */
#define KMIG_QPATH_MAX 256
void kmig_qpath_member(char *buf, size_t n, const char *parent, const char *member);
void kmig_qpath_index(char *buf, size_t n, const char *parent, size_t idx);

/* Checks used by generated visitors; each returns false with @e set. */
bool kmig_in_object(struct json_object *o, const char *path, struct kmig_err *e);
bool kmig_in_array(struct json_object *o, const char *path, struct kmig_err *e);
bool kmig_in_missing(const char *path, struct kmig_err *e);
bool kmig_in_nomem(struct kmig_err *e);
bool kmig_in_type_error(const char *path, const char *expected, struct kmig_err *e);
/* rejects members of @o named in neither NULL-terminated list */
bool kmig_in_check_struct(struct json_object *o, const char *path, const char *const *known,
			  const char *const *known2, struct kmig_err *e);
bool kmig_in_enum(struct json_object *o, const char *path, const char *name,
		  const char *const *table, int count, int *out, struct kmig_err *e);

/* Builtin visitors: same shape as the generated ones. */
#define KMIG_BUILTIN_VISITORS(T, CT)							\
	bool visit_in_##T(struct json_object *o, const char *path, const char *name,	\
			  CT *out, struct kmig_err *e);					\
	struct json_object *visit_out_##T(const CT *in)
KMIG_BUILTIN_VISITORS(number, double);
KMIG_BUILTIN_VISITORS(bool, bool);
KMIG_BUILTIN_VISITORS(int, int64_t);
KMIG_BUILTIN_VISITORS(int8, int8_t);
KMIG_BUILTIN_VISITORS(int16, int16_t);
KMIG_BUILTIN_VISITORS(int32, int32_t);
KMIG_BUILTIN_VISITORS(int64, int64_t);
KMIG_BUILTIN_VISITORS(uint8, uint8_t);
KMIG_BUILTIN_VISITORS(uint16, uint16_t);
KMIG_BUILTIN_VISITORS(uint32, uint32_t);
KMIG_BUILTIN_VISITORS(uint64, uint64_t);
KMIG_BUILTIN_VISITORS(size, uint64_t);
bool visit_in_str(struct json_object *o, const char *path, const char *name, char **out,
		  struct kmig_err *e);
struct json_object *visit_out_str(char *const *in);
bool visit_in_any(struct json_object *o, const char *path, const char *name,
		  struct json_object **out, struct kmig_err *e);
struct json_object *visit_out_any(struct json_object *const *in);
KMIG_BUILTIN_VISITORS(null, char);

void qapi_clear_str(char **p);
void qapi_clear_any(struct json_object **p);

#endif
