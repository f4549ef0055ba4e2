/* SPDX-License-Identifier: MIT */
/*
 * catnap's io_uring engine enters the kernel only when it has to. A busy wait looks for
 * events over and over (zero-timeout polls); when nothing is to be submitted and the kernel
 * flags no completion work (IORING_SQ_TASKRUN), the look is answered from the CQ ring without
 * io_uring_enter. The test checks both halves:
 * - idle, with a pop armed: 200 zero-timeout waits make (almost) no enter, and
 *   catnap.uring_enters_skipped counts them;
 * - traffic: bytes a kernel socket writes (outside any enter of ours) still complete the pop
 *   through zero-timeout waits only: the kernel's flag makes the next look enter;
 * - a burst: BURST kernel peers write at once, so BURST receive completions wait as deferred
 *   work, more than one enter runs (Linux 6.13 on: 20 items per run). Zero-timeout waits
 *   alone must still complete every pop: the rest of the work is not stranded.
 * Skipped where the kernel refuses io_uring. (Every kernel with the multishot receive the engine
 * needs, 6.0 on, takes IORING_SETUP_TASKRUN_FLAG.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <demi/stats.h>

#include "helpers.h"

#define LOOKS 200
#define BURST 48

static uint64_t stat_of(const char *name)
{
	uint64_t v = 0;

	CHECK_OK(demi_stat(name, &v));
	return v;
}

/* Polls qt with zero-timeout waits only, at most `looks` times; its result in *qr. */
static int zero_waits(demi_qtoken_t qt, demi_qresult_t *qr, int looks)
{
	struct timespec zero = {0, 0};

	for (int i = 0; i < looks; i++) {
		int rc = demi_wait(qr, qt, &zero);
		if (rc != ETIMEDOUT)
			return rc;
	}
	return ETIMEDOUT;
}

/* BURST connections from kernel peers, a pop on each, then every peer writes before any look:
 * the pops must all complete through zero-timeout waits. */
static void burst(int lqd, const struct sockaddr_in *addr)
{
	struct timespec zero = {0, 0};
	demi_qtoken_t pop;
	demi_qresult_t qrs[BURST];
	int ks[BURST], qs[BURST], left = BURST, looks = 0, n;
	char msg[] = "one of a burst";

	for (int i = 0; i < BURST; i++) {
		ks[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(ks[i] >= 0);
		CHECK(connect(ks[i], H_SA(addr), sizeof(*addr)) == 0);
		qs[i] = h_tcp_accept(lqd);
		CHECK_OK(demi_pop(&pop, qs[i]));
	}
	/* Arm every receive before the data comes: each completion is then deferred work. */
	CHECK_ERR(demi_wait_next_n(qrs, BURST, &n, &zero), ETIMEDOUT);
	CHECK_ERR(demi_wait_next_n(qrs, BURST, &n, &zero), ETIMEDOUT);
	for (int i = 0; i < BURST; i++)
		CHECK(write(ks[i], msg, sizeof(msg)) == (ssize_t)sizeof(msg));
	while (left > 0 && looks++ < LOOKS) {
		int rc = demi_wait_next_n(qrs, BURST, &n, &zero);
		if (rc == ETIMEDOUT)
			continue;
		CHECK_OK(rc);
		for (int i = 0; i < n; i++) {
			CHECK(qrs[i].qr_opcode == DEMI_OPC_POP);
			CHECK(h_sga_len(&qrs[i].qr_value.sga) == sizeof(msg));
			CHECK_OK(demi_sgafree(&qrs[i].qr_value.sga));
		}
		left -= n;
	}
	h_log("burst: %d pops in %d zero-timeout waits", BURST - left, looks);
	CHECKF(left == 0,
	       "%d of %d pops never completed in %d zero-timeout waits: completion work stranded "
	       "in the kernel",
	       left, BURST, LOOKS);
	for (int i = 0; i < BURST; i++) {
		close(ks[i]);
		CHECK_OK(demi_close(qs[i]));
	}
}

int main(void)
{
	struct sockaddr_in addr;
	demi_qtoken_t pop;
	demi_qresult_t qr;
	uint64_t enters, skipped;
	int lqd, s, k, rc;
	char msg[] = "flagged by the kernel";

	h_watchdog(60);
	unsetenv("CONFIG_PATH");
	setenv("LIBOS", "catnap", 1);
	setenv("CATNAP_ENGINE", "io_uring", 1);
	h_init();

	/* The peer is a kernel socket: its bytes arrive outside any enter of ours, so only the
	 * kernel's flag can tell the engine about them. */
	lqd = h_tcp_listen(&addr, BURST + 4);
	k = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(k >= 0);
	CHECK(connect(k, H_SA(&addr), sizeof(addr)) == 0);
	s = h_tcp_accept(lqd);
	CHECK_OK(demi_pop(&pop, s));
	/* Let the arming (the multishot receive) go out first. */
	CHECK_ERR(zero_waits(pop, &qr, 3), ETIMEDOUT);

	enters = stat_of("catnap.uring_enters");
	skipped = stat_of("catnap.uring_enters_skipped");
	CHECK_ERR(zero_waits(pop, &qr, LOOKS), ETIMEDOUT);
	h_log("idle: %llu enters, %llu skipped in %d looks",
	      (unsigned long long)(stat_of("catnap.uring_enters") - enters),
	      (unsigned long long)(stat_of("catnap.uring_enters_skipped") - skipped), LOOKS);
	CHECKF(stat_of("catnap.uring_enters") - enters <= 2,
	       "%llu enters in %d idle zero-timeout waits: the engine enters with nothing to do",
	       (unsigned long long)(stat_of("catnap.uring_enters") - enters), LOOKS);
	CHECK(stat_of("catnap.uring_enters_skipped") - skipped >= LOOKS - 2);

	/* Traffic: zero-timeout waits alone must see the peer's bytes through. */
	CHECK(write(k, msg, sizeof(msg)) == (ssize_t)sizeof(msg));
	rc = zero_waits(pop, &qr, LOOKS);
	CHECKF(rc == 0 && qr.qr_opcode == DEMI_OPC_POP,
	       "pop: %s after %d zero-timeout waits: the peer's bytes never came in", h_errname(rc),
	       LOOKS);
	CHECK(h_sga_len(&qr.qr_value.sga) == sizeof(msg));
	CHECK(!memcmp(qr.qr_value.sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg)));
	CHECK_OK(demi_sgafree(&qr.qr_value.sga));

	close(k);
	CHECK_OK(demi_close(s));
	burst(lqd, &addr);
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("end");
	return H_EXIT_PASS;
}
