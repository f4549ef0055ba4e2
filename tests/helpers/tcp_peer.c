/* SPDX-License-Identifier: MIT */
/* The peer of the TCP tests and fuzzers: see tcp_peer.h. */
#include "tcp_peer.h"

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ip4.h"

#define L3_OFF (NIP_ETH_HLEN + NIP_IP4_HLEN)

int tcp_peer_init(struct tcp_peer *p, struct demi__pool *pool, const struct nip_stack_config *cfg,
		  uint16_t mtu)
{
	struct nip_stack_config c = *cfg;
	int rc;

	p->pool = pool;
	p->now = 1000000000ull;
	p->after_poll = NULL;
	p->ctx = NULL;
	c.ip = htonl(TCP_PEER_IP_STACK);
	nip_test_wire_init(&p->wire, pool, &p->now, mtu, 1);
	rc = nip_stack_init(&p->s, nip_test_link(&p->wire, 0), &c);
	if (rc < 0) {
		nip_test_wire_fini(&p->wire);
		return rc;
	}
	rc = nip_arp_add_static(&p->s, htonl(TCP_PEER_IP_PEER), p->wire.end[1].link.mac);
	if (rc < 0) {
		tcp_peer_fini(p);
		return rc;
	}
	nip_stack_poll(&p->s, p->now);
	return 0;
}

void tcp_peer_fini(struct tcp_peer *p)
{
	nip_stack_fini(&p->s);
	nip_test_wire_fini(&p->wire);
}

/* ---- the clock ---- */

uint64_t tcp_peer_next_event(const struct tcp_peer *p)
{
	const struct nip_test_end *e = &p->wire.end[0];
	uint64_t next = nip_stack_next_deadline(&p->s);

	if (e->count && e->q[e->head].due < next)
		next = e->q[e->head].due;
	return next;
}

static void poll(struct tcp_peer *p)
{
	nip_stack_poll(&p->s, p->now);
	if (p->after_poll)
		p->after_poll(p, p->ctx);
}

int tcp_peer_clock_to(struct tcp_peer *p, uint64_t t, int max_steps)
{
	for (int steps = 0;; steps++) {
		uint64_t next = tcp_peer_next_event(p);

		if (next > t)
			break;
		if (steps >= max_steps)
			return -ELOOP;
		if (next > p->now)
			p->now = next;
		poll(p);
	}
	if (t > p->now)
		p->now = t;
	poll(p);
	return 0;
}

int tcp_peer_run_out(struct tcp_peer *p, uint64_t horizon, int max_steps)
{
	uint64_t end = p->now + horizon, next;
	int rc;

	while ((next = nip_stack_next_deadline(&p->s)) <= end) {
		if ((rc = tcp_peer_clock_to(p, next, max_steps)) < 0)
			return rc;
		tcp_peer_discard(p);
		if (--max_steps < 0)
			return -ELOOP;
	}
	tcp_peer_discard(p);
	return 0;
}

/* ---- the peer sends ---- */

static void fix_csum(uint8_t *l4, size_t tlen)
{
	uint16_t csum;

	memset(l4 + 16, 0, 2);
	csum = nip_csum_fold(
		nip_csum_add(nip_csum_pseudo4(htonl(TCP_PEER_IP_PEER), htonl(TCP_PEER_IP_STACK),
					      NIP_IPPROTO_TCP, (uint16_t)tlen),
			     l4, tlen));
	memcpy(l4 + 16, &csum, 2);
}

int tcp_peer_inject(struct tcp_peer *p, const struct tcp_peer_seg *sg)
{
	struct nip_link *peer = nip_test_link(&p->wire, 1);
	struct nip_tcp_seg h = sg->h;
	struct nip_ip4 ip;
	struct demi__buf *f;
	uint8_t *d, *l4;
	size_t hlen;

	if (sg->raw_opt_len)
		memset(&h.opt, 0, sizeof(h.opt));
	f = demi__pool_get(p->pool, L3_OFF + NIP_TCP_MAX_HLEN + sg->len);
	if (!f)
		return -ENOMEM;
	d = demi__buf_data(f);
	l4 = d + L3_OFF;
	/* The payload goes where the header ends, raw options included, before the checksum. */
	hlen = NIP_TCP_HLEN + nip_tcp_opts_len(&h.opt) + sg->raw_opt_len;
	for (uint32_t i = 0; i < sg->len; i++)
		l4[hlen + i] = sg->data ? sg->data[i] : sg->fill(h.seq + i, sg->fill_ctx);
	if (sg->raw_opt_len) {
		nip_tcp_emit(l4, &h, htonl(TCP_PEER_IP_PEER), htonl(TCP_PEER_IP_STACK), 0, false);
		memcpy(l4 + NIP_TCP_HLEN, sg->raw_opt, sg->raw_opt_len);
		l4[12] = (uint8_t)((hlen / 4) << 4);
		fix_csum(l4, hlen + sg->len);
	} else {
		nip_tcp_emit(l4, &h, htonl(TCP_PEER_IP_PEER), htonl(TCP_PEER_IP_STACK), sg->len,
			     false);
	}
	if (sg->doff_set) {
		l4[12] = (uint8_t)(sg->doff << 4);
		fix_csum(l4, hlen + sg->len);
	}
	if (sg->bad_csum)
		l4[16] ^= 0x5a;
	memset(&ip, 0, sizeof(ip));
	ip.src = htonl(TCP_PEER_IP_PEER);
	ip.dst = htonl(TCP_PEER_IP_STACK);
	ip.proto = NIP_IPPROTO_TCP;
	ip.ttl = 64;
	nip_ip4_emit(d + NIP_ETH_HLEN, &ip, (uint16_t)(hlen + sg->len), false);
	nip_eth_emit(d, p->wire.end[0].link.mac, peer->mac, NIP_ETHERTYPE_IPV4);
	f->len = (uint32_t)(L3_OFF + hlen + sg->len);
	if (peer->ops->tx_burst(peer->dev, &f, 1) != 1) {
		demi__buf_put(f);
		poll(p);
		return -ENOBUFS;
	}
	poll(p);
	return 0;
}

/* ---- the peer receives ---- */

static int parse(struct tcp_peer *p, const struct demi__buf *b, struct tcp_peer_rx *out)
{
	struct nip_eth eth;
	struct nip_ip4 ip;
	struct nip_tcp_seg *t = &out->seg;

	if (nip_eth_parse(demi__buf_data(b), b->len, &eth) < 0 || eth.type != NIP_ETHERTYPE_IPV4 ||
	    memcmp(eth.dst, p->wire.end[1].link.mac, 6))
		return -EBADMSG;
	if (nip_ip4_parse(eth.payload, eth.payload_len, true, &ip) != NIP_IP4_OK ||
	    ip.src != htonl(TCP_PEER_IP_STACK) || ip.dst != htonl(TCP_PEER_IP_PEER))
		return -EBADMSG;
	if (ip.proto != NIP_IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	if (nip_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, true, t) != NIP_TCP_OK ||
	    t->payload_len > p->wire.end[0].link.mtu - 40u || t->payload_len > sizeof(out->data))
		return -EBADMSG;
	memcpy(out->data, t->payload, t->payload_len);
	t->payload = out->data;
	return 1;
}

int tcp_peer_take(struct tcp_peer *p, struct tcp_peer_rx *out)
{
	struct nip_test_end *e = &p->wire.end[1];
	struct nip_test_frame fr;
	int rc;

	if (!e->count)
		return 0;
	fr = e->q[e->head];
	e->head = (e->head + 1) % NIP_TEST_QUEUE;
	e->count--;
	out->t = fr.due;
	rc = parse(p, fr.buf, out);
	demi__buf_put(fr.buf);
	return rc;
}

void tcp_peer_discard(struct tcp_peer *p)
{
	struct nip_test_end *e = &p->wire.end[1];

	while (e->count) {
		demi__buf_put(e->q[e->head].buf);
		e->head = (e->head + 1) % NIP_TEST_QUEUE;
		e->count--;
	}
}
