/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/tcp.c (RFC 9293 3.1, RFC 7323, RFC 2018): parse between two
 * fixed addresses with and without the checksum; what is accepted must describe the input
 * (fields, header length, payload inside it, at most 4 SACK blocks); a segment accepted
 * unchecked is re-emitted with the options it carried and must then parse, checked, to the
 * same fields and options; a valid input laid out as emit lays it out must come back byte for
 * byte; offload stores the pseudo-header sum.
 */
#include <string.h>

#include "fuzz.h"

#include "inet/wire/tcp.h"

/* 192.168.1.100 -> 192.168.1.1, the addresses of the driver's seed segments. */
static const uint8_t src_b[4] = {192, 168, 1, 100}, dst_b[4] = {192, 168, 1, 1};

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int same_opts(const struct nip_tcp_opts *a, const struct nip_tcp_opts *b)
{
	if (a->has_mss != b->has_mss || a->has_wscale != b->has_wscale ||
	    a->sack_ok != b->sack_ok || a->has_ts != b->has_ts)
		return 0;
	if ((a->has_mss && a->mss != b->mss) || (a->has_wscale && a->wscale != b->wscale))
		return 0;
	if (a->has_ts && (a->tsval != b->tsval || a->tsecr != b->tsecr))
		return 0;
	/* Emit may cut SACK blocks to what fits; those it kept are the first ones. */
	if (b->nsack > a->nsack)
		return 0;
	for (int i = 0; i < b->nsack; i++)
		if (a->sack[i].start != b->sack[i].start || a->sack[i].end != b->sack[i].end)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nip_tcp_seg t, tc, again;
	enum nip_tcp_err rc, rcc;
	uint32_t src, dst;
	size_t hlen;
	uint8_t *d;

	memcpy(&src, src_b, 4);
	memcpy(&dst, dst_b, 4);
	rc = nip_tcp_parse(data, size, src, dst, false, &t);
	rcc = nip_tcp_parse(data, size, src, dst, true, &tc);
	FUZZ_CHECK(rc < NIP_TCP_NERR && rcc < NIP_TCP_NERR);
	FUZZ_CHECK(rc != NIP_TCP_BAD_CSUM);
	if (size < NIP_TCP_HLEN) {
		FUZZ_CHECK(rc == NIP_TCP_SHORT && rcc == NIP_TCP_SHORT);
		return 0;
	}
	if ((data[12] >> 4) < 5 || (size_t)(data[12] >> 4) * 4 > size)
		FUZZ_CHECK(rc == NIP_TCP_BAD_OFF && rcc == NIP_TCP_BAD_OFF);
	if (rcc == NIP_TCP_OK)
		FUZZ_CHECK(rc == NIP_TCP_OK);
	if (rc == NIP_TCP_BAD_OPT)
		FUZZ_CHECK(rcc == NIP_TCP_BAD_OPT || rcc == NIP_TCP_BAD_CSUM);
	if (rc != NIP_TCP_OK)
		return 0;

	FUZZ_CHECK(t.hlen == (data[12] >> 4) * 4 && t.hlen >= NIP_TCP_HLEN && t.hlen <= size);
	FUZZ_CHECK(t.payload == data + t.hlen && t.payload_len == size - t.hlen);
	FUZZ_CHECK(t.sport == fuzz_get_be16(data) && t.dport == fuzz_get_be16(data + 2));
	FUZZ_CHECK(t.seq == get_be32(data + 4) && t.ack == get_be32(data + 8));
	FUZZ_CHECK(t.flags == data[13] && t.win == fuzz_get_be16(data + 14));
	FUZZ_CHECK(t.urg == fuzz_get_be16(data + 18));
	FUZZ_CHECK(t.opt.nsack <= NIP_TCP_MAX_SACK);
	if (t.opt.has_mss || t.opt.has_wscale || t.opt.sack_ok || t.opt.has_ts || t.opt.nsack)
		FUZZ_CHECK(t.hlen > NIP_TCP_HLEN);
	if (size > UINT16_MAX - NIP_TCP_MAX_HLEN)
		return 0;

	/* Re-emit with the options it carried, then parse checked. */
	hlen = NIP_TCP_HLEN + nip_tcp_opts_len(&t.opt);
	FUZZ_CHECK(hlen <= NIP_TCP_MAX_HLEN && hlen % 4 == 0);
	d = malloc(hlen + t.payload_len);
	FUZZ_CHECK(d);
	memcpy(d + hlen, t.payload, t.payload_len);
	FUZZ_CHECK(nip_tcp_emit(d, &t, src, dst, t.payload_len, false) == hlen);
	FUZZ_CHECK(nip_tcp_parse(d, hlen + t.payload_len, src, dst, true, &again) == NIP_TCP_OK);
	FUZZ_CHECK(again.sport == t.sport && again.dport == t.dport);
	FUZZ_CHECK(again.seq == t.seq && again.ack == t.ack && again.flags == t.flags);
	FUZZ_CHECK(again.win == t.win && again.urg == t.urg && again.hlen == hlen);
	FUZZ_CHECK(again.payload_len == t.payload_len);
	FUZZ_CHECK(memcmp(again.payload, t.payload, t.payload_len) == 0);
	FUZZ_CHECK(same_opts(&t.opt, &again.opt));
	/* A valid input in emit's own layout comes back byte for byte, checksum included. */
	if (rcc == NIP_TCP_OK && hlen == t.hlen && memcmp(d, data, 16) == 0 &&
	    memcmp(d + 18, data + 18, hlen - 18) == 0)
		FUZZ_CHECK(memcmp(d + 16, data + 16, 2) == 0 ||
			   fuzz_get_be16(d + 16) + fuzz_get_be16(data + 16) == 0xffff);
	/* Offload: the field holds the folded pseudo-header sum for the device. */
	nip_tcp_emit(d, &t, src, dst, t.payload_len, true);
	{
		uint8_t ph[12] = {192, 168, 1, 100, 192, 168, 1, 1, 0, 6};

		fuzz_put_be16(ph + 10, (uint16_t)(hlen + t.payload_len));
		FUZZ_CHECK(fuzz_get_be16(d + 16) == fuzz_ref_sum(ph, sizeof(ph)));
	}
	free(d);
	return 0;
}
