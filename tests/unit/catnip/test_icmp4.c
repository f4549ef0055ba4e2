/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/icmp4.c, ICMPv4 echo (RFC 792): an echo request written by
 * hand, checksum refusals, every truncation, and the in-place reply whose incrementally
 * updated checksum (RFC 1624) must equal a full recomputation, edge cases included.
 */
#include <errno.h>
#include <string.h>

#include "wire_test.h"

#include "inet/wire/icmp4.h"

/* An echo request as Linux ping sends it: 8 bytes of timestamp then 0x10, 0x11, ... 0x3f. */
static const uint8_t echo_req[64] = {
	0x08,	    /* type: echo request */
	0x00,	    /* code */
	0x99, 0xdd, /* checksum */
	0x1c, 0x46, /* identifier */
	0x00, 0x01, /* sequence number */
	0xa3, 0xb1, 0xf2, 0x65, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
	0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31,
	0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

/* Stores the reference checksum of msg (its checksum field is overwritten). */
static void fix_csum(uint8_t *msg, size_t len)
{
	put_be16(msg + 2, 0);
	put_be16(msg + 2, ref_csum(msg, len));
}

static void test_icmp4_known_request_checksum(void **state)
{
	uint8_t m[sizeof(echo_req)];

	(void)state;
	memcpy(m, echo_req, sizeof(m));
	fix_csum(m, sizeof(m));
	assert_int_equal(get_be16(m + 2), 0x99dd);
}

static void test_icmp4_parse_known_request(void **state)
{
	uint8_t *m = exact_copy(echo_req, sizeof(echo_req));
	struct nip_icmp4 ic;

	(void)state;
	assert_int_equal(nip_icmp4_parse(m, sizeof(echo_req), &ic), 0);
	assert_int_equal(ic.type, NIP_ICMP4_ECHO_REQUEST);
	assert_int_equal(ic.code, 0);
	assert_int_equal(ic.id, 0x1c46);
	assert_int_equal(ic.seq, 1);
	assert_ptr_equal(ic.data, m + NIP_ICMP4_HLEN);
	assert_int_equal(ic.data_len, sizeof(echo_req) - NIP_ICMP4_HLEN);
	free(m);
}

static void test_icmp4_parse_refuses_wrong_checksum(void **state)
{
	(void)state;
	for (size_t bit = 0; bit < sizeof(echo_req) * 8; bit++) {
		uint8_t m[sizeof(echo_req)];
		struct nip_icmp4 ic;

		memcpy(m, echo_req, sizeof(m));
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(nip_icmp4_parse(m, sizeof(m), &ic), -EINVAL);
	}
}

/* Under 8 bytes there is no header; past it, ICMP has no length field and each truncation
 * of this message breaks the checksum. */
static void test_icmp4_parse_refuses_every_truncation(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(echo_req); n++) {
		uint8_t *m = exact_copy(echo_req, n);
		struct nip_icmp4 ic;

		assert_int_equal(nip_icmp4_parse(m, n, &ic), -EINVAL);
		free(m);
	}
}

/* Header only, and an odd length (the checksum pads a zero byte). */
static void test_icmp4_parse_short_and_odd_messages(void **state)
{
	uint8_t m[NIP_ICMP4_HLEN + 3] = {8, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0xab, 0xcd, 0xef};
	struct nip_icmp4 ic;
	uint8_t *c;

	(void)state;
	fix_csum(m, NIP_ICMP4_HLEN);
	c = exact_copy(m, NIP_ICMP4_HLEN);
	assert_int_equal(nip_icmp4_parse(c, NIP_ICMP4_HLEN, &ic), 0);
	assert_int_equal(ic.data_len, 0);
	assert_int_equal(ic.id, 0x1234);
	assert_int_equal(ic.seq, 0x5678);
	free(c);
	fix_csum(m, sizeof(m));
	c = exact_copy(m, sizeof(m));
	assert_int_equal(nip_icmp4_parse(c, sizeof(m), &ic), 0);
	assert_int_equal(ic.data_len, 3);
	assert_int_equal(ic.data[2], 0xef);
	free(c);
}

/* The reply keeps everything but the type and the checksum, and its checksum is the one a
 * full recomputation gives. */
static void assert_reply_of(const uint8_t *req, size_t len)
{
	uint8_t *m = exact_copy(req, len);
	uint8_t want[2048];
	struct nip_icmp4 ic;

	assert_true(len <= sizeof(want));
	memcpy(want, req, len);
	want[0] = NIP_ICMP4_ECHO_REPLY;
	fix_csum(want, len);
	nip_icmp4_echo_to_reply(m, len);
	assert_memory_equal(m, want, len);
	assert_int_equal(nip_icmp4_parse(m, len, &ic), 0);
	assert_int_equal(ic.type, NIP_ICMP4_ECHO_REPLY);
	free(m);
}

static void test_icmp4_echo_to_reply_known_request(void **state)
{
	uint8_t m[sizeof(echo_req)];

	(void)state;
	assert_reply_of(echo_req, sizeof(echo_req));
	memcpy(m, echo_req, sizeof(m));
	nip_icmp4_echo_to_reply(m, sizeof(m));
	/* 0x99dd + 0x0800, by hand. */
	assert_int_equal(m[0], 0);
	assert_int_equal(get_be16(m + 2), 0xa1dd);
}

/* Random requests: every length (odd too), code and content. */
static void test_icmp4_echo_to_reply_matches_recompute(void **state)
{
	struct unit_rng r;
	uint8_t m[1500];

	(void)state;
	unit_rng_seed(&r, 792);
	for (int i = 0; i < 2000; i++) {
		size_t len = NIP_ICMP4_HLEN + unit_rng_below(&r, sizeof(m) - NIP_ICMP4_HLEN + 1);

		fill_random(&r, m, len);
		m[0] = NIP_ICMP4_ECHO_REQUEST;
		if (i % 2)
			m[1] = 0;
		fix_csum(m, len);
		assert_reply_of(m, len);
	}
}

/*
 * RFC 1624 section 3's trap: a reply whose checksum must be 0x0000. Identifier 0xffff and
 * nothing else sum to 0xffff; the request's checksum is then 0xf7ff. Equation 2 of RFC 1141
 * would give 0xffff here.
 */
static void test_icmp4_echo_to_reply_zero_checksum(void **state)
{
	uint8_t m[NIP_ICMP4_HLEN] = {8, 0, 0, 0, 0xff, 0xff, 0, 0};

	(void)state;
	fix_csum(m, sizeof(m));
	assert_int_equal(get_be16(m + 2), 0xf7ff);
	assert_reply_of(m, sizeof(m));
	nip_icmp4_echo_to_reply(m, sizeof(m));
	assert_int_equal(get_be16(m + 2), 0x0000);
}

/*
 * The trap equation 3 leaves: a reply that is all zeros but its checksum (id 0, seq 0, zero
 * data) sums to +0, and its only valid checksum is 0xffff; found by the fuzz target.
 */
static void test_icmp4_echo_to_reply_all_zero_reply(void **state)
{
	uint8_t m[NIP_ICMP4_HLEN + 5] = {8};
	uint8_t *c;

	(void)state;
	for (size_t len = NIP_ICMP4_HLEN; len <= sizeof(m); len++) {
		fix_csum(m, len);
		assert_int_equal(get_be16(m + 2), 0xf7ff);
		assert_reply_of(m, len);
		c = exact_copy(m, len);
		nip_icmp4_echo_to_reply(c, len);
		assert_int_equal(get_be16(c + 2), 0xffff);
		free(c);
	}
	/* One non-zero data byte, last: the reply checksum may be 0 again. */
	m[sizeof(m) - 1] = 0x01;
	fix_csum(m, sizeof(m));
	assert_reply_of(m, sizeof(m));
}

/* A request that itself carries the all-ones form of zero (any checksum value x and
 * x + 0xffff are equal in one's complement). */
static void test_icmp4_echo_to_reply_from_minus_zero(void **state)
{
	/* Words 0x0800 + 0xf7ff = 0xffff: the computed checksum is 0, sent here as 0xffff. */
	uint8_t m[NIP_ICMP4_HLEN] = {8, 0, 0xff, 0xff, 0xf7, 0xff, 0, 0};
	struct nip_icmp4 ic;

	(void)state;
	assert_int_equal(nip_icmp4_parse(m, sizeof(m), &ic), 0);
	nip_icmp4_echo_to_reply(m, sizeof(m));
	assert_int_equal(nip_icmp4_parse(m, sizeof(m), &ic), 0);
	assert_int_equal(ic.type, NIP_ICMP4_ECHO_REPLY);
}

/* Too short to be a message: left alone, nothing read or written. */
static void test_icmp4_echo_to_reply_short_is_noop(void **state)
{
	(void)state;
	for (size_t n = 0; n < NIP_ICMP4_HLEN; n++) {
		uint8_t *m = exact_copy(echo_req, n);

		nip_icmp4_echo_to_reply(m, n);
		if (n)
			assert_memory_equal(m, echo_req, n);
		free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icmp4_known_request_checksum),
		cmocka_unit_test(test_icmp4_parse_known_request),
		cmocka_unit_test(test_icmp4_parse_refuses_wrong_checksum),
		cmocka_unit_test(test_icmp4_parse_refuses_every_truncation),
		cmocka_unit_test(test_icmp4_parse_short_and_odd_messages),
		cmocka_unit_test(test_icmp4_echo_to_reply_known_request),
		cmocka_unit_test(test_icmp4_echo_to_reply_matches_recompute),
		cmocka_unit_test(test_icmp4_echo_to_reply_zero_checksum),
		cmocka_unit_test(test_icmp4_echo_to_reply_all_zero_reply),
		cmocka_unit_test(test_icmp4_echo_to_reply_from_minus_zero),
		cmocka_unit_test(test_icmp4_echo_to_reply_short_is_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
