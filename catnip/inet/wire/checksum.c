/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum (RFC 1071), with the incremental form of RFC 1624 left to callers.
 *
 * Words are summed in memory byte order: the one's complement sum does not depend on byte
 * order (RFC 1071 section 2 (B)), so the folded, complemented result is stored as is, with no
 * byte swap, and reads back right on either endianness. 32-bit words go into a 64-bit
 * accumulator; the end-around carries are added once, at the end (RFC 1071 section 2 (C)).
 */
#include "checksum.h"

#include <string.h>

/* Folds a 64-bit accumulator of carries back into 32 bits (one's complement). */
static uint32_t fold64(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint32_t nip_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	uint32_t w[4];
	uint16_t h;

	/* 16 bytes a round; the 64-bit sum cannot carry out below 16 GiB of data. */
	while (len >= sizeof(w)) {
		memcpy(w, p, sizeof(w));
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += sizeof(w);
		len -= sizeof(w);
	}
	while (len >= 4) {
		memcpy(&w[0], p, 4);
		acc += w[0];
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* An odd last byte is padded with a zero byte after it (RFC 1071 section 1). */
		uint8_t last[2] = {p[0], 0};

		memcpy(&h, last, 2);
		acc += h;
	}
	return fold64(acc);
}

uint16_t nip_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t nip_csum_pseudo4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	/* RFC 768 / RFC 793 section 3.1: src, dst, zero, protocol, length. */
	uint8_t ph[12];

	memcpy(ph, &src, 4);
	memcpy(ph + 4, &dst, 4);
	ph[8] = 0;
	ph[9] = proto;
	ph[10] = (uint8_t)(l4_len >> 8);
	ph[11] = (uint8_t)l4_len;
	return nip_csum_add(0, ph, sizeof(ph));
}
