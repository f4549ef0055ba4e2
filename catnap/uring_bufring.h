/* SPDX-License-Identifier: MIT */
/*
 * A provided-buffer ring for io_uring multishot receives, filled from the shared buffer pool.
 *
 * Accounting: slot bid holds bufs[bid] while the kernel may pick it; the kernel's CQE names
 * the bid it used, take() hands that buffer over (the slot becomes free) and refill() puts a
 * fresh pool buffer in every free slot. A buffer is therefore provided at most once at a time,
 * and every buffer is either in a slot, with the application, or back in the pool.
 */
#ifndef NAP_URING_BUFRING_H
#define NAP_URING_BUFRING_H

#include <liburing.h>
#include <stdint.h>

#include "mem/buf.h"

#define NAP_BUFRING_GROUP 0

struct nap_bufring {
	struct io_uring *ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	struct demi__pool *pool;
	struct demi__buf **bufs; /* by bid; NULL = free slot */
	uint16_t *free_bids;	 /* stack of free slots */
	uint32_t nfree;
	uint32_t entries; /* power of two */
	uint32_t buf_bytes;
	uint32_t provided; /* slots holding a buffer */
	uint64_t refills;  /* buffers provided in all */
	bool registered;
};

/* entries is rounded up to a power of two (at most 32768). 0 or -errno. */
int nap_bufring_init(struct nap_bufring *r, struct io_uring *ring, struct demi__pool *pool,
		     uint32_t entries, uint32_t buf_bytes);
void nap_bufring_fini(struct nap_bufring *r);
/* Provides a pool buffer in every free slot (as many as the pool gives). Returns how many. */
uint32_t nap_bufring_refill(struct nap_bufring *r);
/* The buffer the kernel filled from slot bid, now the caller's (one reference); NULL for a
 * bid that holds nothing (a corrupt CQE: never trusted blindly). */
struct demi__buf *nap_bufring_take(struct nap_bufring *r, uint16_t bid);

#endif
