/* SPDX-License-Identifier: MIT */
/*
 * The UDP socket's cached route (udp.c, ip4_route.h) on two stacks joined by the test link:
 * once the peer's mapping is known, a datagram to the same destination is queued at once
 * (nip_udp_send returns 1) with exactly the bytes the general path writes; and the route is
 * given up whenever what it was built from changes: the peer's MAC (an ARP reply, a static
 * entry), the destination address or port, the socket's own port, the mapping's expiry (the
 * unicast renewal of RFC 1122 2.3.2.1 must still go out), and the link's MTU is still
 * checked. A link that refuses the frame tells the sender once. No buffer may leak.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "stack.h"
#include "two_stacks.h"
#include "udp.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/udp.h"

#define MS 1000000ull
#define IP_A 0x0a000001u /* 10.0.0.1, host order */
#define IP_B 0x0a000002u
#define IP_C 0x0a000003u /* no stack: a static entry */
#define HDRS (NIP_ETH_HLEN + NIP_IP4_HLEN + NIP_UDP_HLEN)

static const uint8_t mac_moved[6] = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x0b};
static const uint8_t mac_c[6] = {0x02, 0x00, 0x00, 0x00, 0x0c, 0x0c};

struct net {
	struct two_stacks st;
	struct nip_udp_sock ua, ub, ub2; /* A's client; B on ports 9 and 10 */
	int told, err;			 /* callback calls and the last error */
};

static int net_up(void **state, uint64_t arp_ttl_ns)
{
	struct net *n = calloc(1, sizeof(*n));
	struct nip_stack_config a, b;

	assert_non_null(n);
	nip_stack_config_default(&a);
	a.ip = htonl(IP_A);
	if (arp_ttl_ns)
		a.arp_ttl_ns = arp_ttl_ns;
	b = a;
	b.ip = htonl(IP_B);
	two_stacks_up(&n->st, &a, &b);
	nip_udp_sock_init(&n->ua, &n->st.a);
	nip_udp_sock_init(&n->ub, &n->st.b);
	nip_udp_sock_init(&n->ub2, &n->st.b);
	assert_int_equal(nip_udp_bind(&n->ua, 0, 7), 0);
	assert_int_equal(nip_udp_bind(&n->ub, 0, 9), 0);
	assert_int_equal(nip_udp_bind(&n->ub2, 0, 10), 0);
	*state = n;
	return 0;
}

static int setup(void **state)
{
	return net_up(state, 0);
}

static int setup_short_ttl(void **state)
{
	return net_up(state, 1000 * MS);
}

static int teardown(void **state)
{
	struct net *n = *state;

	nip_udp_close(&n->ua);
	nip_udp_close(&n->ub);
	nip_udp_close(&n->ub2);
	two_stacks_down(&n->st);
	free(n);
	return 0;
}

static void on_sent(void *ctx, int err)
{
	struct net *n = ctx;

	n->told++;
	n->err = err;
}

/* A sends len bytes (a pattern) from port 7 to ip:port; returns nip_udp_send's result. */
static int send_a(struct net *n, uint32_t ip, uint16_t port, uint32_t len)
{
	static uint8_t msg[1500];
	const void *p[] = {msg};
	uint32_t l[] = {len};

	for (uint32_t i = 0; i < len; i++)
		msg[i] = (uint8_t)(i * 7 + port);
	return nip_udp_send(&n->ua, htonl(ip), port, p, l, 1, on_sent, n);
}

static void run(struct net *n, uint64_t step)
{
	n->st.now += step;
	nip_stack_poll(&n->st.a, n->st.now);
	nip_stack_poll(&n->st.b, n->st.now);
}

/* The route to B:9 built: the first datagram waited for ARP, the second went at once. */
static void route_to_b(struct net *n)
{
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;

	assert_int_equal(send_a(n, IP_B, 9, 10), 0);
	run(n, MS);
	run(n, MS);
	assert_int_equal(n->told, 1);
	assert_int_equal(n->err, 0);
	assert_int_equal(send_a(n, IP_B, 9, 10), 1);
	run(n, MS);
	for (int i = 0; i < 2; i++) {
		assert_non_null(d = nip_udp_recv(&n->ub, &from, &port));
		assert_int_equal(from, htonl(IP_A));
		assert_int_equal(port, 7);
		demi__buf_put(d);
	}
	assert_int_equal(n->told, 1); /* the second one was not told: it was queued */
}

/* The frame A sent last, still on the wire to B (A flushed it, B has not polled). */
static const uint8_t *last_frame(struct net *n)
{
	struct nip_test_end *e = &n->st.wire.end[1];

	nip_stack_flush(&n->st.a);
	assert_true(e->count > 0);
	return demi__buf_data(e->q[(e->head + e->count - 1) % NIP_TEST_QUEUE].buf);
}

/* The RFC 1071 sum of n bytes, big-endian 16-bit words, an odd last byte padded with zero:
 * written here, not taken from the stack, so that a wrong checksum of the stack's fails. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return sum;
}

/* A's UDP header (port 7 to port) of len payload bytes, which follow it, to ip, with its
 * checksum (RFC 768: over a pseudo-header, the header and the payload; 0 is sent as 0xffff). */
static void expected_udp(uint8_t *u, uint32_t ip, uint16_t port, uint32_t len)
{
	uint16_t ulen = (uint16_t)(NIP_UDP_HLEN + len);
	uint8_t pseudo[12] = {IP_A >> 24, (IP_A >> 16) & 0xff, (IP_A >> 8) & 0xff, IP_A & 0xff,
			      ip >> 24,	  (ip >> 16) & 0xff,   (ip >> 8) & 0xff,   ip & 0xff,
			      0,	  NIP_IPPROTO_UDP,     ulen >> 8,	   ulen & 0xff};
	uint32_t sum;

	u[0] = 0;
	u[1] = 7;
	u[2] = (uint8_t)(port >> 8);
	u[3] = (uint8_t)port;
	u[4] = (uint8_t)(ulen >> 8);
	u[5] = (uint8_t)ulen;
	u[6] = u[7] = 0;
	sum = sum16(sum16(0, pseudo, sizeof(pseudo)), u, ulen);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	if (!sum)
		sum = 0xffff;
	u[6] = (uint8_t)(sum >> 8);
	u[7] = (uint8_t)sum;
}

/* The frame A's datagram of len bytes to ip:port, with IPv4 identification id, to eth_dst
 * must be: the general path's Ethernet and IPv4 headers, and the UDP header built above. */
static void expected_frame(struct net *n, uint8_t *f, const uint8_t eth_dst[6], uint32_t ip,
			   uint16_t port, uint32_t len, uint16_t id)
{
	struct nip_ip4 h = {.src = htonl(IP_A),
			    .dst = htonl(ip),
			    .proto = NIP_IPPROTO_UDP,
			    .ttl = 64,
			    .id = id};

	for (uint32_t i = 0; i < len; i++)
		f[HDRS + i] = (uint8_t)(i * 7 + port);
	nip_eth_emit(f, eth_dst, n->st.a.link->mac, NIP_ETHERTYPE_IPV4);
	nip_ip4_emit(f + NIP_ETH_HLEN, &h, (uint16_t)(NIP_UDP_HLEN + len), false);
	expected_udp(f + NIP_ETH_HLEN + NIP_IP4_HLEN, ip, port, len);
}

/* Every length up to the MTU's, odd ones too: the template's frame is the general path's,
 * byte for byte, and B accepts each one. */
static void test_udp_route_frame_same_as_general_path(void **state)
{
	struct net *n = *state;
	static uint8_t want[HDRS + 1472];

	route_to_b(n);
	for (uint32_t len = 0; len <= 1472; len += len < 80 ? 1 : 97) {
		uint16_t id = n->st.a.ip_id;
		struct demi__buf *d;
		uint32_t from;
		uint16_t port;

		assert_int_equal(send_a(n, IP_B, 9, len), 1);
		expected_frame(n, want, n->st.wire.end[1].link.mac, IP_B, 9, len, id);
		assert_memory_equal(last_frame(n), want, HDRS + len);
		run(n, MS);
		assert_non_null(d = nip_udp_recv(&n->ub, &from, &port));
		assert_int_equal(d->len, len);
		demi__buf_put(d);
	}
	assert_int_equal(n->st.b.cnt.drop_udp_bad, 0);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 1);
}

/* The peer's MAC moves (its ARP reply says so): the next datagram goes to the new MAC. */
static void test_udp_route_follows_moved_mac(void **state)
{
	struct net *n = *state;

	route_to_b(n);
	two_stacks_arp_reply(&n->st, &n->st.a, htonl(IP_B), mac_moved, htonl(IP_A));
	assert_int_equal(send_a(n, IP_B, 9, 10), 1);
	assert_memory_equal(last_frame(n), mac_moved, 6);
	/* A static entry overrides the mapping: followed too. */
	assert_int_equal(nip_arp_add_static(&n->st.a, htonl(IP_B), mac_c), 0);
	assert_int_equal(send_a(n, IP_B, 9, 10), 1);
	assert_memory_equal(last_frame(n), mac_c, 6);
	run(n, MS);
	assert_int_equal(n->st.b.cnt.drop_eth_not_for_us, 2); /* B no longer has those MACs */
}

/* Another port, then another address, then back: each datagram goes where it was sent. */
static void test_udp_route_other_destination(void **state)
{
	struct net *n = *state;
	static uint8_t want[HDRS + 10];
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;
	uint16_t id;

	route_to_b(n);
	id = n->st.a.ip_id;
	assert_int_equal(send_a(n, IP_B, 10, 10), 1);
	expected_frame(n, want, n->st.wire.end[1].link.mac, IP_B, 10, 10, id);
	assert_memory_equal(last_frame(n), want, sizeof(want));
	assert_int_equal(nip_arp_add_static(&n->st.a, htonl(IP_C), mac_c), 0);
	id = n->st.a.ip_id;
	assert_int_equal(send_a(n, IP_C, 9, 10), 1);
	expected_frame(n, want, mac_c, IP_C, 9, 10, id);
	assert_memory_equal(last_frame(n), want, sizeof(want));
	id = n->st.a.ip_id;
	assert_int_equal(send_a(n, IP_B, 9, 10), 1);
	expected_frame(n, want, n->st.wire.end[1].link.mac, IP_B, 9, 10, id);
	assert_memory_equal(last_frame(n), want, sizeof(want));
	run(n, MS);
	assert_non_null(d = nip_udp_recv(&n->ub2, &from, &port));
	demi__buf_put(d);
	assert_non_null(d = nip_udp_recv(&n->ub, &from, &port));
	demi__buf_put(d);
	assert_null(nip_udp_recv(&n->ub, &from, &port));
}

/* The socket closes and binds another port: its datagrams carry the new one. */
static void test_udp_route_follows_rebind(void **state)
{
	struct net *n = *state;
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;

	route_to_b(n);
	nip_udp_close(&n->ua);
	assert_int_equal(nip_udp_bind(&n->ua, 0, 5555), 0);
	assert_int_equal(send_a(n, IP_B, 9, 10), 1);
	run(n, MS);
	assert_non_null(d = nip_udp_recv(&n->ub, &from, &port));
	assert_int_equal(port, 5555);
	demi__buf_put(d);
}

/* Past the mapping's expiry, the next datagram takes ARP's path, which asks the peer to
 * renew it (unicast); its answer builds the route again. */
static void test_udp_route_expiry_renews_mapping(void **state)
{
	struct net *n = *state;

	route_to_b(n);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 1);
	run(n, 1000 * MS); /* the mapping's age: arp_ttl_ns */
	assert_int_equal(send_a(n, IP_B, 9, 10), 0);
	assert_int_equal(n->told, 2); /* sent to the MAC still in use, and told so */
	assert_int_equal(n->err, 0);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 2);
	run(n, MS);
	run(n, MS);
	assert_int_equal(send_a(n, IP_B, 9, 10), 1);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 2);
}

/* A smaller MTU refuses what no longer fits, route or not, and sends what does. */
static void test_udp_route_mtu_checked(void **state)
{
	struct net *n = *state;
	struct nip_link *l = n->st.a.link;
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;

	route_to_b(n);
	l->mtu = 576;
	assert_int_equal(send_a(n, IP_B, 9, 549), -EMSGSIZE);
	assert_int_equal(send_a(n, IP_B, 9, 548), 1);
	run(n, MS);
	assert_non_null(d = nip_udp_recv(&n->ub, &from, &port));
	assert_int_equal(d->len, 548);
	demi__buf_put(d);
	l->mtu = 1500;
}

/* A link whose ring is full refuses what the route queues: the sender is told, once each. */
static void test_udp_route_link_full_tells_sender(void **state)
{
	struct net *n = *state;
	int queued = 0;

	route_to_b(n);
	n->st.wire.faults.tx_per_poll = 1;
	n->told = 0;
	for (int i = 0; i < 2 * NIP_TXQ; i++) {
		int rc = send_a(n, IP_B, 9, 10);

		assert_in_range(rc, 0, 1);
		queued += rc;
	}
	assert_int_equal(queued + n->told, 2 * NIP_TXQ);
	assert_true(n->told > 0);
	assert_int_equal(n->err, -ENOBUFS);
	assert_int_equal(n->st.a.cnt.drop_tx_full, (uint64_t)n->told);
	n->st.wire.faults.tx_per_poll = 0;
	for (int i = 0; i < 10; i++)
		run(n, MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_udp_route_frame_same_as_general_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_udp_route_follows_moved_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_route_other_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_route_follows_rebind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_route_expiry_renews_mapping,
						setup_short_ttl, teardown),
		cmocka_unit_test_setup_teardown(test_udp_route_mtu_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_route_link_full_tells_sender, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
