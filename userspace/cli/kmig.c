// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig.c: the kmig command-line client.
 *
 *   kmig --qmp SOCK COMMAND [key=value ...]   run one QMP command
 *   kmig --qmp SOCK raw '{"execute": ...}'    send a request as written
 *   kmig migrate --src SOCK [--dst SOCK] URI  migrate, with live progress
 *   kmig dirtyrate --qmp SOCK | --pid PID    dirty rate, per thread, heat map
 *
 * One command prints the reply's "return" as indented JSON and exits 0; an
 * error reply prints "kmig: Class: desc" on stderr and exits 1.  Values in
 * key=value are JSON when they parse as JSON, strings otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirtyrate_cmd.h"
#include "migrate_cmd.h"
#include "qmp_client.h"

static struct json_object *build_request(int argc, char **argv)
{
	struct json_object *req, *args = NULL;

	if (!strcmp(argv[0], "raw"))
		return argc == 2 ? json_tokener_parse(argv[1]) : NULL;
	req = json_object_new_object();
	json_object_object_add(req, "execute", json_object_new_string(argv[0]));
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		struct json_object *v;
		char key[256];

		if (!eq || eq == argv[i]) {
			json_object_put(req);
			json_object_put(args);
			return NULL;
		}
		v = json_tokener_parse(eq + 1);
		if (!v && strcmp(eq + 1, "null"))
			v = json_object_new_string(eq + 1);
		if (!args)
			args = json_object_new_object();
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		json_object_object_add(args, key, v);
	}
	if (args)
		json_object_object_add(req, "arguments", args);
	return req;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kmig --qmp SOCK|tcp:HOST:PORT COMMAND [key=value ...]\n"
		   "       kmig --qmp SOCK raw '{\"execute\": \"query-migrate\"}'\n"
		   "       kmig migrate --src SOCK [--dst SOCK] [--bandwidth N] [--downtime MS] URI\n"
		   "       kmig dirtyrate --qmp SOCK|--pid PID [--mode M] [--calc-time S] [--svg FILE]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct kmig_qmpc *c;
	struct json_object *req, *rep, *v;
	const char *qmp = NULL;
	char err[1024];
	int opt, ret = 1;

	if (argc > 1 && !strcmp(argv[1], "migrate"))
		return kmig_cmd_migrate(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "dirtyrate"))
		return kmig_cmd_dirtyrate(argc - 1, argv + 1);
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q': qmp = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!qmp || optind >= argc) {
		usage(stderr);
		return 2;
	}
	req = build_request(argc - optind, argv + optind);
	if (!req) {
		fprintf(stderr, "kmig: bad request: want COMMAND key=value... or raw JSON-OBJECT\n");
		return 2;
	}
	c = kmig_qmpc_open(qmp, err, sizeof(err));
	rep = c ? kmig_qmpc_request(c, req, err, sizeof(err)) : NULL;
	if (!rep) {
		fprintf(stderr, "kmig: %s\n", err);
	} else if (json_object_object_get_ex(rep, "return", &v)) {
		printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		ret = 0;
	} else if (json_object_object_get_ex(rep, "error", &v)) {
		struct json_object *cls = NULL, *desc = NULL;

		json_object_object_get_ex(v, "class", &cls);
		json_object_object_get_ex(v, "desc", &desc);
		fprintf(stderr, "kmig: %s: %s\n", json_object_get_string(cls),
			json_object_get_string(desc));
	} else {
		fprintf(stderr, "kmig: unexpected reply from kmigd\n");
	}
	json_object_put(rep);
	json_object_put(req);
	kmig_qmpc_close(c);
	return ret;
}
