/* SPDX-License-Identifier: MIT */
/* The in-memory test link; see test_link.h. */
#include "test_link.h"

#include <string.h>

static uint64_t rnd(struct nip_test_wire *w)
{
	/* xorshift64*: reproducible from the seed. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545F4914F6CDD1Dull;
}

static bool hit(struct nip_test_wire *w, uint32_t ppm)
{
	return ppm && rnd(w) % 1000000 < ppm;
}

/*
 * Corruption models damage that got past the link's frame check: it hits the IPv4 packet of a
 * frame, where the IPv4 and UDP checksums must catch it. (A real link drops frames whose FCS
 * fails, so damaged Ethernet headers or ARP bodies, which carry no checksum, do not occur.)
 */
static bool is_ip4(const struct demi__buf *b)
{
	const uint8_t *d = demi__buf_data(b);

	return b->len > 14 && d[12] == 0x08 && d[13] == 0x00;
}

static struct demi__buf *copy_of(struct nip_test_wire *w, struct demi__buf *b)
{
	struct demi__buf *c = demi__pool_get(w->pool, b->len);

	if (c)
		memcpy(demi__buf_data(c), demi__buf_data(b), b->len);
	return c;
}

static void enqueue(struct nip_test_wire *w, struct nip_test_end *to, struct demi__buf *b,
		    uint64_t due)
{
	if (to->count == NIP_TEST_QUEUE) {
		to->stats.full++;
		demi__buf_put(b);
		return;
	}
	struct nip_test_frame *slot = &to->q[(to->head + to->count) % NIP_TEST_QUEUE];
	slot->buf = b;
	slot->due = due;
	to->count++;
	/* Reordering: swap with one of the last few queued frames. */
	if (to->count > 1 && hit(w, w->faults.reorder_ppm)) {
		uint32_t back = 1 + (uint32_t)(rnd(w) % (to->count - 1 < 3 ? to->count - 1 : 3));
		struct nip_test_frame *other =
			&to->q[(to->head + to->count - 1 - back) % NIP_TEST_QUEUE];
		struct nip_test_frame t = *slot;
		*slot = *other;
		*other = t;
		/* Keep delivery times non-decreasing along the queue. */
		uint64_t d = slot->due > other->due ? slot->due : other->due;
		slot->due = other->due = d;
		to->stats.reordered++;
	}
}

/* A chained frame (link.h) arrives at the other end as one buffer, as a NIC would put it on
 * the wire; NULL when out of buffers (the frame is lost, as on a full wire). */
static struct demi__buf *linearize(struct nip_test_wire *w, struct demi__buf *b)
{
	struct demi__buf *c;
	uint32_t ext = nip_frame_ext_len(b);

	if (!b->next)
		return b;
	c = demi__pool_get(w->pool, b->len + ext);
	if (c) {
		memcpy(demi__buf_data(c), demi__buf_data(b), b->len);
		memcpy(demi__buf_data(c) + b->len, nip_frame_ext_data(b), ext);
	}
	nip_frame_put(b);
	return c;
}

static int tx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_test_end *from = dev;
	struct nip_test_wire *w = from->wire;
	struct nip_test_end *to = &w->end[1 - from->side];
	const struct nip_test_faults *f = &w->faults;

	if (f->tx_per_poll) {
		uint32_t room =
			f->tx_per_poll > from->tx_taken ? f->tx_per_poll - from->tx_taken : 0;

		if ((uint32_t)n > room) {
			from->stats.refused += (uint32_t)n - room;
			n = (int)room;
		}
		from->tx_taken += (uint32_t)n;
	}
	for (int i = 0; i < n; i++) {
		struct demi__buf *b = linearize(w, bufs[i]);
		uint64_t due = *w->now + f->delay_ns + (f->jitter_ns ? rnd(w) % f->jitter_ns : 0);

		from->stats.sent++;
		if (!b) {
			from->stats.dropped++;
			continue;
		}
		if (hit(w, f->drop_ppm)) {
			from->stats.dropped++;
			demi__buf_put(b);
			continue;
		}
		if (hit(w, f->dup_ppm)) {
			struct demi__buf *c = copy_of(w, b);
			if (c) {
				from->stats.duplicated++;
				enqueue(w, to, c, due);
			}
		}
		if (is_ip4(b) && hit(w, f->corrupt_ppm)) {
			struct demi__buf *c = copy_of(w, b);
			demi__buf_put(b);
			if (!c)
				continue;
			demi__buf_data(c)[14 + rnd(w) % (c->len - 14)] ^=
				(uint8_t)(1 + rnd(w) % 255);
			from->stats.corrupted++;
			b = c;
		}
		enqueue(w, to, b, due);
	}
	return n; /* past the ring, the wire never refuses: a full queue is a counted loss */
}

static int rx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_test_end *e = dev;
	int got = 0;

	e->tx_taken = 0; /* a new poll: the device drained its transmit ring */
	while (got < n && e->count && e->q[e->head].due <= *e->wire->now) {
		bufs[got++] = e->q[e->head].buf;
		e->head = (e->head + 1) % NIP_TEST_QUEUE;
		e->count--;
		e->stats.delivered++;
	}
	return got;
}

static struct demi__buf *alloc(void *dev, size_t size)
{
	struct nip_test_end *e = dev;

	return demi__pool_get(e->wire->pool, size);
}

static const struct nip_link_ops test_link_ops = {
	.rx_burst = rx_burst,
	.tx_burst = tx_burst,
	.alloc = alloc,
};

void nip_test_wire_init(struct nip_test_wire *w, struct demi__pool *pool, const uint64_t *now,
			uint16_t mtu, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->pool = pool;
	w->now = now;
	w->rng = seed ? seed : 1;
	for (int i = 0; i < 2; i++) {
		struct nip_test_end *e = &w->end[i];
		e->wire = w;
		e->side = i;
		e->link.ops = &test_link_ops;
		e->link.dev = e;
		e->link.mtu = mtu;
		e->link.offloads =
			NIP_OFF_TX_CHAIN; /* linearized on the way (tests may clear it) */
		e->link.mac[0] = 0x02;
		e->link.mac[5] = (uint8_t)(i + 1);
	}
}

void nip_test_wire_fini(struct nip_test_wire *w)
{
	for (int i = 0; i < 2; i++) {
		struct nip_test_end *e = &w->end[i];
		while (e->count) {
			demi__buf_put(e->q[e->head].buf);
			e->head = (e->head + 1) % NIP_TEST_QUEUE;
			e->count--;
		}
	}
}
