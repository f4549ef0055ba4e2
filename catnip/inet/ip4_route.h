/* SPDX-License-Identifier: MIT */
/*
 * A flow's route, cached by its sender (udp.c keeps one per socket, for the last destination;
 * tcp/ one per connection, built when it is established; the layout is in ip4_route_types.h):
 * the Ethernet header with the next hop's MAC and the IPv4 header template (wire/ip4.h), built
 * once from the ARP mapping, so that a datagram to the same destination skips the ARP lookup
 * and the header layout and pays only for its length, identification and checksum folds.
 *
 * Call order: nip_ip4_route_fill (false: take nip_ip4_output, which resolves), then for each
 * datagram nip_ip4_route_valid and, while it holds, nip_ip4_output_route.
 *
 * A route holds no pointer into the ARP cache. It stays valid while the cache's generation
 * (arp.c: bumped by every change of any mapping, learned, renewed, moved to another MAC,
 * removed, made static or resolving again) is the one it was built under, and the stack's
 * clock is before the mapping's expiry: from then on nip_ip4_output's ARP path must run (it
 * sends the unicast renewal of RFC 1122 2.3.2.1 and, in the end, resolves again).
 */
#ifndef NIP_IP4_ROUTE_H
#define NIP_IP4_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "ip4_route_types.h"
#include "stack.h"

/* A usable ARP mapping as a cache holder sees it. */
struct nip_arp_hint {
	uint8_t mac[6];
	uint64_t gen;	/* the ARP cache's generation when it was read (64 bits: never wraps) */
	uint64_t until; /* the stack's clock at which it must be looked up again */
};

/* The ARP cache's generation: any change to any mapping moves it. */
uint64_t nip_arp_generation(const struct nip_stack *s);
/*
 * The mapping of ip, if resolved and not yet expired (static, or learned and younger than
 * arp_ttl_ns), marked in use as a send to it would; false otherwise (unknown, resolving,
 * expired: the caller sends through nip_ip4_output, whose ARP path handles those).
 */
bool nip_arp_hint_get(struct nip_stack *s, uint32_t ip, struct nip_arp_hint *h);

/* Builds r for datagrams of proto to dst (unicast): true when dst's mapping is usable now;
 * false (r->ok false) otherwise. */
bool nip_ip4_route_fill(struct nip_stack *s, struct nip_ip4_route *r, uint32_t dst, uint8_t proto);

/* Whether r still holds: built, the ARP cache unchanged since, and not expired. */
static inline bool nip_ip4_route_valid(const struct nip_stack *s, const struct nip_ip4_route *r)
{
	return r->ok && r->arp_gen == nip_arp_generation(s) && nip_now(s) < r->until;
}

/* Forgets r (the socket was bound to another port). */
static inline void nip_ip4_route_clear(struct nip_ip4_route *r)
{
	r->ok = false;
}

/*
 * nip_ip4_output of a datagram of r's flow (l4_len bytes after room for both headers) with a
 * valid r: writes the Ethernet and IPv4 headers and queues the frame for the link. Consumes
 * the frame. 0, or -ENOBUFS when the link refused it (nip_link_send: dropped and counted).
 */
int nip_ip4_output_route(struct nip_stack *s, struct demi__buf *frame,
			 const struct nip_ip4_route *r, uint16_t l4_len);

#endif
