/* SPDX-License-Identifier: MIT */
/*
 * The stack-wide receive memory budget (Linux's tcp_mem, after its pressure levels).
 *
 * Received data lives in the very buffers the device received it into (zero copy), and a
 * device has few of them (DPDK: dpdk.rx_bufs). Connections that keep them (in-order data the
 * application has not popped, out-of-order segments, and an echo's pushes of received buffers,
 * held in the send queue until the peer acknowledges them) can hold them all: the device then
 * has nothing to receive into, drops every frame, the ACKs that would free the send queues
 * included, and the stack deadlocks. So the stack always keeps room to receive:
 *
 * - nip_tcp_mem_update, once per poll after the device's receive burst, reads how many of the
 *   device's lendable buffers are held (link.h struct nip_link_rxmem) and derives a level:
 *   PRESSURE from mem_pressure_pct of them on, CRITICAL from mem_critical_pct; a level ends
 *   1/16 of the buffers below where it began (hysteresis). A link without a finite set of
 *   receive buffers never leaves OK, and at OK nothing here costs anything per packet.
 * - PRESSURE: a push of a received buffer is copied into an ordinary pool buffer
 *   (nip_tcp_push_unpin, called when the push is issued and again by nip_tcp_send), and each
 *   connection's window stops opening past a share of the free buffers (mem_rcv_share:
 *   free buffers x MSS / connections). The right edge already advertised never moves left
 *   (RFC 9293 3.8.6.2.2): the window only stops opening.
 * - CRITICAL: on entry, every out-of-order queue is pruned (its data will be retransmitted;
 *   Linux's tcp_prune_ofo_queue), and the received buffers of every send queue and every
 *   queue of data not yet popped are swapped for copies (Linux's collapse); while it lasts,
 * out-of-order arrivals are dropped and in-order ones are copied out of the device's buffer
 * (nip_tcp_mem_rcv), so the device gets its buffer back at once.
 * - Back to OK: every connection whose window was held back announces it again
 *   (nip_tcp_window_update), since its peer may be waiting on a zero window.
 * Everything is counted (tcp_mem_* and drop_tcp_mem_pressure in struct nip_counters).
 */
#include <string.h>

#include "stack.h"
#include "tcp_priv.h"
#include "tcp_reass.h"

#define PRESSURE_PCT 50
#define CRITICAL_PCT 85

/* A copy of len bytes at data, in a buffer of the link's pool; NULL when none is left. */
static struct demi__buf *copy_of(struct nip_stack *s, const uint8_t *data, uint32_t len)
{
	struct demi__buf *b = s->link->ops->alloc(s->link->dev, len);

	if (b)
		memcpy(demi__buf_data(b), data, len);
	return b;
}

void nip_tcp_push_unpin(struct nip_stack *s, struct demi__buf **buf, uint8_t **data, uint32_t len)
{
	struct demi__buf *b = *buf, *copy;

	if (s->tcp.mem_level == NIP_TCP_MEM_OK || !(b->priv & NIP_TCP_BUF_RCVD) || !len)
		return;
	copy = copy_of(s, *data, len);
	if (!copy)
		return; /* zero copy it stays: better than failing the push */
	demi__buf_put(b);
	*buf = copy;
	*data = demi__buf_data(copy);
	s->cnt.tcp_mem_push_copied++;
}

struct demi__buf *nip_tcp_mem_rcv(struct nip_tcp_conn *c, struct demi__buf *b)
{
	struct nip_stack *s = c->s;
	struct demi__buf *copy = copy_of(s, demi__buf_data(b), b->len);

	demi__buf_put(b);
	if (!copy) {
		s->cnt.drop_tcp_mem_pressure++;
		return NULL;
	}
	s->cnt.tcp_mem_rcv_copied++;
	return copy;
}

/* The in-order data waiting for the application, out of the device's buffers: a reader that
 * does not read must not keep them (Linux collapses such a queue). */
static void collapse(struct nip_stack *s, struct nip_tcp_conn *c)
{
	struct demi__buf_fifo rq = c->rq;
	struct demi__buf *b;

	memset(&c->rq, 0, sizeof(c->rq));
	while ((b = demi__buf_fifo_pop(&rq))) {
		struct demi__buf *copy = NULL;

		if (b->priv & NIP_TCP_BUF_RCVD)
			copy = copy_of(s, demi__buf_data(b), b->len);
		if (copy) {
			c->rq_mem = c->rq_mem - b->cap + copy->cap;
			demi__buf_put(b);
			b = copy;
			s->cnt.tcp_mem_rcv_copied++;
		}
		demi__buf_fifo_push(&c->rq, b);
	}
}

/* Entering CRITICAL: give the device back what is recoverable or copyable. */
static void reclaim(struct nip_stack *s, struct nip_tcp_conn *c)
{
	s->cnt.tcp_mem_ofo_pruned += c->reass.nsegs;
	nip_tcp_reass_clear(&c->reass);
	for (struct nip_tcp_chunk *k = c->sq_head; k; k = k->next)
		nip_tcp_push_unpin(s, &k->buf, &k->data, k->len);
	collapse(s, c);
}

/* Calls fn for every connection (listeners' queues included: they are in the hash). */
static void each_conn(struct nip_stack *s, void (*fn)(struct nip_stack *, struct nip_tcp_conn *))
{
	for (uint32_t i = 0; i <= s->tcp.hash_mask; i++)
		for (struct nip_tcp_conn *c = s->tcp.hash[i]; c; c = c->hnext)
			fn(s, c);
}

static void window_again(struct nip_stack *s, struct nip_tcp_conn *c)
{
	if (nip_tcp_window_update(c))
		s->cnt.tcp_mem_window_updates++;
}

static uint32_t pct(uint32_t bufs, uint32_t p)
{
	return (uint32_t)((uint64_t)bufs * p / 100);
}

void nip_tcp_mem_update(struct nip_stack *s)
{
	const struct nip_link_rxmem *m = s->link->rxmem;
	const struct nip_tcp_config *cfg = &s->cfg.tcp;
	uint32_t held, on_p, on_c, hyst, level, was = s->tcp.mem_level;

	if (!m || !m->bufs) {
		s->tcp.mem_level = NIP_TCP_MEM_OK;
		s->tcp.mem_quiet = 0;
		return;
	}
	held = m->held;
	/* nip_stack_poll skips this call while held stays below mem_quiet (set below, the
	 * common case: no pressure before nor now); the thresholds (two divisions) are derived
	 * again only when the device's count of buffers changes, which also ends the skipping. */
	if (m->bufs != s->tcp.mem_bufs) {
		s->tcp.mem_bufs = m->bufs;
		s->tcp.mem_on_p =
			pct(m->bufs, cfg->mem_pressure_pct ? cfg->mem_pressure_pct : PRESSURE_PCT);
		s->tcp.mem_on_c =
			pct(m->bufs, cfg->mem_critical_pct ? cfg->mem_critical_pct : CRITICAL_PCT);
	}
	on_p = s->tcp.mem_on_p;
	on_c = s->tcp.mem_on_c;
	if (was == NIP_TCP_MEM_OK && held < on_p && held < on_c) {
		s->tcp.mem_quiet = on_p < on_c ? on_p : on_c;
		return;
	}
	hyst = m->bufs / 16;
	/* A level lasts until held falls hyst below where it began. */
	if (held >= on_c || (was == NIP_TCP_MEM_CRITICAL && held + hyst >= on_c))
		level = NIP_TCP_MEM_CRITICAL;
	else if (held >= on_p || (was >= NIP_TCP_MEM_PRESSURE && held + hyst >= on_p))
		level = NIP_TCP_MEM_PRESSURE;
	else
		level = NIP_TCP_MEM_OK;
	if (level != NIP_TCP_MEM_OK) {
		uint32_t free = held < m->bufs ? m->bufs - held : 0;
		uint64_t share =
			(uint64_t)free * nip_tcp_mtu_mss(s) / (s->tcp.nconns ? s->tcp.nconns : 1);

		s->tcp.mem_rcv_share = share < UINT32_MAX ? (uint32_t)share : UINT32_MAX;
	}
	/* At level OK, nothing changes until held reaches the lower threshold. */
	s->tcp.mem_quiet = level == NIP_TCP_MEM_OK ? (on_p < on_c ? on_p : on_c) : 0;
	if (level == was)
		return;
	s->tcp.mem_level = (uint8_t)level;
	if (level > was) {
		if (was == NIP_TCP_MEM_OK)
			s->cnt.tcp_mem_pressure++;
		if (level == NIP_TCP_MEM_CRITICAL) {
			s->cnt.tcp_mem_critical++;
			each_conn(s, reclaim);
		}
	} else if (level == NIP_TCP_MEM_OK) {
		each_conn(s, window_again);
	}
}
