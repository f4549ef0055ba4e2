/* SPDX-License-Identifier: MIT */
/*
 * Out-of-order reassembly of one connection's received data (RFC 9293 3.10.7.4: segments
 * beyond rcv_nxt are kept for later), and the SACK blocks that describe it (RFC 2018 4).
 *
 * Segments are kept as the frame buffers they arrived in (buf data trimmed to the payload:
 * off/len), sorted by sequence number, never overlapping: an arrival is trimmed against its
 * neighbours, held segments it covers entirely are freed, and an arrival with nothing new is
 * freed. Each held buffer's sequence number is in the low 32 bits of buf->priv; buffers are
 * linked through buf->next. Memory is bounded: the sum of the held buffers' cap may not exceed
 * the caller's limit (an arrival that would pass it is refused), so a peer cannot make the
 * queue grow without bound.
 *
 * SACK blocks report the held ranges (adjacent segments merge into one block), the block
 * holding the most recently received segment first, then the others most recent first
 * (RFC 2018 section 4). No I/O, no clock.
 */
#ifndef NIP_TCP_REASS_H
#define NIP_TCP_REASS_H

#include <stdint.h>

#include "mem/buf.h"
#include "wire/tcp.h"

struct nip_tcp_reass {
	struct demi__buf *head; /* lowest sequence first */
	uint32_t nsegs;
	uint64_t mem;	/* sum of held buffers' cap */
	uint32_t bytes; /* payload bytes held */
	/* Sequence numbers of recently received segments, most recent first, to order the
	 * SACK blocks (a block is reported first if it contains recent[0], and so on). */
	uint32_t recent[NIP_TCP_MAX_SACK];
	uint8_t nrecent;
};

void nip_tcp_reass_init(struct nip_tcp_reass *r);
/* Frees every held buffer. */
void nip_tcp_reass_clear(struct nip_tcp_reass *r);
/*
 * Holds the payload of b (data = payload, len bytes) starting at sequence seq, which must be
 * after rcv_nxt (the caller delivers in-order data itself). Consumes b's reference in every
 * case. Returns the number of new bytes now held (0 when all were duplicates), or -ENOBUFS
 * when holding b would pass mem_max (b is freed, nothing changes).
 */
int nip_tcp_reass_insert(struct nip_tcp_reass *r, struct demi__buf *b, uint32_t seq,
			 uint32_t rcv_nxt, uint64_t mem_max);
/*
 * Takes out the held segment that contains rcv_nxt, trimmed to start at rcv_nxt (held data
 * before rcv_nxt is discarded first); NULL when rcv_nxt is not held. The caller owns the
 * returned reference; its data are the in-order bytes from rcv_nxt on.
 */
struct demi__buf *nip_tcp_reass_pop(struct nip_tcp_reass *r, uint32_t rcv_nxt);
/* Writes up to max SACK blocks (order above). Returns how many. */
int nip_tcp_reass_sack(const struct nip_tcp_reass *r, struct nip_tcp_sack_block *out, int max);

#endif
