/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qmp_client.h: a blocking QMP client for the CLI: connect (unix path or
 * tcp:HOST:PORT), negotiate, run commands, skip events.
 */
#ifndef KMIG_QMP_CLIENT_H
#define KMIG_QMP_CLIENT_H

#include <json-c/json.h>

struct kmig_qmpc;

/* connects and negotiates; NULL with a one-line reason in @err */
struct kmig_qmpc *kmig_qmpc_open(const char *where, char *err, size_t n);
void kmig_qmpc_close(struct kmig_qmpc *c);
/*
 * Sends @req (not consumed) and returns the whole reply object (caller
 * puts it), or NULL with @err filled when the connection failed.
 */
struct json_object *kmig_qmpc_request(struct kmig_qmpc *c, struct json_object *req,
				      char *err, size_t n);
/*
 * Runs "execute": @cmd with @args (consumed; may be NULL).  Returns the
 * "return" value (caller puts it; JSON null comes back as an empty object)
 * or NULL with "Class: desc" or the connection error in @err.
 */
struct json_object *kmig_qmpc_call(struct kmig_qmpc *c, const char *cmd,
				   struct json_object *args, char *err, size_t n);

#endif
