/* SPDX-License-Identifier: MIT */
/*
 * 128 TCP connections exchanging data at the same time, one thread per side, each with its own
 * libOS and a demi_wait_next_n event loop. The client connects all queues at once, then on
 * every connection sends ROUNDS messages (a new one once the previous echo is complete), all
 * connections in flight together; the server echoes whatever it pops. Every byte is checked
 * against the connection's own pattern, so a mix-up between queues is caught.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define NCONN 128
#define ROUNDS 4
#define BATCH 32

static struct h_mailbox port_box = H_MAILBOX_INIT;

static size_t msg_len(int i)
{
	return 1000 + ((size_t)i * 7919) % 30000;
}

struct sconn {
	int qd;
	int pushes; /* pending */
	bool eof;
};

static struct sconn *sconn_of(struct sconn *c, int n, int qd)
{
	for (int i = 0; i < n; i++)
		if (c[i].qd == qd)
			return &c[i];
	h_fail(__FILE__, __LINE__, "sconn_of", "result for unknown queue %d", qd);
}

static void *server_main(void *arg)
{
	static struct sconn conns[NCONN];
	struct sockaddr_in addr;
	demi_qresult_t qrs[BATCH];
	int accepted = 0, closed = 0;
	uint64_t bytes = 0;
	demi_qtoken_t qt;
	int lqd;

	(void)arg;
	h_init();
	lqd = h_tcp_listen(&addr, NCONN);
	h_mailbox_put(&port_box, ntohs(addr.sin_port));
	CHECK_OK(demi_accept(&qt, lqd));

	while (closed < NCONN) {
		struct timespec ts;
		int n = -1;

		CHECK_OK(demi_wait_next_n(qrs, BATCH, &n, h_ts(&ts, H_WAIT_MS)));
		CHECKF(n >= 1 && n <= BATCH, "wait_next_n returned %d results", n);
		for (int i = 0; i < n; i++) {
			demi_qresult_t *qr = &qrs[i];
			struct sconn *c;
			size_t len;

			switch (qr->qr_opcode) {
			case DEMI_OPC_ACCEPT:
				CHECK(qr->qr_qd == lqd);
				CHECK(accepted < NCONN);
				c = &conns[accepted++];
				c->qd = qr->qr_value.ares.qd;
				CHECK_OK(demi_pop(&qt, c->qd));
				if (accepted < NCONN)
					CHECK_OK(demi_accept(&qt, lqd));
				break;
			case DEMI_OPC_POP:
				c = sconn_of(conns, accepted, qr->qr_qd);
				len = h_sga_len(&qr->qr_value.sga);
				if (len == 0) {
					CHECK_OK(demi_sgafree(&qr->qr_value.sga));
					c->eof = true;
				} else {
					CHECK_OK(demi_push(&qt, c->qd, &qr->qr_value.sga));
					CHECK_OK(demi_sgafree(&qr->qr_value.sga));
					c->pushes++;
					bytes += len;
					CHECK_OK(demi_pop(&qt, c->qd));
				}
				break;
			case DEMI_OPC_PUSH:
				c = sconn_of(conns, accepted, qr->qr_qd);
				CHECK(c->pushes > 0);
				c->pushes--;
				break;
			default:
				h_fail(__FILE__, __LINE__, "server",
				       "unexpected result %s (qr_ret %lld)",
				       h_opcname(qr->qr_opcode), (long long)qr->qr_ret);
			}
			if (qr->qr_opcode != DEMI_OPC_ACCEPT) {
				c = sconn_of(conns, accepted, qr->qr_qd);
				if (c->eof && c->pushes == 0) {
					CHECK_OK(demi_close(c->qd));
					c->qd = -1;
					closed++;
				}
			}
		}
	}
	CHECK_OK(demi_close(lqd));
	h_log("server: %d connections, echoed %llu bytes", accepted, (unsigned long long)bytes);
	h_check_no_leaks("server");
	return NULL;
}

struct cconn {
	int qd;
	bool connected;
	int round;
	size_t got; /* bytes of the current round */
	int pushes;
};

static struct cconn *cconn_of(struct cconn *c, int qd)
{
	for (int i = 0; i < NCONN; i++)
		if (c[i].qd == qd)
			return &c[i];
	h_fail(__FILE__, __LINE__, "cconn_of", "result for unknown queue %d", qd);
}

static void send_round(struct cconn *c, int i)
{
	size_t len = msg_len(i);
	demi_sgarray_t sga = h_sga_pattern((uint32_t)len, (uint64_t)i, (uint64_t)c->round * len);
	demi_qtoken_t qt;

	CHECK_OK(demi_push(&qt, c->qd, &sga));
	CHECK_OK(demi_sgafree(&sga));
	c->pushes++;
}

int main(void)
{
	static struct cconn conns[NCONN];
	demi_qresult_t qrs[BATCH];
	struct sockaddr_in addr;
	int connected = 0, done = 0;
	pthread_t server;
	demi_qtoken_t qt;

	h_watchdog(120);
	server = h_thread_start(server_main, NULL);
	h_init();
	addr = h_loopback((uint16_t)h_mailbox_get(&port_box));

	for (int i = 0; i < NCONN; i++) {
		CHECK_OK(demi_socket(&conns[i].qd, AF_INET, SOCK_STREAM, 0));
		CHECK_OK(demi_connect(&qt, conns[i].qd, H_SA(&addr), sizeof(addr)));
	}
	while (connected < NCONN) {
		struct timespec ts;
		int n = -1;

		CHECK_OK(demi_wait_next_n(qrs, BATCH, &n, h_ts(&ts, H_WAIT_MS)));
		CHECK(n >= 1 && n <= BATCH);
		for (int i = 0; i < n; i++) {
			struct cconn *c = cconn_of(conns, qrs[i].qr_qd);

			CHECKF(qrs[i].qr_opcode == DEMI_OPC_CONNECT,
			       "connect: %s, qr_ret %lld (%s)", h_opcname(qrs[i].qr_opcode),
			       (long long)qrs[i].qr_ret, h_errname((int)qrs[i].qr_ret));
			CHECK(!c->connected);
			c->connected = true;
			connected++;
		}
	}

	for (int i = 0; i < NCONN; i++) {
		send_round(&conns[i], i);
		CHECK_OK(demi_pop(&qt, conns[i].qd));
	}
	while (done < NCONN) {
		struct timespec ts;
		int n = -1;

		CHECK_OK(demi_wait_next_n(qrs, BATCH, &n, h_ts(&ts, H_WAIT_MS)));
		CHECK(n >= 1 && n <= BATCH);
		for (int k = 0; k < n; k++) {
			demi_qresult_t *qr = &qrs[k];
			struct cconn *c = cconn_of(conns, qr->qr_qd);
			int i = (int)(c - conns);
			size_t len = msg_len(i), got;

			if (qr->qr_opcode == DEMI_OPC_PUSH) {
				CHECK(c->pushes > 0);
				c->pushes--;
				continue;
			}
			CHECKF(qr->qr_opcode == DEMI_OPC_POP, "conn %d: %s, qr_ret %lld (%s)", i,
			       h_opcname(qr->qr_opcode), (long long)qr->qr_ret,
			       h_errname((int)qr->qr_ret));
			got = h_sga_len(&qr->qr_value.sga);
			CHECKF(got > 0, "conn %d: end of stream in round %d", i, c->round);
			CHECKF(c->got + got <= len, "conn %d: %zu bytes more than sent", i,
			       c->got + got - len);
			h_pattern_check(qr->qr_value.sga.sga_segs[0].sgaseg_buf, got, (uint64_t)i,
					(uint64_t)c->round * len + c->got);
			CHECK_OK(demi_sgafree(&qr->qr_value.sga));
			c->got += got;
			if (c->got == len) {
				c->got = 0;
				c->round++;
				if (c->round == ROUNDS) {
					done++;
					continue;
				}
				send_round(c, i);
			}
			CHECK_OK(demi_pop(&qt, c->qd));
		}
	}
	/* Collect the push completions still queued, then close everything. */
	for (int i = 0; i < NCONN; i++) {
		while (conns[i].pushes > 0) {
			struct timespec ts;
			int n = -1;

			CHECK_OK(demi_wait_next_n(qrs, 1, &n, h_ts(&ts, H_WAIT_MS)));
			CHECK(n == 1 && qrs[0].qr_opcode == DEMI_OPC_PUSH);
			cconn_of(conns, qrs[0].qr_qd)->pushes--;
		}
	}
	for (int i = 0; i < NCONN; i++)
		CHECK_OK(demi_close(conns[i].qd));

	h_thread_join(server);
	h_check_no_leaks("client");
	h_log("PASS: %d connections x %d rounds", NCONN, ROUNDS);
	return H_EXIT_PASS;
}
