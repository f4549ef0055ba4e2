/* SPDX-License-Identifier: MIT */
/*
 * NewReno congestion control (RFC 5681 section 3.1, RFC 6582 section 3.2; RFC 3465 byte
 * counting), behind the operations of cc.h.
 *
 * Slow start grows cwnd by the bytes each ACK covers, at most 2 * SMSS per ACK (RFC 3465
 * section 2.2, L = 2 SMSS) and not past ssthresh; what is left of that ACK counts towards
 * congestion avoidance. Congestion avoidance adds 1 SMSS each time a full cwnd of bytes has been
 * ACKed (RFC 5681 section 3.1, RFC 3465 section 2.1), at most 1 SMSS per ACK. Neither grows
 * while the window is not in use (RFC 7661 section 4.3: flight + SMSS < cwnd). Loss sets
 * ssthresh = max(FlightSize / 2, 2 * SMSS) (RFC 5681 equation 4).
 */
#include <stdint.h>
#include <string.h>

#include "cc.h"
#include "tcp_seq.h"

/* RFC 9293 section 3.7.1: the send MSS when none is known. */
#define DEFAULT_MSS 536

/* RFC 6928 section 2: IW = min(10 * MSS, max(2 * MSS, 14600)). */
static void newreno_init(struct nip_tcp_cc *cc, uint32_t mss, uint64_t now)
{
	uint64_t iw;

	(void)now;
	memset(cc, 0, sizeof(*cc));
	if (mss == 0)
		mss = DEFAULT_MSS;
	if (mss > NIP_CC_CWND_MAX / 16)
		mss = NIP_CC_CWND_MAX / 16;
	iw = (uint64_t)2 * mss > 14600 ? (uint64_t)2 * mss : 14600;
	cc->mss = mss;
	cc->cwnd = nip_min32((uint64_t)10 * mss, iw);
	cc->ssthresh = UINT32_MAX;
}

static uint32_t loss_ssthresh(const struct nip_tcp_cc *cc, uint32_t flight)
{
	uint64_t floor = (uint64_t)2 * cc->mss;

	return nip_min32(flight / 2 > floor ? flight / 2 : floor, NIP_CC_CWND_MAX);
}

static void newreno_on_ack(struct nip_tcp_cc *cc, uint32_t acked, uint32_t flight, uint64_t srtt_ns,
			   uint64_t now)
{
	uint64_t total;

	(void)srtt_ns;
	(void)now;
	if (acked == 0 || (uint64_t)flight + cc->mss < cc->cwnd)
		return;
	if (!(acked = nip_tcp_cc_slow_start(cc, acked)))
		return;
	/* Congestion avoidance (RFC 5681 eq. 3 in its byte counting form, RFC 3465 2.1). */
	total = (uint64_t)cc->bytes_acked + acked;
	if (total >= cc->cwnd) {
		total -= cc->cwnd;
		cc->cwnd = nip_min32((uint64_t)cc->cwnd + cc->mss, NIP_CC_CWND_MAX);
	}
	if (total >= cc->cwnd)
		total = cc->cwnd - 1; /* one SMSS per ACK at most: the rest is dropped */
	cc->bytes_acked = (uint32_t)total;
}

/* RFC 5681 section 3.2 step 2 (RFC 6582 3.2 step 2): no window inflation here, the sender's
 * pipe accounting does that. */
static void newreno_on_enter_recovery(struct nip_tcp_cc *cc, uint32_t flight, uint64_t now)
{
	(void)now;
	cc->cwnd_prior = cc->cwnd;
	cc->ssthresh = loss_ssthresh(cc, flight);
	cc->cwnd = cc->ssthresh;
	cc->bytes_acked = 0;
}

/* RFC 5681 section 3.1: equation 4, then the loss window of 1 SMSS. */
static void newreno_on_rto(struct nip_tcp_cc *cc, uint32_t flight, uint64_t now)
{
	(void)now;
	cc->cwnd_prior = cc->cwnd;
	cc->ssthresh = loss_ssthresh(cc, flight);
	cc->cwnd = cc->mss;
	cc->bytes_acked = 0;
}

const struct nip_tcp_cc_ops nip_cc_newreno = {
	.name = "newreno",
	.init = newreno_init,
	.on_ack = newreno_on_ack,
	.on_enter_recovery = newreno_on_enter_recovery,
	.on_exit_recovery = nip_tcp_cc_exit_recovery, /* deflate to ssthresh */
	.on_rto = newreno_on_rto,
};
