/* SPDX-License-Identifier: MIT */
/*
 * Two catnip stacks joined by the in-memory test link, driven by a virtual clock: ARP
 * resolution (and its failure), ICMP echo, and a UDP echo that must deliver every request
 * byte-exact under loss, duplication, reordering, corruption and delay (the client resends
 * on a timeout, as any UDP application must). No buffer may leak.
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
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp4.h"
#include "wire/ip4.h"

#define MS 1000000ull
#define IP_A 0x0a000001u /* 10.0.0.1, host order */
#define IP_B 0x0a000002u

static int setup(void **state)
{
	struct two_stacks *n = calloc(1, sizeof(*n));
	struct nip_stack_config a, b;

	nip_stack_config_default(&a);
	a.ip = htonl(IP_A);
	b = a;
	b.ip = htonl(IP_B);
	two_stacks_up(n, &a, &b);
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	two_stacks_down(*state);
	free(*state);
	return 0;
}

/* Advances the virtual clock by step and lets both stacks run. */
static void run(struct two_stacks *n, uint64_t step)
{
	n->now += step;
	nip_stack_poll(&n->a, n->now);
	nip_stack_poll(&n->b, n->now);
}

static void record(void *ctx, int err)
{
	*(int *)ctx = err;
}

static void test_stack_arp_resolves_and_queues(void **state)
{
	struct two_stacks *n = *state;
	struct nip_udp_sock ua, ub;
	const char msg[] = "hello";
	const void *p[] = {msg};
	uint32_t l[] = {sizeof(msg)};
	uint32_t from;
	uint16_t port;
	int sent = 1;
	uint8_t mac[6];

	nip_udp_sock_init(&ua, &n->a);
	nip_udp_sock_init(&ub, &n->b);
	assert_int_equal(nip_udp_bind(&ub, 0, 7), 0);
	assert_false(nip_arp_lookup(&n->a, htonl(IP_B), mac));
	assert_int_equal(nip_udp_send(&ua, htonl(IP_B), 7, p, l, 1, record, &sent), 0);
	assert_int_equal(sent, 1); /* waiting for ARP */
	for (int i = 0; i < 5; i++)
		run(n, 1 * MS);
	assert_int_equal(sent, 0);
	assert_true(nip_arp_lookup(&n->a, htonl(IP_B), mac));
	assert_memory_equal(mac, nip_test_link(&n->wire, 1)->mac, 6);
	/* B learned A from the request (RFC 826 merge). */
	assert_true(nip_arp_lookup(&n->b, htonl(IP_A), mac));
	struct demi__buf *d = nip_udp_recv(&ub, &from, &port);
	assert_non_null(d);
	assert_int_equal(d->len, sizeof(msg));
	assert_memory_equal(demi__buf_data(d), msg, sizeof(msg));
	assert_int_equal(from, htonl(IP_A));
	assert_int_equal(port, ua.local_port);
	assert_true(port >= 49152);
	demi__buf_put(d);
	assert_int_equal(n->a.cnt.arp_requests_sent, 1);
	assert_int_equal(n->b.cnt.arp_replies_sent, 1);
	nip_udp_close(&ua);
	nip_udp_close(&ub);
}

static void test_stack_arp_failure_reaches_the_sender(void **state)
{
	struct two_stacks *n = *state;
	struct nip_udp_sock ua;
	const char msg[] = "nobody";
	const void *p[] = {msg};
	uint32_t l[] = {sizeof(msg)};
	int sent = 1;

	nip_udp_sock_init(&ua, &n->a);
	assert_int_equal(nip_udp_send(&ua, htonl(0x0a000063), 9, p, l, 1, record, &sent), 0);
	for (int i = 0; i < 20 && sent == 1; i++)
		run(n, 100 * MS);
	assert_int_equal(sent, -EHOSTUNREACH);
	assert_int_equal(n->a.cnt.arp_requests_sent, n->a.cfg.arp_retries);
	assert_int_equal(n->a.cnt.arp_failures, 1);
	nip_udp_close(&ua);
}

static void test_stack_udp_rejects_oversized(void **state)
{
	struct two_stacks *n = *state;
	struct nip_udp_sock ua;
	static uint8_t big[1473];
	const void *p[] = {big};
	uint32_t l[] = {sizeof(big)};

	nip_udp_sock_init(&ua, &n->a);
	assert_int_equal(nip_udp_max_payload(&n->a), 1472);
	assert_int_equal(nip_udp_send(&ua, htonl(IP_B), 7, p, l, 1, NULL, NULL), -EMSGSIZE);
	l[0] = 1472;
	assert_int_equal(nip_udp_send(&ua, htonl(IP_B), 7, p, l, 1, NULL, NULL), 0);
	for (int i = 0; i < 5; i++)
		run(n, MS);
	assert_int_equal(n->b.cnt.drop_udp_no_socket, 1); /* nobody on port 7: counted */
	nip_udp_close(&ua);
}

static void test_stack_answers_ping(void **state)
{
	struct two_stacks *n = *state;
	uint8_t mac[6];
	struct demi__buf *f;
	uint8_t *p;
	const char payload[] = "ping payload";
	size_t icmp_len = NIP_ICMP4_HLEN + sizeof(payload);

	/* Make A know B (a static entry), then hand-build an echo request from A to B. */
	assert_int_equal(nip_arp_add_static(&n->a, htonl(IP_B), nip_test_link(&n->wire, 1)->mac),
			 0);
	f = demi__pool_get(&n->pool, NIP_ETH_HLEN + NIP_IP4_HLEN + icmp_len);
	p = demi__buf_data(f) + NIP_ETH_HLEN + NIP_IP4_HLEN;
	memset(p, 0, NIP_ICMP4_HLEN);
	p[0] = NIP_ICMP4_ECHO_REQUEST;
	p[4] = 0x12;
	p[5] = 0x34;
	p[7] = 1;
	memcpy(p + NIP_ICMP4_HLEN, payload, sizeof(payload));
	uint32_t sum = nip_csum_add(0, p, icmp_len);
	uint16_t c = nip_csum_fold(sum);
	memcpy(p + 2, &c, 2);
	nip_ip4_output(&n->a, f, htonl(IP_B), NIP_IPPROTO_ICMP, (uint16_t)icmp_len, NULL, NULL);
	for (int i = 0; i < 5; i++)
		run(n, MS);
	assert_int_equal(n->b.cnt.icmp_echo_replies, 1);
	/* A has no ICMP client: the reply arrives and is counted as an ICMP type it ignores. */
	assert_int_equal(n->a.cnt.drop_icmp_type, 1);
	assert_true(nip_arp_lookup(&n->b, htonl(IP_A), mac));
}

/* Echo under faults: client on A resends each request until its echo comes back. */
static void echo_under_faults(struct two_stacks *n, uint32_t loss_ppm, int requests)
{
	struct nip_udp_sock ua, ub;
	uint8_t req[1472], got[1472];
	int done = 0, resends = 0;

	n->wire.faults = (struct nip_test_faults){.drop_ppm = loss_ppm,
						  .dup_ppm = loss_ppm / 2,
						  .reorder_ppm = loss_ppm,
						  .corrupt_ppm = loss_ppm / 2,
						  .delay_ns = 50000,
						  .jitter_ns = 20000};
	nip_udp_sock_init(&ua, &n->a);
	nip_udp_sock_init(&ub, &n->b);
	assert_int_equal(nip_udp_bind(&ub, 0, 7), 0);
	assert_int_equal(nip_udp_bind(&ua, 0, 0), 0);
	for (int r = 0; r < requests; r++) {
		size_t len = 1 + (size_t)(r * 7919) % sizeof(req);
		for (size_t i = 0; i < len; i++)
			req[i] = (uint8_t)(r * 31 + i);
		memcpy(req, &r, sizeof(r) < len ? sizeof(r) : len);
		const void *p[] = {req};
		uint32_t l[] = {(uint32_t)len};
		bool echoed = false;
		for (int attempt = 0; attempt < 500 && !echoed; attempt++) {
			if (attempt)
				resends++;
			/* 1 once the route is known: queued at once. */
			assert_in_range(nip_udp_send(&ua, htonl(IP_B), 7, p, l, 1, NULL, NULL), 0,
					1);
			for (int t = 0; t < 40 && !echoed; t++) {
				struct demi__buf *d;
				uint32_t from;
				uint16_t port;
				run(n, 25000);
				/* Server: echo everything back to its sender. */
				while ((d = nip_udp_recv(&ub, &from, &port))) {
					const void *ep[] = {demi__buf_data(d)};
					uint32_t el[] = {d->len};
					nip_udp_send(&ub, from, port, ep, el, 1, NULL, NULL);
					demi__buf_put(d);
				}
				/* Client: accept only the echo of this request (late or duplicated
				 * echoes of earlier ones are skipped). */
				while ((d = nip_udp_recv(&ua, &from, &port))) {
					if (d->len == len && !memcmp(demi__buf_data(d), req, len)) {
						memcpy(got, demi__buf_data(d), len);
						echoed = true;
					}
					demi__buf_put(d);
				}
			}
		}
		assert_true(echoed);
		assert_memory_equal(got, req, len);
		done++;
	}
	assert_int_equal(done, requests);
	if (loss_ppm) {
		assert_true(n->wire.end[0].stats.dropped + n->wire.end[1].stats.dropped > 0);
		assert_true(resends > 0);
		/* Corruption is caught by checksums or address checks, never delivered. */
		uint64_t caught = 0;
		for (int s = 0; s < 2; s++) {
			struct nip_stack *st = s ? &n->b : &n->a;
			caught += st->cnt.drop_udp_bad + st->cnt.drop_eth_not_for_us +
				  st->cnt.drop_eth_type + st->cnt.drop_ip4_not_for_us +
				  st->cnt.drop_udp_no_socket + st->cnt.drop_arp_bad +
				  st->cnt.drop_ip4_proto;
			for (int e = 0; e < NIP_IP4_NERR; e++)
				caught += st->cnt.drop_ip4[e];
		}
		assert_true(caught > 0);
	}
	nip_udp_close(&ua);
	nip_udp_close(&ub);
}

static void test_stack_udp_echo_clean(void **state)
{
	echo_under_faults(*state, 0, 300);
}

static void test_stack_udp_echo_10pct_faults(void **state)
{
	echo_under_faults(*state, 100000, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stack_arp_resolves_and_queues, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stack_arp_failure_reaches_the_sender, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stack_udp_rejects_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stack_answers_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stack_udp_echo_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stack_udp_echo_10pct_faults, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
