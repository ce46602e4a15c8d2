/* SPDX-License-Identifier: GPL-2.0-only */
/* dirtyrate_cmd.h: `kmig dirtyrate`, the CLI verb that measures dirty rates. */
#ifndef KMIG_DIRTYRATE_CMD_H
#define KMIG_DIRTYRATE_CMD_H

/* argv[0] is "dirtyrate"; returns the process exit code */
int kmig_cmd_dirtyrate(int argc, char **argv);

#endif
