/* SPDX-License-Identifier: MIT */
/*
 * The fault wrapper (catnip/dev/fault_link.c) around a scripted inner link: rates stay near
 * what was asked for a fixed seed, reordering and delay lose nothing, corrupted frames lose the
 * device's checksum flags, a full inner ring reaches the caller, the configuration builds the
 * wrapper only when asked, and no buffer leaks. Then the stack's use of the device's flags
 * (link.h NIP_RXF_*): a frame marked bad is dropped, one marked good is trusted, an unmarked
 * one is checked in software (ip4.c).
 */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dev/fault_link.h"
#include "stack.h"
#include "udp.h"
#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/udp.h"

#define N_IN 4096

/* The inner link: rx hands out frames queued in in[], tx keeps what it takes in out[]. */
struct fake {
	struct nip_link link;
	struct demi__pool *pool;
	struct demi__buf *in[N_IN];
	int nin, in_pos;
	struct demi__buf *out[4 * N_IN];
	int nout;
	int tx_room; /* frames tx takes before refusing; < 0 = unlimited */
};

static int fake_rx(void *dev, struct demi__buf **bufs, int n)
{
	struct fake *k = dev;
	int got = 0;

	while (got < n && k->in_pos < k->nin)
		bufs[got++] = k->in[k->in_pos++];
	return got;
}

static int fake_tx(void *dev, struct demi__buf **bufs, int n)
{
	struct fake *k = dev;

	if (k->tx_room >= 0 && n > k->tx_room)
		n = k->tx_room;
	if (k->tx_room >= 0)
		k->tx_room -= n;
	for (int i = 0; i < n; i++)
		k->out[k->nout++] = bufs[i];
	return n;
}

static struct demi__buf *fake_alloc(void *dev, size_t size)
{
	struct fake *k = dev;

	return demi__pool_get(k->pool, size);
}

static const struct nip_link_ops fake_ops = {fake_rx, fake_tx, fake_alloc};

struct fx {
	struct demi__pool pool;
	struct fake k;
	struct nip_fault_link f;
	uint64_t now;
};

static uint64_t fx_now(void *arg)
{
	return *(const uint64_t *)arg;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(demi__pool_init(&x->pool, 0), 0);
	x->k.link.ops = &fake_ops;
	x->k.link.dev = &x->k;
	x->k.link.mtu = 1500;
	x->k.pool = &x->pool;
	x->k.tx_room = -1;
	nip_fault_link_init(&x->f, &x->k.link, &x->pool, 7, fx_now, &x->now);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	nip_fault_link_fini(&x->f);
	for (int i = x->k.in_pos; i < x->k.nin; i++)
		demi__buf_put(x->k.in[i]);
	for (int i = 0; i < x->k.nout; i++)
		demi__buf_put(x->k.out[i]);
	assert_int_equal(x->pool.stats.bufs_in_use, 0); /* no buffer leaked */
	demi__pool_fini(&x->pool);
	free(x);
	return 0;
}

/* An IPv4-looking frame of 100 bytes carrying its number at byte 40. */
static struct demi__buf *frame(struct fx *x, uint32_t seq)
{
	struct demi__buf *b = demi__pool_get(&x->pool, 100);
	uint8_t *d = demi__buf_data(b);

	memset(d, 0, 100);
	d[12] = 0x08;
	memcpy(d + 40, &seq, 4);
	return b;
}

static uint32_t seq_of(const struct demi__buf *b)
{
	uint32_t s;

	memcpy(&s, demi__buf_data(b) + 40, 4);
	return s;
}

/* Sends n numbered frames through the wrapper's transmit side, one burst of up to 32 per
 * poll, then polls until nothing is held. */
static void send_all(struct fx *x, int n)
{
	struct demi__buf *bufs[32];
	struct demi__buf *none[1];

	for (int i = 0; i < n;) {
		int k = 0;

		while (k < 32 && i + k < n) {
			bufs[k] = frame(x, (uint32_t)(i + k));
			k++;
		}
		assert_int_equal(x->f.link.ops->tx_burst(x->f.link.dev, bufs, k), k);
		i += k;
		assert_int_equal(x->f.link.ops->rx_burst(x->f.link.dev, none, 1), 0);
	}
	for (int i = 0; i < 8; i++) {
		x->now += 1000000;
		x->f.link.ops->rx_burst(x->f.link.dev, none, 1);
	}
}

static void test_fault_drop_rate_within_bounds(void **state)
{
	struct fx *x = *state;

	x->f.tx.p.drop_ppm = 100000; /* 10% */
	send_all(x, 4 * N_IN);
	/* 16384 frames at 10%: the mean is 1638, 5 sigma ~ 190. */
	assert_in_range(x->f.tx.st.dropped, 1450, 1830);
	assert_int_equal(x->k.nout + (int)x->f.tx.st.dropped, 4 * N_IN);
}

static void test_fault_dup_adds_copies(void **state)
{
	struct fx *x = *state;

	x->f.tx.p.dup_ppm = 50000;
	send_all(x, N_IN);
	assert_in_range(x->f.tx.st.duplicated, 140, 270);
	assert_int_equal(x->k.nout, N_IN + (int)x->f.tx.st.duplicated);
}

static void test_fault_reorder_keeps_all_frames(void **state)
{
	struct fx *x = *state;
	static uint8_t seen[N_IN];
	int late = 0;

	memset(seen, 0, sizeof(seen));
	x->f.tx.p.reorder_ppm = 200000;
	send_all(x, N_IN);
	assert_in_range(x->f.tx.st.reordered, 700, 950);
	assert_int_equal(x->k.nout, N_IN);
	for (int i = 0; i < x->k.nout; i++) {
		uint32_t s = seq_of(x->k.out[i]);

		assert_true(s < N_IN);
		assert_int_equal(seen[s], 0);
		seen[s] = 1;
		late += i > 0 && s < seq_of(x->k.out[i - 1]);
	}
	assert_true(late > 0);
}

static void test_fault_delay_holds_frames_until_due(void **state)
{
	struct fx *x = *state;
	struct demi__buf *b[2] = {frame(x, 0), frame(x, 1)}, *got[4];

	x->f.rx.p.delay_ns = 50000;
	x->f.rx.p.jitter_ns = 10000;
	x->k.in[x->k.nin++] = b[0];
	x->k.in[x->k.nin++] = b[1];
	assert_int_equal(x->f.link.ops->rx_burst(x->f.link.dev, got, 4), 0);
	x->now += 49999;
	assert_int_equal(x->f.link.ops->rx_burst(x->f.link.dev, got, 4), 0);
	x->now += 10001;
	assert_int_equal(x->f.link.ops->rx_burst(x->f.link.dev, got, 4), 2);
	assert_int_equal(seq_of(got[0]), 0); /* jitter does not reorder */
	assert_int_equal(seq_of(got[1]), 1);
	demi__buf_put(got[0]);
	demi__buf_put(got[1]);
}

static void test_fault_corrupt_clears_device_flags(void **state)
{
	struct fx *x = *state;
	struct demi__buf *got[64];
	int n, corrupted = 0;

	x->f.rx.p.corrupt_ppm = 300000;
	for (int i = 0; i < 64; i++) {
		struct demi__buf *b = frame(x, (uint32_t)i);

		b->priv = NIP_RXF_IP4_CSUM_GOOD | NIP_RXF_L4_CSUM_GOOD;
		x->k.in[x->k.nin++] = b;
	}
	n = x->f.link.ops->rx_burst(x->f.link.dev, got, 64);
	assert_int_equal(n, 64);
	for (int i = 0; i < n; i++) {
		struct demi__buf *clean = frame(x, seq_of(got[i]));
		bool same = !memcmp(demi__buf_data(clean), demi__buf_data(got[i]), 100);

		/* A damaged byte may hit the sequence number: compare with the frame it names. */
		if (!same || got[i]->priv == 0) {
			assert_int_equal(got[i]->priv, 0);
			corrupted++;
		} else {
			assert_int_equal(got[i]->priv,
					 NIP_RXF_IP4_CSUM_GOOD | NIP_RXF_L4_CSUM_GOOD);
		}
		demi__buf_put(clean);
		demi__buf_put(got[i]);
	}
	assert_int_equal(corrupted, (int)x->f.rx.st.corrupted);
	assert_true(corrupted > 5);
}

static void test_fault_full_inner_ring_refuses(void **state)
{
	struct fx *x = *state;
	struct demi__buf *bufs[32];
	int took;

	x->f.tx.p.dup_ppm = 1; /* faults on, none drawn in practice */
	x->k.tx_room = 10;
	for (int i = 0; i < 32; i++)
		bufs[i] = frame(x, (uint32_t)i);
	took = x->f.link.ops->tx_burst(x->f.link.dev, bufs, 32);
	assert_int_equal(took, 10);
	assert_int_equal(x->k.nout, 10);
	/* Still full: nothing taken. */
	assert_int_equal(x->f.link.ops->tx_burst(x->f.link.dev, bufs + 10, 22), 0);
	x->k.tx_room = -1;
	assert_int_equal(x->f.link.ops->tx_burst(x->f.link.dev, bufs + 10, 22), 22);
	assert_int_equal(x->k.nout, 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(seq_of(x->k.out[i]), i);
}

static void test_fault_from_config(void **state)
{
	struct fx *x = *state;
	struct demi__config cfg = {0};
	struct nip_fault_link *f;

	assert_int_equal(
		nip_fault_link_from_config(&f, &cfg, &x->k.link, &x->pool, fx_now, &x->now), 0);
	assert_null(f); /* off: not wrapped at all */
	assert_int_equal(demi__config_load_string(&cfg,
						  "catnip:\n  fault:\n    drop_pct: 1.5\n"
						  "    reorder_pct: 2\n    delay_us: 30\n"
						  "    direction: rx\n",
						  "test"),
			 0);
	assert_int_equal(
		nip_fault_link_from_config(&f, &cfg, &x->k.link, &x->pool, fx_now, &x->now), 0);
	assert_non_null(f);
	assert_int_equal(f->rx.p.drop_ppm, 15000);
	assert_int_equal(f->rx.p.reorder_ppm, 20000);
	assert_int_equal(f->rx.p.delay_ns, 30000);
	assert_int_equal(f->tx.p.drop_ppm, 0);
	assert_int_equal(f->link.mtu, 1500);
	nip_fault_link_destroy(f);
	demi__config_fini(&cfg);
	assert_int_equal(
		demi__config_load_string(&cfg, "catnip:\n  fault:\n    dup_pct: 101\n", "test"), 0);
	assert_int_equal(
		nip_fault_link_from_config(&f, &cfg, &x->k.link, &x->pool, fx_now, &x->now),
		-EINVAL);
	demi__config_fini(&cfg);
}

/* ---- the stack and the device's checksum flags ---- */

#define IP_US 0x0a000001u
#define IP_PEER 0x0a000002u

/* A UDP datagram to port 7 of the stack, checksums right unless bad_udp; priv = flags. */
static struct demi__buf *udp_frame(struct fx *x, bool bad_udp, uint64_t flags)
{
	struct demi__buf *b = demi__pool_get(&x->pool, 14 + 20 + 8 + 4);
	uint8_t *d = demi__buf_data(b);
	struct nip_ip4 ip = {.src = htonl(IP_PEER), .dst = htonl(IP_US), .proto = 17, .ttl = 64};

	nip_eth_emit(d, x->k.link.mac, x->k.link.mac, NIP_ETHERTYPE_IPV4);
	memcpy(d + 42, "ping", 4);
	nip_udp_emit(d + 34, 1000, 7, ip.src, ip.dst, 4, false);
	nip_ip4_emit(d + 14, &ip, 12, false);
	if (bad_udp)
		d[42] ^= 1;
	b->priv = flags;
	return b;
}

static void test_stack_rx_csum_flags(void **state)
{
	struct fx *x = *state;
	struct nip_stack s;
	struct nip_stack_config cfg;
	struct nip_udp_sock u;
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;

	nip_stack_config_default(&cfg);
	cfg.ip = htonl(IP_US);
	assert_int_equal(nip_stack_init(&s, &x->k.link, &cfg), 0);
	nip_udp_sock_init(&u, &s);
	assert_int_equal(nip_udp_bind(&u, 0, 7), 0);
	/* Unmarked: checked in software. */
	nip_stack_input(&s, udp_frame(x, false, 0));
	nip_stack_input(&s, udp_frame(x, true, 0));
	assert_int_equal(s.cnt.udp_rx, 1);
	assert_int_equal(s.cnt.drop_udp_bad, 1);
	/* Marked bad by the device: dropped although right. */
	nip_stack_input(&s, udp_frame(x, false, NIP_RXF_L4_CSUM_BAD));
	assert_int_equal(s.cnt.drop_udp_bad, 2);
	nip_stack_input(&s, udp_frame(x, false, NIP_RXF_IP4_CSUM_BAD));
	assert_int_equal(s.cnt.drop_ip4[NIP_IP4_CSUM], 1);
	/* Marked good: trusted, not checked again. */
	nip_stack_input(&s, udp_frame(x, true, NIP_RXF_IP4_CSUM_GOOD | NIP_RXF_L4_CSUM_GOOD));
	assert_int_equal(s.cnt.udp_rx, 2);
	assert_int_equal(s.cnt.drop_udp_bad, 2);
	while ((d = nip_udp_recv(&u, &from, &port))) {
		assert_int_equal(from, htonl(IP_PEER));
		assert_int_equal(port, 1000);
		demi__buf_put(d);
	}
	nip_udp_close(&u);
	nip_stack_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fault_drop_rate_within_bounds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_dup_adds_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_reorder_keeps_all_frames, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_delay_holds_frames_until_due, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_corrupt_clears_device_flags, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_full_inner_ring_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_from_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stack_rx_csum_flags, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
