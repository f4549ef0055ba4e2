/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip's IPv4 input with options and fragments (catnip/inet/ip4.c,
 * ip4_reass.c): one stack on end 0 of the in-memory test wire (tests/helpers/tcp_peer.h), the
 * fuzzer as its peer on end 1 sending fragments of four datagrams (valid ICMP echo requests and
 * UDP datagrams, so that a reassembly that completes is answered), raw IPv4 packets and clock
 * steps. Checked after every step:
 *
 * - the structure (nip_ip4_reass_validate: fragments in order, no overlap, sums right);
 * - the caps: datagrams under reassembly <= reass_max_datagrams, bytes held <= reass_max_bytes;
 * - the pool: every buffer in use is a fragment held, and the bytes counted are their sizes;
 * - the counters: every fragment received is held, counted in a drop counter, or part of a
 *   reassembled datagram (each of at least two fragments);
 * - what the stack answers is exactly the datagram the fragments came from: an echo reply
 *   carries the request's bytes, a UDP socket receives the datagram's payload;
 * - the next deadline is never past the oldest datagram's timeout.
 * At the end the clock runs past every timeout: nothing may stay held, no buffer may leak.
 *
 * Program format (bytes past the end of the input read as 0):
 *
 *   byte 0   config: bits 0-2 reass_max_datagrams 1 + n, bits 3-4 reass_max_bytes (1 + n) x 8
 *            KiB, bit 5 a timeout of 1 s (else 30 s)
 *   then at most MAX_STEPS steps, each an opcode byte op whose low 2 bits are the kind:
 *
 *   0, 1     a fragment of datagram op bits 2-3 (UDP when op bit 5, else ICMP), MF when op
 *            bit 4, behind 8 bytes of options (NOPs and a record route) when op bit 6. Then a
 *            16-bit field whose low 13 bits are the offset (x 8 bytes) and a length byte n:
 *            n x 8 bytes, or n bytes when op bit 7 (at most 1480). The bytes are the
 *            datagram's own at that offset (a fixed pattern past its end).
 *   2        clock: + (next byte) x 250 ms
 *   3        a raw IPv4 packet: a length byte n, then n bytes; addressed from the peer to the
 *            stack, its protocol set to 253 (no answer) and its header checksum fixed when it
 *            has a header
 *
 * Replay a crash file with the driver build: build/tests/fuzz/fuzz-ip4-reass FILE.
 */
#include <string.h>
#include <arpa/inet.h>

#include "fuzz.h"

#include "mem/buf.h"
#include "stack.h"
#include "tcp_peer.h"
#include "udp.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ip4.h"
#include "wire/udp.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define MAX_STEPS 256
#define NDGRAMS 4
#define DGRAM_MAX 1600 /* the longest of the four datagrams */
#define FRAG_MAX 1480  /* payload bytes of one fragment: a frame within one 2 KiB buffer */
#define UDP_PORT 7

struct fz {
	struct fuzz_prog prog; /* the input */
	struct tcp_peer peer;
	struct nip_stack *s;
	struct nip_udp_sock udp;
	uint8_t dgram[2][NDGRAMS][DGRAM_MAX]; /* [ICMP, UDP][id] */
	uint32_t len[NDGRAMS];
	uint32_t bufcap; /* the size of each frame's buffer */
};

static struct demi__pool pool;
static bool pool_ready;
static struct fz fz; /* large (the wire's queues): not on the stack */

/* The four datagrams of each protocol: id k is 24 + 500 k bytes long. */
static void datagrams(struct fz *f)
{
	for (int k = 0; k < NDGRAMS; k++) {
		uint8_t *icmp = f->dgram[0][k], *udp = f->dgram[1][k];
		uint32_t len = 24 + 500 * (uint32_t)k;
		uint16_t csum;

		f->len[k] = len;
		for (uint32_t i = 0; i < DGRAM_MAX; i++)
			icmp[i] = udp[i] = (uint8_t)(i * 31 + k);
		icmp[0] = 8;
		icmp[1] = 0;
		memset(icmp + 2, 0, 2);
		icmp[4] = 0xf0;
		icmp[5] = (uint8_t)k; /* the identifier names the datagram */
		csum = nip_csum_fold(nip_csum_add(0, icmp, len));
		memcpy(icmp + 2, &csum, 2);
		nip_udp_emit(udp, (uint16_t)(4000 + k), UDP_PORT, htonl(TCP_PEER_IP_PEER),
			     htonl(TCP_PEER_IP_STACK), len - 8, false);
	}
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void fix_ip_csum(uint8_t *h, size_t hlen)
{
	uint16_t csum;

	memset(h + 10, 0, 2);
	csum = nip_csum_fold(nip_csum_add(0, h, hlen));
	memcpy(h + 10, &csum, 2);
}

/* Sends an IPv4 packet from the peer and lets the stack take it. */
static void inject(struct fz *f, const uint8_t *pkt, size_t len)
{
	struct nip_link *peer = nip_test_link(&f->peer.wire, 1);
	struct demi__buf *b = demi__pool_get(&pool, NIP_ETH_HLEN + len);

	FUZZ_CHECK(b && b->cap == f->bufcap);
	nip_eth_emit(demi__buf_data(b), f->peer.wire.end[0].link.mac, peer->mac,
		     NIP_ETHERTYPE_IPV4);
	memcpy(demi__buf_data(b) + NIP_ETH_HLEN, pkt, len);
	b->len = (uint32_t)(NIP_ETH_HLEN + len);
	FUZZ_CHECK(peer->ops->tx_burst(peer->dev, &b, 1) == 1);
	FUZZ_CHECK(tcp_peer_clock_to(&f->peer, f->peer.now, 100) == 0);
}

/* Byte pos of datagram k (a pattern past its buffer). */
static uint8_t byte_at(const struct fz *f, int udp, int k, uint32_t pos)
{
	return pos < DGRAM_MAX ? f->dgram[udp][k][pos] : (uint8_t)pos;
}

static void step_fragment(struct fz *f, uint8_t op)
{
	static const uint8_t opts[8] = {1, 7, 7, 4, 0, 0, 0, 0}; /* NOP, record route (room 1) */
	uint8_t pkt[NIP_IP4_MAX_HLEN + FRAG_MAX];
	int k = (op >> 2) & 3, udp = (op >> 5) & 1;
	size_t optlen = (op & 64) ? sizeof(opts) : 0, hlen = NIP_IP4_HLEN + optlen;
	uint16_t off = fuzz_rd16(&f->prog) & 0x1fff;
	uint32_t n = fuzz_rd8(&f->prog), pos = (uint32_t)off * 8;
	uint32_t src = htonl(TCP_PEER_IP_PEER), dst = htonl(TCP_PEER_IP_STACK);

	if (!(op & 128))
		n *= 8;
	if (n > FRAG_MAX)
		n = FRAG_MAX;
	pkt[0] = (uint8_t)(0x40 | hlen / 4);
	pkt[1] = 0;
	put16(pkt + 2, (uint16_t)(hlen + n));
	put16(pkt + 4, (uint16_t)(0x1000 + k));
	put16(pkt + 6, (uint16_t)((op & 16 ? 0x2000 : 0) | off));
	pkt[8] = 64;
	pkt[9] = udp ? NIP_IPPROTO_UDP : NIP_IPPROTO_ICMP;
	memcpy(pkt + 12, &src, 4);
	memcpy(pkt + 16, &dst, 4);
	memcpy(pkt + NIP_IP4_HLEN, opts, optlen);
	for (uint32_t i = 0; i < n; i++)
		pkt[hlen + i] = byte_at(f, udp, k, pos + i);
	fix_ip_csum(pkt, hlen);
	inject(f, pkt, hlen + n);
}

static void step_raw(struct fz *f)
{
	uint8_t pkt[256];
	uint32_t src = htonl(TCP_PEER_IP_PEER), dst = htonl(TCP_PEER_IP_STACK);
	size_t n = fuzz_rd8(&f->prog), hlen;

	for (size_t i = 0; i < n; i++)
		pkt[i] = fuzz_rd8(&f->prog);
	if (n >= NIP_IP4_HLEN) {
		pkt[9] = 253;
		memcpy(pkt + 12, &src, 4);
		memcpy(pkt + 16, &dst, 4);
		hlen = (size_t)(pkt[0] & 15) * 4;
		if (hlen >= NIP_IP4_HLEN && hlen <= n)
			fix_ip_csum(pkt, hlen);
	}
	inject(f, pkt, n);
}

/* Everything the stack sent and the socket received must be one of the datagrams, whole. */
static void check_output(struct fz *f)
{
	struct nip_test_end *e = &f->peer.wire.end[1];
	struct demi__buf *d;
	uint32_t from;
	uint16_t port;

	while (e->count) {
		struct demi__buf *b = e->q[e->head].buf;
		struct nip_eth eth;
		struct nip_ip4 ip;
		int k;

		e->head = (e->head + 1) % NIP_TEST_QUEUE;
		e->count--;
		FUZZ_CHECK(nip_eth_parse(demi__buf_data(b), b->len, &eth) == 0);
		FUZZ_CHECK(nip_ip4_parse(eth.payload, eth.payload_len, true, &ip) == NIP_IP4_OK);
		FUZZ_CHECK(ip.hlen == NIP_IP4_HLEN && ip.proto == NIP_IPPROTO_ICMP);
		FUZZ_CHECK(ip.dst == htonl(TCP_PEER_IP_PEER) && !nip_ip4_is_fragment(&ip));
		/* The request was the bytes the fragments carried, whatever its length (one
		 * that ends elsewhere than f->len[k] may still sum right). */
		FUZZ_CHECK(ip.payload_len >= 8 && ip.payload[0] == 0);
		k = ip.payload[5] & 3;
		for (size_t i = 4; i < ip.payload_len; i++)
			FUZZ_CHECK(ip.payload[i] == byte_at(f, 0, k, (uint32_t)i));
		demi__buf_put(b);
	}
	while ((d = nip_udp_recv(&f->udp, &from, &port))) {
		int k = (port - 4000) & 3;

		FUZZ_CHECK(port >= 4000 && port < 4000 + NDGRAMS &&
			   from == htonl(TCP_PEER_IP_PEER));
		FUZZ_CHECK(d->len == f->len[k] - 8);
		FUZZ_CHECK(memcmp(demi__buf_data(d), f->dgram[1][k] + 8, d->len) == 0);
		demi__buf_put(d);
	}
}

static void check_state(struct fz *f)
{
	const struct nip_stack *s = f->s;
	const struct nip_counters *c = &s->cnt;
	uint64_t held = s->reass.bytes / f->bufcap;
	uint64_t drops = c->drop_ip4_frag_timeout + c->drop_ip4_frag_mem +
			 c->drop_ip4_frag_overlap + c->drop_ip4_frag_dup +
			 c->drop_ip4_frag_too_long + c->drop_ip4_frag_bad;

	FUZZ_CHECK(nip_ip4_reass_validate(s) == 0);
	FUZZ_CHECK(s->reass.ndgrams <= s->cfg.reass_max_datagrams);
	FUZZ_CHECK(s->reass.bytes <= s->cfg.reass_max_bytes);
	FUZZ_CHECK(s->reass.bytes % f->bufcap == 0);
	FUZZ_CHECK(pool.stats.bufs_in_use == held); /* only held fragments remain */
	FUZZ_CHECK(held >= s->reass.ndgrams);
	FUZZ_CHECK(c->ip4_frags_rx >= held + drops + 2 * c->ip4_reassembled);
	if (s->reass.ndgrams)
		FUZZ_CHECK(nip_stack_next_deadline(s) <= s->now + s->cfg.reass_timeout_ns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nip_stack_config cfg;
	struct fz *f = &fz;
	struct demi__buf *probe;
	uint8_t c0;

	if (!pool_ready) {
		FUZZ_CHECK(demi__pool_init(&pool, 0) == 0);
		pool_ready = true;
	}
	memset(f, 0, sizeof(*f));
	f->prog.p = data;
	f->prog.n = size;
	c0 = fuzz_rd8(&f->prog);
	datagrams(f);
	probe = demi__pool_get(&pool, NIP_ETH_HLEN + NIP_IP4_MAX_HLEN + FRAG_MAX);
	FUZZ_CHECK(probe);
	f->bufcap = probe->cap;
	demi__buf_put(probe);

	nip_stack_config_default(&cfg);
	cfg.reass_max_datagrams = 1 + (c0 & 7);
	cfg.reass_max_bytes = (1 + ((c0 >> 3) & 3)) * 8192;
	if (c0 & 32)
		cfg.reass_timeout_ns = 1 * SEC;
	FUZZ_CHECK(tcp_peer_init(&f->peer, &pool, &cfg, 1500) == 0);
	f->s = &f->peer.s;
	nip_udp_sock_init(&f->udp, f->s);
	FUZZ_CHECK(nip_udp_bind(&f->udp, 0, UDP_PORT) == 0);

	for (int steps = 0; steps < MAX_STEPS && fuzz_prog_more(&f->prog); steps++) {
		uint8_t op = fuzz_rd8(&f->prog);

		switch (op & 3) {
		case 0:
		case 1:
			step_fragment(f, op);
			break;
		case 2:
			FUZZ_CHECK(tcp_peer_clock_to(&f->peer,
						     f->peer.now + fuzz_rd8(&f->prog) * 250 * MS,
						     100) == 0);
			break;
		default:
			step_raw(f);
			break;
		}
		check_output(f);
		check_state(f);
	}
	/* Every datagram times out; nothing stays. */
	FUZZ_CHECK(tcp_peer_clock_to(&f->peer, f->peer.now + cfg.reass_timeout_ns, 100) == 0);
	check_output(f);
	check_state(f);
	FUZZ_CHECK(f->s->reass.ndgrams == 0 && f->s->reass.bytes == 0);
	FUZZ_CHECK(nip_stack_next_deadline(f->s) == UINT64_MAX);
	nip_udp_close(&f->udp);
	tcp_peer_fini(&f->peer);
	FUZZ_CHECK(pool.stats.bufs_in_use == 0);
	return 0;
}
