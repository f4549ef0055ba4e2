/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/ip4.c, IPv4 headers (RFC 791 section 3.1, checked as RFC 1122
 * section 3.2.1 asks): a header written by hand, emit/parse round trips, every reason for a
 * drop (enum nip_ip4_err), every truncation, padding after the total length, checksum offload,
 * options (accepted unless malformed or a source route) and fragment fields; a flow's header
 * template against the general writer.
 */
#include <string.h>

#include "wire_test.h"

#include "inet/wire/ip4.h"

/* The IPv4 header of a ping from 192.168.1.100 to 192.168.1.1 (ICMP, 64 bytes of payload). */
static const uint8_t ping_hdr[NIP_IP4_HLEN] = {
	0x45,			/* version 4, IHL 5 */
	0x00,			/* TOS */
	0x00, 0x54,		/* total length 84 */
	0xbe, 0xef,		/* identification */
	0x40, 0x00,		/* DF, offset 0 */
	0x40,			/* TTL 64 */
	0x01,			/* ICMP */
	0xf8, 0x03,		/* header checksum */
	0xc0, 0xa8, 0x01, 0x64, /* 192.168.1.100 */
	0xc0, 0xa8, 0x01, 0x01, /* 192.168.1.1 */
};
#define PING_LEN 84

/* The whole packet (header and 64 bytes of payload) in an exactly sized heap buffer. */
static uint8_t *ping_packet(size_t len)
{
	uint8_t full[PING_LEN + 64];

	for (size_t i = 0; i < sizeof(full); i++)
		full[i] = (uint8_t)(0x30 + i);
	memcpy(full, ping_hdr, sizeof(ping_hdr));
	return exact_copy(full, len);
}

/* Recomputes the checksum of a 20-byte header (or longer, with options) after an edit. */
static void fix_csum(uint8_t *hdr, size_t hlen)
{
	put_be16(hdr + 10, 0);
	put_be16(hdr + 10, ref_csum(hdr, hlen));
}

static void test_ip4_known_header_checksum(void **state)
{
	uint8_t h[NIP_IP4_HLEN];

	(void)state;
	memcpy(h, ping_hdr, sizeof(h));
	assert_int_equal(ref_sum(h, sizeof(h)), 0xffff);
	fix_csum(h, sizeof(h));
	assert_int_equal(get_be16(h + 10), 0xf803);
}

static void test_ip4_parse_known_packet(void **state)
{
	uint8_t *p = ping_packet(PING_LEN);
	struct nip_ip4 ip;

	(void)state;
	assert_int_equal(nip_ip4_parse(p, PING_LEN, true, &ip), NIP_IP4_OK);
	assert_int_equal(ip.src, ip4_addr(192, 168, 1, 100));
	assert_int_equal(ip.dst, ip4_addr(192, 168, 1, 1));
	assert_int_equal(ip.proto, NIP_IPPROTO_ICMP);
	assert_int_equal(ip.ttl, 64);
	assert_int_equal(ip.tos, 0);
	assert_int_equal(ip.id, 0xbeef);
	assert_ptr_equal(ip.payload, p + NIP_IP4_HLEN);
	assert_int_equal(ip.payload_len, PING_LEN - NIP_IP4_HLEN);
	free(p);
}

static void test_ip4_emit_writes_known_header(void **state)
{
	struct nip_ip4 ip = {.src = ip4_addr(192, 168, 1, 100),
			     .dst = ip4_addr(192, 168, 1, 1),
			     .proto = NIP_IPPROTO_ICMP,
			     .ttl = 64,
			     .id = 0xbeef};
	uint8_t buf[NIP_IP4_HLEN + 1];

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	nip_ip4_emit(buf, &ip, PING_LEN - NIP_IP4_HLEN, false);
	assert_memory_equal(buf, ping_hdr, NIP_IP4_HLEN);
	assert_int_equal(buf[NIP_IP4_HLEN], 0xa5);
}

static void test_ip4_emit_parse_round_trip(void **state)
{
	struct unit_rng r;
	uint8_t buf[NIP_IP4_HLEN + 1500 + 1];

	(void)state;
	unit_rng_seed(&r, 791);
	for (int i = 0; i < 500; i++) {
		struct nip_ip4 in = {.src = (uint32_t)unit_rng_next(&r),
				     .dst = (uint32_t)unit_rng_next(&r),
				     .proto = (uint8_t)unit_rng_next(&r),
				     .ttl = (uint8_t)unit_rng_next(&r),
				     .tos = (uint8_t)unit_rng_next(&r),
				     .id = (uint16_t)unit_rng_next(&r)};
		uint16_t plen = (uint16_t)unit_rng_below(&r, 1501);
		struct nip_ip4 out;

		nip_ip4_emit(buf, &in, plen, false);
		assert_int_equal(buf[0], 0x45);
		assert_int_equal(get_be16(buf + 2), NIP_IP4_HLEN + plen);
		assert_int_equal(get_be16(buf + 6), 0x4000); /* DF */
		assert_int_equal(ref_sum(buf, NIP_IP4_HLEN), 0xffff);
		assert_int_equal(nip_ip4_parse(buf, NIP_IP4_HLEN + plen, true, &out), NIP_IP4_OK);
		assert_int_equal(out.src, in.src);
		assert_int_equal(out.dst, in.dst);
		assert_int_equal(out.proto, in.proto);
		assert_int_equal(out.ttl, in.ttl);
		assert_int_equal(out.tos, in.tos);
		assert_int_equal(out.id, in.id);
		assert_ptr_equal(out.payload, buf + NIP_IP4_HLEN);
		assert_int_equal(out.payload_len, plen);
	}
}

/* A flow's template writes the bytes nip_ip4_emit writes (random fields, lengths up to the
 * largest, with and without offload), including the checksums whose sums carry most. */
static void test_ip4_emit_tmpl_matches_emit(void **state)
{
	struct unit_rng r;
	uint8_t want[NIP_IP4_HLEN], got[NIP_IP4_HLEN];

	(void)state;
	unit_rng_seed(&r, 1624);
	for (int i = 0; i < 4000; i++) {
		bool ones = i < 8; /* all-ones fields: the largest sums */
		struct nip_ip4 in = {
			.src = ones ? 0xffffffffu : (uint32_t)unit_rng_next(&r),
			.dst = ones ? 0xffffffffu : (uint32_t)unit_rng_next(&r),
			.proto = (uint8_t)(ones ? 0xff : unit_rng_next(&r)),
			.ttl = (uint8_t)(ones ? 0xff : unit_rng_next(&r)),
			.tos = (uint8_t)(ones ? 0xff : unit_rng_next(&r)),
			.id = (uint16_t)(ones ? (uint64_t)(0xffff - i) : unit_rng_next(&r))};
		uint16_t plen =
			(uint16_t)(ones ? (uint64_t)(65515 - i) : unit_rng_below(&r, 65516));
		bool offload = i & 1;
		struct nip_ip4_tmpl t;

		nip_ip4_emit(want, &in, plen, offload);
		nip_ip4_tmpl_init(&t, &in);
		memset(got, 0xa5, sizeof(got));
		nip_ip4_emit_tmpl(got, &t, in.id, plen, offload);
		assert_memory_equal(got, want, sizeof(want));
	}
}

/* With offload the checksum is left zero for the device: it parses only unchecked. */
static void test_ip4_emit_offload_leaves_checksum_zero(void **state)
{
	struct nip_ip4 in = {.src = ip4_addr(10, 0, 0, 1),
			     .dst = ip4_addr(10, 0, 0, 2),
			     .proto = NIP_IPPROTO_UDP,
			     .ttl = 1};
	uint8_t buf[NIP_IP4_HLEN];
	struct nip_ip4 out;

	(void)state;
	nip_ip4_emit(buf, &in, 0, true);
	assert_int_equal(get_be16(buf + 10), 0);
	assert_int_equal(nip_ip4_parse(buf, sizeof(buf), false, &out), NIP_IP4_OK);
	assert_int_equal(nip_ip4_parse(buf, sizeof(buf), true, &out), NIP_IP4_CSUM);
	fix_csum(buf, sizeof(buf));
	assert_int_equal(nip_ip4_parse(buf, sizeof(buf), true, &out), NIP_IP4_OK);
}

/* Under 20 bytes: SHORT; from 20 on, the total length (84) exceeds the bytes: LEN_BAD. */
static void test_ip4_parse_refuses_every_truncation(void **state)
{
	(void)state;
	for (size_t n = 0; n < PING_LEN; n++) {
		uint8_t *p = ping_packet(n);
		struct nip_ip4 ip;
		enum nip_ip4_err want = n < NIP_IP4_HLEN ? NIP_IP4_SHORT : NIP_IP4_LEN_BAD;

		assert_int_equal(nip_ip4_parse(p, n, true, &ip), want);
		assert_int_equal(nip_ip4_parse(p, n, false, &ip), want);
		free(p);
	}
}

/* Ethernet pads short frames (RFC 894): bytes after the total length are not payload. */
static void test_ip4_parse_ignores_padding(void **state)
{
	uint8_t *p = ping_packet(PING_LEN + 64);
	struct nip_ip4 ip;

	(void)state;
	assert_int_equal(nip_ip4_parse(p, PING_LEN + 64, true, &ip), NIP_IP4_OK);
	assert_int_equal(ip.payload_len, PING_LEN - NIP_IP4_HLEN);
	/* A 28-byte datagram in a 46-byte minimum Ethernet payload. */
	put_be16(p + 2, 28);
	fix_csum(p, NIP_IP4_HLEN);
	assert_int_equal(nip_ip4_parse(p, 46, true, &ip), NIP_IP4_OK);
	assert_int_equal(ip.payload_len, 8);
	free(p);
}

static enum nip_ip4_err parse_edited(size_t off, uint8_t val, bool refix, size_t len)
{
	uint8_t *p = ping_packet(len);
	struct nip_ip4 ip;
	enum nip_ip4_err e;

	p[off] = val;
	if (refix)
		fix_csum(p, NIP_IP4_HLEN);
	e = nip_ip4_parse(p, len, true, &ip);
	free(p);
	return e;
}

static void test_ip4_parse_err_version(void **state)
{
	(void)state;
	assert_int_equal(parse_edited(0, 0x65, true, PING_LEN), NIP_IP4_VERSION);
	assert_int_equal(parse_edited(0, 0x05, true, PING_LEN), NIP_IP4_VERSION);
	assert_int_equal(parse_edited(0, 0xf5, false, PING_LEN), NIP_IP4_VERSION);
}

static void test_ip4_parse_err_hlen_bad(void **state)
{
	(void)state;
	for (uint8_t ihl = 0; ihl < 5; ihl++)
		assert_int_equal(parse_edited(0, 0x40 | ihl, true, PING_LEN), NIP_IP4_HLEN_BAD);
}

/* IHL says more bytes than there are: SHORT, whatever the total length. */
static void test_ip4_parse_err_short_header(void **state)
{
	uint8_t *p = ping_packet(NIP_IP4_HLEN);
	struct nip_ip4 ip;

	(void)state;
	p[0] = 0x46;
	assert_int_equal(nip_ip4_parse(p, NIP_IP4_HLEN, true, &ip), NIP_IP4_SHORT);
	free(p);
	p = ping_packet(40);
	p[0] = 0x4f; /* 60 bytes of header */
	assert_int_equal(nip_ip4_parse(p, 40, false, &ip), NIP_IP4_SHORT);
	free(p);
}

static void test_ip4_parse_err_len_bad(void **state)
{
	uint8_t *p = ping_packet(PING_LEN);
	struct nip_ip4 ip;

	(void)state;
	/* Larger than the bytes received. */
	put_be16(p + 2, PING_LEN + 1);
	fix_csum(p, NIP_IP4_HLEN);
	assert_int_equal(nip_ip4_parse(p, PING_LEN, true, &ip), NIP_IP4_LEN_BAD);
	put_be16(p + 2, 0xffff);
	fix_csum(p, NIP_IP4_HLEN);
	assert_int_equal(nip_ip4_parse(p, PING_LEN, true, &ip), NIP_IP4_LEN_BAD);
	/* Smaller than the header. */
	for (uint16_t t = 0; t < NIP_IP4_HLEN; t++) {
		put_be16(p + 2, t);
		fix_csum(p, NIP_IP4_HLEN);
		assert_int_equal(nip_ip4_parse(p, PING_LEN, true, &ip), NIP_IP4_LEN_BAD);
	}
	/* Exactly the header: an empty payload is fine. */
	put_be16(p + 2, NIP_IP4_HLEN);
	fix_csum(p, NIP_IP4_HLEN);
	assert_int_equal(nip_ip4_parse(p, PING_LEN, true, &ip), NIP_IP4_OK);
	assert_int_equal(ip.payload_len, 0);
	free(p);
}

/* Any single-bit error in the header is caught; unchecked (device verified) it passes. */
static void test_ip4_parse_err_csum(void **state)
{
	(void)state;
	for (size_t bit = 0; bit < NIP_IP4_HLEN * 8; bit++) {
		uint8_t *p = ping_packet(PING_LEN);
		struct nip_ip4 ip;
		enum nip_ip4_err e;

		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		e = nip_ip4_parse(p, PING_LEN, true, &ip);
		/* Flips in version, IHL or length are refused earlier, for their own reason. */
		if (bit / 8 == 0 || bit / 8 == 2 || bit / 8 == 3)
			assert_int_not_equal(e, NIP_IP4_OK);
		else
			assert_int_equal(e, NIP_IP4_CSUM);
		if (e == NIP_IP4_CSUM && bit / 8 != 0 && bit / 8 != 6 && bit / 8 != 7)
			assert_int_equal(nip_ip4_parse(p, PING_LEN, false, &ip), NIP_IP4_OK);
		free(p);
	}
}

/* An options area of n bytes (IHL 5 + n / 4) holding o, the payload after it. */
static uint8_t *with_options(const uint8_t *o, size_t n)
{
	uint8_t *p = ping_packet(PING_LEN + n);

	memmove(p + 20 + n, p + 20, PING_LEN - 20);
	memcpy(p + 20, o, n);
	p[0] = (uint8_t)(0x40 | (20 + n) / 4);
	put_be16(p + 2, (uint16_t)(PING_LEN + n));
	fix_csum(p, 20 + n);
	return p;
}

/* RFC 1122 3.2.1.8: options are accepted, unknown ones ignored; the payload starts after
 * them. */
static void test_ip4_parse_accepts_options(void **state)
{
	static const uint8_t nops[] = {1, 1, 1, 0};
	/* record route (pointer 4, room for 2 addresses) then an unknown option, padding */
	static const uint8_t rr[] = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0x99, 4, 0xaa, 0xbb, 0};
	static const uint8_t ts[] = {68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	const struct {
		const uint8_t *o;
		size_t n;
	} ok[] = {{nops, sizeof(nops)}, {rr, sizeof(rr)}, {ts, sizeof(ts)}};
	struct nip_ip4 ip;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint8_t *p = with_options(ok[i].o, ok[i].n);

		assert_int_equal(nip_ip4_parse(p, PING_LEN + ok[i].n, true, &ip), NIP_IP4_OK);
		assert_int_equal(ip.hlen, 20 + ok[i].n);
		assert_ptr_equal(ip.payload, p + 20 + ok[i].n);
		assert_int_equal(ip.payload_len, PING_LEN - 20);
		assert_false(nip_ip4_is_fragment(&ip));
		/* The checksum covers the options. */
		p[21] ^= 0x10;
		assert_int_equal(nip_ip4_parse(p, PING_LEN + ok[i].n, true, &ip), NIP_IP4_CSUM);
		free(p);
	}
}

/* A malformed option list is refused (NIP_IP4_OPTIONS), a source route too (SRCROUTE). */
static void test_ip4_parse_err_options(void **state)
{
	static const uint8_t bad[][4] = {
		{0x44, 0x00, 0x05, 0x00}, /* timestamp of length 0 */
		{0x99, 0x01, 0x00, 0x00}, /* unknown option of length 1 */
		{0x01, 0x01, 0x01, 0x99}, /* a type with no room for its length */
		{0x99, 0x05, 0x00, 0x00}, /* past the options area */
		{0x07, 0x03, 0x03, 0x00}, /* record route, pointer below 4 */
		{0x07, 0x02, 0x00, 0x00}, /* record route with no pointer */
		{0x44, 0x04, 0x04, 0x00}, /* timestamp, pointer below 5 */
	};
	static const uint8_t lsrr[] = {131, 7, 4, 10, 0, 0, 1, 0};
	static const uint8_t ssrr[] = {1, 137, 7, 8, 10, 0, 0, 1};
	struct nip_ip4 ip;
	uint8_t *p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = with_options(bad[i], 4);
		assert_int_equal(nip_ip4_parse(p, PING_LEN + 4, true, &ip), NIP_IP4_OPTIONS);
		assert_int_equal(nip_ip4_parse(p, PING_LEN + 4, false, &ip), NIP_IP4_OPTIONS);
		free(p);
	}
	p = with_options(lsrr, sizeof(lsrr));
	assert_int_equal(nip_ip4_parse(p, PING_LEN + 8, true, &ip), NIP_IP4_SRCROUTE);
	free(p);
	p = with_options(ssrr, sizeof(ssrr));
	assert_int_equal(nip_ip4_parse(p, PING_LEN + 8, true, &ip), NIP_IP4_SRCROUTE);
	free(p);
}

/* Fragments parse with their offset (in bytes) and MF: reassembly is the stack's. */
static void test_ip4_parse_fragment_fields(void **state)
{
	static const struct {
		uint16_t frag;
		bool mf;
		uint16_t off;
	} frag[] = {{0x2000, true, 0},	{0x6000, true, 0},	{0x0001, false, 8},
		    {0x4001, false, 8}, {0x1fff, false, 65528}, {0x3fff, true, 65528},
		    {0x0000, false, 0}, {0x8000, false, 0}};
	uint8_t *p = ping_packet(PING_LEN);
	struct nip_ip4 ip;

	(void)state;
	for (size_t i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
		put_be16(p + 6, frag[i].frag);
		fix_csum(p, NIP_IP4_HLEN);
		assert_int_equal(nip_ip4_parse(p, PING_LEN, true, &ip), NIP_IP4_OK);
		assert_int_equal(ip.more_frags, frag[i].mf);
		assert_int_equal(ip.frag_off, frag[i].off);
		/* DF alone, or no flag at all, is a whole datagram; the reserved bit is ignored. */
		assert_int_equal(nip_ip4_is_fragment(&ip), frag[i].mf || frag[i].off);
	}
	free(p);
}

static void test_ip4_err_names(void **state)
{
	(void)state;
	for (int e = 0; e < NIP_IP4_NERR; e++) {
		const char *n = nip_ip4_err_name((enum nip_ip4_err)e);

		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		for (int f = 0; f < e; f++)
			assert_string_not_equal(n, nip_ip4_err_name((enum nip_ip4_err)f));
	}
	assert_string_equal(nip_ip4_err_name(NIP_IP4_NERR), "unknown");
	assert_string_equal(nip_ip4_err_name((enum nip_ip4_err)100), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip4_known_header_checksum),
		cmocka_unit_test(test_ip4_parse_known_packet),
		cmocka_unit_test(test_ip4_emit_writes_known_header),
		cmocka_unit_test(test_ip4_emit_parse_round_trip),
		cmocka_unit_test(test_ip4_emit_tmpl_matches_emit),
		cmocka_unit_test(test_ip4_emit_offload_leaves_checksum_zero),
		cmocka_unit_test(test_ip4_parse_refuses_every_truncation),
		cmocka_unit_test(test_ip4_parse_ignores_padding),
		cmocka_unit_test(test_ip4_parse_err_version),
		cmocka_unit_test(test_ip4_parse_err_hlen_bad),
		cmocka_unit_test(test_ip4_parse_err_short_header),
		cmocka_unit_test(test_ip4_parse_err_len_bad),
		cmocka_unit_test(test_ip4_parse_err_csum),
		cmocka_unit_test(test_ip4_parse_accepts_options),
		cmocka_unit_test(test_ip4_parse_err_options),
		cmocka_unit_test(test_ip4_parse_fragment_fields),
		cmocka_unit_test(test_ip4_err_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
