/* SPDX-License-Identifier: MIT */
/*
 * resp_scan: finds the keys of GET and SET requests in a buffer of RESP requests as a client
 * sent them, without Redis's parser and without copying: what the port's key prefetch
 * (demi_conn.c, prefetch_keys) hashes before Redis's read handlers run.
 *
 * The buffer is untrusted: every length and offset is checked against its size before a byte
 * is read, numbers are capped before they could overflow, and anything unexpected (an inline
 * command, a malformed or negative length, a request cut by the end of the buffer) ends the
 * scan. A result is only a hint: Redis's own parser decides what the request is (the buffer
 * may begin in the middle of a request whose start Redis already holds, so a "GET" found here
 * may be the bytes of a value).
 *
 * Call order: resp_scan_next(b, n, &off, ...) with off = 0, again while it returns >= 0.
 * Header-only (static functions) so that the port and its test (test-resp-scan.c) share it
 * without another object in Redis's Makefile.
 */
#ifndef RESP_SCAN_H
#define RESP_SCAN_H

#include <stddef.h>

/* Longer numbers end the scan: no request of Redis's is that large, and 10 digits cannot
 * overflow a 64-bit size_t when added to an offset within the buffer. */
#define RESP_SCAN_MAX_DIGITS 10

/* Reads "<c><digits>\r\n" at b[*p..n): 0 with the number in *v and *p past it, or -1. */
static int resp_scan_num(const char *b, size_t n, size_t *p, char c, size_t *v)
{
	size_t i = *p, x = 0, digits = 0;

	if (i >= n || b[i] != c)
		return -1;
	for (i++; i < n && b[i] >= '0' && b[i] <= '9'; i++) {
		if (++digits > RESP_SCAN_MAX_DIGITS)
			return -1;
		x = x * 10 + (size_t)(b[i] - '0');
	}
	if (!digits || i + 2 > n || b[i] != '\r' || b[i + 1] != '\n')
		return -1;
	*p = i + 2;
	*v = x;
	return 0;
}

/* Reads one bulk argument "$<len>\r\n<bytes>\r\n" at b[*p..n): 0 with its bytes in *arg,
 * *len and *p past it, or -1 (malformed, or not wholly in the buffer). */
static int resp_scan_bulk(const char *b, size_t n, size_t *p, const char **arg, size_t *len)
{
	size_t i = *p, l;

	if (resp_scan_num(b, n, &i, '$', &l) < 0 || l > n - i || n - i - l < 2)
		return -1;
	*arg = b + i;
	*len = l;
	*p = i + l + 2;
	return 0;
}

/* Whether a (3 bytes) is GET or SET in any case. */
static int resp_scan_is_get_set(const char *a)
{
	char c0 = (char)(a[0] | 0x20), c1 = (char)(a[1] | 0x20), c2 = (char)(a[2] | 0x20);

	return (c0 == 'g' || c0 == 's') && c1 == 'e' && c2 == 't';
}

/*
 * Scans the request at b[*off..n): 1 when it is a GET or SET with a key (*key, *klen point
 * into b), 0 for any other request, -1 when the scan ends here (nothing more, or nothing that
 * can be read safely). On 0 and 1, *off is past the request; a GET or SET whose key is in the
 * buffer but whose further arguments are not yet also answers 1, with *off = n (the scan ends
 * after it).
 */
static int resp_scan_next(const char *b, size_t n, size_t *off, const char **key, size_t *klen)
{
	size_t p = *off, argc, len;
	const char *arg;
	int named = 0, keyed = 0;

	if (resp_scan_num(b, n, &p, '*', &argc) < 0 || argc == 0)
		return -1;
	for (size_t i = 0; i < argc; i++) {
		if (resp_scan_bulk(b, n, &p, &arg, &len) < 0) {
			if (!keyed)
				return -1;
			*off = n;
			return 1;
		}
		if (i == 0) {
			named = argc >= 2 && len == 3 && resp_scan_is_get_set(arg);
		} else if (i == 1 && named) {
			*key = arg;
			*klen = len;
			keyed = 1;
		}
	}
	*off = p;
	return keyed;
}

#endif /* RESP_SCAN_H */
