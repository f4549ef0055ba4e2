/* SPDX-License-Identifier: MIT */
/* Fault injection around any link; see fault_link.h for what each fault does and the keys. */
#include "fault_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BURST 32

static uint64_t rnd(struct nip_fault_link *f)
{
	/* xorshift64*: reproducible from the seed. */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545F4914F6CDD1Dull;
}

static bool hit(struct nip_fault_link *f, uint32_t ppm)
{
	return ppm && rnd(f) % 1000000 < ppm;
}

static bool params_on(const struct nip_fault_params *p)
{
	return p->drop_ppm | p->dup_ppm | p->reorder_ppm | p->corrupt_ppm | p->delay_ns |
	       p->jitter_ns;
}

static bool dir_busy(const struct nip_fault_dir *d)
{
	return d->count || d->nheld || params_on(&d->p);
}

static bool is_ip4(const struct demi__buf *b)
{
	const uint8_t *d = demi__buf_data(b);

	return b->len > 14 && d[12] == 0x08 && d[13] == 0x00;
}

/* A linear copy of a frame (a chained one's payload range included), with its flags. */
static struct demi__buf *copy_of(struct nip_fault_link *f, struct demi__buf *b)
{
	uint32_t ext = nip_frame_ext_len(b);
	struct demi__buf *c = demi__pool_get(f->pool, b->len + ext);

	if (!c)
		return NULL;
	memcpy(demi__buf_data(c), demi__buf_data(b), b->len);
	if (ext)
		memcpy(demi__buf_data(c) + b->len, nip_frame_ext_data(b), ext);
	else
		c->priv = b->priv; /* a received frame's NIP_RXF_* flags */
	return c;
}

/* Appends to the delay queue (due in order). */
static void queue(struct nip_fault_link *f, struct nip_fault_dir *d, struct demi__buf *b,
		  uint64_t now)
{
	uint64_t due = now + d->p.delay_ns + (d->p.jitter_ns ? rnd(f) % d->p.jitter_ns : 0);

	if (d->count == NIP_FAULT_QUEUE) {
		d->st.full++;
		nip_frame_put(b);
		return;
	}
	if (due < d->last_due)
		due = d->last_due;
	d->last_due = due;
	d->q[(d->head + d->count) % NIP_FAULT_QUEUE] = (struct nip_fault_frame){b, due};
	d->count++;
}

static void release_held(struct nip_fault_link *f, struct nip_fault_dir *d, uint32_t i,
			 uint64_t now)
{
	struct demi__buf *b = d->held[i].buf;

	d->held[i] = d->held[--d->nheld];
	queue(f, d, b, now);
}

/* A frame that passed the faults goes on; held frames it overtook may follow it. */
static void pass(struct nip_fault_link *f, struct nip_fault_dir *d, struct demi__buf *b,
		 uint64_t now)
{
	queue(f, d, b, now);
	for (uint32_t i = 0; i < d->nheld;)
		if (--d->held[i].wait == 0)
			release_held(f, d, i, now);
		else
			i++;
}

static void flush_held(struct nip_fault_link *f, struct nip_fault_dir *d, uint64_t now)
{
	while (d->nheld)
		release_held(f, d, 0, now);
}

/* One frame into direction d: the faults of fault_link.h, in their order. */
static void admit(struct nip_fault_link *f, struct nip_fault_dir *d, struct demi__buf *b,
		  uint64_t now)
{
	d->st.frames++;
	if (hit(f, d->p.drop_ppm)) {
		d->st.dropped++;
		nip_frame_put(b);
		return;
	}
	if (hit(f, d->p.dup_ppm)) {
		struct demi__buf *c = copy_of(f, b);

		if (c) {
			d->st.duplicated++;
			pass(f, d, c, now);
		}
	}
	if (is_ip4(b) && hit(f, d->p.corrupt_ppm)) {
		struct demi__buf *c = copy_of(f, b);

		nip_frame_put(b);
		if (!c) {
			d->st.full++;
			return;
		}
		demi__buf_data(c)[14 + rnd(f) % (c->len - 14)] ^= (uint8_t)(1 + rnd(f) % 255);
		c->priv = 0; /* whatever the device verified, these are not its bytes */
		d->st.corrupted++;
		b = c;
	}
	if (d->nheld < NIP_FAULT_HELD && hit(f, d->p.reorder_ppm)) {
		d->held[d->nheld].buf = b;
		d->held[d->nheld].wait = 1 + (uint32_t)(rnd(f) % 3);
		d->nheld++;
		d->st.reordered++;
		return;
	}
	pass(f, d, b, now);
}

/* Hands due transmit frames to the inner link, oldest first. Returns false when a due frame
 * is left because the inner link refused it. */
static bool tx_flush(struct nip_fault_link *f, uint64_t now)
{
	struct nip_fault_dir *d = &f->tx;
	struct demi__buf *out[BURST];

	while (d->count && d->q[d->head].due <= now) {
		int k = 0, took;

		while (k < BURST && k < (int)d->count &&
		       d->q[(d->head + k) % NIP_FAULT_QUEUE].due <= now) {
			out[k] = d->q[(d->head + k) % NIP_FAULT_QUEUE].buf;
			k++;
		}
		took = f->inner->ops->tx_burst(f->inner->dev, out, k);
		d->head = (d->head + (uint32_t)took) % NIP_FAULT_QUEUE;
		d->count -= (uint32_t)took;
		if (took < k)
			return false;
	}
	return true;
}

static int fault_tx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_fault_link *f = dev;
	struct nip_fault_dir *d = &f->tx;
	uint64_t now;
	int i;

	if (!dir_busy(d))
		return f->inner->ops->tx_burst(f->inner->dev, bufs, n);
	now = f->now(f->now_arg);
	if (!tx_flush(f, now))
		return 0; /* the inner ring is full: back-pressure */
	/* Room for every frame and its duplicate: what does not fit is refused, not lost. */
	for (i = 0; i < n && d->count + 2 * (d->nheld + 1) < NIP_FAULT_QUEUE; i++)
		admit(f, d, bufs[i], now);
	flush_held(f, d, now); /* reordering stays within the burst */
	if (!tx_flush(f, now)) {
		/* The caller's own last frames that the inner link refused go back to it, so the
		 * stack sees the full ring as it would without us. */
		while (i > 0 && d->count &&
		       d->q[(d->head + d->count - 1) % NIP_FAULT_QUEUE].buf == bufs[i - 1]) {
			d->count--;
			d->st.frames--;
			i--;
		}
	}
	return i;
}

static int fault_rx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_fault_link *f = dev;
	struct nip_fault_dir *d = &f->rx;
	int got = 0;
	uint64_t now;

	if (!dir_busy(d)) {
		got = f->inner->ops->rx_burst(f->inner->dev, bufs, n);
	} else {
		struct demi__buf *in[BURST];
		int k, pulled = 0;

		now = f->now(f->now_arg);
		do {
			k = f->inner->ops->rx_burst(f->inner->dev, in,
						    n - pulled < BURST ? n - pulled : BURST);
			for (int i = 0; i < k; i++)
				admit(f, d, in[i], now);
			pulled += k;
		} while (k == BURST && pulled < n);
		flush_held(f, d, now); /* reordering stays within the burst */
		while (got < n && d->count && d->q[d->head].due <= now) {
			bufs[got++] = d->q[d->head].buf;
			d->head = (d->head + 1) % NIP_FAULT_QUEUE;
			d->count--;
		}
	}
	/* A poll: delayed frames now due, or frames a full ring refused, go now. */
	if (f->tx.count)
		tx_flush(f, f->now(f->now_arg));
	return got;
}

uint64_t nip_fault_link_next_due(const struct nip_fault_link *f)
{
	uint64_t rx = f->rx.count ? f->rx.q[f->rx.head].due : UINT64_MAX;
	uint64_t tx = f->tx.count ? f->tx.q[f->tx.head].due : UINT64_MAX;

	return rx < tx ? rx : tx;
}

static struct demi__buf *fault_alloc(void *dev, size_t size)
{
	struct nip_fault_link *f = dev;

	return f->inner->ops->alloc(f->inner->dev, size);
}

static const struct nip_link_ops fault_link_ops = {
	.rx_burst = fault_rx_burst,
	.tx_burst = fault_tx_burst,
	.alloc = fault_alloc,
};

void nip_fault_link_init(struct nip_fault_link *f, struct nip_link *inner, struct demi__pool *pool,
			 uint64_t seed, nip_fault_clock_fn now, void *now_arg)
{
	memset(f, 0, sizeof(*f));
	f->link = *inner;
	f->link.ops = &fault_link_ops;
	f->link.dev = f;
	f->inner = inner;
	f->pool = pool;
	f->now = now;
	f->now_arg = now_arg;
	f->rng = seed ? seed : 1;
}

static void dir_fini(struct nip_fault_dir *d)
{
	while (d->nheld)
		nip_frame_put(d->held[--d->nheld].buf);
	while (d->count) {
		nip_frame_put(d->q[d->head].buf);
		d->head = (d->head + 1) % NIP_FAULT_QUEUE;
		d->count--;
	}
}

void nip_fault_link_fini(struct nip_fault_link *f)
{
	dir_fini(&f->rx);
	dir_fini(&f->tx);
}

/* A percentage with decimals ("0", "2", "0.25") as parts per million. */
static int get_pct(struct demi__config *cfg, const char *key, uint32_t *ppm)
{
	const char *s;
	char *end;
	double v;
	int rc = demi__config_get_str(cfg, key, "0", &s);

	if (rc < 0)
		return rc;
	v = strtod(s, &end);
	if (end == s || *end || !(v >= 0 && v <= 100)) {
		DEMI_ERR("config: %s must be a percentage from 0 to 100 (got \"%s\")", key, s);
		return -EINVAL;
	}
	*ppm = (uint32_t)(v * 10000 + 0.5);
	return 0;
}

int nip_fault_link_from_config(struct nip_fault_link **out, struct demi__config *cfg,
			       struct nip_link *inner, struct demi__pool *pool,
			       nip_fault_clock_fn now, void *now_arg)
{
	static const char *const dirs[] = {"both", "rx", "tx", NULL};
	struct nip_fault_params p = {0};
	uint64_t delay_us, jitter_us, seed;
	int dir, rc;

	*out = NULL;
	if ((rc = get_pct(cfg, "catnip.fault.drop_pct", &p.drop_ppm)) < 0 ||
	    (rc = get_pct(cfg, "catnip.fault.dup_pct", &p.dup_ppm)) < 0 ||
	    (rc = get_pct(cfg, "catnip.fault.reorder_pct", &p.reorder_ppm)) < 0 ||
	    (rc = get_pct(cfg, "catnip.fault.corrupt_pct", &p.corrupt_ppm)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catnip.fault.delay_us", 0, 0, 10000000, &delay_us)) <
		    0 ||
	    (rc = demi__config_get_u64(cfg, "catnip.fault.jitter_us", 0, 0, 10000000, &jitter_us)) <
		    0 ||
	    (rc = demi__config_get_u64(cfg, "catnip.fault.seed", 1, 0, UINT64_MAX, &seed)) < 0 ||
	    (rc = demi__config_get_choice(cfg, "catnip.fault.direction", dirs, 0, &dir)) < 0)
		return rc;
	p.delay_ns = delay_us * 1000;
	p.jitter_ns = jitter_us * 1000;
	if (!params_on(&p))
		return 0;
	if (!(*out = malloc(sizeof(**out))))
		return -ENOMEM;
	nip_fault_link_init(*out, inner, pool, seed, now, now_arg);
	if (dir != 2)
		(*out)->rx.p = p;
	if (dir != 1)
		(*out)->tx.p = p;
	DEMI_INFO("catnip: fault injection on %s: drop %u dup %u reorder %u corrupt %u ppm, delay "
		  "%llu us + jitter %llu us, seed %llu",
		  dirs[dir], p.drop_ppm, p.dup_ppm, p.reorder_ppm, p.corrupt_ppm,
		  (unsigned long long)delay_us, (unsigned long long)jitter_us,
		  (unsigned long long)seed);
	return 0;
}

static void log_dir(const char *name, const struct nip_fault_stats *st)
{
	DEMI_INFO("catnip: fault injection %s: %llu frames, %llu dropped, %llu duplicated, "
		  "%llu reordered, %llu corrupted, %llu lost to a full queue",
		  name, (unsigned long long)st->frames, (unsigned long long)st->dropped,
		  (unsigned long long)st->duplicated, (unsigned long long)st->reordered,
		  (unsigned long long)st->corrupted, (unsigned long long)st->full);
}

void nip_fault_link_destroy(struct nip_fault_link *f)
{
	if (!f)
		return;
	/* What was injected, so a test or a user can tell the faults really happened. */
	log_dir("rx", &f->rx.st);
	log_dir("tx", &f->tx.st);
	nip_fault_link_fini(f);
	free(f);
}
