/* SPDX-License-Identifier: MIT */
/*
 * Segment arrival for a connection that exists (RFC 9293 3.10.7.3 SYN-SENT and 3.10.7.4
 * "Otherwise"), in the RFC's order: PAWS (RFC 7323 5.3), sequence acceptability and trimming
 * to the window, RST (with RFC 5961 3.2 exact-match and challenge ACKs), SYN in a
 * synchronized state (RFC 5961 4.2), ACK (RFC 5961 5.2 range check, new data acknowledged,
 * RTT, congestion control, duplicate ACKs and fast retransmit of RFC 5681 3.2 / RFC 6582,
 * SACK scoreboard of RFC 6675 with RACK's loss detection of RFC 8985 6 deciding what is lost,
 * window update), data (in order to the pops, out of order to
 * the reassembly queue), FIN. Then output runs once, sending data the ACK allowed and the ACK
 * the segment earned (delayed per RFC 9293 3.8.6.3 / RFC 5681 4.2 otherwise). What the owner
 * must hear of (writable, readable, connected, acceptable, failed) is only recorded here
 * (nip_tcp_notify); nip_tcp_input delivers it after this returns.
 *
 * Call order: nip_tcp_input (tcp.c) calls nip_tcp_conn_input for a segment of a known
 * connection; nothing else does.
 *
 * A function that may end the connection returns GONE; the caller must not touch c again.
 */
#include <errno.h>

#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

#define GONE (-2)
#define DROP (-1)
#define PAWS_IDLE_NS (24ull * 86400 * 1000000000) /* RFC 7323 5.5: 24 days */

/* RFC 5961 7: challenge ACKs are rate limited across the stack. */
static void challenge_ack(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint64_t sec = nip_now(s) / 1000000000u;

	if (sec != s->tcp.challenge_window) {
		s->tcp.challenge_window = sec;
		s->tcp.challenge_sent = 0;
	}
	if (s->tcp.challenge_sent >= s->cfg.tcp.challenge_ack_per_s) {
		s->cnt.tcp_challenge_limited++;
		return;
	}
	s->tcp.challenge_sent++;
	s->cnt.tcp_challenge_acks++;
	nip_tcp_send_ack(c);
}

static void enter_time_wait(struct nip_tcp_conn *c)
{
	c->state = NIP_TCP_TIME_WAIT;
	nip_tcp_timers_clear(c);
	nip_tcp_timer_set(c, NIP_TCPT_2MSL, nip_now(c->s) + 2 * c->s->cfg.tcp.msl);
}

/* ---- SYN-SENT (RFC 9293 3.10.7.3) ---- */

static void syn_sent_input(struct nip_tcp_conn *c, const struct nip_tcp_seg *seg)
{
	struct nip_stack *s = c->s;
	bool ack = seg->flags & NIP_TCP_ACK;

	if (ack && (nip_seq_leq(seg->ack, c->iss) || nip_seq_gt(seg->ack, c->snd_max))) {
		if (!(seg->flags & NIP_TCP_RST))
			nip_tcp_send_reset(s, seg, c->remote_ip, c->local_ip);
		s->cnt.drop_tcp_bad_ack++;
		return;
	}
	if (seg->flags & NIP_TCP_RST) {
		if (ack) {
			s->cnt.tcp_rst_rcvd++;
			nip_tcp_drop(c, ECONNREFUSED);
		}
		return;
	}
	if (!(seg->flags & NIP_TCP_SYN))
		return;
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	c->rcv_adv = c->rcv_nxt;
	nip_tcp_syn_options(c, seg);
	c->snd_wnd = seg->win; /* not scaled in a SYN */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = seg->ack;
	if (!ack) {
		/* Simultaneous open (RFC 9293 3.5 figure 8). */
		c->state = NIP_TCP_SYN_RCVD;
		nip_tcp_send_syn(c);
		nip_tcp_rto_arm(c);
		return;
	}
	c->snd_una = seg->ack;
	c->state = NIP_TCP_ESTABLISHED;
	nip_tcp_established(c);
	if (c->rtt_start && c->retries == 0)
		nip_tcp_rtt_sample(c, nip_now(s) - c->rtt_start);
	c->rtt_start = 0;
	c->retries = 0;
	nip_tcp_timer_clear(c, NIP_TCPT_RTO);
	c->ack_now = true;
	nip_tcp_output(c);
	nip_tcp_notify(c, NIP_TCP_EV_CONNECTED | NIP_TCP_EV_WRITABLE);
}

/* ---- ACK processing ---- */

static void enter_recovery(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint32_t seq = c->snd_una, len = nip_min32(c->mss, c->sq_bytes);

	c->in_recovery = true;
	c->recover = c->snd_max;
	c->tlp_end = 0; /* recovery takes over from a probe's episode */
	nip_tcp_timer_clear(c, NIP_TCPT_PTO);
	c->cc_ops->on_enter_recovery(&c->cc, c->snd_nxt - c->snd_una, nip_now(s));
	c->rtt_start = 0; /* Karn: no sample across a retransmission */
	/* Fast retransmit (RFC 5681 3.2 step 4): with SACK, of the first segment RACK marked
	 * lost (the first unacknowledged one when duplicate ACKs alone brought us here), else of
	 * the first unacknowledged one. Further lost segments follow as the pipe allows. */
	if (c->sack_ok) {
		if (!c->rack.lost_bytes)
			nip_tcp_rack_mark_first_lost(c);
		if (nip_tcp_rack_next_lost(c, &seq, &len))
			len = nip_min32(len, c->mss);
		else
			len = 0;
	}
	if (len) {
		nip_tcp_send_data(c, seq, len, NIP_TCP_ACK);
		s->cnt.tcp_fast_retransmits++;
		s->cnt.tcp_retransmits++;
	}
	nip_tcp_rto_arm(c);
	nip_tcp_pto_arm(c); /* when nothing else is left to resend (tcp_timer.c) */
}

void nip_tcp_rack_lost(struct nip_tcp_conn *c)
{
	/* Once per window of data (RFC 6582 3.2): not again before what was outstanding at the
	 * last recovery or timeout is acknowledged. */
	if (!c->in_recovery && !nip_seq_lt(c->snd_una, c->recover))
		enter_recovery(c);
}

static void dup_ack(struct nip_tcp_conn *c)
{
	c->dupacks++;
	if (c->in_recovery || nip_seq_lt(c->snd_una, c->recover))
		return;
	/* With SACK, RACK decides what is lost (nip_tcp_rack_detect); three duplicate ACKs
	 * start recovery only when they carry no SACK information at all. */
	if (c->dupacks >= 3 && (!c->sack_ok || !c->sb.n))
		enter_recovery(c);
}

/*
 * Send autotuning: a send queue shorter than what the network takes in one round trip leaves
 * the connection idle between the application's pushes, so while the application has not
 * set SO_SNDBUF the queue's limit follows twice the smaller of cwnd and the peer's window,
 * up to tcp_sndbuf_max (Linux sizes its send buffer from cwnd the same way). The queue
 * holds the application's own buffers (zero copy), so this bounds how much it may have in
 * flight, not memory we allocate. It never shrinks.
 */
static void snd_autotune(struct nip_tcp_conn *c)
{
	uint64_t want = 2ull * nip_min32(c->cc.cwnd, c->snd_wnd);
	uint32_t max = c->s->cfg.tcp.sndbuf_max;

	if (want > c->sndbuf && c->sndbuf < max) {
		c->sndbuf = want < max ? (uint32_t)want : max;
		c->s->cnt.tcp_sndbuf_grown++;
		nip_tcp_rack_reserve(c); /* a larger flight: RACK's ring follows the limit */
	}
}

/* ts_rtt: the round trip the echoed timestamp measures, in its 1 ms ticks, or NO_ECHO, or
 * SAMPLED when the ACK's round trip was measured already (RACK's send times). */
#define NO_ECHO UINT32_MAX
#define SAMPLED (UINT32_MAX - 1)

static void new_ack(struct nip_tcp_conn *c, uint32_t ack, uint32_t ts_rtt)
{
	struct nip_stack *s = c->s;
	uint32_t acked = ack - c->snd_una;
	uint32_t flight = c->snd_nxt - c->snd_una;
	uint32_t data_acked = nip_min32(acked, c->sq_bytes);
	bool was_writable = nip_tcp_writable(c);

	/* RTT (RFC 6298): the echoed timestamp measures every ACK, retransmissions included
	 * (RFC 7323 4), but its 1 ms ticks only resolve round trips of milliseconds; shorter
	 * ones come from the one segment timed with the real clock (Karn's rule applies). */
	if (ts_rtt == SAMPLED) {
		/* done in ack_input */
	} else if (ts_rtt >= 2 && ts_rtt < 60000) { /* beyond a minute: a bogus echo */
		nip_tcp_rtt_sample(c, (uint64_t)ts_rtt * 1000000u);
		c->rtt_start = 0;
	} else if (ts_rtt < 2 && c->retries) {
		/* The echo proves a round trip shorter than the timestamp clock resolves, and an
		 * echo is valid for retransmitted data too (RFC 7323 4): the path works again, so
		 * the backed-off RTO (RFC 6298 5.5) ends here, not at the next segment timed
		 * without retransmission, which heavy loss can put off for many timeouts. */
		nip_tcp_rto_reset(c);
	} else if (c->rtt_start && nip_seq_gt(ack, c->rtt_seq)) {
		nip_tcp_rtt_sample(c, nip_now(s) - c->rtt_start);
		c->rtt_start = 0;
	}
	nip_tcp_sq_ack(c, data_acked);
	c->snd_una = ack;
	if (nip_seq_lt(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	nip_tcp_sb_advance(&c->sb, c->snd_una);
	c->retries = 0;
	if (c->in_recovery) {
		if (nip_seq_geq(ack, c->recover)) {
			c->in_recovery = false;
			c->dupacks = 0;
			c->cc_ops->on_exit_recovery(&c->cc, nip_now(s));
			nip_tcp_rack_recovery_end(c);
		} else {
			/* Partial ACK (RFC 6582 3.2 step 5): the next hole is lost too (with SACK,
			 * RACK tells which). */
			if (!c->sack_ok && c->sq_bytes) {
				nip_tcp_send_data(c, c->snd_una, nip_min32(c->mss, c->sq_bytes),
						  NIP_TCP_ACK);
				s->cnt.tcp_retransmits++;
				c->dupacks = 1;
			}
		}
	} else {
		c->dupacks = 0;
		c->cc_ops->on_ack(&c->cc, acked, flight, c->srtt, nip_now(s));
	}
	nip_tcp_tlp_acked(c, ack, flight);
	nip_tcp_ack_timers(c);
	if (c->snd_auto)
		snd_autotune(c);
	if (!was_writable && nip_tcp_writable(c))
		nip_tcp_notify(c, NIP_TCP_EV_WRITABLE);
}

static int ack_input(struct nip_tcp_conn *c, const struct nip_tcp_seg *seg)
{
	struct nip_stack *s = c->s;
	uint32_t ack = seg->ack, win;
	bool pure_dup, advanced, sack_news = false, dsack = false;
	uint64_t rtt = 0;

	if (c->state == NIP_TCP_SYN_RCVD) {
		if (!nip_seq_gt(ack, c->snd_una) || nip_seq_gt(ack, c->snd_max)) {
			nip_tcp_send_reset(s, seg, c->remote_ip, c->local_ip);
			s->cnt.drop_tcp_bad_ack++;
			return DROP;
		}
		c->snd_una = c->iss + 1;
		c->state = NIP_TCP_ESTABLISHED;
		if (c->rtt_start && c->retries == 0)
			nip_tcp_rtt_sample(c, nip_now(s) - c->rtt_start);
		c->rtt_start = 0;
		c->snd_wnd = (uint32_t)seg->win << c->snd_wscale;
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = ack;
		nip_tcp_established(c);
		nip_tcp_timer_clear(c, NIP_TCPT_RTO);
		c->retries = 0;
		if (c->listener && !c->owned)
			nip_tcp_listen_established(c);
		else
			nip_tcp_notify(c, NIP_TCP_EV_CONNECTED | NIP_TCP_EV_WRITABLE);
	}
	/* RFC 5961 5.2: an ACK for data never sent, or far below the window, is answered with an
	 * ACK and otherwise ignored. */
	if (nip_seq_gt(ack, c->snd_max) ||
	    nip_seq_lt(ack, c->snd_una - (c->max_snd_wnd ? c->max_snd_wnd : 1))) {
		s->cnt.drop_tcp_bad_ack++;
		challenge_ack(c);
		return DROP;
	}
	win = (uint32_t)seg->win << c->snd_wscale;
	if (c->sack_ok && seg->opt.nsack) {
		uint32_t sacked = c->sb.sacked;

		nip_tcp_sb_update(&c->sb, seg->opt.sack, seg->opt.nsack, c->snd_una, c->snd_max);
		sack_news = c->sb.sacked > sacked;
		/* A D-SACK (RFC 2883 4): the first block below the ACK or inside the second. */
		dsack = nip_seq_leq(seg->opt.sack[0].end, ack) ||
			(seg->opt.nsack > 1 &&
			 nip_seq_geq(seg->opt.sack[0].start, seg->opt.sack[1].start) &&
			 nip_seq_leq(seg->opt.sack[0].end, seg->opt.sack[1].end));
		/* RFC 8985 7.4.2: a D-SACK of the probe's copy says the original had arrived:
		 * nothing was lost, no congestion response when its episode ends. */
		if (dsack && c->tlp_end && c->tlp_rxt &&
		    nip_seq_leq(seg->opt.sack[0].start, c->tlp_seq) &&
		    nip_seq_lt(c->tlp_seq, seg->opt.sack[0].end))
			c->tlp_rxt = false;
	}
	if (c->sack_ok)
		rtt = nip_tcp_rack_update(c, ack, c->ts_ok && seg->opt.has_ts ? seg->opt.tsecr : 0,
					  sack_news, dsack);
	if (rtt) {
		/* A segment sent once was delivered: its send time gives the round trip at the
		 * clock's resolution (Linux samples its skb send times the same way), where an
		 * echoed timestamp has 1 ms ticks and, while a hole is open, echoes the segment
		 * before it (RFC 7323 4.3), inflating SRTT, the RTO and the probe timeout. */
		nip_tcp_rtt_sample(c, rtt);
		c->rtt_start = 0;
	}
	advanced = nip_seq_gt(ack, c->snd_una);
	if (advanced)
		new_ack(c, ack,
			rtt ? SAMPLED
			: c->ts_ok && seg->opt.has_ts && seg->opt.tsecr
				? nip_tcp_tsval(c) - seg->opt.tsecr
				: NO_ECHO);
	else if (ack == c->snd_una && c->snd_max != c->snd_una) {
		/* A duplicate ACK (RFC 5681 2) carries no data and the same window (not a zero
		 * one: answers to window probes). With SACK, an ACK that SACKs new data counts
		 * too, even with data or a new window (RFC 6675 2): when data flows both ways,
		 * the peer's data segments are its only ACKs. */
		pure_dup = seg->payload_len == 0 && !(seg->flags & (NIP_TCP_SYN | NIP_TCP_FIN)) &&
			   win == c->snd_wnd && win;
		if (sack_news || pure_dup)
			dup_ack(c);
	}
	/* RFC 8985 6.2 step 5, then recovery. An ACK of everything in flight (most ACKs of a
	 * request-response exchange) leaves nothing to mark: only the reordering timer stops,
	 * as nip_tcp_rack_detect would stop it. */
	if (c->sack_ok) {
		if (!c->rack.n)
			nip_tcp_timer_clear(c, NIP_TCPT_REO);
		else if (nip_tcp_rack_detect(c))
			nip_tcp_rack_lost(c);
	}
	/* Window update (RFC 9293 3.10.7.4's SND.WL1/SND.WL2 rule), and also from any ACK that
	 * advances snd_una, as Linux does (tcp_may_update_window): the window is counted from
	 * snd_una, so keeping the window of a segment with a higher sequence number but an older
	 * ACK (the peer's own retransmission arriving after its new data) moves the right edge
	 * past the peer's, and the segments sent there, ACKs included, are refused. The newest
	 * ACK was sent last, so its window is the peer's latest word. */
	if (advanced || nip_seq_lt(c->snd_wl1, seg->seq) ||
	    (c->snd_wl1 == seg->seq && nip_seq_leq(c->snd_wl2, ack))) {
		bool opened = c->snd_wnd == 0 && win > 0;

		c->snd_wnd = win;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = ack;
		if (win > c->max_snd_wnd)
			c->max_snd_wnd = win;
		if (opened) {
			nip_tcp_timer_clear(c, NIP_TCPT_PERSIST);
			c->persist_shift = 0;
		}
	}
	if (c->snd_wnd == 0)
		c->retries = 0; /* the peer answers: a closed window is not a dead peer */
	/* What follows acts only on the acknowledgment of our FIN. */
	if (!c->fin_sent || !nip_seq_gt(c->snd_una, c->fin_seq))
		return 0;
	switch (c->state) {
	case NIP_TCP_FIN_WAIT_1:
		c->state = NIP_TCP_FIN_WAIT_2;
		/* A closed connection does not wait forever for the peer's FIN. */
		if (!c->owned)
			nip_tcp_timer_set(c, NIP_TCPT_2MSL, nip_now(s) + 2 * s->cfg.tcp.msl);
		break;
	case NIP_TCP_CLOSING:
		enter_time_wait(c);
		break;
	case NIP_TCP_LAST_ACK:
		nip_tcp_drop(c, 0);
		return GONE;
	default:
		break;
	}
	return 0;
}

/* ---- data and FIN ---- */

static void queue_in_order(struct nip_tcp_conn *c, struct demi__buf *b)
{
	demi__buf_fifo_push(&c->rq, b);
	c->rq_bytes += b->len;
	c->rq_mem += b->cap;
	c->rcv_nxt += b->len;
	c->s->cnt.tcp_rx_bytes += b->len;
}

/* The peer's FIN is next in sequence (RFC 9293 3.10.7.4 eighth step). */
static void fin_input(struct nip_tcp_conn *c)
{
	c->rcv_nxt++;
	c->fin_rcvd = true;
	c->rfin_pending = false;
	c->ack_now = true;
	switch (c->state) {
	case NIP_TCP_SYN_RCVD:
	case NIP_TCP_ESTABLISHED:
		c->state = NIP_TCP_CLOSE_WAIT;
		break;
	case NIP_TCP_FIN_WAIT_1:
		if (c->fin_sent && nip_seq_gt(c->snd_una, c->fin_seq))
			enter_time_wait(c);
		else
			c->state = NIP_TCP_CLOSING;
		break;
	case NIP_TCP_FIN_WAIT_2:
		enter_time_wait(c);
		break;
	default:
		break;
	}
}

/* Takes the (already trimmed) payload [seq, seq + len) at p inside frame, and a FIN after it.
 * Returns whether anything became readable, or GONE. Consumes frame. */
static int data_input(struct nip_tcp_conn *c, struct demi__buf *frame, uint32_t seq,
		      const uint8_t *p, uint32_t len, bool fin)
{
	struct nip_stack *s = c->s;
	bool readable = false;

	if (c->state != NIP_TCP_ESTABLISHED && c->state != NIP_TCP_FIN_WAIT_1 &&
	    c->state != NIP_TCP_FIN_WAIT_2 && c->state != NIP_TCP_SYN_RCVD) {
		demi__buf_put(frame); /* the peer's FIN came already: nothing more is data */
		return 0;
	}
	if (!c->owned && len && !c->listener) {
		/* Its owner closed it: nobody will read it (RFC 9293 3.10.7.4 step 7 after CLOSE;
		 * as Linux). (A connection still on its listener's queue keeps its data for the
		 * accept to come.) */
		demi__buf_put(frame);
		s->cnt.drop_tcp_after_close++;
		nip_tcp_send_rst_conn(c);
		nip_tcp_drop(c, ECONNABORTED);
		return GONE;
	}
	if (len) {
		frame->off = (uint32_t)(p - frame->base);
		frame->len = len;
		frame->priv |= NIP_TCP_BUF_RCVD; /* see tcp_mem.c */
		if (seq == c->rcv_nxt) {
			if (frame->cap > nip_tcp_rcv_mem_room(c) ||
			    (s->tcp.mem_level == NIP_TCP_MEM_CRITICAL &&
			     !(frame = nip_tcp_mem_rcv(c, frame)))) {
				if (frame) {
					s->cnt.drop_tcp_rcv_mem++;
					demi__buf_put(frame);
				}
				c->ack_now = true;
				fin = false;
			} else {
				struct demi__buf *b;
				bool filled = c->reass.head != NULL;

				queue_in_order(c, frame);
				while ((b = nip_tcp_reass_pop(&c->reass, c->rcv_nxt)))
					queue_in_order(c, b);
				readable = true;
				c->segs_unacked++;
				if (filled || !s->cfg.tcp.delack)
					c->ack_now = true;
				else if ((c->segs_unacked >= 2 || c->quickacks) &&
					 !demi__list_linked(&c->ack_link))
					demi__list_push_back(&s->tcp.ack_pending, &c->ack_link);
				if (c->quickacks)
					c->quickacks--;
			}
		} else {
			uint64_t room = nip_tcp_rcv_mem_room(c) + c->reass.mem;

			s->cnt.tcp_ooo_segs++;
			if (s->tcp.mem_level == NIP_TCP_MEM_CRITICAL) {
				/* The device needs its buffers more than we need this early data
				 * (tcp_mem.c): the peer will send it again. */
				s->cnt.drop_tcp_mem_pressure++;
				demi__buf_put(frame);
			} else if (nip_tcp_reass_insert(&c->reass, frame, seq, c->rcv_nxt, room) <
				   0) {
				s->cnt.drop_tcp_rcv_mem++;
			}
			c->ack_now = true; /* duplicate ACK with SACK at once (RFC 5681 4.2) */
		}
	} else {
		demi__buf_put(frame);
	}
	if (fin) {
		uint32_t fseq = seq + len;

		if (fseq == c->rcv_nxt) {
			fin_input(c);
			readable = true;
		} else if (nip_seq_gt(fseq, c->rcv_nxt)) {
			c->rfin_pending = true;
			c->rfin_seq = fseq;
		}
	}
	if (c->rfin_pending && c->rfin_seq == c->rcv_nxt && !c->fin_rcvd) {
		fin_input(c);
		readable = true;
	}
	if (!c->ack_now && c->segs_unacked && !c->timer[NIP_TCPT_DELACK] &&
	    !demi__list_linked(&c->ack_link)) {
		nip_tcp_timer_set(c, NIP_TCPT_DELACK, nip_now(s) + s->cfg.tcp.delack);
		s->cnt.tcp_delayed_acks++;
	}
	return readable;
}

/* A SYN for a connection in TIME-WAIT with a higher sequence number starts a new one
 * (RFC 9293 3.10.7.4 note, RFC 6191): the old block goes, the listener takes the SYN. */
static bool time_wait_reuse(struct nip_tcp_conn *c, const struct nip_tcp_seg *seg)
{
	struct nip_stack *s = c->s;
	struct nip_tcp_conn *l = s->tcp.ports[c->local_port];
	uint32_t rip = c->remote_ip, lip = c->local_ip;

	if (c->state != NIP_TCP_TIME_WAIT || (seg->flags & (NIP_TCP_ACK | NIP_TCP_RST)) ||
	    !(seg->flags & NIP_TCP_SYN) || !nip_seq_gt(seg->seq, c->rcv_nxt) || !l ||
	    l->state != NIP_TCP_LISTEN)
		return false;
	c->state = NIP_TCP_CLOSED;
	if (c->owned) {
		nip_tcp_hash_remove(c);
		nip_tcp_timers_clear(c);
	} else {
		nip_tcp_conn_free(c);
	}
	nip_tcp_listen_input(l, seg, rip, lip);
	return true;
}

void nip_tcp_conn_input(struct nip_tcp_conn *c, struct demi__buf *frame,
			const struct nip_tcp_seg *seg)
{
	struct nip_stack *s = c->s;
	uint32_t seq = seg->seq, len = (uint32_t)seg->payload_len, wnd, seglen;
	const uint8_t *p = seg->payload;
	bool fin = seg->flags & NIP_TCP_FIN, acceptable;
	int rc;

	c->last_rx = nip_now(s);
	c->keepalive_sent = 0;
	/* The states before and after the data transfer, whose segments take their own paths,
	 * out of an established connection's way. */
	if (c->state != NIP_TCP_ESTABLISHED) {
		if (c->state == NIP_TCP_SYN_SENT) {
			syn_sent_input(c, seg);
			demi__buf_put(frame);
			return;
		}
		if (c->state == NIP_TCP_CLOSED || c->state == NIP_TCP_LISTEN ||
		    time_wait_reuse(c, seg)) {
			demi__buf_put(frame);
			return;
		}
		/* A retransmitted SYN while our SYN-ACK is unanswered: answer again. */
		if (c->state == NIP_TCP_SYN_RCVD && (seg->flags & NIP_TCP_SYN) &&
		    !(seg->flags & NIP_TCP_ACK) && seq == c->irs) {
			nip_tcp_send_syn(c);
			demi__buf_put(frame);
			return;
		}
	}
	/* PAWS (RFC 7323 5.3 R1). */
	if (c->ts_ok && seg->opt.has_ts && !(seg->flags & NIP_TCP_RST) &&
	    nip_seq_lt(seg->opt.tsval, c->ts_recent) &&
	    nip_now(s) - c->ts_recent_age < PAWS_IDLE_NS) {
		s->cnt.drop_tcp_paws++;
		nip_tcp_send_ack(c);
		demi__buf_put(frame);
		return;
	}
	/* Acceptability against the window we advertised (RFC 9293 3.10.7.4 first step). An
	 * empty segment may sit at the right edge itself (as Linux allows): a peer that filled
	 * the window sends its ACKs from there, and refusing them (each refusal answered with an
	 * ACK, refused in turn when both windows are full) loses the ACKs and starts an ACK war. */
	wnd = nip_seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	seglen = len + !!(seg->flags & NIP_TCP_SYN) + fin;
	if (seglen == 0)
		acceptable = nip_seq_geq(seq, c->rcv_nxt) && nip_seq_leq(seq, c->rcv_nxt + wnd);
	else
		acceptable = wnd && (nip_seq_in(seq, c->rcv_nxt, c->rcv_nxt + wnd) ||
				     nip_seq_in(seq + seglen - 1, c->rcv_nxt, c->rcv_nxt + wnd));
	if (!acceptable) {
		if (wnd == 0 && seq == c->rcv_nxt && (seg->flags & NIP_TCP_ACK) &&
		    !(seg->flags & (NIP_TCP_RST | NIP_TCP_SYN))) {
			/* Closed window: the ACK still counts, the data does not. */
			len = 0;
			fin = false;
			c->ack_now = true;
		} else {
			s->cnt.drop_tcp_out_of_window++;
			if (!(seg->flags & NIP_TCP_RST))
				nip_tcp_send_ack(c);
			/* RFC 9293 3.10.7.4: a retransmitted FIN restarts the 2 MSL timeout. */
			if (c->state == NIP_TCP_TIME_WAIT && fin && !(seg->flags & NIP_TCP_RST))
				nip_tcp_timer_set(c, NIP_TCPT_2MSL,
						  nip_now(s) + 2 * s->cfg.tcp.msl);
			demi__buf_put(frame);
			return;
		}
	}
	/* Anything but an ACK without RST or SYN ends here (one test for the usual segment). */
	if ((seg->flags & (NIP_TCP_RST | NIP_TCP_SYN | NIP_TCP_ACK)) != NIP_TCP_ACK) {
		demi__buf_put(frame);
		/* RST (RFC 5961 3.2): only an exact sequence number resets; others in the window
		 * are challenged. */
		if (seg->flags & NIP_TCP_RST) {
			if (seq != c->rcv_nxt) {
				challenge_ack(c);
				return;
			}
			s->cnt.tcp_rst_rcvd++;
			nip_tcp_drop(c, c->state == NIP_TCP_SYN_RCVD && !c->listener ? ECONNREFUSED
										     : ECONNRESET);
			return;
		}
		/* SYN in a synchronized state (RFC 5961 4.2). */
		if (seg->flags & NIP_TCP_SYN)
			challenge_ack(c);
		return;
	}
	/* RFC 7323 4.3: the timestamp to echo. */
	if (c->ts_ok && seg->opt.has_ts && nip_seq_leq(seq, c->last_ack_sent) &&
	    nip_seq_geq(seg->opt.tsval, c->ts_recent)) {
		c->ts_recent = seg->opt.tsval;
		c->ts_recent_age = nip_now(s);
	}
	rc = ack_input(c, seg);
	if (rc == GONE) {
		demi__buf_put(frame);
		return;
	}
	if (rc == DROP) {
		demi__buf_put(frame);
		return;
	}
	/* Trim to the window: bytes before rcv_nxt were received already, bytes past the right
	 * edge are not ours to keep. */
	if (nip_seq_lt(seq, c->rcv_nxt)) {
		uint32_t d = c->rcv_nxt - seq;

		if (d >= len) {
			if (d > len)
				fin = false; /* an old FIN */
			p += len;
			len = 0;
		} else {
			p += d;
			len -= d;
		}
		seq = c->rcv_nxt;
		c->ack_now = true; /* a duplicate: the peer may have missed our ACK */
	}
	wnd = nip_seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	if (nip_seq_gt(seq + len, c->rcv_nxt + wnd)) {
		uint32_t keep = nip_seq_gt(c->rcv_nxt + wnd, seq) ? c->rcv_nxt + wnd - seq : 0;

		len = keep;
		fin = false;
		c->ack_now = true;
	}
	rc = data_input(c, frame, seq, p, len, fin);
	if (rc == GONE)
		return;
	/* Output has nothing to do when no ACK is due at once and nothing may be sent (data
	 * that waits for the delayed ACK, or the application's answer). */
	if (c->ack_now || nip_tcp_may_send(c))
		nip_tcp_output(c);
	if (rc > 0 || c->fin_rcvd)
		nip_tcp_notify(c, NIP_TCP_EV_READABLE);
	if (c->state == NIP_TCP_CLOSED)
		nip_tcp_maybe_free(c);
}
