// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_stream.c: libFuzzer target for the destination's stream decoder
 * (engine/dst_recv.c): the bytes arrive on the main channel of an incoming
 * migration into a 16-page RAM block.  The first input byte chooses whether
 * they are the whole stream (header and block table included) or records
 * after a valid header, so the fuzzer reaches both, and whether compressed
 * records go to a pool of decompression threads.  The oracle: no crash
 * and no sanitizer report (nothing written outside the block); a stream
 * that is accepted must really have carried every page with the right
 * checksums, which the decoder itself checks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dst.h"
#include "log.h"
#include "mem_chan.h"

#define PAGES 16

static int wl_nop(struct kmig_workload *w)
{
	(void)w;
	return 0;
}

static const struct kmig_wl_ops wl_ops = {
	.resume = wl_nop,
	.migrated = wl_nop,
	.failed = wl_nop,
};

static struct kmig_workload wl;

static void setup(void)
{
	struct kmig_block *b = &wl.blocks[0];

	kmig_log_max = KMIG_LOG_ERR;
	kmig_block_init(b);
	strcpy(b->name, "ram0");
	b->size = PAGES * 4096;
	b->memfd = memfd_create("fuzz", MFD_CLOEXEC);
	if (b->memfd < 0 || ftruncate(b->memfd, (off_t)b->size))
		abort();
	b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
	if (b->map == MAP_FAILED)
		abort();
	wl.ops = &wl_ops;
	wl.role = KMIG_ROLE_DST;
	wl.nblocks = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct {
		struct kmig_wire_hdr h;
		struct kmig_wire_block b;
	} prefix = {
		.h = { .magic = KMIG_WIRE_MAGIC, .version = KMIG_WIRE_VERSION,
		       .page_size = KMIG_WIRE_PAGE_SIZE, .nblocks = 1, .total = PAGES * 4096,
		       .encodings = 1u << KMIG_ENC_RAW | 1u << KMIG_ENC_ZERO |
				    1u << KMIG_ENC_ZLIB | 1u << KMIG_ENC_ZSTD },
		.b = { .name = "ram0", .size = PAGES * 4096 },
	};
	struct kmig_wire_block tab[KMIG_WIRE_MAX_BLOCKS];
	struct kmig_dst *d;
	uint8_t *stream;
	size_t len;
	bool whole;

	if (!wl.nblocks)
		setup();
	if (!size)
		return 0;
	whole = data[0] & 1;
	len = (whole ? 0 : sizeof(prefix)) + size - 1;
	stream = malloc(len ? len : 1);
	d = calloc(1, sizeof(*d));
	if (!stream || !d)
		abort();
	if (!whole)
		memcpy(stream, &prefix, sizeof(prefix));
	memcpy(stream + (whole ? 0 : sizeof(prefix)), data + 1, size - 1);
	kmig_dst_init(d, NULL);
	kmig_mem_chan_open(&d->chans[0], stream, len);
	d->nchans = 1;
	d->wl = &wl;
	d->decode_threads = data[0] & 2 ? 2 : 0;	/* compressed records: a decode pool or not */
	if (!kmig_dst_read_header(d, tab) && !kmig_dst_match_blocks(d, tab))
		kmig_dst_receive(d);
	kmig_chan_close(&d->chans[0]);
	kmig_dst_fini(d);
	free(d);
	free(stream);
	return 0;
}
