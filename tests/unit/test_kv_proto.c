/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the load generator's protocol code (examples/kv-proto.c): requests as the
 * servers' documentation writes them, every kind of reply, replies cut at every byte (a stream
 * delivers them in any pieces), and malformed or oversized replies refused, never read past;
 * the echo protocol's requests (the value alone) and replies (exactly as many bytes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "kv-proto.h"

static char key[KV_KEY_LEN];

static int setup(void **state)
{
	(void)state;
	kv_key(key, 42);
	return 0;
}

static void req_is(enum kv_proto p, enum kv_op op, size_t vlen, const char *want)
{
	uint8_t buf[256], *val = NULL;
	size_t n = kv_req_write(p, op, key, vlen, buf, &val);

	assert_int_equal(n, kv_req_len(p, op, vlen));
	if (op == KV_SET) {
		assert_non_null(val);
		memset(val, 'v', vlen);
	}
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
}

static void test_kv_proto_requests(void **state)
{
	(void)state;
	assert_memory_equal(key, "key:000000000042", KV_KEY_LEN);
	req_is(KV_RESP, KV_GET, 0, "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000042\r\n");
	req_is(KV_RESP, KV_SET, 3, "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$3\r\nvvv\r\n");
	req_is(KV_RESP, KV_SET, 12,
	       "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$12\r\nvvvvvvvvvvvv\r\n");
	req_is(KV_MEMCACHE, KV_GET, 0, "get key:000000000042\r\n");
	req_is(KV_MEMCACHE, KV_SET, 3, "set key:000000000042 0 0 3\r\nvvv\r\n");
	req_is(KV_MEMCACHE, KV_SET, 10, "set key:000000000042 0 0 10\r\nvvvvvvvvvv\r\n");
	/* Keys wrap at 10^12 and keep their leading zeros. */
	char k[KV_KEY_LEN];
	kv_key(k, 1000000000007ULL);
	assert_memory_equal(k, "key:000000000007", KV_KEY_LEN);
	kv_key(k, 999999999999ULL);
	assert_memory_equal(k, "key:999999999999", KV_KEY_LEN);
}

/* A large value's length is written in full (the digits are not from snprintf). */
static void test_kv_proto_large_value_header(void **state)
{
	static const char resp[] = "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$1048576\r\n";
	static const char mc[] = "set key:000000000042 0 0 1048576\r\n";
	size_t vlen = 1048576;
	uint8_t *buf = malloc(vlen + 128), *val = NULL;

	(void)state;
	assert_non_null(buf);
	size_t n = kv_req_write(KV_RESP, KV_SET, key, vlen, buf, &val);
	assert_int_equal(n, kv_req_len(KV_RESP, KV_SET, vlen));
	assert_memory_equal(buf, resp, sizeof(resp) - 1);
	assert_ptr_equal(val, buf + sizeof(resp) - 1);
	assert_memory_equal(buf + n - 2, "\r\n", 2);
	n = kv_req_write(KV_MEMCACHE, KV_SET, key, vlen, buf, &val);
	assert_int_equal(n, kv_req_len(KV_MEMCACHE, KV_SET, vlen));
	assert_memory_equal(buf, mc, sizeof(mc) - 1);
	assert_ptr_equal(val, buf + sizeof(mc) - 1);
	free(buf);
}

/* Echo: the request is the value alone; the reply is exactly that many bytes, in any pieces. */
static void test_kv_proto_echo(void **state)
{
	uint8_t buf[128], *val = NULL;
	struct kv_reply rep;
	size_t need = 1;

	(void)state;
	assert_int_equal(kv_req_len(KV_ECHO, KV_GET, 64), 64);
	assert_int_equal(kv_req_write(KV_ECHO, KV_GET, key, 64, buf, &val), 64);
	assert_ptr_equal(val, buf);
	memset(buf, 'e', sizeof(buf));
	for (size_t cut = 0; cut < 64; cut++) {
		assert_int_equal(kv_echo_parse(buf, cut, 64, &rep, &need), 0);
		assert_int_equal(need, 64);
	}
	/* Two echoes back to back: the first takes only its own bytes. */
	assert_int_equal(kv_echo_parse(buf, 128, 64, &rep, &need), 64);
	assert_int_equal(need, 0);
	assert_int_equal(rep.kind, KV_REPLY_VALUE);
	assert_ptr_equal(rep.value, buf);
	assert_int_equal(rep.vlen, 64);
	assert_null(rep.key);
	/* An echo has no length of its own: kv_reply_parse cannot parse it; nor is an empty or
	 * oversized request's echo a reply. */
	assert_int_equal(kv_reply_parse(KV_ECHO, KV_GET, buf, 64, &rep, NULL), -EPROTO);
	assert_int_equal(kv_echo_parse(buf, 64, 0, &rep, NULL), -EPROTO);
	assert_int_equal(kv_echo_parse(buf, 64, KV_VALUE_MAX + 1, &rep, NULL), -EPROTO);
}

/* Parses s whole, and checks that every proper prefix asks for more bytes. */
static long parse_all(enum kv_proto p, enum kv_op op, const char *s, struct kv_reply *rep)
{
	size_t len = strlen(s);

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *part = malloc(cut ? cut : 1);
		assert_non_null(part);
		memcpy(part, s, cut);
		long r = kv_reply_parse(p, op, part, cut, rep, NULL);
		free(part);
		if (r != 0)
			return -1000 - (long)cut; /* decided before the reply was complete */
	}
	uint8_t *whole = malloc(len); /* exact size: ASan catches a read past the end */
	assert_non_null(whole);
	memcpy(whole, s, len);
	long r = kv_reply_parse(p, op, whole, len, rep, NULL);
	if (r > 0 && rep->value) {
		/* value points into whole: copy it out before freeing */
		static uint8_t keep[256];
		assert_true(rep->vlen <= sizeof(keep));
		memcpy(keep, rep->value, rep->vlen);
		rep->value = keep;
		rep->key = NULL;
	}
	free(whole);
	return r;
}

static void test_kv_proto_resp_replies(void **state)
{
	struct kv_reply rep;

	(void)state;
	assert_int_equal(parse_all(KV_RESP, KV_SET, "+OK\r\n", &rep), 5);
	assert_int_equal(rep.kind, KV_REPLY_OK);
	assert_int_equal(parse_all(KV_RESP, KV_GET, "$3\r\nabc\r\n", &rep), 9);
	assert_int_equal(rep.kind, KV_REPLY_VALUE);
	assert_int_equal(rep.vlen, 3);
	assert_memory_equal(rep.value, "abc", 3);
	assert_int_equal(parse_all(KV_RESP, KV_GET, "$0\r\n\r\n", &rep), 6);
	assert_int_equal(rep.vlen, 0);
	assert_int_equal(parse_all(KV_RESP, KV_GET, "$-1\r\n", &rep), 5);
	assert_int_equal(rep.kind, KV_REPLY_MISS);
	assert_int_equal(parse_all(KV_RESP, KV_SET, "-OOM out of memory\r\n", &rep), 20);
	assert_int_equal(rep.kind, KV_REPLY_ERROR);
	assert_int_equal(rep.vlen, 17);
}

static void test_kv_proto_memcache_replies(void **state)
{
	struct kv_reply rep;

	(void)state;
	assert_int_equal(parse_all(KV_MEMCACHE, KV_SET, "STORED\r\n", &rep), 8);
	assert_int_equal(rep.kind, KV_REPLY_OK);
	assert_int_equal(parse_all(KV_MEMCACHE, KV_GET, "END\r\n", &rep), 5);
	assert_int_equal(rep.kind, KV_REPLY_MISS);
	const char *hit = "VALUE key:000000000042 0 3\r\nabc\r\nEND\r\n";
	uint8_t buf[64];
	memcpy(buf, hit, strlen(hit));
	assert_int_equal(kv_reply_parse(KV_MEMCACHE, KV_GET, buf, strlen(hit), &rep, NULL),
			 (long)strlen(hit));
	assert_int_equal(rep.kind, KV_REPLY_VALUE);
	assert_int_equal(rep.klen, KV_KEY_LEN);
	assert_memory_equal(rep.key, key, KV_KEY_LEN);
	assert_memory_equal(rep.value, "abc", 3);
	assert_int_equal(parse_all(KV_MEMCACHE, KV_GET, hit, &rep), (long)strlen(hit));
	/* With a CAS field (gets). */
	assert_int_equal(parse_all(KV_MEMCACHE, KV_GET, "VALUE k 5 2 77\r\nab\r\nEND\r\n", &rep),
			 25);
	assert_int_equal(parse_all(KV_MEMCACHE, KV_SET, "SERVER_ERROR object too large\r\n", &rep),
			 31);
	assert_int_equal(rep.kind, KV_REPLY_ERROR);
	assert_int_equal(parse_all(KV_MEMCACHE, KV_GET, "ERROR\r\n", &rep), 7);
	assert_int_equal(rep.kind, KV_REPLY_ERROR);
}

/* Two replies back to back: the first takes only its own bytes. */
static void test_kv_proto_pipelined(void **state)
{
	const char *two = "$2\r\nhi\r\n+OK\r\n";
	struct kv_reply rep;
	long r;

	(void)state;
	r = kv_reply_parse(KV_RESP, KV_GET, (const uint8_t *)two, strlen(two), &rep, NULL);
	assert_int_equal(r, 8);
	r = kv_reply_parse(KV_RESP, KV_SET, (const uint8_t *)two + 8, strlen(two) - 8, &rep, NULL);
	assert_int_equal(r, 5);
}

static void test_kv_proto_need_announced_size(void **state)
{
	const char *head = "$1048576\r\nab";
	struct kv_reply rep;
	size_t need;

	(void)state;
	assert_int_equal(
		kv_reply_parse(KV_RESP, KV_GET, (const uint8_t *)head, strlen(head), &rep, &need),
		0);
	assert_int_equal(need, 10 + 1048576 + 2);
}

static void test_kv_proto_malformed_refused(void **state)
{
	static const char *const resp_get[] = {
		"+OK\r\n",	    /* not an answer to GET */
		"$abc\r\n",	    /* not a number */
		"$-2\r\n",	    /* negative length */
		"$3\r\nabcd\r\n",   /* value longer than announced */
		"$99999999999\r\n", /* beyond KV_VALUE_MAX */
		"$3\rXabc\r\n",	    /* CR without LF */
		"\r\n",		    /* empty line */
		":1\r\n",	    /* integer reply */
	};
	static const char *const mc_get[] = {
		"STORED\r\n",
		"VALUE k 0\r\n",		     /* too few fields */
		"VALUE k 0 3 1 2\r\nabc\r\nEND\r\n", /* too many */
		"VALUE k x 3\r\nabc\r\nEND\r\n",     /* flags not a number */
		"VALUE  0 3\r\nabc\r\nEND\r\n",	     /* empty key */
		"VALUE k 0 3\r\nabc\r\nEMD\r\n",     /* wrong trailer */
		"VALUE k 0 3 \r\nabc\r\nEND\r\n",    /* trailing space */
	};
	struct kv_reply rep;

	(void)state;
	for (size_t i = 0; i < sizeof(resp_get) / sizeof(*resp_get); i++) {
		long r = kv_reply_parse(KV_RESP, KV_GET, (const uint8_t *)resp_get[i],
					strlen(resp_get[i]), &rep, NULL);
		if (r != -EPROTO)
			fail_msg("RESP GET reply %zu accepted (%ld)", i, r);
	}
	for (size_t i = 0; i < sizeof(mc_get) / sizeof(*mc_get); i++) {
		long r = kv_reply_parse(KV_MEMCACHE, KV_GET, (const uint8_t *)mc_get[i],
					strlen(mc_get[i]), &rep, NULL);
		if (r != -EPROTO)
			fail_msg("memcache GET reply %zu accepted (%ld)", i, r);
	}
	/* A line that never ends is refused once it is longer than any reply line. */
	size_t n = 8192;
	uint8_t *junk = malloc(n);
	assert_non_null(junk);
	memset(junk, 'x', n);
	junk[0] = '+';
	assert_int_equal(kv_reply_parse(KV_RESP, KV_SET, junk, n, &rep, NULL), -EPROTO);
	free(junk);
}

/* Random bytes: the parser answers without reading past the end (ASan) and consistently. */
static void test_kv_proto_random_bytes(void **state)
{
	struct unit_rng rng;
	struct kv_reply rep;

	(void)state;
	unit_rng_seed(&rng, 7);
	for (int i = 0; i < 20000; i++) {
		size_t len = unit_rng_below(&rng, 40);
		uint8_t *b = malloc(len ? len : 1);
		static const char alpha[] = "$+-:VALUEND \r\n0123456789abSTOREDk";
		assert_non_null(b);
		for (size_t j = 0; j < len; j++)
			b[j] = (uint8_t)alpha[unit_rng_below(&rng, sizeof(alpha) - 1)];
		for (int p = 0; p < 2; p++)
			for (int op = 0; op < 2; op++) {
				long r = kv_reply_parse((enum kv_proto)p, (enum kv_op)op, b, len,
							&rep, NULL);
				assert_true(r == 0 || r == -EPROTO || (r > 0 && (size_t)r <= len));
			}
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_kv_proto_requests, setup),
		cmocka_unit_test_setup(test_kv_proto_large_value_header, setup),
		cmocka_unit_test_setup(test_kv_proto_echo, setup),
		cmocka_unit_test(test_kv_proto_resp_replies),
		cmocka_unit_test_setup(test_kv_proto_memcache_replies, setup),
		cmocka_unit_test(test_kv_proto_pipelined),
		cmocka_unit_test(test_kv_proto_need_announced_size),
		cmocka_unit_test(test_kv_proto_malformed_refused),
		cmocka_unit_test(test_kv_proto_random_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
