/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/udp.c (RFC 768): parse between two fixed addresses with and
 * without the checksum; a datagram accepted unchecked is re-emitted (its payload after the
 * header) and must then parse, checked, to the same ports and payload; a valid non-zero
 * checksum in the input must be the one emit computes.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

#include "inet/wire/udp.h"

/* 192.168.1.100 -> 192.168.1.1, the addresses of the driver's seed datagram. */
static const uint8_t src_b[4] = {192, 168, 1, 100}, dst_b[4] = {192, 168, 1, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nip_udp u, uc, again;
	uint32_t src, dst, sum;
	uint8_t *d;
	int rc, rcc;

	memcpy(&src, src_b, 4);
	memcpy(&dst, dst_b, 4);
	rc = nip_udp_parse(data, size, src, dst, false, &u);
	rcc = nip_udp_parse(data, size, src, dst, true, &uc);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK(rcc == 0 || rcc == -EINVAL);
	if (rcc == 0)
		FUZZ_CHECK(rc == 0);
	if (size < NIP_UDP_HLEN || fuzz_get_be16(data + 4) != size)
		FUZZ_CHECK(rc == -EINVAL);
	if (rc)
		return 0;
	if (fuzz_get_be16(data + 6) == 0)
		FUZZ_CHECK(rcc == 0);
	FUZZ_CHECK(u.payload == data + NIP_UDP_HLEN && u.payload_len == size - NIP_UDP_HLEN);
	FUZZ_CHECK(u.sport == fuzz_get_be16(data) && u.dport == fuzz_get_be16(data + 2));

	d = malloc(size);
	FUZZ_CHECK(d);
	memcpy(d + NIP_UDP_HLEN, u.payload, u.payload_len);
	nip_udp_emit(d, u.sport, u.dport, src, dst, u.payload_len, false);
	FUZZ_CHECK(memcmp(d, data, 6) == 0);
	FUZZ_CHECK(fuzz_get_be16(d + 6) != 0);
	FUZZ_CHECK(nip_udp_parse(d, size, src, dst, true, &again) == 0);
	FUZZ_CHECK(again.sport == u.sport && again.dport == u.dport);
	FUZZ_CHECK(again.payload_len == u.payload_len);
	FUZZ_CHECK(memcmp(again.payload, u.payload, u.payload_len) == 0);
	if (rcc == 0 && fuzz_get_be16(data + 6) != 0)
		FUZZ_CHECK(memcmp(d + 6, data + 6, 2) == 0);
	/* Offload: the field holds the folded pseudo-header sum for the device. */
	nip_udp_emit(d, u.sport, u.dport, src, dst, u.payload_len, true);
	{
		uint8_t ph[12] = {192, 168, 1, 100, 192, 168, 1, 1, 0, 17};

		fuzz_put_be16(ph + 10, (uint16_t)size);
		sum = fuzz_ref_sum(ph, sizeof(ph));
		FUZZ_CHECK(fuzz_get_be16(d + 6) == sum);
	}
	free(d);
	return 0;
}
