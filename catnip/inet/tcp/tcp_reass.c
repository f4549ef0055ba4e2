/* SPDX-License-Identifier: MIT */
/*
 * Out-of-order reassembly (tcp_reass.h): RFC 9293 section 3.10.7.4 (segments beyond rcv_nxt
 * held for later) and the SACK blocks of RFC 2018 section 4.
 *
 * Call order: init; insert for each segment that arrives beyond rcv_nxt; after in-order data
 * advanced rcv_nxt, pop until NULL; sack when building an ACK; clear at the end.
 *
 * The queue is a singly linked list sorted by sequence number with disjoint ranges. An
 * arrival is first measured against the queue without changing anything (trimmed against the
 * segment before it and the one it runs into, the held segments it covers counted); only if
 * it brings new bytes and fits the memory limit is it linked in and are the covered segments
 * freed.
 */
#include "tcp_reass.h"

#include <errno.h>
#include <stddef.h>

#include "tcp_seq.h"

static uint32_t seg_seq(const struct demi__buf *b)
{
	return (uint32_t)b->priv;
}

static uint32_t seg_end(const struct demi__buf *b)
{
	return (uint32_t)b->priv + b->len;
}

static void set_seq(struct demi__buf *b, uint32_t seq)
{
	b->priv = (b->priv & ~(uint64_t)UINT32_MAX) | seq;
}

/* Drops the first n bytes of b's data. */
static void trim_front(struct demi__buf *b, uint32_t n)
{
	b->off += n;
	b->len -= n;
	set_seq(b, seg_seq(b) + n);
}

/* Unlinks and frees *link (its successor takes its place). */
static void drop(struct nip_tcp_reass *r, struct demi__buf **link)
{
	struct demi__buf *b = *link;

	*link = b->next;
	r->nsegs--;
	r->mem -= b->cap;
	r->bytes -= b->len;
	b->next = NULL;
	demi__buf_put(b);
}

void nip_tcp_reass_init(struct nip_tcp_reass *r)
{
	r->head = NULL;
	r->nsegs = 0;
	r->mem = 0;
	r->bytes = 0;
	r->nrecent = 0;
}

void nip_tcp_reass_clear(struct nip_tcp_reass *r)
{
	while (r->head)
		drop(r, &r->head);
	r->nrecent = 0;
}

/* The SACK block (held bytes with adjacent segments merged) that contains seq; 0 or 1. */
static int block_of(const struct nip_tcp_reass *r, uint32_t seq, struct nip_tcp_sack_block *blk)
{
	const struct demi__buf *b = r->head;

	while (b) {
		uint32_t start = seg_seq(b), end = seg_end(b);

		while (b->next && seg_seq(b->next) == end) {
			b = b->next;
			end = seg_end(b);
		}
		if (nip_seq_in(seq, start, end)) {
			blk->start = start;
			blk->end = end;
			return 1;
		}
		b = b->next;
	}
	return 0;
}

/* Remembers that a segment starting at seq just arrived: first in recent[], and the older
 * entries that now fall in the same block leave, so each entry names a different block. */
static void note_recent(struct nip_tcp_reass *r, uint32_t seq)
{
	struct nip_tcp_sack_block blk;
	uint8_t n = 0;
	uint32_t keep[NIP_TCP_MAX_SACK];

	if (!block_of(r, seq, &blk))
		return;
	for (uint8_t i = 0; i < r->nrecent; i++)
		if (!nip_seq_in(r->recent[i], blk.start, blk.end) && n < NIP_TCP_MAX_SACK - 1)
			keep[n++] = r->recent[i];
	r->recent[0] = seq;
	for (uint8_t i = 0; i < n; i++)
		r->recent[i + 1] = keep[i];
	r->nrecent = (uint8_t)(n + 1);
}

int nip_tcp_reass_insert(struct nip_tcp_reass *r, struct demi__buf *b, uint32_t seq,
			 uint32_t rcv_nxt, uint64_t mem_max)
{
	struct demi__buf **link = &r->head, **q;
	uint32_t start = seq, end = seq + b->len, covered = 0;
	uint64_t freed = 0;

	/* Data before rcv_nxt was delivered already. */
	if (nip_seq_lt(start, rcv_nxt))
		start = nip_seq_leq(end, rcv_nxt) ? end : rcv_nxt;
	/* link: where the arrival goes (after every segment that starts at or before it). */
	while (*link && nip_seq_leq(seg_seq(*link), start)) {
		if (nip_seq_gt(seg_end(*link), start))
			start = nip_seq_min(seg_end(*link), end); /* overlaps its predecessor */
		link = &(*link)->next;
	}
	if (start == end) {
		demi__buf_put(b);
		return 0;
	}
	/* Held segments wholly inside [start, end) go; one that runs past end cuts the end. */
	for (q = link; *q && nip_seq_lt(seg_seq(*q), end); q = &(*q)->next) {
		if (nip_seq_gt(seg_end(*q), end)) {
			end = seg_seq(*q);
			break;
		}
		covered += (*q)->len;
		freed += (*q)->cap;
	}
	if (r->mem - freed + b->cap > mem_max) {
		demi__buf_put(b);
		return -ENOBUFS;
	}
	while (*link && nip_seq_lt(seg_seq(*link), end))
		drop(r, link);
	b->off += start - seq;
	b->len = end - start;
	set_seq(b, start);
	b->next = *link;
	*link = b;
	r->nsegs++;
	r->mem += b->cap;
	r->bytes += b->len;
	note_recent(r, start);
	return (int)(b->len - covered);
}

struct demi__buf *nip_tcp_reass_pop(struct nip_tcp_reass *r, uint32_t rcv_nxt)
{
	struct demi__buf *b;
	uint8_t n = 0;

	while (r->head && nip_seq_leq(seg_end(r->head), rcv_nxt))
		drop(r, &r->head);
	/* Sequence numbers already delivered no longer order SACK blocks. */
	for (uint8_t i = 0; i < r->nrecent; i++)
		if (nip_seq_geq(r->recent[i], rcv_nxt))
			r->recent[n++] = r->recent[i];
	r->nrecent = n;
	b = r->head;
	if (!b || nip_seq_gt(seg_seq(b), rcv_nxt))
		return NULL;
	if (seg_seq(b) != rcv_nxt) {
		r->bytes -= rcv_nxt - seg_seq(b);
		trim_front(b, rcv_nxt - seg_seq(b));
	}
	r->head = b->next;
	r->nsegs--;
	r->mem -= b->cap;
	r->bytes -= b->len;
	b->next = NULL;
	return b;
}

int nip_tcp_reass_sack(const struct nip_tcp_reass *r, struct nip_tcp_sack_block *out, int max)
{
	const struct demi__buf *b;
	int n = 0;

	/* Blocks holding recent arrivals, most recent first (RFC 2018 4). */
	for (uint8_t i = 0; i < r->nrecent && n < max; i++) {
		struct nip_tcp_sack_block blk;
		int dup = 0;

		if (!block_of(r, r->recent[i], &blk))
			continue;
		for (int k = 0; k < n; k++)
			dup |= out[k].start == blk.start;
		if (!dup)
			out[n++] = blk;
	}
	/* Then the others, lowest sequence first. */
	for (b = r->head; b && n < max; b = b->next) {
		struct nip_tcp_sack_block blk = {seg_seq(b), seg_end(b)};
		int dup = 0;

		while (b->next && seg_seq(b->next) == blk.end) {
			b = b->next;
			blk.end = seg_end(b);
		}
		for (int k = 0; k < n; k++)
			dup |= out[k].start == blk.start;
		if (!dup)
			out[n++] = blk;
	}
	return n;
}
