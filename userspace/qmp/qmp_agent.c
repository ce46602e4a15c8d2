// SPDX-License-Identifier: GPL-2.0-only
/*
 * qmp_agent.c: the agent state the QMP handlers share (agent.h): its
 * set-up, the getfd descriptors, and the engine's events turned into QMP
 * events in the order the engine queued them.
 */
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "dirtyrate.h"
#include "qapi-events.h"

void kmig_agent_init(struct kmig_agent *a, struct kmig_mig *mig, bool incoming)
{
	memset(a, 0, sizeof(*a));
	a->mig = mig;
	a->incoming = incoming;
	for (int i = 0; i < KMIG_AGENT_MAX_NAMED_FDS; i++)
		a->named_fds[i].fd = -1;
	kmig_agent_params_init(&a->params);
	if (mig)
		kmig_agent_params_push(a);
}

void kmig_agent_fini(struct kmig_agent *a)
{
	for (int i = 0; i < KMIG_AGENT_MAX_NAMED_FDS; i++)
		if (a->named_fds[i].fd >= 0)
			close(a->named_fds[i].fd);
	qapi_clear_MigrationParameters(&a->params);
	kmig_dirtyrate_free(a->dirtyrate);	/* stops a measurement at once, joins it */
	a->dirtyrate = NULL;
}

int kmig_agent_take_named_fd(struct kmig_agent *a, const char *name)
{
	for (int i = 0; i < KMIG_AGENT_MAX_NAMED_FDS; i++) {
		if (a->named_fds[i].fd >= 0 && !strcmp(a->named_fds[i].name, name)) {
			int fd = a->named_fds[i].fd;

			a->named_fds[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

void kmig_agent_emit_events(struct kmig_agent *a)
{
	struct kmig_mig_event ev;

	while (kmig_mig_next_event(a->mig, &ev)) {
		bool events = a->caps[MIGRATION_CAPABILITY_EVENTS];

		if (!a->sink)
			continue;
		switch (ev.kind) {
		case KMIG_EV_MIGRATION:
			if (events)
				qapi_event_send_migration(a->sink, kmig_agent_status_qapi(ev.status));
			break;
		case KMIG_EV_PASS:
			if (events)
				qapi_event_send_migration_pass(a->sink, ev.pass);
			break;
		case KMIG_EV_STOP:
			qapi_event_send_stop(a->sink);
			break;
		case KMIG_EV_RESUME:
			qapi_event_send_resume(a->sink);
			break;
		}
	}
}
