/* SPDX-License-Identifier: MIT */
/*
 * CUBIC congestion control (RFC 9438), behind the operations of cc.h.
 *
 * Below ssthresh: slow start as NewReno's (RFC 9438 4.10; RFC 3465 L = 2 SMSS). Above it, an
 * epoch starts with the first ACK of congestion avoidance (RFC 9438 4.2): cwnd_epoch = cwnd,
 * K = cbrt((W_max - cwnd_epoch) / C) (K = 0 and W_max = cwnd when cwnd is already at or past
 * W_max, e.g. after a timeout, 4.8), W_est = cwnd_epoch. On each ACK, with t the time since the
 * epoch began:
 *   W_cubic(t) = C * (t - K)^3 + W_max                                      (4.2, figure 1)
 *   W_est += alpha_cubic * segments_acked / cwnd, alpha_cubic = 3 (1 - beta) / (1 + beta),
 *            1 once W_est >= cwnd_prior                                      (4.3)
 *   W_cubic(t) < W_est: cwnd = W_est (the Reno-friendly region)              (4.3)
 *   otherwise cwnd grows by (target - cwnd) / cwnd per segment ACKed, target = W_cubic(t + RTT)
 *   kept within [cwnd, 1.5 cwnd]                                            (4.4, 4.5)
 * A loss sets W_max (with fast convergence, 4.7), ssthresh = max(cwnd * beta, 2 SMSS) and
 * cwnd = ssthresh (4.6), and ends the epoch. The RFC counts in segments; here windows are bytes,
 * W_cubic is computed in segments and scaled by SMSS.
 */
#include <math.h>
#include <stdint.h>

#include "cc.h"
#include "tcp_seq.h"

#define CUBIC_C 0.4    /* segments / s^3 (4.5) */
#define CUBIC_BETA 0.7 /* (4.6) */
/* beta and (1 + beta) / 2 as fractions, so that windows of whole segments reduce exactly. */
#define BETA_NUM 7
#define BETA_DEN 10
#define FC_NUM 17
#define FC_DEN 20
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA)) /* (4.3) */
#define NS_PER_S 1e9

/* A window in bytes from a double, within [0, NIP_CC_CWND_MAX]. */
static uint32_t to_bytes(double w)
{
	if (!(w > 0))
		return 0;
	if (w >= NIP_CC_CWND_MAX)
		return NIP_CC_CWND_MAX;
	return (uint32_t)w;
}

static void cubic_init(struct nip_tcp_cc *cc, uint32_t mss, uint64_t now)
{
	/* Same initial window and ssthresh; every CUBIC field starts at zero: no epoch. */
	nip_cc_newreno.init(cc, mss, now);
}

static void epoch_begin(struct nip_tcp_cc *cc, uint64_t now)
{
	/* 0 means "no epoch": an epoch beginning at time 0 is recorded as 1 ns. */
	cc->epoch_start = now ? now : 1;
	if (cc->w_max <= cc->cwnd) {
		cc->k = 0;
		cc->w_max = cc->cwnd;
	} else {
		cc->k = cbrt((double)(cc->w_max - cc->cwnd) / cc->mss / CUBIC_C);
	}
	cc->w_est = cc->cwnd;
	cc->bytes_acked = 0;
}

/* W_cubic(t) in bytes, t in seconds since the epoch began (RFC 9438 figure 1). */
static double w_cubic(const struct nip_tcp_cc *cc, double t)
{
	double d = t - cc->k;

	return (CUBIC_C * d * d * d) * cc->mss + cc->w_max;
}

static void cubic_on_ack(struct nip_tcp_cc *cc, uint32_t acked, uint32_t flight, uint64_t srtt_ns,
			 uint64_t now)
{
	double t, target, alpha;
	uint64_t tgt, total, inc;

	if (acked == 0 || (uint64_t)flight + cc->mss < cc->cwnd)
		return;
	if (!(acked = nip_tcp_cc_slow_start(cc, acked)))
		return;
	if (cc->epoch_start == 0)
		epoch_begin(cc, now);
	t = now > cc->epoch_start ? (double)(now - cc->epoch_start) / NS_PER_S : 0.0;

	/* The Reno-friendly estimate (4.3), in bytes: alpha * acked segments * mss / cwnd
	 * segments. */
	alpha = cc->w_est >= cc->cwnd_prior ? 1.0 : CUBIC_ALPHA;
	cc->w_est += alpha * (double)acked * cc->mss / cc->cwnd;
	if (cc->w_est > NIP_CC_CWND_MAX)
		cc->w_est = NIP_CC_CWND_MAX;
	if (w_cubic(cc, t) < cc->w_est) {
		uint32_t w = to_bytes(cc->w_est);

		if (w > cc->cwnd)
			cc->cwnd = w;
		return;
	}

	/* Concave or convex region (4.4, 4.5): toward W_cubic(t + RTT). */
	target = w_cubic(cc, t + (double)srtt_ns / NS_PER_S);
	if (target > 1.5 * cc->cwnd)
		target = 1.5 * cc->cwnd;
	tgt = to_bytes(target);
	if (tgt <= cc->cwnd)
		return;
	/* (target - cwnd) / cwnd per segment: (target - cwnd) * acked / cwnd bytes, the
	 * remainder carried in bytes_acked (always < cwnd). */
	total = (tgt - cc->cwnd) * acked + cc->bytes_acked;
	inc = total / cc->cwnd;
	if (inc >= tgt - cc->cwnd) {
		inc = tgt - cc->cwnd;
		cc->bytes_acked = 0;
	} else {
		cc->bytes_acked = (uint32_t)(total % cc->cwnd);
	}
	cc->cwnd = nip_min32(cc->cwnd + inc, NIP_CC_CWND_MAX);
}

/* RFC 9438 4.6 and 4.7 (fast convergence). */
static void cubic_on_enter_recovery(struct nip_tcp_cc *cc, uint32_t flight, uint64_t now)
{
	uint64_t ss = (uint64_t)cc->cwnd * BETA_NUM / BETA_DEN;

	(void)flight;
	(void)now;
	cc->w_last_max = cc->w_max;
	if (cc->cwnd < cc->w_max)
		cc->w_max = (uint32_t)((uint64_t)cc->cwnd * FC_NUM / FC_DEN);
	else
		cc->w_max = cc->cwnd;
	cc->cwnd_prior = cc->cwnd;
	if (ss < (uint64_t)2 * cc->mss)
		ss = (uint64_t)2 * cc->mss;
	cc->ssthresh = nip_min32(ss, NIP_CC_CWND_MAX);
	cc->cwnd = cc->ssthresh;
	cc->epoch_start = 0;
	cc->bytes_acked = 0;
}

/*
 * RFC 9438 4.8: cwnd = 1 SMSS as RFC 5681, ssthresh with beta_cubic (from the flight, as the
 * header asks for timeouts); the first congestion avoidance after the timeout runs with K = 0
 * and W_max = the cwnd it starts with (W_max = 0 makes epoch_begin do that).
 */
static void cubic_on_rto(struct nip_tcp_cc *cc, uint32_t flight, uint64_t now)
{
	uint64_t ss = (uint64_t)flight * BETA_NUM / BETA_DEN;

	(void)now;
	if (ss < (uint64_t)2 * cc->mss)
		ss = (uint64_t)2 * cc->mss;
	cc->cwnd_prior = cc->cwnd;
	cc->w_last_max = cc->w_max;
	cc->w_max = 0;
	cc->ssthresh = nip_min32(ss, NIP_CC_CWND_MAX);
	cc->cwnd = cc->mss;
	cc->epoch_start = 0;
	cc->bytes_acked = 0;
}

const struct nip_tcp_cc_ops nip_cc_cubic = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.on_enter_recovery = cubic_on_enter_recovery,
	.on_exit_recovery = nip_tcp_cc_exit_recovery,
	.on_rto = cubic_on_rto,
};
