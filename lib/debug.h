/* SPDX-License-Identifier: MIT */
/*
 * Counters of live objects of the calling thread's libOS, for tests that check nothing leaks.
 * Internal (not exported by the shared library); tests link the static archive.
 */
#ifndef DEMI__DEBUG_H
#define DEMI__DEBUG_H

#include <stdint.h>

struct demi__debug_counts {
	uint64_t bufs_in_use;  /* pool buffers with a reference (app-owned or held by the libOS) */
	uint64_t bufs_cached;  /* of those, held by the libOS as device receive buffers */
	uint64_t tasks_in_use; /* operations issued and not yet waited for */
	uint64_t queues_open;  /* queue descriptors open */
	uint64_t pool_bytes;   /* memory the pool has reserved */
};

/* Fills *out for the calling thread's libOS. Returns 0, or -EPERM before demi_init. */
int demi__debug_counts(struct demi__debug_counts *out);

#endif
