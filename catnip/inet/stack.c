/* SPDX-License-Identifier: MIT */
/* The stack's life cycle, Ethernet demultiplexing and the way out to the link. */
#include "stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "udp.h"
#include "wire/eth.h"

void nip_stack_config_default(struct nip_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arp_ttl_ns = 15ull * 1000000000ull;
	cfg->arp_retry_ns = 200ull * 1000000ull;
	cfg->arp_retries = 5;
	cfg->arp_pending_max = 1024; /* like Linux's unresolved queue, in frames */
	cfg->udp_rx_queue_max = 1024;
	cfg->ttl = 64;
	/* Linux holds up to 4 MiB (ipfrag_high_thresh) for 30 s (ipfrag_time). Fragments are
	 * held in the device's receive buffers, which TCP needs too (tcp_mem.c): a quarter of
	 * that, 512 buffers of 2 KiB out of DPDK's 4096, leaves TCP its share under a flood. */
	cfg->reass_max_datagrams = 64;
	cfg->reass_max_bytes = 1u << 20;
	cfg->reass_timeout_ns = 30ull * 1000000000ull;
	nip_tcp_config_default(&cfg->tcp);
}

int nip_stack_init(struct nip_stack *s, struct nip_link *link, const struct nip_stack_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->link = link;
	s->cfg = *cfg;
	s->next_ephemeral = 49152;
	s->udp_ports = calloc(65536, sizeof(*s->udp_ports));
	if (!s->udp_ports)
		return -ENOMEM;
	if (nip_arp_init(s) < 0) {
		free(s->udp_ports);
		return -ENOMEM;
	}
	if (nip_tcp_init(s) < 0) {
		nip_arp_fini(s);
		free(s->udp_ports);
		return -ENOMEM;
	}
	if (nip_ip4_reass_init(s) < 0) {
		nip_tcp_fini(s);
		nip_arp_fini(s);
		free(s->udp_ports);
		return -ENOMEM;
	}
	return 0;
}

void nip_stack_fini(struct nip_stack *s)
{
	nip_ip4_reass_fini(s);
	nip_tcp_fini(s);
	nip_stack_flush(s);
	/* What the device still refuses at the end is dropped. */
	for (uint32_t i = 0; i < s->txq_len; i++)
		nip_frame_put(s->txq[i]);
	s->txq_len = 0;
	nip_arp_fini(s);
	free(s->udp_ports);
	s->udp_ports = NULL;
}

void nip_stack_flush(struct nip_stack *s)
{
	uint32_t n = s->txq_len;
	int sent;

	if (!n)
		return;
	sent = s->link->ops->tx_burst(s->link->dev, s->txq, (int)n);
	if (sent < 0)
		sent = 0;
	s->cnt.tx_frames += (uint64_t)sent;
	/* A full device ring is back-pressure, not loss: the frames it refused stay at the
	 * front of the queue, in order, for the next flush, and TCP sends no more segments
	 * until the queue has room (nip_link_tx_ready). */
	if ((uint32_t)sent < n) {
		memmove(s->txq, s->txq + sent, (n - (uint32_t)sent) * sizeof(s->txq[0]));
		s->cnt.tx_deferred++;
	}
	s->txq_len = n - (uint32_t)sent;
}

bool nip_link_tx_ready(struct nip_stack *s)
{
	if (s->txq_len == NIP_TXQ)
		nip_stack_flush(s);
	return s->txq_len < NIP_TXQ;
}

int nip_link_send(struct nip_stack *s, struct demi__buf *frame)
{
	if (!nip_link_tx_ready(s)) {
		/* The device took nothing of a full queue: this frame is lost (counted). */
		s->cnt.drop_tx_full++;
		nip_frame_put(frame);
		return -ENOBUFS;
	}
	s->txq[s->txq_len++] = frame;
	return 0;
}

void nip_stack_input(struct nip_stack *s, struct demi__buf *frame)
{
	struct nip_eth eth;

	s->cnt.rx_frames++;
	if (nip_eth_parse(demi__buf_data(frame), frame->len, &eth) < 0) {
		s->cnt.drop_eth_short++;
		goto drop;
	}
	if (memcmp(eth.dst, s->link->mac, NIP_ETH_ALEN) && !nip_eth_is_broadcast(eth.dst)) {
		s->cnt.drop_eth_not_for_us++;
		goto drop;
	}
	switch (eth.type) {
	case NIP_ETHERTYPE_ARP:
		nip_arp_input(s, eth.payload, eth.payload_len);
		goto drop; /* ARP keeps nothing of the frame */
	case NIP_ETHERTYPE_IPV4:
		nip_ip4_input(s, frame, (uint8_t *)eth.payload, eth.payload_len);
		return;
	default:
		s->cnt.drop_eth_type++;
		goto drop;
	}
drop:
	demi__buf_put(frame);
}

/*
 * When the poll's tail has work: now when a TCP list holds connections (deferred ACKs, output
 * waiting for room in the device's ring, events to deliver), when the top of TCP's timer heap
 * has no timer armed (nip_tcp_poll takes it off, so that the deadline says "none") or when a
 * datagram is under reassembly (rare: its expiry is not worth a load on every pass);
 * otherwise the earlier of ARP's next request and the heap's top, which is then what
 * nip_stack_next_deadline answers, the device's queue aside.
 */
static inline uint64_t tail_due(const struct nip_stack *s, uint64_t now)
{
	const struct nip_tcp_stack *t = &s->tcp;
	uint64_t top = nip_tcp_timer_top(t), due = nip_arp_next_deadline(s);

	if (!demi__list_empty(&t->ack_pending) || !demi__list_empty(&t->tx_wait) ||
	    !demi__list_empty(&t->ev_pending) || top == 0 || !demi__list_empty(&s->reass.age))
		return now;
	return top < due ? top : due;
}

/* The poll's tail when it has work: each step checks its own. Not inlined into the receive
 * path, which rarely needs it. */
static __attribute__((noinline)) int poll_tail(struct nip_stack *s, uint64_t now)
{
	nip_tcp_flush_acks(s);
	nip_tcp_tx_resume(s);
	nip_arp_timers(s);
	nip_ip4_reass_timers(s);
	return nip_tcp_poll(s, now);
}

int nip_stack_poll(struct nip_stack *s, uint64_t now)
{
	struct demi__buf *frames[NIP_RX_BURST];
	const struct nip_link_rxmem *m;
	uint64_t due;
	int n;

	s->now = now;
	n = s->link->ops->rx_burst(s->link->dev, frames, NIP_RX_BURST);
	/* Every receiving pass looks at the device's buffers; without pressure, one check. */
	m = s->link->rxmem;
	if (m && !(m->held < s->tcp.mem_quiet && m->bufs == s->tcp.mem_bufs))
		nip_tcp_mem_update(s);
	for (int i = 0; i < n; i++)
		nip_stack_input(s, frames[i]);
	/* Most receiving passes leave no deferred ACK, no output waiting and no timer due (a
	 * ping-pong's frame is answered by the application after the poll): they pay one test
	 * (~25 instructions under LTO, the five steps' own tests ~36) and hand the libOS its
	 * next deadline, which it computed again after the poll before (~30; issue 14). */
	due = tail_due(s, now);
	if (due <= now) {
		n += poll_tail(s, now);
		nip_stack_flush(s);
		s->poll_due = nip_stack_next_deadline(s);
		return n;
	}
	if (s->txq_len) {
		nip_stack_flush(s);
		if (s->txq_len)
			due = now; /* what the device refused is retried at the next poll */
	}
	s->poll_due = due; /* nip_stack_next_deadline's answer: the lists are empty */
	return n;
}

uint64_t nip_stack_next_deadline(const struct nip_stack *s)
{
	uint64_t tcp = nip_tcp_timer_next_due(&s->tcp), arp = nip_arp_next_deadline(s);
	uint64_t reass = nip_ip4_reass_next_deadline(s);

	/* Work the device or a burst left over: retried at the very next poll. */
	if (s->txq_len || !demi__list_empty(&s->tcp.tx_wait) ||
	    !demi__list_empty(&s->tcp.ack_pending))
		return s->now;
	if (arp < tcp)
		tcp = arp;
	return reass < tcp ? reass : tcp;
}
