/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets of the wire parsers (catnip/inet/wire/): the libFuzzer entry
 * point, a check that aborts (so both libFuzzer and the CI driver report it), and a naive
 * reference Internet checksum (RFC 1071 section 1) to compare the real one with.
 */
#ifndef NIP_FUZZ_H
#define NIP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Folded one's complement sum of big-endian words, odd byte padded (host order). */
static inline uint16_t fuzz_ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static inline uint16_t fuzz_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void fuzz_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The input of a program-driven target (a whole stack fed steps), read in order: bytes past
 * its end read as 0, so every input is a complete program. */
struct fuzz_prog {
	const uint8_t *p;
	size_t n, i;
};

static inline uint8_t fuzz_rd8(struct fuzz_prog *g)
{
	return g->i < g->n ? g->p[g->i++] : 0;
}

static inline uint16_t fuzz_rd16(struct fuzz_prog *g)
{
	uint16_t hi = fuzz_rd8(g);

	return (uint16_t)(hi << 8 | fuzz_rd8(g));
}

static inline uint32_t fuzz_rd32(struct fuzz_prog *g)
{
	uint32_t hi = fuzz_rd16(g);

	return hi << 16 | fuzz_rd16(g);
}

static inline bool fuzz_prog_more(const struct fuzz_prog *g)
{
	return g->i < g->n;
}

#endif
