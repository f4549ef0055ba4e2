/* SPDX-License-Identifier: MIT */
/*
 * Disconnects. When the peer closes (or its process dies) the connection goes down:
 *  - a pending pop fails with ECONNRESET, and so do later pops and pushes;
 *  - messages that had arrived before the disconnect are still popped first;
 *  - closing our own queue cancels its pending operations (ECANCELED);
 *  - a peer process killed without closing anything: its kernel tears the connection down and
 *    our pending pop fails with ECONNRESET. (The peer is forked before anything opens a verbs
 *    resource: fork after that is not supported by rdma-core.)
 * Nothing leaks.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mint_test.h"

static void wait_failed(demi_qtoken_t qt, int err)
{
	h_wait_failed(qt, err);
}

static void peer_closes_while_pop_pending(int lqd, const struct sockaddr_in *addr)
{
	demi_qtoken_t pop, push;
	int c, s;

	mt_pair(lqd, addr, &c, &s);
	CHECK_OK(demi_pop(&pop, s));
	h_wait_pending(pop, 50);
	CHECK_OK(demi_close(c));
	wait_failed(pop, ECONNRESET);
	demi_sgarray_t sga = h_sga_pattern(64, 1, 0);
	CHECK_OK(demi_push(&push, s, &sga));
	CHECK_OK(demi_sgafree(&sga));
	wait_failed(push, ECONNRESET);
	CHECK_OK(demi_pop(&pop, s));
	wait_failed(pop, ECONNRESET);
	CHECK_OK(demi_close(s));
}

static void messages_before_close_arrive(int lqd, const struct sockaddr_in *addr)
{
	demi_qtoken_t pop;
	int c, s;

	mt_pair(lqd, addr, &c, &s);
	for (int i = 0; i < 3; i++) {
		demi_sgarray_t sga = h_sga_pattern(1000 + (uint32_t)i, 10 + (uint64_t)i, 0);

		mt_push_wait(c, &sga);
		CHECK_OK(demi_sgafree(&sga));
	}
	CHECK_OK(demi_close(c));
	h_sleep_ms(50); /* the disconnect arrives before the pops */
	for (int i = 0; i < 3; i++)
		mt_pop_check(s, 1000 + (size_t)i, 10 + (uint64_t)i);
	CHECK_OK(demi_pop(&pop, s));
	wait_failed(pop, ECONNRESET);
	CHECK_OK(demi_close(s));
}

static void own_close_cancels(int lqd, const struct sockaddr_in *addr)
{
	demi_qtoken_t pop, acc;
	int c, s;

	mt_pair(lqd, addr, &c, &s);
	CHECK_OK(demi_pop(&pop, c));
	CHECK_OK(demi_close(c));
	wait_failed(pop, ECANCELED);
	CHECK_OK(demi_pop(&pop, s));
	wait_failed(pop, ECONNRESET);
	CHECK_OK(demi_close(s));
	/* An accept pending when its listener closes. */
	struct sockaddr_in a2;
	int l2 = mt_listen(&a2, 1);
	CHECK_OK(demi_accept(&acc, l2));
	CHECK_OK(demi_close(l2));
	wait_failed(acc, ECANCELED);
}

/* The forked peer: connects, sends one message, then dies without closing. */
static void peer_process(int port_fd)
{
	struct sockaddr_in addr;
	demi_qtoken_t qt;
	int qd;

	if (read(port_fd, &addr, sizeof(addr)) != sizeof(addr))
		_exit(1);
	mt_init();
	qd = h_tcp_connect(&addr);
	demi_sgarray_t sga = h_sga_pattern(64, 77, 0);
	CHECK_OK(demi_push(&qt, qd, &sga));
	h_wait(qt, DEMI_OPC_PUSH, NULL);
	kill(getpid(), SIGKILL);
}

int main(void)
{
	struct sockaddr_in addr;
	demi_qtoken_t acc, pop;
	demi_qresult_t qr;
	int lqd, pfd[2], status;
	pid_t child;

	h_watchdog(180);
	mt_addr(0); /* skips before forking when not in the RDMA guest */
	CHECK(pipe(pfd) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		close(pfd[1]);
		peer_process(pfd[0]);
		_exit(1);
	}
	close(pfd[0]);
	mt_init();
	lqd = mt_listen(&addr, 8);
	peer_closes_while_pop_pending(lqd, &addr);
	messages_before_close_arrive(lqd, &addr);
	own_close_cancels(lqd, &addr);

	CHECK_OK(demi_accept(&acc, lqd));
	CHECK(write(pfd[1], &addr, sizeof(addr)) == sizeof(addr));
	h_wait(acc, DEMI_OPC_ACCEPT, &qr);
	mt_pop_check(qr.qr_value.ares.qd, 64, 77);
	CHECK_OK(demi_pop(&pop, qr.qr_value.ares.qd));
	wait_failed(pop, ECONNRESET);
	CHECK(waitpid(child, &status, 0) == child);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "the peer process did not "
	       "die as planned (status %#x)",
	       status);
	CHECK_OK(demi_close(qr.qr_value.ares.qd));
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("after the disconnects");
	return H_EXIT_PASS;
}
