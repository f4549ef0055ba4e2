/* SPDX-License-Identifier: MIT */
/*
 * The link interface: all the protocol stack under catnip/inet/ knows of a device. It is
 * implemented by the DPDK device (catnip/dev/dpdk_link.c), by the in-memory test link with
 * fault injection (catnip/dev/test_link.c), and by any future device. No DPDK type appears
 * here: frames are pool buffers (struct demi__buf), whose data is the Ethernet frame.
 *
 * Ownership: rx_burst hands each received buffer (one reference) to the stack; tx_burst takes
 * the caller's reference of every buffer it accepts (the device drops it once the frame is
 * sent) and leaves the rest with the caller. alloc returns a buffer with at least
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
	NIP_OFF_IPV4_CSUM_RX = 1u << 3, /* device checked the IPv4 checksum (NIP_RXF_*) */
	NIP_OFF_L4_CSUM_RX = 1u << 4,
};

struct nip_link_ops {
	/* Up to n received frames into bufs. Returns how many (0 when none). */
	int (*rx_burst)(void *dev, struct demi__buf **bufs, int n);
	/* Queues up to n frames for sending. Returns how many it took (the rest stay the
	 * caller's: retry or drop and count). */
	int (*tx_burst)(void *dev, struct demi__buf **bufs, int n);
	/* A frame buffer of size bytes (len = size) with headroom; NULL when out of buffers. */
	struct demi__buf *(*alloc)(void *dev, size_t size);
};

struct nip_link {
	const struct nip_link_ops *ops;
	void *dev;
	uint8_t mac[NIP_ETH_ALEN];
	uint16_t mtu; /* IP MTU: bytes after the Ethernet header */
	uint32_t offloads;
};

#endif
