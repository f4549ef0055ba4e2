/* SPDX-License-Identifier: MIT */
/*
 * UDP headers (RFC 768) over IPv4: the length field must match the IP payload, the checksum
 * covers the pseudo-header, header and data, an all-zero checksum means "none" and a computed
 * zero is sent as all ones (RFC 768 "Fields"; RFC 1122 section 4.1.3.4).
 */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "ip4.h"

_Static_assert(sizeof(struct nip_udp_hdr) == NIP_UDP_HLEN, "UDP header layout");

int nip_udp_parse(const uint8_t *dgram, size_t len, uint32_t src, uint32_t dst, bool check_csum,
		  struct nip_udp *out)
{
	struct nip_udp_hdr h;
	uint32_t sum;

	if (len < NIP_UDP_HLEN)
		return -EINVAL;
	memcpy(&h, dgram, sizeof(h));
	/* The IP total length already excludes link padding: any other length is corrupt (and
	 * this bounds len to 16 bits). */
	if (ntohs(h.len) != len)
		return -EINVAL;
	if (check_csum && h.csum != 0) {
		sum = nip_csum_pseudo4(src, dst, NIP_IPPROTO_UDP, (uint16_t)len);
		sum = nip_csum_add(sum, dgram, len);
		if (nip_csum_fold(sum) != 0)
			return -EINVAL;
	}
	out->sport = ntohs(h.sport);
	out->dport = ntohs(h.dport);
	out->payload = dgram + NIP_UDP_HLEN;
	out->payload_len = len - NIP_UDP_HLEN;
	return 0;
}

/* One datagram's template, used once: the layout and the sums stay in one place. */
void nip_udp_emit(uint8_t *hdr, uint16_t sport, uint16_t dport, uint32_t src, uint32_t dst,
		  size_t payload_len, bool csum_offload)
{
	struct nip_udp_tmpl t;

	nip_udp_tmpl_init(&t, sport, dport, src, dst);
	nip_udp_emit_tmpl(hdr, &t, payload_len, csum_offload);
}

void nip_udp_tmpl_init(struct nip_udp_tmpl *t, uint16_t sport, uint16_t dport, uint32_t src,
		       uint32_t dst)
{
	struct nip_udp_hdr h = {.sport = htons(sport), .dport = htons(dport)};

	memcpy(&t->ports, &h, 4);
	/* The length goes in per datagram (nip_csum_pseudo4 adds the words as stored). */
	t->pseudo = nip_csum_pseudo4(src, dst, NIP_IPPROTO_UDP, 0);
}

/* payload_len must be at most NIP_UDP_MAX_PAYLOAD (the caller checks it against the MTU). */
void nip_udp_emit_tmpl(uint8_t *hdr, const struct nip_udp_tmpl *t, size_t payload_len,
		       bool csum_offload)
{
	uint16_t len = htons((uint16_t)(NIP_UDP_HLEN + payload_len));
	uint64_t acc = (uint64_t)t->pseudo + len;
	uint16_t csum;
	uint32_t sum;

	memcpy(hdr, &t->ports, 4);
	memcpy(hdr + 4, &len, 2);
	if (csum_offload) {
		/* The pseudo-header sum alone, as nip_udp_emit leaves it for the device. */
		sum = (uint32_t)((acc & 0xffffffffu) + (acc >> 32));
		csum = (uint16_t)~nip_csum_fold(sum);
	} else {
		/* The header's words (ports, length, a zero checksum) and then the payload. */
		acc += (uint64_t)t->ports + len;
		acc = (acc & 0xffffffffu) + (acc >> 32);
		sum = nip_csum_add((uint32_t)((acc & 0xffffffffu) + (acc >> 32)),
				   hdr + NIP_UDP_HLEN, payload_len);
		csum = nip_csum_fold(sum);
		if (csum == 0)
			csum = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	}
	memcpy(hdr + 6, &csum, 2);
}
