/* SPDX-License-Identifier: MIT */
/*
 * TCP between two catnip stacks over the in-memory test link with a virtual clock: bulk
 * transfers in each direction that must arrive byte-exact (the receiver checks every byte
 * against the sender's generator, and both sides' stream hashes must agree), on a clean link
 * and under loss with reordering, duplication and corruption, with NewReno and CUBIC; then the
 * close handshake, and no buffer or connection may leak.
 *
 * Recovery must also be quick, not merely correct: each case bounds the virtual time of each
 * transfer and the retransmissions per frame the link lost, so that losing SACK or
 * out-of-order reassembly (which still delivers every byte, after many timeouts) fails. The
 * clock is virtual, so each seed gives the same numbers on any machine; the bounds leave
 * margin over the spread measured across seeds (see struct limits).
 *
 * TCP_TRANSFER_MIB sets the size of each transfer (default 64; the time bounds scale with it).
 * TCP_TRANSFER_SEED adds to every case's seed (default 0), to measure the spread.
 * TCP_TRANSFER_FILTER runs only the cases matching a cmocka pattern (e.g. "*loss1*").
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "dev/test_link.h"
#include "stack.h"
#include "tcp/tcp.h"

#define US 1000ull
#define MS 1000000ull
#define IP_A 0x0a000001u /* 10.0.0.1, host order */
#define IP_B 0x0a000002u
#define PORT 5001
#define PUSH_BYTES (64 * 1024)

struct net {
	struct demi__pool pool;
	uint64_t now;
	struct nip_test_wire wire;
	struct nip_stack a, b;
};

static struct net *net_create(const struct nip_test_faults *faults, const char *cc, uint64_t seed)
{
	struct net *n = calloc(1, sizeof(*n));
	struct nip_stack_config cfg;

	assert_non_null(n);
	assert_int_equal(demi__pool_init(&n->pool, 0), 0);
	nip_test_wire_init(&n->wire, &n->pool, &n->now, 1500, seed);
	if (faults)
		n->wire.faults = *faults;
	/* NewReno runs send by copying payloads into frames, CUBIC runs by chaining them. */
	if (!strcmp(cc, "newreno")) {
		n->wire.end[0].link.offloads &= ~NIP_OFF_TX_CHAIN;
		n->wire.end[1].link.offloads &= ~NIP_OFF_TX_CHAIN;
	}
	nip_stack_config_default(&cfg);
	cfg.tcp.cc = nip_tcp_cc_find(cc);
	assert_non_null(cfg.tcp.cc);
	memset(cfg.tcp.isn_secret, 0x5c, sizeof(cfg.tcp.isn_secret));
	cfg.ip = htonl(IP_A);
	assert_int_equal(nip_stack_init(&n->a, nip_test_link(&n->wire, 0), &cfg), 0);
	cfg.ip = htonl(IP_B);
	assert_int_equal(nip_stack_init(&n->b, nip_test_link(&n->wire, 1), &cfg), 0);
	/* Static ARP: the transfers are about TCP. */
	assert_int_equal(nip_arp_add_static(&n->a, htonl(IP_B), n->wire.end[1].link.mac), 0);
	assert_int_equal(nip_arp_add_static(&n->b, htonl(IP_A), n->wire.end[0].link.mac), 0);
	return n;
}

static void net_destroy(struct net *n)
{
	nip_stack_fini(&n->a);
	nip_stack_fini(&n->b);
	nip_test_wire_fini(&n->wire);
	assert_int_equal(n->pool.stats.bufs_in_use, 0); /* nothing leaked */
	demi__pool_fini(&n->pool);
	free(n);
}

static void run(struct net *n, uint64_t step)
{
	n->now += step;
	nip_stack_poll(&n->a, n->now);
	nip_stack_poll(&n->b, n->now);
}

/* When nothing moves, the clock jumps to the next thing due (a frame or a timer) instead of
 * creeping in 10 us steps through a retransmission timeout. */
static uint64_t next_step(const struct net *n)
{
	uint64_t next = UINT64_MAX;
	const struct nip_stack *st[2] = {&n->a, &n->b};

	for (int i = 0; i < 2; i++) {
		const struct nip_test_end *e = &n->wire.end[i];

		if (e->count && e->q[e->head].due < next)
			next = e->q[e->head].due;
		uint64_t d = nip_stack_next_deadline(st[i]);

		if (d < next)
			next = d;
	}
	if (next == UINT64_MAX || next <= n->now + 10 * US)
		return 10 * US;
	return next - n->now;
}

/* xorshift64* stream: what the sender sends and the receiver expects. */
struct gen {
	uint64_t state;
	uint64_t word;
	int left;
};

static uint8_t gen_next(struct gen *g)
{
	if (!g->left) {
		g->state ^= g->state >> 12;
		g->state ^= g->state << 25;
		g->state ^= g->state >> 27;
		g->word = g->state * 2685821657736338717ull;
		g->left = 8;
	}
	g->left--;
	return (uint8_t)(g->word >> (8 * g->left));
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void connect_pair(struct net *n, struct nip_tcp_conn **cli, struct nip_tcp_conn **srv)
{
	struct nip_tcp_conn *l = nip_tcp_create(&n->b, NULL, NULL);
	struct nip_tcp_conn *c = nip_tcp_create(&n->a, NULL, NULL);
	struct nip_tcp_conn *s = NULL;

	assert_non_null(l);
	assert_non_null(c);
	assert_int_equal(nip_tcp_bind(l, 0, PORT, false), 0);
	assert_int_equal(nip_tcp_listen(l, 16), 0);
	assert_int_equal(nip_tcp_connect(c, htonl(IP_B), PORT), 0);
	for (int i = 0; i < 200000 && !(s = nip_tcp_accept(l)); i++)
		run(n, 10 * US);
	assert_non_null(s);
	for (int i = 0; i < 200000 && c->state != NIP_TCP_ESTABLISHED; i++)
		run(n, 10 * US);
	assert_int_equal(c->state, NIP_TCP_ESTABLISHED);
	assert_int_equal(s->state, NIP_TCP_ESTABLISHED);
	nip_tcp_close(l);
	*cli = c;
	*srv = s;
}

static void dump_one(const char *who, const struct nip_tcp_conn *c)
{
	printf("# %s %s una %u nxt %u max %u sq %u wnd %u cwnd %u ssth %u | rcv_nxt %u adv %u "
	       "reass %u/%u rq %u | rec %d dup %u sb %u/%u rto %llu timers %llu %llu %llu\n",
	       who, nip_tcp_state_name(c->state), c->snd_una - c->iss, c->snd_nxt - c->iss,
	       c->snd_max - c->iss, c->sq_bytes, c->snd_wnd, c->cc.cwnd, c->cc.ssthresh,
	       c->rcv_nxt - c->irs, c->rcv_adv - c->irs, c->reass.nsegs, c->reass.bytes,
	       c->rq_bytes, c->in_recovery, c->dupacks, c->sb.n, c->sb.sacked,
	       (unsigned long long)c->rto, (unsigned long long)c->timer[0],
	       (unsigned long long)c->timer[1], (unsigned long long)c->timer[2]);
}

static void dump(struct net *n, const struct nip_tcp_conn *tx, const struct nip_tcp_conn *rx)
{
	printf("# t=%llu\n", (unsigned long long)n->now);
	dump_one("tx", tx);
	dump_one("rx", rx);
}

/*
 * What a case tolerates, for each 64 MiB transfer (the time scales with the size, plus up to a
 * second for the timeouts that do not shrink with it): secs, virtual seconds per transfer;
 * retx, retransmitted segments (both ends) per frame the link dropped or corrupted (both
 * directions); rto, retransmission timeouts (both ends) per such frame. Measured over seeds
 * 0-700 (TCP_TRANSFER_SEED 0, 100, ..., 700) with SACK and reassembly working, and with each
 * broken on purpose (no SACK blocks sent; every out-of-order segment dropped):
 *
 *   loss  working                     no SACK blocks              no reassembly
 *         secs     retx      rto      secs       retx  rto        secs        retx   rto
 *   1%    0.52-1.3 0.80-0.86 0-0.003  18-23      0.77  0.11-0.12  229-252     11-12  ~1.0
 *   5%    35-78    0.67-0.68 .03-.05  277-293    0.75  0.22-0.23  2457-4066   3.8-4  0.72
 *   10%   617-2257 0.69-0.70 .10-.13  12126-18368 0.79 0.29       193k-201k   2.34   0.64
 *
 * A clean link loses nothing and must retransmit nothing.
 */
struct limits {
	double secs;
	double retx;
	double rto;
};

static const struct limits limits_clean = {0.1, 0, 0};
static const struct limits limits_loss1 = {4, 1.5, 0.03};
static const struct limits limits_loss5 = {160, 1.5, 0.12};
static const struct limits limits_loss10 = {6000, 1.5, 0.2};

/* The virtual time a transfer of total bytes may take. */
static uint64_t time_limit(const struct limits *lim, uint64_t total)
{
	double secs = lim->secs * (double)total / (64 << 20) + (lim->secs < 1 ? lim->secs : 1.0);

	return (uint64_t)(secs * 1e9);
}

/* Sends total bytes from tx to rx; checks every byte, and that it takes at most max_ns of
 * virtual time (failing as soon as it is over, not after hours of a broken recovery). Returns
 * the virtual time it took. */
static uint64_t transfer(struct net *n, struct nip_tcp_conn *tx, struct nip_tcp_conn *rx,
			 uint64_t total, uint64_t seed, uint64_t max_ns)
{
	struct gen gs = {.state = seed}, gr = {.state = seed};
	uint64_t sent = 0, got = 0, hs = 0xcbf29ce484222325ull, hr = hs, start = n->now;
	uint64_t idle = 0;

	while (got < total) {
		int progress = 0, st;
		struct demi__buf *b;

		while (sent < total && nip_tcp_writable(tx)) {
			uint32_t len =
				total - sent < PUSH_BYTES ? (uint32_t)(total - sent) : PUSH_BYTES;

			b = demi__pool_get(&n->pool, len);
			assert_non_null(b);
			for (uint32_t i = 0; i < len; i++)
				demi__buf_data(b)[i] = gen_next(&gs);
			hs = fnv(hs, demi__buf_data(b), len);
			assert_int_equal(nip_tcp_send(tx, b, demi__buf_data(b), len), 0);
			sent += len;
			progress = 1;
		}
		while ((b = nip_tcp_recv(rx, &st))) {
			const uint8_t *p = demi__buf_data(b);

			for (uint32_t i = 0; i < b->len; i++)
				if (p[i] != gen_next(&gr))
					fail_msg("byte %llu differs",
						 (unsigned long long)(got + i));
			hr = fnv(hr, p, b->len);
			got += b->len;
			demi__buf_put(b);
			progress = 1;
		}
		assert_int_equal(st, 0);
		assert_int_equal(tx->err, 0);
		idle = progress ? 0 : idle + 1;
		if (getenv("TCP_DEBUG") && idle && idle % 20000 == 0)
			dump(n, tx, rx);
		/* 10 minutes of virtual time without progress is a hang. */
		assert_true(idle < 1000000);
		if (n->now - start > max_ns)
			fail_msg(
				"%llu of %llu bytes delivered after %.3f s virtual, more than the "
				"%.3f s this loss rate allows: loss recovery (SACK, reassembly) is "
				"slower than it was",
				(unsigned long long)got, (unsigned long long)total,
				(n->now - start) / 1e9, max_ns / 1e9);
		run(n, progress ? 10 * US : next_step(n));
	}
	assert_int_equal(got, total);
	assert_true(hs == hr);
	return n->now - start;
}

/* Both close; both ends must end (TIME-WAIT shortened by the clock running on). */
static void close_pair(struct net *n, struct nip_tcp_conn *c, struct nip_tcp_conn *s)
{
	struct demi__buf *b;
	int st = 0;

	nip_tcp_close(c);
	for (int i = 0; i < 2000000 && st != 1; i++) {
		run(n, 10 * US);
		b = nip_tcp_recv(s, &st);
		assert_null(b);
	}
	assert_int_equal(st, 1); /* end of stream after all data */
	nip_tcp_close(s);
	/* Past 2 MSL (60 s) with the clock in large steps. */
	for (int i = 0; i < 200; i++)
		run(n, 1000 * MS);
	assert_int_equal(n->a.tcp.nconns, 0);
	assert_int_equal(n->b.tcp.nconns, 0);
}

static uint64_t transfer_bytes(void)
{
	const char *e = getenv("TCP_TRANSFER_MIB");

	return (e ? strtoull(e, NULL, 10) : 64) << 20;
}

static uint64_t seed_offset(void)
{
	const char *e = getenv("TCP_TRANSFER_SEED");

	return e ? strtoull(e, NULL, 10) : 0;
}

/* The retransmissions and timeouts per frame lost. */
static void check_limits(const struct net *n, const struct limits *lim)
{
	uint64_t lost = n->wire.end[0].stats.dropped + n->wire.end[1].stats.dropped +
			n->wire.end[0].stats.corrupted + n->wire.end[1].stats.corrupted;
	uint64_t retx = n->a.cnt.tcp_retransmits + n->b.cnt.tcp_retransmits;
	uint64_t rto = n->a.cnt.tcp_rto_timeouts + n->b.cnt.tcp_rto_timeouts;

	printf("# %llu frames lost: %.3f retransmissions (at most %.3f) and %.4f timeouts (at "
	       "most %.4f) per loss\n",
	       (unsigned long long)lost, lost ? (double)retx / lost : 0.0, lim->retx,
	       lost ? (double)rto / lost : 0.0, lim->rto);
	if (retx > lim->retx * (double)lost)
		fail_msg("%llu retransmissions for %llu frames lost: more than %.2f per loss",
			 (unsigned long long)retx, (unsigned long long)lost, lim->retx);
	if (rto > lim->rto * (double)lost)
		fail_msg("%llu retransmission timeouts for %llu frames lost: more than %.4f per "
			 "loss; recovery without timeouts (SACK, reassembly) is failing",
			 (unsigned long long)rto, (unsigned long long)lost, lim->rto);
}

/* ring: the test link's tx_per_poll (0: no limit). */
static void one_case(uint32_t loss_ppm, const char *cc, uint64_t seed, uint32_t ring,
		     const struct limits *lim)
{
	struct nip_test_faults f = {
		.drop_ppm = loss_ppm,
		.dup_ppm = loss_ppm / 4,
		.reorder_ppm = loss_ppm,
		.corrupt_ppm = loss_ppm / 4,
		.delay_ns = 50 * US,
		.jitter_ns = 10 * US,
		.tx_per_poll = ring,
	};
	struct net *n;
	struct nip_tcp_conn *c, *s;
	uint64_t total = transfer_bytes(), t1, t2;

	seed += seed_offset();
	n = net_create(&f, cc, seed);
	connect_pair(n, &c, &s);
	t1 = transfer(n, c, s, total, seed * 3 + 1, time_limit(lim, total));
	t2 = transfer(n, s, c, total, seed * 5 + 7, time_limit(lim, total));
	printf("# %s loss %.1f%% seed %llu: %llu MiB each way in %.3f s + %.3f s virtual; "
	       "retransmits a %llu b %llu, fast %llu/%llu, rto %llu/%llu, corrupt drops %llu, "
	       "zero-copy segments %llu, device refusals %llu (waits %llu, drops %llu)\n",
	       cc, loss_ppm / 10000.0, (unsigned long long)seed, (unsigned long long)(total >> 20),
	       t1 / 1e9, t2 / 1e9, (unsigned long long)n->a.cnt.tcp_retransmits,
	       (unsigned long long)n->b.cnt.tcp_retransmits,
	       (unsigned long long)n->a.cnt.tcp_fast_retransmits,
	       (unsigned long long)n->b.cnt.tcp_fast_retransmits,
	       (unsigned long long)n->a.cnt.tcp_rto_timeouts,
	       (unsigned long long)n->b.cnt.tcp_rto_timeouts,
	       (unsigned long long)(n->a.cnt.drop_tcp_bad[NIP_TCP_BAD_CSUM] +
				    n->b.cnt.drop_tcp_bad[NIP_TCP_BAD_CSUM]),
	       (unsigned long long)(n->a.cnt.tcp_tx_zero_copy + n->b.cnt.tcp_tx_zero_copy),
	       (unsigned long long)(n->wire.end[0].stats.refused + n->wire.end[1].stats.refused),
	       (unsigned long long)(n->a.cnt.tx_deferred + n->b.cnt.tx_deferred),
	       (unsigned long long)(n->a.cnt.drop_tx_full + n->b.cnt.drop_tx_full));
	if (strcmp(cc, "newreno"))
		assert_true(n->a.cnt.tcp_tx_zero_copy > 0 && n->b.cnt.tcp_tx_zero_copy > 0);
	else
		assert_true(n->a.cnt.tcp_tx_zero_copy == 0 && n->b.cnt.tcp_tx_zero_copy == 0);
	if (ring) {
		/* A full ring is back-pressure: the device refused frames, nothing was lost, so a
		 * clean link needs no retransmission. */
		assert_true(n->wire.end[0].stats.refused > 0 && n->wire.end[1].stats.refused > 0);
		assert_true(n->a.cnt.tx_deferred > 0 && n->b.cnt.tx_deferred > 0);
		assert_int_equal(n->a.cnt.drop_tx_full + n->b.cnt.drop_tx_full, 0);
		if (loss_ppm == 0)
			assert_int_equal(n->a.cnt.tcp_retransmits + n->b.cnt.tcp_retransmits, 0);
	}
	check_limits(n, lim);
	close_pair(n, c, s);
	net_destroy(n);
}

static void test_tcp_transfer_clean_newreno(void **state)
{
	(void)state;
	one_case(0, "newreno", 1, 0, &limits_clean);
}

static void test_tcp_transfer_clean_cubic(void **state)
{
	(void)state;
	one_case(0, "cubic", 2, 0, &limits_clean);
}

static void test_tcp_transfer_loss1_newreno(void **state)
{
	(void)state;
	one_case(10000, "newreno", 3, 0, &limits_loss1);
}

static void test_tcp_transfer_loss1_cubic(void **state)
{
	(void)state;
	one_case(10000, "cubic", 4, 0, &limits_loss1);
}

static void test_tcp_transfer_loss5_newreno(void **state)
{
	(void)state;
	one_case(50000, "newreno", 5, 0, &limits_loss5);
}

static void test_tcp_transfer_loss5_cubic(void **state)
{
	(void)state;
	one_case(50000, "cubic", 6, 0, &limits_loss5);
}

static void test_tcp_transfer_loss10_newreno(void **state)
{
	(void)state;
	one_case(100000, "newreno", 7, 0, &limits_loss10);
}

static void test_tcp_transfer_loss10_cubic(void **state)
{
	(void)state;
	one_case(100000, "cubic", 8, 0, &limits_loss10);
}

/* A transmit ring of 8 frames per poll, far below a window's worth of segments. */
static void test_tcp_transfer_ring_full_newreno(void **state)
{
	(void)state;
	one_case(0, "newreno", 9, 8, &limits_clean);
}

static void test_tcp_transfer_ring_full_cubic(void **state)
{
	(void)state;
	one_case(0, "cubic", 10, 8, &limits_clean);
}

/* And with loss: the waits and the recovery together. */
static void test_tcp_transfer_ring_full_loss1_cubic(void **state)
{
	(void)state;
	one_case(10000, "cubic", 11, 8, &limits_loss1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_transfer_clean_newreno),
		cmocka_unit_test(test_tcp_transfer_clean_cubic),
		cmocka_unit_test(test_tcp_transfer_loss1_newreno),
		cmocka_unit_test(test_tcp_transfer_loss1_cubic),
		cmocka_unit_test(test_tcp_transfer_loss5_newreno),
		cmocka_unit_test(test_tcp_transfer_loss5_cubic),
		cmocka_unit_test(test_tcp_transfer_loss10_newreno),
		cmocka_unit_test(test_tcp_transfer_loss10_cubic),
		cmocka_unit_test(test_tcp_transfer_ring_full_newreno),
		cmocka_unit_test(test_tcp_transfer_ring_full_cubic),
		cmocka_unit_test(test_tcp_transfer_ring_full_loss1_cubic),
	};

	if (getenv("TCP_TRANSFER_FILTER"))
		cmocka_set_test_filter(getenv("TCP_TRANSFER_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
