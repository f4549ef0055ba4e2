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

#include "echo-client.h"

#define TCP_MAX_SIZE (1ULL << 30)
#define TICK_NS (100 * EX_NS_PER_MS)

static const char usage[] =
	"--server ADDR:PORT [--count N]\n"
	"       | --client ADDR:PORT [--clients N] [--size B] [--requests R] [--timeout-ms T]\n"
	"  --server    echo every connection; exit after N connections (default: on SIGINT)\n"
	"  --client    N connections (default 1), each sending R requests (default 1000) of B\n"
	"              bytes (default 64, up to 1g) and checking every echo; fail if no progress\n"
	"              for T ms (default 10000)\n";

struct client {
	struct ex_echo_conn e; /* first: the tokens' owner */
	size_t rx;	       /* bytes of the echo of e.req received so far */
	bool pushed;	       /* its push completed */
};

struct run {
	struct ex_echo_client ec;
	struct client *clients;
	uint64_t last_progress_ns;
};

/* Sends request c->e.req and makes sure a pop waits for its echo. */
static int start_request(struct run *r, struct client *c)
{
	int ret = ex_echo_push(&r->ec, &c->e);

	if (ret != 0)
		return ret;
	c->pushed = false;
	c->rx = 0;
	return c->e.popping ? 0 : ex_echo_pop(&r->ec, &c->e);
}

/* Moves on once the request is both sent and echoed back. */
static void maybe_next(struct run *r, struct client *c)
{
	if (!c->pushed || c->rx < r->ec.o->size)
		return;
	r->ec.st.done++;
	c->e.req++;
	if (c->e.req == r->ec.o->requests)
		ex_echo_close(&c->e);
	else if (start_request(r, c) != 0)
		ex_echo_fail(&r->ec, &c->e);
}

static void on_connect(struct run *r, struct client *c, const demi_qresult_t *qr)
{
	char buf[32];

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		fprintf(stderr, "%s: client %u: connect to %s: %s\n", ex_prog, c->e.id,
			ex_addr_str(&r->ec.o->addr, buf, sizeof(buf)), strerror((int)qr->qr_ret));
		ex_echo_fail(&r->ec, &c->e);
		return;
	}
	ex_set_nodelay(c->e.qd);
	if (start_request(r, c) != 0)
		ex_echo_fail(&r->ec, &c->e);
}

/* A piece of the stream: it must continue the echo of the current request where rx left off. */
static void on_pop(struct run *r, struct client *c, const demi_qresult_t *qr)
{
	size_t size = r->ec.o->size;
	demi_sgarray_t sga;
	size_t len, bad;

	c->e.popping = false;
	if (ex_echo_failed(&r->ec, &c->e, "pop", qr))
		return;
	sga = qr->qr_value.sga;
	len = ex_sga_len(&sga);
	if (c->e.closed) {
		/* data that raced with our close */
	} else if (len == 0) {
		fprintf(stderr, "%s: client %u: server closed the connection in request %u\n",
			ex_prog, c->e.id, c->e.req);
		ex_echo_fail(&r->ec, &c->e);
	} else if (len > size - c->rx) {
		fprintf(stderr, "%s: client %u: %zu bytes more than sent in request %u\n", ex_prog,
			c->e.id, len - (size - c->rx), c->e.req);
		ex_echo_fail(&r->ec, &c->e);
	} else if ((bad = ex_sga_check(&sga, ex_seed(c->e.id, c->e.req), c->rx)) != c->rx + len) {
		fprintf(stderr, "%s: client %u: echo of request %u differs at byte %zu\n", ex_prog,
			c->e.id, c->e.req, bad);
		ex_echo_fail(&r->ec, &c->e);
	} else {
		c->rx += len;
		if (c->rx < size && ex_echo_pop(&r->ec, &c->e) != 0)
			ex_echo_fail(&r->ec, &c->e);
	}
	ex_sga_free(&sga);
	if (!c->e.closed)
		maybe_next(r, c);
}

static void on_push(struct run *r, struct client *c, const demi_qresult_t *qr)
{
	if (ex_echo_failed(&r->ec, &c->e, "push", qr))
		return;
	c->pushed = true;
	if (!c->e.closed)
		maybe_next(r, c);
}

static void dispatch(struct run *r, const struct ex_tok *tok, const demi_qresult_t *qr)
{
	struct client *c = tok->owner;

	if (tok->kind == EX_ECHO_CONNECT)
		on_connect(r, c, qr);
	else if (tok->kind == EX_ECHO_POP)
		on_pop(r, c, qr);
	else
		on_push(r, c, qr);
}

/* Closes every client; their pending operations then complete as cancelled. */
static void abort_all(struct run *r)
{
	for (uint32_t i = 0; i < r->ec.o->clients; i++)
		ex_echo_fail(&r->ec, &r->clients[i].e);
}

/*
 * Runs until every token is reaped. Returns false if the libOS misbehaved. A stream has no
 * timeouts of its own: the run fails when no operation completed for --timeout-ms.
 */
static bool event_loop(struct run *r)
{
	struct timespec tick = ex_timespec(TICK_NS);
	uint64_t idle_ns = r->ec.o->timeout_ms * EX_NS_PER_MS;
	bool aborted = false;
	struct ex_tok tok;
	demi_qresult_t qr;
	int ret;

	r->last_progress_ns = ex_now_ns();
	while (r->ec.set.n > 0) {
		if (ex_stop && !aborted) {
			fprintf(stderr, "%s: interrupted\n", ex_prog);
			abort_all(r);
			aborted = true;
		}
		ret = ex_tokset_wait(&r->ec.set, &qr, &tok, &tick);
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
				r->ec.set.n);
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
	struct run r = {0};
	bool ok;
	int code;

	r.clients = calloc(o->clients, sizeof(*r.clients));
	if (!r.clients) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	ex_echo_client_init(&r.ec, o, "client");
	for (uint32_t i = 0; i < o->clients; i++)
		ex_echo_open(&r.ec, &r.clients[i].e, i, SOCK_STREAM);
	ok = event_loop(&r);
	code = ex_echo_client_end(&r.ec, "tcp", ok);
	free(r.clients);
	return code;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.clients = 1, .size = 64, .requests = 1000, .timeout_ms = 10000};
	int code;

	if (!ex_demi_start(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_CLIENTS |
				   EX_OPT_SIZE | EX_OPT_REQUESTS | EX_OPT_TIMEOUT,
			   TCP_MAX_SIZE, usage, &o, &code))
		return code;
	if (o.mode == EX_MODE_SERVER)
		return ex_tcp_echo_server(&o.addr, o.count);
	return run_client(&o);
}
