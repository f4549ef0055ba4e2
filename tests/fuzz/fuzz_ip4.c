/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/ip4.c (RFC 791): parse with and without the checksum (options
 * walked, fragment fields read); a header accepted unchecked is re-emitted (without options)
 * with its payload and must then parse, checked, to the same fields, with a checksum the naive
 * reference agrees with.
 */
#include <string.h>

#include "fuzz.h"

#include "inet/wire/ip4.h"

/* A naive walk of an option list the parser accepted: every option lies within the list, and
 * none is a source route (LSRR 131, SSRR 137), which the parser refuses. */
static int ref_options_ok(const uint8_t *o, size_t len)
{
	size_t i = 0;

	while (i < len && o[i] != 0) {
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (o[i] == 131 || o[i] == 137 || i + 1 >= len || o[i + 1] < 2 ||
		    i + o[i + 1] > len)
			return 0;
		i += o[i + 1];
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nip_ip4 ip, chk, again;
	enum nip_ip4_err e = nip_ip4_parse(data, size, false, &ip);
	enum nip_ip4_err ec = nip_ip4_parse(data, size, true, &chk);
	uint8_t *pkt;

	FUZZ_CHECK(nip_ip4_err_name(e) != NULL && nip_ip4_err_name(ec) != NULL);
	FUZZ_CHECK((unsigned)e < NIP_IP4_NERR && (unsigned)ec < NIP_IP4_NERR);
	if (size < NIP_IP4_HLEN)
		FUZZ_CHECK(e == NIP_IP4_SHORT && ec == NIP_IP4_SHORT);
	/* The checksum is one more reason to drop, never a reason to accept. */
	if (ec == NIP_IP4_OK)
		FUZZ_CHECK(e == NIP_IP4_OK);
	if (e != NIP_IP4_CSUM && ec != NIP_IP4_CSUM)
		FUZZ_CHECK(e == ec);
	if (e != NIP_IP4_OK)
		return 0;
	FUZZ_CHECK(ip.hlen == (data[0] & 15) * 4 && ip.hlen >= NIP_IP4_HLEN);
	FUZZ_CHECK(ip.payload == data + ip.hlen);
	FUZZ_CHECK(ref_options_ok(data + NIP_IP4_HLEN, ip.hlen - NIP_IP4_HLEN));
	FUZZ_CHECK(ip.payload_len <= size - ip.hlen);
	FUZZ_CHECK(ip.payload_len == (size_t)fuzz_get_be16(data + 2) - ip.hlen);
	FUZZ_CHECK(ip.frag_off == (fuzz_get_be16(data + 6) & 0x1fff) * 8);
	FUZZ_CHECK(ip.more_frags == !!(data[6] & 0x20));
	if (ec == NIP_IP4_OK)
		FUZZ_CHECK(fuzz_ref_sum(data, ip.hlen) == 0xffff); /* options included */

	pkt = malloc(NIP_IP4_HLEN + ip.payload_len);
	FUZZ_CHECK(pkt);
	memcpy(pkt + NIP_IP4_HLEN, ip.payload, ip.payload_len);
	nip_ip4_emit(pkt, &ip, (uint16_t)ip.payload_len, false);
	FUZZ_CHECK(fuzz_ref_sum(pkt, NIP_IP4_HLEN) == 0xffff);
	FUZZ_CHECK(nip_ip4_parse(pkt, NIP_IP4_HLEN + ip.payload_len, true, &again) == NIP_IP4_OK);
	FUZZ_CHECK(again.src == ip.src && again.dst == ip.dst && again.proto == ip.proto);
	FUZZ_CHECK(again.ttl == ip.ttl && again.tos == ip.tos && again.id == ip.id);
	FUZZ_CHECK(again.payload_len == ip.payload_len);
	FUZZ_CHECK(memcmp(again.payload, ip.payload, ip.payload_len) == 0);
	/* Same bytes as the input except flags (DF set, reserved bit clear, no fragment) and
	 * checksum, and no options: IHL 5 and a total length that lost them. */
	FUZZ_CHECK(pkt[0] == 0x45 && pkt[1] == data[1] && memcmp(pkt + 4, data + 4, 2) == 0 &&
		   memcmp(pkt + 8, data + 8, 2) == 0 && memcmp(pkt + 12, data + 12, 8) == 0);
	if (ip.hlen == NIP_IP4_HLEN)
		FUZZ_CHECK(memcmp(pkt, data, 6) == 0);
	/* A valid checksum is the one we compute, or its all-ones twin when that is zero. */
	if (ec == NIP_IP4_OK && fuzz_get_be16(data + 6) == 0x4000 && ip.hlen == NIP_IP4_HLEN) {
		FUZZ_CHECK(memcmp(pkt, data, 10) == 0);
		FUZZ_CHECK(fuzz_get_be16(pkt + 10) == fuzz_get_be16(data + 10) ||
			   (fuzz_get_be16(pkt + 10) == 0 && fuzz_get_be16(data + 10) == 0xffff));
	}
	nip_ip4_emit(pkt, &ip, (uint16_t)ip.payload_len, true);
	FUZZ_CHECK(fuzz_get_be16(pkt + 10) == 0);
	FUZZ_CHECK(nip_ip4_parse(pkt, NIP_IP4_HLEN + ip.payload_len, false, &again) == NIP_IP4_OK);
	free(pkt);
	return 0;
}
