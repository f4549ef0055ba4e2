/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/tcp/cc*.c, congestion control: the initial window of RFC 6928,
 * NewReno (RFC 5681 3.1 with RFC 3465 byte counting, RFC 6582 recovery) and CUBIC (RFC 9438),
 * driven ACK by ACK on a virtual clock. CUBIC's window is compared with W_cubic(t) computed
 * here straight from RFC 9438 figures 1 and 2 in segments and seconds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "inet/tcp/cc.h"

#define MSS 1460u
#define MS 1000000ull /* ns */
#define SEC 1000000000ull
#define T0 (1000 * SEC) /* a virtual clock that does not start at 0 */

static const struct nip_tcp_cc_ops *const algs[] = {&nip_cc_newreno, &nip_cc_cubic};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

/*
 * One round trip of a sender that keeps its window full: cwnd bytes (as at the start of the
 * round) are ACKed in pieces of chunk bytes, spread over the round, each ACK seeing
 * flight = cwnd. Returns the time at the end of the round.
 */
static uint64_t round_trip(const struct nip_tcp_cc_ops *ops, struct nip_tcp_cc *cc, uint32_t chunk,
			   uint64_t now, uint64_t rtt)
{
	uint32_t left = cc->cwnd, n = (cc->cwnd + chunk - 1) / chunk, i = 0;

	while (left) {
		uint32_t a = left < chunk ? left : chunk;

		i++;
		ops->on_ack(cc, a, cc->cwnd, rtt, now + rtt * i / n);
		left -= a;
	}
	return now + rtt;
}

/* RFC 9438 figure 1, in segments, t in seconds. */
static double ref_w_cubic(double t, double k, double w_max)
{
	return 0.4 * (t - k) * (t - k) * (t - k) + w_max;
}

/* RFC 9438 figure 2. */
static double ref_k(double w_max, double cwnd_epoch)
{
	return cbrt((w_max - cwnd_epoch) / 0.4);
}

static void test_cc_find(void **state)
{
	(void)state;
	assert_ptr_equal(nip_tcp_cc_find("newreno"), &nip_cc_newreno);
	assert_ptr_equal(nip_tcp_cc_find("cubic"), &nip_cc_cubic);
	assert_string_equal(nip_cc_newreno.name, "newreno");
	assert_string_equal(nip_cc_cubic.name, "cubic");
	assert_null(nip_tcp_cc_find("reno"));
	assert_null(nip_tcp_cc_find("CUBIC"));
	assert_null(nip_tcp_cc_find(""));
	assert_null(nip_tcp_cc_find(NULL));
}

/* RFC 6928 section 2: min(10 * MSS, max(2 * MSS, 14600)). */
static void test_cc_initial_window(void **state)
{
	static const uint32_t mss[] = {536, 1460, 8960, 1, 7300, 7301};
	static const uint32_t iw[] = {5360, 14600, 17920, 10, 14600, 14602};

	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		for (size_t i = 0; i < sizeof(mss) / sizeof(mss[0]); i++) {
			struct nip_tcp_cc cc;

			memset(&cc, 0xa5, sizeof(cc));
			algs[a]->init(&cc, mss[i], T0);
			assert_int_equal(cc.cwnd, iw[i]);
			assert_int_equal(cc.ssthresh, UINT32_MAX);
			assert_int_equal(cc.mss, mss[i]);
			assert_int_equal(cc.bytes_acked, 0);
			assert_int_equal(cc.epoch_start, 0);
		}
	}
}

/* Slow start doubles the window every round trip, with an ACK per segment or per two. */
static void test_cc_slow_start_doubles_per_rtt(void **state)
{
	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		for (uint32_t chunk = MSS; chunk <= 2 * MSS; chunk += MSS) {
			struct nip_tcp_cc cc;
			uint64_t now = T0;

			algs[a]->init(&cc, MSS, now);
			for (int r = 1; r <= 8; r++) {
				now = round_trip(algs[a], &cc, chunk, now, 50 * MS);
				assert_int_equal(cc.cwnd, (14600u << r));
			}
		}
	}
}

/* RFC 3465 L = 2: an ACK covering many segments grows the window by 2 SMSS at most. */
static void test_cc_slow_start_abc_limit(void **state)
{
	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		struct nip_tcp_cc cc;

		algs[a]->init(&cc, MSS, T0);
		algs[a]->on_ack(&cc, 10 * MSS, cc.cwnd, 0, T0);
		assert_int_equal(cc.cwnd, 14600 + 2 * MSS);
		algs[a]->on_ack(&cc, 100, cc.cwnd, 0, T0);
		assert_int_equal(cc.cwnd, 14600 + 2 * MSS + 100);
		/* Nothing ACKed, nothing gained. */
		algs[a]->on_ack(&cc, 0, cc.cwnd, 0, T0);
		assert_int_equal(cc.cwnd, 14600 + 2 * MSS + 100);
	}
}

/* Slow start stops at ssthresh; the rest of that ACK counts for congestion avoidance. */
static void test_cc_slow_start_stops_at_ssthresh(void **state)
{
	struct nip_tcp_cc cc;

	(void)state;
	nip_cc_newreno.init(&cc, MSS, T0);
	cc.ssthresh = cc.cwnd + 1000;
	nip_cc_newreno.on_ack(&cc, 2 * MSS, cc.cwnd, 0, T0);
	assert_int_equal(cc.cwnd, 15600);
	assert_int_equal(cc.bytes_acked, 2 * MSS - 1000);
	nip_cc_newreno.on_ack(&cc, 2 * MSS, cc.cwnd, 0, T0);
	assert_int_equal(cc.cwnd, 15600);
	assert_int_equal(cc.bytes_acked, 4 * MSS - 1000);
}

/* No growth while the window is not used (flight + SMSS < cwnd). */
static void test_cc_no_growth_when_not_cwnd_limited(void **state)
{
	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		struct nip_tcp_cc cc;

		algs[a]->init(&cc, MSS, T0);
		algs[a]->on_ack(&cc, MSS, cc.cwnd - MSS - 1, 10 * MS, T0);
		assert_int_equal(cc.cwnd, 14600);
		algs[a]->on_ack(&cc, MSS, cc.cwnd - MSS, 10 * MS, T0);
		assert_int_equal(cc.cwnd, 14600 + MSS);
		/* Congestion avoidance too. */
		algs[a]->on_enter_recovery(&cc, cc.cwnd, T0);
		algs[a]->on_exit_recovery(&cc, T0);
		{
			uint32_t w = cc.cwnd;

			for (int i = 0; i < 1000; i++)
				algs[a]->on_ack(&cc, MSS, MSS, 10 * MS, T0 + (uint64_t)i * SEC);
			assert_int_equal(cc.cwnd, w);
		}
	}
}

/* NewReno congestion avoidance: one SMSS per round trip, whatever the ACK pattern. */
static void test_cc_newreno_ca_one_mss_per_rtt(void **state)
{
	(void)state;
	for (uint32_t chunk = 500; chunk <= 3 * MSS; chunk += 980) {
		struct nip_tcp_cc cc;
		uint64_t now = T0;

		nip_cc_newreno.init(&cc, MSS, now);
		cc.cwnd = 20 * MSS;
		cc.ssthresh = 20 * MSS;
		for (uint32_t r = 1; r <= 50; r++) {
			now = round_trip(&nip_cc_newreno, &cc, chunk, now, 20 * MS);
			/* The counter carries what a round did not use: never ahead, at most one
			 * SMSS behind. */
			assert_true(cc.cwnd <= (20 + r) * MSS);
			assert_true(cc.cwnd >= (19 + r) * MSS);
		}
	}
	{
		struct nip_tcp_cc cc;
		uint64_t now = T0;

		nip_cc_newreno.init(&cc, MSS, now);
		cc.cwnd = 20 * MSS;
		cc.ssthresh = 20 * MSS;
		for (uint32_t r = 1; r <= 50; r++) {
			now = round_trip(&nip_cc_newreno, &cc, MSS, now, 20 * MS);
			assert_int_equal(cc.cwnd, (20 + r) * MSS);
		}
		/* One ACK for many windows still gives one SMSS. */
		nip_cc_newreno.on_ack(&cc, 10 * cc.cwnd, cc.cwnd, 0, now);
		assert_int_equal(cc.cwnd, 71 * MSS);
		assert_true(cc.bytes_acked < cc.cwnd);
	}
}

/* Fast retransmit: ssthresh = max(FlightSize / 2, 2 SMSS), cwnd = ssthresh (RFC 5681 eq. 4). */
static void test_cc_newreno_loss_halves(void **state)
{
	struct nip_tcp_cc cc;

	(void)state;
	nip_cc_newreno.init(&cc, MSS, T0);
	cc.cwnd = 100 * MSS;
	nip_cc_newreno.on_enter_recovery(&cc, 100 * MSS, T0);
	assert_int_equal(cc.ssthresh, 50 * MSS);
	assert_int_equal(cc.cwnd, 50 * MSS);
	nip_cc_newreno.on_exit_recovery(&cc, T0 + SEC);
	assert_int_equal(cc.cwnd, 50 * MSS);
	/* From the flight, not the window. */
	cc.cwnd = 100 * MSS;
	nip_cc_newreno.on_enter_recovery(&cc, 30 * MSS, T0);
	assert_int_equal(cc.cwnd, 15 * MSS);
	/* Then congestion avoidance. */
	nip_cc_newreno.on_exit_recovery(&cc, T0);
	round_trip(&nip_cc_newreno, &cc, MSS, T0, 10 * MS);
	assert_int_equal(cc.cwnd, 16 * MSS);
}

/* CUBIC: ssthresh = cwnd * 0.7, cwnd = ssthresh (RFC 9438 4.6); W_max = cwnd before. */
static void test_cc_cubic_loss_beta(void **state)
{
	struct nip_tcp_cc cc;

	(void)state;
	nip_cc_cubic.init(&cc, MSS, T0);
	cc.cwnd = 100 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, 100 * MSS, T0);
	assert_int_equal(cc.ssthresh, 70 * MSS);
	assert_int_equal(cc.cwnd, 70 * MSS);
	assert_int_equal(cc.w_max, 100 * MSS);
	assert_int_equal(cc.cwnd_prior, 100 * MSS);
	assert_int_equal(cc.epoch_start, 0);
	nip_cc_cubic.on_exit_recovery(&cc, T0 + SEC);
	assert_int_equal(cc.cwnd, 70 * MSS);
}

/* RTO: cwnd = 1 SMSS (RFC 5681 3.1), ssthresh from the flight, then slow start up to it. */
static void test_cc_rto_one_mss(void **state)
{
	static const uint32_t want_ssthresh[] = {40 * MSS, 56 * MSS};

	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		struct nip_tcp_cc cc;
		uint64_t now = T0;

		algs[a]->init(&cc, MSS, now);
		cc.cwnd = 100 * MSS;
		cc.epoch_start = now;
		algs[a]->on_rto(&cc, 80 * MSS, now);
		assert_int_equal(cc.cwnd, MSS);
		assert_int_equal(cc.ssthresh, want_ssthresh[a]);
		if (algs[a] == &nip_cc_cubic)
			assert_int_equal(cc.epoch_start, 0);
		/* A second timeout with nothing left in flight. */
		algs[a]->on_rto(&cc, 0, now);
		assert_int_equal(cc.cwnd, MSS);
		assert_int_equal(cc.ssthresh, 2 * MSS);
		cc.ssthresh = want_ssthresh[a];
		for (int r = 1; r <= 5; r++) {
			now = round_trip(algs[a], &cc, MSS, now, 10 * MS);
			assert_int_equal(cc.cwnd, MSS << r);
		}
		now = round_trip(algs[a], &cc, MSS, now, 10 * MS);
		assert_true(cc.cwnd >= want_ssthresh[a]);
		assert_true(cc.cwnd <= want_ssthresh[a] + 2 * MSS);
	}
}

/* After a timeout CUBIC's first epoch has K = 0 and W_max = the cwnd it starts with (4.8). */
static void test_cc_cubic_epoch_after_rto(void **state)
{
	struct nip_tcp_cc cc;
	uint64_t now = T0;

	(void)state;
	nip_cc_cubic.init(&cc, MSS, now);
	cc.cwnd = 100 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, 100 * MSS, now);
	assert_int_equal(cc.w_max, 100 * MSS);
	nip_cc_cubic.on_rto(&cc, 20 * MSS, now);
	assert_int_equal(cc.ssthresh, 14 * MSS);
	while (cc.cwnd < cc.ssthresh)
		now = round_trip(&nip_cc_cubic, &cc, MSS, now, 10 * MS);
	assert_int_not_equal(cc.epoch_start, 0);
	assert_true(cc.k == 0.0);
	assert_true(cc.w_max >= 14 * MSS && cc.w_max <= 16 * MSS);
}

/*
 * After a loss at W_max = 1000 segments, one ACK per round trip (100 ms) for the whole window:
 * each ACK takes cwnd to W_cubic(t + RTT) (RFC 9438 4.4, 4.5), compared here with the formula,
 * from the concave region through W_max at t = K into the convex region. (At this size the
 * Reno-friendly estimate, growing 0.53 segments a round trip, stays far below; only at t = 0,
 * where W_cubic(0) = cwnd_epoch, is it ahead, by that first increment.)
 */
static void test_cc_cubic_follows_formula(void **state)
{
	const uint64_t rtt = 100 * MS;
	const double k = ref_k(1000, 700), alpha = 3 * (1 - 0.7) / (1 + 0.7);
	struct nip_tcp_cc cc;
	uint64_t now = T0;
	double prev_inc = 0;
	int at_k = 0, concave = 0, convex = 0;

	(void)state;
	assert_true(fabs(k - cbrt(750.0)) < 1e-12);
	nip_cc_cubic.init(&cc, MSS, now);
	cc.cwnd = 1000 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, cc.cwnd, now);
	nip_cc_cubic.on_exit_recovery(&cc, now);
	assert_int_equal(cc.cwnd, 700 * MSS);
	nip_cc_cubic.on_ack(&cc, cc.cwnd, cc.cwnd, rtt, now);
	assert_int_equal(cc.epoch_start, now);
	assert_true(fabs(cc.k - k) < 1e-9);
	assert_int_equal(cc.cwnd, (uint32_t)((700 + alpha) * MSS));
	for (int i = 1; i <= 200; i++) {
		double t = (double)i * 0.1;
		double want = ref_w_cubic(t + 0.1, k, 1000) * MSS;
		uint32_t before = cc.cwnd;
		double inc;

		now += rtt;
		nip_cc_cubic.on_ack(&cc, cc.cwnd, cc.cwnd, rtt, now);
		/* Integer bytes: at most one byte below the real-valued target. */
		assert_true(cc.cwnd <= want + 0.01);
		assert_true(cc.cwnd >= want - 1.01);
		inc = (double)cc.cwnd - before;
		if (i >= 2 && t + 0.1 < k - 0.1) {
			/* Concave: below W_max, growth slowing down. */
			assert_true(inc <= prev_inc + 1.0);
			assert_true(cc.cwnd < 1000 * MSS);
			concave++;
		} else if (t > k + 0.1) {
			/* Convex: past W_max, growth speeding up. */
			assert_true(inc >= prev_inc - 1.0);
			assert_true(cc.cwnd > 1000 * MSS);
			convex++;
		} else if (i >= 2) {
			assert_true(fabs((double)cc.cwnd - 1000.0 * MSS) < MSS);
			at_k++;
		}
		prev_inc = inc;
	}
	assert_true(concave > 50 && convex > 50 && at_k > 0);
	/* Spot values of the reference itself: cwnd_epoch at t = 0, W_max at t = K, and the
	 * window measured above at t = 5 s and 15 s. */
	assert_true(fabs(ref_w_cubic(0, k, 1000) - 700) < 1e-9);
	assert_true(fabs(ref_w_cubic(k, k, 1000) - 1000) < 1e-9);
	assert_true(fabs(ref_w_cubic(5.0, k, 1000) - (1000 - 0.4 * pow(k - 5.0, 3))) < 1e-9);
	assert_true(ref_w_cubic(15.0, k, 1000) > 1080 && ref_w_cubic(15.0, k, 1000) < 1085);
}

/*
 * The same with an ACK for every segment, spread over each round trip: the window at the end
 * of each round lies between W_cubic one round trip earlier and W_cubic(t + RTT), at every t
 * from 0.1 s to 20 s.
 */
static void test_cc_cubic_per_segment_acks(void **state)
{
	const uint64_t rtt = 100 * MS;
	const double k = ref_k(1000, 700);
	struct nip_tcp_cc cc;
	uint64_t now = T0, epoch;

	(void)state;
	nip_cc_cubic.init(&cc, MSS, now);
	cc.cwnd = 1000 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, cc.cwnd, now);
	nip_cc_cubic.on_exit_recovery(&cc, now);
	epoch = now + rtt / 700; /* the first ACK of the first round */
	for (int r = 0; r < 200; r++) {
		double t;

		now = round_trip(&nip_cc_cubic, &cc, MSS, now, rtt);
		t = (double)(now - epoch) / SEC;
		assert_true(cc.cwnd <= ref_w_cubic(t + 0.1, k, 1000) * MSS + 1);
		/* (less a few bytes of rounding where the curve is flat, around K) */
		assert_true(cc.cwnd >= ref_w_cubic(t - 0.1, k, 1000) * MSS - 16);
	}
	assert_int_equal(cc.epoch_start, epoch);
	assert_true(cc.cwnd > 1250 * MSS);
}

/* Fast convergence (4.7): a loss below the previous W_max sets W_max = cwnd * (1 + 0.7) / 2;
 * a loss at or above it, W_max = cwnd. K follows from the lowered W_max. */
static void test_cc_cubic_fast_convergence(void **state)
{
	struct nip_tcp_cc cc;
	uint64_t now = T0;

	(void)state;
	nip_cc_cubic.init(&cc, MSS, now);
	cc.cwnd = 100 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, cc.cwnd, now);
	nip_cc_cubic.on_exit_recovery(&cc, now);
	while (cc.cwnd < 80 * MSS)
		now = round_trip(&nip_cc_cubic, &cc, MSS, now, 100 * MS);
	cc.cwnd = 80 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, cc.cwnd, now);
	assert_int_equal(cc.w_max, 68 * MSS);
	assert_int_equal(cc.w_last_max, 100 * MSS);
	assert_int_equal(cc.cwnd, 56 * MSS);
	nip_cc_cubic.on_exit_recovery(&cc, now);
	nip_cc_cubic.on_ack(&cc, MSS, cc.cwnd, 100 * MS, now);
	assert_true(fabs(cc.k - ref_k(68, 56)) < 1e-9);
	/* A loss above W_max: no further reduction. */
	cc.cwnd = 90 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, cc.cwnd, now);
	assert_int_equal(cc.w_max, 90 * MSS);
	assert_int_equal(cc.cwnd, 63 * MSS);
}

/*
 * At a small RTT the cubic curve barely moves within a few round trips while the Reno-friendly
 * estimate grows by alpha_cubic = 3 (1 - 0.7) / (1 + 0.7) segments per round trip, then by 1
 * once it passes the window before the loss (4.3): that estimate sets the window.
 */
static void test_cc_cubic_reno_friendly_region(void **state)
{
	const uint64_t rtt = 1 * MS;
	const double alpha = 3 * (1 - 0.7) / (1 + 0.7), k = ref_k(100, 70);
	struct nip_tcp_cc cc;
	uint64_t now = T0;
	double w_est = 70;

	(void)state;
	nip_cc_cubic.init(&cc, MSS, now);
	cc.cwnd = 100 * MSS;
	nip_cc_cubic.on_enter_recovery(&cc, cc.cwnd, now);
	nip_cc_cubic.on_exit_recovery(&cc, now);
	for (int r = 1; r <= 100; r++) {
		double t;

		now = round_trip(&nip_cc_cubic, &cc, MSS, now, rtt);
		/* A reference estimate per round trip: alpha segments, or 1 past W_max. */
		w_est += w_est >= 100 ? 1 : alpha;
		t = (double)(now - T0) / SEC;
		assert_true(cc.cwnd > ref_w_cubic(t + 0.001, k, 100) * MSS);
		assert_true(fabs((double)cc.cwnd / MSS - w_est) < 1.5);
	}
	assert_true(cc.cwnd > 115 * MSS);
}

/* Repeated losses never take cwnd below 2 SMSS; a timeout takes it to exactly 1 SMSS. */
static void test_cc_floors(void **state)
{
	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		struct nip_tcp_cc cc;
		uint64_t now = T0;

		algs[a]->init(&cc, MSS, now);
		for (int i = 0; i < 30; i++) {
			algs[a]->on_enter_recovery(&cc, cc.cwnd, now);
			assert_true(cc.cwnd >= 2 * MSS);
			assert_true(cc.ssthresh >= 2 * MSS);
			algs[a]->on_exit_recovery(&cc, now);
			assert_true(cc.cwnd >= 2 * MSS);
			now = round_trip(algs[a], &cc, MSS, now, 10 * MS);
		}
		algs[a]->on_enter_recovery(&cc, 0, now);
		assert_true(cc.cwnd >= 2 * MSS);
		for (int i = 0; i < 5; i++) {
			algs[a]->on_rto(&cc, cc.cwnd, now);
			assert_int_equal(cc.cwnd, MSS);
			assert_true(cc.ssthresh >= 2 * MSS);
		}
		algs[a]->on_enter_recovery(&cc, MSS, now);
		assert_int_equal(cc.cwnd, 2 * MSS);
	}
}

/* Huge ACKs, flights, RTTs and times: the window grows without wrapping, and stays sane. */
static void test_cc_no_overflow(void **state)
{
	static const uint32_t msss[] = {1, 536, MSS, 9000, 65535};

	(void)state;
	for (size_t a = 0; a < NALGS; a++) {
		for (size_t m = 0; m < sizeof(msss) / sizeof(msss[0]); m++) {
			struct nip_tcp_cc cc;
			uint64_t now = T0;
			uint32_t prev;

			algs[a]->init(&cc, msss[m], now);
			prev = cc.cwnd;
			for (int i = 0; i < 100000; i++) {
				algs[a]->on_ack(&cc, UINT32_MAX, UINT32_MAX, UINT64_MAX / 4, now);
				assert_true(cc.cwnd >= prev);
				assert_true(cc.cwnd <= (1u << 30));
				prev = cc.cwnd;
				now += SEC * 1000;
			}
			if (msss[m] >= 9000)
				assert_int_equal(cc.cwnd, 1u << 30); /* grew to the cap */
			algs[a]->on_enter_recovery(&cc, UINT32_MAX, now);
			assert_true(cc.ssthresh >= 2 * msss[m] && cc.ssthresh <= cc.cwnd);
			assert_true(cc.cwnd >= 2 * msss[m]);
			prev = cc.cwnd;
			algs[a]->on_exit_recovery(&cc, now);
			for (int i = 0; i < 1000; i++) {
				algs[a]->on_ack(&cc, UINT32_MAX, UINT32_MAX, UINT64_MAX,
						UINT64_MAX);
				assert_true(cc.cwnd >= prev);
				prev = cc.cwnd;
			}
			algs[a]->on_rto(&cc, UINT32_MAX, now);
			assert_int_equal(cc.cwnd, msss[m]);
			assert_true(cc.ssthresh >= 2 * msss[m]);
			/* A clock that goes backwards is no cause for harm either. */
			for (int i = 0; i < 100; i++)
				algs[a]->on_ack(&cc, UINT32_MAX, UINT32_MAX, 0,
						now - (uint64_t)i * SEC);
			assert_true(cc.cwnd >= msss[m]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cc_find),
		cmocka_unit_test(test_cc_initial_window),
		cmocka_unit_test(test_cc_slow_start_doubles_per_rtt),
		cmocka_unit_test(test_cc_slow_start_abc_limit),
		cmocka_unit_test(test_cc_slow_start_stops_at_ssthresh),
		cmocka_unit_test(test_cc_no_growth_when_not_cwnd_limited),
		cmocka_unit_test(test_cc_newreno_ca_one_mss_per_rtt),
		cmocka_unit_test(test_cc_newreno_loss_halves),
		cmocka_unit_test(test_cc_cubic_loss_beta),
		cmocka_unit_test(test_cc_rto_one_mss),
		cmocka_unit_test(test_cc_cubic_epoch_after_rto),
		cmocka_unit_test(test_cc_cubic_follows_formula),
		cmocka_unit_test(test_cc_cubic_per_segment_acks),
		cmocka_unit_test(test_cc_cubic_fast_convergence),
		cmocka_unit_test(test_cc_cubic_reno_friendly_region),
		cmocka_unit_test(test_cc_floors),
		cmocka_unit_test(test_cc_no_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
