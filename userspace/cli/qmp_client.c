// SPDX-License-Identifier: GPL-2.0-only
/* qmp_client.c: the CLI's QMP client (see qmp_client.h). */
#include <errno.h>
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
#include "qmp_client.h"

#define TIMEOUT_MS 30000

struct kmig_qmpc {
	int fd;
	struct kmig_json_stream *in;
	struct json_object *got;
	char perr[256];
};

static int dial(const char *where)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *colon = strrchr(where, ':');
	int fd;

	if (!strncmp(where, "tcp:", 4) && colon && colon > where + 4) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		char host[256];

		snprintf(host, sizeof(host), "%.*s", (int)(colon - where - 4), where + 4);
		if (getaddrinfo(host, colon + 1, &hints, &ai))
			return -EINVAL;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			int e = -errno;

			close(fd);
			fd = e;
		}
		freeaddrinfo(ai);
		return fd;
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
	struct kmig_qmpc *c = opaque;

	if (err) {
		snprintf(c->perr, sizeof(c->perr), "bad reply from kmigd: %s", err);
		return 1;
	}
	if (json_object_object_get_ex(obj, "event", NULL)) {
		json_object_put(obj);
		return 0;
	}
	c->got = obj;
	return 1;	/* one reply at a time; the rest stays buffered */
}

static struct json_object *next_reply(struct kmig_qmpc *c, char *err, size_t n)
{
	char buf[65536];

	c->got = NULL;
	c->perr[0] = 0;
	kmig_json_stream_feed(c->in, "", 0, on_value, c);
	while (!c->got && !c->perr[0]) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			snprintf(err, n, "no reply from kmigd within %d s", TIMEOUT_MS / 1000);
			return NULL;
		}
		r = recv(c->fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			snprintf(err, n, "kmigd closed the connection");
			return NULL;
		}
		kmig_json_stream_feed(c->in, buf, r, on_value, c);
	}
	if (!c->got)
		snprintf(err, n, "%s", c->perr);
	return c->got;
}

struct json_object *kmig_qmpc_request(struct kmig_qmpc *c, struct json_object *req,
				      char *err, size_t n)
{
	char *text = kmig_json_to_string(req);
	size_t len, off = 0;

	if (!text) {
		snprintf(err, n, "out of memory");
		return NULL;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t w = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(err, n, "cannot send to kmigd: %s", strerror(errno));
			free(text);
			return NULL;
		}
		off += w;
	}
	free(text);
	return next_reply(c, err, n);
}

struct json_object *kmig_qmpc_call(struct kmig_qmpc *c, const char *cmd,
				   struct json_object *args, char *err, size_t n)
{
	struct json_object *req = json_object_new_object(), *rep, *v, *ret = NULL;

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	rep = kmig_qmpc_request(c, req, err, n);
	json_object_put(req);
	if (!rep)
		return NULL;
	if (json_object_object_get_ex(rep, "return", &v)) {
		ret = v ? json_object_get(v) : json_object_new_object();
	} else if (json_object_object_get_ex(rep, "error", &v)) {
		struct json_object *cls = NULL, *desc = NULL;

		json_object_object_get_ex(v, "class", &cls);
		json_object_object_get_ex(v, "desc", &desc);
		snprintf(err, n, "%s: %s", json_object_get_string(cls), json_object_get_string(desc));
	} else {
		snprintf(err, n, "unexpected reply from kmigd");
	}
	json_object_put(rep);
	return ret;
}

struct kmig_qmpc *kmig_qmpc_open(const char *where, char *err, size_t n)
{
	struct kmig_qmpc *c = calloc(1, sizeof(*c));
	struct json_object *greet, *r;

	if (c)
		c->fd = -1;
	if (!c || !(c->in = kmig_json_stream_new())) {
		snprintf(err, n, "out of memory");
		goto fail;
	}
	c->fd = dial(where);
	if (c->fd < 0) {
		snprintf(err, n, "cannot connect to %s: %s", where, strerror(-c->fd));
		goto fail;
	}
	greet = next_reply(c, err, n);
	if (!greet)
		goto fail;
	if (!json_object_object_get_ex(greet, "QMP", NULL)) {
		json_object_put(greet);
		snprintf(err, n, "%s is not a QMP server", where);
		goto fail;
	}
	json_object_put(greet);
	r = kmig_qmpc_call(c, "qmp_capabilities", NULL, err, n);
	if (!r)
		goto fail;
	json_object_put(r);
	return c;
fail:
	kmig_qmpc_close(c);
	return NULL;
}

void kmig_qmpc_close(struct kmig_qmpc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	kmig_json_stream_free(c->in);
	free(c);
}
