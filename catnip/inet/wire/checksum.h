/* SPDX-License-Identifier: MIT */
/* The Internet checksum (RFC 1071), incremental so headers and payload can be summed apart. */
#ifndef NIP_WIRE_CHECKSUM_H
#define NIP_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>

/* Adds len bytes at data to the 32-bit running sum (start with 0). Odd lengths are fine only
 * for the last piece. */
uint32_t nip_csum_add(uint32_t sum, const void *data, size_t len);
/* Folds a running sum into the 16-bit one's complement checksum (network byte order value,
 * ready to store). */
uint16_t nip_csum_fold(uint32_t sum);
/* Running sum of the IPv4 pseudo-header (RFC 768, RFC 9293 3.1: src, dst, zero, protocol,
 * length; addresses in network byte order). Inline: every segment in and out sums one. The
 * 16-bit words "zero, protocol" and "length" are added as stored (htons), which folds to the
 * same sum as any grouping of the words (RFC 1071 2 (B)). */
static inline uint32_t nip_csum_pseudo4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	uint64_t acc = (uint64_t)src + dst + htons(proto) + htons(l4_len);

	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)((acc & 0xffffffffu) + (acc >> 32));
}

/* nip_csum_add(0, p, 20), inline: an IPv4 header without options, summed as five native 32-bit
 * words, on every frame in and out. */
static inline uint32_t nip_csum_add20(const void *p)
{
	uint32_t w[5];
	uint64_t acc;

	memcpy(w, p, sizeof(w));
	acc = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)((acc & 0xffffffffu) + (acc >> 32));
}

/* For tests and benchmarks: the summing kernels built in (scalar, and on x86-64 AVX2), each by
 * index. nip__csum_add_kernel is nip_csum_add with kernel k; it returns -1 when this CPU cannot run
 * it. nip_csum_add itself uses the fastest one the CPU runs. */
size_t nip__csum_kernels(void);
const char *nip__csum_kernel_name(size_t k);
int nip__csum_add_kernel(size_t k, uint32_t sum, const void *data, size_t len, uint32_t *out);

#endif
