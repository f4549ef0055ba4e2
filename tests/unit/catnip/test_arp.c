/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of ARP for IPv4 over Ethernet (RFC 826).
 * catnip/inet/wire/arp.c: a request written by hand, emit/parse round trips, padding, every
 * truncation, and the refusal of other hardware/protocol types, address lengths and
 * operations.
 * catnip/inet/arp.c under floods, on a stack joined by the in-memory test link to a second
 * stack (the real peer, which answers ARP) and driven by a virtual clock: 10000 sends to
 * distinct addresses that never answer keep requests under the rate bound and resolutions and
 * queued frames under theirs, and every frame's sender hears of it once, counted by reason;
 * a peer that asks for us during the flood is answered at once, a peer in use is renewed as
 * its mapping expires, and a new peer resolves soon after the flood; a flood of requests
 * evicts neither static nor used mappings. Teardown checks that
 * no buffer leaked.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include "wire_test.h"

#include "inet/stack.h"
#include "two_stacks.h"
#include "inet/udp.h"
#include "inet/wire/arp.h"
#include "inet/wire/eth.h"

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

/* ---- catnip/inet/arp.c under floods ---- */

#define MS 1000000ull
#define IP_A 0x0a000001u	       /* 10.0.0.1, host order */
#define IP_B 0x0a000002u	       /* the real peer */
#define IP_STATIC 0x0a000077u	       /* a static entry */
#define FLOOD 10000u		       /* destinations that never answer */
#define FLOOD_MS 3000u		       /* sent within this much virtual time */
#define SPOOFED(i) (0x0a010001u + (i)) /* 10.1.0.1, ... */
#define PEER_BOUND_MS 100u	       /* a real peer is reached within this (arp.c) */

/* What the senders were told, by outcome; outstanding: frames nobody was told about yet. */
struct tally {
	uint32_t outstanding, max_outstanding;
	uint32_t ok, unreachable, no_buffers, other;
};

struct send_rec {
	struct tally *t;
	bool done;
	int err;
};

struct net {
	struct two_stacks st; /* b: the real peer */
	struct nip_udp_sock ua, ub;
	struct tally t;
	struct send_rec rec[FLOOD];
};

/* A (10.0.0.1) and B (10.0.0.2) on the test link; tweak (may be NULL) changes A's
 * configuration. */
static int net_up(void **state, void (*tweak)(struct nip_stack_config *))
{
	struct net *n = calloc(1, sizeof(*n));
	struct nip_stack_config a, b;

	assert_non_null(n);
	nip_stack_config_default(&a);
	a.ip = htonl(IP_A);
	b = a;
	b.ip = htonl(IP_B);
	if (tweak)
		tweak(&a);
	two_stacks_up(&n->st, &a, &b);
	nip_udp_sock_init(&n->ua, &n->st.a);
	nip_udp_sock_init(&n->ub, &n->st.b);
	assert_int_equal(nip_udp_bind(&n->ua, 0, 7), 0);
	assert_int_equal(nip_udp_bind(&n->ub, 0, 9), 0);
	*state = n;
	return 0;
}

static int setup(void **state)
{
	return net_up(state, NULL);
}

static void small_queue(struct nip_stack_config *cfg)
{
	cfg->arp_queued_max = 64;
	cfg->arp_pending_max = 16;
}

static int setup_small_queue(void **state)
{
	return net_up(state, small_queue);
}

static void short_ttl(struct nip_stack_config *cfg)
{
	cfg->arp_ttl_ns = 1000 * MS;
}

static int setup_short_ttl(void **state)
{
	return net_up(state, short_ttl);
}

static int teardown(void **state)
{
	struct net *n = *state;

	nip_udp_close(&n->ua);
	nip_udp_close(&n->ub);
	two_stacks_down(&n->st); /* frames still waiting for ARP: -ECANCELED */
	free(n);
	return 0;
}

static void on_sent(void *ctx, int err)
{
	struct send_rec *r = ctx;

	assert_false(r->done); /* told once */
	r->done = true;
	r->err = err;
	r->t->outstanding--;
	if (err == 0)
		r->t->ok++;
	else if (err == -EHOSTUNREACH)
		r->t->unreachable++;
	else if (err == -ENOBUFS)
		r->t->no_buffers++;
	else
		r->t->other++;
}

/* A sends a datagram to ip (host order) port 9; r learns the outcome. */
static void send_from_a(struct net *n, uint32_t ip, struct send_rec *r)
{
	static const char msg[] = "syn-ack";
	const void *p[] = {msg};
	uint32_t l[] = {sizeof(msg)};

	*r = (struct send_rec){.t = &n->t};
	n->t.outstanding++;
	int rc = nip_udp_send(&n->ua, htonl(ip), 9, p, l, 1, on_sent, r);

	assert_in_range(rc, 0, 1);
	if (n->t.outstanding > n->t.max_outstanding)
		n->t.max_outstanding = n->t.outstanding;
	if (rc == 1)
		on_sent(r, 0); /* queued at once (udp.c's route): the stack tells no one */
}

/* Advances the virtual clock by a millisecond and lets both stacks run. */
static void tick(struct net *n)
{
	n->st.now += MS;
	nip_stack_poll(&n->st.a, n->st.now);
	nip_stack_poll(&n->st.b, n->st.now);
}

/* Millisecond ms's share of the flood: FLOOD sends spread evenly over FLOOD_MS. */
static void flood_ms(struct net *n, uint32_t ms)
{
	for (uint32_t i = ms * FLOOD / FLOOD_MS; i < (ms + 1) * FLOOD / FLOOD_MS; i++)
		send_from_a(n, SPOOFED(i), &n->rec[i]);
}

/* The requests A's token bucket allows from start to now: a burst of a tenth of a second's
 * worth (8 at least), then the rate. */
static uint64_t request_bound(const struct net *n, uint64_t start)
{
	uint64_t rate = n->st.a.cfg.arp_request_rate;

	return (rate / 10 > 8 ? rate / 10 : 8) + rate * (n->st.now - start) / 1000000000ull;
}

/* Every resolution ends within arp_retries * arp_retry_ns (1 s by default). */
static void settle(struct net *n)
{
	uint64_t ms = n->st.a.cfg.arp_retries * n->st.a.cfg.arp_retry_ns / MS + 100;

	for (uint64_t i = 0; i < ms; i++)
		tick(n);
}

static void test_arp_flood_stays_within_bounds(void **state)
{
	struct net *n = *state;
	const struct nip_counters *c = &n->st.a.cnt;
	uint64_t start = n->st.now;

	for (uint32_t ms = 0; ms < FLOOD_MS; ms++) {
		flood_ms(n, ms);
		tick(n);
		assert_true(c->arp_requests_sent <= request_bound(n, start));
		/* One frame per address: frames waiting = addresses being resolved. */
		assert_true(n->t.outstanding <= n->st.a.cfg.arp_resolving_max);
	}
	settle(n);
	assert_true(c->arp_requests_sent <= request_bound(n, start));
	assert_true(c->drop_arp_rate_limited > 0); /* the flood outran the rate */
	assert_true(n->t.max_outstanding <= n->st.a.cfg.arp_resolving_max);
	assert_true(n->t.max_outstanding <= n->st.a.cfg.arp_queued_max);
	/* Every sender was told once: refused at once, or given up on; counted by reason. */
	assert_int_equal(n->t.outstanding, 0);
	assert_int_equal(n->t.ok, 0);
	assert_int_equal(n->t.other, 0);
	assert_int_equal(n->t.no_buffers + n->t.unreachable, FLOOD);
	assert_int_equal(n->t.no_buffers, c->drop_arp_rate_limited + c->drop_arp_resolving_full +
						  c->drop_arp_queue_full +
						  c->drop_arp_pending_full + c->arp_cache_full);
	assert_int_equal(n->t.unreachable, c->arp_failures + c->arp_evictions);
	/* The peer heard every request, none for it. */
	assert_int_equal(n->st.b.cnt.drop_arp_not_for_us, c->arp_requests_sent);
	assert_int_equal(n->st.b.cnt.arp_replies_sent, 0);
}

/* B asks for A in the middle of the flood, as a client does before its SYN: A learns B from
 * that request and answers B's datagram without asking anything. */
static void test_arp_flood_peer_that_asks_is_answered(void **state)
{
	struct net *n = *state;
	static const char ping[] = "ping";
	const void *p[] = {ping};
	uint32_t l[] = {sizeof(ping)};
	const uint32_t asked_at = FLOOD_MS / 2;
	uint32_t answered_at = 0, from;
	struct send_rec echo = {.err = 1};
	struct demi__buf *d;
	uint16_t port;

	for (uint32_t ms = 0; ms < FLOOD_MS; ms++) {
		flood_ms(n, ms);
		if (ms == asked_at)
			assert_int_equal(nip_udp_send(&n->ub, htonl(IP_A), 7, p, l, 1, NULL, NULL),
					 0);
		tick(n);
		while ((d = nip_udp_recv(&n->ua, &from, &port))) { /* A echoes */
			assert_int_equal(from, htonl(IP_B));
			demi__buf_put(d);
			send_from_a(n, IP_B, &echo);
		}
		while ((d = nip_udp_recv(&n->ub, &from, &port))) {
			if (!answered_at)
				answered_at = ms;
			demi__buf_put(d);
		}
	}
	assert_true(answered_at > asked_at);
	assert_true(answered_at - asked_at < PEER_BOUND_MS);
	assert_int_equal(echo.err, 0);
	assert_int_equal(n->st.b.cnt.arp_replies_sent, 0); /* A never had to ask for B */
}

/* Right after the flood (its resolutions still fill the table), A sends to B, which it has
 * never heard of; the sender tries again every 10 ms while refused, as TCP resends. */
static void test_arp_flood_then_new_peer_resolves(void **state)
{
	struct net *n = *state;
	struct send_rec r = {.done = true, .err = -ENOBUFS};
	bool got = false;
	struct demi__buf *d;
	uint32_t from, ms;
	uint16_t port;

	for (ms = 0; ms < FLOOD_MS; ms++) {
		flood_ms(n, ms);
		tick(n);
	}
	assert_int_equal(n->t.outstanding, n->st.a.cfg.arp_resolving_max);
	for (ms = 0; ms < PEER_BOUND_MS && !got; ms++) {
		if (r.done && r.err == -ENOBUFS && ms % 10 == 0)
			send_from_a(n, IP_B, &r);
		tick(n);
		while ((d = nip_udp_recv(&n->ub, &from, &port))) {
			got = true;
			demi__buf_put(d);
		}
	}
	assert_true(got);
	assert_true(r.done);
	assert_int_equal(r.err, 0);
}

/* A talks to B all through the flood while its mapping of B expires every second: the
 * mapping stays in use while a request to B's MAC renews it, which the flood's requests
 * cannot starve, so no datagram to B is refused or delayed. */
static void test_arp_flood_keeps_peer_in_use(void **state)
{
	struct net *n = *state;
	uint32_t sent = 0, got = 0, from;
	struct send_rec r;
	struct demi__buf *d;
	uint16_t port;

	send_from_a(n, IP_B, &r);
	for (int i = 0; i < 5; i++)
		tick(n);
	assert_int_equal(r.err, 0);
	for (uint32_t ms = 0; ms < FLOOD_MS; ms++) {
		flood_ms(n, ms);
		if (ms % 10 == 0) {
			send_from_a(n, IP_B, &r);
			assert_true(r.done); /* sent at once */
			assert_int_equal(r.err, 0);
			sent++;
		}
		tick(n);
		while ((d = nip_udp_recv(&n->ub, &from, &port))) {
			got++;
			demi__buf_put(d);
		}
	}
	assert_int_equal(got, sent + 1);
	assert_true(n->st.a.cnt.drop_arp_rate_limited > 0); /* the flood outran the rate */
	/* B answered the first broadcast and a renewal for each expiry (at 1 s and 2 s). */
	assert_true(n->st.b.cnt.arp_replies_sent >= 3);
}

/* 64 frame slots, 16 per address: 20 frames to each of 10 addresses fill four addresses'
 * queues, then the stack-wide pool; the other six cannot even start a resolution. */
static void test_arp_queued_frames_bounded(void **state)
{
	struct net *n = *state;
	const struct nip_counters *c = &n->st.a.cnt;
	uint32_t k = 0;

	for (uint32_t a = 0; a < 10; a++)
		for (uint32_t f = 0; f < 20; f++)
			send_from_a(n, SPOOFED(a), &n->rec[k++]);
	assert_int_equal(n->t.max_outstanding, 64);
	assert_int_equal(c->drop_arp_pending_full, 4 * 4);
	assert_int_equal(c->drop_arp_queue_full, 200 - 64 - 16);
	assert_int_equal(c->arp_requests_sent, 4);
	settle(n);
	assert_int_equal(n->t.outstanding, 0);
	assert_int_equal(n->t.unreachable, 64);
	assert_int_equal(n->t.no_buffers, 200 - 64);
	/* Every slot came back: a new address gets its full queue. */
	for (uint32_t f = 0; f < 20; f++)
		send_from_a(n, SPOOFED(100), &n->rec[k++]);
	assert_int_equal(n->t.outstanding, 16);
}

/* A broadcast "who has A? tell spa at mac", as it reaches A. */
static void request_to_a(struct net *n, uint32_t spa, const uint8_t mac[6])
{
	struct nip_link *l = nip_test_link(&n->st.wire, 0);
	struct demi__buf *f = l->ops->alloc(l->dev, NIP_ETH_HLEN + NIP_ARP_LEN);
	struct nip_arp a = {.op = NIP_ARP_REQUEST, .spa = htonl(spa), .tpa = htonl(IP_A)};

	assert_non_null(f);
	memcpy(a.sha, mac, 6);
	nip_eth_emit(demi__buf_data(f), nip_eth_broadcast, mac, NIP_ETHERTYPE_ARP);
	nip_arp_emit(demi__buf_data(f) + NIP_ETH_HLEN, &a);
	nip_stack_input(&n->st.a, f);
}

/* 10000 requests from distinct senders (ten times the cache) leave the static entry and the
 * mapping A sends to in place: the learned ones make room among themselves. */
static void test_arp_request_flood_keeps_static_and_used(void **state)
{
	struct net *n = *state;
	static const uint8_t static_mac[6] = {0x02, 0, 0, 0, 0, 0x77};
	const uint8_t *mac_b = nip_test_link(&n->st.wire, 1)->mac;
	uint8_t mac[6], spoofed_mac[6] = {0x02, 0xee, 0, 0, 0, 0};
	struct send_rec r;
	uint64_t requests;

	assert_int_equal(nip_arp_add_static(&n->st.a, htonl(IP_STATIC), static_mac), 0);
	send_from_a(n, IP_B, &r);
	for (int i = 0; i < 5; i++)
		tick(n);
	assert_int_equal(r.err, 0);
	for (uint32_t i = 0; i < FLOOD; i++) {
		spoofed_mac[4] = (uint8_t)(i >> 8);
		spoofed_mac[5] = (uint8_t)i;
		request_to_a(n, SPOOFED(i), spoofed_mac);
		if (i % 4 == 3)
			tick(n);
	}
	assert_true(nip_arp_lookup(&n->st.a, htonl(IP_STATIC), mac));
	assert_memory_equal(mac, static_mac, 6);
	assert_true(nip_arp_lookup(&n->st.a, htonl(IP_B), mac));
	assert_memory_equal(mac, mac_b, 6);
	/* Every sender was learned (the latest is still there) and answered. */
	assert_true(nip_arp_lookup(&n->st.a, htonl(SPOOFED(FLOOD - 1)), mac));
	assert_memory_equal(mac, spoofed_mac, 6);
	assert_int_equal(n->st.a.cnt.arp_cache_full, 0);
	assert_int_equal(n->st.a.cnt.arp_replies_sent, FLOOD);
	/* Sending to B still needs no request. */
	requests = n->st.a.cnt.arp_requests_sent;
	send_from_a(n, IP_B, &r);
	tick(n);
	assert_int_equal(r.err, 0);
	assert_int_equal(n->st.a.cnt.arp_requests_sent, requests);
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
		cmocka_unit_test_setup_teardown(test_arp_flood_stays_within_bounds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_flood_peer_that_asks_is_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_flood_then_new_peer_resolves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_flood_keeps_peer_in_use, setup_short_ttl,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_queued_frames_bounded, setup_small_queue,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_request_flood_keeps_static_and_used, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
