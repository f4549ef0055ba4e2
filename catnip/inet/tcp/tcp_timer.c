/* SPDX-License-Identifier: MIT */
/*
 * TCP's timers: retransmission (RFC 6298, with Karn's rule and exponential backoff, and the
 * SYN retries of RFC 9293 3.8.1), the tail loss probe's and RACK's reordering timers (RFC 8985
 * 7 and 6.2, whose work tcp_rack.c does), persist (zero-window probes,
 * RFC 9293 3.8.6.1), delayed ACK (RFC 9293 3.8.6.3), keepalive (RFC 9293 3.8.4) and 2MSL
 * (TIME-WAIT, RFC 9293 3.6).
 *
 * Each connection keeps one deadline per timer; the stack keeps connections with an armed
 * timer in the min-heap of lib/heap.h by their earliest deadline, so nip_tcp_poll costs O(1)
 * when nothing is due and O(log n) per connection that is. The heap is kept lazily, because
 * every segment moves timers (an ACK restarts or stops the RTO and the tail loss probe, data
 * arms the delayed ACK, the next push cancels it) and almost always later: a connection's key
 * (c->due) is never later than its earliest armed deadline but may be earlier. Arming touches
 * the heap only when the deadline comes before the key or the connection is outside; clearing
 * or moving a timer later touches nothing. A connection that reaches its key with nothing due
 * goes back in at its real earliest deadline (settle), and one with nothing armed at all
 * leaves the heap when it comes to the top at the end of nip_tcp_poll, so an idle stack asks
 * for no poll. The cost: a wake-up at a stale deadline, at most one per armed timer's lifetime.
 *
 * Call order: the other files arm and clear timers (nip_tcp_timer_set/_clear, rto_arm,
 * pto_arm, ack_timers) as segments come and go; nip_tcp_poll(now) fires what is due, then
 * delivers the events the firings recorded (a timeout's error); nip_tcp_timer_next_due says
 * when it next has work (early, never late).
 */
#include <errno.h>

#include "heap.h"
#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

_Static_assert(NIP_TCPT_N <= 8, "struct nip_tcp_conn.armed holds a bit per timer");

/* The stack's connections with an armed timer, by their earliest deadline (lib/heap.h). */
DEMI__HEAP_DEFINE(conn_heap, struct nip_tcp_stack, struct nip_tcp_conn, due, heap_idx)

/* Puts c at its place for its real earliest deadline (or takes it out when none is armed). */
static void settle(struct nip_tcp_conn *c)
{
	struct nip_tcp_stack *t = &c->s->tcp;
	uint64_t due = UINT64_MAX;

	for (unsigned m = c->armed, i = 0; m; m >>= 1, i++)
		if ((m & 1) && c->timer[i] < due)
			due = c->timer[i];
	if (due == UINT64_MAX) {
		conn_heap_remove(t, c);
		return;
	}
	c->due = due;
	if (c->heap_idx)
		conn_heap_update(t, c);
	else if (conn_heap_insert(t, c) < 0)
		c->due = 0; /* the timer stays unscheduled; the connection lingers */
}

/* Arms timer which at due (> 0); the heap moves only if due comes before c's key. */
static void arm(struct nip_tcp_conn *c, enum nip_tcp_timer which, uint64_t due)
{
	struct nip_tcp_stack *t = &c->s->tcp;

	c->timer[which] = due;
	c->armed |= (uint8_t)(1u << which);
	if (!c->heap_idx) {
		c->due = due;
		if (conn_heap_insert(t, c) < 0)
			c->due = 0; /* as in settle */
	} else if (due < c->due) {
		c->due = due;
		conn_heap_up(t, c->heap_idx); /* an earlier key only moves up */
	}
}

/* Clears timer which; c's key stays (early is allowed). */
static void disarm(struct nip_tcp_conn *c, enum nip_tcp_timer which)
{
	c->timer[which] = 0;
	c->armed &= (uint8_t) ~(1u << which);
}

void nip_tcp_timer_set(struct nip_tcp_conn *c, enum nip_tcp_timer which, uint64_t due)
{
	arm(c, which, due ? due : 1);
}

void nip_tcp_timer_clear(struct nip_tcp_conn *c, enum nip_tcp_timer which)
{
	disarm(c, which);
}

void nip_tcp_timers_clear(struct nip_tcp_conn *c)
{
	for (int i = 0; i < NIP_TCPT_N; i++)
		c->timer[i] = 0;
	c->armed = 0;
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
	uint64_t due = nip_now(c->s) + c->rto;

	arm(c, NIP_TCPT_RTO, due ? due : 1); /* as nip_tcp_timer_set, without the call */
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

void nip_tcp_pto_arm(struct nip_tcp_conn *c)
{
	uint64_t due = nip_tcp_pto_due(c);

	if (due)
		arm(c, NIP_TCPT_PTO, due);
	else
		disarm(c, NIP_TCPT_PTO);
}

void nip_tcp_ack_timers(struct nip_tcp_conn *c)
{
	/* This runs for every ACK: the RTO moves later or stops, which leaves the heap alone. */
	if (c->snd_una == c->snd_max) {
		disarm(c, NIP_TCPT_RTO);
		disarm(c, NIP_TCPT_PTO); /* no probe with nothing in flight */
		return;
	}
	arm(c, NIP_TCPT_RTO, nip_now(c->s) + c->rto);
	nip_tcp_pto_arm(c);
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

/* Runs c's due timers (c is out of the heap; it may be freed). Returns whether any was due:
 * c may have come out at a stale key with none. */
static bool fire(struct nip_tcp_conn *c, uint64_t now)
{
	bool any = false;

	for (int i = 0; i < NIP_TCPT_N; i++) {
		if (!(c->armed & (1u << i)) || c->timer[i] > now)
			continue;
		disarm(c, (enum nip_tcp_timer)i);
		any = true;
		switch (i) {
		case NIP_TCPT_RTO:
			if (rto_fire(c))
				return true;
			break;
		case NIP_TCPT_PERSIST:
			if (persist_fire(c))
				return true;
			break;
		case NIP_TCPT_DELACK:
			if (c->segs_unacked || c->ack_now)
				nip_tcp_send_ack(c);
			break;
		case NIP_TCPT_KEEPALIVE:
			if (keepalive_fire(c))
				return true;
			break;
		case NIP_TCPT_PTO:
			nip_tcp_pto_fire(c);
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
			return true;
		}
	}
	settle(c);
	return any;
}

int nip_tcp_poll(struct nip_stack *s, uint64_t now)
{
	struct nip_tcp_stack *t = &s->tcp;
	struct nip_tcp_conn *c;
	int fired = 0;

	while ((c = conn_heap_min(t)) && c->due <= now) {
		conn_heap_remove(t, c);
		c->due = 0;
		fired += fire(c, now);
	}
	/* Connections whose timers were all cleared since they were armed leave from the top,
	 * so that nip_tcp_timer_next_due says "none" once nothing is armed. */
	while ((c = conn_heap_min(t)) && !c->armed)
		conn_heap_remove(t, c);
	if (!demi__list_empty(&t->ev_pending))
		nip_tcp_deliver(s);
	return fired;
}
