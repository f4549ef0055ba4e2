/* SPDX-License-Identifier: MIT */
/*
 * IPv4 headers (RFC 791 section 3.1), validated as RFC 1122 section 3.2.1 asks: version,
 * header length, total length and header checksum. Options are accepted and ignored (RFC 1122
 * 3.2.1.8: this stack implements none) once their list is found well formed; a source route
 * is refused, as Linux does unless accept_source_route is set (RFC 7126 4.3, 4.4). Fragments
 * parse with their offset and MF flag for the stack's reassembly (inet/ip4_reass.c).
 */
#include "ip4.h"

#include <arpa/inet.h>
#include <string.h>

#include "checksum.h"

#define IP4_DF 0x4000
#define IP4_MF 0x2000
#define IP4_OFFMASK 0x1fff

/* Option types (RFC 791 3.1) whose layout is checked: they carry a pointer. */
#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_RR 7
#define OPT_TS 68
#define OPT_LSRR 131
#define OPT_SSRR 137

_Static_assert(sizeof(struct nip_ip4_hdr) == NIP_IP4_HLEN, "IPv4 header layout");

/*
 * Walks the option list (the header bytes past 20): every option but EOL and NOP is type,
 * length (counting both, at least 2, within the list), data. Record route, the source routes
 * and the timestamp carry a pointer (from the option's start, 1-based) that RFC 791 puts at
 * 4 or more (5 for the timestamp), so their length is at least 3 (4): Linux answers anything
 * else with a parameter problem and drops it; so do we, without the ICMP (a SHOULD).
 */
static enum nip_ip4_err options_check(const uint8_t *o, size_t len)
{
	bool srr = false;

	for (size_t i = 0; i < len;) {
		uint8_t type = o[i], olen, min_ptr;

		if (type == OPT_EOL)
			break; /* what follows is padding */
		if (type == OPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return NIP_IP4_OPTIONS;
		olen = o[i + 1];
		if (olen < 2 || olen > len - i)
			return NIP_IP4_OPTIONS;
		switch (type) {
		case OPT_RR:
		case OPT_LSRR:
		case OPT_SSRR:
			min_ptr = 4;
			break;
		case OPT_TS:
			min_ptr = 5;
			break;
		default:
			min_ptr = 0; /* unknown: ignored (RFC 1122 3.2.1.8) */
			break;
		}
		if (min_ptr && (olen < min_ptr - 1 || o[i + 2] < min_ptr))
			return NIP_IP4_OPTIONS;
		srr |= type == OPT_LSRR || type == OPT_SSRR;
		i += olen;
	}
	return srr ? NIP_IP4_SRCROUTE : NIP_IP4_OK;
}

enum nip_ip4_err nip_ip4_parse(const uint8_t *pkt, size_t len, bool check_csum, struct nip_ip4 *out)
{
	struct nip_ip4_hdr h;
	enum nip_ip4_err err;
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
	if (check_csum && nip_csum_fold(hlen == NIP_IP4_HLEN ? nip_csum_add20(pkt)
							     : nip_csum_add(0, pkt, hlen)) != 0)
		return NIP_IP4_CSUM;
	if (hlen > NIP_IP4_HLEN &&
	    (err = options_check(pkt + NIP_IP4_HLEN, hlen - NIP_IP4_HLEN)) != NIP_IP4_OK)
		return err;
	frag = ntohs(h.frag);
	out->src = h.src;
	out->dst = h.dst;
	out->proto = h.proto;
	out->ttl = h.ttl;
	out->tos = h.tos;
	out->id = ntohs(h.id);
	out->hlen = (uint8_t)hlen;
	out->more_frags = frag & IP4_MF;
	out->frag_off = (uint16_t)((frag & IP4_OFFMASK) * 8);
	out->payload = pkt + hlen;
	out->payload_len = total - hlen;
	return NIP_IP4_OK;
}

/* The fields every datagram of ip carries; length, id and checksum zero. */
static void fixed_fields(struct nip_ip4_hdr *h, const struct nip_ip4 *ip)
{
	memset(h, 0, sizeof(*h)); /* a zero checksum is what checksum offload expects too */
	h->ver_ihl = 4 << 4 | NIP_IP4_HLEN / 4;
	h->tos = ip->tos;
	h->frag = htons(IP4_DF);
	h->ttl = ip->ttl;
	h->proto = ip->proto;
	h->src = ip->src;
	h->dst = ip->dst;
}

/* payload_len must be at most 65515 so that the total length fits in 16 bits. */
void nip_ip4_emit(uint8_t *hdr, const struct nip_ip4 *ip, uint16_t payload_len, bool csum_offload)
{
	struct nip_ip4_hdr h;

	fixed_fields(&h, ip);
	h.total_len = htons((uint16_t)(NIP_IP4_HLEN + payload_len));
	h.id = htons(ip->id);
	if (!csum_offload)
		h.csum = nip_csum_fold(nip_csum_add20(&h));
	memcpy(hdr, &h, sizeof(h));
}

void nip_ip4_tmpl_init(struct nip_ip4_tmpl *t, const struct nip_ip4 *ip)
{
	uint32_t sum;

	fixed_fields(&t->hdr, ip);
	sum = nip_csum_add20(&t->hdr);
	sum = (sum & 0xffffu) + (sum >> 16);
	t->sum = (sum & 0xffffu) + (sum >> 16); /* room for the two words added per datagram */
}

void nip_ip4_emit_tmpl(uint8_t *hdr, const struct nip_ip4_tmpl *t, uint16_t id,
		       uint16_t payload_len, bool csum_offload)
{
	struct nip_ip4_hdr h = t->hdr;

	h.total_len = htons((uint16_t)(NIP_IP4_HLEN + payload_len));
	h.id = htons(id);
	/* The words are added as stored, as nip_csum_add20 sums them (RFC 1071 2 (B)). */
	if (!csum_offload)
		h.csum = nip_csum_fold(t->sum + h.total_len + h.id);
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
		[NIP_IP4_SRCROUTE] = "source route",
	};

	if ((unsigned)e >= NIP_IP4_NERR)
		return "unknown";
	return names[e];
}
