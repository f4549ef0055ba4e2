/* SPDX-License-Identifier: MIT */
/*
 * The in-memory test link; see test_link.h. Each end is two links: raw, the bare wire (latency,
 * a transmit ring that fills, chained frames linearized), and around it the fault wrapper of
 * fault_link.c, the one implementation of the faults. The end's link (what the stack holds)
 * copies the wire's fault parameters into the wrapper before each call and its counts back
 * after, so tests set faults and read stats on the wire as they always did.
 */
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

/* ---- the bare wire ---- */

static void enqueue(struct nip_test_end *from, struct nip_test_end *to, struct demi__buf *b,
		    uint64_t due)
{
	if (to->count == NIP_TEST_QUEUE) {
		from->wire_lost++;
		demi__buf_put(b);
		return;
	}
	struct nip_test_frame *slot = &to->q[(to->head + to->count) % NIP_TEST_QUEUE];
	slot->buf = b;
	slot->due = due;
	to->count++;
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

static int raw_tx_burst(void *dev, struct demi__buf **bufs, int n)
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

		if (!b) {
			from->wire_lost++;
			continue;
		}
		enqueue(from, to, b, due);
	}
	return n; /* past the ring, the wire never refuses: a full queue is a counted loss */
}

/* Takes back the receive buffers nobody else holds any more (faults.rx_bufs). */
static void rx_reclaim(struct nip_test_end *e)
{
	uint32_t w = 0;

	for (uint32_t r = 0; r < e->rx_nheld; r++) {
		struct demi__buf *b = e->rx_held[r];

		if (b->refcnt == 1)
			demi__buf_put(b);
		else
			e->rx_held[w++] = b;
	}
	e->rx_nheld = w;
}

static int raw_rx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_test_end *e = dev;
	uint32_t limit = e->wire->faults.rx_bufs;
	int got = 0;

	e->tx_taken = 0; /* a new poll: the device drained its transmit ring */
	if (limit > NIP_TEST_QUEUE)
		limit = NIP_TEST_QUEUE;
	rx_reclaim(e);
	while (got < n && e->count && e->q[e->head].due <= *e->wire->now) {
		struct demi__buf *b = e->q[e->head].buf;

		if (limit) {
			if (e->rx_nheld >= limit) {
				e->rx_stalled++;
				break; /* no receive buffer: the frame waits on the wire */
			}
			demi__buf_ref(b);
			e->rx_held[e->rx_nheld++] = b;
		}
		b->priv = 0; /* no NIP_RXF_* flags: nothing verified, as without offloads */
		bufs[got++] = b;
		e->head = (e->head + 1) % NIP_TEST_QUEUE;
		e->count--;
		e->stats.delivered++;
	}
	e->rxmem.bufs = limit;
	e->rxmem.held = e->rx_nheld;
	return got;
}

static struct demi__buf *wire_alloc(void *dev, size_t size)
{
	struct nip_test_end *e = dev;

	return demi__pool_get(e->wire->pool, size);
}

static const struct nip_link_ops raw_ops = {
	.rx_burst = raw_rx_burst,
	.tx_burst = raw_tx_burst,
	.alloc = wire_alloc,
};

/* ---- the end the stack holds: the fault wrapper, fed the wire's parameters ---- */

static void faults_in(struct nip_test_end *e)
{
	const struct nip_test_faults *f = &e->wire->faults;

	/* Latency is the wire's own (raw_tx_burst), so tests see frames in flight in q. */
	e->fault.tx.p = (struct nip_fault_params){
		.drop_ppm = f->drop_ppm,
		.dup_ppm = f->dup_ppm,
		.reorder_ppm = f->reorder_ppm,
		.corrupt_ppm = f->corrupt_ppm,
	};
}

static void stats_out(struct nip_test_end *e)
{
	const struct nip_fault_stats *st = &e->fault.tx.st;

	e->stats.sent = st->frames;
	e->stats.dropped = st->dropped;
	e->stats.duplicated = st->duplicated;
	e->stats.reordered = st->reordered;
	e->stats.corrupted = st->corrupted;
	e->stats.full = st->full + e->wire_lost;
}

/* One call of the wrapper with the wire's current faults, its counts copied back. */
static int end_call(struct nip_test_end *e, bool tx, struct demi__buf **bufs, int n)
{
	const struct nip_link_ops *ops = e->fault.link.ops;
	int rc;

	faults_in(e);
	rc = tx ? ops->tx_burst(e->fault.link.dev, bufs, n)
		: ops->rx_burst(e->fault.link.dev, bufs, n);
	stats_out(e);
	return rc;
}

static int end_tx_burst(void *dev, struct demi__buf **bufs, int n)
{
	return end_call(dev, true, bufs, n);
}

static int end_rx_burst(void *dev, struct demi__buf **bufs, int n)
{
	return end_call(dev, false, bufs, n);
}

static const struct nip_link_ops end_ops = {
	.rx_burst = end_rx_burst,
	.tx_burst = end_tx_burst,
	.alloc = wire_alloc,
};

static uint64_t wire_now(void *arg)
{
	const struct nip_test_wire *w = arg;

	return *w->now;
}

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
		e->raw.ops = &raw_ops;
		e->raw.dev = e;
		e->raw.mtu = mtu;
		/* Chains are linearized on the way (tests may clear it); frames carry no checksum
		 * flags, so the stack verifies every received checksum (ip4.c). */
		e->raw.offloads = NIP_OFF_TX_CHAIN;
		e->raw.mac[0] = 0x02;
		e->raw.mac[5] = (uint8_t)(i + 1);
		e->raw.rxmem = &e->rxmem;
		/* Each end draws its faults from its own stream of the seed. */
		nip_fault_link_init(&e->fault, &e->raw, pool,
				    w->rng ^ (i ? 0x9E3779B97F4A7C15ull : 0), wire_now, w);
		e->link = e->raw;
		e->link.ops = &end_ops;
	}
}

void nip_test_wire_fini(struct nip_test_wire *w)
{
	for (int i = 0; i < 2; i++) {
		struct nip_test_end *e = &w->end[i];
		nip_fault_link_fini(&e->fault);
		while (e->rx_nheld)
			demi__buf_put(e->rx_held[--e->rx_nheld]);
		while (e->count) {
			demi__buf_put(e->q[e->head].buf);
			e->head = (e->head + 1) % NIP_TEST_QUEUE;
			e->count--;
		}
	}
}
