// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_server.c: QMP sockets and request dispatch (see qmp_server.h).
 *
 * Framing is json_stream's job, argument checking the generated
 * marshallers'; this file owns the envelope: the greeting, the checks on
 * "execute"/"arguments"/"id", negotiation state, the reply layout QEMU uses
 * (id after "return", before "error"), CRLF line ends, and back-pressure.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "json_stream.h"
#include "json_write.h"
#include "log.h"
#include "loop.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "qmp_server.h"

#define KMIG_QMP_MAX_OUT (64u << 20)	/* a client that reads nothing is dropped */
#define KMIG_QMP_MAX_LISTEN 4
#define KMIG_QMP_MAX_FDS 8		/* descriptors a client may have in flight */

struct kmig_event_sink {
	struct kmig_qmp_server *srv;
};

/*
 * A client is only ever freed outside its own handler: anything that finds
 * it broken (a failed write, an event to a peer that hung up) marks it
 * @dead, and on_client() or the event broadcast closes it once @busy is
 * clear, so a command that triggers an event can still reply safely.
 */
struct kmig_qmp_client {
	int fd;
	bool negotiated;
	bool dead;
	bool busy;		/* its input is being dispatched right now */
	struct kmig_json_stream *in;
	struct kmig_buf out;
	size_t out_off;
	int fds[KMIG_QMP_MAX_FDS];	/* received with SCM_RIGHTS, for getfd */
	int nfds;
	struct kmig_qmp_server *srv;
	struct kmig_qmp_client *next;
};

struct kmig_qmp_server {
	struct kmig_loop *loop;
	struct kmig_agent *a;
	const struct kmig_qmp_command *commands;
	struct kmig_event_sink sink;
	int lfd[KMIG_QMP_MAX_LISTEN];
	char *unix_path[KMIG_QMP_MAX_LISTEN];
	int nlisten;
	struct kmig_qmp_client *clients;
};

static const char greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 10, \"major\": 2}, "
	"\"package\": \"kmig " KMIG_VERSION "\"}, \"capabilities\": []}}";

bool kmig_qmp_client_negotiated(const struct kmig_qmp_client *c)
{
	return c->negotiated;
}

void kmig_qmp_client_set_negotiated(struct kmig_qmp_client *c)
{
	c->negotiated = true;
}

int kmig_qmp_client_take_fd(struct kmig_qmp_client *c)
{
	int fd;

	if (!c || !c->nfds)
		return -1;
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, --c->nfds * sizeof(c->fds[0]));
	return fd;
}

struct kmig_event_sink *kmig_qmp_server_sink(struct kmig_qmp_server *srv)
{
	return &srv->sink;
}

static void client_close(struct kmig_qmp_client *c)
{
	struct kmig_qmp_client **pp;

	for (pp = &c->srv->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	kmig_loop_del(c->srv->loop, c->fd);
	close(c->fd);
	while (c->nfds)
		close(c->fds[--c->nfds]);
	kmig_json_stream_free(c->in);
	kmig_buf_free(&c->out);
	free(c);
}

/* Writes what it can; the rest waits for EPOLLOUT. */
static void client_flush(struct kmig_qmp_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				kmig_loop_mod(c->srv->loop, c->fd, KMIG_EV_READ | KMIG_EV_WRITE);
				return;
			}
			c->dead = true;
			return;
		}
		c->out_off += n;
	}
	c->out.len = c->out_off = 0;
	kmig_loop_mod(c->srv->loop, c->fd, KMIG_EV_READ);
}

static void client_send_text(struct kmig_qmp_client *c, const char *text, size_t n)
{
	if (c->dead)
		return;
	kmig_buf_add(&c->out, text, n);
	kmig_buf_add(&c->out, "\r\n", 2);
	if (c->out.oom || c->out.len - c->out_off > KMIG_QMP_MAX_OUT) {
		kmig_log(KMIG_LOG_WARN, "qmp", "dropping client fd=%d: output backlog", c->fd);
		c->dead = true;
		return;
	}
	client_flush(c);
}

static void client_send(struct kmig_qmp_client *c, struct json_object *msg)
{
	struct kmig_buf b = { 0 };

	kmig_json_write(&b, msg);
	if (b.oom)
		c->dead = true;
	else
		client_send_text(c, b.p, b.len);
	kmig_buf_free(&b);
}

static void reply_error(struct kmig_qmp_client *c, struct json_object *id, bool has_id,
			const struct kmig_err *err)
{
	struct json_object *r = json_object_new_object();
	struct json_object *e = json_object_new_object();

	if (has_id)
		json_object_object_add(r, "id", json_object_get(id));
	json_object_object_add(e, "class", json_object_new_string(kmig_err_class_name(err->cls)));
	json_object_object_add(e, "desc", json_object_new_string(err->desc));
	json_object_object_add(r, "error", e);
	client_send(c, r);
	json_object_put(r);
}

static const struct kmig_qmp_command *find_command(const struct kmig_qmp_server *srv,
						       const char *name)
{
	for (const struct kmig_qmp_command *cmd = srv->commands; cmd->name; cmd++)
		if (!strcmp(cmd->name, name))
			return cmd;
	return NULL;
}

/* QEMU's checks on the request envelope, in its order and words */
static const char *check_envelope(struct json_object *req, struct kmig_err *err)
{
	const char *exec = NULL;

	json_object_object_foreach(req, key, val) {
		if (!strcmp(key, "execute")) {
			if (!json_object_is_type(val, json_type_string)) {
				kmig_err_generic(err, "QMP input member 'execute' must be a string");
				return NULL;
			}
			exec = json_object_get_string(val);
		} else if (!strcmp(key, "arguments")) {
			if (!json_object_is_type(val, json_type_object)) {
				kmig_err_generic(err, "QMP input member 'arguments' must be an object");
				return NULL;
			}
		} else if (strcmp(key, "id")) {
			/* includes "exec-oob": kmig offers no out-of-band capability */
			kmig_err_generic(err, "QMP input member '%s' is unexpected", key);
			return NULL;
		}
	}
	if (!exec)
		kmig_err_generic(err, "QMP input lacks member 'execute'");
	return exec;
}

static void dispatch(struct kmig_qmp_client *c, struct json_object *req)
{
	struct kmig_err err = { 0 };
	struct json_object *id = NULL, *args = NULL, *ret = NULL;
	struct kmig_qmp_ctx ctx = { .a = c->srv->a, .client = c };
	const struct kmig_qmp_command *cmd;
	const char *name;
	bool has_id = false;

	if (!json_object_is_type(req, json_type_object)) {
		kmig_err_generic(&err, "QMP input must be a JSON object");
		reply_error(c, NULL, false, &err);
		return;
	}
	has_id = json_object_object_get_ex(req, "id", &id);
	name = check_envelope(req, &err);
	if (!name) {
		reply_error(c, id, has_id, &err);
		return;
	}
	cmd = find_command(c->srv, name);
	if (!c->negotiated && (!cmd || strcmp(name, "qmp_capabilities"))) {
		kmig_err_set(&err, KMIG_ERR_COMMAND_NOT_FOUND,
			     "Expecting capabilities negotiation with 'qmp_capabilities'");
	} else if (!cmd) {
		kmig_err_set(&err, KMIG_ERR_COMMAND_NOT_FOUND, "The command %s has not been found",
			     name);
	} else {
		json_object_object_get_ex(req, "arguments", &args);
		if (cmd->fn(&ctx, args, &ret, &err) < 0 && !err.set)
			kmig_err_generic(&err, "%s failed", name);
	}
	if (err.set) {
		json_object_put(ret);
		reply_error(c, id, has_id, &err);
		return;
	}
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "return", ret);
	if (has_id)
		json_object_object_add(r, "id", json_object_get(id));
	client_send(c, r);
	json_object_put(r);
}

static int on_value(void *opaque, struct json_object *obj, const char *parse_err)
{
	struct kmig_qmp_client *c = opaque;

	if (parse_err) {
		struct kmig_err err = { 0 };

		kmig_err_generic(&err, "%s", parse_err);
		reply_error(c, NULL, false, &err);
	} else {
		dispatch(c, obj);
		json_object_put(obj);
	}
	return c->dead;
}

/* recv() that also keeps descriptors passed with SCM_RIGHTS (for getfd) */
static ssize_t recv_fds(struct kmig_qmp_client *c, char *buf, size_t len)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(KMIG_QMP_MAX_FDS * sizeof(int))];
	} cbuf;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b) };
	ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		int *fds = (int *)CMSG_DATA(cm);
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < k; i++) {
			if (c->nfds < KMIG_QMP_MAX_FDS)
				c->fds[c->nfds++] = fds[i];
			else
				close(fds[i]);	/* more than anyone asked for */
		}
	}
	return n;
}

static void on_client(struct kmig_loop *l, int fd, unsigned int ev, void *opaque)
{
	struct kmig_qmp_client *c = opaque;
	char buf[65536];

	(void)l;
	if (ev & KMIG_EV_WRITE)
		client_flush(c);
	if ((ev & KMIG_EV_READ) && !c->dead) {
		ssize_t n = recv_fds(c, buf, sizeof(buf));

		c->busy = true;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			c->dead = true;
		else if (n > 0 && kmig_json_stream_feed(c->in, buf, n, on_value, c) < 0)
			c->dead = true;
		c->busy = false;
	}
	if (c->dead)
		client_close(c);
}

int kmig_qmp_server_add_client(struct kmig_qmp_server *srv, int fd)
{
	struct kmig_qmp_client *c = calloc(1, sizeof(*c));

	if (c)
		c->in = kmig_json_stream_new();
	if (!c || !c->in || kmig_loop_add(srv->loop, fd, KMIG_EV_READ, on_client, c) < 0) {
		kmig_log(KMIG_LOG_WARN, "qmp", "cannot accept client: out of resources");
		if (c)
			kmig_json_stream_free(c->in);
		free(c);
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->srv = srv;
	c->next = srv->clients;
	srv->clients = c;
	client_send_text(c, greeting, strlen(greeting));
	if (c->dead)
		client_close(c);
	return 0;
}

void kmig_qmp_server_set_commands(struct kmig_qmp_server *srv,
				  const struct kmig_qmp_command *table)
{
	srv->commands = table;
}

static void on_accept(struct kmig_loop *l, int lfd, unsigned int ev, void *opaque)
{
	int fd;

	(void)ev;
	(void)l;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0)
		kmig_qmp_server_add_client(opaque, fd);
}

struct kmig_qmp_server *kmig_qmp_server_new(struct kmig_loop *loop, struct kmig_agent *a)
{
	struct kmig_qmp_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->a = a;
	srv->commands = kmig_qmp_commands;
	srv->sink.srv = srv;
	return srv;
}

void kmig_qmp_server_free(struct kmig_qmp_server *srv)
{
	if (!srv)
		return;
	while (srv->clients)
		client_close(srv->clients);
	for (int i = 0; i < srv->nlisten; i++) {
		kmig_loop_del(srv->loop, srv->lfd[i]);
		close(srv->lfd[i]);
		if (srv->unix_path[i])
			unlink(srv->unix_path[i]);
		free(srv->unix_path[i]);
	}
	free(srv);
}

static int add_listener(struct kmig_qmp_server *srv, int fd, const char *path)
{
	int ret;

	if (srv->nlisten == KMIG_QMP_MAX_LISTEN) {
		close(fd);
		return -ENOSPC;
	}
	ret = kmig_loop_add(srv->loop, fd, KMIG_EV_READ, on_accept, srv);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	srv->lfd[srv->nlisten] = fd;
	srv->unix_path[srv->nlisten] = path ? strdup(path) : NULL;
	srv->nlisten++;
	return 0;
}

int kmig_qmp_listen_unix(struct kmig_qmp_server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		kmig_log(KMIG_LOG_ERR, "qmp", "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);	/* a stale socket from a previous run */
	old = umask(0177);	/* born 0600: no window where others could connect */
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		kmig_log(KMIG_LOG_ERR, "qmp", "cannot listen on %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	return add_listener(srv, fd, path);
}

int kmig_qmp_listen_tcp(struct kmig_qmp_server *srv, const char *hostport)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	char host[256];
	const char *colon = strrchr(hostport, ':');
	int fd = -1, one = 1, ret;

	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host) || !colon[1]) {
		kmig_log(KMIG_LOG_ERR, "qmp", "bad TCP address '%s' (want host:port)", hostport);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	ret = getaddrinfo(host, colon + 1, &hints, &ai);
	if (ret) {
		kmig_log(KMIG_LOG_ERR, "qmp", "cannot resolve '%s': %s", hostport, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		kmig_log(KMIG_LOG_ERR, "qmp", "cannot listen on %s: %s", hostport, strerror(-ret));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return ret;
	}
	freeaddrinfo(ai);
	return add_listener(srv, fd, NULL);
}

void kmig_qmp_event_emit(struct kmig_event_sink *sink, const char *name, struct json_object *data)
{
	struct json_object *ev = json_object_new_object();
	struct json_object *ts = json_object_new_object();
	struct timeval tv;

	gettimeofday(&tv, NULL);
	json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
	json_object_object_add(ev, "timestamp", ts);
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", data);
	for (struct kmig_qmp_client *c = sink->srv->clients, *next; c; c = next) {
		next = c->next;
		if (c->negotiated)
			client_send(c, ev);
		if (c->dead && !c->busy)
			client_close(c);	/* a busy one is closed by its own handler */
	}
	json_object_put(ev);
}
