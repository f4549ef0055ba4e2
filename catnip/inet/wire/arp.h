/* SPDX-License-Identifier: MIT */
/* ARP for IPv4 over Ethernet (RFC 826). */
#ifndef NIP_WIRE_ARP_H
#define NIP_WIRE_ARP_H

#include <stddef.h>
#include <stdint.h>

#define NIP_ARP_LEN 28
#define NIP_ARP_REQUEST 1
#define NIP_ARP_REPLY 2

struct nip_arp_hdr {
	uint16_t htype; /* 1 = Ethernet */
	uint16_t ptype; /* 0x0800 */
	uint8_t hlen;	/* 6 */
	uint8_t plen;	/* 4 */
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa; /* unaligned in frames: read through the parser */
	uint8_t tha[6];
	uint32_t tpa;
} __attribute__((packed));

struct nip_arp {
	uint16_t op; /* host order */
	uint8_t sha[6];
	uint32_t spa; /* network order */
	uint8_t tha[6];
	uint32_t tpa; /* network order */
};

/* 0; -EINVAL for a short packet or one that is not Ethernet/IPv4 with 6/4-byte addresses;
 * -ENOTSUP for an operation other than request or reply. Trailing padding is allowed. */
int nip_arp_parse(const uint8_t *pkt, size_t len, struct nip_arp *out);
/* Writes NIP_ARP_LEN bytes at pkt. */
void nip_arp_emit(uint8_t *pkt, const struct nip_arp *a);

#endif
