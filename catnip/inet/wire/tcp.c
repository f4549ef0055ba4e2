/* SPDX-License-Identifier: MIT */
/*
 * TCP headers (RFC 9293 section 3.1) and their options: MSS (RFC 9293 3.2), window scale and
 * timestamps (RFC 7323 2.2, 3.2), SACK-permitted and SACK (RFC 2018 2, 3).
 *
 * Parsing reads nothing it has not length-checked: the data offset must lie within the
 * segment, and every option but EOL and NOP must carry a length of at least 2 that stays
 * inside the header (RFC 9293 3.1 "Options"; RFC 9293 3.10.7.1 wants a malformed option list
 * dropped rather than guessed at). The checksum covers the IPv4 pseudo-header (RFC 9293 3.1),
 * the header and the data.
 *
 * Options are emitted four-byte aligned the way most stacks lay them out (RFC 7323 appendix
 * A): MSS; SACK-permitted and timestamps together (or each behind two NOPs); NOP + window
 * scale; two NOPs + SACK blocks, cut to the room left of the 40 option bytes.
 */
#include "tcp.h"

#include <arpa/inet.h>
#include <string.h>

#include "checksum.h"
#include "ip4.h"

#define OPT_MAX (NIP_TCP_MAX_HLEN - NIP_TCP_HLEN) /* 40 */
#define MSS_LEN 4
#define WS_LEN 3
#define SACK_OK_LEN 2
#define TS_LEN 10
#define SACK_BLOCK_LEN 8
/* NOP NOP TS(10): the option bytes of a segment with timestamps only, as one big-endian word
 * and their length. */
#define TS_ONLY_WORD                                                                               \
	((uint32_t)NIP_TCPOPT_NOP << 24 | (uint32_t)NIP_TCPOPT_NOP << 16 |                         \
	 (uint32_t)NIP_TCPOPT_TS << 8 | TS_LEN)

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return ntohs(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

/* The len option bytes at p; fills o (zeroed by the caller). A repeated option: the last wins. */
static enum nip_tcp_err parse_opts(const uint8_t *p, size_t len, struct nip_tcp_opts *o)
{
	size_t i = 0;

	while (i < len) {
		uint8_t kind = p[i], olen;

		if (kind == NIP_TCPOPT_EOL)
			break;
		if (kind == NIP_TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return NIP_TCP_BAD_OPT;
		olen = p[i + 1];
		if (olen < 2 || olen > len - i)
			return NIP_TCP_BAD_OPT;
		switch (kind) {
		case NIP_TCPOPT_MSS:
			if (olen != MSS_LEN)
				return NIP_TCP_BAD_OPT;
			o->has_mss = true;
			o->mss = get16(p + i + 2);
			break;
		case NIP_TCPOPT_WSCALE:
			if (olen != WS_LEN)
				return NIP_TCP_BAD_OPT;
			o->has_wscale = true;
			o->wscale = p[i + 2];
			break;
		case NIP_TCPOPT_SACK_OK:
			if (olen != SACK_OK_LEN)
				return NIP_TCP_BAD_OPT;
			o->sack_ok = true;
			break;
		case NIP_TCPOPT_TS:
			if (olen != TS_LEN)
				return NIP_TCP_BAD_OPT;
			o->has_ts = true;
			o->tsval = get32(p + i + 2);
			o->tsecr = get32(p + i + 6);
			break;
		case NIP_TCPOPT_SACK: {
			size_t n = (size_t)(olen - 2) / SACK_BLOCK_LEN;

			/* RFC 2018 3: length 2 + 8n, n >= 1 (and at most 4 fit a header). */
			if ((olen - 2) % SACK_BLOCK_LEN || n < 1 || n > NIP_TCP_MAX_SACK)
				return NIP_TCP_BAD_OPT;
			o->nsack = (uint8_t)n;
			for (size_t k = 0; k < n; k++) {
				const uint8_t *b = p + i + 2 + k * SACK_BLOCK_LEN;

				o->sack[k].start = get32(b);
				o->sack[k].end = get32(b + 4);
			}
			break;
		}
		default: /* unknown: skipped by its length (RFC 9293 3.1) */
			break;
		}
		i += olen;
	}
	return NIP_TCP_OK;
}

enum nip_tcp_err nip_tcp_parse(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst,
			       bool check_csum, struct nip_tcp_seg *out)
{
	size_t hlen;
	enum nip_tcp_err err;

	if (len < NIP_TCP_HLEN)
		return NIP_TCP_SHORT;
	hlen = (size_t)(seg[12] >> 4) * 4;
	if (hlen < NIP_TCP_HLEN || hlen > len)
		return NIP_TCP_BAD_OFF;
	if (check_csum) {
		uint32_t sum;

		/* An IPv4 payload cannot be longer; the pseudo-header length has 16 bits. */
		if (len > UINT16_MAX)
			return NIP_TCP_BAD_CSUM;
		sum = nip_csum_pseudo4(src, dst, NIP_IPPROTO_TCP, (uint16_t)len);
		sum = nip_csum_add(sum, seg, len);
		if (nip_csum_fold(sum) != 0)
			return NIP_TCP_BAD_CSUM;
	}
	memset(&out->opt, 0, sizeof(out->opt));
	if (hlen == NIP_TCP_HLEN + NIP_TCP_TS_ONLY_LEN &&
	    get32(seg + NIP_TCP_HLEN) == TS_ONLY_WORD) {
		/* Nearly every segment with timestamps: NOP NOP TS (RFC 7323 appendix A), read
		 * here with one compare; parse_opts reads these bytes the same way. */
		out->opt.has_ts = true;
		out->opt.tsval = get32(seg + NIP_TCP_HLEN + 4);
		out->opt.tsecr = get32(seg + NIP_TCP_HLEN + 8);
	} else if ((err = parse_opts(seg + NIP_TCP_HLEN, hlen - NIP_TCP_HLEN, &out->opt)) !=
		   NIP_TCP_OK) {
		return err;
	}
	out->sport = get16(seg);
	out->dport = get16(seg + 2);
	out->seq = get32(seg + 4);
	out->ack = get32(seg + 8);
	out->flags = seg[13];
	out->win = get16(seg + 14);
	out->urg = get16(seg + 18);
	out->hlen = (uint8_t)hlen;
	out->payload = seg + hlen;
	out->payload_len = len - hlen;
	return NIP_TCP_OK;
}

/* Bytes of the options other than SACK blocks (a multiple of 4). */
static size_t fixed_opts_len(const struct nip_tcp_opts *o)
{
	size_t n = 0;

	if (o->has_mss)
		n += 4;
	if (o->has_ts)
		n += 12; /* SACK_OK + TS, or NOP NOP TS */
	else if (o->sack_ok)
		n += 4; /* NOP NOP SACK_OK */
	if (o->has_wscale)
		n += 4; /* NOP WS */
	return n;
}

/* SACK blocks that fit after the other options: NOP NOP kind len + 8 per block. */
static size_t sack_fit(const struct nip_tcp_opts *o)
{
	size_t room, n = o->nsack;

	if (!n)
		return 0; /* most segments: no division, no second pass over the options */
	room = OPT_MAX - fixed_opts_len(o);
	if (n > NIP_TCP_MAX_SACK)
		n = NIP_TCP_MAX_SACK;
	if (room < 4 + SACK_BLOCK_LEN)
		return 0;
	if (n > (room - 4) / SACK_BLOCK_LEN)
		n = (room - 4) / SACK_BLOCK_LEN;
	return n;
}

size_t nip_tcp_opts_len(const struct nip_tcp_opts *o)
{
	size_t n = sack_fit(o);

	return fixed_opts_len(o) + (n ? 4 + n * SACK_BLOCK_LEN : 0);
}

/* NOP NOP TS at p, the layout nip_tcp_parse reads with one compare; returns its length. */
static size_t put_ts_only(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	put32(p, TS_ONLY_WORD);
	put32(p + 4, tsval);
	put32(p + 8, tsecr);
	return NIP_TCP_TS_ONLY_LEN;
}

/* Writes the options at p; returns their length (nip_tcp_opts_len(o)). */
static size_t emit_opts(uint8_t *p, const struct nip_tcp_opts *o)
{
	size_t i = 0, n;

	if (o->has_ts && !o->has_mss && !o->sack_ok && !o->has_wscale && !o->nsack) {
		/* Every segment after the handshake when only timestamps were agreed: the
		 * layout parse reads with one compare (NOP NOP TS). */
		return put_ts_only(p, o->tsval, o->tsecr);
	}
	n = sack_fit(o);
	if (o->has_mss) {
		p[i] = NIP_TCPOPT_MSS;
		p[i + 1] = MSS_LEN;
		put16(p + i + 2, o->mss);
		i += 4;
	}
	if (o->has_ts) {
		if (o->sack_ok) {
			p[i] = NIP_TCPOPT_SACK_OK;
			p[i + 1] = SACK_OK_LEN;
		} else {
			p[i] = NIP_TCPOPT_NOP;
			p[i + 1] = NIP_TCPOPT_NOP;
		}
		p[i + 2] = NIP_TCPOPT_TS;
		p[i + 3] = TS_LEN;
		put32(p + i + 4, o->tsval);
		put32(p + i + 8, o->tsecr);
		i += 12;
	} else if (o->sack_ok) {
		p[i] = NIP_TCPOPT_NOP;
		p[i + 1] = NIP_TCPOPT_NOP;
		p[i + 2] = NIP_TCPOPT_SACK_OK;
		p[i + 3] = SACK_OK_LEN;
		i += 4;
	}
	if (o->has_wscale) {
		p[i] = NIP_TCPOPT_NOP;
		p[i + 1] = NIP_TCPOPT_WSCALE;
		p[i + 2] = WS_LEN;
		p[i + 3] = o->wscale;
		i += 4;
	}
	if (n) {
		p[i] = NIP_TCPOPT_NOP;
		p[i + 1] = NIP_TCPOPT_NOP;
		p[i + 2] = NIP_TCPOPT_SACK;
		p[i + 3] = (uint8_t)(2 + n * SACK_BLOCK_LEN);
		i += 4;
		for (size_t k = 0; k < n; k++) {
			put32(p + i, o->sack[k].start);
			put32(p + i + 4, o->sack[k].end);
			i += SACK_BLOCK_LEN;
		}
	}
	return i;
}

/* The checksum field of a segment whose header (hlen bytes at hdr) is written, over the
 * pseudo-header sum: the folded sum for the device to finish, or computed here over the
 * header and the payload (which may follow the header or lie elsewhere). */
static void put_csum(uint8_t *hdr, uint32_t sum, size_t hlen, const uint8_t *payload,
		     size_t payload_len, bool csum_offload)
{
	uint16_t csum;

	if (csum_offload) {
		/* The device sums header and data over the folded pseudo-header sum and
		 * complements (DPDK RTE_MBUF_F_TX_TCP_CKSUM with rte_ipv4_phdr_cksum). */
		csum = (uint16_t)~nip_csum_fold(sum);
	} else if (payload == hdr + hlen) {
		/* TCP has no "no checksum" value: a computed zero is sent as zero. */
		csum = nip_csum_fold(nip_csum_add(sum, hdr, hlen + payload_len));
	} else {
		csum = nip_csum_fold(
			nip_csum_add(nip_csum_add(sum, hdr, hlen), payload, payload_len));
	}
	memcpy(hdr + 16, &csum, 2);
}

/* hlen + payload_len must be at most 65535 (the caller sizes segments to the MTU). */
size_t nip_tcp_emit(uint8_t *hdr, const struct nip_tcp_seg *seg, uint32_t src, uint32_t dst,
		    size_t payload_len, bool csum_offload)
{
	size_t hlen = NIP_TCP_HLEN + emit_opts(hdr + NIP_TCP_HLEN, &seg->opt);
	uint16_t tlen = (uint16_t)(hlen + payload_len);
	uint32_t sum = nip_csum_pseudo4(src, dst, NIP_IPPROTO_TCP, tlen);

	put16(hdr, seg->sport);
	put16(hdr + 2, seg->dport);
	put32(hdr + 4, seg->seq);
	put32(hdr + 8, seg->ack);
	hdr[12] = (uint8_t)(hlen / 4 << 4);
	hdr[13] = seg->flags;
	put16(hdr + 14, seg->win);
	memset(hdr + 16, 0, 2);
	put16(hdr + 18, seg->urg);
	put_csum(hdr, sum, hlen, hdr + hlen, payload_len, csum_offload);
	return hlen;
}

void nip_tcp_tmpl_init(struct nip_tcp_tmpl *t, uint16_t sport, uint16_t dport, uint32_t src,
		       uint32_t dst)
{
	put16((uint8_t *)&t->ports, sport);
	put16((uint8_t *)&t->ports + 2, dport);
	/* The length goes in per segment (nip_csum_pseudo4 adds the words as stored). */
	t->pseudo = nip_csum_pseudo4(src, dst, NIP_IPPROTO_TCP, 0);
}

size_t nip_tcp_emit_tmpl(uint8_t *hdr, const struct nip_tcp_tmpl *t,
			 const struct nip_tcp_hdr_vars *v, const uint8_t *payload,
			 size_t payload_len, bool csum_offload)
{
	size_t hlen = nip_tcp_tmpl_hlen(v->has_ts);
	uint16_t tlen = (uint16_t)(hlen + payload_len);
	uint64_t acc = (uint64_t)t->pseudo + htons(tlen);
	uint32_t sum = (uint32_t)((acc & 0xffffffffu) + (acc >> 32));

	memcpy(hdr, &t->ports, 4);
	put32(hdr + 4, v->seq);
	put32(hdr + 8, v->ack);
	put32(hdr + 12, (uint32_t)(hlen / 4) << 28 | (uint32_t)v->flags << 16 | v->win);
	memset(hdr + 16, 0, 4); /* checksum (below) and urgent pointer */
	if (v->has_ts)
		put_ts_only(hdr + NIP_TCP_HLEN, v->tsval, v->tsecr);
	put_csum(hdr, sum, hlen, payload, payload_len, csum_offload);
	return hlen;
}
