/* SPDX-License-Identifier: MIT */
/* UDP (RFC 768) over IPv4. */
#ifndef NIP_WIRE_UDP_H
#define NIP_WIRE_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIP_UDP_HLEN 8
#define NIP_UDP_MAX_PAYLOAD 65507u

struct nip_udp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;
	uint16_t csum;
} __attribute__((packed));

struct nip_udp {
	uint16_t sport, dport; /* host order */
	const uint8_t *payload;
	size_t payload_len;
};

/* Parses the datagram of len bytes (the IP payload) from src to dst (network order);
 * verifies the checksum unless check_csum is false or the sender sent none (0).
 * 0; -EINVAL for short, a length field that disagrees, or a bad checksum. */
int nip_udp_parse(const uint8_t *dgram, size_t len, uint32_t src, uint32_t dst, bool check_csum,
		  struct nip_udp *out);
/* Writes the 8-byte header for payload_len bytes of payload that follow it in memory; the
 * checksum covers the pseudo-header, header and payload unless csum_offload (then it holds
 * the pseudo-header sum, as devices expect). */
void nip_udp_emit(uint8_t *hdr, uint16_t sport, uint16_t dport, uint32_t src, uint32_t dst,
		  size_t payload_len, bool csum_offload);

#endif
