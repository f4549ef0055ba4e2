/* SPDX-License-Identifier: MIT */
/*
 * IPv4 input and output (RFC 791, RFC 1122 3.2.1). Input validates the header (wire/ip4.c),
 * accepts packets for our address (and broadcast for UDP), reassembles fragments
 * (ip4_reass.c, RFC 1122 3.3.2), hands datagrams to ICMP, UDP or TCP, and drops everything
 * else, counting by reason. Options are accepted and ignored (RFC 1122 3.2.1.8: we implement
 * none; a malformed list or a source route is dropped): the header is rewritten without them
 * before the layers above see the frame, so they all find their message right after a 20-byte
 * header, and an echo reply carries no options (Linux echoes record route and timestamp with
 * its own entries added, a SHOULD of RFC 1122 3.2.2.6; it drops source-routed datagrams, as we
 * do). Output fills the header (checksum offloaded when the device can) and hands the frame to
 * ARP for the next hop: all peers are on-link. A sender that keeps a route (ip4_route.h) writes
 * both headers from it and queues the frame for the link itself, with no ARP lookup.
 *
 * Received checksums are checked here, once per frame, for every protocol above: the device's
 * per-frame flags (link.h, NIP_RXF_*) say what it verified; what it did not is verified in
 * software (the IPv4 header, then the UDP or TCP checksum over the pseudo-header, RFC 768,
 * RFC 9293 3.1), and udp.c and tcp/ do not check again. Bad checksums are counted where the
 * protocol's own parser would have counted them.
 */
#include <string.h>

#include "ip4_route.h"
#include "stack.h"
#include "udp.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

/* Whether the UDP or TCP checksum of a packet for us is right (or absent: UDP's 0). A packet
 * too short for its header passes: its parser drops and counts it. */
static bool l4_csum_ok(const struct nip_ip4 *ip)
{
	size_t len = ip->payload_len;

	if (ip->proto == NIP_IPPROTO_UDP) {
		if (len < NIP_UDP_HLEN || (ip->payload[6] == 0 && ip->payload[7] == 0))
			return true;
	} else if (len < NIP_TCP_HLEN) {
		return true;
	}
	/* The IPv4 total length bounds len to 16 bits. */
	return nip_csum_fold(
		       nip_csum_add(nip_csum_pseudo4(ip->src, ip->dst, ip->proto, (uint16_t)len),
				    ip->payload, len)) == 0;
}

static void count_l4_csum_bad(struct nip_stack *s, uint8_t proto)
{
	if (proto == NIP_IPPROTO_UDP)
		s->cnt.drop_udp_bad++;
	else
		s->cnt.drop_tcp_bad[NIP_TCP_BAD_CSUM]++;
}

/* RFC 1122 3.2.1.3: a datagram from a broadcast, multicast, reserved or loopback source, or
 * from our own address, is discarded silently: answering it would reflect to a whole link
 * (a spoofed ping from 255.255.255.255 would make us a broadcast amplifier). */
static bool src_invalid(uint32_t src, uint32_t self)
{
	const uint8_t first = ((const uint8_t *)&src)[0]; /* src is in network order */

	return src == 0xffffffffu || first >= 224 || first == 127 || src == self;
}

/* Rewrites the frame as if its header had no options: the Ethernet header and a plain 20-byte
 * IPv4 header moved up against the payload (the bytes in front become headroom). */
static void strip_options(struct demi__buf *frame, struct nip_ip4 *ip)
{
	uint32_t opt = ip->hlen - NIP_IP4_HLEN;
	uint8_t *eth = demi__buf_data(frame);

	memmove(eth + opt, eth, NIP_ETH_HLEN);
	frame->off += opt;
	frame->len -= opt;
	nip_ip4_emit(eth + opt + NIP_ETH_HLEN, ip, (uint16_t)ip->payload_len, false);
	ip->hlen = NIP_IP4_HLEN;
}

void nip_ip4_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *pkt, size_t len)
{
	struct nip_ip4 ip;
	enum nip_ip4_err err;
	uint64_t rxf = frame->priv; /* the device's NIP_RXF_* flags (link.h) */

	frame->priv = 0;
	if (rxf & NIP_RXF_IP4_CSUM_BAD) {
		s->cnt.drop_ip4[NIP_IP4_CSUM]++;
		goto drop;
	}
	err = nip_ip4_parse(pkt, len, !(rxf & NIP_RXF_IP4_CSUM_GOOD), &ip);
	if (err != NIP_IP4_OK) {
		s->cnt.drop_ip4[err]++;
		goto drop;
	}
	if (ip.dst != s->cfg.ip && !(ip.dst == 0xffffffffu && ip.proto == NIP_IPPROTO_UDP)) {
		s->cnt.drop_ip4_not_for_us++;
		goto drop;
	}
	if (src_invalid(ip.src, s->cfg.ip)) {
		s->cnt.drop_ip4_bad_src++;
		goto drop;
	}
	if (nip_ip4_is_fragment(&ip)) {
		/* The device's L4 flags said nothing of the whole datagram: verified below. */
		rxf = 0;
		if (!(frame = nip_ip4_reass_input(s, frame, &ip)))
			return; /* held, or dropped and counted */
	} else if (ip.hlen > NIP_IP4_HLEN) {
		strip_options(frame, &ip);
	}
	if ((ip.proto == NIP_IPPROTO_UDP || ip.proto == NIP_IPPROTO_TCP) &&
	    !(rxf & NIP_RXF_L4_CSUM_GOOD) && ((rxf & NIP_RXF_L4_CSUM_BAD) || !l4_csum_ok(&ip))) {
		count_l4_csum_bad(s, ip.proto);
		goto drop;
	}
	switch (ip.proto) {
	case NIP_IPPROTO_ICMP:
		nip_icmp4_input(s, frame, (uint8_t *)ip.payload, ip.payload_len, ip.src);
		return;
	case NIP_IPPROTO_UDP:
		nip_udp_input(s, frame, ip.payload, ip.payload_len, ip.src, ip.dst);
		return;
	case NIP_IPPROTO_TCP:
		nip_tcp_input(s, frame, ip.payload, ip.payload_len, ip.src, ip.dst);
		return;
	default:
		s->cnt.drop_ip4_proto++;
		goto drop;
	}
drop:
	demi__buf_put(frame);
}

void nip_ip4_output(struct nip_stack *s, struct demi__buf *frame, uint32_t dst, uint8_t proto,
		    uint16_t l4_len, nip_sent_cb cb, void *ctx)
{
	struct nip_ip4 ip = {
		.src = s->cfg.ip,
		.dst = dst,
		.proto = proto,
		.ttl = s->cfg.ttl,
		.id = s->ip_id++,
	};

	nip_ip4_emit(demi__buf_data(frame) + NIP_ETH_HLEN, &ip, l4_len,
		     s->link->offloads & NIP_OFF_IPV4_CSUM_TX);
	nip_arp_resolve_and_send(s, frame, dst, cb, ctx);
}

void nip_ip4_tmpl(const struct nip_stack *s, struct nip_ip4_tmpl *t, uint32_t dst, uint8_t proto)
{
	struct nip_ip4 ip = {.src = s->cfg.ip, .dst = dst, .proto = proto, .ttl = s->cfg.ttl};

	nip_ip4_tmpl_init(t, &ip);
}

void nip_ip4_output_tmpl(struct nip_stack *s, struct demi__buf *frame, const struct nip_ip4_tmpl *t,
			 uint16_t l4_len)
{
	nip_ip4_emit_tmpl(demi__buf_data(frame) + NIP_ETH_HLEN, t, s->ip_id++, l4_len,
			  s->link->offloads & NIP_OFF_IPV4_CSUM_TX);
	nip_arp_resolve_and_send(s, frame, t->hdr.dst, NULL, NULL);
}

bool nip_ip4_route_fill(struct nip_stack *s, struct nip_ip4_route *r, uint32_t dst, uint8_t proto)
{
	struct nip_arp_hint h;

	r->ok = false;
	if (dst == 0xffffffffu || !nip_arp_hint_get(s, dst, &h))
		return false;
	nip_eth_emit(r->eth, h.mac, s->link->mac, NIP_ETHERTYPE_IPV4);
	nip_ip4_tmpl(s, &r->ip, dst, proto);
	r->arp_gen = h.gen;
	r->until = h.until;
	r->ok = true;
	return true;
}

int nip_ip4_output_route(struct nip_stack *s, struct demi__buf *frame,
			 const struct nip_ip4_route *r, uint16_t l4_len)
{
	uint8_t *eth = demi__buf_data(frame);

	memcpy(eth, r->eth, NIP_ETH_HLEN);
	nip_ip4_emit_tmpl(eth + NIP_ETH_HLEN, &r->ip, s->ip_id++, l4_len,
			  s->link->offloads & NIP_OFF_IPV4_CSUM_TX);
	return nip_link_send(s, frame);
}
