/* SPDX-License-Identifier: MIT */
/*
 * A main() for the fuzz targets when they are not built with libFuzzer, so that CI exercises
 * them with any compiler and sanitizer. Every input is handed over in a heap buffer of exactly
 * its size, so AddressSanitizer reports any read past it. Deterministic: the same build feeds
 * the same inputs.
 *
 *   fuzz-<target>                run the built-in inputs (FUZZ_ITERATIONS overrides the count)
 *   fuzz-<target> N              the same with N random inputs
 *   fuzz-<target> FILE...        run the given inputs (e.g. a crash file libFuzzer wrote)
 *   fuzz-<target> --write-seeds DIR   write the valid frames below as files (seed-NN), the
 *                                starting corpus of a libFuzzer run (tests/fuzz/run-libfuzzer.sh)
 *
 * The built-in inputs: valid frames embedded below, at each layer (Ethernet, ARP or IPv4,
 * ICMP, UDP or TCP) and truncated to every length; random inputs of every length up to 128; then
 * mutations of the valid ones and random inputs up to 2 KiB.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define DEFAULT_ITERATIONS 200000
#define MAX_INPUT 2048

/* ARP request: who has 192.168.1.1? tell 192.168.1.100 (RFC 826). */
static const uint8_t seed_arp[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0xc0, 0xa8, 0x01, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,
};

/* ICMP echo request 192.168.1.100 -> 192.168.1.1, id 0x1c46 seq 1, 56 bytes of data. */
static const uint8_t seed_ping[] = {
	0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x54, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x01, 0xf8, 0x03, 0xc0, 0xa8,
	0x01, 0x64, 0xc0, 0xa8, 0x01, 0x01, 0x08, 0x00, 0x99, 0xdd, 0x1c, 0x46, 0x00, 0x01,
	0xa3, 0xb1, 0xf2, 0x65, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
	0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31,
	0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

/* UDP 192.168.1.100:5353 -> 192.168.1.1:53, "hello, demikernel". */
static const uint8_t seed_udp[] = {
	0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, 0x45,
	0x00, 0x00, 0x2d, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xa4, 0xd6, 0xc0, 0xa8, 0x01, 0x64,
	0xc0, 0xa8, 0x01, 0x01, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x19, 0xf3, 0xd4, 0x68, 0x65, 0x6c,
	0x6c, 0x6f, 0x2c, 0x20, 0x64, 0x65, 0x6d, 0x69, 0x6b, 0x65, 0x72, 0x6e, 0x65, 0x6c,
};

/* TCP 192.168.1.100:40000 -> 192.168.1.1:80, SYN with MSS, SACK_OK, TS, NOP, WS. */
static const uint8_t seed_tcp_syn[] = {
	0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, 0x45,
	0x00, 0x00, 0x3c, 0x12, 0x35, 0x40, 0x00, 0x40, 0x06, 0xa4, 0xd1, 0xc0, 0xa8, 0x01, 0x64,
	0xc0, 0xa8, 0x01, 0x01, 0x9c, 0x40, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00,
	0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xc0, 0x16, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
	0x08, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};

/* TCP 192.168.1.100 -> 192.168.1.1, PSH|ACK with NOP NOP TS, NOP NOP SACK (one block),
 * "hello, demikernel". */
static const uint8_t seed_tcp_data[] = {
	0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x51, 0x12, 0x36, 0x40, 0x00, 0x40, 0x06, 0xa4, 0xbb, 0xc0, 0xa8,
	0x01, 0x64, 0xc0, 0xa8, 0x01, 0x01, 0x00, 0x50, 0x9c, 0x40, 0x9a, 0xbc, 0xde, 0x00,
	0x12, 0x34, 0x56, 0x79, 0xb0, 0x18, 0x01, 0xf6, 0xc2, 0x61, 0x00, 0x00, 0x01, 0x01,
	0x08, 0x0a, 0x00, 0x00, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 0x01, 0x01, 0x05, 0x0a,
	0x9a, 0xbc, 0xde, 0xf0, 0x9a, 0xbc, 0xdf, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
	0x20, 0x64, 0x65, 0x6d, 0x69, 0x6b, 0x65, 0x72, 0x6e, 0x65, 0x6c,
};

/* Each frame from the start of each of its layers. */
static const struct {
	const uint8_t *p;
	size_t len;
} seeds[] = {
	{seed_arp, sizeof(seed_arp)},
	{seed_arp + 14, sizeof(seed_arp) - 14},
	{seed_ping, sizeof(seed_ping)},
	{seed_ping + 14, sizeof(seed_ping) - 14},
	{seed_ping + 34, sizeof(seed_ping) - 34},
	{seed_udp, sizeof(seed_udp)},
	{seed_udp + 14, sizeof(seed_udp) - 14},
	{seed_udp + 34, sizeof(seed_udp) - 34},
	{seed_tcp_syn, sizeof(seed_tcp_syn)},
	{seed_tcp_syn + 14, sizeof(seed_tcp_syn) - 14},
	{seed_tcp_syn + 34, sizeof(seed_tcp_syn) - 34},
	{seed_tcp_data, sizeof(seed_tcp_data)},
	{seed_tcp_data + 14, sizeof(seed_tcp_data) - 14},
	{seed_tcp_data + 34, sizeof(seed_tcp_data) - 34},
};
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))

static uint64_t rng = 0x5eed5eed5eedull;
static unsigned long runs;

/* xorshift64* */
static uint64_t next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static size_t below(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

static void run(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size); /* size 0: a pointer to no bytes at all */

	if (!copy && size) {
		perror("malloc");
		exit(1);
	}
	if (size)
		memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
	runs++;
}

static void random_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)next();
}

/* A few edits of a valid packet: bit flips, random or boundary bytes, 16-bit length fields
 * set near the real length, truncation and extension. */
static size_t mutate(uint8_t *p, size_t len)
{
	/* Boundary values, IPv4 and TCP header lengths, TCP option kinds and lengths. */
	static const uint8_t special[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08,
					  0x0a, 0x0f, 0x22, 0x40, 0x45, 0x46, 0x50,
					  0x7f, 0x80, 0xa0, 0xf0, 0xfe, 0xff};
	int n = 1 + (int)below(6);

	for (int i = 0; i < n; i++) {
		size_t at = below(len);

		switch (below(7)) {
		case 0:
			if (len)
				p[at] ^= (uint8_t)(1u << below(8));
			break;
		case 1:
			if (len)
				p[at] = (uint8_t)next();
			break;
		case 2:
			if (len)
				p[at] = special[below(sizeof(special))];
			break;
		case 3: /* a length field: IPv4 total length at 2, UDP length at 4 */
			if (at + 1 < len)
				fuzz_put_be16(p + (at & ~(size_t)1), (uint16_t)(len - below(24)));
			break;
		case 4:
			len = below(len + 1);
			break;
		case 5: {
			size_t add = below(64);

			if (len + add > MAX_INPUT)
				add = MAX_INPUT - len;
			random_bytes(p + len, add);
			len += add;
			break;
		}
		default: /* a zero checksum where UDP and IPv4 keep theirs */
			if (at + 1 < len)
				fuzz_put_be16(p + (at & ~(size_t)1), 0);
			break;
		}
	}
	return len;
}

static int run_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	run(buf, n);
	printf("%s: %zu bytes: ok\n", path, n);
	return 0;
}

/* Writes every seed into dir as seed-NN; 0 or 1 (printed). */
static int write_seeds(const char *dir)
{
	for (size_t s = 0; s < NSEEDS; s++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/seed-%02zu", dir, s);
		f = fopen(path, "wb");
		if (!f || fwrite(seeds[s].p, 1, seeds[s].len, f) != seeds[s].len) {
			perror(path);
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[MAX_INPUT];
	unsigned long iterations = DEFAULT_ITERATIONS;
	const char *env = getenv("FUZZ_ITERATIONS");
	int rc = 0;

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);

	if (argc > 1 && !isdigit((unsigned char)argv[1][0])) {
		for (int i = 1; i < argc; i++)
			rc |= run_file(argv[i]);
		return rc;
	}
	if (argc > 1)
		iterations = strtoul(argv[1], NULL, 0);
	else if (env)
		iterations = strtoul(env, NULL, 0);

	for (size_t s = 0; s < NSEEDS; s++)
		for (size_t len = 0; len <= seeds[s].len; len++)
			run(seeds[s].p, len);
	for (size_t len = 0; len <= 128; len++) {
		memset(buf, 0, len);
		run(buf, len);
		memset(buf, 0xff, len);
		run(buf, len);
		for (int i = 0; i < 16; i++) {
			random_bytes(buf, len);
			run(buf, len);
		}
	}
	for (unsigned long i = 0; i < iterations; i++) {
		size_t len;

		switch (below(4)) {
		case 0:
		case 1: {
			size_t s = below(NSEEDS);

			memcpy(buf, seeds[s].p, seeds[s].len);
			len = mutate(buf, seeds[s].len);
			break;
		}
		case 2:
			len = below(101);
			random_bytes(buf, len);
			break;
		default:
			len = below(MAX_INPUT + 1);
			random_bytes(buf, len);
			break;
		}
		run(buf, len);
	}
	printf("%s: %lu inputs, no failure\n", argv[0], runs);
	return 0;
}
