/* SPDX-License-Identifier: MIT */
/*
 * Accounting of the io_uring engine's provided-buffer ring (catnap/uring_bufring.c) on a real
 * ring: every slot holds a distinct pool buffer, a bid is handed over once, refills fill only
 * free slots, nothing leaks, and the kernel really receives into the buffers we provide.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "uring_bufring.h"

struct fixture {
	struct io_uring ring;
	struct demi__pool pool;
	struct nap_bufring br;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || io_uring_queue_init(64, &f->ring, 0) < 0) {
		free(f);
		return -1; /* cmocka reports the setup failure */
	}
	demi__pool_init(&f->pool, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nap_bufring_fini(&f->br);
	/* Nothing may stay handed out once the ring is gone. */
	assert_int_equal(f->pool.stats.bufs_in_use, 0);
	io_uring_queue_exit(&f->ring);
	demi__pool_fini(&f->pool);
	free(f);
	return 0;
}

/* Every provided slot holds a distinct live buffer; the count matches. */
static void check_slots(const struct nap_bufring *r)
{
	uint32_t held = 0;

	for (uint32_t i = 0; i < r->entries; i++) {
		if (!r->bufs[i])
			continue;
		held++;
		assert_true(r->bufs[i]->refcnt >= 1);
		for (uint32_t j = i + 1; j < r->entries; j++)
			assert_ptr_not_equal(r->bufs[i], r->bufs[j]);
	}
	assert_int_equal(held, r->provided);
	assert_int_equal(r->provided + r->nfree, r->entries);
}

static void test_bufring_init_fills_every_slot(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(nap_bufring_init(&f->br, &f->ring, &f->pool, 6, 1000), 0);
	assert_int_equal(f->br.entries, 8); /* rounded up to a power of two */
	assert_int_equal(f->br.provided, 8);
	assert_int_equal(f->pool.stats.bufs_in_use, 8);
	check_slots(&f->br);
}

static void test_bufring_take_hands_over_once(void **state)
{
	struct fixture *f = *state;
	struct demi__buf *b;

	assert_int_equal(nap_bufring_init(&f->br, &f->ring, &f->pool, 8, 1000), 0);
	b = nap_bufring_take(&f->br, 3);
	assert_non_null(b);
	assert_null(nap_bufring_take(&f->br, 3)); /* no double hand-over */
	assert_null(nap_bufring_take(&f->br, 8)); /* out of range */
	assert_null(nap_bufring_take(&f->br, 65535));
	assert_int_equal(f->br.provided, 7);
	check_slots(&f->br);
	/* Refill provides a new buffer in the free slot only. */
	assert_int_equal(nap_bufring_refill(&f->br), 1);
	assert_int_equal(nap_bufring_refill(&f->br), 0);
	assert_ptr_not_equal(f->br.bufs[3], b);
	check_slots(&f->br);
	/* The application frees what it popped: the buffer is back in the pool. */
	demi__buf_put(b);
	assert_int_equal(f->pool.stats.bufs_in_use, 8);
}

static void test_bufring_random_cycles_never_double_provide(void **state)
{
	struct fixture *f = *state;
	struct demi__buf *held[64];
	int nheld = 0;

	assert_int_equal(nap_bufring_init(&f->br, &f->ring, &f->pool, 16, 500), 0);
	srand(7);
	for (int i = 0; i < 20000; i++) {
		int op = rand() % 3;
		if (op == 0 && nheld < 64) {
			struct demi__buf *b = nap_bufring_take(&f->br, (uint16_t)(rand() % 20));
			if (b)
				held[nheld++] = b;
		} else if (op == 1 && nheld > 0) {
			int k = rand() % nheld;
			demi__buf_put(held[k]);
			held[k] = held[--nheld];
		} else {
			nap_bufring_refill(&f->br);
		}
		/* A held buffer is never also in a slot. */
		for (int k = 0; k < nheld; k++)
			for (uint32_t s = 0; s < f->br.entries; s++)
				assert_ptr_not_equal(held[k], f->br.bufs[s]);
	}
	check_slots(&f->br);
	assert_int_equal(f->pool.stats.bufs_in_use, f->br.provided + (uint64_t)nheld);
	while (nheld > 0)
		demi__buf_put(held[--nheld]);
}

static void test_bufring_refill_stops_at_pool_limit(void **state)
{
	struct fixture *f = *state;

	/* A pool capped at one 2 MiB slab of 2 KiB buffers holds 1024 of them. */
	demi__pool_fini(&f->pool);
	demi__pool_init(&f->pool, 2u << 20);
	assert_int_equal(nap_bufring_init(&f->br, &f->ring, &f->pool, 2048, 1000), 0);
	assert_int_equal(f->br.provided, 1024);
	assert_int_equal(nap_bufring_refill(&f->br), 0);
	check_slots(&f->br);
}

static void test_bufring_kernel_receives_into_provided_buffer(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2];
	const char msg[] = "into the pool";

	assert_int_equal(nap_bufring_init(&f->br, &f->ring, &f->pool, 4, 1000), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sqe = io_uring_get_sqe(&f->ring);
	io_uring_prep_recv(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = NAP_BUFRING_GROUP;
	assert_int_equal(io_uring_submit(&f->ring), 1);
	assert_int_equal(write(sv[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
	assert_int_equal(cqe->res, (int)sizeof(msg));
	assert_true(cqe->flags & IORING_CQE_F_BUFFER);
	struct demi__buf *b =
		nap_bufring_take(&f->br, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
	io_uring_cqe_seen(&f->ring, cqe);
	assert_non_null(b);
	assert_memory_equal(demi__buf_data(b), msg, sizeof(msg));
	assert_int_equal(f->br.provided, 3);
	demi__buf_put(b);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bufring_init_fills_every_slot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bufring_take_hands_over_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bufring_random_cycles_never_double_provide,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bufring_refill_stops_at_pool_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bufring_kernel_receives_into_provided_buffer,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
