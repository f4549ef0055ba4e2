/* SPDX-License-Identifier: MIT */
/* catmint's wire formats and fragment rules (catmint/frame.c): immediate data, hello,
 * fragment counts, reassembly, and refusal of everything a broken peer could send. */
#include <errno.h>
#include <string.h>

#include "frame.h"
#include "unit.h"

static void test_imm_roundtrip(void **state)
{
	static const struct {
		uint8_t kind;
		uint32_t credits, aux;
	} cases[] = {
		{MINT_KIND_MSG, 0, 0},	   {MINT_KIND_MSG, MINT_CREDITS_MAX, 0},
		{MINT_KIND_FIRST, 1, 2},   {MINT_KIND_FIRST, 7, MINT_FRAGS_MAX},
		{MINT_KIND_MORE, 0, 0},	   {MINT_KIND_MORE, 5, 0xffff},
		{MINT_KIND_CREDIT, 32, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mint_imm imm;
		uint32_t v = mint_imm_encode(cases[i].kind, cases[i].credits, cases[i].aux);

		assert_int_equal(mint_imm_decode(v, &imm), 0);
		assert_int_equal(imm.kind, cases[i].kind);
		assert_int_equal(imm.credits, cases[i].credits);
		assert_int_equal(imm.aux, cases[i].aux);
	}
}

static void test_imm_decode_rejects_bad(void **state)
{
	struct mint_imm imm;

	(void)state;
	/* MSG and CREDIT carry no aux; FIRST says at least two fragments. */
	assert_int_equal(mint_imm_decode(0x00000001u, &imm), -EPROTO);
	assert_int_equal(mint_imm_decode(0xc0000005u, &imm), -EPROTO);
	assert_int_equal(mint_imm_decode(0x40000001u, &imm), -EPROTO);
	assert_int_equal(mint_imm_decode(0x40000000u, &imm), -EPROTO);
	/* Every 32-bit value decodes without crashing and is either valid or refused. */
	struct unit_rng r;
	unit_rng_seed(&r, 6);
	for (int i = 0; i < 100000; i++) {
		uint32_t v = (uint32_t)unit_rng_next(&r);
		int rc = mint_imm_decode(v, &imm);

		assert_true(rc == 0 || rc == -EPROTO);
		if (rc == 0)
			assert_int_equal(mint_imm_encode(imm.kind, imm.credits, imm.aux), v);
	}
}

static void test_hello_roundtrip_and_padding(void **state)
{
	uint8_t buf[56];
	struct mint_hello h = {.credits = 64, .frag_bytes = 8000}, out;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(mint_hello_emit(buf, sizeof(buf), &h), MINT_HELLO_BYTES);
	/* rdma_cm pads the private data (56 bytes in a request): the tail is ignored. */
	assert_int_equal(mint_hello_parse(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.credits, 64);
	assert_int_equal(out.frag_bytes, 8000);
	assert_int_equal(mint_hello_emit(buf, MINT_HELLO_BYTES - 1, &h), -ENOSPC);
}

static void test_hello_parse_rejects_bad(void **state)
{
	uint8_t buf[MINT_HELLO_BYTES], bad[MINT_HELLO_BYTES];
	struct mint_hello h = {.credits = 64, .frag_bytes = 8000}, out;

	(void)state;
	mint_hello_emit(buf, sizeof(buf), &h);
	assert_int_equal(mint_hello_parse(NULL, 0, &out), -EPROTO);
	assert_int_equal(mint_hello_parse(buf, sizeof(buf) - 1, &out), -EPROTO);
	memcpy(bad, buf, sizeof(bad));
	bad[0] ^= 1; /* magic */
	assert_int_equal(mint_hello_parse(bad, sizeof(bad), &out), -EPROTO);
	memcpy(bad, buf, sizeof(bad));
	bad[4] = 2; /* version */
	assert_int_equal(mint_hello_parse(bad, sizeof(bad), &out), -EPROTO);
	h.credits = MINT_DEPTH_MIN - 1; /* too few receives for the credit accounting */
	mint_hello_emit(bad, sizeof(bad), &h);
	assert_int_equal(mint_hello_parse(bad, sizeof(bad), &out), -EPROTO);
	h.credits = MINT_CREDITS_MAX + 1;
	mint_hello_emit(bad, sizeof(bad), &h);
	assert_int_equal(mint_hello_parse(bad, sizeof(bad), &out), -EPROTO);
	h.credits = 64;
	h.frag_bytes = MINT_FRAG_MIN - 1;
	mint_hello_emit(bad, sizeof(bad), &h);
	assert_int_equal(mint_hello_parse(bad, sizeof(bad), &out), -EPROTO);
}

static void test_frag_count(void **state)
{
	(void)state;
	assert_int_equal(mint_frag_count(0, 8000), 0);
	assert_int_equal(mint_frag_count(1, 8000), 1);
	assert_int_equal(mint_frag_count(8000, 8000), 1);
	assert_int_equal(mint_frag_count(8001, 8000), 2);
	assert_int_equal(mint_frag_count(1 << 20, 8000), 132);
	assert_int_equal(mint_frag_count((uint64_t)MINT_FRAGS_MAX * 8000, 8000), MINT_FRAGS_MAX);
	/* One byte more than 65535 fragments: EMSGSIZE. */
	assert_int_equal(mint_frag_count((uint64_t)MINT_FRAGS_MAX * 8000 + 1, 8000), 0);
	assert_int_equal(mint_frag_len(8001, 8000, 0), 8000);
	assert_int_equal(mint_frag_len(8001, 8000, 1), 1);
}

/* Splits messages of many sizes into fragments and puts them back together. */
static void test_reasm_roundtrip(void **state)
{
	static const uint64_t sizes[] = {129, 200, 256, 1000, 4096, 65536};
	const uint32_t frag = 128;

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = mint_frag_count(sizes[s], frag);
		struct mint_reasm r = {0};
		uint64_t expect_off = 0;

		assert_true(n >= 2);
		for (uint32_t k = 0; k < n; k++) {
			struct mint_imm imm = {
				.kind = k ? MINT_KIND_MORE : MINT_KIND_FIRST,
				.aux = (uint16_t)(k ? k : n),
			};
			uint32_t len = mint_frag_len(sizes[s], frag, k);

			assert_false(mint_reasm_done(&r));
			assert_int_equal(mint_reasm_feed(&r, &imm, len, frag), expect_off);
			expect_off += len;
		}
		assert_true(mint_reasm_done(&r));
		assert_int_equal(r.len, sizes[s]);
		assert_true(mint_reasm_bytes(&r, frag) >= sizes[s]);
		mint_reasm_reset(&r);
		assert_false(mint_reasm_open(&r));
	}
}

static void test_reasm_rejects_bad(void **state)
{
	const uint32_t frag = 100;
	struct mint_imm first = {.kind = MINT_KIND_FIRST, .aux = 3};
	struct mint_imm more1 = {.kind = MINT_KIND_MORE, .aux = 1};
	struct mint_imm more2 = {.kind = MINT_KIND_MORE, .aux = 2};
	struct mint_reasm r = {0};

	(void)state;
	/* A MORE with nothing open, an empty or oversized fragment, a short FIRST. */
	assert_int_equal(mint_reasm_feed(&r, &more1, frag, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &first, 0, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &first, frag + 1, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &first, frag - 1, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &first, frag, frag), 0);
	/* A second FIRST, a skipped index, a short middle fragment. */
	assert_int_equal(mint_reasm_feed(&r, &first, frag, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &more2, frag, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &more1, frag - 1, frag), -EPROTO);
	assert_int_equal(mint_reasm_feed(&r, &more1, frag, frag), frag);
	/* The last may be short; nothing after it. */
	assert_int_equal(mint_reasm_feed(&r, &more2, 1, frag), 2 * frag);
	assert_true(mint_reasm_done(&r));
	assert_int_equal(r.len, 2 * frag + 1);
	struct mint_imm more3 = {.kind = MINT_KIND_MORE, .aux = 3};
	assert_int_equal(mint_reasm_feed(&r, &more3, 1, frag), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imm_roundtrip),
		cmocka_unit_test(test_imm_decode_rejects_bad),
		cmocka_unit_test(test_hello_roundtrip_and_padding),
		cmocka_unit_test(test_hello_parse_rejects_bad),
		cmocka_unit_test(test_frag_count),
		cmocka_unit_test(test_reasm_roundtrip),
		cmocka_unit_test(test_reasm_rejects_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
