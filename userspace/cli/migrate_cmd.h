/* SPDX-License-Identifier: GPL-2.0-only */
/* migrate_cmd.h: `kmig migrate`, the CLI verb that drives both agents. */
#ifndef KMIG_MIGRATE_CMD_H
#define KMIG_MIGRATE_CMD_H

/* argv[0] is "migrate"; returns the process exit code */
int kmig_cmd_migrate(int argc, char **argv);

#endif
