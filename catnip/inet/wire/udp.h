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

/* What stays the same in every datagram of a flow, prebuilt once (nip_udp_tmpl_init): the
 * ports as stored in the header, and the checksum's running sum of the pseudo-header's
 * addresses and protocol (as struct nip_tcp_tmpl does for TCP). */
struct nip_udp_tmpl {
	uint32_t ports;
	uint32_t pseudo;
};

/* Fills t for datagrams from sport to dport (host order), src to dst (network order). */
void nip_udp_tmpl_init(struct nip_udp_tmpl *t, uint16_t sport, uint16_t dport, uint32_t src,
		       uint32_t dst);
/* nip_udp_emit of a datagram of t's flow: the same 8 bytes, with only the length added to the
 * prebuilt sums before the payload (which follows the header) is summed. */
void nip_udp_emit_tmpl(uint8_t *hdr, const struct nip_udp_tmpl *t, size_t payload_len,
		       bool csum_offload);

#endif
