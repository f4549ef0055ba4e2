/* SPDX-License-Identifier: MIT */
/* ICMP (RFC 792): answers echo requests, in place in the request's own buffer. */
#include <string.h>

#include "stack.h"
#include "wire/eth.h"
#include "wire/icmp4.h"
#include "wire/ip4.h"

void nip_icmp4_input(struct nip_stack *s, struct demi__buf *frame, uint8_t *msg, size_t len,
		     uint32_t src)
{
	struct nip_icmp4 icmp;
	uint8_t *eth = demi__buf_data(frame);

	if (nip_icmp4_parse(msg, len, &icmp) < 0) {
		s->cnt.drop_icmp_bad++;
		goto drop;
	}
	if (icmp.type != NIP_ICMP4_ECHO_REQUEST) {
		s->cnt.drop_icmp_type++;
		goto drop;
	}
	/* Reuse the frame: the reply is the request with type, checksum and addresses changed.
	 * IPv4 input removed any options (ip4.c), so the message starts right after 20 bytes. */
	nip_icmp4_echo_to_reply(msg, len);
	frame->len = (uint32_t)(msg + len - eth); /* drop any link padding */
	s->cnt.icmp_echo_replies++;
	nip_ip4_output(s, frame, src, NIP_IPPROTO_ICMP, (uint16_t)len, NULL, NULL);
	return;
drop:
	demi__buf_put(frame);
}
