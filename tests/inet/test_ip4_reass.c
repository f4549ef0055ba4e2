/* SPDX-License-Identifier: MIT */
/*
 * IPv4 options and reassembly in catnip's stack (catnip/inet/ip4.c, ip4_reass.c), driven from a
 * peer on the test wire that sends hand-built IPv4 packets (tests/helpers/tcp_peer.h gives the
 * stack, the wire and the virtual clock):
 *
 * - options (RFC 1122 3.2.1.8): accepted and ignored; the echo reply carries none; a
 *   malformed list and a source route are dropped and counted;
 * - fragments (RFC 1122 3.3.2): in order, out of order and with duplicates a datagram is
 *   reassembled and answered (ICMP echo, UDP, a TCP SYN); an overlap drops the whole
 *   datagram; past 65535 bytes, at the timeout and past the memory caps fragments are dropped
 *   and counted; reassembly off drops every fragment.
 *
 * Every test ends with the stack stopped and no pool buffer left (the teardown asserts it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "stack.h"
#include "tcp_peer.h"
#include "udp.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

#define SEC 1000000000ull
#define PING_LEN 200 /* an ICMP echo request: 8-byte header and 192 bytes of data */
#define MAXPKT 2048

struct fx {
	struct demi__pool pool;
	struct tcp_peer p;
	bool up;
};

/* The stack's default configuration. */
static struct nip_stack_config defaults(void)
{
	struct nip_stack_config cfg;

	nip_stack_config_default(&cfg);
	return cfg;
}

/* The stack with cfg (NULL: the defaults) on a 1500-byte wire. */
static void up(struct fx *x, const struct nip_stack_config *cfg)
{
	struct nip_stack_config def = defaults();

	assert_int_equal(tcp_peer_init(&x->p, &x->pool, cfg ? cfg : &def, 1500), 0);
	x->up = true;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_int_equal(demi__pool_init(&x->pool, 0), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (x->up) {
		tcp_peer_discard(&x->p);
		tcp_peer_fini(&x->p);
	}
	assert_int_equal(x->pool.stats.bufs_in_use, 0); /* nothing leaked */
	demi__pool_fini(&x->pool);
	free(x);
	return 0;
}

static struct nip_stack *stk(struct fx *x)
{
	return &x->p.s;
}

/* ---- the peer's packets ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IPv4 header (options opt, optlen a multiple of 4) at h for plen bytes of payload. */
static size_t ip_hdr(uint8_t *h, uint16_t id, uint8_t proto, uint16_t off, bool mf, size_t plen,
		     const uint8_t *opt, size_t optlen)
{
	uint32_t src = htonl(TCP_PEER_IP_PEER), dst = htonl(TCP_PEER_IP_STACK);
	size_t hlen = NIP_IP4_HLEN + optlen;
	uint16_t csum;

	h[0] = (uint8_t)(0x40 | hlen / 4);
	h[1] = 0;
	put16(h + 2, (uint16_t)(hlen + plen));
	put16(h + 4, id);
	put16(h + 6, (uint16_t)((mf ? 0x2000 : 0) | off / 8));
	h[8] = 64;
	h[9] = proto;
	memset(h + 10, 0, 2);
	memcpy(h + 12, &src, 4);
	memcpy(h + 16, &dst, 4);
	if (optlen)
		memcpy(h + NIP_IP4_HLEN, opt, optlen);
	csum = nip_csum_fold(nip_csum_add(0, h, hlen));
	memcpy(h + 10, &csum, 2);
	return hlen;
}

/* Sends an IPv4 packet from the peer and lets the stack process it. */
static void inject(struct fx *x, const uint8_t *pkt, size_t len)
{
	struct nip_link *peer = nip_test_link(&x->p.wire, 1);
	struct demi__buf *f = demi__pool_get(&x->pool, NIP_ETH_HLEN + len);

	assert_non_null(f);
	nip_eth_emit(demi__buf_data(f), x->p.wire.end[0].link.mac, peer->mac, NIP_ETHERTYPE_IPV4);
	memcpy(demi__buf_data(f) + NIP_ETH_HLEN, pkt, len);
	f->len = (uint32_t)(NIP_ETH_HLEN + len);
	assert_int_equal(peer->ops->tx_burst(peer->dev, &f, 1), 1);
	assert_int_equal(tcp_peer_clock_to(&x->p, x->p.now, 100), 0);
	assert_int_equal(nip_ip4_reass_validate(stk(x)), 0);
}

/* A fragment of datagram id: len bytes of data at offset off, MF as given. */
static void frag(struct fx *x, uint16_t id, uint8_t proto, uint16_t off, bool mf,
		 const uint8_t *data, size_t len)
{
	uint8_t pkt[NIP_IP4_HLEN + MAXPKT];
	size_t h = ip_hdr(pkt, id, proto, off, mf, len, NULL, 0);

	assert_true(len <= MAXPKT);
	memcpy(pkt + h, data, len);
	inject(x, pkt, h + len);
}

/* Fragment [off, end) of dgram (MF unless it reaches len). */
static void part(struct fx *x, uint16_t id, uint8_t proto, const uint8_t *dgram, size_t len,
		 uint16_t off, uint16_t end)
{
	frag(x, id, proto, off, end < len, dgram + off, end - off);
}

/* An ICMP echo request of PING_LEN bytes (identifier ident) into m. */
static void ping(uint8_t *m, uint16_t ident)
{
	uint16_t csum;

	m[0] = 8;
	m[1] = 0;
	memset(m + 2, 0, 2);
	put16(m + 4, ident);
	put16(m + 6, 1);
	for (size_t i = 8; i < PING_LEN; i++)
		m[i] = (uint8_t)(i * 7 + ident);
	csum = nip_csum_fold(nip_csum_add(0, m, PING_LEN));
	memcpy(m + 2, &csum, 2);
}

/* The next packet the stack sent (parsed, header checksum verified, payload copied to buf);
 * false when it sent none. */
static bool take(struct fx *x, struct nip_ip4 *ip, uint8_t *buf)
{
	struct nip_test_end *e = &x->p.wire.end[1];
	struct demi__buf *b;
	struct nip_eth eth;

	if (!e->count)
		return false;
	b = e->q[e->head].buf;
	e->head = (e->head + 1) % NIP_TEST_QUEUE;
	e->count--;
	assert_int_equal(nip_eth_parse(demi__buf_data(b), b->len, &eth), 0);
	assert_int_equal(eth.type, NIP_ETHERTYPE_IPV4);
	assert_int_equal(nip_ip4_parse(eth.payload, eth.payload_len, true, ip), NIP_IP4_OK);
	assert_true(ip->payload_len <= MAXPKT);
	memcpy(buf, ip->payload, ip->payload_len);
	ip->payload = buf;
	demi__buf_put(b);
	return true;
}

/* The stack answered req (an echo request) with its echo reply, with no IP options. */
static void expect_echo(struct fx *x, const uint8_t *req)
{
	struct nip_ip4 ip;
	uint8_t got[MAXPKT];

	assert_true(take(x, &ip, got));
	assert_int_equal(ip.proto, NIP_IPPROTO_ICMP);
	assert_int_equal(ip.hlen, NIP_IP4_HLEN);
	assert_int_equal(ip.dst, htonl(TCP_PEER_IP_PEER));
	assert_false(nip_ip4_is_fragment(&ip));
	assert_int_equal(ip.payload_len, PING_LEN);
	assert_int_equal(got[0], 0); /* echo reply */
	assert_memory_equal(got + 4, req + 4, PING_LEN - 4);
	assert_int_equal(nip_csum_fold(nip_csum_add(0, got, PING_LEN)), 0);
}

static void expect_silence(struct fx *x)
{
	struct nip_ip4 ip;
	uint8_t got[MAXPKT];

	assert_false(take(x, &ip, got));
}

/* Nothing left under reassembly. */
static void expect_empty(struct fx *x)
{
	assert_int_equal(nip_ip4_reass_validate(stk(x)), 0);
	assert_int_equal(stk(x)->reass.ndgrams, 0);
	assert_int_equal(stk(x)->reass.bytes, 0);
}

/* ---- options ---- */

static void ping_with_options(struct fx *x, const uint8_t *opt, size_t optlen, uint8_t *req)
{
	uint8_t pkt[NIP_IP4_MAX_HLEN + PING_LEN];
	size_t h;

	ping(req, 0x0102);
	h = ip_hdr(pkt, 7, NIP_IPPROTO_ICMP, 0, false, PING_LEN, opt, optlen);
	memcpy(pkt + h, req, PING_LEN);
	inject(x, pkt, h + PING_LEN);
}

/* RFC 1122 3.2.1.8: NOPs, record route and an unknown option are accepted and ignored; the
 * echo reply carries no options and the whole request's data. */
static void test_ip4_options_accepted(void **state)
{
	static const uint8_t nops[] = {1, 1, 1, 1};
	static const uint8_t rr[] = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0x99, 4, 0xaa, 0xbb, 0};
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	ping_with_options(x, nops, sizeof(nops), req);
	expect_echo(x, req);
	ping_with_options(x, rr, sizeof(rr), req);
	expect_echo(x, req);
	assert_int_equal(stk(x)->cnt.icmp_echo_replies, 2);
}

/* A malformed option list and a source route are dropped, each counted by its reason. */
static void test_ip4_options_refused(void **state)
{
	static const uint8_t bad[] = {0x44, 0x00, 0x05, 0x00};
	static const uint8_t lsrr[] = {131, 7, 4, 10, 0, 0, 2, 0};
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	ping_with_options(x, bad, sizeof(bad), req);
	expect_silence(x);
	assert_int_equal(stk(x)->cnt.drop_ip4[NIP_IP4_OPTIONS], 1);
	ping_with_options(x, lsrr, sizeof(lsrr), req);
	expect_silence(x);
	assert_int_equal(stk(x)->cnt.drop_ip4[NIP_IP4_SRCROUTE], 1);
	assert_int_equal(stk(x)->cnt.icmp_echo_replies, 0);
}

/* A UDP datagram behind options reaches its socket whole. */
static void test_ip4_options_udp(void **state)
{
	static const uint8_t nops[] = {1, 1, 1, 1, 1, 1, 1, 0};
	struct fx *x = *state;
	uint8_t pkt[NIP_IP4_MAX_HLEN + 8 + 100];
	struct nip_udp_sock u;
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;
	size_t h;

	up(x, NULL);
	nip_udp_sock_init(&u, stk(x));
	assert_int_equal(nip_udp_bind(&u, 0, 7), 0);
	h = ip_hdr(pkt, 9, NIP_IPPROTO_UDP, 0, false, 108, nops, sizeof(nops));
	for (int i = 0; i < 100; i++)
		pkt[h + 8 + i] = (uint8_t)i;
	nip_udp_emit(pkt + h, 4000, 7, htonl(TCP_PEER_IP_PEER), htonl(TCP_PEER_IP_STACK), 100,
		     false);
	inject(x, pkt, h + 108);
	d = nip_udp_recv(&u, &from, &port);
	assert_non_null(d);
	assert_int_equal(d->len, 100);
	assert_memory_equal(demi__buf_data(d), pkt + h + 8, 100);
	assert_int_equal(port, 4000);
	demi__buf_put(d);
	nip_udp_close(&u);
}

/* ---- reassembly ---- */

static void test_ip4_reass_in_order(void **state)
{
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	ping(req, 1);
	part(x, 1, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	part(x, 1, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
	expect_silence(x);
	assert_int_equal(stk(x)->reass.ndgrams, 1);
	part(x, 1, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	expect_echo(x, req);
	assert_int_equal(stk(x)->cnt.ip4_frags_rx, 3);
	assert_int_equal(stk(x)->cnt.ip4_reassembled, 1);
	expect_empty(x);
}

static void test_ip4_reass_out_of_order(void **state)
{
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	ping(req, 2);
	part(x, 2, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN); /* the last first */
	part(x, 2, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	expect_silence(x);
	part(x, 2, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
	expect_echo(x, req);
	/* Two datagrams interleaved, the same id from the same peer but another protocol: two
	 * datagrams (RFC 791's key). */
	ping(req, 3);
	part(x, 3, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
	part(x, 3, 253, req, PING_LEN, 0, 64);
	part(x, 3, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	part(x, 3, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	expect_echo(x, req);
	assert_int_equal(stk(x)->reass.ndgrams, 1); /* protocol 253's, incomplete */
	assert_int_equal(stk(x)->cnt.ip4_reassembled, 2);
}

/* A fragment wholly inside one held is dropped alone; the datagram completes. */
static void test_ip4_reass_duplicates(void **state)
{
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	ping(req, 4);
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 80, 96); /* inside [64, 128) */
	expect_silence(x);
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	expect_echo(x, req);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_dup, 2);
	/* A duplicate that is the last fragment tells the end, and completes the datagram. */
	ping(req, 9);
	part(x, 9, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	frag(x, 9, NIP_IPPROTO_ICMP, 64, true, req + 64, PING_LEN - 64);
	expect_silence(x);
	frag(x, 9, NIP_IPPROTO_ICMP, 128, false, req + 128, PING_LEN - 128);
	expect_echo(x, req);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_dup, 3);
	/* The whole datagram again, once reassembled: a new datagram, answered again. */
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 128);
	part(x, 4, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	expect_echo(x, req);
	expect_empty(x);
}

/* A fragment that overlaps another in part drops the whole datagram (RFC 5722's rule); what
 * comes later of it starts a new one, which never completes without its start. */
static void test_ip4_reass_overlap(void **state)
{
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	ping(req, 5);
	part(x, 5, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	part(x, 5, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	part(x, 5, NIP_IPPROTO_ICMP, req, PING_LEN, 56, 136); /* over both */
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_overlap, 3);
	expect_empty(x);
	part(x, 5, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
	part(x, 5, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	expect_silence(x);
	/* The last fragment overlapping the first (hostile.py's case). */
	part(x, 6, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 40);
	frag(x, 6, NIP_IPPROTO_ICMP, 32, false, req + 32, 48);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_overlap, 5);
	assert_int_equal(stk(x)->reass.ndgrams, 1); /* id 5's second datagram */
	/* Overlapping the tail of an in-order run too. */
	part(x, 5, NIP_IPPROTO_ICMP, req, PING_LEN, 120, 160);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_overlap, 8);
	expect_empty(x);
	assert_int_equal(stk(x)->cnt.ip4_reassembled, 0);
}

/* Fragments that end past 65535 bytes with the header drop their datagram (the ping of death);
 * so do a last fragment that contradicts the known end and an empty fragment. */
static void test_ip4_reass_too_long_and_bad(void **state)
{
	struct fx *x = *state;
	uint8_t data[64] = {0};

	up(x, NULL);
	frag(x, 6, NIP_IPPROTO_ICMP, 0, true, data, 64);
	frag(x, 6, NIP_IPPROTO_ICMP, 65496, false, data, 24); /* ends at 65520: 65540 in all */
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_too_long, 2);
	expect_empty(x);
	/* The largest datagram that fits, 65535 bytes with its header, is held. */
	frag(x, 7, NIP_IPPROTO_ICMP, 65496, false, data, 19);
	assert_int_equal(stk(x)->reass.ndgrams, 1);
	/* A last fragment that ends elsewhere than the known end: the datagram is corrupt. */
	frag(x, 7, NIP_IPPROTO_ICMP, 64, false, data, 8);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_bad, 2);
	expect_empty(x);
	/* An empty fragment, and a non-last one with fewer than 8 bytes (cut to none). */
	frag(x, 8, NIP_IPPROTO_ICMP, 8, false, data, 0);
	frag(x, 9, NIP_IPPROTO_ICMP, 0, true, data, 7);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_bad, 4);
	expect_empty(x);
	expect_silence(x);
}

/* An incomplete datagram is dropped reass_timeout_ns after its first fragment arrived (RFC
 * 1122 3.3.2), not later fragments' arrival; the stack's next deadline says when. */
static void timeout_after(struct fx *x, uint64_t timeout)
{
	uint8_t req[PING_LEN];
	uint64_t t0 = x->p.now;

	ping(req, 10);
	part(x, 10, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	assert_int_equal(nip_stack_next_deadline(stk(x)), t0 + timeout);
	assert_int_equal(tcp_peer_clock_to(&x->p, t0 + timeout / 2, 100), 0);
	part(x, 10, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
	assert_int_equal(nip_stack_next_deadline(stk(x)), t0 + timeout);
	assert_int_equal(tcp_peer_clock_to(&x->p, t0 + timeout - 1, 100), 0);
	assert_int_equal(stk(x)->reass.ndgrams, 1);
	assert_int_equal(tcp_peer_clock_to(&x->p, t0 + timeout, 100), 0);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_timeout, 2);
	expect_empty(x);
	assert_int_equal(nip_stack_next_deadline(stk(x)), UINT64_MAX);
	/* The last fragment, late: a datagram of its own, never completed. */
	part(x, 10, NIP_IPPROTO_ICMP, req, PING_LEN, 128, PING_LEN);
	expect_silence(x);
}

static void test_ip4_reass_timeout(void **state)
{
	struct fx *x = *state;

	up(x, NULL);
	timeout_after(x, 30 * SEC);
}

static void test_ip4_reass_timeout_configured(void **state)
{
	struct fx *x = *state;
	struct nip_stack_config cfg = defaults();

	cfg.reass_timeout_ns = 60 * SEC;
	up(x, &cfg);
	timeout_after(x, 60 * SEC);
}

/* At reass_max_datagrams a new datagram evicts the oldest (counted); the newest complete. */
static void test_ip4_reass_datagram_cap(void **state)
{
	struct fx *x = *state;
	struct nip_stack_config cfg = defaults();
	uint8_t req[PING_LEN];

	cfg.reass_max_datagrams = 4;
	up(x, &cfg);
	for (uint16_t id = 20; id < 26; id++) {
		ping(req, id);
		part(x, id, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
		assert_true(stk(x)->reass.ndgrams <= 4);
	}
	assert_int_equal(stk(x)->reass.ndgrams, 4);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_mem, 2); /* ids 20 and 21 */
	ping(req, 25);
	part(x, 25, NIP_IPPROTO_ICMP, req, PING_LEN, 64, PING_LEN);
	expect_echo(x, req);
	ping(req, 20); /* evicted: its rest starts a new datagram (in the slot 25 left) */
	part(x, 20, NIP_IPPROTO_ICMP, req, PING_LEN, 64, PING_LEN);
	expect_silence(x);
	assert_int_equal(stk(x)->reass.ndgrams, 4);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_mem, 2);
	ping(req, 22); /* one more new datagram evicts the oldest, 22: its rest is not enough */
	part(x, 26, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	part(x, 22, NIP_IPPROTO_ICMP, req, PING_LEN, 64, PING_LEN);
	expect_silence(x);
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_mem, 4); /* 22's first, then 23's */
	assert_int_equal(stk(x)->reass.ndgrams, 4);
}

/* Held buffers are counted by their size, not their payload: reass_max_bytes evicts the oldest
 * datagrams first, and a datagram that alone needs more is dropped whole. */
static void test_ip4_reass_byte_cap(void **state)
{
	struct fx *x = *state;
	struct nip_stack_config cfg = defaults();
	uint8_t req[PING_LEN];
	struct demi__buf *probe = demi__pool_get(&x->pool, 100);
	uint32_t bufcap = probe->cap; /* what each fragment's frame holds */

	demi__buf_put(probe);
	cfg.reass_max_bytes = 3 * bufcap;
	up(x, &cfg);
	for (uint16_t id = 30; id < 33; id++) {
		ping(req, id);
		part(x, id, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 8);
	}
	assert_int_equal(stk(x)->reass.bytes, 3 * bufcap);
	part(x, 32, NIP_IPPROTO_ICMP, req, PING_LEN, 8, 16); /* id 30 goes */
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_mem, 1);
	assert_int_equal(stk(x)->reass.ndgrams, 2);
	part(x, 32, NIP_IPPROTO_ICMP, req, PING_LEN, 16, 24); /* id 31 goes */
	assert_int_equal(stk(x)->reass.ndgrams, 1);
	assert_true(stk(x)->reass.bytes <= cfg.reass_max_bytes);
	part(x, 32, NIP_IPPROTO_ICMP, req, PING_LEN, 24, 32); /* id 32 alone is too big */
	assert_int_equal(stk(x)->cnt.drop_ip4_frag_mem, 2 + 4);
	expect_empty(x);
	/* A datagram within the cap still completes. */
	ping(req, 33);
	part(x, 33, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 104);
	part(x, 33, NIP_IPPROTO_ICMP, req, PING_LEN, 104, PING_LEN);
	expect_echo(x, req);
}

/* A UDP datagram larger than the MTU, in fragments, reaches its socket whole; one with a bad
 * checksum over the reassembled datagram is dropped there. */
static void test_ip4_reass_udp(void **state)
{
	enum { N = 3000 };
	struct fx *x = *state;
	static uint8_t dgram[8 + N];
	struct nip_udp_sock u;
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;

	up(x, NULL);
	nip_udp_sock_init(&u, stk(x));
	assert_int_equal(nip_udp_bind(&u, 0, 7), 0);
	for (int i = 0; i < N; i++)
		dgram[8 + i] = (uint8_t)(i * 13);
	nip_udp_emit(dgram, 4000, 7, htonl(TCP_PEER_IP_PEER), htonl(TCP_PEER_IP_STACK), N, false);
	part(x, 11, NIP_IPPROTO_UDP, dgram, sizeof(dgram), 1480, 2960);
	part(x, 11, NIP_IPPROTO_UDP, dgram, sizeof(dgram), 2960, sizeof(dgram));
	part(x, 11, NIP_IPPROTO_UDP, dgram, sizeof(dgram), 0, 1480);
	d = nip_udp_recv(&u, &from, &port);
	assert_non_null(d);
	assert_int_equal(d->len, N);
	assert_memory_equal(demi__buf_data(d), dgram + 8, N);
	assert_int_equal(from, htonl(TCP_PEER_IP_PEER));
	demi__buf_put(d);
	dgram[8 + 2000] ^= 1; /* in the second fragment: only the whole datagram's sum sees it */
	part(x, 12, NIP_IPPROTO_UDP, dgram, sizeof(dgram), 0, 1480);
	part(x, 12, NIP_IPPROTO_UDP, dgram, sizeof(dgram), 1480, 2960);
	part(x, 12, NIP_IPPROTO_UDP, dgram, sizeof(dgram), 2960, sizeof(dgram));
	assert_null(nip_udp_recv(&u, &from, &port));
	assert_int_equal(stk(x)->cnt.drop_udp_bad, 1);
	assert_int_equal(stk(x)->cnt.ip4_reassembled, 2);
	expect_empty(x);
	nip_udp_close(&u);
}

/* A TCP SYN in two fragments (its options in the second) reaches the listener: SYN-ACK. */
static void test_ip4_reass_tcp_syn(void **state)
{
	struct fx *x = *state;
	struct nip_tcp_seg h = {.sport = 40000,
				.dport = 80,
				.seq = 1000,
				.flags = NIP_TCP_SYN,
				.win = 65535,
				.opt = {.has_mss = true, .mss = 1460}};
	struct nip_tcp_conn *l;
	struct nip_tcp_seg got;
	struct nip_ip4 ip;
	uint8_t seg[64], rx[MAXPKT];
	size_t len;

	up(x, NULL);
	l = nip_tcp_create(stk(x), NULL, NULL);
	assert_non_null(l);
	assert_int_equal(nip_tcp_bind(l, 0, 80, false), 0);
	assert_int_equal(nip_tcp_listen(l, 4), 0);
	len = nip_tcp_emit(seg, &h, htonl(TCP_PEER_IP_PEER), htonl(TCP_PEER_IP_STACK), 0, false);
	assert_int_equal(len, 24);
	part(x, 13, NIP_IPPROTO_TCP, seg, len, 0, 16);
	expect_silence(x);
	part(x, 13, NIP_IPPROTO_TCP, seg, len, 16, (uint16_t)len);
	assert_true(take(x, &ip, rx));
	assert_int_equal(ip.proto, NIP_IPPROTO_TCP);
	assert_int_equal(nip_tcp_parse(rx, ip.payload_len, ip.src, ip.dst, true, &got), NIP_TCP_OK);
	assert_int_equal(got.flags, NIP_TCP_SYN | NIP_TCP_ACK);
	assert_int_equal(got.ack, 1001);
	assert_int_equal(got.dport, 40000);
	nip_tcp_close(l);
}

/* With reassembly off, every fragment is dropped and counted as such. */
static void test_ip4_reass_off(void **state)
{
	struct fx *x = *state;
	struct nip_stack_config cfg = defaults();
	uint8_t req[PING_LEN];

	cfg.reass_max_datagrams = 0;
	up(x, &cfg);
	ping(req, 40);
	part(x, 40, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 104);
	part(x, 40, NIP_IPPROTO_ICMP, req, PING_LEN, 104, PING_LEN);
	expect_silence(x);
	assert_int_equal(stk(x)->cnt.drop_ip4[NIP_IP4_FRAGMENT], 2);
	assert_int_equal(nip_stack_next_deadline(stk(x)), UINT64_MAX);
}

/* Held fragments are freed when the stack stops (the teardown checks the pool). */
static void test_ip4_reass_fini_frees(void **state)
{
	struct fx *x = *state;
	uint8_t req[PING_LEN];

	up(x, NULL);
	for (uint16_t id = 50; id < 60; id++) {
		ping(req, id);
		part(x, id, NIP_IPPROTO_ICMP, req, PING_LEN, 64, 128);
		part(x, id, NIP_IPPROTO_ICMP, req, PING_LEN, 0, 64);
	}
	assert_int_equal(stk(x)->reass.ndgrams, 10);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ip4_options_accepted),	T(test_ip4_options_refused),
		T(test_ip4_options_udp),	T(test_ip4_reass_in_order),
		T(test_ip4_reass_out_of_order), T(test_ip4_reass_duplicates),
		T(test_ip4_reass_overlap),	T(test_ip4_reass_too_long_and_bad),
		T(test_ip4_reass_timeout),	T(test_ip4_reass_timeout_configured),
		T(test_ip4_reass_datagram_cap), T(test_ip4_reass_byte_cap),
		T(test_ip4_reass_udp),		T(test_ip4_reass_tcp_syn),
		T(test_ip4_reass_off),		T(test_ip4_reass_fini_frees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
