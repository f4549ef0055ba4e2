/* SPDX-License-Identifier: MIT */
/*
 * TCP's timers: retransmission (RFC 6298, with Karn's rule and exponential backoff, and the
 * SYN retries of RFC 9293 3.8.1), tail loss probe (RFC 8985 7), persist (zero-window probes,
 * RFC 9293 3.8.6.1), delayed ACK (RFC 9293 3.8.6.3), keepalive (RFC 9293 3.8.4) and 2MSL
 * (TIME-WAIT, RFC 9293 3.6).
 *
 * Each connection keeps one deadline per timer; the stack keeps connections with an armed
 * timer in the min-heap of lib/heap.h by their earliest deadline, so nip_tcp_poll costs O(1)
 * when nothing is due and O(log n) per connection that is.
 *
 * Call order: the other files arm and clear timers (nip_tcp_timer_set/_clear, rto_arm,
 * pto_arm, ack_timers) as segments come and go; nip_tcp_poll(now) fires what is due, then
 * delivers the events the firings recorded (a timeout's error); nip_tcp_timer_next_due says
 * when it next has work.
 */
#include <errno.h>

#include "heap.h"
#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

/* The stack's connections with an armed timer, by their earliest deadline (lib/heap.h). */
DEMI__HEAP_DEFINE(conn_heap, struct nip_tcp_stack, struct nip_tcp_conn, due, heap_idx)

/* Puts c at its place for its earliest deadline (or takes it out when none is armed). */
static void reschedule(struct nip_tcp_conn *c)
{
	struct nip_tcp_stack *t = &c->s->tcp;
	uint64_t due = 0;

	for (int i = 0; i < NIP_TCPT_N; i++)
		if (c->timer[i] && (!due || c->timer[i] < due))
			due = c->timer[i];
	if (due == c->due && (c->heap_idx || !due))
		return;
	if (!due) {
		conn_heap_remove(t, c);
		c->due = 0;
		return;
	}
	c->due = due;
	if (c->heap_idx)
		conn_heap_update(t, c);
	else if (conn_heap_insert(t, c) < 0)
		c->due = 0; /* the timer stays unscheduled; the connection lingers */
}

void nip_tcp_timer_set(struct nip_tcp_conn *c, enum nip_tcp_timer which, uint64_t due)
{
	c->timer[which] = due ? due : 1;
	reschedule(c);
}

void nip_tcp_timer_clear(struct nip_tcp_conn *c, enum nip_tcp_timer which)
{
	if (!c->timer[which])
		return;
	c->timer[which] = 0;
	reschedule(c);
}

void nip_tcp_timers_clear(struct nip_tcp_conn *c)
{
	for (int i = 0; i < NIP_TCPT_N; i++)
		c->timer[i] = 0;
	conn_heap_remove(&c->s->tcp, c);
	c->due = 0;
}

void nip_tcp_heap_fini(struct nip_stack *s)
{
	conn_heap_fini(&s->tcp);
}

uint64_t nip_tcp_timer_next_due(const struct nip_tcp_stack *t)
{
	const struct nip_tcp_conn *c = conn_heap_min(t);

	return c ? c->due : UINT64_MAX;
}

/* ---- RTO (RFC 6298) ---- */

void nip_tcp_rto_arm(struct nip_tcp_conn *c)
{
	nip_tcp_timer_set(c, NIP_TCPT_RTO, nip_now(c->s) + c->rto);
}

static uint64_t clamp_rto(const struct nip_stack *s, uint64_t rto)
{
	if (rto < s->cfg.tcp.rto_min)
		return s->cfg.tcp.rto_min;
	return rto > s->cfg.tcp.rto_max ? s->cfg.tcp.rto_max : rto;
}

void nip_tcp_rtt_sample(struct nip_tcp_conn *c, uint64_t r)
{
	if (!r)
		r = 1;
	if (!c->srtt) {
		/* RFC 6298 2.2 */
		c->srtt = r;
		c->rttvar = r / 2;
	} else {
		/* RFC 6298 2.3: beta 1/4, alpha 1/8 */
		uint64_t d = c->srtt > r ? c->srtt - r : r - c->srtt;

		c->rttvar = (3 * c->rttvar + d) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
	}
	if (!c->rack.min_rtt || r < c->rack.min_rtt)
		c->rack.min_rtt = r; /* RACK.min_RTT (RFC 8985 6.2 step 1) */
	/* G (clock granularity) is 1 ns here: K * RTTVAR dominates. */
	c->rto = clamp_rto(c->s, c->srtt + 4 * c->rttvar);
}

void nip_tcp_rto_reset(struct nip_tcp_conn *c)
{
	if (c->srtt)
		c->rto = clamp_rto(c->s, c->srtt + 4 * c->rttvar);
}

/*
 * Tail loss probe (RFC 8985 7). When the last segments of a flight are lost, no duplicate ACK
 * comes back and only the RTO (200 ms at least, thousands of datacenter round trips) would
 * notice. So while data is in flight, outside recovery, with SACK and an RTT sample, a probe
 * is due 2 SRTT + 2 ms after the last transmission or ACK (the 2 ms, as Linux adds, keep a
 * microsecond path from probing at every scheduling hiccup of the peer; plus the worst-case
 * delayed ACK when a single segment is out, whose ACK the peer may hold back): one new
 * segment if the windows allow, else the last segment again. Its ACK, with SACK blocks, starts an
 * ordinary fast recovery for whatever else was lost. One probe per episode; the episode ends when
 * an ACK covers what was sent up to the probe, and a retransmitted probe that was needed (no
 * D-SACK reported its copy: tcp_input.c) gets the usual congestion response.
 */
#define WC_DELACK_NS 200000000ull /* RFC 8985 7.2 WCDelAckT */
#define PTO_SLACK_NS 2000000ull	  /* added to 2 SRTT */

/* When the tail loss probe is due now, or 0 when it does not apply. */
static uint64_t pto_due(const struct nip_tcp_conn *c)
{
	uint32_t flight = c->snd_max - c->snd_una;
	uint64_t due;
	bool data_state = c->state == NIP_TCP_ESTABLISHED || c->state == NIP_TCP_CLOSE_WAIT ||
			  c->state == NIP_TCP_FIN_WAIT_1 || c->state == NIP_TCP_CLOSING ||
			  c->state == NIP_TCP_LAST_ACK;

	/* Not after a timeout either, until its recovery point is acknowledged: the
	 * retransmissions in slow start are what probes then. In fast recovery (beyond RFC 8985
	 * 7.2, which probes only outside it) once every segment marked lost was sent again: if
	 * the ACK that would end the recovery is lost, nothing else comes back (seen on net_tap
	 * at 1% loss: the one ACK covering the whole flight lost, then silence until the RTO). */
	if (!data_state || !c->sack_ok || !c->srtt || c->tlp_end || !flight ||
	    c->snd_nxt != c->snd_max ||
	    (c->in_recovery ? c->rack.lost_bytes != 0 : nip_seq_lt(c->snd_una, c->recover)))
		return 0;
	due = nip_now(c->s) + 2 * c->srtt + (flight <= c->mss ? WC_DELACK_NS : PTO_SLACK_NS);
	if (c->timer[NIP_TCPT_RTO] && due >= c->timer[NIP_TCPT_RTO])
		return 0; /* the RTO comes first anyway */
	return due;
}

void nip_tcp_pto_arm(struct nip_tcp_conn *c)
{
	c->timer[NIP_TCPT_PTO] = pto_due(c);
	reschedule(c);
}

void nip_tcp_ack_timers(struct nip_tcp_conn *c)
{
	/* Both deadlines first, then one move in the heap (this runs for every ACK). */
	c->timer[NIP_TCPT_RTO] = c->snd_una == c->snd_max ? 0 : nip_now(c->s) + c->rto;
	c->timer[NIP_TCPT_PTO] = pto_due(c);
	reschedule(c);
}

static void pto_fire(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint32_t end = c->snd_una + c->sq_bytes;
	uint32_t unsent = nip_seq_gt(end, c->snd_nxt) ? end - c->snd_nxt : 0;
	uint32_t room = nip_seq_gt(c->snd_una + c->snd_wnd, c->snd_nxt)
				? c->snd_una + c->snd_wnd - c->snd_nxt
				: 0;

	if (c->snd_max == c->snd_una || (c->in_recovery && c->rack.lost_bytes) || c->tlp_end ||
	    c->snd_nxt != c->snd_max)
		return;
	s->cnt.tcp_tlp_probes++;
	if (unsent && !c->fin_sent && room >= (unsent < c->mss ? unsent : c->mss)) {
		/* New data: it probes as well as a retransmission would, and is not a copy. */
		uint32_t len = unsent < c->mss ? unsent : c->mss;

		nip_tcp_send_data(c, c->snd_nxt, len,
				  NIP_TCP_ACK | (len == unsent ? NIP_TCP_PSH : 0));
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
				  NIP_TCP_ACK | (c->fin_sent ? NIP_TCP_FIN : 0));
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

/* Returns true when the connection ended (c may be freed). */
static bool rto_fire(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	const struct nip_tcp_config *cfg = &s->cfg.tcp;
	bool syn = c->state == NIP_TCP_SYN_SENT || c->state == NIP_TCP_SYN_RCVD;

	c->retries++;
	if (c->retries > (syn ? cfg->syn_retries : cfg->max_retries)) {
		s->cnt.tcp_timeouts++;
		if (!syn)
			nip_tcp_send_rst_conn(c);
		nip_tcp_drop(c, ETIMEDOUT);
		return true;
	}
	s->cnt.tcp_rto_timeouts++;
	c->tlp_end = 0; /* a probe's episode ends with the timeout */
	nip_tcp_timer_clear(c, NIP_TCPT_PTO);
	c->rto = clamp_rto(s, c->rto * 2); /* RFC 6298 5.5 */
	c->rtt_start = 0;		   /* Karn */
	if (syn) {
		nip_tcp_send_syn(c);
		s->cnt.tcp_retransmits++;
		nip_tcp_rto_arm(c);
		return false;
	}
	if (c->snd_una == c->snd_max)
		return false;
	/* RFC 5681 3.1 eq. 4 and cwnd = 1 segment; RFC 6675 5.1: recovery ends, the
	 * scoreboard is forgotten (the peer may have reneged; RACK keeps what was SACKed for
	 * the first timeout in a row: nip_tcp_rack_timeout). */
	c->cc_ops->on_rto(&c->cc, c->snd_max - c->snd_una, nip_now(s));
	c->in_recovery = false;
	c->recover = c->snd_max;
	c->dupacks = 0;
	nip_tcp_sb_clear(&c->sb);
	nip_tcp_rack_timeout(c);
	nip_tcp_rto_arm(c);
	nip_tcp_retransmit_first(c);
	return false;
}

/* Returns true when the connection ended (c may be freed). */
static bool persist_fire(struct nip_tcp_conn *c)
{
	uint64_t backoff;

	if (!c->sq_bytes || c->snd_nxt != c->snd_una)
		return false;
	if (c->snd_wnd) {
		/* A window too small for the SWS rules: send what fits (override timer). */
		uint32_t len = c->snd_wnd < c->mss ? c->snd_wnd : c->mss;

		if (len > c->sq_bytes)
			len = c->sq_bytes;
		nip_tcp_send_data(c, c->snd_nxt, len, NIP_TCP_ACK);
		c->snd_nxt += len;
		if (nip_seq_gt(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		nip_tcp_rto_arm(c);
		return false;
	}
	/* Probes nobody answers (an answer resets retries) end the connection as unanswered
	 * retransmissions do (RFC 1122 4.2.2.17: probing goes on while the peer answers). */
	if (++c->retries > c->s->cfg.tcp.max_retries) {
		c->s->cnt.tcp_timeouts++;
		nip_tcp_send_rst_conn(c);
		nip_tcp_drop(c, ETIMEDOUT);
		return true;
	}
	nip_tcp_send_window_probe(c);
	if (c->persist_shift < 16)
		c->persist_shift++;
	backoff = clamp_rto(c->s, c->rto << c->persist_shift);
	nip_tcp_timer_set(c, NIP_TCPT_PERSIST, nip_now(c->s) + backoff);
	return false;
}

static bool keepalive_fire(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	const struct nip_tcp_config *cfg = &s->cfg.tcp;
	uint64_t now = nip_now(s);

	if (!c->keepalive || (c->state != NIP_TCP_ESTABLISHED && c->state != NIP_TCP_CLOSE_WAIT))
		return false;
	if (now - c->last_rx < cfg->keepalive_idle && !c->keepalive_sent) {
		nip_tcp_timer_set(c, NIP_TCPT_KEEPALIVE, c->last_rx + cfg->keepalive_idle);
		return false;
	}
	if (c->keepalive_sent >= cfg->keepalive_probes) {
		s->cnt.tcp_timeouts++;
		nip_tcp_send_rst_conn(c);
		nip_tcp_drop(c, ETIMEDOUT);
		return true;
	}
	c->keepalive_sent++;
	s->cnt.tcp_keepalive_probes++;
	nip_tcp_send_probe(c);
	nip_tcp_timer_set(c, NIP_TCPT_KEEPALIVE, now + cfg->keepalive_intvl);
	return false;
}

/* Runs c's due timers; c may be freed. */
static void fire(struct nip_tcp_conn *c, uint64_t now)
{
	for (int i = 0; i < NIP_TCPT_N; i++) {
		if (!c->timer[i] || c->timer[i] > now)
			continue;
		c->timer[i] = 0;
		switch (i) {
		case NIP_TCPT_RTO:
			if (rto_fire(c))
				return;
			break;
		case NIP_TCPT_PERSIST:
			if (persist_fire(c))
				return;
			break;
		case NIP_TCPT_DELACK:
			if (c->segs_unacked || c->ack_now)
				nip_tcp_send_ack(c);
			break;
		case NIP_TCPT_KEEPALIVE:
			if (keepalive_fire(c))
				return;
			break;
		case NIP_TCPT_PTO:
			pto_fire(c);
			break;
		case NIP_TCPT_REO:
			/* RFC 8985 6.2 step 5: segments not yet lost at the last ACK may be now. */
			if (nip_tcp_rack_detect(c)) {
				nip_tcp_rack_lost(c);
				nip_tcp_output(c);
			}
			break;
		case NIP_TCPT_2MSL:
			/* TIME-WAIT over, or an orphan FIN-WAIT-2 gave up on the peer. */
			nip_tcp_drop(c, c->state == NIP_TCP_TIME_WAIT ? 0 : ETIMEDOUT);
			return;
		}
	}
	reschedule(c);
}

int nip_tcp_poll(struct nip_stack *s, uint64_t now)
{
	struct nip_tcp_stack *t = &s->tcp;
	struct nip_tcp_conn *c;
	int fired = 0;

	while ((c = conn_heap_min(t)) && c->due <= now) {
		conn_heap_remove(t, c);
		c->due = 0;
		fire(c, now);
		fired++;
	}
	if (!demi__list_empty(&t->ev_pending))
		nip_tcp_deliver(s);
	return fired;
}
