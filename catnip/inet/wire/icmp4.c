/* SPDX-License-Identifier: MIT */
/*
 * ICMPv4 messages (RFC 792): the common 8-byte header of echo and echo reply, the checksum
 * over the whole message, and turning an echo request into its reply (RFC 1122 section
 * 3.2.2.6) with the checksum updated incrementally (RFC 1624 section 3, equation 3).
 */
#include "icmp4.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "checksum.h"

_Static_assert(sizeof(struct nip_icmp4_hdr) == NIP_ICMP4_HLEN, "ICMPv4 header layout");

int nip_icmp4_parse(const uint8_t *msg, size_t len, struct nip_icmp4 *out)
{
	struct nip_icmp4_hdr h;

	if (len < NIP_ICMP4_HLEN)
		return -EINVAL;
	if (nip_csum_fold(nip_csum_add(0, msg, len)) != 0)
		return -EINVAL;
	memcpy(&h, msg, sizeof(h));
	out->type = h.type;
	out->code = h.code;
	out->id = ntohs(h.id);
	out->seq = ntohs(h.seq);
	out->data = msg + NIP_ICMP4_HLEN;
	out->data_len = len - NIP_ICMP4_HLEN;
	return 0;
}

/* True when every byte of the reply but the checksum is zero (its sum is +0, not -0). */
static bool rest_is_zero(const uint8_t *msg, size_t len)
{
	if (msg[0] || msg[1])
		return false;
	for (size_t i = 4; i < len; i++)
		if (msg[i])
			return false;
	return true;
}

/*
 * Only the type changes, in the 16-bit word it shares with the code: HC' = ~(~HC + ~m + m')
 * (RFC 1624 equation 3). Its result is never 0xffff; that is right unless the rest of the
 * reply sums to +0, which only all zeros do (type 0, code 0, id 0, seq 0, zero data): then
 * the one valid checksum is 0xffff, not 0 (RFC 1624 section 3 assumes this cannot happen for
 * IP headers; it can for ICMP). That case is rare (a result of 0) and checked byte by byte.
 */
void nip_icmp4_echo_to_reply(uint8_t *msg, size_t len)
{
	struct nip_icmp4_hdr h;
	uint32_t sum;
	uint16_t m_old, m_new;

	if (len < NIP_ICMP4_HLEN)
		return;
	memcpy(&h, msg, sizeof(h));
	m_old = (uint16_t)(h.type << 8 | h.code);
	m_new = (uint16_t)(NIP_ICMP4_ECHO_REPLY << 8 | h.code);
	sum = (uint16_t)~ntohs(h.csum);
	sum += (uint16_t)~m_old;
	sum += m_new;
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	h.type = NIP_ICMP4_ECHO_REPLY;
	h.csum = htons((uint16_t)~sum);
	memcpy(msg, &h, sizeof(h));
	if (h.csum == 0 && rest_is_zero(msg, len))
		memset(msg + 2, 0xff, 2);
}
