/* SPDX-License-Identifier: MIT */
/* The provided-buffer ring of the io_uring engine. See uring_bufring.h. */
#include "uring_bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int nap_bufring_init(struct nap_bufring *r, struct io_uring *ring, struct demi__pool *pool,
		     uint32_t entries, uint32_t buf_bytes)
{
	struct io_uring_buf_reg reg;
	uint32_t n = 1;
	int rc;

	memset(r, 0, sizeof(*r));
	while (n < entries && n < 32768)
		n <<= 1;
	r->ring = ring;
	r->pool = pool;
	r->entries = n;
	r->buf_bytes = buf_bytes;
	r->br_bytes = n * sizeof(struct io_uring_buf);
	r->bufs = calloc(n, sizeof(*r->bufs));
	r->free_bids = malloc(n * sizeof(*r->free_bids));
	if (!r->bufs || !r->free_bids) {
		rc = -ENOMEM;
		goto fail;
	}
	/* liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves. */
	r->br = mmap(NULL, r->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (r->br == MAP_FAILED) {
		r->br = NULL;
		rc = -errno;
		goto fail;
	}
	io_uring_buf_ring_init(r->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)r->br;
	reg.ring_entries = n;
	reg.bgid = NAP_BUFRING_GROUP;
	if ((rc = io_uring_register_buf_ring(ring, &reg, 0)) < 0)
		goto fail;
	r->registered = true;
	for (uint32_t i = n; i-- > 0;)
		r->free_bids[r->nfree++] = (uint16_t)i;
	nap_bufring_refill(r);
	return 0;
fail:
	nap_bufring_fini(r);
	return rc;
}

void nap_bufring_fini(struct nap_bufring *r)
{
	/* The ring is gone or unregistered first, so the kernel picks no buffer while we free. */
	if (r->registered)
		io_uring_unregister_buf_ring(r->ring, NAP_BUFRING_GROUP);
	for (uint32_t i = 0; r->bufs && i < r->entries; i++)
		if (r->bufs[i])
			demi__buf_put(r->bufs[i]);
	if (r->br)
		munmap(r->br, r->br_bytes);
	free(r->bufs);
	free(r->free_bids);
	memset(r, 0, sizeof(*r));
}

uint32_t nap_bufring_refill(struct nap_bufring *r)
{
	uint32_t added = 0, mask = (uint32_t)io_uring_buf_ring_mask(r->entries);

	while (r->nfree > 0) {
		uint16_t bid = r->free_bids[r->nfree - 1];
		struct demi__buf *b = demi__pool_get(r->pool, r->buf_bytes);

		if (!b)
			break;
		r->nfree--;
		r->bufs[bid] = b;
		io_uring_buf_ring_add(r->br, demi__buf_data(b), r->buf_bytes, bid, (int)mask,
				      (int)added);
		added++;
	}
	if (added) {
		/* Publishes the new entries to the kernel (a release store of the tail). */
		io_uring_buf_ring_advance(r->br, (int)added);
		r->provided += added;
		r->refills += added;
	}
	return added;
}

struct demi__buf *nap_bufring_take(struct nap_bufring *r, uint16_t bid)
{
	struct demi__buf *b;

	if (bid >= r->entries || !(b = r->bufs[bid]))
		return NULL;
	r->bufs[bid] = NULL;
	r->free_bids[r->nfree++] = bid;
	r->provided--;
	return b;
}
