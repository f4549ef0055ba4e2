/* SPDX-License-Identifier: MIT */
/* IPv4 headers (RFC 791). */
#ifndef NIP_WIRE_IP4_H
#define NIP_WIRE_IP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIP_IP4_HLEN 20 /* without options */
#define NIP_IPPROTO_ICMP 1
#define NIP_IPPROTO_TCP 6
#define NIP_IPPROTO_UDP 17

struct nip_ip4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t total_len;
	uint16_t id;
	uint16_t frag; /* flags (3 bits) and fragment offset (13 bits) */
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t src;
	uint32_t dst;
} __attribute__((packed));

/* Why a packet was refused (the stack counts drops by these). */
enum nip_ip4_err {
	NIP_IP4_OK = 0,
	NIP_IP4_SHORT,	  /* shorter than 20 bytes or than its header length */
	NIP_IP4_VERSION,  /* not version 4 */
	NIP_IP4_HLEN_BAD, /* IHL < 5 */
	NIP_IP4_LEN_BAD,  /* total length < header length or > the bytes received */
	NIP_IP4_CSUM,	  /* header checksum wrong */
	NIP_IP4_OPTIONS,  /* has options (IHL > 5): not supported, dropped */
	NIP_IP4_FRAGMENT, /* MF set or offset != 0: not supported, dropped */
	NIP_IP4_NERR,
};

struct nip_ip4 {
	uint32_t src, dst; /* network order */
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint16_t id; /* host order */
	const uint8_t *payload;
	size_t payload_len; /* from total length: link padding excluded */
};

/* Validates and parses; check_csum false when the device verified it. Returns NIP_IP4_OK or
 * the reason for dropping. */
enum nip_ip4_err nip_ip4_parse(const uint8_t *pkt, size_t len, bool check_csum,
			       struct nip_ip4 *out);
/* Writes a 20-byte header (DF set, no options); fills the checksum unless csum_offload. */
void nip_ip4_emit(uint8_t *hdr, const struct nip_ip4 *ip, uint16_t payload_len, bool csum_offload);
const char *nip_ip4_err_name(enum nip_ip4_err e);

#endif
