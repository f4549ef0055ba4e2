/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/udp.c, UDP over IPv4 (RFC 768, RFC 1122 section 4.1.3.4): a
 * datagram written by hand, emit/parse round trips at every small length, the checksum over
 * the pseudo-header (none, wrong, computed zero sent as all ones, offload), length fields
 * that disagree with the IP payload, and every truncation.
 */
#include <errno.h>
#include <string.h>

#include "wire_test.h"

#include "inet/wire/udp.h"

/* 192.168.1.100:5353 -> 192.168.1.1:53, "hello, demikernel" (17 bytes: an odd length). */
static const uint8_t hello[25] = {
	0x14, 0xe9, /* source port 5353 */
	0x00, 0x35, /* destination port 53 */
	0x00, 0x19, /* length 25 */
	0xf3, 0xd4, /* checksum */
	'h',  'e',  'l', 'l', 'o', ',', ' ', 'd', 'e', 'm', 'i', 'k', 'e', 'r', 'n', 'e', 'l',
};
#define SRC ip4_addr(192, 168, 1, 100)
#define DST ip4_addr(192, 168, 1, 1)

/* The reference checksum: pseudo-header (RFC 768) then the datagram with a zero checksum. */
static uint16_t ref_udp_csum(uint32_t src, uint32_t dst, const uint8_t *d, size_t len)
{
	uint8_t buf[12 + 2048];

	assert_true(len <= 2048);
	memcpy(buf, &src, 4);
	memcpy(buf + 4, &dst, 4);
	buf[8] = 0;
	buf[9] = 17;
	put_be16(buf + 10, (uint16_t)len);
	memcpy(buf + 12, d, len);
	put_be16(buf + 12 + 6, 0);
	return ref_csum(buf, 12 + len);
}

static void test_udp_known_datagram_checksum(void **state)
{
	(void)state;
	assert_int_equal(ref_udp_csum(SRC, DST, hello, sizeof(hello)), 0xf3d4);
}

static void test_udp_parse_known_datagram(void **state)
{
	uint8_t *d = exact_copy(hello, sizeof(hello));
	struct nip_udp u;

	(void)state;
	assert_int_equal(nip_udp_parse(d, sizeof(hello), SRC, DST, true, &u), 0);
	assert_int_equal(u.sport, 5353);
	assert_int_equal(u.dport, 53);
	assert_ptr_equal(u.payload, d + NIP_UDP_HLEN);
	assert_int_equal(u.payload_len, 17);
	assert_memory_equal(u.payload, "hello, demikernel", 17);
	/* The pseudo-header counts: other addresses, other sum. */
	assert_int_equal(nip_udp_parse(d, sizeof(hello), DST, DST, true, &u), -EINVAL);
	free(d);
}

static void test_udp_emit_writes_known_datagram(void **state)
{
	uint8_t buf[sizeof(hello) + 1];

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	memcpy(buf + NIP_UDP_HLEN, hello + NIP_UDP_HLEN, sizeof(hello) - NIP_UDP_HLEN);
	nip_udp_emit(buf, 5353, 53, SRC, DST, sizeof(hello) - NIP_UDP_HLEN, false);
	assert_memory_equal(buf, hello, sizeof(hello));
	assert_int_equal(buf[sizeof(hello)], 0xa5);
}

/* Every payload length 0..300 (odd ones too), random ports, addresses and bytes. */
static void test_udp_emit_parse_round_trip(void **state)
{
	struct unit_rng r;
	uint8_t buf[NIP_UDP_HLEN + 300];

	(void)state;
	unit_rng_seed(&r, 768);
	for (size_t plen = 0; plen <= 300; plen++) {
		uint32_t src = (uint32_t)unit_rng_next(&r), dst = (uint32_t)unit_rng_next(&r);
		uint16_t sport = (uint16_t)unit_rng_next(&r), dport = (uint16_t)unit_rng_next(&r);
		size_t len = NIP_UDP_HLEN + plen;
		struct nip_udp u;
		uint16_t want;
		uint8_t *d;

		fill_random(&r, buf + NIP_UDP_HLEN, plen);
		nip_udp_emit(buf, sport, dport, src, dst, plen, false);
		want = ref_udp_csum(src, dst, buf, len);
		assert_int_equal(get_be16(buf + 6), want ? want : 0xffff);
		assert_int_equal(get_be16(buf + 4), len);
		d = exact_copy(buf, len);
		assert_int_equal(nip_udp_parse(d, len, src, dst, true, &u), 0);
		assert_int_equal(u.sport, sport);
		assert_int_equal(u.dport, dport);
		assert_ptr_equal(u.payload, d + NIP_UDP_HLEN);
		assert_int_equal(u.payload_len, plen);
		free(d);
	}
}

/* A datagram whose checksum computes to zero is sent with all ones (RFC 768), which verifies. */
static void test_udp_emit_zero_checksum_sent_as_ones(void **state)
{
	uint8_t buf[NIP_UDP_HLEN + 2] = {0};
	uint16_t rest;
	struct nip_udp u;

	(void)state;
	/* Choose the two payload bytes so the sum over everything else plus them is 0xffff. */
	nip_udp_emit(buf, 1000, 2000, SRC, DST, 2, false);
	rest = (uint16_t)~ref_udp_csum(SRC, DST, buf, sizeof(buf));
	put_be16(buf + NIP_UDP_HLEN, (uint16_t)(0xffff - rest));
	assert_int_equal(ref_udp_csum(SRC, DST, buf, sizeof(buf)), 0);
	nip_udp_emit(buf, 1000, 2000, SRC, DST, 2, false);
	assert_int_equal(get_be16(buf + 6), 0xffff);
	assert_int_equal(nip_udp_parse(buf, sizeof(buf), SRC, DST, true, &u), 0);
}

/* Checksum 0: the sender computed none; accepted whatever the data. */
static void test_udp_parse_accepts_no_checksum(void **state)
{
	uint8_t d[sizeof(hello)];
	struct nip_udp u;

	(void)state;
	memcpy(d, hello, sizeof(d));
	put_be16(d + 6, 0);
	d[NIP_UDP_HLEN] ^= 0xff;
	assert_int_equal(nip_udp_parse(d, sizeof(d), SRC, DST, true, &u), 0);
	assert_int_equal(u.payload_len, 17);
}

static void test_udp_parse_refuses_wrong_checksum(void **state)
{
	(void)state;
	for (size_t bit = 0; bit < sizeof(hello) * 8; bit++) {
		uint8_t d[sizeof(hello)];
		struct nip_udp u;

		/* Length bits fail the length check instead; a flip to checksum 0 is "none". */
		if (bit / 8 == 4 || bit / 8 == 5)
			continue;
		memcpy(d, hello, sizeof(d));
		d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(nip_udp_parse(d, sizeof(d), SRC, DST, true, &u), -EINVAL);
		/* The device verified it (or this is a test): not checked. */
		assert_int_equal(nip_udp_parse(d, sizeof(d), SRC, DST, false, &u), 0);
	}
}

/* The length field must equal the IP payload length: larger or smaller is refused. */
static void test_udp_parse_refuses_length_mismatch(void **state)
{
	static const uint16_t lens[] = {0, 1, 7, 8, 24, 26, 1000, 0xffff};
	uint8_t d[sizeof(hello) + 8];
	struct nip_udp u;

	(void)state;
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(d, hello, sizeof(hello));
		put_be16(d + 4, lens[i]);
		put_be16(d + 6, 0); /* no checksum: only the length is at fault */
		assert_int_equal(nip_udp_parse(d, sizeof(hello), SRC, DST, true, &u), -EINVAL);
		assert_int_equal(nip_udp_parse(d, sizeof(hello), SRC, DST, false, &u), -EINVAL);
	}
	/* Data past the length field (not trimmed by IP) is refused too. */
	memcpy(d, hello, sizeof(hello));
	assert_int_equal(nip_udp_parse(d, sizeof(d), SRC, DST, false, &u), -EINVAL);
}

static void test_udp_parse_refuses_every_truncation(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(hello); n++) {
		uint8_t *d = exact_copy(hello, n);
		struct nip_udp u;

		assert_int_equal(nip_udp_parse(d, n, SRC, DST, true, &u), -EINVAL);
		assert_int_equal(nip_udp_parse(d, n, SRC, DST, false, &u), -EINVAL);
		free(d);
	}
}

/* A header-only datagram (empty payload) is valid. */
static void test_udp_parse_empty_payload(void **state)
{
	uint8_t *d, h[NIP_UDP_HLEN];
	struct nip_udp u;

	(void)state;
	nip_udp_emit(h, 7, 9, SRC, DST, 0, false);
	d = exact_copy(h, sizeof(h));
	assert_int_equal(nip_udp_parse(d, sizeof(h), SRC, DST, true, &u), 0);
	assert_int_equal(u.payload_len, 0);
	assert_int_equal(u.sport, 7);
	assert_int_equal(u.dport, 9);
	free(d);
}

/*
 * With offload the checksum field holds the folded pseudo-header sum, not complemented
 * (DPDK rte_ipv4_phdr_cksum); a device then sums header and payload over it and complements,
 * which must give the full checksum.
 */
static void test_udp_emit_offload_stores_pseudo_sum(void **state)
{
	uint8_t buf[sizeof(hello)], ph[12];
	uint16_t dev;

	(void)state;
	memcpy(buf, hello, sizeof(buf));
	nip_udp_emit(buf, 5353, 53, SRC, DST, sizeof(hello) - NIP_UDP_HLEN, true);
	memcpy(ph, (const uint8_t[]){192, 168, 1, 100, 192, 168, 1, 1, 0, 17, 0, 25}, 12);
	assert_int_equal(get_be16(buf + 6), ref_sum(ph, sizeof(ph)));
	assert_memory_equal(buf, hello, 6);
	/* What the device does. */
	dev = ref_csum(buf, sizeof(buf));
	put_be16(buf + 6, dev ? dev : 0xffff);
	assert_memory_equal(buf, hello, sizeof(hello));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_known_datagram_checksum),
		cmocka_unit_test(test_udp_parse_known_datagram),
		cmocka_unit_test(test_udp_emit_writes_known_datagram),
		cmocka_unit_test(test_udp_emit_parse_round_trip),
		cmocka_unit_test(test_udp_emit_zero_checksum_sent_as_ones),
		cmocka_unit_test(test_udp_parse_accepts_no_checksum),
		cmocka_unit_test(test_udp_parse_refuses_wrong_checksum),
		cmocka_unit_test(test_udp_parse_refuses_length_mismatch),
		cmocka_unit_test(test_udp_parse_refuses_every_truncation),
		cmocka_unit_test(test_udp_parse_empty_payload),
		cmocka_unit_test(test_udp_emit_offload_stores_pseudo_sum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
