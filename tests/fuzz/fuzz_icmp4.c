/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/icmp4.c (RFC 792, RFC 1624): parse as is; then, with the
 * checksum fixed by the naive reference, the message must parse, and its echo reply (checksum
 * updated incrementally) must parse too, keep every other byte, and carry the checksum a full
 * recomputation gives.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

#include "inet/wire/icmp4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nip_icmp4 ic, fixed, reply;
	int rc = nip_icmp4_parse(data, size, &ic);
	uint8_t *m;
	uint16_t want, full;

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (size < NIP_ICMP4_HLEN) {
		FUZZ_CHECK(rc == -EINVAL);
		return 0;
	}
	FUZZ_CHECK((rc == 0) == (fuzz_ref_sum(data, size) == 0xffff));
	if (rc == 0) {
		FUZZ_CHECK(ic.type == data[0] && ic.code == data[1]);
		FUZZ_CHECK(ic.id == fuzz_get_be16(data + 4) && ic.seq == fuzz_get_be16(data + 6));
		FUZZ_CHECK(ic.data == data + NIP_ICMP4_HLEN);
		FUZZ_CHECK(ic.data_len == size - NIP_ICMP4_HLEN);
	}

	m = malloc(size);
	FUZZ_CHECK(m);
	memcpy(m, data, size);
	fuzz_put_be16(m + 2, 0);
	fuzz_put_be16(m + 2, (uint16_t)~fuzz_ref_sum(m, size));
	FUZZ_CHECK(nip_icmp4_parse(m, size, &fixed) == 0);
	nip_icmp4_echo_to_reply(m, size);
	FUZZ_CHECK(nip_icmp4_parse(m, size, &reply) == 0);
	FUZZ_CHECK(reply.type == NIP_ICMP4_ECHO_REPLY && reply.code == fixed.code);
	FUZZ_CHECK(reply.id == fixed.id && reply.seq == fixed.seq);
	FUZZ_CHECK(memcmp(m + 4, data + 4, size - 4) == 0 && m[1] == data[1]);
	want = fuzz_get_be16(m + 2);
	fuzz_put_be16(m + 2, 0);
	full = (uint16_t)~fuzz_ref_sum(m, size);
	FUZZ_CHECK(want == full);
	free(m);
	return 0;
}
