/* SPDX-License-Identifier: MIT */
/* IPv4 headers (RFC 791). */
#ifndef NIP_WIRE_IP4_H
#define NIP_WIRE_IP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIP_IP4_HLEN 20	      /* without options */
#define NIP_IP4_MAX_HLEN 60   /* IHL 15 */
#define NIP_IP4_MAX_LEN 65535 /* a datagram's total length, reassembled ones included */
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
	NIP_IP4_OPTIONS,  /* a malformed option list (RFC 1122 3.2.1.8) */
	NIP_IP4_FRAGMENT, /* a fragment while reassembly is off (stack: reass_max_datagrams 0) */
	NIP_IP4_SRCROUTE, /* a source route option (LSRR, SSRR): refused as Linux does by default */
	NIP_IP4_NERR,
};

struct nip_ip4 {
	uint32_t src, dst; /* network order */
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint16_t id;	   /* host order */
	uint8_t hlen;	   /* header bytes, options included (20-60) */
	bool more_frags;   /* MF */
	uint16_t frag_off; /* the payload's offset in its datagram, in bytes (offset field * 8) */
	const uint8_t *payload;
	size_t payload_len; /* from total length: link padding excluded */
};

/* Whether a parsed datagram is a fragment of a larger one (RFC 791 3.2). */
static inline bool nip_ip4_is_fragment(const struct nip_ip4 *ip)
{
	return ip->more_frags || ip->frag_off;
}

/* Validates and parses; check_csum false when the device verified it. Returns NIP_IP4_OK or
 * the reason for dropping. Options are validated (each one's length within the header, the
 * pointer of record route, timestamp and source routes at least its minimum) and otherwise
 * ignored; fragments parse as NIP_IP4_OK with their offset and MF flag (reassembly is the
 * stack's job, inet/ip4_reass.c). */
enum nip_ip4_err nip_ip4_parse(const uint8_t *pkt, size_t len, bool check_csum,
			       struct nip_ip4 *out);
/* Writes a 20-byte header (DF set, no options); fills the checksum unless csum_offload. */
void nip_ip4_emit(uint8_t *hdr, const struct nip_ip4 *ip, uint16_t payload_len, bool csum_offload);

/* What stays the same in every datagram of a flow (version, TOS, DF, TTL, protocol,
 * addresses), prebuilt once (nip_ip4_tmpl_init), and their running checksum sum, folded to
 * 16 bits. */
struct nip_ip4_tmpl {
	struct nip_ip4_hdr hdr; /* total length, identification and checksum zero */
	uint32_t sum;
};

/* Fills t from ip's src, dst, proto, ttl and tos. */
void nip_ip4_tmpl_init(struct nip_ip4_tmpl *t, const struct nip_ip4 *ip);

/* nip_ip4_emit of t's datagram with identification id: the same 20 bytes, with only the
 * length and identification added to the checksum. */
void nip_ip4_emit_tmpl(uint8_t *hdr, const struct nip_ip4_tmpl *t, uint16_t id,
		       uint16_t payload_len, bool csum_offload);
const char *nip_ip4_err_name(enum nip_ip4_err e);

#endif
