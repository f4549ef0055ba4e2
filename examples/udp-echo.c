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

#include "echo-client.h"

#define TICK_NS (100 * EX_NS_PER_MS)

static const char usage[] =
	"--server ADDR:PORT [--count N]\n"
	"       | --client ADDR:PORT [--clients N] [--size B] [--requests R] [--timeout-ms T]\n"
	"         [--retries K]\n"
	"  --server    echo every datagram; exit after N datagrams (default: on SIGINT)\n"
	"  --client    N sockets (default 1), each sending R requests (default 1000) of B bytes\n"
	"              (default 64, up to 65507); a request is sent again after T ms (default\n"
	"              500) without echo, at most K times (default 3), then counted as lost\n";

struct sock {
	struct ex_echo_conn e; /* first: the tokens' owner */
	unsigned int sends;    /* times e.req was sent */
	uint64_t deadline_ns;  /* when to send it again */
	bool waiting;	       /* sent, echo not received yet (nothing is awaited once e.closed) */
};

struct run {
	struct ex_echo_client ec;
	struct sock *socks;
	uint64_t late; /* echoes of requests already answered or given up */
};

/* Sends (or sends again) request s->e.req and arms its timeout. */
static int send_request(struct run *r, struct sock *s)
{
	int ret = ex_echo_push(&r->ec, &s->e);

	if (ret != 0)
		return ret;
	s->sends++;
	s->waiting = true;
	s->deadline_ns = ex_now_ns() + r->ec.o->timeout_ms * EX_NS_PER_MS;
	return 0;
}

static void next_request(struct run *r, struct sock *s)
{
	s->waiting = false;
	s->sends = 0;
	s->e.req++;
	if (s->e.req == r->ec.o->requests)
		ex_echo_close(&s->e); /* also cancels the pop left for a lost echo */
	else if (send_request(r, s) != 0)
		ex_echo_fail(&r->ec, &s->e);
}

static void on_connect(struct run *r, struct sock *s, const demi_qresult_t *qr)
{
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		fprintf(stderr, "%s: socket %u: connect: %s\n", ex_prog, s->e.id,
			strerror((int)qr->qr_ret));
		ex_echo_fail(&r->ec, &s->e);
		return;
	}
	/* A pop stays outstanding for the socket's whole life: echoes may come late or twice. */
	if (ex_echo_pop(&r->ec, &s->e) != 0 || send_request(r, s) != 0)
		ex_echo_fail(&r->ec, &s->e);
}

/* True if a datagram that is not the current request's echo is a late echo of an earlier one. */
static bool is_late(const struct run *r, const struct sock *s, const demi_sgarray_t *sga)
{
	size_t size = r->ec.o->size;
	uint64_t seed;

	if (sga->sga_numsegs > 0 &&
	    ex_pattern_seed(sga->sga_segs[0].sgaseg_buf, sga->sga_segs[0].sgaseg_len, &seed))
		return seed >> 32 == (uint64_t)s->e.id + 1 && (uint32_t)seed < s->e.req;
	/*
	 * Too short to carry a seed: a copy of the previous echo (the network may duplicate),
	 * or anything once something was resent or lost.
	 */
	if (s->e.req > 0 && ex_sga_len(sga) == size &&
	    ex_sga_check(sga, ex_seed(s->e.id, s->e.req - 1), 0) == size)
		return true;
	return s->sends > 1 || r->ec.st.lost > 0 || r->ec.st.retries > 0;
}

/* Checks a received datagram against the request being waited for. */
static void on_datagram(struct run *r, struct sock *s, const demi_sgarray_t *sga)
{
	size_t len = ex_sga_len(sga);
	uint64_t seed = ex_seed(s->e.id, s->e.req);

	if (s->waiting && len == r->ec.o->size && ex_sga_check(sga, seed, 0) == len) {
		r->ec.st.done++;
		next_request(r, s);
	} else if (is_late(r, s, sga)) {
		r->late++;
	} else {
		fprintf(stderr, "%s: socket %u: datagram of %zu bytes is no echo of request %u\n",
			ex_prog, s->e.id, len, s->e.req);
		ex_echo_fail(&r->ec, &s->e);
	}
}

static void on_pop(struct run *r, struct sock *s, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;

	s->e.popping = false;
	if (ex_echo_failed(&r->ec, &s->e, "pop", qr))
		return;
	sga = qr->qr_value.sga;
	if (!s->e.closed)
		on_datagram(r, s, &sga);
	ex_sga_free(&sga);
	if (!s->e.closed && ex_echo_pop(&r->ec, &s->e) != 0)
		ex_echo_fail(&r->ec, &s->e);
}

static void dispatch(struct run *r, const struct ex_tok *tok, const demi_qresult_t *qr)
{
	struct sock *s = tok->owner;

	if (tok->kind == EX_ECHO_CONNECT)
		on_connect(r, s, qr);
	else if (tok->kind == EX_ECHO_POP)
		on_pop(r, s, qr);
	else
		ex_echo_failed(&r->ec, &s->e, "push",
			       qr); /* the echo, not the push, ends a request */
}

/* Resends or gives up the requests whose echo is overdue; returns the next deadline. */
static uint64_t expire(struct run *r, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < r->ec.o->clients; i++) {
		struct sock *s = &r->socks[i];

		if (!s->waiting || s->e.closed)
			continue;
		if (s->deadline_ns <= now) {
			if (s->sends <= r->ec.o->retries) {
				r->ec.st.retries++;
				if (send_request(r, s) != 0)
					ex_echo_fail(&r->ec, &s->e);
			} else {
				r->ec.st.lost++;
				next_request(r, s);
			}
		}
		if (s->waiting && !s->e.closed && s->deadline_ns < next)
			next = s->deadline_ns;
	}
	return next;
}

static void abort_all(struct run *r)
{
	for (uint32_t i = 0; i < r->ec.o->clients; i++)
		ex_echo_fail(&r->ec, &r->socks[i].e);
}

/*
 * Runs until every token is reaped. Returns false if the libOS misbehaved. Datagrams have their
 * own timeouts (expire), so waits are cut short at the next deadline.
 */
static bool event_loop(struct run *r)
{
	uint64_t aborted_ns = 0;
	struct ex_tok tok;
	demi_qresult_t qr;
	int ret;

	while (r->ec.set.n > 0) {
		uint64_t now = ex_now_ns();
		uint64_t next = expire(r, now);
		struct timespec ts = ex_timespec(next - now < TICK_NS ? next - now : TICK_NS);

		if (ex_stop && !aborted_ns) {
			fprintf(stderr, "%s: interrupted\n", ex_prog);
			abort_all(r);
			aborted_ns = now;
		}
		if (aborted_ns &&
		    now - aborted_ns > r->ec.o->timeout_ms * EX_NS_PER_MS + EX_NS_PER_S) {
			fprintf(stderr, "%s: %d operations not cancelled by demi_close\n", ex_prog,
				r->ec.set.n);
			return false;
		}
		ret = ex_tokset_wait(&r->ec.set, &qr, &tok, &ts);
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
	struct run r = {0};
	bool ok;
	int code;

	r.socks = calloc(o->clients, sizeof(*r.socks));
	if (!r.socks) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	ex_echo_client_init(&r.ec, o, "socket");
	for (uint32_t i = 0; i < o->clients; i++)
		ex_echo_open(&r.ec, &r.socks[i].e, i, SOCK_DGRAM);
	ok = event_loop(&r);
	code = ex_echo_client_end(&r.ec, "udp", ok);
	free(r.socks);
	if (r.late)
		printf("  %" PRIu64 " late or duplicate echoes ignored\n", r.late);
	return code;
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

	if (!ex_demi_start(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_CLIENTS |
				   EX_OPT_SIZE | EX_OPT_REQUESTS | EX_OPT_TIMEOUT | EX_OPT_RETRIES,
			   EX_UDP_MAX, usage, &o, &code))
		return code;
	if (o.mode == EX_MODE_SERVER)
		return ex_udp_echo_server(&o.addr, o.count);
	return run_client(&o);
}
