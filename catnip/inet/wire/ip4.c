/* SPDX-License-Identifier: MIT */
/*
 * IPv4 headers (RFC 791 section 3.1), validated as RFC 1122 section 3.2.1 asks: version,
 * header length, total length and header checksum. Options and fragments are not supported
 * by this stack and are refused with their own reason so they can be counted.
 */
#include "ip4.h"

#include <arpa/inet.h>
#include <string.h>

#include "checksum.h"

#define IP4_DF 0x4000
#define IP4_MF 0x2000
#define IP4_OFFMASK 0x1fff

_Static_assert(sizeof(struct nip_ip4_hdr) == NIP_IP4_HLEN, "IPv4 header layout");

enum nip_ip4_err nip_ip4_parse(const uint8_t *pkt, size_t len, bool check_csum, struct nip_ip4 *out)
{
	struct nip_ip4_hdr h;
	size_t hlen, total;
	uint16_t frag;

	if (len < NIP_IP4_HLEN)
		return NIP_IP4_SHORT;
	memcpy(&h, pkt, sizeof(h));
	if (h.ver_ihl >> 4 != 4)
		return NIP_IP4_VERSION;
	hlen = (size_t)(h.ver_ihl & 0x0f) * 4;
	if (hlen < NIP_IP4_HLEN)
		return NIP_IP4_HLEN_BAD;
	if (hlen > len)
		return NIP_IP4_SHORT;
	total = ntohs(h.total_len);
	/* Bytes past the total length are link padding (RFC 894 minimum frame) and ignored. */
	if (total < hlen || total > len)
		return NIP_IP4_LEN_BAD;
	/* A correct header, its checksum included, sums to all ones (RFC 791, RFC 1071). */
	if (check_csum && nip_csum_fold(nip_csum_add(0, pkt, hlen)) != 0)
		return NIP_IP4_CSUM;
	if (hlen > NIP_IP4_HLEN)
		return NIP_IP4_OPTIONS;
	frag = ntohs(h.frag);
	if (frag & (IP4_MF | IP4_OFFMASK))
		return NIP_IP4_FRAGMENT;
	out->src = h.src;
	out->dst = h.dst;
	out->proto = h.proto;
	out->ttl = h.ttl;
	out->tos = h.tos;
	out->id = ntohs(h.id);
	out->payload = pkt + hlen;
	out->payload_len = total - hlen;
	return NIP_IP4_OK;
}

/* payload_len must be at most 65515 so that the total length fits in 16 bits. */
void nip_ip4_emit(uint8_t *hdr, const struct nip_ip4 *ip, uint16_t payload_len, bool csum_offload)
{
	struct nip_ip4_hdr h;

	h.ver_ihl = 4 << 4 | NIP_IP4_HLEN / 4;
	h.tos = ip->tos;
	h.total_len = htons((uint16_t)(NIP_IP4_HLEN + payload_len));
	h.id = htons(ip->id);
	h.frag = htons(IP4_DF);
	h.ttl = ip->ttl;
	h.proto = ip->proto;
	h.csum = 0; /* what checksum offload expects too */
	h.src = ip->src;
	h.dst = ip->dst;
	if (!csum_offload)
		h.csum = nip_csum_fold(nip_csum_add(0, &h, sizeof(h)));
	memcpy(hdr, &h, sizeof(h));
}

const char *nip_ip4_err_name(enum nip_ip4_err e)
{
	static const char *const names[NIP_IP4_NERR] = {
		[NIP_IP4_OK] = "ok",
		[NIP_IP4_SHORT] = "short",
		[NIP_IP4_VERSION] = "version",
		[NIP_IP4_HLEN_BAD] = "header length",
		[NIP_IP4_LEN_BAD] = "total length",
		[NIP_IP4_CSUM] = "checksum",
		[NIP_IP4_OPTIONS] = "options",
		[NIP_IP4_FRAGMENT] = "fragment",
	};

	if ((unsigned)e >= NIP_IP4_NERR)
		return "unknown";
	return names[e];
}
