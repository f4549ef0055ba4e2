/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip/inet/wire/checksum.c (RFC 1071): the fast sum against a naive one, at
 * any alignment, and split into two pieces at an even offset the input picks; the IPv4
 * pseudo-header (RFC 768) against its 12 bytes.
 */
#include <string.h>

#include "fuzz.h"

#include "inet/wire/checksum.h"

static uint16_t wire16(uint16_t stored)
{
	uint8_t b[2];

	memcpy(b, &stored, 2);
	return fuzz_get_be16(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t whole = nip_csum_fold(nip_csum_add(0, data, size));
	uint16_t ref = (uint16_t)~fuzz_ref_sum(data, size);
	size_t cut;
	uint8_t *odd;

	FUZZ_CHECK(wire16(whole) == ref);
	if (size) {
		cut = ((size_t)data[0] * 2) % (size + 1) & ~(size_t)1;
		FUZZ_CHECK(nip_csum_fold(nip_csum_add(nip_csum_add(0, data, cut), data + cut,
						      size - cut)) == whole);
	}
	odd = malloc(size + 1);
	FUZZ_CHECK(odd);
	memcpy(odd + 1, data, size);
	FUZZ_CHECK(nip_csum_fold(nip_csum_add(0, odd + 1, size)) == whole);
	free(odd);
	if (size >= 12) {
		uint8_t ph[12];
		uint32_t src, dst;

		memcpy(&src, data, 4);
		memcpy(&dst, data + 4, 4);
		memcpy(ph, data, 8);
		ph[8] = 0;
		ph[9] = data[9];
		ph[10] = data[10];
		ph[11] = data[11];
		FUZZ_CHECK(nip_csum_fold(
				   nip_csum_pseudo4(src, dst, data[9], fuzz_get_be16(data + 10))) ==
			   nip_csum_fold(nip_csum_add(0, ph, sizeof(ph))));
	}
	return 0;
}
