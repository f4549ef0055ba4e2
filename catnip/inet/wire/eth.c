/* SPDX-License-Identifier: MIT */
/*
 * Ethernet II framing (IEEE 802.3 clause 3.2.6 with EtherType; IPv4 over Ethernet per RFC 894).
 * The frame check sequence is the device's; frames arrive without it.
 */
#include "eth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

const uint8_t nip_eth_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

int nip_eth_parse(const uint8_t *frame, size_t len, struct nip_eth *out)
{
	struct nip_eth_hdr h;

	if (len < NIP_ETH_HLEN)
		return -EINVAL;
	memcpy(&h, frame, sizeof(h));
	out->dst = frame;
	out->src = frame + 6;
	out->type = ntohs(h.type);
	out->payload = frame + NIP_ETH_HLEN;
	out->payload_len = len - NIP_ETH_HLEN;
	return 0;
}

void nip_eth_emit(uint8_t *hdr, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	struct nip_eth_hdr h;

	memcpy(h.dst, dst, 6);
	memcpy(h.src, src, 6);
	h.type = htons(type);
	memcpy(hdr, &h, sizeof(h));
}

bool nip_eth_is_broadcast(const uint8_t mac[6])
{
	return memcmp(mac, nip_eth_broadcast, 6) == 0;
}

/* The I/G bit, the least significant bit of the first octet (IEEE 802 section 8.2). */
bool nip_eth_is_multicast(const uint8_t mac[6])
{
	return mac[0] & 1;
}
