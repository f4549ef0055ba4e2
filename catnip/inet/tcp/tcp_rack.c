/* SPDX-License-Identifier: MIT */
/*
 * RACK-TLP (RFC 8985): loss detection by time for connections with SACK.
 *
 * RACK (RFC 8985 6): a segment is lost when a segment sent after it was delivered and more
 * than a reordering window has passed since it left, so losses in every hole and
 * retransmissions lost again are found by time, not by counting duplicate ACKs or bytes
 * SACKed above the first hole (RFC 6675's IsLost, which this replaces). State (struct
 * nip_tcp_rack): the segments in flight in sequence order, each with the time of its last
 * transmission and whether it was sent more than once, is SACKed or is marked lost (RFC 8985
 * 5.2); RACK.xmit_ts, .end_seq and .rtt of the most recently sent segment delivered;
 * RACK.min_RTT; RACK.fack and whether reordering was seen; the reordering window's multiplier,
 * widened by D-SACKs (RFC 8985 6.2 step 4). A segment is one transmission from the send queue
 * (at most an MSS); a retransmission of a range marks every segment it overlaps as sent again,
 * now. Only the stack's clock (nip_now) is read.
 *
 * The segments live in a ring (nip_tcp_rack_reserve) sized for the largest flight of full
 * segments the send buffer's current limit and the peer's largest window allow, within
 * [RING_MIN, RING_MAX], and enlarged only when that limit grows: at establishment, when send
 * autotuning raises the limit past the ring's next power of two (tcp_input.c; at most
 * log2(sndbuf_max / sndbuf) times in a connection's life, never per segment) and on SO_SNDBUF.
 * A connection that only answers requests keeps the smallest ring (1.5 KiB) instead of one
 * for the largest flight autotuning could ever allow (96 KiB by default), which a server with
 * thousands of clients would hold for nothing. A flight of more (smaller) segments than the
 * ring holds leaves the newest untracked (counted); the RTO recovers them.
 *
 * Tail loss probe (RFC 8985 7): below, with its timer NIP_TCPT_PTO armed by tcp_timer.c.
 *
 * Call order: nip_tcp_established (tcp.c) reserves the ring. tcp_output.c calls
 * nip_tcp_rack_sent for every segment that carries data (new or sent again). For each ACK,
 * tcp_input.c updates the scoreboard (tcp_sack.c) with its SACK blocks, then calls
 * nip_tcp_rack_update before snd_una moves (RFC 8985 6.2 steps 1-4), nip_tcp_tlp_acked, and
 * nip_tcp_rack_detect after (step 5), which marks segments lost and arms the reordering timer
 * (NIP_TCPT_REO) for those not yet due; that timer calls nip_tcp_rack_detect again
 * (tcp_timer.c), as the probe timer calls nip_tcp_pto_fire. Recovery retransmits what
 * nip_tcp_rack_next_lost names. A retransmission timeout calls nip_tcp_rack_timeout; tcp.c
 * frees the ring with the send queue (nip_tcp_rack_free).
 */
#include <errno.h>
#include <stdlib.h>

#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

/* ---- RACK (RFC 8985 6) ---- */

#define RING_MIN 64
#define RING_MAX (1u << 14) /* segments: 384 KiB, the flight of 24 MB in full segments */
#define DUPTHRESH 3	    /* RFC 8985 6.2 step 4: "RACK.segs_sacked >= DupThresh" */
#define REO_PERSIST 16	    /* recoveries a widened reordering window lasts (RFC 8985 6.2) */

static struct nip_tcp_txseg *at(const struct nip_tcp_rack *r, uint32_t i)
{
	return &r->seg[(r->head + i) & (r->cap - 1)];
}

/* Segments the largest flight may hold now: the smaller of what the send queue may hold (its
 * current limit, which autotuning raises) and what the peer may take (its window field under
 * the scale of its SYN), in full segments. */
static uint32_t ring_want(const struct nip_tcp_conn *c)
{
	uint64_t bytes = c->sndbuf;
	uint64_t peer = (uint64_t)65535 << c->snd_wscale, segs;
	uint32_t cap = RING_MIN;

	if (peer < bytes)
		bytes = peer;
	segs = bytes / (c->mss ? c->mss : 536) + 1;
	while (cap < segs && cap < RING_MAX)
		cap *= 2;
	return cap;
}

int nip_tcp_rack_reserve(struct nip_tcp_conn *c)
{
	struct nip_tcp_rack *r = &c->rack;
	struct nip_tcp_txseg *seg;
	uint32_t cap;

	/* Send autotuning calls this at each step it raises the limit: while the limit stays
	 * below cap full segments the ring is large enough (ring_want <= cap), known without
	 * ring_want's division. */
	if (!c->sack_ok || c->sndbuf < (uint64_t)r->cap * (c->mss ? c->mss : 536))
		return 0;
	cap = ring_want(c);
	if (cap <= r->cap)
		return 0;
	if (!(seg = malloc(cap * sizeof(*seg))))
		return -ENOMEM;
	for (uint32_t i = 0; i < r->n; i++)
		seg[i] = *at(r, i);
	free(r->seg);
	r->seg = seg;
	r->cap = cap;
	r->head = 0;
	return 0;
}

void nip_tcp_rack_free(struct nip_tcp_conn *c)
{
	free(c->rack.seg);
	c->rack.seg = NULL;
	c->rack.cap = c->rack.n = c->rack.head = 0;
	c->rack.lost_bytes = 0;
	c->rack.sacked_segs = 0;
}

static void unlose(struct nip_tcp_rack *r, struct nip_tcp_txseg *t)
{
	if (t->flags & NIP_TCP_TX_LOST) {
		r->lost_bytes -= t->end - t->start;
		t->flags &= (uint8_t)~NIP_TCP_TX_LOST;
	}
}

/* The first segment that ends after seq (n when none): they are sorted and disjoint. */
static uint32_t find(const struct nip_tcp_rack *r, uint32_t seq)
{
	uint32_t lo = 0, hi = r->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (nip_seq_gt(at(r, mid)->end, seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void nip_tcp_rack_sent(struct nip_tcp_conn *c, uint32_t seq, uint32_t len)
{
	struct nip_tcp_rack *r = &c->rack;
	uint64_t now = nip_now(c->s);
	uint32_t end = seq + len;
	struct nip_tcp_txseg *t;

	if (r->n && nip_seq_lt(seq, at(r, r->n - 1)->end)) {
		/* Sent again: every segment the range overlaps left now. */
		for (uint32_t i = find(r, seq); i < r->n && nip_seq_lt(at(r, i)->start, end); i++) {
			t = at(r, i);
			unlose(r, t);
			t->flags |= NIP_TCP_TX_RXT;
			t->xmit_ts = now;
		}
		if (!nip_seq_gt(end, at(r, r->n - 1)->end))
			return;
		seq = at(r, r->n - 1)->end;
	}
	if (r->n == r->cap) {
		c->s->cnt.tcp_rack_untracked++; /* the RTO recovers it if lost */
		return;
	}
	t = at(r, r->n++);
	t->start = seq;
	t->end = end;
	t->xmit_ts = now;
	t->flags = 0;
}

/* RACK_sent_after (RFC 8985 6.2): whether (t1, seq1) left after (t2, seq2). */
static bool sent_after(uint64_t t1, uint32_t seq1, uint64_t t2, uint32_t seq2)
{
	return t1 > t2 || (t1 == t2 && nip_seq_gt(seq1, seq2));
}

/* RFC 8985 6.2 steps 2 and 3 for a segment this ACK delivered (cumulatively or by SACK);
 * *sample keeps the round trip of the latest sent of those never sent again (the shortest) for
 * SRTT, unless the ACK echoes a timestamp later than the segment's: it answers a later
 * segment, and this one's delivery was only reported now (a SACK block repeated late). */
static void delivered(struct nip_tcp_conn *c, const struct nip_tcp_txseg *t, uint32_t tsecr,
		      uint64_t *sample)
{
	struct nip_tcp_rack *r = &c->rack;
	uint64_t now = nip_now(c->s), rtt = now - t->xmit_ts;
	uint32_t tsval = (uint32_t)(t->xmit_ts / 1000000u) + c->ts_offset; /* as nip_tcp_tsval */

	/* Step 3: delivered below a segment delivered before, and never sent again: the network
	 * reordered it. */
	if (!r->fack_set || nip_seq_gt(t->end, r->fack)) {
		r->fack = t->end;
		r->fack_set = true;
	} else if (nip_seq_lt(t->end, r->fack) && !(t->flags & NIP_TCP_TX_RXT))
		r->reordering_seen = true;
	if (t->flags & NIP_TCP_TX_RXT) {
		/* Which transmission arrived? An echoed timestamp older than the last one (same
		 * clock as nip_tcp_tsval), or a round trip shorter than the path's shortest, says
		 * an earlier one: no sample. */
		if (tsecr && nip_seq_lt(tsecr, tsval))
			return;
		if (rtt < r->min_rtt)
			return;
	} else if ((!tsecr || nip_seq_leq(tsecr, tsval + 1)) && (!*sample || rtt < *sample)) {
		*sample = rtt ? rtt : 1;
	}
	if (!r->rtt || sent_after(t->xmit_ts, t->end, r->xmit_ts, r->end_seq)) {
		r->rtt = rtt ? rtt : 1;
		r->xmit_ts = t->xmit_ts;
		r->end_seq = t->end;
	}
}

/* Marks the segments the scoreboard covers whole as SACKed (delivered). */
static void sack_segs(struct nip_tcp_conn *c, uint32_t tsecr, uint64_t *sample)
{
	struct nip_tcp_rack *r = &c->rack;
	const struct nip_tcp_scoreboard *sb = &c->sb;
	uint32_t i, j = 0;

	if (!sb->n)
		return;
	for (i = find(r, sb->r[0].start); i < r->n && j < sb->n;) {
		struct nip_tcp_txseg *t = at(r, i);

		if (nip_seq_leq(sb->r[j].end, t->start)) {
			j++;
			continue;
		}
		if (!(t->flags & NIP_TCP_TX_SACKED) && nip_seq_leq(sb->r[j].start, t->start) &&
		    nip_seq_leq(t->end, sb->r[j].end)) {
			unlose(r, t);
			t->flags |= NIP_TCP_TX_SACKED;
			r->sacked_segs++;
			delivered(c, t, tsecr, sample);
		}
		i++;
	}
}

uint64_t nip_tcp_rack_update(struct nip_tcp_conn *c, uint32_t ack, uint32_t tsecr, bool sacked,
			     bool dsack)
{
	struct nip_tcp_rack *r = &c->rack;
	struct nip_tcp_txseg *t;
	uint64_t sample = 0, sack_sample = 0;
	bool rxt_acked = false;

	/* Cumulatively acknowledged segments leave the ring; a segment acknowledged in part
	 * was delivered too, and keeps its rest. */
	while (r->n && nip_seq_lt(at(r, 0)->start, ack)) {
		t = at(r, 0);
		if (!(t->flags & NIP_TCP_TX_SACKED)) {
			delivered(c, t, tsecr, &sample);
			rxt_acked |= t->flags & NIP_TCP_TX_RXT;
		}
		if (nip_seq_gt(t->end, ack)) {
			if (t->flags & NIP_TCP_TX_LOST)
				r->lost_bytes -= ack - t->start;
			t->start = ack;
			break;
		}
		unlose(r, t);
		if (t->flags & NIP_TCP_TX_SACKED)
			r->sacked_segs--;
		r->head = (r->head + 1) & (r->cap - 1);
		r->n--;
	}
	/* Segments acknowledged together with a retransmission that filled a hole waited
	 * for it at the peer: their round trips say nothing (as Linux, which then takes none). */
	if (rxt_acked)
		sample = 0;
	if (sacked)
		sack_segs(c, tsecr, &sack_sample);
	if (sack_sample && (!sample || sack_sample < sample))
		sample = sack_sample;
	/* Step 4: a D-SACK says a retransmission was needless: widen the window by min_RTT / 4
	 * once per round trip, for the next REO_PERSIST recoveries. */
	if (r->dsack_round_set && nip_seq_geq(ack, r->dsack_round))
		r->dsack_round_set = false;
	if (dsack && !r->dsack_round_set) {
		r->dsack_round_set = true;
		r->dsack_round = c->snd_max;
		if (r->reo_wnd_mult < UINT8_MAX)
			r->reo_wnd_mult = (uint8_t)((r->reo_wnd_mult ? r->reo_wnd_mult : 1) + 1);
		r->reo_wnd_persist = REO_PERSIST;
	}
	return sample;
}

void nip_tcp_rack_recovery_end(struct nip_tcp_conn *c)
{
	struct nip_tcp_rack *r = &c->rack;

	if (r->reo_wnd_persist && --r->reo_wnd_persist == 0)
		r->reo_wnd_mult = 1;
}

/* RACK.reo_wnd (RFC 8985 6.2 step 4): none while recovering or once DupThresh segments are
 * SACKed, unless the path reordered before; else a quarter of min_RTT (widened by D-SACKs), at
 * most SRTT. */
static uint64_t reo_wnd(const struct nip_tcp_conn *c)
{
	const struct nip_tcp_rack *r = &c->rack;
	uint64_t w;

	if (!r->reordering_seen &&
	    (c->in_recovery || nip_seq_lt(c->snd_una, c->recover) || r->sacked_segs >= DUPTHRESH))
		return 0;
	w = (r->reo_wnd_mult ? r->reo_wnd_mult : 1) * r->min_rtt / 4;
	return c->srtt && w > c->srtt ? c->srtt : w;
}

bool nip_tcp_rack_detect(struct nip_tcp_conn *c)
{
	struct nip_tcp_rack *r = &c->rack;
	uint64_t now, reo, wait = 0;
	bool lost = false;

	/* Nothing delivered yet, or nothing left in flight (most ACKs): nothing to mark. */
	if (!r->rtt || !r->n) {
		nip_tcp_timer_clear(c, NIP_TCPT_REO);
		return false;
	}
	now = nip_now(c->s);
	reo = reo_wnd(c);
	/* Step 5: every segment sent before the newest delivered one is lost once RACK.rtt plus
	 * the window has passed since it left; the earliest of those not yet due sets the
	 * timer. Segments are in sequence order, which is their (first) sending order: past the
	 * first one never sent again and sent after RACK.xmit_ts, all are. */
	for (uint32_t i = 0; i < r->n; i++) {
		struct nip_tcp_txseg *t = at(r, i);
		uint64_t due;

		if (t->flags & (NIP_TCP_TX_SACKED | NIP_TCP_TX_LOST))
			continue;
		if (sent_after(t->xmit_ts, t->end, r->xmit_ts, r->end_seq)) {
			if (!(t->flags & NIP_TCP_TX_RXT))
				break;
			continue;
		}
		due = t->xmit_ts + r->rtt + reo;
		if (due <= now) {
			t->flags |= NIP_TCP_TX_LOST;
			r->lost_bytes += t->end - t->start;
			lost = true;
			if (t->flags & NIP_TCP_TX_RXT)
				c->s->cnt.tcp_lost_retransmits++;
		} else if (due - now > wait) {
			wait = due - now;
		}
	}
	if (wait)
		nip_tcp_timer_set(c, NIP_TCPT_REO, now + wait);
	else
		nip_tcp_timer_clear(c, NIP_TCPT_REO);
	return lost;
}

bool nip_tcp_rack_next_lost(const struct nip_tcp_conn *c, uint32_t *start, uint32_t *len)
{
	const struct nip_tcp_rack *r = &c->rack;

	if (!r->lost_bytes)
		return false;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct nip_tcp_txseg *t = at(r, i);

		if (t->flags & NIP_TCP_TX_LOST) {
			*start = t->start;
			*len = t->end - t->start;
			return true;
		}
	}
	return false;
}

void nip_tcp_rack_mark_first_lost(struct nip_tcp_conn *c)
{
	struct nip_tcp_rack *r = &c->rack;
	struct nip_tcp_txseg *t;

	if (!r->n || ((t = at(r, 0))->flags & (NIP_TCP_TX_LOST | NIP_TCP_TX_SACKED)))
		return;
	t->flags |= NIP_TCP_TX_LOST;
	r->lost_bytes += t->end - t->start;
}

void nip_tcp_rack_timeout(struct nip_tcp_conn *c)
{
	struct nip_tcp_rack *r = &c->rack;
	/* Go-back-N skips what the peer SACKed (as Linux after a timeout), unless this timeout
	 * follows another: the peer may have reneged (dropped what it SACKed), and skipping
	 * that again would stall the connection for good. */
	uint8_t clear = c->retries > 1 ? NIP_TCP_TX_SACKED | NIP_TCP_TX_LOST : NIP_TCP_TX_LOST;

	for (uint32_t i = 0; i < r->n; i++)
		at(r, i)->flags &= (uint8_t)~clear;
	r->lost_bytes = 0;
	if (clear & NIP_TCP_TX_SACKED)
		r->sacked_segs = 0;
	nip_tcp_timer_clear(c, NIP_TCPT_REO);
}

uint32_t nip_tcp_rack_skip_sacked(const struct nip_tcp_conn *c, uint32_t seq)
{
	const struct nip_tcp_rack *r = &c->rack;

	for (uint32_t i = find(r, seq); i < r->n; i++) {
		const struct nip_tcp_txseg *t = at(r, i);

		if (nip_seq_gt(t->start, seq) || !(t->flags & NIP_TCP_TX_SACKED))
			break;
		seq = t->end;
	}
	return seq;
}

/* ---- Tail loss probe (RFC 8985 7) ---- */

/*
 * Tail loss probe (RFC 8985 7). When the last segments of a flight are lost, no duplicate ACK
 * comes back and only the RTO (200 ms at least, thousands of datacenter round trips) would
 * notice. So while data is in flight, outside recovery, with SACK and an RTT sample, a probe
 * is due 2 SRTT + 2 ms after the last transmission or ACK (the 2 ms, as Linux adds, keep a
 * microsecond path from probing at every scheduling hiccup of the peer; plus the worst-case
 * delayed ACK when a single segment is out, whose ACK the peer may hold back): one new
 * segment if the windows allow, else the last segment again; in fast recovery, the first
 * segment marked lost if the pipe still holds one back. Its ACK, with SACK blocks, starts an
 * ordinary fast recovery for whatever else was lost. The probe carries PSH: when only the ACK
 * of the whole flight was lost, the probe arrives in order and alone, and a receiver may delay
 * the ACK of a lone segment (Linux by 40 ms at least: seen on net_tap at 1% loss, a fifth of
 * a transfer's time), unless it is pushed: Linux then ACKs once its application has read it
 * (a full-sized segment with PSH marks the ACK "pushed", tcp_measure_rcv_mss). One probe per
 * episode; the episode ends when an ACK covers what was sent up to the probe, and a retransmitted
 * probe that was needed (no D-SACK reported its copy: tcp_input.c) gets the usual congestion
 * response.
 */
#define WC_DELACK_NS 200000000ull /* RFC 8985 7.2 WCDelAckT */
#define PTO_SLACK_NS 2000000ull	  /* added to 2 SRTT */

uint64_t nip_tcp_pto_due(const struct nip_tcp_conn *c)
{
	uint32_t flight = c->snd_max - c->snd_una;
	uint64_t due;
	bool data_state;

	/* Nothing in flight, the case after most ACKs, is the first answer. */
	if (!flight || !c->sack_ok || !c->srtt || c->tlp_end)
		return 0;
	/* The RTO comes first anyway: the second answer, for a lone segment (a request or a
	 * response) whose probe would wait for the worst-case delayed ACK. */
	due = nip_now(c->s) + 2 * c->srtt + (flight <= c->mss ? WC_DELACK_NS : PTO_SLACK_NS);
	if (c->timer[NIP_TCPT_RTO] && due >= c->timer[NIP_TCPT_RTO])
		return 0;
	data_state = c->state == NIP_TCP_ESTABLISHED || c->state == NIP_TCP_CLOSE_WAIT ||
		     c->state == NIP_TCP_FIN_WAIT_1 || c->state == NIP_TCP_CLOSING ||
		     c->state == NIP_TCP_LAST_ACK;
	/* Not after a timeout either, until its recovery point is acknowledged: the
	 * retransmissions in slow start are what probes then. In fast recovery too (beyond RFC
	 * 8985 7.2, which probes only outside it): if the ACK that would end the recovery is
	 * lost, nothing else comes back (seen on net_tap at 1% loss: the one ACK covering the
	 * whole flight lost, then silence until the RTO); nor does anything when segments marked
	 * lost wait for the pipe to drain and the ACKs that would drain it are lost (a receiver
	 * that compresses its SACKs, as Linux does, sends few: seen there too). */
	if (!data_state || c->snd_nxt != c->snd_max ||
	    (!c->in_recovery && nip_seq_lt(c->snd_una, c->recover)))
		return 0;
	return due;
}

void nip_tcp_pto_fire(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint32_t end = c->snd_una + c->sq_bytes;
	uint32_t unsent = nip_seq_gt(end, c->snd_nxt) ? end - c->snd_nxt : 0;
	uint32_t room = nip_seq_gt(c->snd_una + c->snd_wnd, c->snd_nxt)
				? c->snd_una + c->snd_wnd - c->snd_nxt
				: 0;
	uint32_t lost_seq, lost_len;

	if (c->snd_max == c->snd_una || c->tlp_end || c->snd_nxt != c->snd_max)
		return;
	s->cnt.tcp_tlp_probes++;
	if (c->in_recovery && nip_tcp_rack_next_lost(c, &lost_seq, &lost_len)) {
		/* In recovery with segments marked lost that the pipe holds back: the first of
		 * them, beyond cwnd, as the one probe (it fills a hole the peer still has). */
		lost_len = lost_len < c->mss ? lost_len : c->mss;
		nip_tcp_send_data(c, lost_seq, lost_len, NIP_TCP_ACK | NIP_TCP_PSH);
		c->tlp_seq = lost_seq;
		s->cnt.tcp_retransmits++;
		c->rtt_start = 0; /* Karn */
	} else if (unsent && !c->fin_sent && room >= (unsent < c->mss ? unsent : c->mss)) {
		/* New data: it probes as well as a retransmission would, and is not a copy. */
		uint32_t len = unsent < c->mss ? unsent : c->mss;

		nip_tcp_send_data(c, c->snd_nxt, len, NIP_TCP_ACK | NIP_TCP_PSH);
		c->tlp_seq = c->snd_nxt;
		c->snd_nxt += len;
		c->snd_max = c->snd_nxt;
		c->tlp_rxt = false;
	} else {
		/* The last segment again (with the FIN if that was sent last). */
		uint32_t data_end = c->fin_sent ? c->fin_seq : c->snd_max;
		uint32_t avail = data_end - c->snd_una;
		uint32_t len = avail < c->mss ? avail : c->mss;

		nip_tcp_send_data(c, data_end - len, len,
				  NIP_TCP_ACK | NIP_TCP_PSH | (c->fin_sent ? NIP_TCP_FIN : 0));
		c->tlp_seq = data_end - len;
		s->cnt.tcp_retransmits++;
		c->rtt_start = 0; /* Karn */
		c->tlp_rxt = true;
	}
	if (c->in_recovery)
		c->tlp_rxt = false; /* the recovery made the congestion response already */
	c->tlp_end = c->snd_max;
	nip_tcp_rto_arm(c); /* RFC 8985 7.3 */
}

void nip_tcp_tlp_acked(struct nip_tcp_conn *c, uint32_t ack, uint32_t flight)
{
	if (!c->tlp_end || nip_seq_lt(ack, c->tlp_end))
		return;
	if (c->tlp_rxt && !c->in_recovery) {
		/* The probe repaired a loss (RFC 8985 7.4): the response to any loss. */
		c->cc_ops->on_enter_recovery(&c->cc, flight, nip_now(c->s));
		c->cc_ops->on_exit_recovery(&c->cc, nip_now(c->s));
		c->s->cnt.tcp_tlp_repairs++;
	}
	c->tlp_end = 0;
}
