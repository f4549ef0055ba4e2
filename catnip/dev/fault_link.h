/* SPDX-License-Identifier: MIT */
/*
 * Fault injection as a wrapper around any link (DPDK port, test wire, future devices): a
 * struct nip_link that forwards to an inner link and, seeded and reproducibly, drops,
 * duplicates, reorders, corrupts and delays the frames that pass, on receive and/or transmit.
 * It lets an application be tested under loss on a real port (memif, tap, a NIC). Off means
 * not wrapped: the stack then talks to the device itself and pays nothing.
 *
 * Call order: nip_fault_link_init (or nip_fault_link_from_config), give &f->link to the stack,
 * change f->rx.p / f->tx.p at any time (read on every call), nip_fault_link_fini when the stack
 * is gone (frames still held are dropped), then the inner link's own teardown.
 *
 * What happens to a frame, in this order, each fault drawn per frame from the seed:
 *   drop      the frame is freed (counted);
 *   duplicate a copy goes too, right before it;
 *   corrupt   (IPv4 frames only: the Ethernet FCS catches damage elsewhere) a copy with one
 *             byte of the IPv4 packet changed goes instead; its NIP_RXF_* flags are cleared, so
 *             the stack's checksums must catch it;
 *   reorder   the frame is held back until 1-3 later frames of its burst (one rx_burst or
 *             tx_burst call) have passed it, or to the burst's end if fewer follow: frames
 *             are never held across calls, so no frame waits for a poll that may not come;
 *   delay     the frame leaves at now + delay + a uniform jitter in [0, jitter), in order
 *             (jitter delays, it does not reorder).
 * Transmit: frames the inner link refuses stay queued, in order, and the wrapper refuses new
 * frames until they are gone, so the inner ring's back-pressure reaches the stack. Receive:
 * frames are taken from the inner link and handed out when due.
 *
 * Configuration keys of nip_fault_link_from_config (lib/config.h; the environment overrides
 * each in upper case with '_' for '.', e.g. CATNIP_FAULT_DROP_PCT=1.5):
 *   catnip.fault.drop_pct     percent of frames dropped, decimals allowed (default 0)
 *   catnip.fault.dup_pct      percent duplicated (default 0)
 *   catnip.fault.reorder_pct  percent reordered (default 0)
 *   catnip.fault.corrupt_pct  percent of IPv4 frames corrupted (default 0)
 *   catnip.fault.delay_us     one-way delay added (default 0)
 *   catnip.fault.jitter_us    extra uniform delay in [0, jitter) (default 0)
 *   catnip.fault.direction    rx, tx or both: where the faults apply (default both)
 *   catnip.fault.seed         seed of the fault draws (default 1)
 * All zero (the default) builds no wrapper.
 */
#ifndef NIP_FAULT_LINK_H
#define NIP_FAULT_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "link.h"

struct nip_fault_params {
	uint32_t drop_ppm; /* per million frames */
	uint32_t dup_ppm;
	uint32_t reorder_ppm;
	uint32_t corrupt_ppm;
	uint64_t delay_ns;
	uint64_t jitter_ns;
};

struct nip_fault_stats {
	uint64_t frames; /* entered this direction */
	uint64_t dropped, duplicated, reordered, corrupted;
	uint64_t full; /* lost: the delay queue was full, or no buffer for a copy */
};

/* Frames one direction holds at most (delayed ones: delay x frame rate must stay below). */
#define NIP_FAULT_QUEUE 4096
#define NIP_FAULT_HELD 8 /* frames held back for reordering at once */

struct nip_fault_frame {
	struct demi__buf *buf;
	uint64_t due;
};

struct nip_fault_dir {
	struct nip_fault_params p; /* the owner may change it at any time */
	struct nip_fault_stats st;
	/* Frames on their way out, oldest first, due times non-decreasing. */
	struct nip_fault_frame q[NIP_FAULT_QUEUE];
	uint32_t head, count;
	uint64_t last_due;
	struct {
		struct demi__buf *buf;
		uint32_t wait; /* later frames still to pass it */
	} held[NIP_FAULT_HELD];
	uint32_t nheld;
};

typedef uint64_t (*nip_fault_clock_fn)(void *arg);

struct nip_fault_link {
	struct nip_link link; /* what the stack uses: the inner link's MAC, MTU and offloads */
	struct nip_link *inner;
	struct demi__pool *pool; /* copies (duplicates, corrupted frames) come from it */
	nip_fault_clock_fn now;
	void *now_arg;
	uint64_t rng;
	struct nip_fault_dir rx, tx;
};

/* Wraps inner with no fault yet (set f->rx.p / f->tx.p). now (ns) times the delays. */
void nip_fault_link_init(struct nip_fault_link *f, struct nip_link *inner, struct demi__pool *pool,
			 uint64_t seed, nip_fault_clock_fn now, void *now_arg);
/* Drops every frame still delayed or held. */
void nip_fault_link_fini(struct nip_fault_link *f);

/**
 * @brief Builds a fault wrapper around inner from the catnip.fault.* keys (above).
 * @param out *out is the wrapper (use &(*out)->link), or NULL when no fault is configured
 * @return 0, -EINVAL for a bad value (logged), -ENOMEM
 */
int nip_fault_link_from_config(struct nip_fault_link **out, struct demi__config *cfg,
			       struct nip_link *inner, struct demi__pool *pool,
			       nip_fault_clock_fn now, void *now_arg);
/* nip_fault_link_fini and frees a wrapper from nip_fault_link_from_config (NULL: nothing). */
void nip_fault_link_destroy(struct nip_fault_link *f);

/* When the earliest delayed frame (either way) is due, UINT64_MAX if none: a sleeping libOS
 * wakes by then, so that delays stay what they were set to. */
uint64_t nip_fault_link_next_due(const struct nip_fault_link *f);

#endif
