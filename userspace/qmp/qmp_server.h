/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * qmp_server.h: kmigd's QMP endpoint: listeners, clients, negotiation,
 * dispatch through the generated command table, and event broadcast.
 *
 * Everything here runs on the loop thread.  Each client negotiates on its
 * own; events go to every negotiated client.
 */
#ifndef KMIG_QMP_SERVER_H
#define KMIG_QMP_SERVER_H

#include <stdbool.h>

struct kmig_loop;
struct kmig_agent;
struct kmig_qmp_server;
struct kmig_qmp_client;
struct kmig_event_sink;
struct kmig_qmp_command;

/**
 * struct kmig_qmp_ctx - what a QMP command handler gets to work with
 * @a:      the agent (parameters, capabilities, migration state)
 * @client: the client that sent the command
 */
struct kmig_qmp_ctx {
	struct kmig_agent *a;
	struct kmig_qmp_client *client;
};

struct kmig_qmp_server *kmig_qmp_server_new(struct kmig_loop *loop, struct kmig_agent *a);
/* commands are looked up in @table (the generated kmig_qmp_commands by default) */
void kmig_qmp_server_set_commands(struct kmig_qmp_server *srv,
				  const struct kmig_qmp_command *table);
/* serves @fd (a connected stream socket) as a client; 0 or -errno (fd closed) */
int kmig_qmp_server_add_client(struct kmig_qmp_server *srv, int fd);
void kmig_qmp_server_free(struct kmig_qmp_server *srv);
/* listen on a unix socket (mode 0600) or on "host:port"; 0 or -errno, logged */
int kmig_qmp_listen_unix(struct kmig_qmp_server *srv, const char *path);
int kmig_qmp_listen_tcp(struct kmig_qmp_server *srv, const char *hostport);
struct kmig_event_sink *kmig_qmp_server_sink(struct kmig_qmp_server *srv);

bool kmig_qmp_client_negotiated(const struct kmig_qmp_client *c);
/* the oldest descriptor received with this client's commands, or -1 (caller owns it) */
int kmig_qmp_client_take_fd(struct kmig_qmp_client *c);
void kmig_qmp_client_set_negotiated(struct kmig_qmp_client *c);

#endif
