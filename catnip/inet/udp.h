/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets of the stack (RFC 768). Received datagrams wait on their socket (bounded:
 * beyond udp_rx_queue_max they are dropped and counted) as the frame buffers they arrived in,
 * trimmed to the payload: a pop hands the application the received buffer, no copy.
 *
 * Sending keeps, per socket, the route to the last destination (ip4_route.h: Ethernet and
 * IPv4 headers prebuilt from its ARP mapping) and the UDP header template (wire/udp.h): a
 * datagram to the same address and port while the mapping holds costs its lengths, IPv4
 * identification and checksums only, and is queued for the link at once. Any other goes
 * through nip_ip4_output and ARP, and builds the route for the next one when the mapping is
 * known.
 */
#ifndef NIP_UDP_H
#define NIP_UDP_H

#include <stdbool.h>
#include <stdint.h>

#include "ip4_route.h"
#include "stack.h"
#include "wire/udp.h"

struct nip_udp_sock {
	struct nip_stack *s;
	uint32_t local_ip;   /* network order; 0 = any */
	uint16_t local_port; /* host order; 0 = not bound */
	uint32_t remote_ip;  /* network order, when connected */
	uint16_t remote_port;
	bool connected;
	struct demi__buf_fifo rx; /* received datagrams, oldest first */
	/* Called when a datagram was queued (e.g. to wake a pop). */
	void (*on_readable)(void *ctx);
	void *ctx;
	/* The last destination's route and header (valid while nip_ip4_route_valid says so and
	 * the destination is route.ip.hdr.dst, route_port). */
	struct nip_ip4_route route;
	struct nip_udp_tmpl tmpl;
	uint16_t route_port; /* host order */
};

void nip_udp_sock_init(struct nip_udp_sock *u, struct nip_stack *s);
/* port 0 picks an ephemeral port. 0; -EADDRINUSE; -EADDRNOTAVAIL (ip is not ours);
 * -EINVAL (already bound). */
int nip_udp_bind(struct nip_udp_sock *u, uint32_t ip, uint16_t port);
/* Sets the default destination. */
void nip_udp_connect(struct nip_udp_sock *u, uint32_t ip, uint16_t port);
/* Unbinds and drops queued datagrams. */
void nip_udp_close(struct nip_udp_sock *u);
/* The oldest queued datagram (data = payload) and its sender; NULL when none. */
struct demi__buf *nip_udp_recv(struct nip_udp_sock *u, uint32_t *from_ip, uint16_t *from_port);
/* Most payload bytes one datagram may carry on this link. */
uint32_t nip_udp_max_payload(const struct nip_stack *s);
/*
 * Sends one datagram gathered from n pieces (len bytes in all) to ip:port, binding an
 * ephemeral port first if needed. 1: the frame is queued for the link (it leaves with the
 * next flush) and cb is not called; 0: cb learns when it was queued (or failed), exactly
 * once, maybe before the call returns (a full link, a mapping ARP must renew); -EMSGSIZE;
 * -ENOBUFS (no frame buffer); -EADDRINUSE (no ephemeral port), and cb is not called.
 */
int nip_udp_send(struct nip_udp_sock *u, uint32_t ip, uint16_t port, const void *const *pieces,
		 const uint32_t *lens, int n, nip_sent_cb cb, void *ctx);

/*
 * Sends len bytes at data, which lie in buffer b, without copying them: the headers are
 * written into the NIP_UDP_HEADROOM bytes before data (the caller checked they are inside b
 * and that nobody else reads them) and b itself becomes the frame. Consumes one reference of
 * b. Same results as nip_udp_send.
 */
int nip_udp_send_buf(struct nip_udp_sock *u, uint32_t ip, uint16_t port, struct demi__buf *b,
		     uint8_t *data, uint32_t len, nip_sent_cb cb, void *ctx);
/* Bytes of headers (Ethernet, IPv4, UDP) that nip_udp_send_buf writes in front of data. */
#define NIP_UDP_HEADROOM 42

void nip_udp_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *dgram, size_t len,
		   uint32_t src, uint32_t dst);

#endif
