/* SPDX-License-Identifier: MIT */
/* Sequence number arithmetic modulo 2^32 (RFC 9293 section 3.4): comparisons that survive
 * wrap-around, valid while the two numbers are less than 2^31 apart. And the plain minimum
 * that window and congestion arithmetic (in 32 or 64 bits) takes everywhere in TCP. */
#ifndef NIP_TCP_SEQ_H
#define NIP_TCP_SEQ_H

#include <stdint.h>

static inline int32_t nip_seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}
static inline int nip_seq_lt(uint32_t a, uint32_t b)
{
	return nip_seq_diff(a, b) < 0;
}
static inline int nip_seq_leq(uint32_t a, uint32_t b)
{
	return nip_seq_diff(a, b) <= 0;
}
static inline int nip_seq_gt(uint32_t a, uint32_t b)
{
	return nip_seq_diff(a, b) > 0;
}
static inline int nip_seq_geq(uint32_t a, uint32_t b)
{
	return nip_seq_diff(a, b) >= 0;
}
static inline uint32_t nip_seq_max(uint32_t a, uint32_t b)
{
	return nip_seq_gt(a, b) ? a : b;
}
static inline uint32_t nip_seq_min(uint32_t a, uint32_t b)
{
	return nip_seq_lt(a, b) ? a : b;
}
/* The smaller of a and b; it fits 32 bits whenever one of them does. */
static inline uint32_t nip_min32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}
/* a <= x < b */
static inline int nip_seq_in(uint32_t x, uint32_t a, uint32_t b)
{
	return nip_seq_leq(a, x) && nip_seq_lt(x, b);
}

#endif
