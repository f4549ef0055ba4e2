/* SPDX-License-Identifier: MIT */
/*
 * ARP (RFC 826): the cache of IPv4 -> MAC, answering requests for our address, and resolving
 * next hops for output with retries, a timeout and bounded queues of frames.
 *
 * The cache is an open-addressed table (linear probing, tombstones, rebuilt in place when
 * crowded). Learned entries expire after arp_ttl_ns (checked on lookup); static ones never.
 * An expired mapping stays in use for arp_retries * arp_retry_ns more while requests sent to
 * the MAC it holds (RFC 1122 2.3.2.1's unicast poll, one per arp_retry_ns, on use) ask its
 * owner to renew it: traffic to a peer never stops for a broadcast resolution.
 * Only entries being resolved need timers: nip_arp_timers scans the table only when the
 * earliest retry is due.
 *
 * Floods. A SYN from a spoofed on-link address makes TCP answer it, and the answer starts a
 * resolution that never completes. So that such traffic cannot turn ARP into an amplifier or
 * eat memory, everything a resolution holds is bounded stack-wide:
 * - at most arp_resolving_max addresses are being resolved at once (a quarter of the cache at
 *   most, so that mappings learned from peers' requests always find room);
 * - requests leave through a token bucket of arp_request_rate per second (burst: a tenth of a
 *   second's worth); a retry may only spend tokens above half the burst and a new resolution
 *   above a quarter, so the first request of a new resolution never waits behind retries of
 *   addresses that do not answer, and the renewal of a mapping in use never waits behind
 *   new resolutions (retries stay spaced arp_retry_ns apart; a skipped one still counts as
 *   a try, so every resolution ends after arp_retries * arp_retry_ns as before);
 * - frames waiting for resolution take slots of one pool of arp_queued_max, allocated at init
 *   (no malloc on a miss), at most arp_pending_max of them per address.
 * A frame that cannot wait (pool empty, per-address queue full) or whose resolution cannot
 * start (no token, no place) is dropped, counted by reason, and its sender is told -ENOBUFS.
 *
 * Which resolution gives way: when arp_resolving_max are under way, a new destination evicts
 * the oldest resolution that has already been retried (no answer within arp_retry_ns: an
 * on-link peer answers in well under a millisecond, so it is very likely spoofed; its
 * frames fail with -EHOSTUNREACH). The table therefore refuses a new destination only while
 * every resolution under way is younger than arp_retry_ns, which needs more than
 * arp_resolving_max / arp_retry_ns new resolutions per second (1280 by default, above the
 * default rate limit, which is checked first). We evict rather than reserve part of the
 * table because a reserve fills with spoofed addresses too: nothing tells a spoofed
 * destination from a real one when its resolution starts.
 * For the same reason, while spoofed destinations arrive faster than arp_request_rate, a
 * resolution that this stack starts toward a real new peer competes with them for tokens and
 * succeeds only with the share of tokens it draws (the sender's retransmission tries again).
 * What keeps real peers reachable during a flood is the cache: a peer that talks to us first
 * asks for our address, and that request teaches us its own (the resolving bound keeps room
 * for it); a mapping in use is renewed ahead of the flood's requests; and once the flood's
 * new destinations stop, a new resolution finds a token within 1 / arp_request_rate (2 ms
 * by default: retries cannot take the lower half of the burst) and a place at once, so it
 * completes within that plus the peer's answer (the tests hold it to 100 ms, the sender
 * trying every 10 ms).
 * Mappings the stack has sent to are never evicted for new ones before they expire, static
 * ones never: a crowded cache drops expired mappings first, then the oldest one learned and
 * never used (what a flood of requests leaves behind).
 *
 * Senders may cache a mapping (ip4_route.h: udp.c's per-socket route): nip_arp_hint_get hands
 * it out with the cache's generation, which every change of any mapping moves (learned,
 * renewed, given another MAC, removed, made static, resolving again), and the time it expires,
 * from which on the sender comes back through nip_arp_resolve_and_send for the renewal.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ip4_route.h"
#include "stack.h"
#include "wire/arp.h"
#include "wire/eth.h"

#define ARP_CAP 1024u			  /* power of two */
#define ARP_LIVE_MAX (ARP_CAP / 4 * 3)	  /* entries in use before a new one evicts */
#define ARP_USED_MAX (ARP_CAP / 8 * 7)	  /* entries + tombstones before a rebuild */
#define ARP_RESOLVING_LIMIT (ARP_CAP / 4) /* leaves the rest to mappings in use */
#define ARP_RESOLVING_DEFAULT 256u
#define ARP_RATE_DEFAULT 500u /* requests per second, stack-wide */
#define ARP_QUEUED_DEFAULT 1024u
#define ARP_BURST_MIN 8u /* tokens: room for the three tiers of enum tier */
#define NS_PER_S 1000000000ull
#define NONE UINT32_MAX

enum { E_FREE = 0, E_DELETED, E_RESOLVED, E_STATIC, E_PENDING };

/* Who may spend the bucket's last tokens: a refresh of a mapping in use, down to the last;
 * a new resolution, down to a quarter of the burst; a retry, down to half. */
enum tier { T_REFRESH, T_NEW, T_RETRY };

struct nip_arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t state;
	bool used;	     /* resolved: the stack sends to it (spared by eviction until expiry) */
	uint32_t tries;	     /* pending: requests made, or skipped by the rate limit */
	uint32_t nqueued;    /* pending: frames waiting */
	uint32_t head, tail; /* pending: those frames, a FIFO of pool slots (NONE: empty) */
	uint64_t deadline;   /* resolved: expiry; pending: next request */
	uint64_t since;	     /* pending: when the resolution began; resolved: when learned */
	uint64_t refresh_at; /* resolved, expired: when the next unicast request may go */
};

/* A frame waiting for resolution, in a slot of the stack's pool. */
struct queued {
	struct demi__buf *frame;
	nip_sent_cb cb;
	void *ctx;
	uint32_t next; /* next slot of the same list (an entry's queue or the free list) */
};

/* The stack's ARP state; s->arp points at its table (stack.h keeps only that pointer). */
struct arp_state {
	uint32_t live;	     /* entries that are not free or deleted */
	uint32_t resolving;  /* entries pending */
	uint32_t queued;     /* pool slots holding a frame */
	uint32_t free;	     /* first free pool slot */
	uint64_t gen;	     /* moved by every change of a mapping (ip4_route.h) */
	struct queued *pool; /* cfg.arp_queued_max slots */
	/* Token bucket, in nanoseconds of credit: a request costs 1 s / arp_request_rate. */
	uint64_t cost, credit, credit_max, refilled;
	uint64_t floor[3];		       /* credit a request of each enum tier needs */
	struct nip_arp_entry scratch[ARP_CAP]; /* compact() copies the table here */
	struct nip_arp_entry table[ARP_CAP];
};

static struct arp_state *arp_of(const struct nip_stack *s)
{
	return (struct arp_state *)((char *)s->arp - offsetof(struct arp_state, table));
}

/* How long an expired mapping stays in use while unicast requests confirm it. */
static uint64_t grace(const struct nip_stack *s)
{
	return (uint64_t)s->cfg.arp_retries * s->cfg.arp_retry_ns;
}

static uint32_t slot(uint32_t ip)
{
	return (uint32_t)(((uint64_t)ip * 0x9E3779B97F4A7C15ull) >> 40) & (ARP_CAP - 1);
}

int nip_arp_init(struct nip_stack *s)
{
	struct nip_stack_config *c = &s->cfg;
	struct arp_state *a;
	uint64_t burst;

	/* Fields left 0 take the defaults; the effective values stay in s->cfg. */
	if (!c->arp_resolving_max)
		c->arp_resolving_max = ARP_RESOLVING_DEFAULT;
	if (c->arp_resolving_max > ARP_RESOLVING_LIMIT)
		c->arp_resolving_max = ARP_RESOLVING_LIMIT;
	if (!c->arp_request_rate)
		c->arp_request_rate = ARP_RATE_DEFAULT;
	if (c->arp_request_rate > NS_PER_S)
		c->arp_request_rate = NS_PER_S;
	if (!c->arp_queued_max)
		c->arp_queued_max = ARP_QUEUED_DEFAULT;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->pool = malloc(c->arp_queued_max * sizeof(*a->pool));
	if (!a->pool) {
		free(a);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->arp_queued_max; i++)
		a->pool[i].next = i + 1 < c->arp_queued_max ? i + 1 : NONE;
	burst = c->arp_request_rate / 10 > ARP_BURST_MIN ? c->arp_request_rate / 10 : ARP_BURST_MIN;
	a->cost = NS_PER_S / c->arp_request_rate;
	a->credit = a->credit_max = burst * a->cost;
	a->floor[T_REFRESH] = a->cost;
	a->floor[T_NEW] = (burst / 4 + 1) * a->cost;
	a->floor[T_RETRY] = (burst / 2 + 1) * a->cost;
	s->arp = a->table;
	s->arp_cap = ARP_CAP;
	s->arp_used = 0;
	s->arp_next_retry = UINT64_MAX; /* nothing being resolved */
	return 0;
}

/* Adds credit for the time since the last refill, up to the burst. */
static void refill(struct nip_stack *s, struct arp_state *a)
{
	uint64_t d = s->now - a->refilled;

	if (s->now <= a->refilled)
		return;
	a->refilled = s->now;
	a->credit = d >= a->credit_max - a->credit ? a->credit_max : a->credit + d;
}

static bool may_request(struct nip_stack *s, struct arp_state *a, enum tier t)
{
	refill(s, a);
	return a->credit >= a->floor[t];
}

/* Ends the resolution of e (if pending), which takes state; returns its frames, detached. */
static uint32_t end_resolution(struct nip_stack *s, struct nip_arp_entry *e, uint8_t state)
{
	uint32_t list = NONE;

	/* Every change of a mapping passes here (learned, renewed, static, removed): routes
	 * built on any (ip4_route.h) must look again. */
	arp_of(s)->gen++;
	if (e->state == E_PENDING) {
		arp_of(s)->resolving--;
		list = e->head;
	}
	e->head = e->tail = NONE;
	e->nqueued = 0;
	e->state = state;
	return list;
}

static void remove_entry(struct nip_stack *s, struct nip_arp_entry *e)
{
	arp_of(s)->live--;
	(void)end_resolution(s, e, E_DELETED); /* callers took the frames */
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

/*
 * Sends each frame of a detached list to mac, or drops it with err when mac is NULL. A slot
 * is free again before its callback runs: a callback may send again, even to this address,
 * and the table may be rebuilt meanwhile (hence mac is a copy, not an entry's).
 */
static void drain(struct nip_stack *s, uint32_t i, const uint8_t *mac, int err)
{
	struct arp_state *a = arp_of(s);

	while (i != NONE) {
		struct queued q = a->pool[i];

		a->pool[i].next = a->free;
		a->free = i;
		a->queued--;
		i = q.next;
		if (mac) {
			transmit(s, q.frame, mac, q.cb, q.ctx);
		} else {
			nip_frame_put(q.frame);
			if (q.cb)
				q.cb(q.ctx, err);
		}
	}
}

/* Appends list (last slot list_tail) to the list head..tail. */
static void splice(struct arp_state *a, uint32_t *head, uint32_t *tail, uint32_t list,
		   uint32_t list_tail)
{
	if (list == NONE)
		return;
	if (*head == NONE)
		*head = list;
	else
		a->pool[*tail].next = list;
	*tail = list_tail;
}

void nip_arp_fini(struct nip_stack *s)
{
	if (!s->arp)
		return;
	struct arp_state *a = arp_of(s);

	/* Twice: a callback told -ECANCELED may have queued again. */
	for (int pass = 0; pass < 2 && a->queued; pass++)
		for (uint32_t i = 0; i < ARP_CAP; i++)
			if (s->arp[i].state == E_PENDING)
				drain(s, end_resolution(s, &s->arp[i], E_DELETED), NULL,
				      -ECANCELED);
	free(a->pool);
	free(a);
	s->arp = NULL;
}

static struct nip_arp_entry *find(struct nip_stack *s, uint32_t ip)
{
	for (uint32_t i = slot(ip), n = 0; n < ARP_CAP; i = (i + 1) & (ARP_CAP - 1), n++) {
		struct nip_arp_entry *e = &s->arp[i];
		if (e->state == E_FREE)
			return NULL;
		if (e->state != E_DELETED && e->ip == ip)
			return e;
	}
	return NULL;
}

/* Rebuilds the table without tombstones, in place (entries keep their content, not their
 * address). */
static void compact(struct nip_stack *s)
{
	struct arp_state *a = arp_of(s);

	memcpy(a->scratch, a->table, sizeof(a->table));
	memset(a->table, 0, sizeof(a->table));
	s->arp_used = 0;
	for (uint32_t i = 0; i < ARP_CAP; i++) {
		if (a->scratch[i].state < E_RESOLVED)
			continue;
		uint32_t j = slot(a->scratch[i].ip);
		while (a->table[j].state != E_FREE)
			j = (j + 1) & (ARP_CAP - 1);
		a->table[j] = a->scratch[i];
		s->arp_used++;
	}
}

/* Makes room for one entry in a crowded cache: every expired mapping goes, or else the oldest
 * one never used. Static, pending and used mappings stay. False when nothing could go. */
static bool evict_learned(struct nip_stack *s)
{
	struct nip_arp_entry *victim = NULL;
	bool freed = false;

	for (uint32_t i = 0; i < ARP_CAP; i++) {
		struct nip_arp_entry *e = &s->arp[i];

		if (e->state != E_RESOLVED)
			continue;
		if (e->deadline + grace(s) <= s->now) {
			remove_entry(s, e);
			freed = true;
		} else if (!e->used && (!victim || e->since < victim->since)) {
			victim = e;
		}
	}
	if (!freed && victim) {
		remove_entry(s, victim);
		freed = true;
	}
	return freed;
}

/* A new entry for ip, an expired mapping for the caller to fill; NULL when the cache is full
 * of entries in use. May rebuild the table: entry pointers held across it are stale. */
static struct nip_arp_entry *insert(struct nip_stack *s, uint32_t ip)
{
	struct arp_state *a = arp_of(s);
	struct nip_arp_entry *e;

	if (a->live >= ARP_LIVE_MAX && !evict_learned(s)) {
		s->cnt.arp_cache_full++;
		return NULL;
	}
	if (s->arp_used >= ARP_USED_MAX)
		compact(s);
	uint32_t i = slot(ip);
	while (s->arp[i].state >= E_RESOLVED)
		i = (i + 1) & (ARP_CAP - 1);
	if (s->arp[i].state == E_FREE)
		s->arp_used++;
	a->live++;
	e = &s->arp[i];
	*e = (struct nip_arp_entry){
		.ip = ip, .state = E_RESOLVED, .head = NONE, .tail = NONE, .since = s->now};
	return e;
}

int nip_arp_add_static(struct nip_stack *s, uint32_t ip, const uint8_t mac[6])
{
	struct nip_arp_entry *e = find(s, ip);
	uint32_t list;

	if (!e && !(e = insert(s, ip)))
		return -ENOSPC;
	list = end_resolution(s, e, E_STATIC);
	memcpy(e->mac, mac, 6);
	drain(s, list, NULL, -ECANCELED);
	return 0;
}

static bool usable(const struct nip_stack *s, const struct nip_arp_entry *e)
{
	return e && (e->state == E_STATIC ||
		     (e->state == E_RESOLVED && e->deadline + grace(s) > s->now));
}

bool nip_arp_lookup(struct nip_stack *s, uint32_t ip, uint8_t mac[6])
{
	struct nip_arp_entry *e = find(s, ip);

	if (!usable(s, e))
		return false;
	memcpy(mac, e->mac, 6);
	return true;
}

uint64_t nip_arp_generation(const struct nip_stack *s)
{
	return arp_of(s)->gen;
}

bool nip_arp_hint_get(struct nip_stack *s, uint32_t ip, struct nip_arp_hint *h)
{
	struct nip_arp_entry *e = find(s, ip);

	/* An expired mapping still in its grace is left to nip_arp_resolve_and_send, which
	 * asks its owner to renew it. */
	if (!e || !(e->state == E_STATIC || (e->state == E_RESOLVED && e->deadline > s->now)))
		return false;
	e->used = true;
	memcpy(h->mac, e->mac, 6);
	h->gen = arp_of(s)->gen;
	h->until = e->state == E_STATIC ? UINT64_MAX : e->deadline;
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

/* Sends a request for ip, spending a token (the caller checked there is one). */
static void send_request(struct nip_stack *s, uint32_t ip)
{
	static const uint8_t zero[6];
	struct arp_state *a = arp_of(s);

	a->credit -= a->cost;
	send_arp(s, NIP_ARP_REQUEST, nip_eth_broadcast, zero, ip);
}

/* The entry learned the MAC: send what waited for it. */
static void resolved(struct nip_stack *s, struct nip_arp_entry *e, const uint8_t mac[6])
{
	uint8_t m[6];
	uint32_t list;

	memcpy(m, mac, 6);
	memcpy(e->mac, m, 6);
	if (e->state == E_STATIC)
		return;
	if (e->state == E_PENDING)
		e->used = true; /* we asked for it */
	list = end_resolution(s, e, E_RESOLVED);
	e->deadline = s->now + s->cfg.arp_ttl_ns;
	e->since = s->now;
	drain(s, list, m, 0);
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

static bool enqueue(struct nip_stack *s, struct nip_arp_entry *e, struct demi__buf *frame,
		    nip_sent_cb cb, void *ctx)
{
	struct arp_state *a = arp_of(s);
	uint32_t i = a->free;

	if (i == NONE)
		return false;
	a->free = a->pool[i].next;
	a->pool[i] = (struct queued){frame, cb, ctx, NONE};
	splice(a, &e->head, &e->tail, i, i);
	e->nqueued++;
	a->queued++;
	return true;
}

/* An expired mapping in use: asks its owner, at the MAC we know (RFC 1122 2.3.2.1 allows
 * unicast polls), at most once per arp_retry_ns; its answer renews the mapping. */
static void refresh(struct nip_stack *s, struct nip_arp_entry *e)
{
	static const uint8_t zero[6];
	struct arp_state *a = arp_of(s);

	e->refresh_at = s->now + s->cfg.arp_retry_ns;
	if (!may_request(s, a, T_REFRESH)) {
		s->cnt.arp_retries_limited++;
		return;
	}
	a->credit -= a->cost;
	send_arp(s, NIP_ARP_REQUEST, e->mac, zero, e->ip);
}

/* The oldest resolution that has been retried at least once, or NULL. */
static struct nip_arp_entry *oldest_retried(struct nip_stack *s)
{
	struct nip_arp_entry *victim = NULL;

	for (uint32_t i = 0; i < ARP_CAP; i++) {
		struct nip_arp_entry *e = &s->arp[i];

		if (e->state == E_PENDING && e->tries >= 2 && (!victim || e->since < victim->since))
			victim = e;
	}
	return victim;
}

void nip_arp_resolve_and_send(struct nip_stack *s, struct demi__buf *frame, uint32_t next_hop,
			      nip_sent_cb cb, void *ctx)
{
	struct arp_state *a = arp_of(s);
	struct nip_arp_entry *e;
	uint32_t evicted = NONE;
	uint64_t *drop;

	if (next_hop == 0xffffffffu) {
		transmit(s, frame, nip_eth_broadcast, cb, ctx);
		return;
	}
	e = find(s, next_hop);
	if (usable(s, e)) {
		e->used = true;
		if (e->state == E_RESOLVED && e->deadline <= s->now && e->refresh_at <= s->now)
			refresh(s, e);
		transmit(s, frame, e->mac, cb, ctx);
		return;
	}
	if (e && e->state == E_PENDING) {
		drop = &s->cnt.drop_arp_pending_full;
		if (e->nqueued >= s->cfg.arp_pending_max)
			goto drop;
		drop = &s->cnt.drop_arp_queue_full;
		if (!enqueue(s, e, frame, cb, ctx))
			goto drop;
		return;
	}
	/* A new resolution needs a frame slot, a token and a place, checked in this order so
	 * that nothing is evicted for a request that could not be sent. */
	drop = &s->cnt.drop_arp_queue_full;
	if (a->free == NONE)
		goto drop;
	drop = &s->cnt.drop_arp_rate_limited;
	if (!may_request(s, a, T_NEW))
		goto drop;
	if (a->resolving >= s->cfg.arp_resolving_max) {
		struct nip_arp_entry *old = oldest_retried(s);

		drop = &s->cnt.drop_arp_resolving_full;
		if (!old)
			goto drop;
		s->cnt.arp_evictions++;
		evicted = end_resolution(s, old, E_DELETED);
		a->live--;
	}
	if (!e && !(e = insert(s, next_hop)))
		goto drop_uncounted; /* counted as arp_cache_full */
	end_resolution(s, e, E_PENDING);
	a->resolving++;
	e->tries = 1;
	e->used = false;
	e->since = s->now;
	e->deadline = s->now + s->cfg.arp_retry_ns;
	if (e->deadline < s->arp_next_retry)
		s->arp_next_retry = e->deadline;
	(void)enqueue(s, e, frame, cb, ctx); /* a slot is free: checked above */
	send_request(s, next_hop);
	drain(s, evicted, NULL, -EHOSTUNREACH);
	return;
drop:
	(*drop)++;
drop_uncounted:
	nip_frame_put(frame);
	if (cb)
		cb(ctx, -ENOBUFS);
	drain(s, evicted, NULL, -EHOSTUNREACH);
}

/* Only retries need the clock: learned entries expire when looked up, not on a timer. */
uint64_t nip_arp_next_deadline(const struct nip_stack *s)
{
	return s->arp_next_retry;
}

void nip_arp_timers(struct nip_stack *s)
{
	struct arp_state *a = arp_of(s);
	uint32_t dead = NONE, dead_tail = NONE;
	uint64_t next = UINT64_MAX;

	/* Cheap when nothing is being resolved: the scan runs only for due retries. */
	if (s->now < s->arp_next_retry)
		return;
	for (uint32_t i = 0; i < ARP_CAP; i++) {
		struct nip_arp_entry *e = &s->arp[i];
		if (e->state != E_PENDING)
			continue;
		if (e->deadline <= s->now) {
			if (e->tries >= s->cfg.arp_retries) {
				uint32_t tail = e->tail;

				s->cnt.arp_failures++;
				splice(a, &dead, &dead_tail, end_resolution(s, e, E_DELETED), tail);
				a->live--;
				continue;
			}
			e->tries++;
			e->deadline = s->now + s->cfg.arp_retry_ns;
			if (may_request(s, a, T_RETRY))
				send_request(s, e->ip);
			else
				s->cnt.arp_retries_limited++;
		}
		if (e->deadline < next)
			next = e->deadline;
	}
	s->arp_next_retry = next;
	/* Senders learn of failures once the table is consistent: they may send again. */
	drain(s, dead, NULL, -EHOSTUNREACH);
}
