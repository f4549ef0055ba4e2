/* SPDX-License-Identifier: MIT */
/*
 * The protocols the load generator (kv-load) speaks, as pure functions over byte buffers:
 * requests are written into a caller's buffer, replies are parsed from the bytes received so
 * far. No I/O here, so the parsers are unit-tested and fuzzed on their own.
 *
 *   RESP (Redis):      GET -> "*2\r\n$3\r\nGET\r\n$K\r\nkey\r\n"
 *                      SET -> "*3\r\n$3\r\nSET\r\n$K\r\nkey\r\n$V\r\nvalue\r\n"
 *                      replies "+OK", "$V\r\nvalue", "$-1" (miss), "-ERR ..." (error)
 *   memcache text:     "get key\r\n", "set key 0 0 V\r\nvalue\r\n"
 *                      replies "STORED", "VALUE key flags V\r\nvalue\r\nEND", "END" (miss),
 *                      "ERROR", "CLIENT_ERROR ...", "SERVER_ERROR ..."
 *   echo:              the request is the value alone (V bytes, no key, no framing); the reply
 *                      is the same V bytes (a TCP echo server: examples/tcp-echo). It gives the
 *                      floor a key-value server's latency is compared with, measured by the same
 *                      client doing the same per-request work.
 *
 * Every length in a reply is checked against the bytes present and against a limit before it is
 * used: a reply is untrusted input.
 */
#ifndef EX_KV_PROTO_H
#define EX_KV_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum kv_proto { KV_RESP, KV_MEMCACHE, KV_ECHO };
enum kv_op { KV_GET, KV_SET };

/* Keys are "key:" and 12 decimal digits: fixed length, as redis-benchmark's key:__rand_int__. */
#define KV_KEY_LEN 16

/* Largest value a reply may announce; larger ones are protocol errors. */
#define KV_VALUE_MAX (512ULL << 20)

/* Writes the key of index idx (< 10^12) into key[KV_KEY_LEN] (not NUL-terminated). */
void kv_key(char key[KV_KEY_LEN], uint64_t idx);

/* Bytes kv_req_write needs for this request. */
size_t kv_req_len(enum kv_proto p, enum kv_op op, size_t vlen);

/*
 * Writes a request into buf (kv_req_len bytes). For a SET (and every echo request), the
 * value's vlen bytes are left for the caller at *value_out, so a value can be filled in place
 * without a copy. Returns the bytes written.
 */
size_t kv_req_write(enum kv_proto p, enum kv_op op, const char key[KV_KEY_LEN], size_t vlen,
		    uint8_t *buf, uint8_t **value_out);

enum kv_reply_kind {
	KV_REPLY_OK,	/* SET stored */
	KV_REPLY_VALUE, /* GET hit: value/vlen */
	KV_REPLY_MISS,	/* GET of an absent key */
	KV_REPLY_ERROR, /* the server answered with an error line: value/vlen is its text */
};

struct kv_reply {
	enum kv_reply_kind kind;
	const uint8_t *value; /* inside the parsed buffer */
	size_t vlen;
	const uint8_t *key; /* memcache VALUE: the key the server names (else NULL) */
	size_t klen;
};

/*
 * Parses one reply to a request of kind op from buf[0..len). Returns the bytes it takes (> 0)
 * with *out filled; 0 when the reply is not complete yet (need_out, if not NULL, then gives
 * the least total length worth waiting for: a value's announced size); -EPROTO when the bytes
 * cannot be a reply to op. For KV_ECHO, whose replies announce no length, use kv_echo_parse
 * (this returns -EPROTO).
 */
long kv_reply_parse(enum kv_proto p, enum kv_op op, const uint8_t *buf, size_t len,
		    struct kv_reply *out, size_t *need_out);

/*
 * The echo of a request of vlen bytes: vlen bytes, as KV_REPLY_VALUE with value/vlen (the
 * caller compares them with what it sent). Returns vlen when buf holds them, else 0 with
 * *need_out (if not NULL) = vlen.
 */
long kv_echo_parse(const uint8_t *buf, size_t len, size_t vlen, struct kv_reply *out,
		   size_t *need_out);

#endif /* EX_KV_PROTO_H */
