// SPDX-License-Identifier: GPL-2.0-only
/* mem_chan.c: the in-memory channel of mem_chan.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem_chan.h"

struct mem {
	const unsigned char *buf;
	size_t len, pos;
};

static long mem_send(struct kmig_chan *c, const struct kmig_tx *tx, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		c->bytes_out += (tx[i].hdr ? sizeof(*tx[i].hdr) : 0) + tx[i].len;
	return (long)n;
}

static int mem_read(struct kmig_chan *c, void *buf, size_t n)
{
	struct mem *m = c->priv;

	if (n > m->len - m->pos) {
		m->pos = m->len;
		return -ECONNRESET;
	}
	memcpy(buf, m->buf + m->pos, n);
	m->pos += n;
	c->bytes_in += n;
	return 0;
}

static void mem_abort(struct kmig_chan *c)
{
	struct mem *m = c->priv;

	m->pos = m->len;
}

static int mem_close(struct kmig_chan *c)
{
	free(c->priv);
	c->priv = NULL;
	return 0;
}

static const struct kmig_chan_ops mem_ops = {
	.scheme = "mem",
	.send = mem_send,
	.read = mem_read,
	.abort = mem_abort,
	.close = mem_close,
};

void kmig_mem_chan_open(struct kmig_chan *c, const void *buf, size_t len)
{
	struct mem *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->buf = buf;
	m->len = len;
	memset(c, 0, sizeof(*c));
	c->ops = &mem_ops;
	c->priv = m;
}
