// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_qmp.c: libFuzzer target for kmigd's QMP input path: the bytes go to
 * a real QMP server (framing, envelope checks, the generated marshallers
 * and the parameter/capability handlers) over a socketpair, as a client
 * would send them.  The oracle: no crash, no sanitizer report, and after
 * any input QMP's resync (a control byte and a newline) plus a valid
 * command still gets an answer.  Commands that would start something (a
 * migration, an exec: URI, descriptors) are left out of the table.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "qapi-commands.h"
#include "qmp_server.h"

#define PROBE_ID "kmig-fuzz-probe-7f3a"

static const char *const allowed[] = {
	"qmp_capabilities", "query-status", "query-version", "query-commands", "query-migrate",
	"query-migrate-parameters", "query-migrate-capabilities", "migrate-set-parameters",
	"migrate-set-capabilities", "migrate_cancel", "migrate_set_speed", "migrate_set_downtime",
	"migrate-set-cache-size", "query-migrate-cache-size", "migrate-start-postcopy",
	"migrate-continue", "migrate-pause", "query-colo-status", "x-colo-lost-heartbeat",
	"client_migrate_info", "query-dirty-rate", "query-vcpu-dirty-limit", NULL,
};

static struct kmig_qmp_command table[64];
static struct kmig_loop *loop;
static struct kmig_mig *mig;

static void setup(void)
{
	size_t n = 0;

	kmig_log_max = KMIG_LOG_ERR;
	for (const struct kmig_qmp_command *c = kmig_qmp_commands; c->name; c++)
		for (size_t i = 0; allowed[i]; i++)
			if (!strcmp(c->name, allowed[i]) && n < 63)
				table[n++] = *c;
	loop = kmig_loop_new();
	mig = kmig_mig_new(NULL, NULL);
	if (!loop || !mig)
		abort();
}

/* reads what the server sent so far; true once the probe's answer is in @acc */
static bool drain(int fd, char **acc, size_t *len)
{
	char buf[65536];
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		*acc = realloc(*acc, *len + (size_t)r + 1);
		if (!*acc)
			abort();
		memcpy(*acc + *len, buf, (size_t)r);
		*len += (size_t)r;
		(*acc)[*len] = 0;
	}
	return *acc && strstr(*acc, "\"id\": \"" PROBE_ID "\"");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char probe[] = "\x01\n{\"execute\": \"query-status\", \"id\": \"" PROBE_ID "\"}\n";
	struct kmig_agent agent;
	struct kmig_qmp_server *srv;
	char *acc = NULL;
	size_t acc_len = 0, off = 0;
	int sv[2], rounds = 0;
	bool answered = false;

	if (!loop)
		setup();
	kmig_agent_init(&agent, mig, false);
	srv = kmig_qmp_server_new(loop, &agent);
	if (!srv || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		abort();
	agent.sink = kmig_qmp_server_sink(srv);
	kmig_qmp_server_set_commands(srv, table);
	if (kmig_qmp_server_add_client(srv, sv[0]))
		abort();
	/* the input, then the probe, written as the server makes room */
	while (!answered && rounds++ < 10000) {
		size_t total = size + sizeof(probe) - 1;

		while (off < total) {
			const uint8_t *p = off < size ? data + off : (const uint8_t *)probe + off - size;
			size_t n = off < size ? size - off : total - off;
			ssize_t w = send(sv[1], p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		kmig_loop_run_once(loop, 10);
		answered = drain(sv[1], &acc, &acc_len);
	}
	if (!answered) {
		fprintf(stderr, "fuzz_qmp: no answer to a valid command after this input\n");
		abort();
	}
	free(acc);
	close(sv[1]);
	kmig_qmp_server_free(srv);
	kmig_agent_fini(&agent);
	return 0;
}
