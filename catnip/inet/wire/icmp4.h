/* SPDX-License-Identifier: MIT */
/* ICMPv4 echo (RFC 792). */
#ifndef NIP_WIRE_ICMP4_H
#define NIP_WIRE_ICMP4_H

#include <stddef.h>
#include <stdint.h>

#define NIP_ICMP4_HLEN 8
#define NIP_ICMP4_ECHO_REPLY 0
#define NIP_ICMP4_ECHO_REQUEST 8

struct nip_icmp4_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t csum;
	uint16_t id;
	uint16_t seq;
} __attribute__((packed));

struct nip_icmp4 {
	uint8_t type, code;
	uint16_t id, seq;    /* host order */
	const uint8_t *data; /* after the 8-byte header */
	size_t data_len;
};

/* 0; -EINVAL for a short message or a wrong checksum (over the whole message). */
int nip_icmp4_parse(const uint8_t *msg, size_t len, struct nip_icmp4 *out);
/* Turns the echo request of len bytes at msg into its reply in place (type 0, checksum
 * updated incrementally, RFC 1624). */
void nip_icmp4_echo_to_reply(uint8_t *msg, size_t len);

#endif
