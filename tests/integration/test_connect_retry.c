/* SPDX-License-Identifier: MIT */
/*
 * A TCP queue whose connect failed may connect again, and the new connect completes with its
 * own outcome, not with what the socket said about the failed one. Readiness seen for the
 * refused attempt (epoll's writable edge) must not finish the retry at once: the retry goes to
 * a kernel listener whose accept queue is full, so its SYN is dropped and it stays pending;
 * once the listener takes the queued connection, the SYN's retransmission gets through and the
 * connect completes, and data flows over it.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

/* A kernel socket bound to 127.0.0.1:0; its address in *addr. */
static int plain_bound(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	*addr = h_loopback(0);
	CHECK(bind(fd, H_SA(addr), sizeof(*addr)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)addr, &len) == 0);
	return fd;
}

int main(void)
{
	struct sockaddr_in refused, full;
	demi_qtoken_t qt;
	int closed_fd, lfd, filler, conn, qd;
	char c = 'x';

	h_watchdog(60);
	h_init();
	/* A port that refuses: bound, not listening. */
	closed_fd = plain_bound(&refused);
	/* A listener that drops SYNs: backlog 0 holds one connection, which we queue. */
	lfd = plain_bound(&full);
	CHECK(listen(lfd, 0) == 0);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(filler >= 0);
	CHECK(connect(filler, H_SA(&full), sizeof(full)) == 0);

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	/* The refusal must come on the token, so that the queue has seen the socket's events. */
	CHECK_OK(demi_connect(&qt, qd, H_SA(&refused), sizeof(refused)));
	h_wait_failed(qt, ECONNREFUSED);

	/* Linux answers the first retry with ECONNABORTED (the socket still said "connecting")
	 * and resets the socket; the next attempt really connects. */
	CHECK_OK(demi_connect(&qt, qd, H_SA(&full), sizeof(full)));
	h_wait_failed(qt, ECONNABORTED);
	CHECK_OK(demi_connect(&qt, qd, H_SA(&full), sizeof(full)));
	h_wait_pending(qt, 300);

	/* Room in the accept queue: the retransmitted SYN (about 1 s later) is answered. */
	conn = accept(lfd, NULL, NULL);
	CHECK(conn >= 0);
	close(conn);
	h_wait(qt, DEMI_OPC_CONNECT, NULL);
	conn = accept(lfd, NULL, NULL);
	CHECK(conn >= 0);
	h_push_bytes(qd, &c, 1);
	c = 0;
	CHECK(recv(conn, &c, 1, 0) == 1 && c == 'x');

	CHECK_OK(demi_close(qd));
	close(conn);
	close(filler);
	close(lfd);
	close(closed_fd);
	h_check_no_leaks("end");
	return H_EXIT_PASS;
}
