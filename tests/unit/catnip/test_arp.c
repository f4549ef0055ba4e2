/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/arp.c, ARP for IPv4 over Ethernet (RFC 826): a request
 * written by hand, emit/parse round trips, padding, every truncation, and the refusal of
 * other hardware/protocol types, address lengths and operations.
 */
#include <errno.h>
#include <string.h>

#include "wire_test.h"

#include "inet/wire/arp.h"

/* "Who has 192.168.1.1? Tell 192.168.1.100" from 52:54:00:12:34:56 (RFC 826 packet format). */
static const uint8_t who_has[NIP_ARP_LEN] = {
	0x00, 0x01,			    /* ar$hrd: Ethernet */
	0x08, 0x00,			    /* ar$pro: IPv4 */
	0x06,				    /* ar$hln */
	0x04,				    /* ar$pln */
	0x00, 0x01,			    /* ar$op: request */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* ar$sha */
	0xc0, 0xa8, 0x01, 0x64,		    /* ar$spa: 192.168.1.100 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* ar$tha: unknown */
	0xc0, 0xa8, 0x01, 0x01,		    /* ar$tpa: 192.168.1.1 */
};

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static void test_arp_parse_known_request(void **state)
{
	uint8_t *p = exact_copy(who_has, sizeof(who_has));
	static const uint8_t zero[6];
	struct nip_arp a;

	(void)state;
	assert_int_equal(nip_arp_parse(p, sizeof(who_has), &a), 0);
	assert_int_equal(a.op, NIP_ARP_REQUEST);
	assert_memory_equal(a.sha, mac_a, 6);
	assert_int_equal(a.spa, ip4_addr(192, 168, 1, 100));
	assert_memory_equal(a.tha, zero, 6);
	assert_int_equal(a.tpa, ip4_addr(192, 168, 1, 1));
	free(p);
}

static void test_arp_emit_writes_known_request(void **state)
{
	struct nip_arp a = {.op = NIP_ARP_REQUEST,
			    .spa = ip4_addr(192, 168, 1, 100),
			    .tpa = ip4_addr(192, 168, 1, 1)};
	uint8_t buf[NIP_ARP_LEN + 1];

	(void)state;
	memcpy(a.sha, mac_a, 6);
	memset(buf, 0xa5, sizeof(buf));
	nip_arp_emit(buf, &a);
	assert_memory_equal(buf, who_has, NIP_ARP_LEN);
	assert_int_equal(buf[NIP_ARP_LEN], 0xa5);
}

static void test_arp_reply_round_trip(void **state)
{
	struct nip_arp a = {.op = NIP_ARP_REPLY,
			    .sha = {0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe},
			    .spa = ip4_addr(192, 168, 1, 1),
			    .tpa = ip4_addr(192, 168, 1, 100)};
	uint8_t buf[NIP_ARP_LEN];
	struct nip_arp b;

	(void)state;
	memcpy(a.tha, mac_a, 6);
	nip_arp_emit(buf, &a);
	assert_int_equal(get_be16(buf + 6), NIP_ARP_REPLY);
	assert_int_equal(nip_arp_parse(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.op, a.op);
	assert_memory_equal(b.sha, a.sha, 6);
	assert_int_equal(b.spa, a.spa);
	assert_memory_equal(b.tha, a.tha, 6);
	assert_int_equal(b.tpa, a.tpa);
}

static void test_arp_parse_refuses_every_truncation(void **state)
{
	(void)state;
	for (size_t n = 0; n < NIP_ARP_LEN; n++) {
		uint8_t *p = exact_copy(who_has, n);
		struct nip_arp a;

		assert_int_equal(nip_arp_parse(p, n, &a), -EINVAL);
		free(p);
	}
}

/* A minimum Ethernet frame carries 46 bytes: the 18 after the ARP packet are padding. */
static void test_arp_parse_ignores_padding(void **state)
{
	uint8_t buf[46];
	struct nip_arp a;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	memcpy(buf, who_has, sizeof(who_has));
	assert_int_equal(nip_arp_parse(buf, sizeof(buf), &a), 0);
	assert_int_equal(a.tpa, ip4_addr(192, 168, 1, 1));
}

static void assert_field_refused(size_t off, uint8_t val, int err)
{
	uint8_t buf[NIP_ARP_LEN];
	struct nip_arp a;

	memcpy(buf, who_has, sizeof(buf));
	buf[off] = val;
	assert_int_equal(nip_arp_parse(buf, sizeof(buf), &a), err);
}

static void test_arp_parse_refuses_wrong_types_and_lengths(void **state)
{
	(void)state;
	assert_field_refused(1, 6, -EINVAL);	/* htype 6: IEEE 802 */
	assert_field_refused(0, 1, -EINVAL);	/* htype 0x0101 */
	assert_field_refused(2, 0x86, -EINVAL); /* ptype 0x86dd: IPv6 */
	assert_field_refused(3, 0x06, -EINVAL); /* ptype 0x0806 */
	assert_field_refused(4, 8, -EINVAL);	/* hlen 8 */
	assert_field_refused(4, 0, -EINVAL);	/* hlen 0 */
	assert_field_refused(5, 16, -EINVAL);	/* plen 16 */
	assert_field_refused(5, 0, -EINVAL);	/* plen 0 */
}

static void test_arp_parse_refuses_other_operations(void **state)
{
	(void)state;
	assert_field_refused(7, 0, -ENOTSUP); /* op 0 */
	assert_field_refused(7, 3, -ENOTSUP); /* RARP request */
	assert_field_refused(7, 4, -ENOTSUP); /* RARP reply */
	assert_field_refused(6, 1, -ENOTSUP); /* op 0x0101 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_parse_known_request),
		cmocka_unit_test(test_arp_emit_writes_known_request),
		cmocka_unit_test(test_arp_reply_round_trip),
		cmocka_unit_test(test_arp_parse_refuses_every_truncation),
		cmocka_unit_test(test_arp_parse_ignores_padding),
		cmocka_unit_test(test_arp_parse_refuses_wrong_types_and_lengths),
		cmocka_unit_test(test_arp_parse_refuses_other_operations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
