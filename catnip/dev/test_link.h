/* SPDX-License-Identifier: MIT */
/*
 * An in-memory link joining two stacks in one process, with a virtual clock, for tests only
 * (built into a test library, never into libdemikernel). Tests drive both stacks with the same
 * virtual time; nothing here reads a real clock or does I/O.
 *
 * A frame sent on one end is delivered to the other end's receive queue (q, which tests may
 * read) at now + delay (plus jitter): the wire's latency. Delivered frames are the sent buffers
 * themselves (no copy). The faults (drop, duplicate, reorder, corrupt: one damaged byte in an
 * IPv4 packet) are those of the fault wrapper (fault_link.h), which each end's link is,
 * applied on transmit with the parameters in faults, read on every call; duplicates and
 * corrupted frames are copies (the original stays untouched). Received frames carry no
 * checksum flags (NIP_RXF_*: 0), as from a device without offloads.
 */
#ifndef NIP_TEST_LINK_H
#define NIP_TEST_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "fault_link.h"
#include "link.h"

struct nip_test_faults {
	uint32_t drop_ppm; /* per million frames */
	uint32_t dup_ppm;
	uint32_t reorder_ppm; /* after up to 3 later frames of its burst */
	uint32_t corrupt_ppm;
	uint64_t delay_ns;  /* one-way: the wire's latency */
	uint64_t jitter_ns; /* extra uniform delay in [0, jitter) */
	/* A transmit ring that fills: an end takes at most this many frames between two of its
	 * rx_burst calls (one stack poll) and refuses the rest, as a NIC whose ring is full
	 * does; 0 = no limit. Refused frames stay the sender's (link.h). */
	uint32_t tx_per_poll;
	/* A receiver with a finite set of receive buffers, as a NIC's (link.h struct
	 * nip_link_rxmem): an end delivers a frame only while fewer than this many frames it
	 * delivered are still held by its stack or application, and keeps the rest on the wire
	 * (which loses what overflows it); 0 = no limit. At most NIP_TEST_QUEUE. */
	uint32_t rx_bufs;
};

/* Per end, of the frames it sent (the fault counts are its wrapper's). */
struct nip_test_stats {
	uint64_t sent, delivered, dropped, duplicated, reordered, corrupted, full, refused;
};

#define NIP_TEST_QUEUE 4096

struct nip_test_frame {
	struct demi__buf *buf;
	uint64_t due;
};

struct nip_test_end {
	struct nip_link link; /* what the stack uses: the fault wrapper (tests may edit offloads) */
	struct nip_test_wire *wire;
	int side;
	struct nip_test_frame q[NIP_TEST_QUEUE]; /* frames on their way to this end */
	uint32_t head, count;
	uint32_t tx_taken; /* frames taken since this end's last rx_burst (tx_per_poll) */
	struct nip_test_stats stats;
	uint64_t wire_lost;	     /* no buffer to linearize a chained frame, or q full */
	struct nip_link raw;	     /* the bare wire end */
	struct nip_fault_link fault; /* around raw */
	/* With faults.rx_bufs: the delivered frames, each with a reference of the end's own
	 * until the stack and the application dropped theirs, and what the stack reads of it. */
	struct demi__buf *rx_held[NIP_TEST_QUEUE];
	uint32_t rx_nheld;
	struct nip_link_rxmem rxmem;
	uint64_t rx_stalled; /* rx_burst calls that left a due frame for want of a buffer */
};

struct nip_test_wire {
	struct nip_test_end end[2];
	struct demi__pool *pool;
	const uint64_t *now; /* the virtual clock, owned by the test */
	struct nip_test_faults faults;
	uint64_t rng;
};

/* Joins two ends; MACs 02:00:00:00:00:01 and :02, the given IP MTU. */
void nip_test_wire_init(struct nip_test_wire *w, struct demi__pool *pool, const uint64_t *now,
			uint16_t mtu, uint64_t seed);
/* Frees frames still in flight. */
void nip_test_wire_fini(struct nip_test_wire *w);
static inline struct nip_link *nip_test_link(struct nip_test_wire *w, int side)
{
	return &w->end[side].link;
}

#endif
