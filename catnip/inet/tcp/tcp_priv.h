/* SPDX-License-Identifier: MIT */
/*
 * What TCP's files call of each other (lwIP's priv/tcp_priv.h): nothing outside
 * catnip/inet/tcp/ includes this. The stack, the libOS and the tests use tcp.h, which this
 * includes: the connection block, the configuration and the entry points.
 */
#ifndef NIP_TCP_PRIV_H
#define NIP_TCP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp.h"
#include "tcp_seq.h"

/* A received payload buffer, marked in buf->priv by data input (the bit above the sequence
 * number that tcp_reass.c keeps in the low half): it may be one of the device's receive
 * buffers, which an application that pushes it back must not pin under pressure (tcp_mem.c).
 * The device clears priv when it receives into the buffer again. */
#define NIP_TCP_BUF_RCVD (1ull << 63)

/* ---- tcp.c ---- */
/* The MSS the link's MTU allows (our receive segments are no larger). */
uint32_t nip_tcp_mtu_mss(const struct nip_stack *s);
struct nip_tcp_conn *nip_tcp_conn_alloc(struct nip_stack *s);
void nip_tcp_conn_free(struct nip_tcp_conn *c);
int nip_tcp_hash_insert(struct nip_tcp_conn *c);
void nip_tcp_hash_remove(struct nip_tcp_conn *c);
struct nip_tcp_conn *nip_tcp_lookup(struct nip_stack *s, uint32_t rip, uint16_t rport,
				    uint16_t lport);
uint32_t nip_tcp_isn(struct nip_stack *s, const struct nip_tcp_conn *c);
/* SipHash-2-4 of n 64-bit words under key (the one keyed hash of TCP: ISNs, cookies). */
uint64_t nip_tcp_siphash(const uint8_t key[16], const uint64_t *m, size_t n);
void nip_tcp_options_init(struct nip_tcp_conn *c);
void nip_tcp_established(struct nip_tcp_conn *c); /* sets up cc, windows after the handshake */
/* Ends the connection: state CLOSED, pending data dropped, err (positive, or 0) reported. */
void nip_tcp_drop(struct nip_tcp_conn *c, int err);
/* Records events for c's owner; nip_tcp_deliver runs the callbacks once the segment, timer or
 * user call that caused them is done (so no callback re-enters output halfway through input). */
void nip_tcp_notify(struct nip_tcp_conn *c, unsigned events);
void nip_tcp_deliver(struct nip_stack *s);
/* The stack forgets c if its owner closed it and the connection is over. */
void nip_tcp_maybe_free(struct nip_tcp_conn *c);
/* Sends a window update when the window opened by a useful amount past what the peer was
 * told (after a pop, or when memory pressure ends). Returns whether it sent one. */
bool nip_tcp_window_update(struct nip_tcp_conn *c);

/* ---- tcp_mem.c ---- */
/* In-order payload b (trimmed) as it should be queued for the application at the critical
 * level: a copy in an ordinary pool buffer (b is dropped); NULL when no buffer was left for
 * the copy (b dropped, counted). */
struct demi__buf *nip_tcp_mem_rcv(struct nip_tcp_conn *c, struct demi__buf *b);

/* ---- tcp_listen.c ---- */
/* A segment for listener l that matches no connection. Returns the connection the segment
 * goes on to (nip_tcp_conn_input), made by a valid SYN cookie's ACK, or NULL when it was
 * handled here. */
struct nip_tcp_conn *nip_tcp_listen_input(struct nip_tcp_conn *l, const struct nip_tcp_seg *seg,
					  uint32_t src, uint32_t dst);
/* Gives c, for the peer (src, sport) of listener l at dst, the listener's socket settings and
 * the options we offer. */
void nip_tcp_passive_init(struct nip_tcp_conn *c, const struct nip_tcp_conn *l, uint32_t src,
			  uint32_t dst, uint16_t sport);
/* A new connection of l for that 4-tuple, hashed and holding its port; NULL (counted) when the
 * stack has none to give. */
struct nip_tcp_conn *nip_tcp_passive_new(struct nip_tcp_conn *l, uint32_t src, uint32_t dst,
					 uint16_t sport);
void nip_tcp_listener_fini(struct nip_tcp_conn *l);
void nip_tcp_listen_established(struct nip_tcp_conn *c); /* SYN_RCVD -> accept queue */
void nip_tcp_listen_detach(struct nip_tcp_conn *c);	 /* leaves the SYN/accept queue */
/* Takes the peer's MSS, window scale, SACK-permitted and timestamp options from its SYN. */
void nip_tcp_syn_options(struct nip_tcp_conn *c, const struct nip_tcp_seg *seg);

/* ---- tcp_cookie.c ---- */
/* Answers the SYN seg, which found l's SYN queue full, with a SYN-ACK whose ISN is a cookie
 * and keeps no state. */
void nip_tcp_cookie_syn(struct nip_tcp_conn *l, const struct nip_tcp_seg *seg, uint32_t src,
			uint32_t dst);
/* An ACK (no SYN, no RST) for l that matches no connection. 1: it carries a valid cookie, and
 * *out is the connection it completes, in SYN-RECEIVED as if its SYN had been queued (the
 * caller feeds it the ACK); 0: no valid cookie (counted; the caller resets); -ENOBUFS, -ENOMEM:
 * valid, but no room in the accept queue or the stack (dropped, counted). */
int nip_tcp_cookie_ack(struct nip_tcp_conn *l, const struct nip_tcp_seg *seg, uint32_t src,
		       uint32_t dst, struct nip_tcp_conn **out);
/* Whether l answered a SYN with a cookie recently enough for an ACK to carry a valid one. */
bool nip_tcp_cookie_recent(const struct nip_tcp_conn *l);

/* ---- tcp_input.c ---- */
void nip_tcp_conn_input(struct nip_tcp_conn *c, struct demi__buf *frame,
			const struct nip_tcp_seg *seg);
/* RACK marked segments lost: fast recovery starts unless it runs (or a timeout's does). */
void nip_tcp_rack_lost(struct nip_tcp_conn *c);

/* ---- tcp_output.c ---- */
/* Whether the sending loop has anything to look at: data not sent yet, a FIN to send, or
 * with SACK, recovery's retransmissions and, after a timeout, the SACKed data to skip. An ACK
 * that leaves nothing to send (most ACKs of a request-response exchange) skips the loop, and
 * a segment that earned no immediate ACK and allows no sending skips nip_tcp_output. */
static inline bool nip_tcp_may_send(const struct nip_tcp_conn *c)
{
	return nip_seq_lt(c->snd_nxt, c->snd_una + c->sq_bytes) ||
	       (c->fin_queued && !c->fin_sent) ||
	       (c->sack_ok && (c->in_recovery || nip_seq_lt(c->snd_una, c->recover) ||
			       nip_seq_lt(c->snd_nxt, c->snd_max)));
}
/* Sends what the windows and Nagle allow, and an ACK if one is due. */
void nip_tcp_output(struct nip_tcp_conn *c);
void nip_tcp_send_ack(struct nip_tcp_conn *c);
void nip_tcp_send_syn(struct nip_tcp_conn *c); /* SYN or SYN-ACK by state */
/* RST in reply to a segment (RFC 9293 3.10.7.1), for no connection. */
void nip_tcp_send_reset(struct nip_stack *s, const struct nip_tcp_seg *seg, uint32_t src,
			uint32_t dst);
void nip_tcp_send_rst_conn(struct nip_tcp_conn *c); /* RST for an abort */
/* Sends one segment of [seq, seq + len) from the send queue, with flags. */
void nip_tcp_send_data(struct nip_tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags);
void nip_tcp_send_probe(struct nip_tcp_conn *c);	/* keepalive: seq snd_una - 1, no data */
void nip_tcp_send_window_probe(struct nip_tcp_conn *c); /* persist timer */
/* Receive memory still available for queued data (see rcv_mem_limit in tcp_output.c). */
uint64_t nip_tcp_rcv_mem_room(const struct nip_tcp_conn *c);
uint32_t nip_tcp_rcv_window(const struct nip_tcp_conn *c);
uint32_t nip_tcp_tsval(const struct nip_tcp_conn *c);
/* Retransmits from snd_una after a timeout. */
void nip_tcp_retransmit_first(struct nip_tcp_conn *c);
/* Drops acknowledged data from the front of the send queue. */
void nip_tcp_sq_ack(struct nip_tcp_conn *c, uint32_t acked);

/* ---- tcp_sack.c ---- */
/* The sender's scoreboard of RFC 6675 (SACKed ranges). */
void nip_tcp_sb_clear(struct nip_tcp_scoreboard *sb);
/* Adds the peer's SACK blocks (blocks outside (snd_una, snd_max] are ignored). */
void nip_tcp_sb_update(struct nip_tcp_scoreboard *sb, const struct nip_tcp_sack_block *blk, int n,
		       uint32_t snd_una, uint32_t snd_max);
/* Forgets what lies below snd_una. */
void nip_tcp_sb_advance(struct nip_tcp_scoreboard *sb, uint32_t snd_una);

/* ---- tcp_rack.c ---- */
/* Allocates (or enlarges) the ring of segments in flight for the connection's send buffer
 * limit and the peer's largest window: when the limit is set or grows (established, send
 * autotuning, SO_SNDBUF), never per segment. 0 or -ENOMEM (the connection then tracks fewer
 * segments). */
int nip_tcp_rack_reserve(struct nip_tcp_conn *c);
/* RACK (RFC 8985 6). A segment of [seq, seq + len) left now (new data or sent again). */
void nip_tcp_rack_sent(struct nip_tcp_conn *c, uint32_t seq, uint32_t len);
/* An ACK of ack arrived (before snd_una moves), echoing tsecr (0: none), with sacked: new SACK
 * information in the scoreboard, dsack: a D-SACK block (RFC 2883). Returns the round trip of
 * the latest sent segment it delivered that was sent only once (ns; 0: none, or only segments
 * acknowledged behind a retransmission). */
uint64_t nip_tcp_rack_update(struct nip_tcp_conn *c, uint32_t ack, uint32_t tsecr, bool sacked,
			     bool dsack);
/* Marks lost what is due and arms the reordering timer for the rest; true if it marked any. */
bool nip_tcp_rack_detect(struct nip_tcp_conn *c);
/* The first segment marked lost (not sent again since): false when none. */
bool nip_tcp_rack_next_lost(const struct nip_tcp_conn *c, uint32_t *start, uint32_t *len);
/* Marks the first segment lost (recovery entered on duplicate ACKs alone). */
void nip_tcp_rack_mark_first_lost(struct nip_tcp_conn *c);
void nip_tcp_rack_recovery_end(struct nip_tcp_conn *c); /* a fast recovery ended */
/* A retransmission timeout: nothing is lost any more (everything from snd_una is sent
 * again), and nothing SACKed either after a second timeout in a row (the peer may have
 * reneged). */
void nip_tcp_rack_timeout(struct nip_tcp_conn *c);
/* Where sending from seq again should start: past the SACKed segments at seq. */
uint32_t nip_tcp_rack_skip_sacked(const struct nip_tcp_conn *c, uint32_t seq);
void nip_tcp_rack_free(struct nip_tcp_conn *c);
/* When the tail loss probe is due (RFC 8985 7.2), or 0 when it does not apply now. */
uint64_t nip_tcp_pto_due(const struct nip_tcp_conn *c);
void nip_tcp_pto_fire(struct nip_tcp_conn *c); /* the probe (RFC 8985 7.3) */
/* An ACK reached ack: ends the probe's episode, with the loss response if it repaired one. */
void nip_tcp_tlp_acked(struct nip_tcp_conn *c, uint32_t ack, uint32_t flight);

/* ---- tcp_timer.c ---- */
void nip_tcp_timer_set(struct nip_tcp_conn *c, enum nip_tcp_timer t, uint64_t due);
void nip_tcp_timer_clear(struct nip_tcp_conn *c, enum nip_tcp_timer t);
void nip_tcp_timers_clear(struct nip_tcp_conn *c);
void nip_tcp_rto_arm(struct nip_tcp_conn *c); /* (re)starts the RTO at now + rto */
void nip_tcp_rtt_sample(struct nip_tcp_conn *c, uint64_t rtt);
/* The RTO from the smoothed RTT again, without the backoff of earlier timeouts. */
void nip_tcp_rto_reset(struct nip_tcp_conn *c);
/* Arms the tail loss probe if it applies now, clears it otherwise. */
void nip_tcp_pto_arm(struct nip_tcp_conn *c);
/* After an ACK of new data: restarts the RTO (RFC 6298 5.3), or stops it when nothing is
 * outstanding, and rearms the tail loss probe (moving c in the timer heap only when a
 * deadline came earlier). */
void nip_tcp_ack_timers(struct nip_tcp_conn *c);
void nip_tcp_heap_fini(struct nip_stack *s);

#endif
