/* SPDX-License-Identifier: MIT */
/*
 * The TCP connection's cached route (tcp_output.c, ip4_route.h) on two stacks joined by the
 * test link, their mappings learned by ARP: once established, a connection's segments leave
 * through its route (Ethernet header from the peer's mapping, no ARP lookup), and the route is
 * given up whenever the mapping changes or expires:
 * - the peer's MAC moves (an ARP reply, then a static entry): the next segment goes to the
 *   new MAC, and back again;
 * - the mapping's age passes arp_ttl_ns: the next segment takes ARP's path, which sends the
 *   unicast renewal (RFC 1122 2.3.2.1), and the answer builds the route again.
 * Every case ends with no connection and no buffer leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "stack.h"
#include "tcp/tcp.h"
#include "two_stacks.h"

#define MS 1000000ull
#define IP_A 0x0a000001u /* 10.0.0.1, host order: the client */
#define IP_B 0x0a000002u /* the server */
#define PORT 7
#define TTL (1000 * MS) /* arp_ttl_ns of both stacks */

static const uint8_t mac_moved[6] = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x0b};
static const uint8_t mac_c[6] = {0x02, 0x00, 0x00, 0x00, 0x0c, 0x0c};

struct net {
	struct two_stacks st;
	struct nip_tcp_conn *ca, *cb; /* the connection's ends on a and on b */
	uint32_t sent, got;	      /* bytes a pushed, bytes b read */
};

/* b reads everything that arrived, checking the count. */
static void b_read(struct net *n)
{
	struct demi__buf *d;
	int st;

	while ((d = nip_tcp_recv(n->cb, &st))) {
		n->got += d->len;
		demi__buf_put(d);
	}
}

/* Runs until b has everything a pushed (at most a few seconds of virtual time). */
static void settle(struct net *n)
{
	for (int i = 0; i < 5000 && n->got < n->sent; i++) {
		two_stacks_run(&n->st, MS);
		b_read(n);
	}
	assert_int_equal(n->got, n->sent);
	two_stacks_run(&n->st, 300 * MS); /* past the delayed ACK: nothing left in flight */
}

/* a pushes 10 bytes, sent at once (nothing is in flight). */
static void a_push(struct net *n)
{
	struct demi__buf *b = demi__pool_get(&n->st.pool, 10);

	assert_non_null(b);
	memset(demi__buf_data(b), 0x5a, 10);
	assert_int_equal(nip_tcp_send(n->ca, b, demi__buf_data(b), 10), 0);
	n->sent += 10;
}

/* The destination MAC of the frame a sent last, still on the wire to b. */
static const uint8_t *last_dst(struct net *n)
{
	struct nip_test_end *e = &n->st.wire.end[1];

	nip_stack_flush(&n->st.a);
	assert_true(e->count > 0);
	return demi__buf_data(e->q[(e->head + e->count - 1) % NIP_TEST_QUEUE].buf);
}

static int setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	struct nip_stack_config a, b;
	struct nip_tcp_conn *l;

	assert_non_null(n);
	nip_stack_config_default(&a);
	memset(a.tcp.isn_secret, 0x5c, sizeof(a.tcp.isn_secret));
	a.arp_ttl_ns = TTL;
	b = a;
	a.ip = htonl(IP_A);
	b.ip = htonl(IP_B);
	two_stacks_up(&n->st, &a, &b);
	assert_non_null(l = nip_tcp_create(&n->st.b, NULL, NULL));
	assert_int_equal(nip_tcp_bind(l, 0, PORT, false), 0);
	assert_int_equal(nip_tcp_listen(l, 4), 0);
	assert_non_null(n->ca = nip_tcp_create(&n->st.a, NULL, NULL));
	n->ca->nodelay = true; /* a second small segment in flight goes at once */
	assert_int_equal(nip_tcp_connect(n->ca, htonl(IP_B), PORT), 0);
	for (int i = 0; i < 100 && !n->cb; i++) {
		two_stacks_run(&n->st, MS);
		n->cb = nip_tcp_accept(l);
	}
	assert_non_null(n->cb);
	nip_tcp_close(l);
	assert_int_equal(n->ca->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 1); /* the SYN's resolution */
	/* Established with the mapping known: the route is built, and data uses it. */
	assert_true(n->ca->route.ok);
	a_push(n);
	assert_memory_equal(last_dst(n), n->st.wire.end[1].link.mac, 6);
	settle(n);
	assert_true(n->ca->route.ok);
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct net *n = *state;

	nip_tcp_close(n->ca);
	nip_tcp_close(n->cb);
	two_stacks_tcp_down(&n->st);
	free(n);
	return 0;
}

/* The peer's MAC moves (its ARP reply says so, then a static entry): the next segment goes to
 * the new MAC; the old one back, and the data gets through. */
static void test_tcp_route_follows_moved_mac(void **state)
{
	struct net *n = *state;
	uint64_t lost;

	two_stacks_arp_reply(&n->st, &n->st.a, htonl(IP_B), mac_moved, htonl(IP_A));
	a_push(n);
	assert_memory_equal(last_dst(n), mac_moved, 6);
	assert_int_equal(nip_arp_add_static(&n->st.a, htonl(IP_B), mac_c), 0);
	a_push(n);
	assert_memory_equal(last_dst(n), mac_c, 6);
	two_stacks_run(&n->st, MS);
	lost = n->st.b.cnt.drop_eth_not_for_us;
	assert_int_equal(lost, 2); /* b has neither MAC */
	/* b's own MAC again: the retransmission reaches it. */
	assert_int_equal(nip_arp_add_static(&n->st.a, htonl(IP_B), n->st.wire.end[1].link.mac), 0);
	settle(n);
	assert_int_equal(n->st.b.cnt.drop_eth_not_for_us, lost);
	assert_true(n->ca->route.ok);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 1);
}

/* Past the mapping's expiry, the next segment takes ARP's path, which asks the peer to renew
 * it (unicast) and still sends the segment; the answer builds the route again, and the
 * segment after that sends no request. */
static void test_tcp_route_expiry_renews_mapping(void **state)
{
	struct net *n = *state;

	two_stacks_run(&n->st,
		       TTL); /* the mapping's age: arp_ttl_ns (settle already ran 300 ms more) */
	a_push(n);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 2); /* the renewal */
	assert_memory_equal(last_dst(n), n->st.wire.end[1].link.mac, 6);
	assert_false(n->ca->route.ok);
	settle(n); /* the answer: the mapping is usable again */
	a_push(n);
	assert_true(n->ca->route.ok); /* built again by this segment */
	assert_memory_equal(last_dst(n), n->st.wire.end[1].link.mac, 6);
	settle(n);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tcp_route_follows_moved_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_route_expiry_renews_mapping, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
