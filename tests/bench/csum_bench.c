/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum's summing kernels (catnip/inet/wire/checksum.c), each against the
 * scalar kernel in the same run: GB/s over frame-sized payloads (a 1448-byte segment and a
 * 8948-byte jumbo one), cache-warm, as TCP sums them right after the copy that brought them;
 * then nanoseconds per nip_csum_add call over the short buffers of a small exchange (a 20-byte
 * IPv4 header, the 96-byte TCP segment of a 64 B payload with timestamps).
 *
 *   csum-bench [--seconds S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inet/wire/checksum.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* GB/s of kernel k over len bytes (at an odd address, as a payload after headers is). */
static double rate(size_t k, const unsigned char *buf, size_t len, double seconds)
{
	uint32_t sum = 0, out;
	unsigned long rounds = 0;
	double t0 = now_s(), t;

	do {
		for (int i = 0; i < 1000; i++) {
			nip__csum_add_kernel(k, sum, buf, len, &out);
			sum ^= out; /* keeps the calls from being folded away */
		}
		rounds += 1000;
		t = now_s();
	} while (t - t0 < seconds);
	if (sum == 0x12345678u)
		putchar(' ');
	return (double)rounds * (double)len / (t - t0) / 1e9;
}

/* Nanoseconds per nip_csum_add call over len bytes at an odd address. */
static double short_ns(const unsigned char *buf, size_t len, double seconds)
{
	uint32_t sum = 0;
	unsigned long rounds = 0;
	double t0 = now_s(), t;

	do {
		for (int i = 0; i < 10000; i++)
			sum ^= nip_csum_add(sum, buf, len);
		rounds += 10000;
		t = now_s();
	} while (t - t0 < seconds);
	if (sum == 0x12345678u)
		putchar(' ');
	return (t - t0) * 1e9 / (double)rounds;
}

int main(int argc, char **argv)
{
	static const size_t lens[] = {1448, 8948};
	double seconds = 0.5;
	unsigned char *buf = malloc(9000 + 1);

	if (argc == 3 && !strcmp(argv[1], "--seconds"))
		seconds = atof(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: %s [--seconds S]\n", argv[0]);
		return 2;
	}
	if (!buf)
		return 1;
	for (size_t i = 0; i < 9001; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		double base = rate(0, buf + 1, lens[l], seconds);

		for (size_t k = 0; k < nip__csum_kernels(); k++) {
			uint32_t out;

			if (nip__csum_add_kernel(k, 0, buf, 2, &out) < 0) {
				printf("RESULT len=%zu kernel=%s skipped=not-on-this-cpu\n",
				       lens[l], nip__csum_kernel_name(k));
				continue;
			}
			double r = k ? rate(k, buf + 1, lens[l], seconds) : base;

			printf("RESULT len=%zu kernel=%s gb_s=%.2f vs_scalar=%.2f\n", lens[l],
			       nip__csum_kernel_name(k), r, r / base);
		}
	}
	for (size_t len = 20; len <= 96; len += 76)
		printf("RESULT len=%zu ns_per_call=%.2f\n", len, short_ns(buf + 1, len, seconds));
	free(buf);
	return 0;
}
