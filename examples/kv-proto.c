/* SPDX-License-Identifier: MIT */
/* Requests and replies of RESP, the memcache text protocol and the echo; see kv-proto.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kv-proto.h"

/* Longest status or header line we wait for; a longer one is not a reply of ours. */
#define LINE_MAX_LEN 4096
/* Longest key a memcache server may name (its protocol's limit). */
#define MC_KEY_MAX 250

/* Writes v in decimal into the n bytes at out, right-aligned with leading zeros: a request is
 * written for every request sent, and snprintf there showed in the load generator's profile. */
static void put_digits(char *out, size_t n, uint64_t v)
{
	while (n--) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void kv_key(char key[KV_KEY_LEN], uint64_t idx)
{
	memcpy(key, "key:", 4);
	put_digits(key + 4, KV_KEY_LEN - 4, idx % 1000000000000ULL);
}

static size_t digits(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t kv_req_len(enum kv_proto p, enum kv_op op, size_t vlen)
{
	if (p == KV_ECHO)
		return vlen;
	if (p == KV_RESP) {
		/* "*2\r\n$3\r\nGET\r\n$16\r\n<key>\r\n" */
		size_t n = 4 + 9 + 5 + KV_KEY_LEN + 2;

		if (op == KV_SET)
			n += 1 + digits(vlen) + 2 + vlen + 2;
		return n;
	}
	if (op == KV_GET)
		return 4 + KV_KEY_LEN + 2; /* "get <key>\r\n" */
	/* "set <key> 0 0 <vlen>\r\n<value>\r\n" */
	return 4 + KV_KEY_LEN + 5 + digits(vlen) + 2 + vlen + 2;
}

/* Appends the n bytes of s at buf + *at. */
static void put(uint8_t *buf, size_t *at, const char *s, size_t n)
{
	memcpy(buf + *at, s, n);
	*at += n;
}

#define PUT_LIT(buf, at, lit) put(buf, at, lit, sizeof(lit) - 1)

size_t kv_req_write(enum kv_proto p, enum kv_op op, const char key[KV_KEY_LEN], size_t vlen,
		    uint8_t *buf, uint8_t **value_out)
{
	size_t n = 0, d;

	if (p == KV_ECHO) {
		if (value_out)
			*value_out = buf;
		return vlen;
	}
	_Static_assert(KV_KEY_LEN == 16, "the RESP heads below spell the key's length");
	if (p == KV_RESP && op == KV_GET)
		PUT_LIT(buf, &n, "*2\r\n$3\r\nGET\r\n$16\r\n");
	else if (p == KV_RESP)
		PUT_LIT(buf, &n, "*3\r\n$3\r\nSET\r\n$16\r\n");
	else if (op == KV_GET)
		PUT_LIT(buf, &n, "get ");
	else
		PUT_LIT(buf, &n, "set ");
	put(buf, &n, key, KV_KEY_LEN);
	if (op == KV_GET) {
		PUT_LIT(buf, &n, "\r\n");
		return n;
	}
	if (p == KV_RESP)
		PUT_LIT(buf, &n, "\r\n$");
	else
		PUT_LIT(buf, &n, " 0 0 ");
	d = digits(vlen);
	put_digits((char *)buf + n, d, vlen);
	n += d;
	PUT_LIT(buf, &n, "\r\n");
	if (value_out)
		*value_out = buf + n;
	n += vlen;
	PUT_LIT(buf, &n, "\r\n");
	return n;
}

/* Index of the "\r\n" ending the line at buf, or -1 when it has not arrived (or is malformed:
 * -2 for a line longer than LINE_MAX_LEN). */
static long line_end(const uint8_t *buf, size_t len)
{
	size_t lim = len < LINE_MAX_LEN ? len : LINE_MAX_LEN;
	const uint8_t *cr = memchr(buf, '\r', lim);

	if (!cr)
		return len >= LINE_MAX_LEN ? -2 : -1;
	size_t i = (size_t)(cr - buf);
	if (i + 1 >= len)
		return -1;
	return buf[i + 1] == '\n' ? (long)i : -2;
}

/* Parses an unsigned decimal of exactly n bytes (1..19) no larger than max. */
static bool parse_uint(const uint8_t *s, size_t n, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool line_is(const uint8_t *line, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(line, word, n) == 0;
}

static bool line_starts(const uint8_t *line, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n >= w && memcmp(line, word, w) == 0;
}

static long error_reply(struct kv_reply *out, const uint8_t *text, size_t n, long consumed)
{
	out->kind = KV_REPLY_ERROR;
	out->value = text;
	out->vlen = n;
	return consumed;
}

/*
 * A value of vlen bytes starting at buf[at], followed by "\r\n" and then `trailer`. Returns the
 * total taken, 0 when incomplete (with *need), -EPROTO when the bytes after the value are wrong.
 */
static long value_body(const uint8_t *buf, size_t len, size_t at, unsigned long long vlen,
		       const char *trailer, struct kv_reply *out, size_t *need)
{
	size_t tl = strlen(trailer);
	size_t total = at + (size_t)vlen + 2 + tl;

	if (len < total) {
		if (need)
			*need = total;
		return 0;
	}
	if (memcmp(buf + at + vlen, "\r\n", 2) != 0 ||
	    memcmp(buf + at + vlen + 2, trailer, tl) != 0)
		return -EPROTO;
	out->kind = KV_REPLY_VALUE;
	out->value = buf + at;
	out->vlen = (size_t)vlen;
	return (long)total;
}

static long resp_parse(enum kv_op op, const uint8_t *buf, size_t len, struct kv_reply *out,
		       size_t *need)
{
	long e = line_end(buf, len);
	unsigned long long v;

	if (e == -1)
		return 0;
	if (e < 1)
		return -EPROTO;
	size_t n = (size_t)e, next = n + 2;
	if (buf[0] == '-')
		return error_reply(out, buf + 1, n - 1, (long)next);
	if (op == KV_SET)
		return line_is(buf, n, "+OK") ? (out->kind = KV_REPLY_OK, (long)next) : -EPROTO;
	if (buf[0] != '$')
		return -EPROTO;
	if (line_is(buf, n, "$-1")) {
		out->kind = KV_REPLY_MISS;
		return (long)next;
	}
	if (!parse_uint(buf + 1, n - 1, KV_VALUE_MAX, &v))
		return -EPROTO;
	return value_body(buf, len, next, v, "", out, need);
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": the key and the byte count. */
static bool mc_value_header(const uint8_t *line, size_t n, struct kv_reply *out,
			    unsigned long long *vlen)
{
	const uint8_t *f[5];
	size_t fl[5], nf = 0, start = 6; /* after "VALUE " */
	unsigned long long flags;

	for (size_t i = start; i <= n && nf < 5; i++) {
		if (i == n || line[i] == ' ') {
			if (i == start)
				return false; /* empty field */
			f[nf] = line + start;
			fl[nf++] = i - start;
			start = i + 1;
		}
	}
	if (start <= n || (nf != 3 && nf != 4)) /* fields left over, or too few */
		return false;
	if (fl[0] > MC_KEY_MAX || !parse_uint(f[1], fl[1], UINT32_MAX, &flags) ||
	    !parse_uint(f[2], fl[2], KV_VALUE_MAX, vlen))
		return false;
	out->key = f[0];
	out->klen = fl[0];
	return true;
}

static long mc_parse(enum kv_op op, const uint8_t *buf, size_t len, struct kv_reply *out,
		     size_t *need)
{
	long e = line_end(buf, len);
	unsigned long long v;

	if (e == -1)
		return 0;
	if (e < 0)
		return -EPROTO;
	size_t n = (size_t)e, next = n + 2;
	if (line_is(buf, n, "ERROR"))
		return error_reply(out, buf, n, (long)next);
	if (line_starts(buf, n, "CLIENT_ERROR ") || line_starts(buf, n, "SERVER_ERROR "))
		return error_reply(out, buf, n, (long)next);
	if (op == KV_SET)
		return line_is(buf, n, "STORED") ? (out->kind = KV_REPLY_OK, (long)next) : -EPROTO;
	if (line_is(buf, n, "END")) {
		out->kind = KV_REPLY_MISS;
		return (long)next;
	}
	if (!line_starts(buf, n, "VALUE ") || !mc_value_header(buf, n, out, &v))
		return -EPROTO;
	return value_body(buf, len, next, v, "END\r\n", out, need);
}

long kv_reply_parse(enum kv_proto p, enum kv_op op, const uint8_t *buf, size_t len,
		    struct kv_reply *out, size_t *need_out)
{
	out->key = NULL;
	out->klen = 0;
	out->value = NULL;
	out->vlen = 0;
	if (need_out)
		*need_out = 0;
	if (p == KV_ECHO)
		return -EPROTO; /* kv_echo_parse: an echo announces no length */
	if (len == 0)
		return 0;
	return p == KV_RESP ? resp_parse(op, buf, len, out, need_out)
			    : mc_parse(op, buf, len, out, need_out);
}

long kv_echo_parse(const uint8_t *buf, size_t len, size_t vlen, struct kv_reply *out,
		   size_t *need_out)
{
	*out = (struct kv_reply){.kind = KV_REPLY_VALUE};
	if (need_out)
		*need_out = 0;
	if (vlen == 0 || vlen > KV_VALUE_MAX)
		return -EPROTO;
	if (len < vlen) {
		if (need_out)
			*need_out = vlen;
		return 0;
	}
	out->value = buf;
	out->vlen = vlen;
	return (long)vlen;
}
