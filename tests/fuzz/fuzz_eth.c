/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/eth.c (Ethernet II, RFC 894): parse; a parsed header must
 * re-emit to the same 14 bytes and re-parse to the same fields.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

#include "inet/wire/eth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[NIP_ETH_HLEN];
	struct nip_eth e, f;
	int rc = nip_eth_parse(data, size, &e);

	if (size < NIP_ETH_HLEN) {
		FUZZ_CHECK(rc == -EINVAL);
		return 0;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(e.dst == data && e.src == data + 6);
	FUZZ_CHECK(e.payload == data + NIP_ETH_HLEN && e.payload_len == size - NIP_ETH_HLEN);
	FUZZ_CHECK(nip_eth_is_multicast(e.dst) == (data[0] & 1));
	if (nip_eth_is_broadcast(e.dst))
		FUZZ_CHECK(nip_eth_is_multicast(e.dst));
	nip_eth_emit(hdr, e.dst, e.src, e.type);
	FUZZ_CHECK(memcmp(hdr, data, NIP_ETH_HLEN) == 0);
	FUZZ_CHECK(nip_eth_parse(hdr, sizeof(hdr), &f) == 0);
	FUZZ_CHECK(f.type == e.type && f.payload_len == 0);
	FUZZ_CHECK(memcmp(f.dst, e.dst, 6) == 0 && memcmp(f.src, e.src, 6) == 0);
	return 0;
}
