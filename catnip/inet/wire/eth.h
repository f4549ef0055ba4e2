/* SPDX-License-Identifier: MIT */
/* Ethernet II framing (IEEE 802.3 with EtherType). */
#ifndef NIP_WIRE_ETH_H
#define NIP_WIRE_ETH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIP_ETH_HLEN 14
#define NIP_ETHERTYPE_IPV4 0x0800
#define NIP_ETHERTYPE_ARP 0x0806

struct nip_eth_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type; /* big endian */
} __attribute__((packed));

/* A parsed frame: addresses, type (host order) and where the payload starts. */
struct nip_eth {
	const uint8_t *dst;
	const uint8_t *src;
	uint16_t type;
	const uint8_t *payload;
	size_t payload_len;
};

/* 0, or -EINVAL for a frame shorter than the header. */
int nip_eth_parse(const uint8_t *frame, size_t len, struct nip_eth *out);
/* Writes the 14-byte header at hdr. */
void nip_eth_emit(uint8_t *hdr, const uint8_t dst[6], const uint8_t src[6], uint16_t type);
bool nip_eth_is_broadcast(const uint8_t mac[6]);
bool nip_eth_is_multicast(const uint8_t mac[6]); /* group bit, broadcast included */
extern const uint8_t nip_eth_broadcast[6];

#endif
