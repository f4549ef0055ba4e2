/* SPDX-License-Identifier: MIT */
/*
 * IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2: a host MUST reassemble), hardened for a host
 * facing a hostile network (RFC 4963, RFC 5722's rule applied to IPv4 as Linux does):
 *
 * - bounded: at most reass_max_datagrams datagrams under reassembly (slots allocated once, at
 *   init) holding at most reass_max_bytes of buffers, counted by buffer capacity, not payload,
 *   so tiny fragments cannot pin more memory than the cap says. A new datagram or a fragment
 *   past a cap evicts the oldest datagrams under reassembly (never the fragment's own); a
 *   fragment that cannot fit even then is dropped with its datagram;
 * - a datagram not complete reass_timeout_ns after its first fragment arrived is dropped
 *   (RFC 1122 3.3.2's timer, Linux's ipfrag_time: 30 s);
 * - a fragment that overlaps another in part drops the whole datagram; one that lies wholly
 *   inside one already held is a duplicate, dropped alone (Linux's IPFRAG_DUP);
 * - a datagram whose fragments end past 65535 bytes with its header, a last fragment that
 *   contradicts the known end, and an empty fragment drop the whole datagram (Linux).
 *   A non-last fragment's payload is cut to a multiple of 8 bytes (RFC 791; Linux does so).
 *
 * Every fragment received ends in exactly one place: a reassembled datagram or one of the
 * drop_ip4_frag_* counters (or still held): counters count fragments, not datagrams.
 *
 * Fragments are held as the frame buffers they arrived in (trimmed to their payload, their
 * offset in priv, linked through next in offset order); the complete datagram is copied once
 * into one buffer from the link's pool (no copy-free chaining: UDP, ICMP and TCP take one
 * contiguous payload), laid out as a frame: Ethernet and a 20-byte IPv4 header, then the
 * payload. No allocation per fragment beyond that buffer.
 *
 * Call order: nip_ip4_reass_init with the stack, nip_ip4_reass_input from IPv4 input for each
 * fragment for us, nip_ip4_reass_timers on every poll, nip_ip4_reass_fini with the stack.
 */
#ifndef NIP_IP4_REASS_H
#define NIP_IP4_REASS_H

#include <stdint.h>

#include "list.h"
#include "mem/buf.h"
#include "wire/ip4.h"

struct nip_stack;
struct nip_ip4_reass_dgram;

struct nip_ip4_reass {
	struct nip_ip4_reass_dgram *slots; /* reass_max_datagrams, NULL when reassembly is off */
	struct nip_ip4_reass_dgram **hash; /* buckets of (src, dst, id, proto) */
	uint32_t hash_mask;
	struct nip_ip4_reass_dgram *free; /* unused slots */
	struct demi__list age;		  /* datagrams by arrival of their first fragment */
	uint32_t ndgrams;		  /* datagrams under reassembly */
	uint64_t bytes;			  /* buffer capacity their fragments hold */
	uint64_t salt;			  /* of the hash */
};

/* Allocates the slots (none when cfg.reass_max_datagrams is 0). 0 or -ENOMEM. */
int nip_ip4_reass_init(struct nip_stack *s);
/* Drops every fragment held and frees the slots. */
void nip_ip4_reass_fini(struct nip_stack *s);
/*
 * Takes a fragment for us (ip parsed from frame, a fragment: nip_ip4_is_fragment). Consumes
 * frame. Returns NULL when the fragment is held or dropped (counted), or a buffer holding the
 * datagram it completed, laid out as a frame (data: Ethernet header, 20-byte IPv4 header,
 * payload), with ip updated to describe it (payload, payload_len, hlen 20, no fragment).
 */
struct demi__buf *nip_ip4_reass_input(struct nip_stack *s, struct demi__buf *frame,
				      struct nip_ip4 *ip);
/* Drops the datagrams whose time ran out (at s->now). */
void nip_ip4_reass_timers(struct nip_stack *s);
/* When nip_ip4_reass_timers next has a datagram to drop (UINT64_MAX: none). O(1). */
uint64_t nip_ip4_reass_next_deadline(const struct nip_stack *s);
/* Checks the structure (for tests and fuzzers, O(fragments held)): every datagram findable by
 * its key, in expiry order, its fragments in offset order without overlap and within its
 * known end, and the counts and byte sums agreeing. 0, or -EINVAL at the first violation. */
int nip_ip4_reass_validate(const struct nip_stack *s);

#endif
