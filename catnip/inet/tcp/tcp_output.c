/* SPDX-License-Identifier: MIT */
/*
 * What TCP sends and how a segment is built (RFC 9293 3.8.6, RFC 5681, RFC 6675 5 NextSeg).
 *
 * nip_tcp_output is called after every event that may allow sending (a push, an ACK, a window
 * update, a timer): it sends, in order, SACK recovery retransmissions the pipe allows, then
 * new data within min(cwnd, peer window), segment by segment (sender silly-window avoidance
 * and Nagle when TCP_NODELAY is off), the FIN after the last byte once the owner closed, and
 * finally a bare ACK if one is still owed. Every segment carries the ACK and the current
 * window, so data cancels a pending delayed ACK. A request or a response (all unsent data in
 * one segment the windows allow, nothing being recovered, no FIN) leaves without the loop
 * (send_all_at_once), which would send the same segment.
 *
 * A segment is a fresh frame with room for the Ethernet, IPv4 and TCP headers. Its payload
 * comes from the send queue (the pushed buffers themselves, held until acknowledged): copied
 * into the frame, or, from CHAIN_MIN bytes on when the link chains frames (NIP_OFF_TX_CHAIN)
 * and the range lies in one pushed buffer, attached by reference (zero copy, the checksum then
 * computed over the headers and the attached payload unless the device does it). Once the
 * connection is synchronized, its headers come from templates built by nip_tcp_established
 * (the ports and the pseudo-header's sum; the IPv4 header but length, identification and
 * checksum): a segment with only timestamps (no SYN, RST or SACK blocks) writes just the
 * fields that change, the rest goes through the general option builder. Such a segment then
 * leaves through the connection's route (ip4_route.h: the Ethernet header from the peer's ARP
 * mapping), skipping ARP while the route holds; an ARP change or the mapping's expiry sends it
 * through ARP's path (renewal, resolution), and the route is built again once ARP can.
 *
 * Call order: tcp_input.c calls nip_tcp_output once a segment's ACK, data and FIN are
 * processed (callbacks run later, so a push from one never sees half-updated state); the user
 * calls (send, close, setsockopt), tcp_timer.c (retransmission, probes, delayed ACK) and
 * nip_tcp_tx_resume call it too.
 */
#include <errno.h>
#include <string.h>

#include "ip4_route.h"
#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"
#include "wire/checksum.h"
#include "wire/eth.h"

#define L3_OFF (NIP_ETH_HLEN + NIP_IP4_HLEN)
#define OUTPUT_BURST 256 /* segments per call: the device ring is not bottomless */
/* Payloads from this size on are chained to the frame rather than copied (when the link can):
 * below it a copy costs less than a second descriptor. */
#define CHAIN_MIN 256

uint32_t nip_tcp_tsval(const struct nip_tcp_conn *c)
{
	/* 1 ms ticks (RFC 7323 5.4 allows 1 ms to 1 s), offset per connection (7.1). */
	return (uint32_t)(nip_now(c->s) / 1000000u) + c->ts_offset;
}

/* Receive memory a connection may hold: in-order data waiting for pops plus out-of-order
 * segments, counted by buffer size so that tiny segments cannot pin large buffers. */
static uint64_t rcv_mem_limit(const struct nip_tcp_conn *c)
{
	return (uint64_t)c->rcvbuf * 2 + 65536;
}

uint32_t nip_tcp_rcv_window(const struct nip_tcp_conn *c)
{
	uint32_t space = c->rcvbuf > c->rq_bytes ? c->rcvbuf - c->rq_bytes : 0;
	uint32_t max = (uint32_t)65535 << c->rcv_wscale;

	if (c->rq_mem + c->reass.mem >= rcv_mem_limit(c))
		return 0;
	/* The device is short of receive buffers: no more than a share of them (tcp_mem.c). */
	if (c->s->tcp.mem_level != NIP_TCP_MEM_OK && c->s->tcp.mem_rcv_share < max)
		max = c->s->tcp.mem_rcv_share;
	return space < max ? space : max;
}

uint64_t nip_tcp_rcv_mem_room(const struct nip_tcp_conn *c)
{
	uint64_t used = c->rq_mem + c->reass.mem, lim = rcv_mem_limit(c);

	return used < lim ? lim - used : 0;
}

/*
 * The window field, and rcv_adv. The right edge never moves left (RFC 9293 3.8.6.2.2), and
 * a small opening is not advertised until it reaches min(rcvbuf / 2, MSS) (receiver SWS
 * avoidance).
 */
static uint16_t window_field(struct nip_tcp_conn *c, bool syn)
{
	uint32_t win = nip_tcp_rcv_window(c);
	uint32_t cur = nip_seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	uint32_t sws = nip_min32(c->rcvbuf / 2, c->mss ? c->mss : 536);
	uint32_t field;

	if (syn) {
		field = nip_min32(win, 65535);
		c->rcv_adv = c->rcv_nxt + field;
		return (uint16_t)field;
	}
	if (win < cur || win - cur < sws)
		win = cur;
	field = nip_min32((win + (1u << c->rcv_wscale) - 1) >> c->rcv_wscale, 65535);
	if (nip_seq_gt(c->rcv_nxt + (field << c->rcv_wscale), c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + (field << c->rcv_wscale);
	return (uint16_t)field;
}

/* The chunk holding sequence number seq (NULL past the queue's end) and, in *kseq, the
 * sequence number of its first byte. Starts from the cursor left by the last call when it is
 * not past seq: sending walks the queue forward, so this costs O(1) per segment. */
static struct nip_tcp_chunk *sq_seek(struct nip_tcp_conn *c, uint32_t seq, uint32_t *kseq)
{
	struct nip_tcp_chunk *k = c->sq_head;
	uint32_t ks = c->snd_una;

	if (c->sq_cur && nip_seq_leq(c->sq_cur_seq, seq)) {
		k = c->sq_cur;
		ks = c->sq_cur_seq;
	}
	while (k && nip_seq_geq(seq, ks + k->len)) {
		ks += k->len;
		k = k->next;
	}
	*kseq = ks;
	return k;
}

/* Copies len bytes of the send queue from sequence number seq on into dst. */
static void sq_copy(struct nip_tcp_conn *c, uint32_t seq, uint8_t *dst, uint32_t len)
{
	uint32_t kseq;
	struct nip_tcp_chunk *k = sq_seek(c, seq, &kseq);

	while (k && len) {
		uint32_t off = seq - kseq, n = nip_min32(k->len - off, len);

		memcpy(dst, k->data + off, n);
		dst += n;
		len -= n;
		seq += n;
		if (off + n == k->len) {
			kseq += k->len;
			k = k->next;
		}
	}
	c->sq_cur = k;
	c->sq_cur_seq = kseq;
}

/* The chunk holding all of [seq, seq + len), and where that range starts in it; NULL when the
 * range spans chunks (it is then copied). */
static struct nip_tcp_chunk *sq_find(struct nip_tcp_conn *c, uint32_t seq, uint32_t len,
				     const uint8_t **data)
{
	uint32_t kseq;
	struct nip_tcp_chunk *k = sq_seek(c, seq, &kseq);

	if (!k || seq - kseq + len > k->len)
		return NULL;
	*data = k->data + (seq - kseq);
	c->sq_cur = k;
	c->sq_cur_seq = kseq;
	return k;
}

/* The header of a segment of a synchronized connection that carries only timestamps, from the
 * connection's template; false when the segment needs the general builder (SYN, RST, SACK
 * blocks, or before the template exists). */
static bool tmpl_vars(struct nip_tcp_conn *c, uint32_t seq, uint8_t flags, uint16_t win,
		      struct nip_tcp_hdr_vars *v)
{
	if (!c->tmpl_ok || (flags & (NIP_TCP_SYN | NIP_TCP_RST | NIP_TCP_ACK)) != NIP_TCP_ACK ||
	    (c->sack_ok && c->reass.head))
		return false;
	v->seq = seq;
	v->ack = c->rcv_nxt;
	v->flags = flags;
	v->has_ts = c->ts_ok;
	if (c->ts_ok) {
		v->tsval = nip_tcp_tsval(c);
		v->tsecr = c->ts_recent;
	}
	v->win = win;
	return true;
}

/* The general header: any flags and options. Returns its length. */
static size_t full_hdr(struct nip_tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags,
		       uint16_t win, struct nip_tcp_seg *h)
{
	struct nip_stack *s = c->s;
	bool syn = flags & NIP_TCP_SYN;
	size_t hlen;

	memset(h, 0, sizeof(*h));
	h->sport = c->local_port;
	h->dport = c->remote_port;
	h->seq = seq;
	h->flags = flags;
	if (flags & NIP_TCP_ACK)
		h->ack = c->rcv_nxt;
	if (syn) {
		h->opt.has_mss = true;
		h->opt.mss = (uint16_t)nip_min32(nip_tcp_mtu_mss(s), 65535);
		h->opt.has_wscale = c->ws_ok;
		h->opt.wscale = c->rcv_wscale;
		h->opt.sack_ok = c->sack_ok;
	} else if (c->sack_ok && c->reass.head) {
		h->opt.nsack = (uint8_t)nip_tcp_reass_sack(&c->reass, h->opt.sack,
							   c->ts_ok ? 3 : NIP_TCP_MAX_SACK);
	}
	if (c->ts_ok) {
		h->opt.has_ts = true;
		h->opt.tsval = nip_tcp_tsval(c);
		h->opt.tsecr = (flags & NIP_TCP_ACK) ? c->ts_recent : 0;
	}
	h->win = win;
	hlen = NIP_TCP_HLEN + nip_tcp_opts_len(&h->opt);
	/* SACK blocks share the option space with the data, and the MSS leaves room only for
	 * timestamps: keep the blocks that fit in the MTU (the first, most recent one first,
	 * RFC 2018 4), none on a full-sized segment, which the device would otherwise drop. */
	while (h->opt.nsack && NIP_IP4_HLEN + hlen + len > s->link->mtu) {
		h->opt.nsack--;
		hlen = NIP_TCP_HLEN + nip_tcp_opts_len(&h->opt);
	}
	return hlen;
}

/* Builds c's route again (ip4_route.h: the ARP cache changed or the mapping expired); false
 * while ARP has no usable mapping. Out of line: the steady segment keeps no registers for it. */
static __attribute__((noinline)) bool route_build(struct nip_tcp_conn *c)
{
	return nip_ip4_route_fill(c->s, &c->route, c->remote_ip, NIP_IPPROTO_TCP);
}

/* Builds and sends one segment: [seq, seq + len) of the send queue (len may be 0). */
static int send_segment(struct nip_tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags)
{
	struct nip_stack *s = c->s;
	struct nip_tcp_seg h;
	struct nip_tcp_hdr_vars v;
	struct demi__buf *f;
	size_t hlen;
	uint8_t *l4;
	bool syn = flags & NIP_TCP_SYN, offload = s->link->offloads & NIP_OFF_TCP_CSUM_TX;
	/* A reset advertises no window (and moves no edge). */
	uint16_t win = flags & NIP_TCP_RST ? 0 : window_field(c, syn);
	bool fast = tmpl_vars(c, seq, flags, win, &v);
	struct nip_tcp_chunk *chunk;
	const uint8_t *pay = NULL;

	if (fast)
		hlen = nip_tcp_tmpl_hlen(v.has_ts);
	else
		hlen = full_hdr(c, seq, len, flags, win, &h);
	chunk = len >= CHAIN_MIN && (s->link->offloads & NIP_OFF_TX_CHAIN)
			? sq_find(c, seq, len, &pay)
			: NULL;
	f = s->link->ops->alloc(s->link->dev, L3_OFF + hlen + (chunk ? 0 : len));
	if (!f) {
		s->cnt.drop_no_buffer++;
		return -ENOBUFS;
	}
	l4 = demi__buf_data(f) + L3_OFF;
	if (chunk) {
		/* Zero copy: the frame is the headers, chained to the range of the pushed buffer.
		 */
		if (fast) {
			nip_tcp_emit_tmpl(l4, &c->tmpl, &v, pay, len, offload);
		} else {
			nip_tcp_emit(l4, &h, s->cfg.ip, c->remote_ip, len, true);
			if (!offload) {
				/* The field holds the pseudo-header sum: add header and payload. */
				uint32_t sum = nip_csum_add(nip_csum_add(0, l4, hlen), pay, len);
				uint16_t ck = nip_csum_fold(sum);

				memcpy(l4 + 16, &ck, 2);
			}
		}
		demi__buf_ref(chunk->buf);
		nip_frame_attach(f, chunk->buf, pay, len);
		s->cnt.tcp_tx_zero_copy++;
	} else {
		if (len)
			sq_copy(c, seq, l4 + hlen, len);
		if (fast)
			nip_tcp_emit_tmpl(l4, &c->tmpl, &v, l4 + hlen, len, offload);
		else
			nip_tcp_emit(l4, &h, s->cfg.ip, c->remote_ip, len, offload);
	}
	s->cnt.tcp_tx++;
	s->cnt.tcp_tx_bytes += len;
	if (len && c->sack_ok && !syn)
		nip_tcp_rack_sent(c, seq, len); /* RFC 8985 5.2: when each segment left */
	if (flags & NIP_TCP_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		c->segs_unacked = 0;
		c->ack_now = false;
		nip_tcp_timer_clear(c, NIP_TCPT_DELACK);
	}
	if (!c->tmpl_ok)
		nip_ip4_output(s, f, c->remote_ip, NIP_IPPROTO_TCP, (uint16_t)(hlen + len), NULL,
			       NULL);
	else if (nip_ip4_route_valid(s, &c->route) || route_build(c))
		/* A frame the link refuses is dropped and counted, as on ARP's path. */
		nip_ip4_output_route(s, f, &c->route, (uint16_t)(hlen + len));
	else
		nip_ip4_output_tmpl(s, f, &c->route.ip, (uint16_t)(hlen + len));
	return 0;
}

void nip_tcp_send_data(struct nip_tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags)
{
	send_segment(c, seq, len, flags);
}

void nip_tcp_send_ack(struct nip_tcp_conn *c)
{
	/* After a timeout snd_nxt went back to snd_una while the peer may hold everything up to
	 * snd_max: an ACK numbered snd_nxt would be below its window and refused (and answered
	 * with an ACK, which both ends refuse in turn once both went back: an ACK war that loses
	 * every acknowledgment). So an ACK carries the next unsent octet, as BSD does, but never
	 * past the peer's right edge: a zero-window probe's byte, or data sent into a window the
	 * peer shrank, lie beyond what it accepts, and an ACK numbered from there is refused
	 * (the peer's rcv_nxt is at most both snd_max and its right edge, so the smaller one is
	 * always in its window). */
	uint32_t seq = c->snd_max, edge = c->snd_una + c->snd_wnd;

	if (c->timer[NIP_TCPT_PERSIST] && nip_seq_lt(c->snd_nxt, seq))
		seq = c->snd_nxt;
	if (nip_seq_gt(seq, edge))
		seq = edge;
	send_segment(c, seq, 0, NIP_TCP_ACK);
}

void nip_tcp_send_syn(struct nip_tcp_conn *c)
{
	uint8_t flags = NIP_TCP_SYN;

	if (c->state == NIP_TCP_SYN_RCVD)
		flags |= NIP_TCP_ACK;
	send_segment(c, c->iss, 0, flags);
	/* The handshake is the first RTT sample (RFC 6298 2.1 allows it), unless this SYN is a
	 * retransmission (Karn): a passive opener that only receives has no other. */
	c->rtt_start = c->retries ? 0 : nip_now(c->s);
	c->rtt_seq = c->iss;
	c->snd_nxt = c->iss + 1;
	if (nip_seq_gt(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
}

void nip_tcp_send_probe(struct nip_tcp_conn *c)
{
	/* RFC 9293 3.8.4: an old sequence number makes the peer answer with an ACK. */
	send_segment(c, c->snd_una - 1, 0, NIP_TCP_ACK);
}

void nip_tcp_send_rst_conn(struct nip_tcp_conn *c)
{
	c->s->cnt.tcp_rst_sent++;
	send_segment(c, c->snd_nxt, 0, NIP_TCP_RST | NIP_TCP_ACK);
}

void nip_tcp_send_reset(struct nip_stack *s, const struct nip_tcp_seg *seg, uint32_t src,
			uint32_t dst)
{
	struct nip_tcp_seg h;
	struct demi__buf *f;
	uint8_t *l4;

	(void)dst;
	memset(&h, 0, sizeof(h));
	h.sport = seg->dport;
	h.dport = seg->sport;
	if (seg->flags & NIP_TCP_ACK) {
		h.seq = seg->ack;
		h.flags = NIP_TCP_RST;
	} else {
		h.ack = seg->seq + (uint32_t)seg->payload_len + !!(seg->flags & NIP_TCP_SYN) +
			!!(seg->flags & NIP_TCP_FIN);
		h.flags = NIP_TCP_RST | NIP_TCP_ACK;
	}
	f = s->link->ops->alloc(s->link->dev, L3_OFF + NIP_TCP_HLEN);
	if (!f) {
		s->cnt.drop_no_buffer++;
		return;
	}
	l4 = demi__buf_data(f) + L3_OFF;
	nip_tcp_emit(l4, &h, s->cfg.ip, src, 0, s->link->offloads & NIP_OFF_TCP_CSUM_TX);
	s->cnt.tcp_tx++;
	s->cnt.tcp_rst_sent++;
	nip_ip4_output(s, f, src, NIP_IPPROTO_TCP, NIP_TCP_HLEN, NULL, NULL);
}

/* States in which our side may still send data or its FIN. */
static bool can_send(const struct nip_tcp_conn *c)
{
	switch (c->state) {
	case NIP_TCP_ESTABLISHED:
	case NIP_TCP_CLOSE_WAIT:
	case NIP_TCP_FIN_WAIT_1:
	case NIP_TCP_CLOSING:
	case NIP_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* Bytes in flight as RFC 6675's pipe (SACK) or NewReno's inflated count (duplicate ACKs
 * each tell that a segment left the network). */
static uint32_t flight(const struct nip_tcp_conn *c)
{
	uint32_t out = c->snd_nxt - c->snd_una;
	uint32_t gone;

	if (!c->in_recovery)
		return out;
	if (c->sack_ok) {
		gone = c->sb.sacked + c->rack.lost_bytes; /* lost and not sent again */
	} else {
		gone = c->dupacks * (uint32_t)c->mss;
	}
	return out > gone ? out - gone : 0;
}

static void start_timing(struct nip_tcp_conn *c, uint32_t seq)
{
	/* One segment timed at a time (RFC 6298 3); timestamps only serve PAWS here, their 1 ms
	 * ticks being too coarse for datacenter round trips. */
	if (!c->rtt_start && seq == c->snd_max) {
		c->rtt_start = nip_now(c->s);
		c->rtt_seq = seq;
	}
}

/* One retransmission in SACK recovery: the first segment RACK marked lost, in any hole
 * (NextSeg rule 1 with RFC 8985's loss marking); false if none. */
static bool send_lost(struct nip_tcp_conn *c)
{
	uint32_t start, len;

	if (!nip_tcp_rack_next_lost(c, &start, &len))
		return false;
	len = nip_min32(len, c->mss);
	if (nip_seq_gt(start + len, c->snd_nxt) || send_segment(c, start, len, NIP_TCP_ACK) < 0)
		return false;
	c->s->cnt.tcp_retransmits++;
	return true;
}

/*
 * The usual case of a request or a response: all the unsent data fits in one segment that
 * the windows and Nagle let out now, no FIN is queued, and nothing is being recovered
 * (neither fast recovery, nor duplicate ACKs' limited transmit, nor go-back-N after a
 * timeout). Sends that one segment, as the loop below would in its first pass before
 * finding nothing more to send in its second, with fewer tests; unlike that second pass it
 * does not put the connection on the stack's tx_wait list when the segment just filled the
 * device's ring (harmless: nothing is left to send, so a resume would find nothing). Returns
 * 1 when it sent the segment, -1 when it could not be built (the loop would stop there too),
 * 0 when any of that does not hold: the loop then decides.
 */
static int send_all_at_once(struct nip_tcp_conn *c)
{
	uint32_t unsent = c->snd_una + c->sq_bytes - c->snd_nxt;
	uint32_t out = c->snd_nxt - c->snd_una;

	if (c->in_recovery || c->dupacks || c->fin_queued || c->snd_nxt != c->snd_max ||
	    (c->sack_ok && nip_seq_lt(c->snd_una, c->recover)) || !nip_link_tx_ready(c->s))
		return 0;
	/* out < snd_wnd makes snd_una + snd_wnd - snd_nxt the room. */
	if (!unsent || unsent > c->mss || out + unsent > c->cc.cwnd || out >= c->snd_wnd ||
	    c->snd_wnd - out < unsent)
		return 0;
	if (unsent < c->mss && !c->nodelay && out)
		return 0; /* Nagle (RFC 9293 3.7.4): the loop holds it back */
	start_timing(c, c->snd_nxt);
	if (send_segment(c, c->snd_nxt, unsent, NIP_TCP_ACK | NIP_TCP_PSH) < 0)
		return -1;
	c->snd_nxt += unsent;
	c->snd_max = c->snd_nxt;
	if (!c->timer[NIP_TCPT_RTO])
		nip_tcp_rto_arm(c);
	return 1;
}

void nip_tcp_output(struct nip_tcp_conn *c)
{
	struct nip_stack *s = c->s;
	uint32_t end, unsent;
	bool sent = false;
	int once;

	if (!can_send(c)) {
		if (c->ack_now && c->state != NIP_TCP_CLOSED && c->state != NIP_TCP_LISTEN &&
		    c->state != NIP_TCP_SYN_SENT)
			nip_tcp_send_ack(c);
		return;
	}
	if (!nip_tcp_may_send(c)) {
		if (c->ack_now)
			nip_tcp_send_ack(c);
		return;
	}
	once = send_all_at_once(c);
	if (once) {
		sent = once > 0;
		goto sent;
	}
	for (int burst = 0; burst < OUTPUT_BURST; burst++) {
		uint32_t fl = flight(c), cwnd = c->cc.cwnd, len, usable, rwnd_room;

		/* Limited transmit (RFC 3042): the first two duplicate ACKs each let one new
		 * segment out, so a small window still earns the third. */
		if (!c->in_recovery && c->dupacks && c->dupacks < 3)
			cwnd += c->dupacks * (uint32_t)c->mss;
		bool fin;
		uint8_t flags = NIP_TCP_ACK;

		/* The device's ring is full: wait for room rather than lose the segment. */
		if (!nip_link_tx_ready(s)) {
			if (!demi__list_linked(&c->tx_link))
				demi__list_push_back(&s->tcp.tx_wait, &c->tx_link);
			break;
		}
		/* Lost segments first, in fast recovery and after a timeout alike (a go-back-N
		 * retransmission can be lost again below snd_nxt). */
		if (c->sack_ok && (c->in_recovery || nip_seq_lt(c->snd_una, c->recover)) &&
		    cwnd >= fl + c->mss && send_lost(c)) {
			sent = true;
			continue;
		}
		/* Sending again after a timeout: what the peer SACKed it holds (RFC 8985 6.3). */
		if (c->sack_ok && nip_seq_lt(c->snd_nxt, c->snd_max))
			c->snd_nxt = nip_tcp_rack_skip_sacked(c, c->snd_nxt);
		end = c->snd_una + c->sq_bytes;
		unsent = nip_seq_gt(end, c->snd_nxt) ? end - c->snd_nxt : 0;
		rwnd_room = nip_seq_gt(c->snd_una + c->snd_wnd, c->snd_nxt)
				    ? c->snd_una + c->snd_wnd - c->snd_nxt
				    : 0;
		usable = nip_min32(cwnd > fl ? cwnd - fl : 0, rwnd_room);
		len = nip_min32(nip_min32(unsent, usable), c->mss);
		fin = c->fin_queued && !c->fin_sent && len == unsent;
		if (len == 0 && !fin)
			break;
		if (len < c->mss && len < unsent) {
			/* Window-limited: send a small segment only when it is a fair share of
			 * what the peer can take (sender SWS avoidance, RFC 9293 3.8.6.2.1). */
			if (usable < c->max_snd_wnd / 2 || usable < c->mss / 2)
				break;
		}
		if (len < c->mss && !c->nodelay && c->snd_nxt != c->snd_una && !fin)
			break; /* Nagle (RFC 9293 3.7.4) */
		if (fin)
			flags |= NIP_TCP_FIN;
		if (len == unsent)
			flags |= NIP_TCP_PSH;
		start_timing(c, c->snd_nxt);
		if (send_segment(c, c->snd_nxt, len, flags) < 0)
			break;
		sent = true;
		if (nip_seq_lt(c->snd_nxt, c->snd_max))
			s->cnt.tcp_retransmits++;
		c->snd_nxt += len;
		if (fin) {
			c->fin_sent = true;
			c->fin_seq = c->snd_nxt;
			c->snd_nxt++;
		}
		if (nip_seq_gt(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (!c->timer[NIP_TCPT_RTO])
			nip_tcp_rto_arm(c);
		if (fin)
			break;
	}
sent:
	if (sent)
		nip_tcp_pto_arm(c); /* 2 SRTT after the last transmission (RFC 8985 7.2) */
	end = c->snd_una + c->sq_bytes;
	unsent = nip_seq_gt(end, c->snd_nxt) ? end - c->snd_nxt : 0;
	/* Data waits and nothing is in flight to bring an ACK: the peer's window (zero, or too
	 * small to use) must be probed (RFC 9293 3.8.6.1; also the SWS override timer). */
	if (unsent && c->snd_nxt == c->snd_una && !c->timer[NIP_TCPT_PERSIST] &&
	    !c->timer[NIP_TCPT_RTO]) {
		c->persist_shift = 0;
		nip_tcp_timer_set(c, NIP_TCPT_PERSIST, nip_now(s) + c->rto);
	}
	if (c->ack_now)
		nip_tcp_send_ack(c);
}

void nip_tcp_retransmit_first(struct nip_tcp_conn *c)
{
	/* Go back to snd_una (RFC 5681 3.1 after a timeout): output resends from there as
	 * the (now one-segment) window allows, the FIN included if it was lost. */
	c->snd_nxt = c->snd_una;
	c->sq_cur = NULL;
	if (c->fin_sent && nip_seq_leq(c->snd_una, c->fin_seq))
		c->fin_sent = false;
	nip_tcp_output(c);
}

/* A zero-window probe: the first unacknowledged byte, beyond the window (RFC 9293
 * 3.8.6.1), or a bare ACK-eliciting segment when there is no data. */
void nip_tcp_send_window_probe(struct nip_tcp_conn *c)
{
	if (c->sq_bytes) {
		send_segment(c, c->snd_una, 1, NIP_TCP_ACK);
		/* snd_nxt stays: the byte is beyond the window, not in flight, so the persist
		 * timer keeps probing; snd_max covers it so that an ACK of it is valid. */
		if (nip_seq_gt(c->snd_una + 1, c->snd_max))
			c->snd_max = c->snd_una + 1;
	} else {
		nip_tcp_send_probe(c);
	}
	c->s->cnt.tcp_zero_window_probes++;
}
