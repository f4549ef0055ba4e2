/* SPDX-License-Identifier: MIT */
/* UDP sockets (RFC 768): demultiplexing by port, bounded receive queues, sending. */
#include "udp.h"

#include <errno.h>
#include <string.h>

#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/udp.h"

#define HDRS (NIP_ETH_HLEN + NIP_IP4_HLEN + NIP_UDP_HLEN)

void nip_udp_sock_init(struct nip_udp_sock *u, struct nip_stack *s)
{
	memset(u, 0, sizeof(*u));
	u->s = s;
}

int nip_udp_bind(struct nip_udp_sock *u, uint32_t ip, uint16_t port)
{
	struct nip_stack *s = u->s;

	if (u->local_port)
		return -EINVAL;
	if (ip != 0 && ip != s->cfg.ip)
		return -EADDRNOTAVAIL;
	if (port == 0) {
		/* Ephemeral range of RFC 6335: 49152-65535, next free after the last one. */
		for (uint32_t i = 0; i < 16384 && !port; i++) {
			uint16_t p = s->next_ephemeral;
			s->next_ephemeral = p == 65535 ? 49152 : p + 1;
			if (!s->udp_ports[p])
				port = p;
		}
		if (!port)
			return -EADDRINUSE;
	} else if (s->udp_ports[port]) {
		return -EADDRINUSE;
	}
	s->udp_ports[port] = u;
	/* Its UDP template holds the old port (a socket sends only once bound). */
	nip_ip4_route_clear(&u->route);
	u->local_ip = ip;
	u->local_port = port;
	return 0;
}

void nip_udp_connect(struct nip_udp_sock *u, uint32_t ip, uint16_t port)
{
	u->remote_ip = ip;
	u->remote_port = port;
	u->connected = true;
}

void nip_udp_close(struct nip_udp_sock *u)
{
	if (u->local_port && u->s->udp_ports[u->local_port] == u)
		u->s->udp_ports[u->local_port] = NULL;
	u->local_port = 0;
	demi__buf_fifo_clear(&u->rx);
}

struct demi__buf *nip_udp_recv(struct nip_udp_sock *u, uint32_t *from_ip, uint16_t *from_port)
{
	struct demi__buf *b = demi__buf_fifo_pop(&u->rx);

	if (!b)
		return NULL;
	/* The sender travels in the buffer's private word while queued. */
	*from_ip = (uint32_t)(b->priv >> 16);
	*from_port = (uint16_t)b->priv;
	b->priv = 0;
	return b;
}

void nip_udp_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *dgram, size_t len,
		   uint32_t src, uint32_t dst)
{
	struct nip_udp udp;
	struct nip_udp_sock *u;
	/* ip4.c verified the checksum. */
	if (nip_udp_parse(dgram, len, src, dst, false, &udp) < 0) {
		s->cnt.drop_udp_bad++;
		goto drop;
	}
	u = s->udp_ports[udp.dport];
	if (!u || (u->local_ip && u->local_ip != dst && dst != 0xffffffffu)) {
		s->cnt.drop_udp_no_socket++;
		goto drop;
	}
	if (u->rx.count >= s->cfg.udp_rx_queue_max) {
		s->cnt.drop_udp_queue_full++;
		goto drop;
	}
	/* Trim the frame to the payload: the pop hands out this very buffer. */
	frame->off = (uint32_t)(udp.payload - frame->base);
	frame->len = (uint32_t)udp.payload_len;
	frame->priv = ((uint64_t)src << 16) | udp.sport;
	demi__buf_fifo_push(&u->rx, frame);
	s->cnt.udp_rx++;
	if (u->on_readable)
		u->on_readable(u->ctx);
	return;
drop:
	demi__buf_put(frame);
}

uint32_t nip_udp_max_payload(const struct nip_stack *s)
{
	uint32_t room = s->link->mtu > NIP_IP4_HLEN + NIP_UDP_HLEN
				? s->link->mtu - NIP_IP4_HLEN - NIP_UDP_HLEN
				: 0;
	return room < NIP_UDP_MAX_PAYLOAD ? room : NIP_UDP_MAX_PAYLOAD;
}

/* Builds u's route and template for ip:port; false while ARP has no usable mapping. Out of
 * line, as send_slow: the steady case keeps no registers for them. */
static __attribute__((noinline)) bool route_build(struct nip_udp_sock *u, uint32_t ip,
						  uint16_t port)
{
	struct nip_stack *s = u->s;

	if (!nip_ip4_route_fill(s, &u->route, ip, NIP_IPPROTO_UDP))
		return false;
	nip_udp_tmpl_init(&u->tmpl, u->local_port, port, s->cfg.ip, ip);
	u->route_port = port;
	return true;
}

/* Sends f through nip_ip4_output and ARP (which tells cb); 0. */
static __attribute__((noinline)) int send_slow(struct nip_udp_sock *u, uint32_t ip, uint16_t port,
					       struct demi__buf *f, uint32_t len, nip_sent_cb cb,
					       void *ctx)
{
	struct nip_stack *s = u->s;

	nip_udp_emit(demi__buf_data(f) + NIP_ETH_HLEN + NIP_IP4_HLEN, u->local_port, port,
		     s->cfg.ip, ip, len, s->link->offloads & NIP_OFF_UDP_CSUM_TX);
	nip_ip4_output(s, f, ip, NIP_IPPROTO_UDP, (uint16_t)(NIP_UDP_HLEN + len), cb, ctx);
	return 0;
}

/* Sends frame f, whose len bytes of payload follow room for the headers; nip_udp_send's
 * results 1 and 0. */
static int send_frame(struct nip_udp_sock *u, uint32_t ip, uint16_t port, struct demi__buf *f,
		      uint32_t len, nip_sent_cb cb, void *ctx)
{
	struct nip_stack *s = u->s;
	int rc;

	s->cnt.udp_tx++;
	if (!(nip_ip4_route_valid(s, &u->route) && u->route.ip.hdr.dst == ip &&
	      u->route_port == port) &&
	    !route_build(u, ip, port))
		return send_slow(u, ip, port, f, len, cb, ctx);
	nip_udp_emit_tmpl(demi__buf_data(f) + NIP_ETH_HLEN + NIP_IP4_HLEN, &u->tmpl, len,
			  s->link->offloads & NIP_OFF_UDP_CSUM_TX);
	rc = nip_ip4_output_route(s, f, &u->route, (uint16_t)(NIP_UDP_HLEN + len));
	if (rc == 0)
		return 1;
	if (cb)
		cb(ctx, rc); /* the link refused it: dropped and counted */
	return 0;
}

int nip_udp_send(struct nip_udp_sock *u, uint32_t ip, uint16_t port, const void *const *pieces,
		 const uint32_t *lens, int n, nip_sent_cb cb, void *ctx)
{
	struct nip_stack *s = u->s;
	uint64_t total = 0;
	struct demi__buf *f;
	uint8_t *p;
	int rc;

	for (int i = 0; i < n; i++)
		total += lens[i];
	if (total > nip_udp_max_payload(s))
		return -EMSGSIZE;
	if (!u->local_port && (rc = nip_udp_bind(u, 0, 0)) < 0)
		return rc;
	f = s->link->ops->alloc(s->link->dev, HDRS + total);
	if (!f) {
		s->cnt.drop_no_buffer++;
		return -ENOBUFS;
	}
	/* One copy of the payload into the frame (zero-copy gather needs frame chains in the
	 * link interface: docs/architecture.md). */
	p = demi__buf_data(f) + HDRS;
	for (int i = 0; i < n; i++) {
		memcpy(p, pieces[i], lens[i]);
		p += lens[i];
	}
	return send_frame(u, ip, port, f, (uint32_t)total, cb, ctx);
}

int nip_udp_send_buf(struct nip_udp_sock *u, uint32_t ip, uint16_t port, struct demi__buf *b,
		     uint8_t *data, uint32_t len, nip_sent_cb cb, void *ctx)
{
	struct nip_stack *s = u->s;
	int rc;

	_Static_assert(NIP_UDP_HEADROOM == HDRS, "header room");
	if (len > nip_udp_max_payload(s))
		return -EMSGSIZE;
	if (!u->local_port && (rc = nip_udp_bind(u, 0, 0)) < 0)
		return rc;
	b->off = (uint32_t)(data - HDRS - b->base);
	b->len = HDRS + len;
	return send_frame(u, ip, port, b, len, cb, ctx);
}
