/* SPDX-License-Identifier: MIT */
/*
 * What a read of the runtime's clock costs (lib/runtime/clock.h): ns per read of the CPU
 * counter's clock, of the clock_gettime fallback (demikernel.clock: monotonic) and of bare
 * clock_gettime(CLOCK_MONOTONIC), interleaved over several rounds; the median round of each is
 * printed. On a shared machine single rounds are noisy: compare the medians of one run.
 *
 *   clock-bench [--rounds N] [--reads M]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/clock.h"

#define MAX_ROUNDS 101

static uint64_t sink;

/* ns per read of c over n reads; the sum keeps the reads from being dropped. */
static double per_read(struct demi__clock *c, unsigned long n)
{
	uint64_t t0 = demi__clock_monotonic_ns(), sum = 0;

	for (unsigned long i = 0; i < n; i++)
		sum += c ? demi__clock_read(c) : demi__clock_monotonic_ns();
	sink += sum;
	return (double)(demi__clock_monotonic_ns() - t0) / (double)n;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned long rounds = 21, reads = 1000000;
	struct demi__clock tsc = {.source = DEMI__CLOCK_TSC};
	struct demi__clock mono = {.source = DEMI__CLOCK_MONOTONIC};
	static double r[3][MAX_ROUNDS];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--rounds"))
			rounds = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--reads"))
			reads = strtoul(argv[i + 1], NULL, 0);
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || reads < 1) {
		fprintf(stderr, "usage: clock-bench [--rounds 1..%d] [--reads M]\n", MAX_ROUNDS);
		return 2;
	}
	if (!demi__clock_tsc_usable())
		printf("no invariant counter: the tsc clock falls back to clock_gettime\n");
	/* Past the calibration, so the counter's clock reads the counter. */
	while (tsc.anchors == 0 && demi__clock_tsc_usable())
		demi__clock_read(&tsc);
	for (unsigned long k = 0; k < rounds; k++) {
		r[0][k] = per_read(&tsc, reads);
		r[1][k] = per_read(&mono, reads);
		r[2][k] = per_read(NULL, reads);
	}
	for (int j = 0; j < 3; j++)
		qsort(r[j], rounds, sizeof(double), cmp);
	printf("ns per read, median of %lu rounds of %lu reads (min-max)\n", rounds, reads);
	printf("  tsc clock (default)         %6.2f (%.2f-%.2f), %llu anchors\n", r[0][rounds / 2],
	       r[0][0], r[0][rounds - 1], (unsigned long long)tsc.anchors);
	printf("  monotonic clock (fallback)  %6.2f (%.2f-%.2f)\n", r[1][rounds / 2], r[1][0],
	       r[1][rounds - 1]);
	printf("  bare clock_gettime          %6.2f (%.2f-%.2f)\n", r[2][rounds / 2], r[2][0],
	       r[2][rounds - 1]);
	return sink == 42 ? 1 : 0;
}
