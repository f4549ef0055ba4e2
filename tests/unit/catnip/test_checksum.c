/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/checksum.c, the Internet checksum (RFC 1071): the RFC's own
 * example, every length and alignment against a naive reference, sums of pieces against the
 * sum of the whole, carries over long buffers, and the IPv4 pseudo-header (RFC 768). Every
 * summing kernel the CPU can run (scalar, AVX2) is checked, not just the fastest.
 */
#include <string.h>

#include "wire_test.h"

#include "inet/wire/checksum.h"

/* The 16-bit value nip_csum_fold stores, read back as the two bytes on the wire. */
static uint16_t wire16(uint16_t stored)
{
	uint8_t b[2];

	memcpy(b, &stored, 2);
	return get_be16(b);
}

/* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d. */
static void test_csum_rfc1071_example(void **state)
{
	static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

	(void)state;
	assert_int_equal(ref_sum(data, sizeof(data)), 0xddf2);
	assert_int_equal(wire16(nip_csum_fold(nip_csum_add(0, data, sizeof(data)))), 0x220d);
}

static void test_csum_empty_is_all_ones(void **state)
{
	uint8_t b = 0x55;

	(void)state;
	assert_int_equal(nip_csum_add(0, &b, 0), 0);
	assert_int_equal(nip_csum_fold(0), 0xffff);
	assert_int_equal(nip_csum_fold(0xffff), 0);
	assert_int_equal(nip_csum_fold(0xffffffffu), 0);
}

/* Every length 0..600 at every alignment 0..7, against the reference; odd lengths pad a zero. */
static void test_csum_lengths_and_alignments_match_reference(void **state)
{
	struct unit_rng r;
	uint8_t buf[616];

	(void)state;
	unit_rng_seed(&r, 1071);
	fill_random(&r, buf, sizeof(buf));
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 600; len++) {
			uint8_t *c = exact_copy(buf + off, len);
			uint16_t got = wire16(nip_csum_fold(nip_csum_add(0, c, len)));

			assert_int_equal(got, ref_csum(buf + off, len));
			free(c);
		}
}

static void test_csum_odd_length_pads_zero(void **state)
{
	static const uint8_t odd[] = {0x12, 0x34, 0x56};
	static const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};

	(void)state;
	assert_int_equal(nip_csum_fold(nip_csum_add(0, odd, 3)),
			 nip_csum_fold(nip_csum_add(0, even, 4)));
	/* 0x1234 + 0x5600 = 0x6834, checksum 0x97cb. */
	assert_int_equal(wire16(nip_csum_fold(nip_csum_add(0, odd, 3))), 0x97cb);
	/* A single byte. */
	assert_int_equal(wire16(nip_csum_fold(nip_csum_add(0, odd, 1))), (uint16_t)~0x1200);
}

/* Splitting at any even offset (the last piece may be odd) gives the sum of the whole. */
static void test_csum_pieces_equal_whole(void **state)
{
	struct unit_rng r;
	uint8_t buf[301];

	(void)state;
	unit_rng_seed(&r, 2);
	fill_random(&r, buf, sizeof(buf));
	for (size_t len = 0; len <= sizeof(buf); len++) {
		uint16_t whole = nip_csum_fold(nip_csum_add(0, buf, len));

		for (size_t cut = 0; cut <= len; cut += 2) {
			uint32_t s = nip_csum_add(0, buf, cut);

			s = nip_csum_add(s, buf + cut, len - cut);
			assert_int_equal(nip_csum_fold(s), whole);
		}
	}
}

/* Many pieces of random even lengths, at odd addresses, against the reference. */
static void test_csum_many_pieces_match_reference(void **state)
{
	struct unit_rng r;
	uint8_t buf[4097];

	(void)state;
	unit_rng_seed(&r, 3);
	for (int round = 0; round < 200; round++) {
		size_t len = unit_rng_below(&r, 4096);
		const uint8_t *data = buf + 1;
		uint32_t s = 0;
		size_t done = 0;

		fill_random(&r, buf, sizeof(buf));
		while (done < len) {
			size_t n = unit_rng_below(&r, 64) * 2;

			if (n > len - done)
				n = len - done;
			s = nip_csum_add(s, data + done, n);
			done += n;
		}
		assert_int_equal(wire16(nip_csum_fold(s)), ref_csum(data, len));
	}
}

/* All ones over 1 MiB: the accumulator carries many times over. */
static void test_csum_carries_over_large_buffers(void **state)
{
	size_t len = 1u << 20;
	uint8_t *big = malloc(len + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 0xff, len + 1);
	assert_int_equal(nip_csum_fold(nip_csum_add(0, big, len)), 0);
	assert_int_equal(wire16(nip_csum_fold(nip_csum_add(0, big, len + 1))),
			 ref_csum(big, len + 1));
	/* Starting from the largest running sums: 0xffffffff is minus zero, adds nothing. */
	assert_int_equal(nip_csum_add(0, big, 64), 0xffffffffu);
	assert_int_equal(nip_csum_fold(nip_csum_add(0xffffffffu, big, 64)), 0);
	for (size_t i = 0; i < 64; i++)
		big[i] = (uint8_t)(i * 37 + 1);
	assert_int_equal(wire16(nip_csum_fold(nip_csum_add(0xffffffffu, big, 63))),
			 ref_csum(big, 63));
	free(big);
}

/* A buffer with its checksum stored sums to all ones: checking folds to zero. */
static void test_csum_verifies_to_zero(void **state)
{
	struct unit_rng r;
	uint8_t buf[64];

	(void)state;
	unit_rng_seed(&r, 4);
	for (size_t len = 2; len <= sizeof(buf); len++) {
		uint16_t c;

		fill_random(&r, buf, len);
		buf[0] = buf[1] = 0;
		c = nip_csum_fold(nip_csum_add(0, buf, len));
		memcpy(buf, &c, 2);
		assert_int_equal(nip_csum_fold(nip_csum_add(0, buf, len)), 0);
		assert_int_equal(ref_sum(buf, len), 0xffff);
	}
}

/* Each kernel, every length to 2 KiB at every alignment 0..31, from running sums that
 * exercise the carries, against the reference; and all ones over 64 KiB (the most carries). */
static void test_csum_every_kernel_matches_reference(void **state)
{
	struct unit_rng r;
	size_t cap = 2048 + 32, ran = 0;
	uint8_t *buf = malloc(65536 + 32);

	(void)state;
	assert_non_null(buf);
	unit_rng_seed(&r, 1624);
	fill_random(&r, buf, cap);
	for (size_t k = 0; k < nip__csum_kernels(); k++) {
		uint32_t got;

		if (nip__csum_add_kernel(k, 0, buf, 0, &got) < 0) {
			print_message("kernel %s: not on this CPU\n", nip__csum_kernel_name(k));
			continue;
		}
		ran++;
		for (size_t off = 0; off < 32; off++)
			for (size_t len = 0; len <= 2048; len += (len < 300 ? 1 : 7)) {
				uint16_t want = ref_csum(buf + off, len);

				assert_int_equal(nip__csum_add_kernel(k, 0, buf + off, len, &got),
						 0);
				assert_int_equal(wire16(nip_csum_fold(got)), want);
				/* From the largest running sum, which is minus zero: the same, as
				 * long as the data sum is not zero (then the two zeros differ). */
				if (want == 0xffff)
					continue;
				assert_int_equal(
					nip__csum_add_kernel(k, 0xffffffffu, buf + off, len, &got),
					0);
				assert_int_equal(wire16(nip_csum_fold(got)), want);
			}
		memset(buf, 0xff, 65536 + 1);
		assert_int_equal(nip__csum_add_kernel(k, 0, buf, 65536, &got), 0);
		assert_int_equal(nip_csum_fold(got), 0);
		assert_int_equal(nip__csum_add_kernel(k, 0, buf, 65535, &got), 0);
		assert_int_equal(wire16(nip_csum_fold(got)), ref_csum(buf, 65535));
		fill_random(&r, buf, cap);
	}
	/* The scalar kernel runs everywhere. */
	assert_true(ran >= 1);
	assert_int_equal(nip__csum_add_kernel(nip__csum_kernels(), 0, buf, 8, &(uint32_t){0}), -1);
	free(buf);
}

/* The pseudo-header sum equals the sum of the 12 bytes src, dst, 0, proto, length. */
static void test_csum_pseudo4_matches_bytes(void **state)
{
	uint32_t src = ip4_addr(192, 168, 1, 100), dst = ip4_addr(10, 0, 0, 255);
	static const uint8_t ph[12] = {192, 168, 1, 100, 10, 0, 0, 255, 0, 17, 0x05, 0xdd};
	uint32_t s = nip_csum_pseudo4(src, dst, 17, 1501);

	(void)state;
	assert_int_equal(wire16(nip_csum_fold(s)), ref_csum(ph, sizeof(ph)));
	assert_int_equal(nip_csum_fold(s), nip_csum_fold(nip_csum_add(0, ph, sizeof(ph))));
}

/* The inline 20-byte sum of IPv4 headers folds as nip_csum_add does, carries included. */
static void test_csum_add20_matches_add(void **state)
{
	struct unit_rng r;
	uint8_t buf[28];

	(void)state;
	unit_rng_seed(&r, 791);
	for (int round = 0; round < 1000; round++) {
		size_t off = (size_t)round % 8;

		fill_random(&r, buf, sizeof(buf));
		assert_int_equal(nip_csum_fold(nip_csum_add20(buf + off)),
				 nip_csum_fold(nip_csum_add(0, buf + off, 20)));
		assert_int_equal(wire16(nip_csum_fold(nip_csum_add20(buf + off))),
				 ref_csum(buf + off, 20));
	}
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(nip_csum_fold(nip_csum_add20(buf)), 0);
	assert_int_equal(nip_csum_add20(buf), nip_csum_add(0, buf, 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rfc1071_example),
		cmocka_unit_test(test_csum_empty_is_all_ones),
		cmocka_unit_test(test_csum_lengths_and_alignments_match_reference),
		cmocka_unit_test(test_csum_odd_length_pads_zero),
		cmocka_unit_test(test_csum_pieces_equal_whole),
		cmocka_unit_test(test_csum_many_pieces_match_reference),
		cmocka_unit_test(test_csum_carries_over_large_buffers),
		cmocka_unit_test(test_csum_verifies_to_zero),
		cmocka_unit_test(test_csum_pseudo4_matches_bytes),
		cmocka_unit_test(test_csum_add20_matches_add),
		cmocka_unit_test(test_csum_every_kernel_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
