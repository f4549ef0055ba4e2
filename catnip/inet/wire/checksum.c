/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum (RFC 1071), with the incremental form of RFC 1624 left to callers.
 *
 * Words are summed in memory byte order: the one's complement sum does not depend on byte
 * order (RFC 1071 section 2 (B)), so the folded, complemented result is stored as is, with no
 * byte swap, and reads back right on either endianness. 32-bit words go into 64-bit
 * accumulators; the end-around carries are added once, at the end (RFC 1071 section 2 (C)).
 *
 * Payload checksums are the largest per-byte cost of TCP on a port without checksum
 * offload (memif): a 9000-byte segment is summed once by the sender and once by the
 * receiver. Long runs are therefore summed with vector instructions, 32-bit words widened
 * into 64-bit lanes so no lane can carry out: AVX2 when the CPU has it (chosen at run time,
 * the library is built for the baseline x86-64), and otherwise a scalar loop with
 * independent accumulators. All kernels give the same folded sum; the unit test
 * checks each one that the CPU can run against a byte-wise reference.
 *
 * Headers (IPv4's 20 bytes, every frame in and out) and small datagrams (a 64-byte UDP
 * payload with its header, every request of a ping-pong) are summed below VECTOR_MIN bytes as
 * native 64-bit words with an add-with-carry (the end-around carry of RFC 1071 2 (C): 2^64
 * is 1 modulo 0xffff), with no kernel choice and no vector set-up.
 */
#include "checksum.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CSUM_X86 1
#include <immintrin.h>
#endif

/* Below this many bytes the vector set-up and the horizontal sum cost more than the
 * add-with-carry loop (callgrind, instructions per call of nip_csum_add, loop against AVX2:
 * 64 bytes 73 against 107; 72 bytes, a UDP datagram of 64, 78 against 115; 128 bytes 113
 * against 123; 160 bytes 133 against 129; each count includes the call's own set-up). */
#define VECTOR_MIN 144

/* Folds a 64-bit accumulator of carries back into 32 bits (one's complement). */
static uint32_t fold64(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

/*
 * The bulk kernels: the sum of n bytes (n a multiple of 32) as native 32-bit words. Each
 * 64-bit lane adds at most one word per 32 bytes, so it cannot overflow below 2^37 bytes;
 * callers pass at most a frame.
 */
static uint64_t bulk_scalar(const uint8_t *p, size_t n)
{
	uint64_t a = 0, b = 0, c = 0, d = 0;
	uint32_t w[8];

	for (; n; n -= 32, p += 32) {
		memcpy(w, p, sizeof(w));
		a += (uint64_t)w[0] + w[4];
		b += (uint64_t)w[1] + w[5];
		c += (uint64_t)w[2] + w[6];
		d += (uint64_t)w[3] + w[7];
	}
	return a + b + c + d;
}

#ifdef CSUM_X86
__attribute__((target("avx2"))) static uint64_t bulk_avx2(const uint8_t *p, size_t n)
{
	const __m256i zero = _mm256_setzero_si256();
	__m256i a = zero, b = zero, c = zero, d = zero;
	uint64_t lanes[4];

	for (; n >= 64; n -= 64, p += 64) {
		__m256i v = _mm256_loadu_si256((const __m256i *)p);
		__m256i w = _mm256_loadu_si256((const __m256i *)(p + 32));

		a = _mm256_add_epi64(a, _mm256_unpacklo_epi32(v, zero));
		b = _mm256_add_epi64(b, _mm256_unpackhi_epi32(v, zero));
		c = _mm256_add_epi64(c, _mm256_unpacklo_epi32(w, zero));
		d = _mm256_add_epi64(d, _mm256_unpackhi_epi32(w, zero));
	}
	if (n) {
		__m256i v = _mm256_loadu_si256((const __m256i *)p);

		a = _mm256_add_epi64(a, _mm256_unpacklo_epi32(v, zero));
		b = _mm256_add_epi64(b, _mm256_unpackhi_epi32(v, zero));
	}
	a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
	_mm256_storeu_si256((__m256i *)lanes, a);
	return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

typedef uint64_t (*bulk_fn)(const uint8_t *p, size_t n);

static const struct {
	const char *name;
	bulk_fn fn;
} kernels[] = {
	{"scalar", bulk_scalar},
#ifdef CSUM_X86
	{"avx2", bulk_avx2},
#endif
};

static bool kernel_runs(size_t k)
{
#ifdef CSUM_X86
	if (kernels[k].fn == bulk_avx2)
		return __builtin_cpu_supports("avx2");
#endif
	return k < sizeof(kernels) / sizeof(kernels[0]);
}

/* The fastest kernel this CPU runs (a load and a test: no state to initialise). */
static bulk_fn best_kernel(void)
{
#ifdef CSUM_X86
	return __builtin_cpu_supports("avx2") ? bulk_avx2 : bulk_scalar;
#else
	return bulk_scalar;
#endif
}

/* acc + w with the carry out of bit 63 added back in (one's complement, RFC 1071 2 (C)). */
static inline uint64_t add_carry(uint64_t acc, uint64_t w)
{
	acc += w;
	return acc + (acc < w);
}

/* Sums a short buffer, or the tail the bulk kernels leave, 8 bytes at a time. */
static uint64_t add_short(uint64_t acc, const uint8_t *p, size_t len)
{
	uint64_t w;
	uint32_t v;
	uint16_t h;

	while (len >= 8) {
		memcpy(&w, p, 8);
		acc = add_carry(acc, w);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&v, p, 4);
		acc = add_carry(acc, v);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc = add_carry(acc, h);
		p += 2;
		len -= 2;
	}
	if (len) {
		/* An odd last byte is padded with a zero byte after it (RFC 1071 section 1). */
		uint8_t last[2] = {p[0], 0};

		memcpy(&h, last, 2);
		acc = add_carry(acc, h);
	}
	return acc;
}

static uint32_t csum_with(bulk_fn bulk, uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	if (len >= VECTOR_MIN) {
		size_t n = len & ~(size_t)31;

		acc += bulk(p, n);
		p += n;
		len -= n;
	}
	return fold64(add_short(acc, p, len));
}

uint32_t nip_csum_add(uint32_t sum, const void *data, size_t len)
{
	if (len < VECTOR_MIN)
		return fold64(add_short(sum, data, len));
	return csum_with(best_kernel(), sum, data, len);
}

size_t nip__csum_kernels(void)
{
	return sizeof(kernels) / sizeof(kernels[0]);
}

const char *nip__csum_kernel_name(size_t k)
{
	return k < nip__csum_kernels() ? kernels[k].name : NULL;
}

int nip__csum_add_kernel(size_t k, uint32_t sum, const void *data, size_t len, uint32_t *out)
{
	if (k >= nip__csum_kernels() || !kernel_runs(k))
		return -1;
	*out = csum_with(kernels[k].fn, sum, data, len);
	return 0;
}

uint16_t nip_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}
