/* SPDX-License-Identifier: MIT */
/*
 * IPv4 input and output (RFC 791, RFC 1122 3.2.1). Input validates the header (wire/ip4.c),
 * accepts packets for our address (and broadcast for UDP), hands them to ICMP, UDP or TCP,
 * and drops, counting by reason,
 * options, fragments and everything else. Output fills the header (checksum offloaded when the
 * device can) and hands the frame to ARP for the next hop: all peers are on-link.
 */
#include <string.h>

#include "stack.h"
#include "udp.h"
#include "wire/eth.h"
#include "wire/ip4.h"

void nip_ip4_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *pkt, size_t len)
{
	struct nip_ip4 ip;
	enum nip_ip4_err err;
	bool csum_done = s->link->offloads & NIP_OFF_IPV4_CSUM_RX;

	err = nip_ip4_parse(pkt, len, !csum_done, &ip);
	if (err != NIP_IP4_OK) {
		s->cnt.drop_ip4[err]++;
		goto drop;
	}
	if (ip.dst != s->cfg.ip && !(ip.dst == 0xffffffffu && ip.proto == NIP_IPPROTO_UDP)) {
		s->cnt.drop_ip4_not_for_us++;
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
