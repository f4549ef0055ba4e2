/* SPDX-License-Identifier: MIT */
/*
 * A TCP peer with no stack, for tests and fuzzers of catnip's TCP: a catnip stack on end 0 of
 * the in-memory test wire (catnip/dev/test_link.h), a virtual clock, and the peer on end 1,
 * which builds Ethernet + IPv4 + TCP segments with the wire/ emitters (correct checksums, or
 * malformed on purpose) and captures what the stack sends, parsed with the wire/ parsers
 * (checksums verified). The packet scripts (tests/inet/tcp_script.c) and the connection fuzzer
 * (tests/fuzz/fuzz_tcp_conn.c) both drive the stack through it.
 *
 * The clock only moves forward, and from event to event: a frame arriving at the stack or
 * the stack's next deadline (nip_stack_next_deadline), so every timer fires at its exact time.
 *
 * No test framework here: calls return >= 0 or -errno and the caller asserts its own way.
 * Call order: tcp_peer_init, then any inject / clock / take calls, then tcp_peer_fini.
 */
#ifndef TCP_PEER_H
#define TCP_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "dev/test_link.h"
#include "mem/buf.h"
#include "stack.h"
#include "wire/tcp.h"

#define TCP_PEER_IP_STACK 0x0a000001u /* host order */
#define TCP_PEER_IP_PEER 0x0a000002u

struct tcp_peer {
	struct demi__pool *pool;
	uint64_t now; /* the virtual clock (ns), also the wire's */
	struct nip_test_wire wire;
	struct nip_stack s;
	/* Called after every poll of the stack (NULL: none), e.g. to read what it sent. */
	void (*after_poll)(struct tcp_peer *p, void *ctx);
	void *ctx;
};

/* A segment for the peer to send. h holds ports, seq, ack, flags, win, urg and options; the
 * payload is data, or when data is NULL fill(seq, fill_ctx) for each byte's sequence number. */
struct tcp_peer_seg {
	struct nip_tcp_seg h;
	uint32_t len;
	const uint8_t *data;
	uint8_t (*fill)(uint32_t seq, const void *ctx);
	const void *fill_ctx;
	const uint8_t *raw_opt; /* option bytes instead of h.opt, raw_opt_len a multiple of 4 */
	uint8_t raw_opt_len;
	bool doff_set; /* a data offset of doff (32-bit words) instead of the real one */
	uint8_t doff;
	bool bad_csum;
};

/* A segment the stack sent, parsed; seg.payload points into data. */
struct tcp_peer_rx {
	uint64_t t; /* when it was sent */
	struct nip_tcp_seg seg;
	uint8_t data[2048];
};

/* The stack with cfg (its ip is set to TCP_PEER_IP_STACK) on a wire of this IP MTU, the peer
 * in its ARP table, the clock at 1 s (a time of 0 means "not armed" in places). 0, -errno. */
int tcp_peer_init(struct tcp_peer *p, struct demi__pool *pool, const struct nip_stack_config *cfg,
		  uint16_t mtu);
/* Stops the stack and the wire (frames still in flight are freed). */
void tcp_peer_fini(struct tcp_peer *p);

/* The next time something happens without the peer: a frame reaches the stack, or the stack's
 * next deadline. UINT64_MAX: never. */
uint64_t tcp_peer_next_event(const struct tcp_peer *p);
/* Polls the stack at every event up to t, then at t (the clock ends at t, or stays if t is in
 * the past). 0, or -ELOOP after max_steps events (a timer that keeps firing at once). */
int tcp_peer_clock_to(struct tcp_peer *p, uint64_t t, int max_steps);
/* Lets every deadline up to now + horizon run out, dropping what the stack sends meanwhile
 * (after after_poll saw it). 0, or -ELOOP. */
int tcp_peer_run_out(struct tcp_peer *p, uint64_t horizon, int max_steps);

/* Sends sg from the peer now, and polls the stack so it processes it at once.
 * 0; -ENOMEM (no buffer: nothing sent, no poll); -ENOBUFS (the wire refused it). */
int tcp_peer_inject(struct tcp_peer *p, const struct tcp_peer_seg *sg);

/* The oldest frame the stack sent and the peer did not take yet: 1 and *out when it is a valid
 * TCP segment from the stack to the peer, 0 when there is none; -EPROTONOSUPPORT for a valid
 * IPv4 packet of another protocol; -EBADMSG for anything malformed or misaddressed (a wrong
 * checksum, a payload larger than the MTU allows). The frame is consumed in every case. */
int tcp_peer_take(struct tcp_peer *p, struct tcp_peer_rx *out);
/* Drops every frame the stack sent that the peer did not take. */
void tcp_peer_discard(struct tcp_peer *p);

#endif
