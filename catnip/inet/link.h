/* SPDX-License-Identifier: MIT */
/*
 * The link interface: all the protocol stack under catnip/inet/ knows of a device. It is
 * implemented by the DPDK device (catnip/dev/dpdk_link.c), by the in-memory test link with
 * fault injection (catnip/dev/test_link.c), and by any future device. No DPDK type appears
 * here: frames are pool buffers (struct demi__buf), whose data is the Ethernet frame.
 *
 * Ownership: rx_burst hands each received buffer (one reference) to the stack, its priv set
 * to the frame's NIP_RXF_* flags; tx_burst takes
 * the caller's reference of every buffer it accepts (the device drops it once the frame is
 * sent; for a chained frame, the payload buffer's reference too) and leaves the rest with the
 * caller. alloc returns a buffer with at least
 * DEMI__BUF_HEADROOM bytes of headroom, so headers are prepended in place.
 */
#ifndef NIP_LINK_H
#define NIP_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "mem/buf.h"

#define NIP_ETH_ALEN 6

/* Offloads a device performs (nip_link.offloads). */
enum {
	NIP_OFF_IPV4_CSUM_TX = 1u << 0, /* device fills the IPv4 header checksum */
	NIP_OFF_UDP_CSUM_TX = 1u << 1,
	NIP_OFF_TCP_CSUM_TX = 1u << 2,
	NIP_OFF_TX_CHAIN = 1u << 5, /* tx_burst takes frames that end in a payload range */
};

/*
 * What the device learned of a received frame's checksums. rx_burst leaves these flags in
 * buf->priv of every frame it returns (0: nothing verified; a device without receive checksum
 * offload always gives 0). The stack reads them once, in IPv4 input, before it reuses priv:
 * it drops (and counts as a bad checksum) what the device marked bad, trusts what it marked
 * good, and verifies in software, exactly once, what the device left unmarked: the IPv4
 * header checksum, then the UDP or TCP checksum over the pseudo-header before L4 input.
 * Anything that changes a frame's bytes after the device (a fault injector corrupting it)
 * must clear them.
 */
enum {
	NIP_RXF_IP4_CSUM_GOOD = 1u << 0,
	NIP_RXF_IP4_CSUM_BAD = 1u << 1,
	NIP_RXF_L4_CSUM_GOOD = 1u << 2, /* the UDP or TCP checksum */
	NIP_RXF_L4_CSUM_BAD = 1u << 3,
};

/*
 * A frame for tx_burst may end in a range of another pool buffer, so a payload goes out with
 * no copy (links with NIP_OFF_TX_CHAIN only): frame->next names that buffer (one reference,
 * owned by the frame from then on) and frame->priv holds the range (offset from its base in
 * the high 32 bits, length in the low 32). The frame's own bytes (the headers) come first.
 * Whoever drops such a frame drops both references: nip_frame_put.
 */
static inline void nip_frame_attach(struct demi__buf *frame, struct demi__buf *pay,
				    const uint8_t *data, uint32_t len)
{
	frame->next = pay;
	frame->priv = (uint64_t)(uint32_t)(data - pay->base) << 32 | len;
}

static inline uint32_t nip_frame_ext_len(const struct demi__buf *frame)
{
	return frame->next ? (uint32_t)frame->priv : 0;
}

static inline const uint8_t *nip_frame_ext_data(const struct demi__buf *frame)
{
	return frame->next->base + (frame->priv >> 32);
}

static inline void nip_frame_put(struct demi__buf *frame)
{
	if (frame->next) {
		demi__buf_put(frame->next);
		frame->next = NULL;
		frame->priv = 0;
	}
	demi__buf_put(frame);
}

struct nip_link_ops {
	/* Up to n received frames into bufs. Returns how many (0 when none). */
	int (*rx_burst)(void *dev, struct demi__buf **bufs, int n);
	/* Queues up to n frames for sending. Returns how many it took (the rest stay the
	 * caller's: retry or drop and count). */
	int (*tx_burst)(void *dev, struct demi__buf **bufs, int n);
	/* A frame buffer of size bytes (len = size) with headroom; NULL when out of buffers. */
	struct demi__buf *(*alloc)(void *dev, size_t size);
};

/*
 * A device whose received frames live in a finite set of buffers of its own (DPDK's receive
 * mempool) says how many of them the stack may hold: once the stack and the application hold
 * them all, the device has nothing to receive into and drops every frame, the ACKs that would
 * free buffers included. The device updates held in every rx_burst (it may count late, never
 * early); the stack reads it once per poll to derive its memory pressure (stack.h).
 */
struct nip_link_rxmem {
	uint32_t bufs; /* buffers the device can lend beyond what its receive ring needs */
	uint32_t held; /* of those, held now by the stack or the application */
};

struct nip_link {
	const struct nip_link_ops *ops;
	void *dev;
	uint8_t mac[NIP_ETH_ALEN];
	uint16_t mtu; /* IP MTU: bytes after the Ethernet header */
	uint32_t offloads;
	/* NULL (or bufs 0) when received frames are ordinary pool buffers, limited only by the
	 * pool; owned by the device, so a wrapper that copies this struct shares it. */
	const struct nip_link_rxmem *rxmem;
};

#endif
