/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mem_chan.h: a channel back end over a buffer in memory, for tests and
 * fuzzing: reads come from the buffer (then end of stream), sends are
 * counted and dropped.  Test-only.
 */
#ifndef KMIG_MEM_CHAN_H
#define KMIG_MEM_CHAN_H

#include <stddef.h>

#include "xport.h"

/* @c reads @len bytes of @buf (not copied: it must outlive the channel) */
void kmig_mem_chan_open(struct kmig_chan *c, const void *buf, size_t len);

#endif
