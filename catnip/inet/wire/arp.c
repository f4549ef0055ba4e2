/* SPDX-License-Identifier: MIT */
/*
 * ARP packets (RFC 826), restricted to what this stack speaks: Ethernet hardware addresses
 * (hrd 1, 6 bytes) and IPv4 protocol addresses (pro 0x0800, 4 bytes). Replies and requests
 * only (RFC 826 "Packet format"); RARP and others are refused.
 */
#include "arp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "eth.h"

#define ARP_HTYPE_ETHER 1

_Static_assert(sizeof(struct nip_arp_hdr) == NIP_ARP_LEN, "ARP header layout");

int nip_arp_parse(const uint8_t *pkt, size_t len, struct nip_arp *out)
{
	struct nip_arp_hdr h;
	uint16_t op;

	if (len < NIP_ARP_LEN)
		return -EINVAL;
	memcpy(&h, pkt, sizeof(h));
	if (ntohs(h.htype) != ARP_HTYPE_ETHER || ntohs(h.ptype) != NIP_ETHERTYPE_IPV4 ||
	    h.hlen != 6 || h.plen != 4)
		return -EINVAL;
	op = ntohs(h.op);
	if (op != NIP_ARP_REQUEST && op != NIP_ARP_REPLY)
		return -ENOTSUP;
	out->op = op;
	memcpy(out->sha, h.sha, 6);
	out->spa = h.spa;
	memcpy(out->tha, h.tha, 6);
	out->tpa = h.tpa;
	return 0;
}

void nip_arp_emit(uint8_t *pkt, const struct nip_arp *a)
{
	struct nip_arp_hdr h;

	h.htype = htons(ARP_HTYPE_ETHER);
	h.ptype = htons(NIP_ETHERTYPE_IPV4);
	h.hlen = 6;
	h.plen = 4;
	h.op = htons(a->op);
	memcpy(h.sha, a->sha, 6);
	h.spa = a->spa;
	memcpy(h.tha, a->tha, 6);
	h.tpa = a->tpa;
	memcpy(pkt, &h, sizeof(h));
}
