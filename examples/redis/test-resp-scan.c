/* SPDX-License-Identifier: MIT */
/*
 * test-resp-scan: the RESP key scanner of the Redis port's key prefetch (resp_scan.h) on
 * untrusted bytes.
 *   1. A pipeline of GET, SET and other requests in any case: the GET and SET keys, in order,
 *      and the other requests skipped.
 *   2. What ends the scan: inline commands, negative, missing or too long numbers, a length
 *      beyond the buffer, a CR without LF, GET without a key.
 *   3. Every prefix of the pipeline, each in a buffer of exactly its size (an AddressSanitizer
 *      build catches any read past it): the keys found are those wholly in the prefix, each
 *      pointing inside it.
 *   4. 20000 random corruptions of the pipeline (bytes replaced, digits grown, cut anywhere):
 *      the scan ends, each step moves forward, every key lies inside the buffer.
 * Exit 0 pass, 1 fail.
 */
#include "resp_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL line %d: ", __LINE__);                                        \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failed = 1;                                                                \
		}                                                                                  \
	} while (0)

#define MAX_KEYS 64

struct found {
	int n;	    /* keys found */
	int others; /* other requests skipped */
	const char *key[MAX_KEYS];
	size_t klen[MAX_KEYS];
};

/* Scans b[0..n) to the end, checking that every step moves forward and stays inside b. */
static void scan_all(const char *b, size_t n, struct found *f)
{
	size_t off = 0;
	const char *key;
	size_t klen;
	int r;

	memset(f, 0, sizeof(*f));
	while ((r = resp_scan_next(b, n, &off, &key, &klen)) >= 0) {
		CHECK(off <= n, "offset %zu past the buffer's %zu bytes", off, n);
		if (r == 1) {
			CHECK(key >= b && klen <= n && key - b <= (long)(n - klen),
			      "key outside the buffer");
			if (f->n < MAX_KEYS) {
				f->key[f->n] = key;
				f->klen[f->n] = klen;
			}
			f->n++;
		} else {
			f->others++;
		}
		if (off >= n || f->n + f->others > 100000)
			break;
	}
}

/* scan_all with a progress check: off strictly grows (no endless loop on any input). */
static int scan_progress(const char *b, size_t n)
{
	size_t off = 0, last = 0;
	const char *key;
	size_t klen;
	int steps = 0;

	while (resp_scan_next(b, n, &off, &key, &klen) >= 0) {
		if (off <= last || off > n)
			return 0;
		last = off;
		if (++steps > 10000)
			return 0;
		if (off >= n)
			break;
	}
	return 1;
}

/* A copy of s's first n bytes in memory of exactly that size. */
static char *exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);

	if (!b)
		abort();
	memcpy(b, s, n);
	return b;
}

static const char pipeline[] = "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"
			       "*1\r\n$4\r\nPING\r\n"
			       "*3\r\n$3\r\nset\r\n$5\r\nkey:2\r\n$11\r\n*2\r\n$3\r\nGET\r\n"
			       "*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n"
			       "*2\r\n$3\r\nGeT\r\n$0\r\n\r\n"
			       "*3\r\n$3\r\nGET\r\n$5\r\nkey:3\r\n$1\r\nz\r\n"
			       "*2\r\n$4\r\nGETS\r\n$1\r\ny\r\n"
			       "*2\r\n$3\r\nSET\r\n$5\r\nkey:4\r\n";
/* The keys of pipeline in order (key:2's value looks like a GET request: it is skipped). */
static const char *const keys[] = {"key:1", "key:2", "", "key:3", "key:4"};

static void test_pipeline(void)
{
	size_t n = sizeof(pipeline) - 1;
	char *b = exact(pipeline, n);
	struct found f;

	scan_all(b, n, &f);
	CHECK(f.n == 5, "%d keys, expected 5", f.n);
	CHECK(f.others == 3, "%d other requests, expected 3 (PING, DEL, GETS)", f.others);
	for (int i = 0; i < 5 && i < f.n; i++)
		CHECK(f.klen[i] == strlen(keys[i]) && !memcmp(f.key[i], keys[i], f.klen[i]),
		      "key %d is \"%.*s\", expected \"%s\"", i, (int)f.klen[i], f.key[i], keys[i]);
	free(b);
}

/* Returns the first result of scanning s (a C string). */
static int first(const char *s)
{
	size_t n = strlen(s), off = 0, klen;
	char *b = exact(s, n);
	const char *key;
	int r = resp_scan_next(b, n, &off, &key, &klen);

	free(b);
	return r;
}

static void test_ends(void)
{
	static const char *const stop[] = {
		"",
		"GET key\r\n",
		"*-1\r\n",
		"*\r\n$3\r\nGET\r\n",
		"*0\r\n",
		"*2\r\n$3\r\nGET\r\n$-3\r\nabc\r\n",
		"*2\r\n$3\r\nGET\r\n$\r\nabc\r\n",
		"*2\r\n$3\r\nGET\r\n$x3\r\nabc\r\n",
		"*99999999999\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"*2\r\n$3\r\nGET\r\n$99999999999\r\nk\r\n",
		"*2\r\n$3\r\nGET\r\n$9999999999\r\nk\r\n",
		"*2\r\n$3\r\nGET\r\n$4\r\nkey\r\n",
		"*2\r\n$3\r\nGET\r\n$3\r\nkey",
		"*2\r$3\r\nGET\r\n$3\r\nkey\r\n",
		"*2\r\n$3\nGET\r\n$3\r\nkey\r\n",
		"*2\r\n:3\r\nGET\r\n$3\r\nkey\r\n",
		"*2\r\n$3\r\nGET\r\n+key\r\n",
	};
	for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		CHECK(first(stop[i]) == -1, "case %zu: scanned, expected the end", i);
	CHECK(first("*1\r\n$3\r\nGET\r\n") == 0, "GET without a key is another request");
	CHECK(first("*2\r\n$3\r\nGEX\r\n$1\r\nk\r\n") == 0, "GEX is another request");
	CHECK(first("*2\r\n$3\r\nSET\r\n$1\r\nk\r\n") == 1, "SET k");
	/* The key in the buffer, the value not yet: the key still counts, the scan ends. */
	const char *cut = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc";
	size_t n = strlen(cut), off = 0, klen;
	const char *key;
	char *b = exact(cut, n);
	CHECK(resp_scan_next(b, n, &off, &key, &klen) == 1 && klen == 1 && *key == 'k' && off == n,
	      "SET whose value is cut");
	CHECK(resp_scan_next(b, n, &off, &key, &klen) == -1, "nothing after a cut request");
	free(b);
}

static void test_prefixes(void)
{
	size_t total = sizeof(pipeline) - 1;

	for (size_t n = 0; n <= total; n++) {
		char *b = exact(pipeline, n);
		struct found f;
		scan_all(b, n, &f);
		CHECK(f.n <= 5, "prefix %zu: %d keys", n, f.n);
		for (int i = 0; i < f.n && i < 5; i++)
			CHECK(f.klen[i] == strlen(keys[i]) && !memcmp(f.key[i], keys[i], f.klen[i]),
			      "prefix %zu: key %d wrong", n, i);
		CHECK(scan_progress(b, n), "prefix %zu: no progress", n);
		free(b);
	}
}

/* A small deterministic generator (xorshift32): the same corruptions on every run. */
static unsigned next_rand(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_corrupted(void)
{
	size_t total = sizeof(pipeline) - 1;
	static const char alphabet[] = "*$\r\n0123456789-+:GETSgetsx";
	unsigned seed = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		char tmp[sizeof(pipeline) + 16];
		size_t n = total;
		memcpy(tmp, pipeline, total);
		int edits = 1 + next_rand(&seed) % 6;
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)next_rand(&seed) % n;
			if (next_rand(&seed) % 4 == 0 && n + 1 < sizeof(tmp)) {
				/* a digit inserted: numbers grow */
				memmove(tmp + at + 1, tmp + at, n - at);
				tmp[at] = (char)('0' + next_rand(&seed) % 10);
				n++;
			} else {
				tmp[at] =
					alphabet[(size_t)next_rand(&seed) % (sizeof(alphabet) - 1)];
			}
		}
		n = (size_t)next_rand(&seed) % (n + 1);
		char *b = exact(tmp, n);
		struct found f;
		scan_all(b, n, &f);
		CHECK(scan_progress(b, n), "corruption %d: no progress", iter);
		free(b);
		if (failed)
			break;
	}
}

int main(void)
{
	test_pipeline();
	test_ends();
	test_prefixes();
	test_corrupted();
	if (!failed)
		printf("resp_scan: pipeline, ends, %zu prefixes, 20000 corruptions: ok\n",
		       sizeof(pipeline));
	return failed;
}
