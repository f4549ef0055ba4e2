/* SPDX-License-Identifier: MIT */
/*
 * IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2), bounded in datagrams, bytes and time: the
 * rules and call order are in ip4_reass.h.
 */
#include "ip4_reass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack.h"
#include "wire/eth.h"

#define HDRS (NIP_ETH_HLEN + NIP_IP4_HLEN) /* in front of a reassembled payload */

/* One datagram under reassembly, keyed by (src, dst, id, proto) (RFC 791 3.2). */
struct nip_ip4_reass_dgram {
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	uint8_t hlen; /* the first fragment's header length (0 until it arrives) */
	uint8_t ttl, tos;
	bool last_seen; /* the last fragment (MF clear) arrived: len is the payload's length */
	uint32_t len;	/* the payload's end: exact once last_seen, else the largest end seen */
	uint32_t got;	/* payload bytes held (fragments never overlap: complete when == len) */
	uint32_t bytes; /* buffer capacity held */
	uint32_t nfrags;
	uint64_t expires;
	struct demi__buf *frags, *tail;	   /* by offset; offset in priv, data trimmed to payload */
	struct nip_ip4_reass_dgram *hnext; /* hash chain, or the free list */
	struct demi__list age;
};

static inline uint32_t frag_start(const struct demi__buf *f)
{
	return (uint32_t)f->priv;
}

static inline uint32_t frag_end(const struct demi__buf *f)
{
	return (uint32_t)f->priv + f->len;
}

static uint32_t bucket(const struct nip_ip4_reass *r, uint32_t src, uint32_t dst, uint16_t id,
		       uint8_t proto)
{
	/* Salted so that a sender cannot aim its datagrams at one chain; chains are bounded by
	 * reass_max_datagrams anyway. */
	uint64_t h = ((uint64_t)src << 32 | dst) ^ r->salt;

	h ^= (uint64_t)id << 8 | proto;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h >> 32) & r->hash_mask;
}

int nip_ip4_reass_init(struct nip_stack *s)
{
	struct nip_ip4_reass *r = &s->reass;
	uint32_t n = s->cfg.reass_max_datagrams, nb = 1;

	memset(r, 0, sizeof(*r));
	demi__list_init(&r->age);
	if (!n)
		return 0; /* off: fragments are dropped (drop_ip4 "fragment") */
	while (nb < 2 * n)
		nb <<= 1;
	r->slots = calloc(n, sizeof(*r->slots));
	r->hash = calloc(nb, sizeof(*r->hash));
	if (!r->slots || !r->hash) {
		free(r->slots);
		free(r->hash);
		r->slots = NULL;
		r->hash = NULL;
		return -ENOMEM;
	}
	r->hash_mask = nb - 1;
	for (uint32_t i = n; i-- > 0;) {
		r->slots[i].hnext = r->free;
		r->free = &r->slots[i];
	}
	memcpy(&r->salt, s->cfg.tcp.isn_secret, sizeof(r->salt));
	return 0;
}

/* Unlinks d from its hash chain and the age list, returns its slot. Fragments: the caller's. */
static void dgram_free(struct nip_ip4_reass *r, struct nip_ip4_reass_dgram *d)
{
	struct nip_ip4_reass_dgram **pp = &r->hash[bucket(r, d->src, d->dst, d->id, d->proto)];

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	demi__list_remove(&d->age);
	r->ndgrams--;
	r->bytes -= d->bytes;
	d->hnext = r->free;
	r->free = d;
}

/* Drops d and every fragment it holds, counting them in *counter. */
static void dgram_drop(struct nip_stack *s, struct nip_ip4_reass_dgram *d, uint64_t *counter)
{
	struct demi__buf *f = d->frags, *next;

	*counter += d->nfrags;
	for (; f; f = next) {
		next = f->next;
		f->next = NULL;
		f->priv = 0;
		demi__buf_put(f);
	}
	dgram_free(&s->reass, d);
}

void nip_ip4_reass_fini(struct nip_stack *s)
{
	struct nip_ip4_reass *r = &s->reass;
	uint64_t gone = 0;
	struct demi__list *n;

	while ((n = demi__list_front(&r->age)))
		dgram_drop(s, demi__container_of(n, struct nip_ip4_reass_dgram, age), &gone);
	free(r->slots);
	free(r->hash);
	r->slots = NULL;
	r->hash = NULL;
}

void nip_ip4_reass_timers(struct nip_stack *s)
{
	struct nip_ip4_reass *r = &s->reass;
	struct demi__list *n;

	/* Every datagram lives the same time from its creation: the oldest expires first. RFC
	 * 792's time exceeded is a MAY (RFC 1122 3.3.2), and Linux sends it only with the first
	 * fragment; catnip sends no ICMP errors. */
	while ((n = demi__list_front(&r->age))) {
		struct nip_ip4_reass_dgram *d =
			demi__container_of(n, struct nip_ip4_reass_dgram, age);

		if (d->expires > s->now)
			break;
		dgram_drop(s, d, &s->cnt.drop_ip4_frag_timeout);
	}
}

uint64_t nip_ip4_reass_next_deadline(const struct nip_stack *s)
{
	const struct demi__list *n = demi__list_front(&s->reass.age);

	return n ? demi__container_of(n, struct nip_ip4_reass_dgram, age)->expires : UINT64_MAX;
}

/* Drops the oldest datagram other than keep (NULL: any) to make room; false when none. */
static bool evict_oldest(struct nip_stack *s, const struct nip_ip4_reass_dgram *keep)
{
	struct demi__list *n;

	for (n = s->reass.age.next; n != &s->reass.age; n = n->next) {
		struct nip_ip4_reass_dgram *d =
			demi__container_of(n, struct nip_ip4_reass_dgram, age);

		if (d != keep) {
			dgram_drop(s, d, &s->cnt.drop_ip4_frag_mem);
			return true;
		}
	}
	return false;
}

static struct nip_ip4_reass_dgram *find(struct nip_ip4_reass *r, const struct nip_ip4 *ip)
{
	struct nip_ip4_reass_dgram *d = r->hash[bucket(r, ip->src, ip->dst, ip->id, ip->proto)];

	while (d && !(d->src == ip->src && d->dst == ip->dst && d->id == ip->id &&
		      d->proto == ip->proto))
		d = d->hnext;
	return d;
}

static struct nip_ip4_reass_dgram *create(struct nip_stack *s, const struct nip_ip4 *ip)
{
	struct nip_ip4_reass *r = &s->reass;
	struct nip_ip4_reass_dgram *d, **head;

	if (!r->free && !evict_oldest(s, NULL))
		return NULL; /* not reached: slots exist when reassembly is on */
	d = r->free;
	r->free = d->hnext;
	memset(d, 0, sizeof(*d));
	d->src = ip->src;
	d->dst = ip->dst;
	d->id = ip->id;
	d->proto = ip->proto;
	d->expires = s->now + s->cfg.reass_timeout_ns;
	head = &r->hash[bucket(r, ip->src, ip->dst, ip->id, ip->proto)];
	d->hnext = *head;
	*head = d;
	demi__list_push_back(&r->age, &d->age);
	r->ndgrams++;
	return d;
}

/* The complete datagram d copied into one frame-shaped buffer; d is freed. NULL when the pool
 * has no buffer (counted, d dropped). */
static struct demi__buf *assemble(struct nip_stack *s, struct nip_ip4_reass_dgram *d,
				  const uint8_t *eth, struct nip_ip4 *ip)
{
	struct demi__buf *out = s->link->ops->alloc(s->link->dev, HDRS + d->len), *f, *next;
	struct nip_ip4 h = {.src = d->src,
			    .dst = d->dst,
			    .proto = d->proto,
			    .ttl = d->ttl,
			    .tos = d->tos,
			    .id = d->id};
	uint8_t *p;

	if (!out) {
		s->cnt.drop_no_buffer++;
		dgram_drop(s, d, &s->cnt.drop_ip4_frag_mem);
		return NULL;
	}
	p = demi__buf_data(out);
	/* The Ethernet header of the fragment that completed it, and a plain IPv4 header, so
	 * that the buffer looks like any received frame to ICMP, UDP and TCP. */
	memcpy(p, eth, NIP_ETH_HLEN);
	nip_ip4_emit(p + NIP_ETH_HLEN, &h, (uint16_t)d->len, false);
	for (f = d->frags; f; f = next) {
		next = f->next;
		memcpy(p + HDRS + frag_start(f), demi__buf_data(f), f->len);
		f->next = NULL;
		f->priv = 0;
		demi__buf_put(f);
	}
	out->len = HDRS + d->len;
	out->priv = 0; /* no checksum flags: L4 is verified in software */
	*ip = h;
	ip->hlen = NIP_IP4_HLEN;
	ip->payload = p + HDRS;
	ip->payload_len = d->len;
	s->cnt.ip4_reassembled++;
	d->frags = NULL;
	d->nfrags = 0;
	dgram_free(&s->reass, d);
	return out;
}

struct demi__buf *nip_ip4_reass_input(struct nip_stack *s, struct demi__buf *frame,
				      struct nip_ip4 *ip)
{
	struct nip_ip4_reass *r = &s->reass;
	const uint8_t *eth = ip->payload - ip->hlen - NIP_ETH_HLEN;
	uint32_t start = ip->frag_off, end = start + (uint32_t)ip->payload_len;
	struct nip_ip4_reass_dgram *d;
	struct demi__buf *prev = NULL, *f;

	s->cnt.ip4_frags_rx++;
	if (!r->slots) {
		s->cnt.drop_ip4[NIP_IP4_FRAGMENT]++;
		goto drop;
	}
	/* RFC 791: every fragment but the last carries a multiple of 8 bytes; Linux cuts the
	 * excess rather than refusing it. */
	if (ip->more_frags)
		end &= ~7u;
	d = find(r, ip);
	/* With the header (the first fragment's, or at least 20 bytes), past what a total
	 * length can say: the datagram can never be valid (the "ping of death"). */
	if (end + (d && d->hlen ? d->hlen : start ? NIP_IP4_HLEN : ip->hlen) > NIP_IP4_MAX_LEN) {
		s->cnt.drop_ip4_frag_too_long++;
		if (d)
			dgram_drop(s, d, &s->cnt.drop_ip4_frag_too_long);
		goto drop_counted;
	}
	if (!d && !(d = create(s, ip))) {
		s->cnt.drop_ip4_frag_mem++;
		goto drop_counted;
	}
	/* An end that contradicts what the datagram's fragments said, or no payload at all:
	 * the datagram is corrupt (Linux's checks in ip_frag_queue). */
	if (end <= start ||
	    (!ip->more_frags && (end < d->len || (d->last_seen && end != d->len))) ||
	    (ip->more_frags && d->last_seen && end > d->len))
		goto bad;
	if (!ip->more_frags)
		d->last_seen = true;
	if (end > d->len)
		d->len = end;
	/* The place in offset order: after the tail (in-order arrival) or found by a walk. */
	if (d->tail && frag_end(d->tail) <= start) {
		prev = d->tail;
	} else {
		for (f = d->frags; f && end > frag_start(f); prev = f, f = f->next) {
			if (start >= frag_end(f))
				continue;
			if (start >= frag_start(f) && end <= frag_end(f)) {
				/* Wholly inside one held: a duplicate, harmless. A last one may
				 * still have told the end that completes the datagram. */
				s->cnt.drop_ip4_frag_dup++;
				if (d->last_seen && d->got == d->len) {
					struct demi__buf *out = assemble(s, d, eth, ip);

					demi__buf_put(frame);
					return out;
				}
				goto drop_counted;
			}
			s->cnt.drop_ip4_frag_overlap++;
			dgram_drop(s, d, &s->cnt.drop_ip4_frag_overlap);
			goto drop_counted;
		}
	}
	/* Room under the byte cap, the oldest other datagrams going first. */
	while (r->bytes + frame->cap > s->cfg.reass_max_bytes && evict_oldest(s, d))
		;
	if (r->bytes + frame->cap > s->cfg.reass_max_bytes) {
		/* This datagram alone is past the cap: it can never complete. */
		s->cnt.drop_ip4_frag_mem++;
		dgram_drop(s, d, &s->cnt.drop_ip4_frag_mem);
		goto drop_counted;
	}
	if (start == 0) {
		d->hlen = ip->hlen;
		d->ttl = ip->ttl;
		d->tos = ip->tos;
	}
	frame->off = (uint32_t)(ip->payload - frame->base);
	frame->len = end - start;
	frame->priv = start;
	frame->next = prev ? prev->next : d->frags;
	if (prev)
		prev->next = frame;
	else
		d->frags = frame;
	if (!frame->next)
		d->tail = frame;
	d->got += end - start;
	d->nfrags++;
	d->bytes += frame->cap;
	r->bytes += frame->cap;
	if (!d->last_seen || d->got != d->len)
		return NULL;
	if (d->hlen + d->len > NIP_IP4_MAX_LEN) { /* the first fragment's options counted */
		dgram_drop(s, d, &s->cnt.drop_ip4_frag_too_long);
		return NULL;
	}
	return assemble(s, d, eth, ip);

bad:
	s->cnt.drop_ip4_frag_bad++;
	dgram_drop(s, d, &s->cnt.drop_ip4_frag_bad);
drop_counted:
drop:
	demi__buf_put(frame);
	return NULL;
}

int nip_ip4_reass_validate(const struct nip_stack *s)
{
	const struct nip_ip4_reass *r = &s->reass;
	uint64_t bytes = 0, expires = 0;
	uint32_t n = 0;

	for (const struct demi__list *l = r->age.next; l != &r->age; l = l->next) {
		const struct nip_ip4_reass_dgram *d =
			demi__container_of(l, struct nip_ip4_reass_dgram, age);
		const struct nip_ip4_reass_dgram *h;
		uint32_t got = 0, cap = 0, frags = 0, end = 0;
		const struct demi__buf *f, *last = NULL;

		for (h = r->hash[bucket(r, d->src, d->dst, d->id, d->proto)]; h && h != d;)
			h = h->hnext;
		if (!h || d->expires < expires || !d->frags)
			return -EINVAL;
		expires = d->expires;
		for (f = d->frags; f; last = f, f = f->next) {
			if (frag_start(f) < end || f->len == 0)
				return -EINVAL;
			end = frag_end(f);
			got += f->len;
			cap += f->cap;
			frags++;
		}
		if (last != d->tail || end > d->len || got != d->got || cap != d->bytes ||
		    frags != d->nfrags || (d->last_seen && got == d->len))
			return -EINVAL;
		bytes += d->bytes;
		n++;
	}
	return n == r->ndgrams && bytes == r->bytes ? 0 : -EINVAL;
}
