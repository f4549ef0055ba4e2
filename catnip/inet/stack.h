/* SPDX-License-Identifier: MIT */
/*
 * catnip's protocol stack: Ethernet, ARP, IPv4, ICMP echo, UDP and TCP (tcp/). It does no I/O
 * and reads no clock: frames come in through nip_stack_poll (which asks the link for a burst) or
 * nip_stack_input, the time is an argument, and frames go out through the link's tx_burst. So
 * the same code runs on DPDK, on the in-memory test link with a virtual clock, and on any future
 * device.
 *
 * Call order: nip_stack_init, then any number of nip_stack_poll(now) (rx, timers) and socket
 * calls, then nip_stack_fini. Single-threaded. Between polls, nip_stack_next_deadline says when
 * the next one has timer work (smoltcp's Interface::poll_at): a libOS may sleep until then or
 * until a frame arrives, and tests and fuzzers jump their virtual clock to it.
 *
 * Every packet dropped is counted by reason (struct nip_counters), never silently lost.
 */
#ifndef NIP_STACK_H
#define NIP_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "ip4_reass.h"
#include "link.h"
#include "list.h"
#include "tcp/tcp.h"
#include "wire/ip4.h"
#include "wire/tcp.h"

/* Drop and traffic counters, by reason. */
struct nip_counters {
	uint64_t rx_frames, tx_frames;
	uint64_t drop_eth_short, drop_eth_not_for_us, drop_eth_type;
	uint64_t drop_arp_bad, drop_arp_not_for_us;
	uint64_t drop_ip4[NIP_IP4_NERR]; /* by enum nip_ip4_err */
	uint64_t drop_ip4_not_for_us, drop_ip4_proto;
	uint64_t drop_icmp_bad, drop_icmp_type;
	uint64_t drop_udp_bad, drop_udp_no_socket, drop_udp_queue_full;
	uint64_t drop_tx_full;		/* the device refused a frame with the queue full */
	uint64_t tx_deferred;		/* flushes the device's full ring cut short */
	uint64_t drop_no_buffer;	/* no buffer to build a frame */
	uint64_t drop_arp_pending_full; /* too many frames waiting for one resolution */
	uint64_t arp_requests_sent, arp_replies_sent, arp_failures;
	uint64_t icmp_echo_replies;
	uint64_t udp_rx, udp_tx;
	/* TCP */
	uint64_t tcp_rx, tcp_tx, tcp_rx_bytes, tcp_tx_bytes;
	uint64_t drop_tcp_bad[NIP_TCP_NERR]; /* by enum nip_tcp_err */
	uint64_t drop_tcp_no_conn;	     /* answered with RST */
	uint64_t drop_tcp_out_of_window, drop_tcp_paws, drop_tcp_bad_ack, drop_tcp_rcv_mem;
	uint64_t drop_tcp_syn_queue_full, drop_tcp_accept_queue_full, drop_tcp_no_memory;
	uint64_t drop_tcp_after_close; /* data for a closed connection: answered with RST */
	uint64_t tcp_rst_sent, tcp_rst_rcvd, tcp_challenge_acks, tcp_challenge_limited;
	uint64_t tcp_rcvbuf_grown, tcp_sndbuf_grown; /* autotuning steps */
	uint64_t tcp_tlp_probes, tcp_tlp_repairs;    /* tail loss probes; losses they repaired */
	uint64_t tcp_retransmits, tcp_fast_retransmits, tcp_rto_timeouts, tcp_timeouts;
	uint64_t tcp_zero_window_probes, tcp_keepalive_probes, tcp_delayed_acks;
	uint64_t tcp_active_opens, tcp_passive_opens, tcp_ooo_segs;
	uint64_t tcp_tx_zero_copy;     /* segments whose payload was chained, not copied */
	uint64_t tcp_lost_retransmits; /* retransmissions found lost again during recovery */
	uint64_t tcp_rack_untracked;   /* segments sent beyond RACK's ring (tcp_rack.c) */
	/* ARP under a flood of destinations that never answer (frames dropped: -ENOBUFS) */
	uint64_t drop_arp_resolving_full; /* arp_resolving_max under way, none evictable */
	uint64_t drop_arp_rate_limited;	  /* no request allowed now (arp_request_rate) */
	uint64_t drop_arp_queue_full;	  /* arp_queued_max frames already wait, stack-wide */
	uint64_t arp_evictions;		  /* retried resolutions given up for a new one */
	uint64_t arp_retries_limited;	  /* retries and renewals skipped for the rate */
	uint64_t arp_cache_full;	  /* a mapping not stored: every slot in use */
	uint64_t tcp_conn_limit; /* connections refused at tcp_max_conns (SYNs dropped, sockets) */
	/* SYN cookies (tcp_cookie.c): SYN-ACKs sent with one (the SYN queue was full), final ACKs
	 * that carried a valid one (connections made), ACKs to a listener sending cookies that
	 * carried none valid (forged, too old, or for a connection gone: reset) */
	uint64_t tcp_syncookies_sent, tcp_syncookies_ok, tcp_syncookies_failed;
	/* Receive memory pressure (tcp_mem.c: the device's receive buffers running short) */
	uint64_t tcp_mem_pressure;	/* times the stack entered pressure */
	uint64_t tcp_mem_critical;	/* times it entered the critical level */
	uint64_t tcp_mem_push_copied;	/* received buffers copied when pushed or in a send queue */
	uint64_t tcp_mem_rcv_copied;	/* in-order segments copied out of device buffers */
	uint64_t tcp_mem_ofo_pruned;	/* out-of-order segments dropped to free device buffers */
	uint64_t drop_tcp_mem_pressure; /* arrivals dropped for want of memory (critical) */
	uint64_t tcp_mem_window_updates; /* windows announced again when the pressure ended */
	uint64_t drop_ip4_bad_src; /* broadcast, multicast, loopback or our own source (RFC 1122) */
	/* IPv4 reassembly (ip4_reass.c), in fragments: each one received ends reassembled, in
	 * exactly one drop counter, or still held */
	uint64_t ip4_frags_rx;		 /* fragments for us */
	uint64_t ip4_reassembled;	 /* datagrams reassembled (not fragments) */
	uint64_t drop_ip4_frag_timeout;	 /* held by a datagram that timed out */
	uint64_t drop_ip4_frag_mem;	 /* past reass_max_datagrams or _bytes, or no buffer */
	uint64_t drop_ip4_frag_overlap;	 /* held by or ending a datagram with overlaps */
	uint64_t drop_ip4_frag_dup;	 /* wholly inside a fragment already held */
	uint64_t drop_ip4_frag_too_long; /* of a datagram past 65535 bytes */
	uint64_t drop_ip4_frag_bad; /* of a datagram with a contradicting end or an empty part */
};

/* Something that waits for a frame to leave: told 0 when the frame was handed to the link,
 * or -EHOSTUNREACH when ARP gave up, -ENOBUFS when it could not be queued. */
typedef void (*nip_sent_cb)(void *ctx, int err);

struct nip_arp_entry;

/* Frames the stack batches before one tx_burst call, and takes from one rx_burst call. */
#define NIP_TXQ 32
#define NIP_RX_BURST 32

struct nip_stack_config {
	uint32_t ip;		   /* our IPv4 address, network order */
	uint64_t arp_ttl_ns;	   /* a learned entry lives this long */
	uint64_t arp_retry_ns;	   /* time between requests */
	uint32_t arp_retries;	   /* requests before giving up */
	uint32_t arp_pending_max;  /* frames queued per unresolved address */
	uint32_t udp_rx_queue_max; /* datagrams queued per socket before dropping */
	uint8_t ttl;
	struct nip_tcp_config tcp;
	/* Bounds against floods of unresolvable destinations (arp.c); 0 takes the default. */
	uint32_t arp_resolving_max; /* addresses being resolved at once (256, at most 256) */
	uint32_t arp_request_rate;  /* ARP requests per second, stack-wide (500) */
	uint32_t arp_queued_max;    /* frames waiting for resolution, stack-wide (1024) */
	/* IPv4 reassembly (ip4_reass.h) */
	uint32_t reass_max_datagrams; /* under reassembly at once (64); 0: fragments dropped */
	uint32_t reass_max_bytes;     /* buffer bytes their fragments hold (1 MiB) */
	uint64_t reass_timeout_ns;    /* a datagram's life from its first fragment (30 s) */
};

struct nip_stack {
	struct nip_link *link;
	struct nip_stack_config cfg;
	struct nip_counters cnt;
	uint64_t now;
	/* nip_stack_next_deadline as the last nip_stack_poll left it (0 before the first): what
	 * a libOS polling again before any other call needs, without computing it again. */
	uint64_t poll_due;
	uint16_t ip_id;
	/* ARP cache: a small open-hash table of entries. */
	struct nip_arp_entry *arp;
	uint32_t arp_cap;
	uint32_t arp_used;
	uint64_t arp_next_retry; /* earliest pending ARP retry (UINT64_MAX: none) */
	/* UDP sockets by local port. */
	struct nip_udp_sock **udp_ports; /* 65536 slots, allocated at init */
	uint16_t next_ephemeral;
	struct nip_tcp_stack tcp;
	struct nip_ip4_reass reass;
	/* Frames waiting to go to the link in one burst (nip_stack_flush). */
	struct demi__buf *txq[NIP_TXQ];
	uint32_t txq_len;
};

void nip_stack_config_default(struct nip_stack_config *cfg);
int nip_stack_init(struct nip_stack *s, struct nip_link *link, const struct nip_stack_config *cfg);
void nip_stack_fini(struct nip_stack *s);
/* Receives up to a burst of frames from the link and processes them, then runs what is due:
 * deferred ACKs, output that waited for the device, timers (TCP, ARP retries, reassembly
 * expiry). Returns how much work was done (0 = idle). Leaves s->poll_due. */
int nip_stack_poll(struct nip_stack *s, uint64_t now);
/*
 * The earliest time (ns, the clock given to nip_stack_poll) at which nip_stack_poll has work
 * that no received frame brings: a TCP timer (retransmission, tail loss probe, persist, delayed
 * ACK, keepalive, TIME-WAIT), an ARP request to repeat or an IPv4 datagram under reassembly
 * to time out. s->now when the last poll left work
 * for the next one (frames or connections waiting for room in the device's ring, deferred
 * ACKs); UINT64_MAX when nothing is pending. It may be early (a timer that was stopped can
 * still count until the next poll), never late. Cheap: O(1).
 */
uint64_t nip_stack_next_deadline(const struct nip_stack *s);
/* Hands the frames batched so far to the link in one burst (frames it refuses wait for the
 * next flush). nip_stack_poll ends with it; the libOS calls it after every user call that may
 * send (a push, a pop that opens the window, a connect, a close). */
void nip_stack_flush(struct nip_stack *s);
/* Processes one received frame (consumes the caller's reference). */
void nip_stack_input(struct nip_stack *s, struct demi__buf *frame);
/* Adds a permanent ARP entry (config arp_table). */
int nip_arp_add_static(struct nip_stack *s, uint32_t ip, const uint8_t mac[6]);
/* The MAC of ip if resolved; false otherwise. */
bool nip_arp_lookup(struct nip_stack *s, uint32_t ip, uint8_t mac[6]);

/*
 * Sends an IPv4 packet whose payload (l4_len bytes) is already in frame after room for the
 * Ethernet and IPv4 headers (frame data starts at the Ethernet header). Resolves dst with ARP,
 * queueing the frame meanwhile. Consumes the frame. cb (may be NULL) learns the outcome.
 */
void nip_ip4_output(struct nip_stack *s, struct demi__buf *frame, uint32_t dst, uint8_t proto,
		    uint16_t l4_len, nip_sent_cb cb, void *ctx);
/* The template of a flow from this stack to dst (nip_ip4_output's header: the stack's address
 * and TTL), for nip_ip4_output_tmpl. */
void nip_ip4_tmpl(const struct nip_stack *s, struct nip_ip4_tmpl *t, uint32_t dst, uint8_t proto);
/* nip_ip4_output, with no callback, of a datagram of t's flow. */
void nip_ip4_output_tmpl(struct nip_stack *s, struct demi__buf *frame, const struct nip_ip4_tmpl *t,
			 uint16_t l4_len);

/* Internal entry points between the stack's files. */
/* The stack's time (ns) as of the last poll or input. */
static inline uint64_t nip_now(const struct nip_stack *s)
{
	return s->now;
}
void nip_arp_input(struct nip_stack *s, const uint8_t *pkt, size_t len);
void nip_arp_timers(struct nip_stack *s);
/* When nip_arp_timers next has a request to repeat (UINT64_MAX: none). */
uint64_t nip_arp_next_deadline(const struct nip_stack *s);
void nip_arp_fini(struct nip_stack *s);
int nip_arp_init(struct nip_stack *s);
void nip_arp_resolve_and_send(struct nip_stack *s, struct demi__buf *frame, uint32_t next_hop,
			      nip_sent_cb cb, void *ctx);
void nip_ip4_input(struct nip_stack *s, struct demi__buf *frame, const uint8_t *pkt, size_t len);
void nip_icmp4_input(struct nip_stack *s, struct demi__buf *frame, uint8_t *msg, size_t len,
		     uint32_t src);
/* Queues a complete frame (Ethernet header filled) for the next burst to the link (sent at
 * once when the batch is full). Consumes the frame. Returns 0, or -ENOBUFS when the queue is
 * full and the device takes none of it: the frame is dropped (drop_tx_full), a loss the
 * protocols above recover from. */
int nip_link_send(struct nip_stack *s, struct demi__buf *frame);
/* Whether the queue has room for a frame (flushing it first if full). TCP asks before each
 * segment and waits while the device's ring is full (nip_tcp_tx_resume). */
bool nip_link_tx_ready(struct nip_stack *s);

#endif
