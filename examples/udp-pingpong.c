/* SPDX-License-Identifier: MIT */
/*
 * UDP round-trip latency on the demi_* API: one connected socket, one request outstanding. Each
 * round trip is timed with CLOCK_MONOTONIC from just before the push to the return of the wait
 * that completes the pop of its echo (the echo is checked after the clock stops, as the raw
 * floor, tests/bench/raw-memif-pingpong, checks its frame). A request without an echo after
 * --timeout-ms counts as lost and gives no sample; its echo may still arrive later and is then
 * recognised by its seed and dropped. --server runs the same echo server as udp-echo, so one
 * binary serves both ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demi-common.h"

static const char usage[] =
	"--server ADDR:PORT [--count N]\n"
	"       | --client ADDR:PORT [--size B] [--requests R] [--warmup W] [--timeout-ms T]\n"
	"  --server    echo server (as udp-echo --server)\n"
	"  --client    R timed round trips (default 10000) of B bytes (default 64, up to 65507)\n"
	"              after W untimed ones (default 1000); a request without echo after T ms\n"
	"              (default 1000) is lost\n";

enum { OP_PUSH, OP_POP };

enum echo { ECHO_OK, ECHO_LATE, ECHO_BAD };

struct pingpong {
	const struct ex_opts *o;
	int qd;
	bool popping; /* a pop is outstanding (it survives a lost request) */
	struct ex_tokset set;
	uint64_t lost, late;
};

/* Tells the echo of request `seed` from the late echo of an earlier request. */
static enum echo classify(const struct pingpong *p, const demi_sgarray_t *sga, uint64_t seed)
{
	size_t len = ex_sga_len(sga);
	uint64_t got;

	if (len == p->o->size && ex_sga_check(sga, seed, 0) == len)
		return ECHO_OK;
	if (sga->sga_numsegs > 0 &&
	    ex_pattern_seed(sga->sga_segs[0].sgaseg_buf, sga->sga_segs[0].sgaseg_len, &got))
		return got >> 32 == seed >> 32 && got < seed ? ECHO_LATE : ECHO_BAD;
	/* Shorter than a seed: only a lost request can explain a wrong datagram. */
	return p->lost ? ECHO_LATE : ECHO_BAD;
}

/* Handles a completed pop. Returns ECHO_OK when it is the awaited echo. */
static enum echo on_pop(struct pingpong *p, const demi_qresult_t *qr, uint64_t seed)
{
	demi_sgarray_t sga;
	enum echo e;

	p->popping = false;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		ex_err("pop", (int)qr->qr_ret);
		return ECHO_BAD;
	}
	sga = qr->qr_value.sga;
	e = classify(p, &sga, seed);
	ex_sga_free(&sga);
	if (e == ECHO_LATE)
		p->late++;
	else if (e == ECHO_BAD)
		fprintf(stderr, "%s: datagram is no echo of request %" PRIu64 "\n", ex_prog,
			seed & UINT32_MAX);
	return e;
}

static int issue(struct pingpong *p, int kind, demi_sgarray_t *sga)
{
	int ret = kind == OP_PUSH ? ex_tokset_push(&p->set, p->qd, sga, NULL, kind)
				  : ex_tokset_pop(&p->set, p->qd, NULL, kind);

	if (ret == 0 && kind == OP_POP)
		p->popping = true;
	return ret;
}

/*
 * One round trip of request `seed`. Returns 0 with *rtt_ns set, ETIMEDOUT when the request is
 * lost, or another errno.
 */
static int round_trip(struct pingpong *p, uint64_t seed, uint64_t *rtt_ns)
{
	uint64_t t0, deadline, now;
	demi_sgarray_t sga;
	demi_qresult_t qr;
	struct ex_tok tok;
	struct timespec ts;
	int ret;

	ret = ex_sga_pattern(&sga, p->o->size, seed);
	if (ret != 0) {
		ex_err("demi_sgaalloc", ret);
		return ret;
	}
	t0 = ex_now_ns();
	deadline = t0 + p->o->timeout_ms * EX_NS_PER_MS;
	ret = issue(p, OP_PUSH, &sga);
	ex_sga_free(&sga);
	if (ret != 0)
		return ret;
	now = ex_now_ns();
	for (;;) {
		if (!p->popping && (ret = issue(p, OP_POP, NULL)) != 0)
			return ret;
		if (now >= deadline)
			return ETIMEDOUT;
		ts = ex_timespec(deadline - now);
		ret = ex_tokset_wait(&p->set, &qr, &tok, &ts);
		/* The round trip ends when the pop completes: checking the echo is the
		 * client's own work, after the clock (as raw-memif-pingpong checks its frame). */
		now = ex_now_ns();
		if (ret == ETIMEDOUT) {
			if (ex_stop)
				return EINTR;
			continue; /* the deadline is checked above */
		}
		if (ret != 0) {
			ex_err("demi_wait_any", ret);
			return ret;
		}
		if (tok.kind == OP_PUSH) {
			if (qr.qr_opcode == DEMI_OPC_FAILED) {
				ex_err("push", (int)qr.qr_ret);
				return (int)qr.qr_ret;
			}
			continue;
		}
		switch (on_pop(p, &qr, seed)) {
		case ECHO_OK:
			*rtt_ns = now - t0;
			return 0;
		case ECHO_LATE:
			continue;
		default:
			return EPROTO;
		}
	}
}

/* Runs the round trips; fills samples and returns how many, or -1 on an error. */
static int64_t measure(struct pingpong *p, uint64_t *samples)
{
	uint64_t total = p->o->warmup + p->o->requests;
	uint64_t n = 0;

	for (uint64_t i = 0; i < total && !ex_stop; i++) {
		uint64_t rtt = 0;
		int ret = round_trip(p, ex_seed(0, (uint32_t)i), &rtt);

		if (ret == ETIMEDOUT) {
			p->lost++;
		} else if (ret != 0) {
			if (ret != EINTR)
				fprintf(stderr, "%s: round trip %" PRIu64 " failed\n", ex_prog, i);
			return -1;
		} else if (i >= p->o->warmup) {
			samples[n++] = rtt;
		}
	}
	return ex_stop ? -1 : (int64_t)n;
}

static int run_client(const struct ex_opts *o)
{
	struct pingpong p = {.o = o};
	struct ex_latency lat;
	uint64_t *samples;
	int64_t n;

	samples = calloc(o->requests, sizeof(*samples));
	if (!samples) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	if (ex_connect_wait(SOCK_DGRAM, &o->addr, o->timeout_ms * EX_NS_PER_MS, &p.qd) != 0) {
		free(samples);
		return 1;
	}
	n = measure(&p, samples);
	demi_close(p.qd); /* cancels the pop left outstanding; exit reaps it */
	ex_tokset_fini(&p.set);
	if (n > 0) {
		ex_latency_compute(samples, (size_t)n, &lat);
		ex_latency_print("udp", o->size, (size_t)n, &lat);
	}
	if (p.lost || p.late)
		printf("  %" PRIu64 " requests lost (no echo within %" PRIu64 " ms), %" PRIu64
		       " late echoes dropped\n",
		       p.lost, o->timeout_ms, p.late);
	free(samples);
	return n == (int64_t)o->requests && p.lost == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.size = 64, .requests = 10000, .warmup = 1000, .timeout_ms = 1000};
	int code;

	if (!ex_demi_start(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_SIZE |
				   EX_OPT_REQUESTS | EX_OPT_WARMUP | EX_OPT_TIMEOUT,
			   EX_UDP_MAX, usage, &o, &code))
		return code;
	if (o.mode == EX_MODE_SERVER)
		return ex_udp_echo_server(&o.addr, o.count);
	return run_client(&o);
}
