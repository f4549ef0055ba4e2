/* SPDX-License-Identifier: MIT */
/*
 * ARP (RFC 826): the cache of IPv4 -> MAC, answering requests for our address, and resolving
 * next hops for output with retries, a timeout and a bounded queue of frames per address.
 *
 * The cache is an open-addressed table (linear probing, tombstones, rebuilt in place when
 * crowded). Learned entries expire after arp_ttl_ns (checked on lookup); static ones never.
 * Only entries being resolved need timers: nip_arp_timers scans the table only when the
 * earliest retry is due.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack.h"
#include "wire/arp.h"
#include "wire/eth.h"

#define ARP_CAP 1024u /* power of two */

enum { E_FREE = 0, E_DELETED, E_RESOLVED, E_STATIC, E_PENDING };

struct nip_arp_pending {
	struct demi__buf *frame;
	nip_sent_cb cb;
	void *ctx;
};

struct nip_arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t state;
	uint32_t tries;
	uint64_t deadline; /* resolved: expiry; pending: next request */
	uint32_t npending, pending_cap;
	/* Frames waiting for this address; allocated on a miss (a control-path event), grown
	 * up to arp_pending_max, freed when the entry resolves or fails. */
	struct nip_arp_pending *pending;
};

/* Bookkeeping kept in the stack's arp fields: arp_used counts live + deleted slots. */
static uint32_t slot(uint32_t ip)
{
	return (uint32_t)(((uint64_t)ip * 0x9E3779B97F4A7C15ull) >> 40) & (ARP_CAP - 1);
}

int nip_arp_init(struct nip_stack *s)
{
	s->arp = calloc(ARP_CAP, sizeof(*s->arp));
	s->arp_cap = ARP_CAP;
	s->arp_used = 0;
	s->arp_next_retry = UINT64_MAX; /* nothing being resolved */
	return s->arp ? 0 : -ENOMEM;
}

static void free_pending(struct nip_arp_entry *e)
{
	free(e->pending);
	e->pending = NULL;
	e->npending = e->pending_cap = 0;
}

static void fail_pending(struct nip_arp_entry *e, int err)
{
	struct nip_arp_pending *p = e->pending;
	uint32_t n = e->npending;

	/* Detach first: a callback may send again and create a new queue on this entry. */
	e->pending = NULL;
	e->npending = e->pending_cap = 0;
	for (uint32_t i = 0; i < n; i++) {
		nip_frame_put(p[i].frame);
		if (p[i].cb)
			p[i].cb(p[i].ctx, err);
	}
	free(p);
}

void nip_arp_fini(struct nip_stack *s)
{
	for (uint32_t i = 0; s->arp && i < s->arp_cap; i++) {
		fail_pending(&s->arp[i], -ECANCELED);
		free_pending(&s->arp[i]);
	}
	free(s->arp);
	s->arp = NULL;
}

static struct nip_arp_entry *find(struct nip_stack *s, uint32_t ip)
{
	for (uint32_t i = slot(ip), n = 0; n < s->arp_cap; i = (i + 1) & (s->arp_cap - 1), n++) {
		struct nip_arp_entry *e = &s->arp[i];
		if (e->state == E_FREE)
			return NULL;
		if (e->state != E_DELETED && e->ip == ip)
			return e;
	}
	return NULL;
}

/* Rebuilds the table without tombstones (entries keep their content). */
static void compact(struct nip_stack *s)
{
	struct nip_arp_entry *old = s->arp;
	struct nip_arp_entry *t = calloc(s->arp_cap, sizeof(*t));

	if (!t)
		return;
	s->arp = t;
	s->arp_used = 0;
	for (uint32_t i = 0; i < s->arp_cap; i++) {
		if (old[i].state < E_RESOLVED)
			continue;
		uint32_t j = slot(old[i].ip);
		while (t[j].state != E_FREE)
			j = (j + 1) & (s->arp_cap - 1);
		t[j] = old[i];
		s->arp_used++;
	}
	free(old);
}

static void remove_entry(struct nip_stack *s, struct nip_arp_entry *e)
{
	(void)s;
	e->state = E_DELETED;
	free_pending(e);
}

/* A new entry for ip; NULL when the cache is full (of static and pending entries). */
static struct nip_arp_entry *insert(struct nip_stack *s, uint32_t ip)
{
	if ((s->arp_used + 1) * 4 > s->arp_cap * 3)
		compact(s);
	if ((s->arp_used + 1) * 4 > s->arp_cap * 3) {
		/* Still crowded: evict expired learned entries. */
		for (uint32_t i = 0; i < s->arp_cap; i++)
			if (s->arp[i].state == E_RESOLVED && s->arp[i].deadline <= s->now)
				remove_entry(s, &s->arp[i]);
		compact(s);
		if ((s->arp_used + 1) * 4 > s->arp_cap * 3)
			return NULL;
	}
	uint32_t i = slot(ip);
	while (s->arp[i].state >= E_RESOLVED)
		i = (i + 1) & (s->arp_cap - 1);
	if (s->arp[i].state == E_FREE)
		s->arp_used++;
	memset(&s->arp[i], 0, sizeof(s->arp[i]));
	s->arp[i].ip = ip;
	return &s->arp[i];
}

int nip_arp_add_static(struct nip_stack *s, uint32_t ip, const uint8_t mac[6])
{
	struct nip_arp_entry *e = find(s, ip);

	if (!e && !(e = insert(s, ip)))
		return -ENOSPC;
	if (e->state == E_PENDING)
		fail_pending(e, -ECANCELED);
	memcpy(e->mac, mac, 6);
	e->state = E_STATIC;
	return 0;
}

static bool usable(const struct nip_stack *s, const struct nip_arp_entry *e)
{
	return e && (e->state == E_STATIC || (e->state == E_RESOLVED && e->deadline > s->now));
}

bool nip_arp_lookup(struct nip_stack *s, uint32_t ip, uint8_t mac[6])
{
	struct nip_arp_entry *e = find(s, ip);

	if (!usable(s, e))
		return false;
	memcpy(mac, e->mac, 6);
	return true;
}

static void send_arp(struct nip_stack *s, uint16_t op, const uint8_t eth_dst[6],
		     const uint8_t tha[6], uint32_t tpa)
{
	struct demi__buf *f = s->link->ops->alloc(s->link->dev, NIP_ETH_HLEN + NIP_ARP_LEN);
	struct nip_arp a = {.op = op, .spa = s->cfg.ip, .tpa = tpa};

	if (!f) {
		s->cnt.drop_no_buffer++;
		return;
	}
	memcpy(a.sha, s->link->mac, 6);
	memcpy(a.tha, tha, 6);
	nip_eth_emit(demi__buf_data(f), eth_dst, s->link->mac, NIP_ETHERTYPE_ARP);
	nip_arp_emit(demi__buf_data(f) + NIP_ETH_HLEN, &a);
	if (nip_link_send(s, f) == 0) {
		if (op == NIP_ARP_REQUEST)
			s->cnt.arp_requests_sent++;
		else
			s->cnt.arp_replies_sent++;
	}
}

static void send_request(struct nip_stack *s, uint32_t ip)
{
	static const uint8_t zero[6];

	send_arp(s, NIP_ARP_REQUEST, nip_eth_broadcast, zero, ip);
}

static void transmit(struct nip_stack *s, struct demi__buf *frame, const uint8_t mac[6],
		     nip_sent_cb cb, void *ctx)
{
	int rc;

	nip_eth_emit(demi__buf_data(frame), mac, s->link->mac, NIP_ETHERTYPE_IPV4);
	rc = nip_link_send(s, frame);
	if (cb)
		cb(ctx, rc);
}

/* The entry learned the MAC: send what waited for it. */
static void resolved(struct nip_stack *s, struct nip_arp_entry *e, const uint8_t mac[6])
{
	struct nip_arp_pending *p = e->pending;
	uint32_t n = e->npending;

	memcpy(e->mac, mac, 6);
	if (e->state != E_STATIC) {
		e->state = E_RESOLVED;
		e->deadline = s->now + s->cfg.arp_ttl_ns;
	}
	/* Detach first: a callback may send again and touch this entry. */
	e->pending = NULL;
	e->npending = e->pending_cap = 0;
	for (uint32_t i = 0; i < n; i++)
		transmit(s, p[i].frame, mac, p[i].cb, p[i].ctx);
	free(p);
}

void nip_arp_input(struct nip_stack *s, const uint8_t *pkt, size_t len)
{
	struct nip_arp a;
	struct nip_arp_entry *e;
	bool for_us;

	if (nip_arp_parse(pkt, len, &a) < 0) {
		s->cnt.drop_arp_bad++;
		return;
	}
	if (a.spa == 0 || nip_eth_is_multicast(a.sha)) {
		s->cnt.drop_arp_bad++; /* probes and bogus senders teach us nothing */
		return;
	}
	for_us = a.tpa == s->cfg.ip;
	/* RFC 826 merge: refresh a known sender; learn it if the packet is for us. */
	e = find(s, a.spa);
	if (e && e->state != E_STATIC)
		resolved(s, e, a.sha);
	if (!for_us) {
		s->cnt.drop_arp_not_for_us++;
		return;
	}
	if (!e && (e = insert(s, a.spa)))
		resolved(s, e, a.sha);
	if (a.op == NIP_ARP_REQUEST)
		send_arp(s, NIP_ARP_REPLY, a.sha, a.sha, a.spa);
}

void nip_arp_resolve_and_send(struct nip_stack *s, struct demi__buf *frame, uint32_t next_hop,
			      nip_sent_cb cb, void *ctx)
{
	struct nip_arp_entry *e;

	if (next_hop == 0xffffffffu) {
		transmit(s, frame, nip_eth_broadcast, cb, ctx);
		return;
	}
	e = find(s, next_hop);
	if (usable(s, e)) {
		transmit(s, frame, e->mac, cb, ctx);
		return;
	}
	if (!e || e->state != E_PENDING) {
		if (!e && !(e = insert(s, next_hop)))
			goto full;
		e->state = E_PENDING;
		e->tries = 1;
		e->npending = 0;
		e->deadline = s->now + s->cfg.arp_retry_ns;
		if (e->deadline < s->arp_next_retry)
			s->arp_next_retry = e->deadline;
		send_request(s, next_hop);
	}
	if (e->npending >= s->cfg.arp_pending_max)
		goto full;
	if (e->npending == e->pending_cap) {
		uint32_t cap = e->pending_cap ? e->pending_cap * 2 : 16;
		struct nip_arp_pending *p = realloc(e->pending, cap * sizeof(*p));
		if (!p)
			goto full;
		e->pending = p;
		e->pending_cap = cap;
	}
	e->pending[e->npending++] = (struct nip_arp_pending){frame, cb, ctx};
	return;
full:
	s->cnt.drop_arp_pending_full++;
	nip_frame_put(frame);
	if (cb)
		cb(ctx, -ENOBUFS);
}

/* Only retries need the clock: learned entries expire when looked up, not on a timer. */
uint64_t nip_arp_next_deadline(const struct nip_stack *s)
{
	return s->arp_next_retry;
}

void nip_arp_timers(struct nip_stack *s)
{
	/* Cheap when nothing is being resolved: the scan runs only for due retries. */
	if (s->now < s->arp_next_retry)
		return;
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < s->arp_cap; i++) {
		struct nip_arp_entry *e = &s->arp[i];
		if (e->state != E_PENDING)
			continue;
		if (e->deadline <= s->now) {
			if (e->tries >= s->cfg.arp_retries) {
				s->cnt.arp_failures++;
				fail_pending(e, -EHOSTUNREACH);
				remove_entry(s, e);
				continue;
			}
			e->tries++;
			e->deadline = s->now + s->cfg.arp_retry_ns;
			send_request(s, e->ip);
		}
		if (e->deadline < next)
			next = e->deadline;
	}
	s->arp_next_retry = next;
}
