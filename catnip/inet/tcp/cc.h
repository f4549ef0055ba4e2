/* SPDX-License-Identifier: MIT */
/*
 * Congestion control behind one table of operations, so a connection picks NewReno
 * (RFC 5681, RFC 6582: cc_newreno.c) or CUBIC (RFC 9438: cc_cubic.c) by name. The algorithm
 * owns only the congestion window and slow-start threshold; loss detection and recovery
 * (fast retransmit, NewReno partial ACKs, SACK pipe of RFC 6675) live in tcp_input.c and
 * tcp_output.c, which call these hooks at the moments the RFCs name.
 *
 * Units: bytes and nanoseconds. No I/O, no clock: now is an argument.
 *
 * Call order: init once (SYN exchanged, MSS known); then on_ack for every ACK that advances
 * snd_una while not in recovery; on_enter_recovery when loss is detected by duplicate ACKs or
 * SACK (once per recovery episode); on_exit_recovery when the recovery point is ACKed;
 * on_rto when the retransmission timer fires (RFC 5681 eq. 4 then cwnd = 1 MSS).
 */
#ifndef NIP_TCP_CC_H
#define NIP_TCP_CC_H

#include <stdint.h>

struct nip_tcp_cc {
	uint32_t cwnd;	      /* bytes */
	uint32_t ssthresh;    /* bytes; UINT32_MAX = unlimited at start */
	uint32_t mss;	      /* sender MSS (SMSS) */
	uint32_t bytes_acked; /* congestion avoidance byte counter (RFC 5681 3.1, RFC 3465) */
	/* CUBIC (RFC 9438 4): unused by NewReno. */
	uint64_t epoch_start; /* ns; 0 = no epoch (after a loss or at start) */
	uint32_t w_max;	      /* bytes: cwnd just before the last reduction */
	uint32_t w_last_max;  /* for fast convergence (4.7) */
	double k;	      /* seconds */
	double w_est;	      /* bytes: the Reno-friendly estimate (4.3) */
	uint32_t cwnd_prior;  /* for undo-free bookkeeping: cwnd before the reduction */
};

struct nip_tcp_cc_ops {
	const char *name; /* "newreno", "cubic" */
	/* Initial window of RFC 6928: min(10 * mss, max(2 * mss, 14600)); ssthresh unlimited. */
	void (*init)(struct nip_tcp_cc *cc, uint32_t mss, uint64_t now);
	/* acked new bytes arrived while not in recovery; flight = bytes outstanding before this
	 * ACK; srtt_ns = smoothed RTT (0 if none yet). Slow start below ssthresh, congestion
	 * avoidance above (growth only when the window was actually used: flight + mss >= cwnd). */
	void (*on_ack)(struct nip_tcp_cc *cc, uint32_t acked, uint32_t flight, uint64_t srtt_ns,
		       uint64_t now);
	/* Loss detected (fast retransmit): sets ssthresh (NewReno: max(flight / 2, 2 * mss),
	 * RFC 5681 eq. 4; CUBIC: cwnd * 0.7, RFC 9438 4.6) and cwnd = ssthresh. */
	void (*on_enter_recovery)(struct nip_tcp_cc *cc, uint32_t flight, uint64_t now);
	/* Recovery done (full ACK of the recovery point): cwnd = ssthresh (RFC 6582 3.2 step 3). */
	void (*on_exit_recovery)(struct nip_tcp_cc *cc, uint64_t now);
	/* Retransmission timeout: ssthresh as on loss (from flight), cwnd = 1 mss (RFC 5681 3.1);
	 * CUBIC also resets its epoch. */
	void (*on_rto)(struct nip_tcp_cc *cc, uint32_t flight, uint64_t now);
};

/* Larger than the largest window a peer can offer (65535 << 14, RFC 7323 2.3), small enough
 * that cwnd + anything added to it fits 32 bits. */
#define NIP_CC_CWND_MAX ((uint32_t)1 << 30)

/* Slow start, the same in both algorithms (RFC 5681 eq. 2 with RFC 3465 L = 2 SMSS; RFC 9438
 * 4.10): below ssthresh, an ACK of acked bytes grows cwnd by at most 2 SMSS and not past
 * ssthresh. Returns the bytes of the ACK left for congestion avoidance (all of them at or
 * above ssthresh, those past ssthresh when it is reached), 0 when slow start took them all. */
uint32_t nip_tcp_cc_slow_start(struct nip_tcp_cc *cc, uint32_t acked);
/* Full ACK of the recovery point (RFC 6582 3.2 step 3): cwnd = ssthresh; both algorithms. */
void nip_tcp_cc_exit_recovery(struct nip_tcp_cc *cc, uint64_t now);

extern const struct nip_tcp_cc_ops nip_cc_newreno;
extern const struct nip_tcp_cc_ops nip_cc_cubic;

/* The algorithm called name, or NULL. */
const struct nip_tcp_cc_ops *nip_tcp_cc_find(const char *name);

#endif
