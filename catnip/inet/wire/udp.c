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

/* payload_len must be at most NIP_UDP_MAX_PAYLOAD (the caller checks it against the MTU). */
void nip_udp_emit(uint8_t *hdr, uint16_t sport, uint16_t dport, uint32_t src, uint32_t dst,
		  size_t payload_len, bool csum_offload)
{
	uint16_t ulen = (uint16_t)(NIP_UDP_HLEN + payload_len);
	uint32_t sum = nip_csum_pseudo4(src, dst, NIP_IPPROTO_UDP, ulen);
	struct nip_udp_hdr h;

	h.sport = htons(sport);
	h.dport = htons(dport);
	h.len = htons(ulen);
	h.csum = 0;
	if (csum_offload) {
		/* The device adds header and data to the folded pseudo-header sum and complements
		 * (DPDK RTE_MBUF_F_TX_UDP_CKSUM with rte_ipv4_phdr_cksum). */
		h.csum = (uint16_t)~nip_csum_fold(sum);
		memcpy(hdr, &h, sizeof(h));
		return;
	}
	memcpy(hdr, &h, sizeof(h));
	sum = nip_csum_add(sum, hdr, ulen);
	h.csum = nip_csum_fold(sum);
	if (h.csum == 0)
		h.csum = 0xffff;
	memcpy(hdr + 6, &h.csum, 2);
}
