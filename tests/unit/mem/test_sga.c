/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/mem/sga.c: filling an application array from a pool buffer, dropping
 * the references of a push request, and copying a request's foreign segments into the pool.
 * The multi-segment cases need a build with -Dsga_max_segs=3 or more; they are skipped
 * otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "libos.h"

#define HR DEMI__BUF_HEADROOM

static int setup(void **state)
{
	struct demi__pool *p = malloc(sizeof(*p));

	if (!p || demi__pool_init(p, 0) < 0)
		return -1;
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct demi__pool *p = *state;

	assert_int_equal(p->stats.bufs_in_use, 0);
	demi__pool_fini(p);
	free(p);
	return 0;
}

static void fill_pattern(uint8_t *d, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(seed + i * 7);
}

/* ---- demi__sga_from_buf ---- */

static void test_sga_from_buf_names_buffer(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 1234);
	demi_sgarray_t sga;

	assert_non_null(b);
	memset(&sga, 0xff, sizeof(sga)); /* whatever the caller had there */
	demi__sga_from_buf(&sga, b);
	assert_int_equal(b->app_owned, 1);
	assert_int_equal(b->refcnt, 1); /* the caller's reference, handed over */
	assert_int_equal(sga.sga_numsegs, 1);
	assert_ptr_equal(sga.sga_segs[0].sgaseg_buf, demi__buf_data(b));
	assert_int_equal(sga.sga_segs[0].sgaseg_len, 1234);
	assert_int_equal((uint64_t)(uintptr_t)sga.sga_buf, demi__buf_handle(b));
	assert_ptr_equal(demi__pool_from_handle(p, (uint64_t)(uintptr_t)sga.sga_buf), b);
	/* Nothing left over from before. */
	assert_int_equal(sga.sga_addr.sin_family, 0);
	assert_int_equal(sga.sga_addr.sin_port, 0);
	assert_int_equal(sga.sga_addr.sin_addr.s_addr, 0);
	for (size_t i = 0; i < sizeof(sga.sga_addr.sin_zero); i++)
		assert_int_equal(sga.sga_addr.sin_zero[i], 0);
	for (uint32_t i = 1; i < DEMI_SGARRAY_MAXSIZE; i++) {
		assert_null(sga.sga_segs[i].sgaseg_buf);
		assert_int_equal(sga.sga_segs[i].sgaseg_len, 0);
	}
	demi__buf_put(b);
}

/* The array follows the buffer's current data (after headers were stripped, say). */
static void test_sga_from_buf_uses_data_window(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 100);
	demi_sgarray_t sga;

	assert_non_null(b);
	b->off += 20;
	b->len -= 30;
	demi__sga_from_buf(&sga, b);
	assert_ptr_equal(sga.sga_segs[0].sgaseg_buf, b->base + HR + 20);
	assert_int_equal(sga.sga_segs[0].sgaseg_len, 70);
	demi__buf_put(b);
}

/* ---- demi__push_req_put ---- */

static void test_sga_push_req_put_drops_references(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 64);
	uint8_t foreign[8] = {0};
	struct demi__push_req req = {0};

	assert_non_null(b);
	demi__buf_ref(b); /* the push's reference */
	req.segs[0] = (struct demi__seg){.buf = b, .data = demi__buf_data(b), .len = 64};
	req.nsegs = 1;
	req.total = 64;
	demi__push_req_put(&req);
	assert_int_equal(req.nsegs, 0);
	assert_null(req.segs[0].buf);
	assert_int_equal(b->refcnt, 1);
	/* Idempotent: a second put drops nothing. */
	demi__push_req_put(&req);
	assert_int_equal(b->refcnt, 1);
	/* A foreign segment holds no reference. */
	req.segs[0] = (struct demi__seg){.buf = NULL, .data = foreign, .len = 8};
	req.nsegs = 1;
	demi__push_req_put(&req);
	assert_int_equal(req.nsegs, 0);
	demi__buf_put(b);
}

/* ---- demi__push_req_own ---- */

static void test_sga_push_req_own_copies_foreign(void **state)
{
	struct demi__pool *p = *state;
	uint8_t src[3000], want[3000];
	struct demi__push_req req = {0};
	struct demi__buf *b;

	fill_pattern(src, sizeof(src), 1);
	memcpy(want, src, sizeof(src));
	req.segs[0] = (struct demi__seg){.buf = NULL, .data = src, .len = sizeof(src)};
	req.nsegs = 1;
	req.total = sizeof(src);
	assert_int_equal(demi__push_req_own(p, &req, 0), 0);
	b = req.segs[0].buf;
	assert_non_null(b);
	assert_int_equal(b->refcnt, 1);
	assert_int_equal(b->len, sizeof(src));
	assert_ptr_equal(req.segs[0].data, demi__buf_data(b));
	assert_int_equal(req.segs[0].len, sizeof(src));
	assert_int_equal(req.nsegs, 1);
	assert_int_equal(req.total, sizeof(src));
	/* The application may now reuse its memory. */
	memset(src, 0, sizeof(src));
	assert_memory_equal(req.segs[0].data, want, sizeof(want));
	assert_int_equal(p->stats.bufs_in_use, 1);
	/* Owning again copies nothing more. */
	assert_int_equal(demi__push_req_own(p, &req, 0), 0);
	assert_ptr_equal(req.segs[0].buf, b);
	assert_int_equal(p->stats.allocs, 1);
	demi__push_req_put(&req);
	assert_int_equal(p->stats.bufs_in_use, 0);
}

static void test_sga_push_req_own_keeps_pool_segments(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 500);
	struct demi__push_req req = {0};
	uint8_t *data;

	assert_non_null(b);
	data = demi__buf_data(b) + 10;
	demi__buf_ref(b);
	req.segs[0] = (struct demi__seg){.buf = b, .data = data, .len = 400};
	req.nsegs = 1;
	req.total = 400;
	assert_int_equal(demi__push_req_own(p, &req, 0), 0);
	assert_ptr_equal(req.segs[0].buf, b);
	assert_ptr_equal(req.segs[0].data, data);
	assert_int_equal(b->refcnt, 2);
	assert_int_equal(p->stats.allocs, 1);
	demi__push_req_put(&req);
	demi__buf_put(b);
}

/* Bytes already consumed are not copied, but the segment keeps its offsets. */
static void test_sga_push_req_own_skips_consumed_bytes(void **state)
{
	struct demi__pool *p = *state;
	uint8_t src[1000], want[1000];
	struct demi__push_req req = {0};

	fill_pattern(src, sizeof(src), 9);
	memcpy(want, src, sizeof(src));
	req.segs[0] = (struct demi__seg){.buf = NULL, .data = src, .len = sizeof(src)};
	req.nsegs = 1;
	req.total = sizeof(src);
	assert_int_equal(demi__push_req_own(p, &req, 123), 0);
	assert_non_null(req.segs[0].buf);
	assert_int_equal(req.segs[0].len, sizeof(src));
	memset(src, 0, sizeof(src));
	assert_memory_equal(req.segs[0].data + 123, want + 123, sizeof(src) - 123);
	demi__push_req_put(&req);
}

/* A request consumed entirely needs no copy at all. */
static void test_sga_push_req_own_fully_consumed(void **state)
{
	struct demi__pool *p = *state;
	uint8_t src[100];
	struct demi__push_req req = {0};

	req.segs[0] = (struct demi__seg){.buf = NULL, .data = src, .len = sizeof(src)};
	req.nsegs = 1;
	req.total = sizeof(src);
	assert_int_equal(demi__push_req_own(p, &req, sizeof(src)), 0);
	assert_null(req.segs[0].buf);
	assert_ptr_equal(req.segs[0].data, src);
	assert_int_equal(demi__push_req_own(p, &req, 5000), 0);
	assert_null(req.segs[0].buf);
	assert_int_equal(p->stats.allocs, 0);
	demi__push_req_put(&req);
}

static void test_sga_push_req_own_out_of_memory(void **state)
{
	struct demi__pool *p = *state;
	uint8_t src[4000];
	struct demi__push_req req = {0};
	struct demi__buf *hold;

	demi__pool_fini(p);
	assert_int_equal(demi__pool_init(p, DEMI__SLAB_BYTES), 0);
	hold = demi__pool_get(p, 10); /* the one slab the limit allows: class 0 */
	assert_non_null(hold);
	memset(src, 1, sizeof(src));
	req.segs[0] = (struct demi__seg){.buf = NULL, .data = src, .len = sizeof(src)};
	req.nsegs = 1;
	req.total = sizeof(src);
	assert_int_equal(demi__push_req_own(p, &req, 0), -ENOMEM);
	assert_null(req.segs[0].buf);
	assert_ptr_equal(req.segs[0].data, src);
	demi__push_req_put(&req);
	demi__buf_put(hold);
}

#if DEMI_SGARRAY_MAXSIZE >= 3
/* Pool, foreign, foreign: skip ends inside the second segment. */
static void test_sga_push_req_own_mixed_segments(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 300);
	uint8_t s1[200], s2[50], w1[200], w2[50];
	struct demi__push_req req = {0};

	assert_non_null(b);
	fill_pattern(s1, sizeof(s1), 3);
	fill_pattern(s2, sizeof(s2), 5);
	memcpy(w1, s1, sizeof(s1));
	memcpy(w2, s2, sizeof(s2));
	demi__buf_ref(b);
	req.segs[0] = (struct demi__seg){.buf = b, .data = demi__buf_data(b), .len = 300};
	req.segs[1] = (struct demi__seg){.buf = NULL, .data = s1, .len = sizeof(s1)};
	req.segs[2] = (struct demi__seg){.buf = NULL, .data = s2, .len = sizeof(s2)};
	req.nsegs = 3;
	req.total = 550;
	assert_int_equal(demi__push_req_own(p, &req, 300 + 20), 0);
	assert_ptr_equal(req.segs[0].buf, b);
	assert_non_null(req.segs[1].buf);
	assert_non_null(req.segs[2].buf);
	memset(s1, 0, sizeof(s1));
	memset(s2, 0, sizeof(s2));
	assert_memory_equal(req.segs[1].data + 20, w1 + 20, sizeof(s1) - 20);
	assert_memory_equal(req.segs[2].data, w2, sizeof(s2));
	assert_int_equal(p->stats.bufs_in_use, 3);
	demi__push_req_put(&req);
	demi__buf_put(b);
}

/* A foreign segment wholly consumed stays foreign; the later ones are copied. */
static void test_sga_push_req_own_skips_whole_segment(void **state)
{
	struct demi__pool *p = *state;
	uint8_t s0[100], s1[100], w1[100];
	struct demi__push_req req = {0};

	fill_pattern(s1, sizeof(s1), 11);
	memcpy(w1, s1, sizeof(s1));
	req.segs[0] = (struct demi__seg){.buf = NULL, .data = s0, .len = sizeof(s0)};
	req.segs[1] = (struct demi__seg){.buf = NULL, .data = s1, .len = sizeof(s1)};
	req.nsegs = 2;
	req.total = 200;
	assert_int_equal(demi__push_req_own(p, &req, 100), 0);
	assert_null(req.segs[0].buf);
	assert_ptr_equal(req.segs[0].data, s0);
	assert_non_null(req.segs[1].buf);
	assert_memory_equal(req.segs[1].data, w1, sizeof(w1));
	demi__push_req_put(&req);
}

/* Memory runs out at the second segment: the first stays owned (the caller's put drops it),
 * the second stays foreign. */
static void test_sga_push_req_own_fails_midway(void **state)
{
	struct demi__pool *p = *state;
	uint8_t s0[100], s1[4000];
	struct demi__push_req req = {0};
	struct demi__buf *hold;

	demi__pool_fini(p);
	assert_int_equal(demi__pool_init(p, DEMI__SLAB_BYTES), 0);
	hold = demi__pool_get(p, 10); /* the one class-0 slab the limit allows */
	assert_non_null(hold);
	memset(s0, 1, sizeof(s0));
	memset(s1, 2, sizeof(s1));
	req.segs[0] = (struct demi__seg){.buf = NULL, .data = s0, .len = sizeof(s0)};
	req.segs[1] = (struct demi__seg){.buf = NULL, .data = s1, .len = sizeof(s1)};
	req.nsegs = 2;
	req.total = sizeof(s0) + sizeof(s1);
	assert_int_equal(demi__push_req_own(p, &req, 0), -ENOMEM);
	assert_non_null(req.segs[0].buf);
	assert_null(req.segs[1].buf);
	assert_ptr_equal(req.segs[1].data, s1);
	assert_int_equal(p->stats.bufs_in_use, 2);
	demi__push_req_put(&req);
	demi__buf_put(hold);
}
#else
static void test_sga_push_req_own_fails_midway(void **state)
{
	(void)state;
	skip();
}

static void test_sga_push_req_own_mixed_segments(void **state)
{
	(void)state;
	skip(); /* needs -Dsga_max_segs=3 or more */
}

static void test_sga_push_req_own_skips_whole_segment(void **state)
{
	(void)state;
	skip();
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sga_from_buf_names_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sga_from_buf_uses_data_window, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_put_drops_references, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_copies_foreign, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_keeps_pool_segments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_skips_consumed_bytes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_fully_consumed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_out_of_memory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_mixed_segments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_skips_whole_segment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sga_push_req_own_fails_midway, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
