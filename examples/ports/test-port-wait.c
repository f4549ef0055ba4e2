/* SPDX-License-Identifier: MIT */
/*
 * test-port-wait: what ends demi_port_wait (examples/ports/demi_port.h), on catnap over
 * loopback with a kernel socket as the peer.
 *   1. A request ends the wait (its queue on the check list) and is read.
 *   2. A reply pushed with room to spare: its completion does not end the wait (the program's
 *      loop would run a round for nothing); the wait lasts its whole timeout, and the next
 *      request ends it.
 *   3. Back-pressure: the peer reads nothing (small receive buffer) until writes answer
 *      -EAGAIN; once it reads, the push completion that makes room again ends the wait with
 *      the queue on the check list and writable.
 * Exit 0 pass, 1 fail.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "demi_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <demi/libos.h>

#define WAIT_NS 60000000ll

static int failed;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "FAIL: %s\n", what);
		failed = 1;
	}
}

struct seen {
	struct demi_port_q *q;
	int yes;
};

static void note(struct demi_port_q *q, void *arg)
{
	struct seen *s = arg;

	if (q == s->q)
		s->yes = 1;
}

/* Whether q is on its port's check list (the list is taken). */
static int listed(struct demi_port *p, struct demi_port_q *q)
{
	struct seen s = {q, 0};

	demi_port_check_each(p, note, &s);
	return s.yes;
}

/* demi_port_wait for up to WAIT_NS: how long it took, in ns. */
static uint64_t timed_wait(struct demi_port *p)
{
	uint64_t t0 = demi_port_now_ns();

	check(demi_port_wait(p, t0, WAIT_NS) == 0, "demi_port_wait");
	return demi_port_now_ns() - t0;
}

int main(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	char buf[4096];
	int lqd, qd, rcv = 4096;

	if (demi_port_init(0, NULL) < 0 || demi_init(NULL) != 0) {
		fprintf(stderr, "FAIL: demi_port_init/demi_init\n");
		return 1;
	}
	struct demi_port *p = demi_port_create();
	if (!p || demi_socket(&lqd, AF_INET, SOCK_STREAM, 0) != 0 ||
	    demi_bind(lqd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || demi_listen(lqd, 4) != 0 ||
	    demi_getsockname(lqd, (struct sockaddr *)&sin, &len) != 0) {
		fprintf(stderr, "FAIL: listening queue\n");
		return 1;
	}
	struct demi_port_q *l = demi_port_q_create(p, lqd, sizeof(*l));
	demi_port_q_listen(l);
	int peer = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (connect(peer, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "FAIL: connect: %s\n", strerror(errno));
		return 1;
	}
	struct sockaddr_in addr;
	while (demi_port_accept_take(l, &qd, &addr) != 0)
		timed_wait(p);
	struct demi_port_q *q = demi_port_q_create(p, qd, sizeof(*q));
	demi_port_arm_pop(q);
	listed(p, l);

	/* 1. A request ends the wait. */
	check(write(peer, "ping", 4) == 4, "peer's request");
	while (!(demi_port_ready(q) & DEMI_PORT_IN))
		timed_wait(p);
	check(listed(p, q), "the request put its queue on the check list");
	check(demi_port_read(q, buf, sizeof(buf)) == 4 && !memcmp(buf, "ping", 4), "request read");

	/* 2. A reply pushed with room to spare does not end the wait. */
	struct iovec iov = {.iov_base = "pong", .iov_len = 4};
	check(demi_port_writev(q, &iov, 1) == 4, "reply written");
	uint64_t took = timed_wait(p);
	check(took >= WAIT_NS * 9 / 10, "a push completing with room left ended the wait early");
	check(q->push_n == 0, "the reply's push completed within the wait");
	check(read(peer, buf, sizeof(buf)) == 4, "peer got the reply");
	check(!listed(p, q), "a push completing with room left put its queue on the check list");
	check(write(peer, "ping", 4) == 4, "peer's second request");
	took = timed_wait(p);
	check(took < WAIT_NS / 2 && listed(p, q), "the second request did not end the wait");
	check(demi_port_read(q, buf, sizeof(buf)) == 4, "second request read");

	/* 3. Back-pressure: fill the budget while the peer reads nothing... */
	static char chunk[65536];
	iov = (struct iovec){.iov_base = chunk, .iov_len = sizeof(chunk)};
	for (int round = 0; round < 2000; round++) {
		ssize_t n = demi_port_writev(q, &iov, 1);
		if (n == -EAGAIN)
			break;
		check(n > 0, "write under the budget");
		demi_port_wait(p, 0, 0);
		listed(p, q);
	}
	check(!(demi_port_ready(q) & DEMI_PORT_OUT), "writes never ran into the budget");
	/* ...then the peer reads: the push that makes room again ends the wait. */
	int writable = 0;
	for (int round = 0; round < 400 && !writable; round++) {
		size_t got = 0;
		ssize_t n;
		while (got < (256u << 10) && (n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		took = timed_wait(p);
		if (demi_port_ready(q) & DEMI_PORT_OUT) {
			check(took < WAIT_NS / 2, "room for a push did not end the wait");
			check(listed(p, q),
			      "room for a push did not put the queue on the check list");
			writable = 1;
		}
	}
	check(writable, "the queue never became writable again");
	close(peer);
	demi_port_destroy(p);
	if (!failed)
		printf("port wait: a request ends it, a push with room left does not, room after "
		       "back-pressure does\n");
	return failed;
}
