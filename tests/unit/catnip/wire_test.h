/* SPDX-License-Identifier: MIT */
/*
 * Shared by the wire-format unit programs (tests of catnip/inet/wire/): a naive reference
 * Internet checksum written straight from RFC 1071 section 1, big-endian field helpers, and
 * exact-sized heap copies so that AddressSanitizer catches any read past a packet's end.
 */
#ifndef NIP_TEST_WIRE_TEST_H
#define NIP_TEST_WIRE_TEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* One's complement sum of big-endian 16-bit words, an odd last byte padded with zero,
 * folded to 16 bits; host-order value. Deliberately the slow, obvious way. */
static inline uint16_t ref_sum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < len; i += 2) {
		s += (uint32_t)p[i] << 8;
		if (i + 1 < len)
			s += p[i + 1];
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
	}
	return (uint16_t)s;
}

/* The checksum to put in a header whose checksum field is zero (host-order value). */
static inline uint16_t ref_csum(const uint8_t *p, size_t len)
{
	return (uint16_t)~ref_sum(p, len);
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IPv4 address a.b.c.d in network byte order. */
static inline uint32_t ip4_addr(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t bytes[4] = {a, b, c, d};
	uint32_t v;

	memcpy(&v, bytes, 4);
	return v;
}

/* A heap copy of exactly n bytes, so ASan reports any read past them (with n = 0, any read:
 * glibc's malloc(0) is a unique pointer to no bytes; NULL elsewhere is fine too). */
static inline uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n);

	if (n)
		assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static inline void fill_random(struct unit_rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)unit_rng_next(r);
}

#endif
