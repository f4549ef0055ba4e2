/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/eth.c, Ethernet II framing (IEEE 802.3 with EtherType,
 * RFC 894): parsing a frame written by hand, emit/parse round trips, every truncation of the
 * header refused without reading past it, and the broadcast and group-address predicates.
 */
#include <errno.h>
#include <string.h>

#include "wire_test.h"

#include "inet/wire/eth.h"

/* An ARP request as Linux sends it, without the frame check sequence. */
static const uint8_t arp_frame[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* dst: broadcast */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* src */
	0x08, 0x06,			    /* EtherType ARP */
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0xc0, 0xa8, 0x01, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,
};

static void test_eth_parse_known_frame(void **state)
{
	uint8_t *f = exact_copy(arp_frame, sizeof(arp_frame));
	struct nip_eth e;

	(void)state;
	assert_int_equal(nip_eth_parse(f, sizeof(arp_frame), &e), 0);
	assert_ptr_equal(e.dst, f);
	assert_ptr_equal(e.src, f + 6);
	assert_memory_equal(e.src, arp_frame + 6, 6);
	assert_int_equal(e.type, NIP_ETHERTYPE_ARP);
	assert_ptr_equal(e.payload, f + NIP_ETH_HLEN);
	assert_int_equal(e.payload_len, sizeof(arp_frame) - NIP_ETH_HLEN);
	assert_true(nip_eth_is_broadcast(e.dst));
	free(f);
}

static void test_eth_parse_header_only(void **state)
{
	uint8_t *f = exact_copy(arp_frame, NIP_ETH_HLEN);
	struct nip_eth e;

	(void)state;
	assert_int_equal(nip_eth_parse(f, NIP_ETH_HLEN, &e), 0);
	assert_int_equal(e.payload_len, 0);
	free(f);
}

static void test_eth_parse_refuses_every_truncation(void **state)
{
	(void)state;
	for (size_t n = 0; n < NIP_ETH_HLEN; n++) {
		uint8_t *f = exact_copy(arp_frame, n);
		struct nip_eth e;

		assert_int_equal(nip_eth_parse(f, n, &e), -EINVAL);
		free(f);
	}
}

static void test_eth_emit_writes_known_header(void **state)
{
	static const uint8_t src[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	uint8_t buf[NIP_ETH_HLEN + 2];

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	nip_eth_emit(buf, nip_eth_broadcast, src, NIP_ETHERTYPE_ARP);
	assert_memory_equal(buf, arp_frame, NIP_ETH_HLEN);
	assert_int_equal(buf[NIP_ETH_HLEN], 0xa5); /* nothing written past the header */
	assert_int_equal(buf[NIP_ETH_HLEN + 1], 0xa5);
}

static void test_eth_emit_parse_round_trip(void **state)
{
	static const uint8_t dst[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe};
	static const uint8_t src[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	static const uint16_t types[] = {NIP_ETHERTYPE_IPV4, NIP_ETHERTYPE_ARP, 0x86dd, 0xffff, 0};
	uint8_t buf[60];

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct nip_eth e;

		nip_eth_emit(buf, dst, src, types[i]);
		assert_int_equal(get_be16(buf + 12), types[i]);
		assert_int_equal(nip_eth_parse(buf, sizeof(buf), &e), 0);
		assert_memory_equal(e.dst, dst, 6);
		assert_memory_equal(e.src, src, 6);
		assert_int_equal(e.type, types[i]);
		assert_int_equal(e.payload_len, sizeof(buf) - NIP_ETH_HLEN);
	}
}

static void test_eth_broadcast_and_multicast(void **state)
{
	static const uint8_t ucast[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	static const uint8_t almost[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
	static const uint8_t local[6] = {0x02, 0xff, 0xff, 0xff, 0xff, 0xff};

	(void)state;
	assert_true(nip_eth_is_broadcast(nip_eth_broadcast));
	assert_true(nip_eth_is_multicast(nip_eth_broadcast));
	assert_false(nip_eth_is_broadcast(ucast));
	assert_false(nip_eth_is_multicast(ucast));
	assert_false(nip_eth_is_broadcast(mcast));
	assert_true(nip_eth_is_multicast(mcast));
	assert_false(nip_eth_is_broadcast(almost));
	assert_true(nip_eth_is_multicast(almost));
	assert_false(nip_eth_is_broadcast(local));
	assert_false(nip_eth_is_multicast(local));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_parse_known_frame),
		cmocka_unit_test(test_eth_parse_header_only),
		cmocka_unit_test(test_eth_parse_refuses_every_truncation),
		cmocka_unit_test(test_eth_emit_writes_known_header),
		cmocka_unit_test(test_eth_emit_parse_round_trip),
		cmocka_unit_test(test_eth_broadcast_and_multicast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
