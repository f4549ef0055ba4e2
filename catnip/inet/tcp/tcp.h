/* SPDX-License-Identifier: MIT */
/*
 * TCP (RFC 9293) for catnip's stack: the connection block and the calls the stack (stack.c,
 * ip4.c), the libOS (catnip.c) and the tests make. Like the rest of inet/, TCP does no I/O and
 * reads no clock: segments come in through nip_tcp_input with the stack's current time
 * (s->now), timers run from nip_tcp_poll(now) (due next at nip_tcp_timer_next_due), and
 * segments leave through nip_ip4_output (or, once established, the connection's route:
 * ip4_route.h).
 *
 * Call order: nip_tcp_init (from nip_stack_init); then, in any order, nip_tcp_input for each
 * segment, nip_tcp_poll, nip_tcp_flush_acks and nip_tcp_tx_resume after each received burst,
 * and the user calls; nip_tcp_fini frees every connection.
 *
 * Files: tcp.c (life cycle, ports, demultiplexing, user calls, event delivery), tcp_listen.c
 * (passive open, SYN and accept queues), tcp_cookie.c (SYN cookies when a SYN queue is full),
 * tcp_input.c (per-state segment processing), tcp_output.c (what to send and building
 * segments), tcp_sack.c (sender scoreboard, RFC 6675), tcp_rack.c (RACK-TLP loss detection
 * and tail loss probe, RFC 8985), tcp_reass.c (out-of-order data),
 * tcp_timer.c (RTO, probe, persist, keepalive, delayed ACK, TIME_WAIT timers), cc*.c
 * (congestion control), tcp_seq.h (sequence arithmetic). What those files call of each other
 * is in tcp_priv.h, not here.
 *
 * Buffers: a push hands the stack a reference to the pushed pool buffer; the send queue and
 * the retransmission queue are that same buffer (no copy into a socket buffer). A segment's
 * payload is copied into its frame, or, when the link chains frames (NIP_OFF_TX_CHAIN) and
 * the payload is large enough to pay for a second descriptor, the frame holds only the headers
 * and is chained to the pushed buffer itself (zero copy; tcp_output.c). Received in-order data
 * waits for pops as the very frame buffers it arrived in, trimmed to the payload.
 *
 * Events: the stack tells the owner of a connection what changed through on_event (readable:
 * data, end of stream or an error; writable: send buffer space; connected; acceptable: a
 * listener has a connection to accept). They are recorded while a segment, a timer or a user
 * call is processed and delivered once it is done (nip_tcp_deliver), so a callback that calls
 * back into the stack sees the whole segment's effect. A connection closed by its owner
 * (nip_tcp_close) lives on in the stack until its FIN exchange and TIME_WAIT are over, then
 * is freed by the stack.
 */
#ifndef NIP_TCP_H
#define NIP_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "cc.h"
#include "ip4_route_types.h"
#include "list.h"
#include "mem/buf.h"
#include "tcp_reass.h"
#include "wire/ip4.h"
#include "wire/tcp.h"

struct nip_stack;

enum nip_tcp_state {
	NIP_TCP_CLOSED,
	NIP_TCP_LISTEN,
	NIP_TCP_SYN_SENT,
	NIP_TCP_SYN_RCVD,
	NIP_TCP_ESTABLISHED,
	NIP_TCP_FIN_WAIT_1,
	NIP_TCP_FIN_WAIT_2,
	NIP_TCP_CLOSE_WAIT,
	NIP_TCP_CLOSING,
	NIP_TCP_LAST_ACK,
	NIP_TCP_TIME_WAIT,
};

enum {
	NIP_TCP_EV_READABLE = 1u << 0,
	NIP_TCP_EV_WRITABLE = 1u << 1,
	NIP_TCP_EV_CONNECTED = 1u << 2,
	NIP_TCP_EV_ACCEPTABLE = 1u << 3,
};
typedef void (*nip_tcp_event_cb)(void *ctx, unsigned events);

/* Timers of one connection (tcp_timer.c); 0 = not armed. */
enum nip_tcp_timer {
	NIP_TCPT_RTO,	  /* retransmission, SYN retries */
	NIP_TCPT_PERSIST, /* zero-window probes */
	NIP_TCPT_DELACK,
	NIP_TCPT_KEEPALIVE,
	NIP_TCPT_2MSL, /* TIME_WAIT, and FIN_WAIT_2 of a closed connection */
	NIP_TCPT_PTO,  /* tail loss probe (RFC 8985 7), before the RTO */
	NIP_TCPT_REO,  /* RACK's reordering timer (RFC 8985 6.2 step 5) */
	NIP_TCPT_N,
};

/* Configuration of the stack's TCP (nip_stack_config.tcp); times in ns. */
struct nip_tcp_config {
	uint32_t rcvbuf, sndbuf; /* default socket buffer sizes, bytes */
	uint32_t rcvbuf_max;	 /* receive autotuning grows rcvbuf up to this; <= rcvbuf: off */
	uint32_t sndbuf_max;	 /* send autotuning grows sndbuf up to this; <= sndbuf: off */
	uint64_t rto_init, rto_min, rto_max;
	uint32_t max_retries; /* retransmissions of one segment before ETIMEDOUT */
	uint32_t syn_retries;
	uint64_t delack; /* delayed ACK timeout; 0 = ACK every segment at once */
	uint64_t msl;	 /* TIME_WAIT lasts 2 * msl */
	uint64_t keepalive_idle, keepalive_intvl;
	uint32_t keepalive_probes;
	uint32_t syn_backlog;	       /* connections in SYN_RCVD per listener */
	uint32_t max_conns;	       /* connections of every state held at once (0: no limit) */
	uint32_t listen_backlog_max;   /* listen backlogs are capped to this (Linux's somaxconn) */
	uint32_t challenge_ack_per_s;  /* RFC 5961 7: challenge ACKs per second (whole stack) */
	bool nodelay;		       /* default TCP_NODELAY (true: no Nagle) */
	bool sack, wscale, timestamps; /* offer these options */
	bool syncookies; /* a full SYN queue answers with SYN cookies (tcp_cookie.c) */
	const struct nip_tcp_cc_ops *cc;
	uint8_t isn_secret[16]; /* RFC 6528 secret key (the libOS fills it with random bytes) */
	/* The device's receive buffers (tcp_mem.c): pressure from this share of them held on,
	 * critical from that one (percent; 0 takes the default, 50 and 85). */
	uint32_t mem_pressure_pct, mem_critical_pct;
};

/* A contiguous piece of the send queue: len bytes at data, inside buf (one reference). */
struct nip_tcp_chunk {
	struct nip_tcp_chunk *next;
	struct demi__buf *buf;
	uint8_t *data;
	uint32_t len;
};

/* Sender's SACK scoreboard (RFC 6675): SACKed ranges above snd_una, sorted, disjoint. */
#define NIP_TCP_SCOREBOARD 16
struct nip_tcp_scoreboard {
	struct nip_tcp_sack_block r[NIP_TCP_SCOREBOARD];
	uint8_t n;
	uint32_t sacked; /* bytes in r[] */
};

/* One transmitted segment (RACK's per-segment state, RFC 8985 5.2): [start, end) of the send
 * queue, when it last left, and what became of it (NIP_TCP_TX_*). */
struct nip_tcp_txseg {
	uint64_t xmit_ts;
	uint32_t start, end;
	uint8_t flags;
};
enum {
	NIP_TCP_TX_RXT = 1u << 0,    /* sent more than once */
	NIP_TCP_TX_LOST = 1u << 1,   /* marked lost, not sent again since */
	NIP_TCP_TX_SACKED = 1u << 2, /* the peer holds it (SACK) */
};

/* RACK-TLP (RFC 8985, tcp_rack.c): the segments in flight in sequence order (a ring allocated
 * when the connection is established, for its largest flight) and the RACK variables. */
struct nip_tcp_rack {
	struct nip_tcp_txseg *seg;
	uint32_t head, n, cap; /* cap: 0 or a power of two */
	uint64_t xmit_ts;      /* RACK.xmit_ts of the most recently sent segment delivered */
	uint32_t end_seq;      /* RACK.end_seq */
	uint64_t rtt;	       /* RACK.rtt (0: nothing delivered yet) */
	uint64_t min_rtt;      /* RACK.min_RTT (0: no sample) */
	uint32_t fack;	       /* RACK.fack: highest end delivered, once fack_set */
	uint32_t lost_bytes;   /* in segments flagged LOST */
	uint32_t sacked_segs;  /* segments flagged SACKED */
	uint32_t dsack_round;  /* RACK.dsack_round, while dsack_round_set */
	uint8_t reo_wnd_mult, reo_wnd_persist;
	bool fack_set, dsack_round_set, reordering_seen;
};

struct nip_tcp_listener;

struct nip_tcp_conn {
	struct nip_stack *s;
	enum nip_tcp_state state;
	uint32_t local_ip, remote_ip;	  /* network order */
	uint16_t local_port, remote_port; /* host order */
	bool bound, owned;		  /* owned: the application has not closed it */
	bool in_hash, in_accept_queue;
	struct nip_tcp_conn *hnext;	   /* demultiplexing hash chain */
	struct nip_tcp_listener *listener; /* the listener a passive open came from */
	struct demi__list qlink;	   /* on the listener's SYN or accept queue */
	int err; /* positive errno once the connection failed (ECONNRESET, ETIMEDOUT, ...) */

	nip_tcp_event_cb on_event;
	void *ctx;
	/* Events that input or a timer recorded (nip_tcp_notify), delivered when it is done
	 * (nip_tcp_deliver); ev_link is on the stack's ev_pending list while any is set. */
	unsigned ev_pending;
	struct demi__list ev_link;

	/* Send sequence space (RFC 9293 3.3.1). */
	uint32_t iss, snd_una, snd_nxt, snd_max; /* snd_max: highest ever sent */
	uint32_t snd_wnd;			 /* bytes, scaled */
	uint32_t max_snd_wnd; /* largest window the peer offered (RFC 5961 5.2) */
	uint32_t snd_wl1, snd_wl2;
	uint8_t snd_wscale; /* the peer's shift */
	uint16_t mss;	    /* payload bytes per segment we send (SMSS) */
	/* Send queue: data from snd_una on (acknowledged data is dropped from the front). */
	struct nip_tcp_chunk *sq_head, *sq_tail;
	struct nip_tcp_chunk *sq_cur; /* where the last copy ended, to find snd_nxt fast */
	uint32_t sq_cur_seq;	      /* sequence number of sq_cur->data */
	uint32_t sq_bytes;	      /* bytes in the queue, SYN/FIN excluded */
	uint32_t sndbuf;
	bool snd_auto; /* send autotuning (tcp_input.c), off once the application sets SO_SNDBUF */
	bool fin_queued; /* close asked: FIN after the queued data */
	bool fin_sent;
	uint32_t fin_seq;

	/* Receive sequence space. */
	uint32_t irs, rcv_nxt;
	uint32_t rcv_adv;   /* right edge of the window we last advertised */
	uint8_t rcv_wscale; /* our shift */
	uint16_t peer_mss;
	uint32_t rcvbuf;
	/* Receive autotuning (tcp.c: rcv_autotune), off once the application sets SO_RCVBUF:
	 * bytes popped since the measurement began at rcv_epoch_t0. */
	bool rcv_auto;
	uint32_t rcv_epoch_bytes;
	uint64_t rcv_epoch_t0;
	struct demi__buf_fifo rq; /* in-order data for pops */
	uint32_t rq_bytes;
	uint64_t rq_mem;   /* sum of cap of queued buffers (memory bound) */
	bool fin_rcvd;	   /* the peer's FIN is in sequence (end of stream after rq) */
	bool rfin_pending; /* the peer's FIN arrived out of order, at rfin_seq */
	uint32_t rfin_seq;
	struct nip_tcp_reass reass;
	uint32_t segs_unacked;	    /* full segments received since our last ACK */
	bool ack_now;		    /* send an ACK at the end of this input */
	struct demi__list ack_link; /* on the stack's ack_pending list (ACK at the end of poll) */
	struct demi__list tx_link;  /* on the stack's tx_wait list (device ring was full) */
	uint8_t quickacks; /* ACK at once this many more segments (start of a connection) */

	/* Options. */
	bool sack_ok, ts_ok, ws_ok;
	/* The headers' constant fields (TCP: ports and the pseudo-header's sum; IPv4: the
	 * whole header but length, identification and checksum, in route.ip), built by
	 * nip_tcp_established: tcp_output.c writes the segments of a synchronized connection
	 * from them. route's Ethernet header lets those segments skip ARP while
	 * nip_ip4_route_valid holds; when it does not, a segment takes ARP's path (renewal,
	 * resolution) and the route is built again once the mapping is usable. */
	bool tmpl_ok;
	struct nip_tcp_tmpl tmpl;
	struct nip_ip4_route route;
	uint32_t ts_recent; /* RFC 7323 4.3 */
	uint64_t ts_recent_age;
	uint32_t ts_offset; /* added to our clock in TSval */
	uint32_t last_ack_sent;
	bool nodelay, keepalive;
	bool linger_zero; /* SO_LINGER with timeout 0: close sends RST */

	/* RTT and retransmission (RFC 6298). */
	uint64_t srtt, rttvar, rto; /* ns; srtt 0 = no sample yet */
	uint32_t tlp_end;	    /* snd_max when a tail loss probe went out; 0 = none pending */
	uint32_t tlp_seq;	    /* the probe's first byte */
	bool tlp_rxt;		    /* that probe was a retransmission */
	uint32_t rtt_seq;	    /* timing this sequence number (no timestamps) */
	uint64_t rtt_start;	    /* 0 = not timing */
	uint32_t retries;	    /* consecutive timeouts */
	uint32_t persist_shift;
	uint32_t keepalive_sent;
	uint64_t last_rx; /* for keepalive */

	/* Loss recovery (RFC 5681, RFC 6582, RFC 6675). */
	struct nip_tcp_cc cc;
	const struct nip_tcp_cc_ops *cc_ops;
	uint32_t dupacks;
	bool in_recovery;
	uint32_t recover; /* snd_max when recovery started */
	struct nip_tcp_scoreboard sb;
	struct nip_tcp_rack rack;

	/* Timers: deadlines by enum nip_tcp_timer (armed: a bit per armed one), and the
	 * connection's place in the stack's timer heap, keyed by due: never later than the
	 * earliest armed deadline, possibly earlier (tcp_timer.c keeps the heap lazily). */
	uint64_t timer[NIP_TCPT_N];
	uint64_t due;
	uint32_t heap_idx; /* 0 = not in the heap */
	uint8_t armed;
};

struct nip_tcp_listener {
	struct nip_tcp_conn *conn;  /* in state LISTEN */
	struct demi__list syn_q;    /* SYN_RCVD connections */
	struct demi__list accept_q; /* established, waiting for accept */
	uint32_t syn_len, accept_len;
	uint32_t backlog;
	uint64_t cookie_time; /* when it last answered a SYN with a cookie (0: never) */
};

/* TCP's part of the stack (struct nip_stack.tcp). */
struct nip_tcp_stack {
	struct nip_tcp_conn **hash; /* by 4-tuple */
	uint32_t hash_mask;
	uint32_t nconns;
	struct nip_tcp_conn **ports; /* bound local ports: the listener or first user */
	uint16_t *port_users;	     /* connections using each local port */
	uint16_t next_ephemeral;
	struct nip_tcp_conn **heap; /* timer heap, 1-based */
	uint32_t heap_len, heap_cap;
	uint64_t challenge_window; /* second of the current challenge ACK budget */
	uint32_t challenge_sent;
	/* Send-queue chunks come from this free list, which grows on demand and never shrinks
	 * before fini: a steady state allocates nothing. */
	struct nip_tcp_chunk *chunk_free;
	/* Connections owed an ACK for in-order data: sent once the received burst has been
	 * processed (one ACK per burst and connection instead of one per two segments). */
	struct demi__list ack_pending;
	/* Connections that had segments to send when the device's ring was full. */
	struct demi__list tx_wait;
	/* Connections with events to deliver (ev_pending): the segment or timer that caused
	 * them is processed to the end first, then their callbacks run. */
	struct demi__list ev_pending;
	/* SYN cookie keys of the two latest periods (tcp_cookie.c), slot = period & 1;
	 * cookie_period holds period + 1 (0: slot empty). */
	uint8_t cookie_key[2][16];
	uint64_t cookie_period[2];
	/* Receive memory pressure (tcp_mem.c), derived once per poll from the device's free
	 * receive buffers: enum nip_tcp_mem_level, and under pressure the window each connection
	 * may still open (bytes). */
	uint8_t mem_level;
	uint32_t mem_rcv_share;
	/* The pressure and critical thresholds in buffers, for mem_bufs buffers (0: not yet). */
	uint32_t mem_bufs, mem_on_p, mem_on_c;
	/* While the level is OK and the device still has mem_bufs buffers, fewer than mem_quiet
	 * held change nothing: nip_stack_poll then skips nip_tcp_mem_update (0: never skips). */
	uint32_t mem_quiet;
};

/* How short the device is of receive buffers (tcp_mem.c). */
enum nip_tcp_mem_level {
	NIP_TCP_MEM_OK,	      /* zero copy everywhere */
	NIP_TCP_MEM_PRESSURE, /* windows stop opening past a share, pushes copy received data */
	NIP_TCP_MEM_CRITICAL, /* out-of-order data pruned, in-order data copied out */
};

/* Defaults: 256 KiB buffers, RTO 1 s initial / 200 ms min / 60 s max, 15 retries, 6 SYN retries,
 * delayed ACK 20 ms, MSL 30 s, keepalive 2 h / 75 s / 9, NewReno, all options on, SYN cookies
 * on. */
void nip_tcp_config_default(struct nip_tcp_config *cfg);
int nip_tcp_init(struct nip_stack *s);
void nip_tcp_fini(struct nip_stack *s);
/* Runs due timers. Returns how many fired. */
int nip_tcp_poll(struct nip_stack *s, uint64_t now);
/* The earliest deadline of any connection's timer (ns), UINT64_MAX when none is armed
 * (nip_stack_next_deadline's TCP part); early, never late: a timer cleared or moved later since
 * the last nip_tcp_poll may still count at its old deadline. */
uint64_t nip_tcp_timer_next_due(const struct nip_tcp_stack *t);
/* What a receiving pass needs to know of the timer heap, without a call: the due time of its
 * top (UINT64_MAX when empty), or 0 when the top has no timer armed any more (nip_tcp_poll
 * takes such a top off, so that nip_tcp_timer_next_due tells the truth again). */
static inline uint64_t nip_tcp_timer_top(const struct nip_tcp_stack *t)
{
	const struct nip_tcp_conn *c = t->heap_len ? t->heap[1] : NULL; /* tcp_timer.c's min */

	if (!c)
		return UINT64_MAX;
	return c->armed ? c->due : 0;
}
/* Derives the memory pressure from the link's receive buffers (nip_stack_poll calls it after
 * each rx_burst, before the frames are processed) and acts on a change of level. */
void nip_tcp_mem_update(struct nip_stack *s);
/* Sends the ACKs deferred while a burst of segments was processed (nip_stack_poll calls it
 * after each burst). */
void nip_tcp_flush_acks(struct nip_stack *s);
/* Lets the connections that stopped at a full device ring send again, while it has room
 * (nip_stack_poll calls it after each burst). */
void nip_tcp_tx_resume(struct nip_stack *s);
/* A TCP segment (the IP payload) arrived in frame (consumed). */
void nip_tcp_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *seg, size_t len,
		   uint32_t src, uint32_t dst);

/* The user calls. */
struct nip_tcp_conn *nip_tcp_create(struct nip_stack *s, nip_tcp_event_cb cb, void *ctx);
/* 0; -EADDRINUSE; -EADDRNOTAVAIL; -EINVAL (already bound). port 0 = ephemeral. */
int nip_tcp_bind(struct nip_tcp_conn *c, uint32_t ip, uint16_t port, bool reuse);
/* 0; -EINVAL (not bound, or not CLOSED); -ENOMEM. */
int nip_tcp_listen(struct nip_tcp_conn *c, uint32_t backlog);
/* An established connection from c's accept queue, owned by the caller from now on (set its
 * callback with nip_tcp_set_cb); NULL when none. */
struct nip_tcp_conn *nip_tcp_accept(struct nip_tcp_conn *c);
void nip_tcp_set_cb(struct nip_tcp_conn *c, nip_tcp_event_cb cb, void *ctx);
/* Starts an active open; EV_CONNECTED or an error (c->err, EV_READABLE) follows.
 * 0; -EISCONN; -EALREADY; -EADDRINUSE (no ephemeral port). */
int nip_tcp_connect(struct nip_tcp_conn *c, uint32_t ip, uint16_t port);
/* Whether the send queue has room for more (a push waits while it does not). */
bool nip_tcp_writable(const struct nip_tcp_conn *c);
/*
 * Appends len bytes at data (inside buf) to the send queue, taking over one reference of buf,
 * and sends what the windows allow. 0; -EAGAIN (queue full: nothing taken); -ENOTCONN (not yet
 * established, or listening); -EPIPE (closed for sending); -c->err.
 */
int nip_tcp_send(struct nip_tcp_conn *c, struct demi__buf *buf, uint8_t *data, uint32_t len);
/*
 * Under receive memory pressure, replaces a received buffer (len bytes at *data inside *buf)
 * that an application pushes by a copy, so that a send queue or a waiting push does not hold
 * the device's receive buffer until the peer acknowledges it; otherwise (and when no buffer is
 * left for the copy) leaves it, zero copy. Takes over one reference of *buf either way. The
 * libOS calls it when a push is issued; nip_tcp_send calls it too.
 */
void nip_tcp_push_unpin(struct nip_stack *s, struct demi__buf **buf, uint8_t **data, uint32_t len);
/*
 * The next in-order received data: returns a buffer (data = payload, the caller owns the
 * reference) or NULL with *status 0 (nothing yet), 1 (end of stream) or -errno (failed).
 */
struct demi__buf *nip_tcp_recv(struct nip_tcp_conn *c, int *status);
/* Closes for the owner: FIN after the queued data (RST when unread data remains or with
 * linger 0); the stack frees c when the connection is over. c must not be used again. */
void nip_tcp_close(struct nip_tcp_conn *c);
/* Socket options: TCP_NODELAY, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_SNDBUF. */
int nip_tcp_setsockopt(struct nip_tcp_conn *c, int level, int name, const void *val, uint32_t len);
int nip_tcp_getsockopt(struct nip_tcp_conn *c, int level, int name, void *val, uint32_t *len);
const char *nip_tcp_state_name(enum nip_tcp_state st);
/* Formats the connection's control block on one line (snprintf's contract) for a log:
 * sequence numbers relative to the initial ones, windows, congestion state, timers. */
int nip_tcp_describe(const struct nip_tcp_conn *c, uint64_t now, char *buf, size_t len);
/* Connections closed by their owner (orphans) that still owe their peer data or a FIN
 * (owing), and those waiting for the peer's FIN (closing, in FIN-WAIT-2). */
void nip_tcp_orphans(struct nip_stack *s, int *owing, int *closing);
/* Resets every orphan not yet in TIME-WAIT (the process is going away: its peers must not
 * wait for answers that will never come). */
void nip_tcp_abort_orphans(struct nip_stack *s);

#endif
