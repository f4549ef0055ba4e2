/* SPDX-License-Identifier: MIT */
/*
 * Back-pressure on one TCP connection, both ends driven by this thread. The sender keeps up to
 * WINDOW pushes of CHUNK bytes in flight, issuing a new one whenever one completes, towards
 * TOTAL bytes; the receiver does not pop. Once the kernel's buffers are full, pushes must stop
 * completing (a push completes only when the kernel took its data) and the libOS must not grow
 * its memory. Then the receiver drains everything and every byte is checked.
 * Run twice: with pool buffers (zero-copy, freed right after push) and with one malloc buffer
 * that is rewritten after each push (the library must copy).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define TOTAL (64ull << 20)
#define CHUNK (64u << 10)
#define WINDOW 32
#define STALL_MS 300
#define SEED 7

/* Growth of the pool the test tolerates: what the window holds, twice, plus 8 MiB. */
#define POOL_SLACK (2ull * WINDOW * CHUNK + (8ull << 20))

struct flow {
	bool zero_copy;
	int snd, rcv;
	uint64_t pushed;    /* bytes handed to demi_push */
	uint64_t completed; /* bytes of completed pushes */
	uint64_t received;
	int inflight;
	bool pop_pending;
	uint8_t *scratch;
	uint64_t pool0; /* pool_bytes before the transfer */
	uint64_t bufs0;
};

static void push_more(struct flow *f)
{
	while (f->inflight < WINDOW && f->pushed < TOTAL) {
		demi_sgarray_t sga;
		demi_qtoken_t qt;

		if (f->zero_copy) {
			sga = h_sga_pattern(CHUNK, SEED, f->pushed);
			CHECK_OK(demi_push(&qt, f->snd, &sga));
			CHECK_OK(demi_sgafree(&sga));
		} else {
			h_pattern_fill(f->scratch, CHUNK, SEED, f->pushed);
			sga = h_sga_of(f->scratch, CHUNK);
			CHECK_OK(demi_push(&qt, f->snd, &sga));
			memset(f->scratch, 0x5a, CHUNK); /* must not reach the receiver */
		}
		f->pushed += CHUNK;
		f->inflight++;
	}
}

static void check_memory(const struct flow *f, const char *when)
{
	struct demi__debug_counts c;

	h_counts(&c);
	CHECKF(c.pool_bytes <= f->pool0 + POOL_SLACK,
	       "%s: pool grew from %llu to %llu bytes (allowed %llu more) with %d pushes in flight",
	       when, (unsigned long long)f->pool0, (unsigned long long)c.pool_bytes,
	       (unsigned long long)POOL_SLACK, f->inflight);
	/* Buffers the libOS keeps posted for the kernel to receive into are not held data. In
	 * use may be: the pushes in flight, and the receiver's bounded backlog (io_uring:
	 * catnap.uring_rx_max_bytes, 16 buffers, plus the deliveries of one pass before the
	 * receive stops, at most 64). Unbounded growth shows up as thousands. */
	if (f->zero_copy)
		CHECKF(c.bufs_in_use - c.bufs_cached <= f->bufs0 + 2 * WINDOW + 96,
		       "%s: %llu buffers in use, %llu before the transfer, with %d pushes in "
		       "flight: the libOS holds more than the pushes (data no pop asked for?)",
		       when, (unsigned long long)(c.bufs_in_use - c.bufs_cached),
		       (unsigned long long)f->bufs0, f->inflight);
	CHECKF(c.tasks_in_use <= (uint64_t)WINDOW + 1, "%s: %llu tasks in use", when,
	       (unsigned long long)c.tasks_in_use);
}

static void handle(struct flow *f, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;
	size_t n;

	switch (qr->qr_opcode) {
	case DEMI_OPC_PUSH:
		CHECK(qr->qr_qd == f->snd);
		CHECK(f->inflight > 0);
		f->inflight--;
		f->completed += CHUNK;
		break;
	case DEMI_OPC_POP:
		CHECK(qr->qr_qd == f->rcv);
		f->pop_pending = false;
		sga = qr->qr_value.sga;
		n = h_sga_len(&sga);
		CHECKF(n > 0, "end of stream after %llu bytes", (unsigned long long)f->received);
		CHECK(f->received + n <= TOTAL);
		h_pattern_check(sga.sga_segs[0].sgaseg_buf, n, SEED, f->received);
		f->received += n;
		CHECK_OK(demi_sgafree(&sga));
		break;
	default:
		h_fail(__FILE__, __LINE__, "handle", "unexpected %s (qr_ret %lld %s)",
		       h_opcname(qr->qr_opcode), (long long)qr->qr_ret, h_errname((int)qr->qr_ret));
	}
}

static void run(int lqd, const struct sockaddr_in *addr, bool zero_copy)
{
	struct flow f = {.zero_copy = zero_copy};
	demi_qresult_t qrs[WINDOW + 1];
	struct demi__debug_counts c;
	struct timespec ts;
	int n, rc;

	h_tcp_pair(lqd, addr, &f.snd, &f.rcv);
	f.scratch = malloc(CHUNK);
	CHECK(f.scratch != NULL);
	h_counts(&c);
	f.pool0 = c.pool_bytes;
	f.bufs0 = c.bufs_in_use - c.bufs_cached;

	/* Fill until nothing completes for STALL_MS. */
	for (;;) {
		push_more(&f);
		rc = demi_wait_next_n(qrs, WINDOW + 1, &n, h_ts(&ts, STALL_MS));
		if (rc == ETIMEDOUT) {
			CHECKF(n == 0, "ETIMEDOUT with %d results", n);
			break;
		}
		CHECK_OK(rc);
		for (int i = 0; i < n; i++)
			handle(&f, &qrs[i]);
		CHECKF(f.completed < TOTAL,
		       "all %llu bytes of pushes completed while the receiver "
		       "never popped: pushes do not wait for the kernel",
		       (unsigned long long)TOTAL);
		check_memory(&f, "filling");
	}
	h_log("%s: stalled with %llu bytes completed, %d pushes pending",
	      zero_copy ? "zero-copy" : "copy", (unsigned long long)f.completed, f.inflight);
	CHECK(f.inflight > 0);
	CHECK(f.pushed < TOTAL);
	check_memory(&f, "stalled");
	h_counts(&c);

	/* Still stalled a while later, and the pool did not move. */
	rc = demi_wait_next_n(qrs, WINDOW + 1, &n, h_ts(&ts, STALL_MS));
	CHECKF(rc == ETIMEDOUT,
	       "a stalled push completed without the receiver popping (rc %d, "
	       "n %d)",
	       rc, n);
	{
		struct demi__debug_counts c2;

		h_counts(&c2);
		CHECKF(c2.pool_bytes == c.pool_bytes, "pool grew from %llu to %llu while stalled",
		       (unsigned long long)c.pool_bytes, (unsigned long long)c2.pool_bytes);
		CHECKF(c2.bufs_in_use - c2.bufs_cached == c.bufs_in_use - c.bufs_cached,
		       "buffers went from %llu to %llu while stalled",
		       (unsigned long long)(c.bufs_in_use - c.bufs_cached),
		       (unsigned long long)(c2.bufs_in_use - c2.bufs_cached));
	}

	/* Drain. */
	while (f.received < TOTAL || f.inflight > 0) {
		if (!f.pop_pending && f.received < TOTAL) {
			demi_qtoken_t qt;

			CHECK_OK(demi_pop(&qt, f.rcv));
			f.pop_pending = true;
		}
		push_more(&f);
		CHECK_OK(demi_wait_next_n(qrs, WINDOW + 1, &n, h_ts(&ts, H_WAIT_MS)));
		for (int i = 0; i < n; i++)
			handle(&f, &qrs[i]);
		check_memory(&f, "draining");
	}
	CHECK(f.completed == TOTAL);
	CHECK(f.received == TOTAL);
	free(f.scratch);
	CHECK_OK(demi_close(f.snd));
	CHECK_OK(demi_close(f.rcv));
	h_check_idle("after the transfer", 1);
}

int main(void)
{
	struct sockaddr_in addr;
	int lqd;

	h_watchdog(120);
	h_init();
	lqd = h_tcp_listen(&addr, 4);
	run(lqd, &addr, true);
	run(lqd, &addr, false);
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("end");
	h_log("PASS: back-pressure held and %llu MiB drained twice byte-exact", TOTAL >> 20);
	return H_EXIT_PASS;
}
