/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/arp.c (RFC 826): parse; every field of an accepted packet
 * is either fixed or carried, so re-emitting gives back its first 28 bytes exactly.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

#include "inet/wire/arp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pkt[NIP_ARP_LEN];
	struct nip_arp a, b;
	int rc = nip_arp_parse(data, size, &a);

	if (size < NIP_ARP_LEN)
		FUZZ_CHECK(rc == -EINVAL);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP);
	if (rc)
		return 0;
	FUZZ_CHECK(a.op == NIP_ARP_REQUEST || a.op == NIP_ARP_REPLY);
	nip_arp_emit(pkt, &a);
	FUZZ_CHECK(memcmp(pkt, data, NIP_ARP_LEN) == 0);
	FUZZ_CHECK(nip_arp_parse(pkt, sizeof(pkt), &b) == 0);
	FUZZ_CHECK(b.op == a.op && b.spa == a.spa && b.tpa == a.tpa);
	FUZZ_CHECK(memcmp(b.sha, a.sha, 6) == 0 && memcmp(b.tha, a.tha, 6) == 0);
	return 0;
}
