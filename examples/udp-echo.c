/* SPDX-License-Identifier: MIT */
/*
 * UDP echo server and load client on the demi_* API.
 *
 * The client opens --clients sockets from one thread. Each sends --requests datagrams of --size
 * bytes, one at a time, and waits for the echo. UDP may lose either datagram, so a request
 * without an echo after --timeout-ms is sent again, up to --retries times, and then counted as
 * lost. Every datagram starts with its request's seed (see common.h), which tells a late echo of
 * an earlier request, ignored, from a wrong one, an error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demi-common.h"

#define TICK_NS (100 * EX_NS_PER_MS)

static const char usage[] =
	"--server ADDR:PORT [--count N]\n"
	"       | --client ADDR:PORT [--clients N] [--size B] [--requests R] [--timeout-ms T]\n"
	"         [--retries K]\n"
	"  --server    echo every datagram; exit after N datagrams (default: on SIGINT)\n"
	"  --client    N sockets (default 1), each sending R requests (default 1000) of B bytes\n"
	"              (default 64, up to 65507); a request is sent again after T ms (default\n"
	"              500) without echo, at most K times (default 3), then counted as lost\n";

enum { OP_CONNECT, OP_POP, OP_PUSH };

struct sock {
	int qd;
	uint32_t id;
	uint32_t req;	      /* request being echoed */
	unsigned int sends;   /* times it was sent */
	uint64_t deadline_ns; /* when to send it again */
	bool waiting;	      /* sent, echo not received yet */
	bool popping;	      /* a pop is outstanding */
	bool closed;	      /* finished or failed: the queue is closed */
};

struct run {
	const struct ex_opts *o;
	struct sock *socks;
	struct ex_tokset set;
	struct ex_echo_stats st;
	uint64_t late; /* echoes of requests already answered or given up */
};

static void sock_close(struct sock *s)
{
	int ret;

	if (s->closed)
		return;
	s->closed = true;
	s->waiting = false;
	ret = demi_close(s->qd);
	if (ret != 0)
		ex_err("demi_close", ret);
}

static void sock_fail(struct run *r, struct sock *s)
{
	if (s->closed)
		return;
	r->st.errors++;
	sock_close(s);
}

static int issue_pop(struct run *r, struct sock *s)
{
	demi_qtoken_t qt;
	int ret = demi_pop(&qt, s->qd);

	if (ret == 0)
		ret = ex_tokset_add(&r->set, qt, s, OP_POP);
	if (ret != 0) {
		ex_err("demi_pop", ret);
		return ret;
	}
	s->popping = true;
	return 0;
}

/* Sends (or sends again) request s->req. */
static int send_request(struct run *r, struct sock *s)
{
	demi_sgarray_t sga;
	demi_qtoken_t qt;
	int ret;

	ret = ex_sga_pattern(&sga, r->o->size, ex_seed(s->id, s->req));
	if (ret != 0) {
		ex_err("demi_sgaalloc", ret);
		return ret;
	}
	ret = demi_push(&qt, s->qd, &sga);
	if (ret == 0)
		ret = ex_tokset_add(&r->set, qt, s, OP_PUSH);
	ex_sga_free(&sga);
	if (ret != 0) {
		ex_err("demi_push", ret);
		return ret;
	}
	s->sends++;
	s->waiting = true;
	s->deadline_ns = ex_now_ns() + r->o->timeout_ms * EX_NS_PER_MS;
	return 0;
}

static void next_request(struct run *r, struct sock *s)
{
	s->waiting = false;
	s->sends = 0;
	s->req++;
	if (s->req == r->o->requests)
		sock_close(s); /* also cancels the pop left for a lost echo */
	else if (send_request(r, s) != 0)
		sock_fail(r, s);
}

static void on_connect(struct run *r, struct sock *s, const demi_qresult_t *qr)
{
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		fprintf(stderr, "%s: socket %u: connect: %s\n", ex_prog, s->id,
			strerror((int)qr->qr_ret));
		sock_fail(r, s);
		return;
	}
	if (issue_pop(r, s) != 0 || send_request(r, s) != 0)
		sock_fail(r, s);
}

/* True if a datagram that is not the current request's echo is a late echo of an earlier one. */
static bool is_late(const struct run *r, const struct sock *s, const demi_sgarray_t *sga)
{
	uint64_t seed;

	if (sga->sga_numsegs > 0 &&
	    ex_pattern_seed(sga->sga_segs[0].sgaseg_buf, sga->sga_segs[0].sgaseg_len, &seed))
		return seed >> 32 == (uint64_t)s->id + 1 && (uint32_t)seed < s->req;
	/*
	 * Too short to carry a seed: a copy of the previous echo (the network may duplicate),
	 * or anything once something was resent or lost.
	 */
	if (s->req > 0 && ex_sga_len(sga) == r->o->size &&
	    ex_sga_check(sga, ex_seed(s->id, s->req - 1), 0) == r->o->size)
		return true;
	return s->sends > 1 || r->st.lost > 0 || r->st.retries > 0;
}

/* Checks a received datagram against the request being waited for. */
static void on_datagram(struct run *r, struct sock *s, const demi_sgarray_t *sga)
{
	size_t len = ex_sga_len(sga);
	uint64_t seed = ex_seed(s->id, s->req);

	if (s->waiting && len == r->o->size && ex_sga_check(sga, seed, 0) == len) {
		r->st.done++;
		next_request(r, s);
	} else if (is_late(r, s, sga)) {
		r->late++;
	} else {
		fprintf(stderr, "%s: socket %u: datagram of %zu bytes is no echo of request %u\n",
			ex_prog, s->id, len, s->req);
		sock_fail(r, s);
	}
}

static void on_pop(struct run *r, struct sock *s, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;

	s->popping = false;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (!s->closed)
			fprintf(stderr, "%s: socket %u: pop: %s\n", ex_prog, s->id,
				strerror((int)qr->qr_ret));
		sock_fail(r, s);
		return;
	}
	sga = qr->qr_value.sga;
	if (!s->closed)
		on_datagram(r, s, &sga);
	ex_sga_free(&sga);
	if (!s->closed && issue_pop(r, s) != 0)
		sock_fail(r, s);
}

static void on_push(struct run *r, struct sock *s, const demi_qresult_t *qr)
{
	if (qr->qr_opcode == DEMI_OPC_FAILED && !s->closed) {
		fprintf(stderr, "%s: socket %u: push: %s\n", ex_prog, s->id,
			strerror((int)qr->qr_ret));
		sock_fail(r, s);
	}
}

static void dispatch(struct run *r, const struct ex_tok *tok, const demi_qresult_t *qr)
{
	struct sock *s = tok->owner;

	if (tok->kind == OP_CONNECT)
		on_connect(r, s, qr);
	else if (tok->kind == OP_POP)
		on_pop(r, s, qr);
	else
		on_push(r, s, qr);
}

/* Resends or gives up the requests whose echo is overdue; returns the next deadline. */
static uint64_t expire(struct run *r, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < r->o->clients; i++) {
		struct sock *s = &r->socks[i];

		if (!s->waiting)
			continue;
		if (s->deadline_ns <= now) {
			if (s->sends <= r->o->retries) {
				r->st.retries++;
				if (send_request(r, s) != 0)
					sock_fail(r, s);
			} else {
				r->st.lost++;
				next_request(r, s);
			}
		}
		if (s->waiting && s->deadline_ns < next)
			next = s->deadline_ns;
	}
	return next;
}

static void start_socks(struct run *r)
{
	for (uint32_t i = 0; i < r->o->clients; i++) {
		struct sock *s = &r->socks[i];
		demi_qtoken_t qt;
		int ret;

		s->id = i;
		s->closed = true; /* until it has a queue */
		ret = demi_socket(&s->qd, AF_INET, SOCK_DGRAM, 0);
		if (ret != 0) {
			ex_err("demi_socket", ret);
			r->st.errors++;
			continue;
		}
		s->closed = false;
		/* A connected UDP queue has a default destination and a local port to pop on. */
		ret = demi_connect(&qt, s->qd, (const struct sockaddr *)&r->o->addr,
				   sizeof(r->o->addr));
		if (ret == 0)
			ret = ex_tokset_add(&r->set, qt, s, OP_CONNECT);
		if (ret != 0) {
			ex_err("demi_connect", ret);
			sock_fail(r, s);
		}
	}
}

static void abort_all(struct run *r)
{
	for (uint32_t i = 0; i < r->o->clients; i++)
		sock_fail(r, &r->socks[i]);
}

/* Runs until every token is reaped. Returns false if the libOS misbehaved. */
static bool event_loop(struct run *r)
{
	uint64_t aborted_ns = 0;
	struct ex_tok tok;
	demi_qresult_t qr;
	int ret;

	while (r->set.n > 0) {
		uint64_t now = ex_now_ns();
		uint64_t next = expire(r, now);
		struct timespec ts = ex_timespec(next - now < TICK_NS ? next - now : TICK_NS);

		if (ex_stop && !aborted_ns) {
			fprintf(stderr, "%s: interrupted\n", ex_prog);
			abort_all(r);
			aborted_ns = now;
		}
		if (aborted_ns &&
		    now - aborted_ns > r->o->timeout_ms * EX_NS_PER_MS + EX_NS_PER_S) {
			fprintf(stderr, "%s: %d operations not cancelled by demi_close\n", ex_prog,
				r->set.n);
			return false;
		}
		ret = ex_tokset_wait(&r->set, &qr, &tok, &ts);
		if (ret == 0)
			dispatch(r, &tok, &qr);
		else if (ret != ETIMEDOUT) {
			ex_err("demi_wait_any", ret);
			return false;
		}
	}
	return true;
}

static int run_client(const struct ex_opts *o)
{
	struct run r = {.o = o};
	uint64_t t0;
	bool ok;

	r.socks = calloc(o->clients, sizeof(*r.socks));
	if (!r.socks) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	r.st.clients = o->clients;
	r.st.size = o->size;
	r.st.expected = o->clients * o->requests;

	t0 = ex_now_ns();
	start_socks(&r);
	ok = event_loop(&r);
	r.st.elapsed_ns = ex_now_ns() - t0;
	ex_tokset_fini(&r.set);
	free(r.socks);
	ex_echo_print("udp", &r.st);
	if (r.late)
		printf("  %" PRIu64 " late or duplicate echoes ignored\n", r.late);
	return ok && r.st.errors == 0 && r.st.lost == 0 && r.st.done == r.st.expected ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {
		.clients = 1,
		.size = 64,
		.requests = 1000,
		.timeout_ms = 500,
		.retries = 3,
	};
	int code;

	ex_prog = argv[0];
	if (!ex_opts_parse(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_CLIENTS |
				   EX_OPT_SIZE | EX_OPT_REQUESTS | EX_OPT_TIMEOUT | EX_OPT_RETRIES,
			   EX_UDP_MAX, usage, &o, &code))
		return code;
	ex_signals_init();
	if (ex_demi_init() != 0)
		return 1;
	if (o.mode == EX_MODE_SERVER)
		return ex_udp_echo_server(&o.addr, o.count);
	return run_client(&o);
}
