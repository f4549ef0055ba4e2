/* SPDX-License-Identifier: MIT */
/*
 * demi_push's checks of a segment of a pool buffer (lib/api.c, push_req_build), through the
 * public API on the fake libOS of wait_fake.h, at their edges: a segment named through its
 * array's handle may end exactly at its buffer's end, not one byte later, and no length wraps
 * the check around; a segment past that end is another buffer's, which the pool's lookup
 * judges. A refused push leaves no token and no reference behind (the teardown
 * checks that no buffer, token or queue leaked).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "unit.h"

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "api.h"
#include "wait_fake.h"

/* The pool buffer behind an array from demi_sgaalloc. */
static struct demi__buf *buf_of(const demi_sgarray_t *sga)
{
	struct demi__buf *b =
		demi__pool_from_handle(&demi__current()->pool, (uint64_t)(uintptr_t)sga->sga_buf);

	assert_non_null(b);
	return b;
}

/* Pushes [data, data + len) under sga's handle on qd; on success waits for the push. Returns
 * demi_push's result; checks that a refused push took no reference. */
static int push_seg(int qd, const demi_sgarray_t *sga, uint8_t *data, uint32_t len)
{
	struct demi__buf *b = buf_of(sga);
	uint32_t refs = b->refcnt;
	demi_sgarray_t s = *sga;
	demi_qtoken_t qt = 0;
	demi_qresult_t qr;
	int rc;

	s.sga_segs[0].sgaseg_buf = data;
	s.sga_segs[0].sgaseg_len = len;
	rc = demi_push(&qt, qd, &s);
	if (rc == 0) {
		assert_int_equal(demi_wait(&qr, qt, NULL), 0);
		assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
	}
	assert_int_equal(b->refcnt, refs);
	return rc;
}

/* The last bytes of the buffer are the application's to send; one byte more is not. */
static void test_push_args_segment_to_buffer_end(void **state)
{
	demi_sgarray_t sga = demi_sgaalloc(64);
	int qd = wait_fake_open_queue();
	struct demi__buf *b;
	uint8_t *end;

	(void)state;
	assert_int_equal(sga.sga_numsegs, 1);
	b = buf_of(&sga);
	end = b->base + b->cap;
	assert_int_equal(push_seg(qd, &sga, end - 10, 10), 0);
	assert_int_equal(push_seg(qd, &sga, end - 1, 1), 0);
	assert_int_equal(push_seg(qd, &sga, b->base, b->cap), 0);
	assert_int_equal(push_seg(qd, &sga, end - 10, 11), EINVAL);
	assert_int_equal(push_seg(qd, &sga, b->base, b->cap + 1), EINVAL);
	assert_int_equal(push_seg(qd, &sga, end - 1, 2), EINVAL);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* A length that would wrap the end pointer around is refused, not taken as a short one. */
static void test_push_args_wrapping_length(void **state)
{
	demi_sgarray_t sga = demi_sgaalloc(64);
	int qd = wait_fake_open_queue();
	struct demi__buf *b;

	(void)state;
	b = buf_of(&sga);
	assert_int_equal(push_seg(qd, &sga, b->base + b->cap - 1, UINT32_MAX), EINVAL);
	assert_int_equal(push_seg(qd, &sga, b->base, UINT32_MAX), EINVAL);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* A segment just past its handle's buffer is not in it: it is checked as memory of its own
 * (here foreign memory of the application, which a push may send). */
static void test_push_args_segment_after_buffer(void **state)
{
	demi_sgarray_t sga = demi_sgaalloc(64);
	int qd = wait_fake_open_queue();
	static uint8_t foreign[32];
	demi_sgarray_t s;
	demi_qtoken_t qt;
	demi_qresult_t qr;

	(void)state;
	s = sga;
	s.sga_segs[0].sgaseg_buf = foreign;
	s.sga_segs[0].sgaseg_len = sizeof(foreign);
	assert_int_equal(demi_push(&qt, qd, &s), 0);
	assert_int_equal(demi_wait(&qr, qt, NULL), 0);
	assert_int_equal(buf_of(&sga)->refcnt, 1);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* A segment that starts right where its handle's buffer ends lies in the next pool buffer:
 * the handle does not vouch for it, the pool's lookup decides: sent while that buffer is
 * live, refused once it is freed. Guards the handle path's bound (an `off <= cap` there
 * would refuse the first case). */
static void test_push_args_segment_in_next_buffer(void **state)
{
	const struct demi__pool *pool = &demi__current()->pool;
	demi_sgarray_t sgas[8];
	int qd = wait_fake_open_queue(), a = -1, n = -1;

	(void)state;
	for (int i = 0; i < 8; i++)
		sgas[i] = demi_sgaalloc(64);
	for (int i = 0; i < 8 && a < 0; i++) {
		struct demi__buf *b = buf_of(&sgas[i]);
		struct demi__buf *next = demi__pool_lookup(pool, b->base + b->cap);

		for (int j = 0; j < 8; j++)
			if (j != i && next == buf_of(&sgas[j])) {
				a = i;
				n = j;
			}
	}
	assert_true(a >= 0); /* eight buffers of one class: two are neighbours */
	struct demi__buf *b = buf_of(&sgas[a]);
	uint8_t *past = b->base + b->cap;

	assert_int_equal(push_seg(qd, &sgas[a], past, 8), 0);
	assert_int_equal(demi_sgafree(&sgas[n]), 0);
	assert_int_equal(push_seg(qd, &sgas[a], past, 8), EINVAL);
	for (int i = 0; i < 8; i++)
		if (i != n)
			assert_int_equal(demi_sgafree(&sgas[i]), 0);
	assert_int_equal(demi_close(qd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_push_args_segment_to_buffer_end,
						wait_fake_setup, wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_push_args_wrapping_length, wait_fake_setup,
						wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_push_args_segment_after_buffer,
						wait_fake_setup, wait_fake_teardown),
		cmocka_unit_test_setup_teardown(test_push_args_segment_in_next_buffer,
						wait_fake_setup, wait_fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
