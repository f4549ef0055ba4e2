/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/tcp/tcp_reass.c, out-of-order reassembly (RFC 9293 3.10.7.4) and
 * its SACK blocks (RFC 2018 section 4), on real pool buffers: holes filled in any order, every
 * overlap of an arrival with held segments, sequence numbers that wrap at 2^32, the memory
 * limit, the order and merging of SACK blocks, pops that trim delivered data, and a randomised
 * run against a byte-map model. Every buffer carries a byte pattern derived from its sequence
 * numbers, so trimming the wrong end shows; every test ends with the pool empty.
 */
#include <errno.h>
#include <string.h>

#include "unit.h"

#include "mem/buf.h"
#include "tcp/tcp_reass.h"

#define NOLIMIT UINT64_MAX

static struct demi__pool pool;
static struct nip_tcp_reass rq;

static int setup(void **state)
{
	(void)state;
	if (demi__pool_init(&pool, 0) != 0)
		return -1;
	nip_tcp_reass_init(&rq);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nip_tcp_reass_clear(&rq);
	assert_null(rq.head);
	assert_int_equal(rq.nsegs, 0);
	assert_int_equal(rq.mem, 0);
	assert_int_equal(rq.bytes, 0);
	assert_int_equal(pool.stats.bufs_in_use, 0);
	demi__pool_fini(&pool);
	return 0;
}

/* The byte at sequence number s. */
static uint8_t pattern(uint32_t s)
{
	return (uint8_t)(s ^ s >> 8 ^ s >> 16 ^ s >> 24);
}

/* A received buffer holding [seq, seq + len) of the pattern. */
static struct demi__buf *seg(uint32_t seq, uint32_t len)
{
	struct demi__buf *b = demi__pool_get(&pool, len);
	uint8_t *d;

	assert_non_null(b);
	d = demi__buf_data(b);
	for (uint32_t i = 0; i < len; i++)
		d[i] = pattern(seq + i);
	b->priv = 0xabcd000000000000ull; /* the high half is not the queue's */
	return b;
}

static int ins(uint32_t seq, uint32_t len, uint32_t rcv_nxt)
{
	return nip_tcp_reass_insert(&rq, seg(seq, len), seq, rcv_nxt, NOLIMIT);
}

/* Checks a popped buffer: [seq, seq + len) of the pattern; then frees it. */
static void check_put(struct demi__buf *b, uint32_t seq, uint32_t len)
{
	const uint8_t *d;

	assert_non_null(b);
	assert_null(b->next);
	assert_int_equal(b->len, len);
	d = demi__buf_data(b);
	for (uint32_t i = 0; i < len; i++)
		assert_int_equal(d[i], pattern(seq + i));
	demi__buf_put(b);
}

/* The queue's structure: sorted, disjoint, counters right, every byte the pattern. */
static void check_queue(uint32_t rcv_nxt)
{
	uint64_t mem = 0;
	uint32_t bytes = 0, n = 0, prev_end = rcv_nxt;

	for (struct demi__buf *b = rq.head; b; b = b->next) {
		uint32_t s = (uint32_t)b->priv;
		const uint8_t *d = demi__buf_data(b);

		assert_true(b->len > 0);
		assert_true((int32_t)(s - prev_end) >= 0);
		assert_int_equal(b->priv >> 32, 0xabcd0000u);
		for (uint32_t i = 0; i < b->len; i++)
			assert_int_equal(d[i], pattern(s + i));
		prev_end = s + b->len;
		mem += b->cap;
		bytes += b->len;
		n++;
	}
	assert_int_equal(n, rq.nsegs);
	assert_int_equal(bytes, rq.bytes);
	assert_int_equal(mem, rq.mem);
	assert_int_equal(pool.stats.bufs_in_use, n);
}

static int sack(struct nip_tcp_sack_block *out, int max)
{
	return nip_tcp_reass_sack(&rq, out, max);
}

static void test_reass_in_order_after_holes(void **state)
{
	(void)state;
	assert_int_equal(ins(1300, 100, 1000), 100);
	assert_int_equal(ins(1100, 100, 1000), 100);
	assert_null(nip_tcp_reass_pop(&rq, 1000));
	assert_int_equal(ins(1200, 100, 1000), 100);
	assert_int_equal(ins(1500, 50, 1000), 50);
	check_queue(1000);
	assert_int_equal(rq.bytes, 350);
	/* The caller delivers [1000, 1100) itself, then drains what follows. */
	assert_null(nip_tcp_reass_pop(&rq, 1099));
	check_put(nip_tcp_reass_pop(&rq, 1100), 1100, 100);
	check_put(nip_tcp_reass_pop(&rq, 1200), 1200, 100);
	check_put(nip_tcp_reass_pop(&rq, 1300), 1300, 100);
	assert_null(nip_tcp_reass_pop(&rq, 1400));
	assert_int_equal(rq.nsegs, 1);
	check_put(nip_tcp_reass_pop(&rq, 1500), 1500, 50);
	assert_null(rq.head);
	assert_int_equal(rq.bytes, 0);
	assert_int_equal(rq.mem, 0);
	/* A zero-length arrival is nothing new. */
	assert_int_equal(ins(2000, 0, 1600), 0);
	assert_int_equal(pool.stats.bufs_in_use, 0);
}

/* An arrival that overlaps the front of a held segment loses its end... */
static void test_reass_overlap_front(void **state)
{
	(void)state;
	assert_int_equal(ins(1100, 100, 1000), 100);
	assert_int_equal(ins(1050, 100, 1000), 50);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 2);
	assert_int_equal(rq.head->len, 50);
	check_put(nip_tcp_reass_pop(&rq, 1050), 1050, 50);
	check_put(nip_tcp_reass_pop(&rq, 1100), 1100, 100);
}

/* ...one that overlaps the back of a held segment, its start. */
static void test_reass_overlap_back(void **state)
{
	(void)state;
	assert_int_equal(ins(1100, 100, 1000), 100);
	assert_int_equal(ins(1150, 100, 1000), 50);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 2);
	check_put(nip_tcp_reass_pop(&rq, 1100), 1100, 100);
	check_put(nip_tcp_reass_pop(&rq, 1200), 1200, 50);
	/* Both at once: it keeps only the hole between two held segments. */
	assert_int_equal(ins(2000, 100, 1250), 100);
	assert_int_equal(ins(2200, 100, 1250), 100);
	assert_int_equal(ins(2050, 200, 1250), 100);
	check_queue(1250);
	check_put(nip_tcp_reass_pop(&rq, 2000), 2000, 100);
	check_put(nip_tcp_reass_pop(&rq, 2100), 2100, 100);
	check_put(nip_tcp_reass_pop(&rq, 2200), 2200, 100);
}

/* An arrival covering several held segments replaces them. */
static void test_reass_overlap_covers_several(void **state)
{
	(void)state;
	assert_int_equal(ins(1100, 50, 1000), 50);
	assert_int_equal(ins(1200, 50, 1000), 50);
	assert_int_equal(ins(1300, 50, 1000), 50);
	assert_int_equal(pool.stats.bufs_in_use, 3);
	assert_int_equal(ins(1080, 320, 1000), 170);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 1);
	assert_int_equal(rq.bytes, 320);
	check_put(nip_tcp_reass_pop(&rq, 1080), 1080, 320);

	/* Covering two, ending inside the third. */
	assert_int_equal(ins(2100, 50, 2000), 50);
	assert_int_equal(ins(2200, 50, 2000), 50);
	assert_int_equal(ins(2300, 50, 2000), 50);
	assert_int_equal(ins(2080, 240, 2000), 120);
	check_queue(2000);
	assert_int_equal(rq.nsegs, 2);
	check_put(nip_tcp_reass_pop(&rq, 2080), 2080, 220);
	check_put(nip_tcp_reass_pop(&rq, 2300), 2300, 50);

	/* Starting inside the first, covering the second, ending inside the third. */
	assert_int_equal(ins(3100, 50, 3000), 50);
	assert_int_equal(ins(3200, 50, 3000), 50);
	assert_int_equal(ins(3300, 50, 3000), 50);
	assert_int_equal(ins(3120, 200, 3000), 100);
	check_queue(3000);
	assert_int_equal(rq.nsegs, 3);
	assert_int_equal(rq.bytes, 250);
	check_put(nip_tcp_reass_pop(&rq, 3100), 3100, 50);
	check_put(nip_tcp_reass_pop(&rq, 3150), 3150, 150);
	check_put(nip_tcp_reass_pop(&rq, 3300), 3300, 50);

	/* Same start as a held segment, longer: the held one stays, the arrival its rest. */
	assert_int_equal(ins(4100, 50, 4000), 50);
	assert_int_equal(ins(4100, 100, 4000), 50);
	check_queue(4000);
	assert_int_equal(rq.nsegs, 2);
	/* Same end, earlier start: the held one goes. */
	assert_int_equal(ins(4300, 50, 4000), 50);
	assert_int_equal(ins(4250, 100, 4000), 50);
	check_queue(4000);
	assert_int_equal(rq.nsegs, 3);
	assert_int_equal(rq.bytes, 200);
}

/* Nothing new: freed at once, the queue unchanged. */
static void test_reass_covered_and_duplicate(void **state)
{
	(void)state;
	assert_int_equal(ins(1100, 200, 1000), 200);
	assert_int_equal(ins(1150, 50, 1000), 0);
	assert_int_equal(ins(1100, 200, 1000), 0); /* exact duplicate */
	assert_int_equal(ins(1100, 1, 1000), 0);
	assert_int_equal(ins(1299, 1, 1000), 0);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 1);
	assert_int_equal(pool.stats.bufs_in_use, 1);
	/* Covered by two adjacent held segments together. */
	assert_int_equal(ins(1300, 100, 1000), 100);
	assert_int_equal(ins(1250, 100, 1000), 0);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 2);
	assert_int_equal(rq.bytes, 300);
	/* Already delivered: before rcv_nxt entirely, or trimmed to it. */
	assert_int_equal(ins(900, 100, 1000), 0);
	assert_int_equal(ins(950, 100, 1000), 50);
	check_queue(1000);
	check_put(nip_tcp_reass_pop(&rq, 1000), 1000, 50);
}

/* pop discards held data before rcv_nxt and trims the segment that straddles it. */
static void test_reass_pop_trims(void **state)
{
	(void)state;
	assert_int_equal(ins(1100, 100, 1000), 100);
	assert_int_equal(ins(1250, 50, 1000), 50);
	assert_int_equal(ins(1400, 100, 1000), 100);
	check_put(nip_tcp_reass_pop(&rq, 1150), 1150, 50);
	check_queue(1200);
	assert_int_equal(rq.bytes, 150);
	check_put(nip_tcp_reass_pop(&rq, 1280), 1280, 20);
	assert_null(nip_tcp_reass_pop(&rq, 1300));
	check_queue(1300);
	/* Past everything: all of it goes, nothing is returned. */
	assert_null(nip_tcp_reass_pop(&rq, 1600));
	assert_null(rq.head);
	assert_int_equal(rq.bytes, 0);
	assert_int_equal(pool.stats.bufs_in_use, 0);
	/* Exactly at a segment's end: that segment is gone, the next one is not there yet. */
	assert_int_equal(ins(1700, 100, 1600), 100);
	assert_int_equal(ins(1900, 100, 1600), 100);
	assert_null(nip_tcp_reass_pop(&rq, 1800));
	assert_int_equal(rq.nsegs, 1);
}

/* Sequence numbers that wrap at 2^32. */
static void test_reass_wrap_around(void **state)
{
	const uint32_t nxt = 0xffffff00u;
	struct nip_tcp_sack_block blk[4];

	(void)state;
	assert_int_equal(ins(0x100, 0x100, nxt), 0x100);
	assert_int_equal(ins(0xffffff80u, 0x100, nxt), 0x100); /* spans the wrap */
	assert_int_equal(ins(0xfffffff0u, 0x20, nxt), 0);
	assert_int_equal(ins(0x60, 0xc0, nxt), 0x80); /* only 0x80..0x100 is new */
	check_queue(nxt);
	assert_int_equal(rq.head->priv & 0xffffffffu, 0xffffff80u);
	assert_int_equal(sack(blk, 4), 1);
	assert_int_equal(blk[0].start, 0xffffff80u);
	assert_int_equal(blk[0].end, 0x200);
	assert_null(nip_tcp_reass_pop(&rq, nxt));
	check_put(nip_tcp_reass_pop(&rq, 0xffffffc0u), 0xffffffc0u, 0xc0);
	check_put(nip_tcp_reass_pop(&rq, 0x80), 0x80, 0x80);
	check_put(nip_tcp_reass_pop(&rq, 0x100), 0x100, 0x100);
	/* Before rcv_nxt across the wrap. */
	assert_int_equal(ins(0xfffffff0u, 0x20, 0x8), 0x8);
	check_put(nip_tcp_reass_pop(&rq, 0x8), 0x8, 0x8);
}

/* The sum of held buffers' cap may not pass mem_max: the arrival is refused and freed. */
static void test_reass_mem_max(void **state)
{
	struct demi__buf *b = seg(1100, 100);
	uint64_t cap = b->cap, max = 2 * cap;

	(void)state;
	assert_int_equal(nip_tcp_reass_insert(&rq, b, 1100, 1000, max), 100);
	assert_int_equal(nip_tcp_reass_insert(&rq, seg(1300, 100), 1300, 1000, max), 100);
	assert_int_equal(rq.mem, max);
	assert_int_equal(nip_tcp_reass_insert(&rq, seg(1500, 100), 1500, 1000, max), -ENOBUFS);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 2);
	assert_int_equal(rq.bytes, 200);
	assert_int_equal(pool.stats.bufs_in_use, 2);
	/* A duplicate is nothing new rather than refused. */
	assert_int_equal(nip_tcp_reass_insert(&rq, seg(1100, 50), 1100, 1000, max), 0);
	/* One that replaces a held segment it covers fits. */
	assert_int_equal(nip_tcp_reass_insert(&rq, seg(1250, 200), 1250, 1000, max), 100);
	check_queue(1000);
	assert_int_equal(rq.nsegs, 2);
	/* A limit of zero refuses everything. */
	assert_int_equal(nip_tcp_reass_insert(&rq, seg(1600, 10), 1600, 1000, 0), -ENOBUFS);
	assert_int_equal(pool.stats.bufs_in_use, 2);
	/* Below the limit again after a pop. */
	check_put(nip_tcp_reass_pop(&rq, 1100), 1100, 100);
	assert_int_equal(nip_tcp_reass_insert(&rq, seg(1500, 100), 1500, 1200, max), 100);
}

/* RFC 2018 4: the block with the most recent arrival first, then the other recent ones, then
 * the rest (lowest first); adjacent segments make one block; at most max blocks. */
static void test_reass_sack_blocks(void **state)
{
	struct nip_tcp_sack_block b[8];

	(void)state;
	assert_int_equal(sack(b, 4), 0);
	assert_int_equal(ins(1100, 100, 1000), 100); /* A */
	assert_int_equal(ins(1300, 100, 1000), 100); /* B */
	assert_int_equal(ins(1500, 100, 1000), 100); /* C */
	assert_int_equal(sack(b, 4), 3);
	assert_int_equal(b[0].start, 1500);
	assert_int_equal(b[0].end, 1600);
	assert_int_equal(b[1].start, 1300);
	assert_int_equal(b[2].start, 1100);
	assert_int_equal(b[2].end, 1200);
	assert_int_equal(sack(b, 2), 2);
	assert_int_equal(b[1].start, 1300);
	assert_int_equal(sack(b, 0), 0);
	/* Filling the hole between A and B makes one block, reported first. */
	assert_int_equal(ins(1200, 100, 1000), 100);
	assert_int_equal(rq.nsegs, 4);
	assert_int_equal(sack(b, 4), 2);
	assert_int_equal(b[0].start, 1100);
	assert_int_equal(b[0].end, 1400);
	assert_int_equal(b[1].start, 1500);
	/* Two more, then a repeat of an older block's data moves it to the front. */
	assert_int_equal(ins(1700, 100, 1000), 100); /* D */
	assert_int_equal(ins(1900, 100, 1000), 100); /* E */
	assert_int_equal(sack(b, 8), 4);
	assert_int_equal(b[0].start, 1900);
	assert_int_equal(b[1].start, 1700);
	assert_int_equal(b[2].start, 1100);
	assert_int_equal(b[3].start, 1500);
	assert_int_equal(ins(1600, 50, 1000), 50); /* grows C */
	assert_int_equal(sack(b, 3), 3);
	assert_int_equal(b[0].start, 1500);
	assert_int_equal(b[0].end, 1650);
	assert_int_equal(b[1].start, 1900);
	assert_int_equal(b[2].start, 1700);
	/* Five blocks: four recent, the oldest known only by position. */
	assert_int_equal(ins(2100, 100, 1000), 100); /* F */
	assert_int_equal(sack(b, 8), 5);
	assert_int_equal(b[0].start, 2100);
	assert_int_equal(b[1].start, 1500);
	assert_int_equal(b[2].start, 1900);
	assert_int_equal(b[3].start, 1700);
	assert_int_equal(b[4].start, 1100);
	assert_int_equal(sack(b, 4), 4);
	assert_int_equal(b[3].start, 1700);
	/* Blocks at or below rcv_nxt leave with the pop. */
	check_put(nip_tcp_reass_pop(&rq, 1100), 1100, 100);
	check_put(nip_tcp_reass_pop(&rq, 1200), 1200, 100);
	check_put(nip_tcp_reass_pop(&rq, 1300), 1300, 100);
	assert_null(nip_tcp_reass_pop(&rq, 1400));
	assert_int_equal(sack(b, 8), 4);
	assert_int_equal(b[0].start, 2100);
	assert_int_equal(b[3].start, 1700);
}

/*
 * Random arrivals against a byte map of what should be held: new-byte counts, the queue's
 * structure, SACK blocks that are exactly the held runs (no duplicates), in-order delivery
 * and memory limits. Starts just below the wrap.
 */
#define WIN 4096

/* Moves the model's window on by d bytes. */
static void shift(uint8_t *held, uint32_t d)
{
	memmove(held, held + d, WIN - d);
	memset(held + WIN - d, 0, d);
}

static void test_reass_random_against_model(void **state)
{
	static uint8_t held[WIN];
	struct unit_rng r;
	uint32_t nxt = 0xfffff000u;

	(void)state;
	unit_rng_seed(&r, 2018);
	memset(held, 0, sizeof(held));
	for (int step = 0; step < 20000; step++) {
		uint32_t off = 1 + (uint32_t)unit_rng_below(&r, WIN - 600);
		uint32_t len = (uint32_t)unit_rng_below(&r, 500);
		uint64_t max = unit_rng_below(&r, 8) ? NOLIMIT : rq.mem;
		uint32_t want = 0;
		int rc;

		for (uint32_t i = 0; i < len; i++)
			want += !held[off + i];
		rc = nip_tcp_reass_insert(&rq, seg(nxt + off, len), nxt + off, nxt, max);
		if (rc == -ENOBUFS) {
			assert_true(max != NOLIMIT);
		} else {
			assert_int_equal(rc, (int)want);
			memset(held + off, 1, len);
		}
		check_queue(nxt);
		{
			struct nip_tcp_sack_block b[64];
			int n = sack(b, 64);
			uint32_t total = 0;

			for (int i = 0; i < n; i++) {
				uint32_t s = b[i].start - nxt, e = b[i].end - nxt;

				assert_true(s < e && e <= WIN);
				assert_true(held[s] && held[e - 1]);
				assert_true(!held[s - 1] && (e == WIN || !held[e]));
				for (int k = 0; k < i; k++)
					assert_true(b[k].start != b[i].start);
				total += e - s;
			}
			assert_int_equal(total, rq.bytes);
		}
		/* Now and then the caller delivers the byte at rcv_nxt and drains the queue. */
		if (unit_rng_below(&r, 10) == 0) {
			struct demi__buf *b;

			shift(held, 1);
			nxt += 1;
			while ((b = nip_tcp_reass_pop(&rq, nxt)) != NULL) {
				uint32_t l = b->len;

				for (uint32_t i = 0; i < l; i++)
					assert_true(held[i]);
				check_put(b, nxt, l);
				shift(held, l);
				nxt += l;
			}
			assert_false(held[0]);
			check_queue(nxt);
		}
	}
	assert_true(nxt - 0xfffff000u > 10000); /* went well past the wrap */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reass_in_order_after_holes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_overlap_front, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_overlap_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_overlap_covers_several, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_covered_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_pop_trims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_wrap_around, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_mem_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_sack_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reass_random_against_model, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
