/* SPDX-License-Identifier: MIT */
/*
 * Packet-level scripts against one TCP: a catnip stack on end 0 of the in-memory test wire,
 * and the test itself as the peer on end 1, with no stack. The peer crafts Ethernet + IPv4 +
 * TCP segments with the wire/ emitters (correct checksums, any options, or raw malformed
 * option bytes) and injects them at a virtual time; it reads what the stack sent from end 1's
 * receive queue, parses it with the wire/ parsers (checksums verified) and asserts on it.
 *
 * Sequence numbers in scripts are relative: the stack's relative to its ISS (its SYN is 0, its
 * first data byte 1), the peer's relative to the peer's ISS (SC_PEER_ISS). The clock is jumped
 * from timer deadline to timer deadline, so the time a segment was sent is exact and gaps
 * between retransmissions can be measured to the nanosecond.
 *
 * The peer itself (frames, clock, capture) is tests/helpers/tcp_peer.h, shared with the
 * connection fuzzer; this file adds relative sequence numbers, data patterns, the flow's options
 * and cmocka assertions.
 *
 * Call order: sc_create (or a fixture, sc_setup_*), then any script steps, then sc_destroy (or
 * sc_teardown), which closes the listener, lets every timer run out, and asserts that no
 * connection and no buffer is left.
 */
#ifndef TCP_SCRIPT_H
#define TCP_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>

#include "stack.h"
#include "tcp/tcp.h"
#include "tcp_peer.h"

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull

#define SC_IP_STACK TCP_PEER_IP_STACK /* host order */
#define SC_IP_PEER TCP_PEER_IP_PEER
#define SC_PORT 5001 /* the stack's port */
#define SC_PEER_PORT 40000
#define SC_PEER_ISS 1000000u
#define SC_ANY 0xffffffffu /* for seq, ack, len: do not check */

/* Options the peer puts in its SYN (or SYN-ACK). */
struct sc_syn_opts {
	bool mss, ws, sack, ts;
	uint16_t mss_val;
	uint8_t ws_val;
};

/* A segment the stack sent, parsed. */
struct sc_seg {
	uint64_t t; /* when it was sent */
	uint8_t flags;
	uint32_t seq, ack;   /* absolute */
	uint32_t rseq, rack; /* relative to the stack's ISS and the peer's ISS */
	uint16_t win;	     /* field as sent */
	uint16_t sport, dport;
	struct nip_tcp_opts opt;
	uint32_t len;
	uint8_t data[2048];
};

/* A segment to inject: seq/ack relative unless abs; every other field optional. */
struct sc_pkt {
	uint8_t flags;
	uint32_t seq, ack;
	bool abs;
	uint16_t sport, dport; /* 0: the flow's */
	bool win_set;
	uint16_t win; /* default: the flow's peer_win */
	bool no_ts;   /* leave out the timestamps the flow negotiated */
	bool ts_set;
	uint32_t tsval;			/* with ts_set: this TSval instead of the peer's clock */
	const struct nip_tcp_opts *opt; /* replaces the flow's options entirely */
	const uint8_t *raw_opt; /* raw option bytes (malformed on purpose), len a multiple of 4 */
	uint8_t raw_opt_len;
	uint8_t doff;  /* nonzero: this data offset (32-bit words) instead of the real one */
	bool bad_csum; /* a wrong checksum */
	uint32_t len;  /* payload: the peer's pattern at seq, or data */
	const uint8_t *data;
};

struct sc {
	struct demi__pool pool;
	struct tcp_peer p;   /* the stack, the wire and the clock (p.now) */
	struct nip_stack *s; /* &p.s */
	struct nip_tcp_conn *listener;
	struct nip_tcp_conn *conn; /* the connection a fixture opened (sc_setup_*) */
	unsigned events;	   /* every on_event of the stack's connections, or-ed */
	unsigned listener_events;
	/* The peer's side of the flow under script. */
	uint16_t peer_port;
	uint32_t peer_iss;  /* the peer's ISS */
	uint32_t iss;	    /* the stack's ISS, learned from its SYN or SYN-ACK */
	bool ts, ws, sack;  /* negotiated with the stack */
	uint8_t peer_ws;    /* shift the peer offered (its window field is scaled by it) */
	uint16_t peer_win;  /* window field the peer sends */
	uint32_t ts_recent; /* the stack's last TSval (the peer echoes it) */
	uint32_t peer_ts_base;
	uint64_t pushed; /* bytes pushed by sc_push: the stack's data pattern offset */
	uint64_t popped; /* bytes read by sc_pop: the peer's data pattern offset */
	struct sc_seg last;
};

/* The defaults the scripts use: nip_stack_config_default with a fixed ISN secret. */
void sc_config_default(struct nip_stack_config *cfg);
struct nip_stack_config sc_config(void); /* the same, as a value */
struct sc *sc_create(const struct nip_stack_config *cfg);
void sc_destroy(struct sc *sc);

/* cmocka fixtures: *state is the struct sc. sc_setup: a stack (default config); _listen: with a
 * listener (backlog 16); _passive / _active: with an established connection in sc->conn, every
 * option on (sc_all_opts); _plain: the peer offers none (sc_no_opts). sc_teardown: sc_destroy,
 * asserting that no connection and no buffer is left. A test that needs its own config takes
 * sc_teardown alone and calls sc_start. */
int sc_setup(void **state);
int sc_setup_listen(void **state);
int sc_setup_passive(void **state);
int sc_setup_passive_plain(void **state);
int sc_setup_active(void **state);
int sc_setup_active_plain(void **state);
int sc_teardown(void **state);
struct sc *sc_start(void **state, const struct nip_stack_config *cfg);
void sc_event(void *ctx, unsigned events); /* an on_event callback recording into sc */

/* Advances the virtual clock to t (absolute) / by dt, firing timers at their exact deadlines. */
void sc_at(struct sc *sc, uint64_t t);
void sc_wait(struct sc *sc, uint64_t dt);

/* The TSval the peer sends now (its clock: 1 ms ticks from peer_ts_base). */
uint32_t sc_peer_tsval(const struct sc *sc);
/* Injects a segment from the peer, now; the stack processes it at once. */
void sc_inject(struct sc *sc, const struct sc_pkt *p);
/* The common case: flags, relative seq and ack, len bytes of the peer's pattern. */
void sc_send(struct sc *sc, uint8_t flags, uint32_t rseq, uint32_t rack, uint32_t len);
/* The peer's SYN (no ACK), or SYN-ACK to the stack's SYN, with these options. */
void sc_send_syn(struct sc *sc, const struct sc_syn_opts *o, bool ack);

/* The next segment the stack sends, waiting at most within ns of virtual time (timers run). */
struct sc_seg *sc_next(struct sc *sc, uint64_t within, const char *file, int line);
/* As sc_next, then checks flags (PSH ignored), seq, ack and len (SC_ANY: not checked) and that
 * the payload is the stack's push pattern at its offset. */
struct sc_seg *sc_expect_(struct sc *sc, uint8_t flags, uint32_t rseq, uint32_t rack, uint32_t len,
			  uint64_t within, const char *file, int line);
/* Nothing is sent for dt (the clock advances by dt). */
void sc_expect_nothing_(struct sc *sc, uint64_t dt, const char *file, int line);
#define EXPECT(sc, flags, seq, ack, len, within)                                                   \
	sc_expect_((sc), (flags), (seq), (ack), (len), (within), __FILE__, __LINE__)
#define EXPECT_NOTHING(sc, dt) sc_expect_nothing_((sc), (dt), __FILE__, __LINE__)
#define NEXT(sc, within) sc_next((sc), (within), __FILE__, __LINE__)
/* Segments the stack sent and nobody read yet: dropped. */
void sc_flush(struct sc *sc);

/* User side. */
/* A listener on SC_PORT with this backlog. */
void sc_listen(struct sc *sc, uint32_t backlog);
/* Pushes len bytes of the stack's pattern on c; returns nip_tcp_send's result. */
int sc_push(struct sc *sc, struct nip_tcp_conn *c, uint32_t len);
/* Pops everything c has; checks the peer's pattern; returns the bytes read and *status of the
 * last nip_tcp_recv. */
uint32_t sc_pop(struct sc *sc, struct nip_tcp_conn *c, int *status);

/* Handshakes as scripts. Passive: SYN with o, SYN-ACK expected, ACK; returns the accepted
 * connection. Active: connect, SYN expected, SYN-ACK with o, ACK expected. The peer answers
 * after SC_HANDSHAKE_RTT, so the connection starts with srtt 10 ms (the stack samples its
 * handshake) and an RTO of 200 ms (the floor). */
#define SC_HANDSHAKE_RTT (10 * MS)
struct nip_tcp_conn *sc_passive_open(struct sc *sc, const struct sc_syn_opts *o);
struct nip_tcp_conn *sc_active_open(struct sc *sc, const struct sc_syn_opts *o);
/* Every option on: MSS 1460, window scale 7, SACK-permitted, timestamps. */
extern const struct sc_syn_opts sc_all_opts;
extern const struct sc_syn_opts sc_no_opts;

/* Sequences the scripts repeat. Sequence numbers are relative (snd: the stack's, rseq and rcv:
 * the peer's). */
/* Active close of an established connection: FIN, the peer's FIN-ACK, our last ACK; the
 * connection is in TIME-WAIT. */
void sc_close(struct sc *sc, struct nip_tcp_conn *c, uint32_t snd, uint32_t rcv);
/* Closes c with a reset (SO_LINGER 0); the caller expects or drops the RST. */
void sc_close_rst(struct nip_tcp_conn *c);
/* The peer sends len bytes at rseq acknowledging our snd, and the stack ACKs them at once. */
void sc_peer_data(struct sc *sc, uint32_t rseq, uint32_t snd, uint32_t len);
/* Pushes len bytes and expects them at once in segments of mss from seq (acknowledging ack);
 * returns when the first left. */
uint64_t sc_flight(struct sc *sc, struct nip_tcp_conn *c, uint32_t len, uint32_t seq, uint32_t ack,
		   uint32_t mss);
/* Expects the same segment again and again after gaps doubling from first to last, the first
 * counted from t; returns when the last left. */
uint64_t sc_backoff(struct sc *sc, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
		    uint64_t t, uint64_t first, uint64_t last);
/* An exact RST at rseq ends a connection; nconns are left and nothing is sent for 10 s. */
void sc_rst_ends(struct sc *sc, uint32_t rseq, uint32_t nconns);
/* The owner's view of a connection that failed with err: closed, readable, recv reports it. */
void sc_failed_with(struct sc *sc, struct nip_tcp_conn *c, int err);
/* The peer acknowledges ack with timestamps and n SACK blocks (start, end pairs, relative). */
void sc_sack_ack(struct sc *sc, uint32_t ack, int n, const uint32_t *blocks);
#define SC_SACK1(a, b)                                                                             \
	1, (const uint32_t[])                                                                      \
	{                                                                                          \
		a, b                                                                               \
	}
#define SC_SACK2(a, b, c, d)                                                                       \
	2, (const uint32_t[])                                                                      \
	{                                                                                          \
		a, b, c, d                                                                         \
	}
/* Expects an ACK (seq snd, ack) with n SACK blocks, the first (the newest) [start, end) in the
 * peer's sequence numbers (start or end 0: not checked). */
void sc_expect_sack(struct sc *sc, uint32_t snd, uint32_t ack, int n, uint32_t start, uint32_t end);
/* Gives c (mss 1448, nothing in flight, its next byte 1) a smoothed RTT of exactly rtt: 100
 * bytes acknowledged rtt later; its next byte is 101. */
void sc_rtt_sample(struct sc *sc, struct nip_tcp_conn *c, uint64_t rtt);

/* The stack's pattern byte at stream offset i (what sc_push sends), and the peer's. */
static inline uint8_t sc_pat_stack(uint64_t i)
{
	return (uint8_t)(i * 7 + 3 + (i >> 8));
}

static inline uint8_t sc_pat_peer(uint64_t i)
{
	return (uint8_t)(i * 13 + 5 + (i >> 8));
}

#endif
