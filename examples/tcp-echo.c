/* SPDX-License-Identifier: MIT */
/*
 * TCP echo server and load client on the demi_* API.
 *
 * The client opens --clients connections from one thread. Each sends --requests requests of
 * --size bytes, one at a time: a push of the whole request, then pops until the same number of
 * bytes came back (a stream: the echo may arrive in any number of pieces), each piece checked
 * against the request's pattern as it arrives. Pushing and popping run together, because a
 * request larger than the socket buffers can only be sent while its echo is being read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demi-common.h"

#define TCP_MAX_SIZE (1ULL << 30)
#define TICK_NS (100 * EX_NS_PER_MS)

static const char usage[] =
	"--server ADDR:PORT [--count N]\n"
	"       | --client ADDR:PORT [--clients N] [--size B] [--requests R] [--timeout-ms T]\n"
	"  --server    echo every connection; exit after N connections (default: on SIGINT)\n"
	"  --client    N connections (default 1), each sending R requests (default 1000) of B\n"
	"              bytes (default 64, up to 1g) and checking every echo; fail if no progress\n"
	"              for T ms (default 10000)\n";

enum { OP_CONNECT, OP_POP, OP_PUSH };

struct client {
	int qd;
	uint32_t id;
	uint32_t req;	  /* request being echoed */
	size_t rx;	  /* bytes of its echo received so far */
	bool pushed;	  /* its push completed */
	bool popping;	  /* a pop is outstanding */
	bool closed;	  /* finished or failed: the queue is closed */
	unsigned int ops; /* tokens of this client in the set */
};

struct run {
	const struct ex_opts *o;
	struct client *clients;
	struct ex_tokset set;
	struct ex_echo_stats st;
	uint64_t last_progress_ns;
};

static void client_close(struct client *c)
{
	int ret;

	if (c->closed)
		return;
	c->closed = true;
	ret = demi_close(c->qd);
	if (ret != 0)
		ex_err("demi_close", ret);
}

static void client_fail(struct run *r, struct client *c)
{
	if (c->closed)
		return;
	r->st.errors++;
	client_close(c);
}

static int issue_pop(struct run *r, struct client *c)
{
	demi_qtoken_t qt;
	int ret = demi_pop(&qt, c->qd);

	if (ret == 0)
		ret = ex_tokset_add(&r->set, qt, c, OP_POP);
	if (ret != 0) {
		ex_err("demi_pop", ret);
		return ret;
	}
	c->popping = true;
	c->ops++;
	return 0;
}

/* Sends request c->req. */
static int start_request(struct run *r, struct client *c)
{
	demi_sgarray_t sga;
	demi_qtoken_t qt;
	int ret;

	ret = ex_sga_pattern(&sga, r->o->size, ex_seed(c->id, c->req));
	if (ret != 0) {
		ex_err("demi_sgaalloc", ret);
		return ret;
	}
	ret = demi_push(&qt, c->qd, &sga);
	if (ret == 0)
		ret = ex_tokset_add(&r->set, qt, c, OP_PUSH);
	ex_sga_free(&sga); /* zero-copy: the push holds its own reference */
	if (ret != 0) {
		ex_err("demi_push", ret);
		return ret;
	}
	c->ops++;
	c->pushed = false;
	c->rx = 0;
	return c->popping ? 0 : issue_pop(r, c);
}

/* Moves on once the request is both sent and echoed back. */
static void maybe_next(struct run *r, struct client *c)
{
	if (!c->pushed || c->rx < r->o->size)
		return;
	r->st.done++;
	c->req++;
	if (c->req == r->o->requests)
		client_close(c);
	else if (start_request(r, c) != 0)
		client_fail(r, c);
}

static void on_connect(struct run *r, struct client *c, const demi_qresult_t *qr)
{
	char buf[32];

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		fprintf(stderr, "%s: client %u: connect to %s: %s\n", ex_prog, c->id,
			ex_addr_str(&r->o->addr, buf, sizeof(buf)), strerror((int)qr->qr_ret));
		client_fail(r, c);
		return;
	}
	ex_set_nodelay(c->qd);
	if (start_request(r, c) != 0)
		client_fail(r, c);
}

static void on_pop(struct run *r, struct client *c, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;
	size_t len, bad;

	c->popping = false;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (!c->closed)
			fprintf(stderr, "%s: client %u: pop: %s\n", ex_prog, c->id,
				strerror((int)qr->qr_ret));
		client_fail(r, c);
		return;
	}
	sga = qr->qr_value.sga;
	len = ex_sga_len(&sga);
	if (c->closed) {
		/* data that raced with our close */
	} else if (len == 0) {
		fprintf(stderr, "%s: client %u: server closed the connection in request %u\n",
			ex_prog, c->id, c->req);
		client_fail(r, c);
	} else if (len > r->o->size - c->rx) {
		fprintf(stderr, "%s: client %u: %zu bytes more than sent in request %u\n", ex_prog,
			c->id, len - (r->o->size - c->rx), c->req);
		client_fail(r, c);
	} else if ((bad = ex_sga_check(&sga, ex_seed(c->id, c->req), c->rx)) != c->rx + len) {
		fprintf(stderr, "%s: client %u: echo of request %u differs at byte %zu\n", ex_prog,
			c->id, c->req, bad);
		client_fail(r, c);
	} else {
		c->rx += len;
		if (c->rx < r->o->size && issue_pop(r, c) != 0)
			client_fail(r, c);
	}
	ex_sga_free(&sga);
	if (!c->closed)
		maybe_next(r, c);
}

static void on_push(struct run *r, struct client *c, const demi_qresult_t *qr)
{
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (!c->closed)
			fprintf(stderr, "%s: client %u: push: %s\n", ex_prog, c->id,
				strerror((int)qr->qr_ret));
		client_fail(r, c);
		return;
	}
	c->pushed = true;
	if (!c->closed)
		maybe_next(r, c);
}

static void dispatch(struct run *r, const struct ex_tok *tok, const demi_qresult_t *qr)
{
	struct client *c = tok->owner;

	c->ops--;
	if (tok->kind == OP_CONNECT)
		on_connect(r, c, qr);
	else if (tok->kind == OP_POP)
		on_pop(r, c, qr);
	else
		on_push(r, c, qr);
}

static void start_clients(struct run *r)
{
	for (uint32_t i = 0; i < r->o->clients; i++) {
		struct client *c = &r->clients[i];
		demi_qtoken_t qt;
		int ret;

		c->id = i;
		c->closed = true; /* until it has a queue */
		ret = demi_socket(&c->qd, AF_INET, SOCK_STREAM, 0);
		if (ret != 0) {
			ex_err("demi_socket", ret);
			r->st.errors++;
			continue;
		}
		c->closed = false;
		ret = demi_connect(&qt, c->qd, (const struct sockaddr *)&r->o->addr,
				   sizeof(r->o->addr));
		if (ret == 0)
			ret = ex_tokset_add(&r->set, qt, c, OP_CONNECT);
		if (ret != 0) {
			ex_err("demi_connect", ret);
			client_fail(r, c);
			continue;
		}
		c->ops++;
	}
}

/* Closes every client; their pending operations then complete as cancelled. */
static void abort_all(struct run *r)
{
	for (uint32_t i = 0; i < r->o->clients; i++)
		client_fail(r, &r->clients[i]);
}

/* Runs until every token is reaped. Returns false if the libOS misbehaved. */
static bool event_loop(struct run *r)
{
	struct timespec tick = ex_timespec(TICK_NS);
	uint64_t idle_ns = r->o->timeout_ms * EX_NS_PER_MS;
	bool aborted = false;
	struct ex_tok tok;
	demi_qresult_t qr;
	int ret;

	r->last_progress_ns = ex_now_ns();
	while (r->set.n > 0) {
		if (ex_stop && !aborted) {
			fprintf(stderr, "%s: interrupted\n", ex_prog);
			abort_all(r);
			aborted = true;
		}
		ret = ex_tokset_wait(&r->set, &qr, &tok, &tick);
		if (ret == 0) {
			r->last_progress_ns = ex_now_ns();
			dispatch(r, &tok, &qr);
			continue;
		}
		if (ret != ETIMEDOUT) {
			ex_err("demi_wait_any", ret);
			return false;
		}
		if (ex_now_ns() - r->last_progress_ns < idle_ns)
			continue;
		if (aborted) {
			fprintf(stderr, "%s: %d operations not cancelled by demi_close\n", ex_prog,
				r->set.n);
			return false;
		}
		fprintf(stderr, "%s: no progress within --timeout-ms, giving up\n", ex_prog);
		abort_all(r);
		aborted = true;
		r->last_progress_ns = ex_now_ns();
	}
	return true;
}

static int run_client(const struct ex_opts *o)
{
	struct run r = {.o = o};
	uint64_t t0;
	bool ok;

	r.clients = calloc(o->clients, sizeof(*r.clients));
	if (!r.clients) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	r.st.clients = o->clients;
	r.st.size = o->size;
	r.st.expected = o->clients * o->requests;

	t0 = ex_now_ns();
	start_clients(&r);
	ok = event_loop(&r);
	r.st.elapsed_ns = ex_now_ns() - t0;
	ex_tokset_fini(&r.set);
	free(r.clients);
	ex_echo_print("tcp", &r.st);
	return ok && r.st.errors == 0 && r.st.done == r.st.expected ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.clients = 1, .size = 64, .requests = 1000, .timeout_ms = 10000};
	int code;

	ex_prog = argv[0];
	if (!ex_opts_parse(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_CLIENTS |
				   EX_OPT_SIZE | EX_OPT_REQUESTS | EX_OPT_TIMEOUT,
			   TCP_MAX_SIZE, usage, &o, &code))
		return code;
	ex_signals_init();
	if (ex_demi_init() != 0)
		return 1;
	if (o.mode == EX_MODE_SERVER)
		return ex_tcp_echo_server(&o.addr, o.count);
	return run_client(&o);
}
