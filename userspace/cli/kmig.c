// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig.c: the kmig command-line client, a thin QMP client for kmigd.
 *
 *   kmig --qmp SOCK COMMAND [key=value ...]   run one QMP command
 *   kmig --qmp SOCK raw '{"execute": ...}'    send a request as written
 *
 * It negotiates, sends one request, prints the reply's "return" as
 * indented JSON, and exits 0; an error reply prints "kmig: Class: desc" on
 * stderr and exits 1.  Values in key=value are JSON when they parse as
 * JSON (numbers, true/false, null, objects) and strings otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "json_stream.h"
#include "json_write.h"

#define KMIG_CLI_TIMEOUT_MS 30000

struct conn {
	int fd;
	struct kmig_json_stream *in;
	struct json_object *got;	/* the next reply (events are skipped) */
	char err[256];
};

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "kmig: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

static int connect_qmp(const char *where)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *colon = strrchr(where, ':');
	int fd;

	if (strncmp(where, "tcp:", 4) == 0 && colon && colon > where + 4) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		char host[256];

		snprintf(host, sizeof(host), "%.*s", (int)(colon - where - 4), where + 4);
		if (getaddrinfo(host, colon + 1, &hints, &ai))
			return -EINVAL;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		return fd < 0 ? -errno : fd;
	}
	if (strlen(where) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, where);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int on_value(void *opaque, struct json_object *obj, const char *err)
{
	struct conn *c = opaque;

	if (err) {
		snprintf(c->err, sizeof(c->err), "bad reply from kmigd: %s", err);
		return 1;
	}
	if (json_object_object_get_ex(obj, "event", NULL)) {
		json_object_put(obj);
		return 0;
	}
	c->got = obj;
	return 1;	/* one reply at a time */
}

/* Reads until one non-event message arrives; NULL with c->err on failure. */
static struct json_object *next_reply(struct conn *c)
{
	char buf[65536];

	c->got = NULL;
	/* a previous read may already hold the next message */
	if (kmig_json_stream_feed(c->in, "", 0, on_value, c) && c->got)
		return c->got;
	while (!c->got && !c->err[0]) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, KMIG_CLI_TIMEOUT_MS) <= 0) {
			snprintf(c->err, sizeof(c->err), "no reply from kmigd within %d s",
				 KMIG_CLI_TIMEOUT_MS / 1000);
			break;
		}
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			snprintf(c->err, sizeof(c->err), "kmigd closed the connection");
			break;
		}
		kmig_json_stream_feed(c->in, buf, n, on_value, c);
	}
	return c->got;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= w;
	}
	return 0;
}

/* Sends @req and returns the reply; prints and returns NULL on failure. */
static struct json_object *request(struct conn *c, struct json_object *req)
{
	char *text = kmig_json_to_string(req);
	struct json_object *r;

	if (!text || send_all(c->fd, text, strlen(text)) < 0) {
		free(text);
		die("%s", "cannot send to kmigd");
		return NULL;
	}
	free(text);
	r = next_reply(c);
	if (!r)
		die("%s", c->err);
	return r;
}

static struct json_object *build_request(int argc, char **argv)
{
	struct json_object *req, *args = NULL;

	if (!strcmp(argv[0], "raw")) {
		if (argc != 2)
			return NULL;
		return json_tokener_parse(argv[1]);
	}
	req = json_object_new_object();
	json_object_object_add(req, "execute", json_object_new_string(argv[0]));
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		struct json_object *v;

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
		char key[256];

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
		   "       kmig --qmp SOCK raw '{\"execute\": \"query-migrate\"}'\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct conn c = { .fd = -1 };
	struct json_object *req = NULL, *rep = NULL, *v, *nego;
	const char *qmp = NULL;
	int opt, ret = 1;

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
	if (!req)
		return die("%s", "bad request: want COMMAND key=value... or raw JSON-OBJECT");
	c.fd = connect_qmp(qmp);
	if (c.fd < 0) {
		fprintf(stderr, "kmig: cannot connect to %s: %s\n", qmp, strerror(-c.fd));
		goto out;
	}
	c.in = kmig_json_stream_new();
	rep = c.in ? next_reply(&c) : NULL;	/* the greeting */
	if (!rep || !json_object_object_get_ex(rep, "QMP", NULL)) {
		die("%s", rep ? "not a QMP server" : c.err);
		goto out;
	}
	json_object_put(rep);
	nego = json_tokener_parse("{\"execute\": \"qmp_capabilities\"}");
	rep = request(&c, nego);
	json_object_put(nego);
	if (!rep)
		goto out;
	json_object_put(rep);
	rep = request(&c, req);
	if (!rep)
		goto out;
	if (json_object_object_get_ex(rep, "return", &v)) {
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
		die("%s", "unexpected reply from kmigd");
	}
out:
	json_object_put(req);
	json_object_put(rep);
	kmig_json_stream_free(c.in);
	if (c.fd >= 0)
		close(c.fd);
	return ret;
}
