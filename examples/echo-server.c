/* SPDX-License-Identifier: MIT */
/*
 * The TCP and UDP echo servers of tcp-echo/tcp-pingpong and udp-echo/udp-pingpong.
 *
 * One thread, one event loop: every outstanding accept, pop and push token sits in one token set
 * waited for with demi_wait_any. Echo is zero-copy: the array a pop returns is pushed back as it
 * is and freed right after demi_push returns (the library holds its own reference until the
 * data is sent).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demi-common.h"

/* How often a wait gives up to look at ex_stop. Results are returned as soon as they exist. */
#define TICK_NS (100 * EX_NS_PER_MS)

/*
 * A connection stops popping while this many echoes are still being pushed: a client that sends
 * but does not read would otherwise make the server buffer without bound.
 */
#define TCP_MAX_PUSHES 16

/* Pops kept outstanding on the UDP queue, so that several datagrams complete per pass. */
#define UDP_POP_DEPTH 8

enum { OP_ACCEPT, OP_POP, OP_PUSH };

struct tcp_conn {
	int qd;
	unsigned int ops;    /* tokens of this connection still in the set */
	unsigned int pushes; /* pushes not yet complete */
	bool popping;	     /* a pop is outstanding */
	bool eof;	     /* the peer closed or the connection failed: pop no more */
	bool closed;	     /* demi_close was called */
	uint64_t bytes;
	struct tcp_conn *next, *prev; /* the server's list of connections */
};

struct tcp_server {
	int lqd;
	bool stopping; /* shutting down: everything was closed, reap what is left */
	uint64_t count, accepted, served, bytes, errors;
	struct tcp_conn conns; /* list head */
	struct ex_tokset set;
};

static int tcp_issue_pop(struct tcp_server *s, struct tcp_conn *c)
{
	int ret = ex_tokset_pop(&s->set, c->qd, c, OP_POP);

	if (ret != 0)
		return ret;
	c->popping = true;
	c->ops++;
	return 0;
}

static void tcp_conn_free(struct tcp_conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

/* Closes the queue once nothing more will be sent; frees the state once no token refers to it. */
static void tcp_conn_settle(struct tcp_server *s, struct tcp_conn *c)
{
	if (!c->closed && c->eof && c->pushes == 0) {
		int ret = demi_close(c->qd);

		if (ret != 0)
			ex_err("demi_close", ret);
		c->closed = true;
		s->served++;
		s->bytes += c->bytes;
	}
	if (c->closed && c->ops == 0)
		tcp_conn_free(c);
}

/* Gives up on a connection at once: closing cancels its pop and pushes. */
static void tcp_conn_fail(struct tcp_server *s, struct tcp_conn *c)
{
	c->eof = true;
	c->pushes = 0;
	tcp_conn_settle(s, c);
}

static int tcp_issue_accept(struct tcp_server *s)
{
	return ex_tokset_accept(&s->set, s->lqd, OP_ACCEPT);
}

static bool tcp_want_accept(const struct tcp_server *s)
{
	return !s->stopping && (s->count == 0 || s->accepted < s->count);
}

static int tcp_on_accept(struct tcp_server *s, const demi_qresult_t *qr)
{
	struct tcp_conn *c;

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (qr->qr_ret == ECANCELED)
			return 0;
		/* One failed handshake must not stop the server. */
		ex_err("accept", (int)qr->qr_ret);
		s->errors++;
	} else if (s->stopping) {
		/* Accepted just as we shut down: nobody will serve it. */
		demi_close(qr->qr_value.ares.qd);
	} else {
		c = calloc(1, sizeof(*c));
		if (!c) {
			demi_close(qr->qr_value.ares.qd);
			return ENOMEM;
		}
		c->qd = qr->qr_value.ares.qd;
		c->next = s->conns.next;
		c->prev = &s->conns;
		c->next->prev = c;
		s->conns.next = c;
		s->accepted++;
		ex_set_nodelay(c->qd);
		if (tcp_issue_pop(s, c) != 0)
			tcp_conn_fail(s, c);
	}
	return tcp_want_accept(s) ? tcp_issue_accept(s) : 0;
}

static void tcp_on_pop(struct tcp_server *s, struct tcp_conn *c, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;
	size_t len;
	int ret;

	c->popping = false;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		/* ECANCELED: we closed it; ECONNRESET: the client aborted. Nothing to report. */
		if (qr->qr_ret != ECANCELED && qr->qr_ret != ECONNRESET)
			ex_err("pop", (int)qr->qr_ret);
		tcp_conn_fail(s, c);
		return;
	}
	sga = qr->qr_value.sga;
	len = ex_sga_len(&sga);
	if (c->closed || len == 0) {
		ex_sga_free(&sga);
		c->eof = true; /* zero bytes: the peer closed its side */
		tcp_conn_settle(s, c);
		return;
	}
	ret = ex_tokset_push(&s->set, c->qd, &sga, c, OP_PUSH);
	ex_sga_free(&sga); /* the pending push keeps its own reference */
	if (ret != 0) {
		tcp_conn_fail(s, c);
		return;
	}
	c->ops++;
	c->pushes++;
	c->bytes += len;
	if (c->pushes < TCP_MAX_PUSHES && tcp_issue_pop(s, c) != 0)
		tcp_conn_fail(s, c);
}

static void tcp_on_push(struct tcp_server *s, struct tcp_conn *c, const demi_qresult_t *qr)
{
	if (c->pushes > 0)
		c->pushes--;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (qr->qr_ret != ECANCELED && qr->qr_ret != ECONNRESET && qr->qr_ret != EPIPE)
			ex_err("push", (int)qr->qr_ret);
		tcp_conn_fail(s, c);
		return;
	}
	/* Popping was paused while too many pushes were pending. */
	if (!c->popping && !c->eof && !c->closed && tcp_issue_pop(s, c) != 0) {
		tcp_conn_fail(s, c);
		return;
	}
	tcp_conn_settle(s, c);
}

/* Closes every queue; the cancelled operations are then reaped by the main loop. */
static void tcp_stop(struct tcp_server *s)
{
	struct tcp_conn *c, *next;

	s->stopping = true;
	if (s->lqd >= 0) {
		demi_close(s->lqd);
		s->lqd = -1;
	}
	for (c = s->conns.next; c != &s->conns; c = next) {
		next = c->next;
		if (!c->closed)
			tcp_conn_fail(s, c);
	}
}

static int tcp_dispatch(struct tcp_server *s, const struct ex_tok *tok, const demi_qresult_t *qr)
{
	struct tcp_conn *c = tok->owner;

	switch (tok->kind) {
	case OP_ACCEPT:
		return tcp_on_accept(s, qr);
	case OP_POP:
		c->ops--;
		tcp_on_pop(s, c, qr);
		return 0;
	case OP_PUSH:
		c->ops--;
		tcp_on_push(s, c, qr);
		return 0;
	default:
		return EPROTO;
	}
}

int ex_tcp_echo_server(const struct sockaddr_in *addr, uint64_t count)
{
	struct timespec tick = ex_timespec(TICK_NS);
	struct tcp_server s = {.count = count, .lqd = -1};
	struct ex_tok tok;
	demi_qresult_t qr;
	char buf[32];
	int ret = 0;

	s.conns.next = s.conns.prev = &s.conns;
	if (ex_tcp_listen(addr, &s.lqd) != 0)
		return 1;
	if (tcp_issue_accept(&s) != 0)
		return 1;
	printf("tcp echo server on %s\n", ex_addr_str(addr, buf, sizeof(buf)));
	fflush(stdout);

	while (s.set.n > 0) {
		if (!s.stopping && (ex_stop || (count && s.served >= count)))
			tcp_stop(&s);
		ret = ex_tokset_wait(&s.set, &qr, &tok, &tick);
		if (ret == ETIMEDOUT) {
			ret = 0;
			continue;
		}
		if (ret == 0)
			ret = tcp_dispatch(&s, &tok, &qr);
		if (ret != 0) {
			ex_err("tcp echo server", ret);
			s.errors++;
			tcp_stop(&s);
			break;
		}
	}
	if (s.lqd >= 0)
		demi_close(s.lqd);
	ex_tokset_fini(&s.set);
	printf("tcp echo server: %" PRIu64 " connections served, %" PRIu64 " bytes echoed, %" PRIu64
	       " errors\n",
	       s.served, s.bytes, s.errors);
	return ret != 0 ? 1 : 0;
}

struct udp_server {
	int qd;
	uint64_t count, popped, served, bytes, errors;
	unsigned int pushes; /* pushes not yet complete */
	bool closed;
	struct ex_tokset set;
};

static bool udp_want_pop(const struct udp_server *s)
{
	return !s->closed && !ex_stop && (s->count == 0 || s->popped < s->count);
}

static int udp_issue_pop(struct udp_server *s)
{
	return ex_tokset_pop(&s->set, s->qd, NULL, OP_POP);
}

static int udp_on_pop(struct udp_server *s, const demi_qresult_t *qr)
{
	struct sockaddr_in from;
	demi_sgarray_t sga;
	demi_qtoken_t qt;
	size_t len;
	int ret;

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (qr->qr_ret == ECANCELED)
			return 0;
		ex_err("pop", (int)qr->qr_ret);
		s->errors++;
		return udp_want_pop(s) ? udp_issue_pop(s) : 0;
	}
	sga = qr->qr_value.sga;
	from = sga.sga_addr; /* copied out: the packed struct's member may be misaligned */
	len = ex_sga_len(&sga);
	s->popped++;
	if (len > 0 && !s->closed) {
		ret = demi_pushto(&qt, s->qd, &sga, (const struct sockaddr *)&from, sizeof(from));
		if (ret == 0)
			ret = ex_tokset_add(&s->set, qt, NULL, OP_PUSH);
		if (ret == 0) {
			s->pushes++;
			s->served++;
			s->bytes += len;
		} else {
			ex_err("demi_pushto", ret);
			s->errors++;
		}
	}
	ex_sga_free(&sga);
	return udp_want_pop(s) ? udp_issue_pop(s) : 0;
}

static void udp_on_push(struct udp_server *s, const demi_qresult_t *qr)
{
	s->pushes--;
	/* A client that went away makes its echo fail; the server carries on. */
	if (qr->qr_opcode == DEMI_OPC_FAILED && qr->qr_ret != ECANCELED) {
		ex_err("push", (int)qr->qr_ret);
		s->errors++;
	}
}

static void udp_close(struct udp_server *s)
{
	int ret = demi_close(s->qd);

	if (ret != 0)
		ex_err("demi_close", ret);
	s->closed = true;
}

int ex_udp_echo_server(const struct sockaddr_in *addr, uint64_t count)
{
	struct timespec tick = ex_timespec(TICK_NS);
	struct udp_server s = {.count = count};
	struct ex_tok tok;
	demi_qresult_t qr;
	char buf[32];
	int ret = 0;

	if (ex_udp_bind(addr, &s.qd) != 0)
		return 1;
	for (int i = 0; i < UDP_POP_DEPTH; i++)
		if (udp_issue_pop(&s) != 0)
			return 1;
	printf("udp echo server on %s\n", ex_addr_str(addr, buf, sizeof(buf)));
	fflush(stdout);

	while (s.set.n > 0) {
		/*
		 * Close once the last echo is pushed (closing earlier would cancel it); this also
		 * cancels the pops issued beyond the count.
		 */
		if (!s.closed && (ex_stop || (count && s.popped >= count && s.pushes == 0)))
			udp_close(&s);
		ret = ex_tokset_wait(&s.set, &qr, &tok, &tick);
		if (ret == ETIMEDOUT) {
			ret = 0;
			continue;
		}
		if (ret == 0 && tok.kind == OP_POP)
			ret = udp_on_pop(&s, &qr);
		else if (ret == 0)
			udp_on_push(&s, &qr);
		if (ret != 0) {
			ex_err("udp echo server", ret);
			if (!s.closed)
				udp_close(&s);
			break;
		}
	}
	if (!s.closed)
		udp_close(&s);
	ex_tokset_fini(&s.set);
	printf("udp echo server: %" PRIu64 " datagrams echoed, %" PRIu64 " bytes, %" PRIu64
	       " errors\n",
	       s.served, s.bytes, s.errors);
	return ret != 0 ? 1 : 0;
}
