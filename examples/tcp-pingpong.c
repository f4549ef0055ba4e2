/* SPDX-License-Identifier: MIT */
/*
 * TCP round-trip latency on the demi_* API: one connection, one request outstanding. Each round
 * trip is timed with CLOCK_MONOTONIC from just before the push to the pop that completes the
 * echo. Building the request, checking the echo and freeing its buffers happen outside that
 * interval, so that only the libOS and the network are measured. --server runs the same echo
 * server as tcp-echo, so one binary serves both ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demi-common.h"

#define TCP_MAX_SIZE (1ULL << 30)

/* Echo pieces kept for checking after the clock stops; more are checked at once. */
#define MAX_HELD 64

static const char usage[] =
	"--server ADDR:PORT [--count N]\n"
	"       | --client ADDR:PORT [--size B] [--requests R] [--warmup W] [--timeout-ms T]\n"
	"  --server    echo server (as tcp-echo --server)\n"
	"  --client    R timed round trips (default 10000) of B bytes (default 64) after W\n"
	"              untimed ones (default 1000); fail after T ms (default 5000) without reply\n";

enum { OP_PUSH, OP_POP };

struct pingpong {
	const struct ex_opts *o;
	int qd;
	demi_sgarray_t held[MAX_HELD]; /* pieces of the echo not checked yet */
	size_t held_off[MAX_HELD];     /* their offsets in the message */
	int nheld;
};

/* Checks the held pieces of the echo of seed and frees them; false on a mismatch. */
static bool check_held(struct pingpong *p, uint64_t seed)
{
	bool ok = true;

	for (int i = 0; i < p->nheld; i++) {
		size_t len = ex_sga_len(&p->held[i]);
		size_t bad = ex_sga_check(&p->held[i], seed, p->held_off[i]);

		if (ok && bad != p->held_off[i] + len) {
			fprintf(stderr, "%s: echo differs at byte %zu\n", ex_prog, bad);
			ok = false;
		}
		ex_sga_free(&p->held[i]);
	}
	p->nheld = 0;
	return ok;
}

/* Frees the held pieces unchecked, after a failed round trip. */
static void drop_held(struct pingpong *p)
{
	for (int i = 0; i < p->nheld; i++)
		ex_sga_free(&p->held[i]);
	p->nheld = 0;
}

/* Takes a piece of the echo: keeps it for check_held, or checks it now if too many are held. */
static bool take_piece(struct pingpong *p, demi_sgarray_t *sga, size_t off, uint64_t seed)
{
	if (p->nheld == MAX_HELD && !check_held(p, seed)) {
		ex_sga_free(sga);
		return false;
	}
	p->held[p->nheld] = *sga;
	p->held_off[p->nheld] = off;
	p->nheld++;
	return true;
}

/* Handles the completed pop of a round trip; 0, or an errno after printing why. */
static int on_pop(struct pingpong *p, const demi_qresult_t *qr, size_t *rx, uint64_t seed)
{
	demi_sgarray_t sga;
	size_t len;

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		ex_err("pop", (int)qr->qr_ret);
		return (int)qr->qr_ret;
	}
	sga = qr->qr_value.sga;
	len = ex_sga_len(&sga);
	if (len == 0 || len > p->o->size - *rx) {
		fprintf(stderr, "%s: %s\n", ex_prog,
			len ? "more bytes echoed than sent" : "server closed the connection");
		ex_sga_free(&sga);
		return EPROTO;
	}
	if (!take_piece(p, &sga, *rx, seed))
		return EPROTO;
	*rx += len;
	return 0;
}

/* One round trip of request `seed`; *rtt_ns receives its duration. 0 or an errno. */
static int round_trip(struct pingpong *p, uint64_t seed, uint64_t *rtt_ns)
{
	struct timespec ts = ex_timespec(p->o->timeout_ms * EX_NS_PER_MS);
	demi_qtoken_t qts[2];
	int kinds[2];
	int nqts = 0, idx, ret;
	demi_sgarray_t sga;
	demi_qresult_t qr;
	bool pushed = false;
	size_t rx = 0;
	uint64_t t0;

	ret = ex_sga_pattern(&sga, p->o->size, seed);
	if (ret != 0) {
		ex_err("demi_sgaalloc", ret);
		return ret;
	}
	t0 = ex_now_ns();
	ret = demi_push(&qts[nqts], p->qd, &sga);
	ex_sga_free(&sga);
	if (ret != 0) {
		ex_err("demi_push", ret);
		return ret;
	}
	kinds[nqts++] = OP_PUSH;
	while (!pushed || rx < p->o->size) {
		if (rx < p->o->size && (nqts == 0 || kinds[nqts - 1] != OP_POP)) {
			ret = demi_pop(&qts[nqts], p->qd);
			if (ret != 0) {
				ex_err("demi_pop", ret);
				return ret;
			}
			kinds[nqts++] = OP_POP;
		}
		ret = demi_wait_any(&qr, &idx, qts, nqts, &ts);
		if (ret != 0) {
			ex_err("demi_wait_any", ret);
			return ret;
		}
		if (kinds[idx] == OP_PUSH) {
			if (qr.qr_opcode == DEMI_OPC_FAILED) {
				ex_err("push", (int)qr.qr_ret);
				return (int)qr.qr_ret;
			}
			pushed = true;
		} else {
			ret = on_pop(p, &qr, &rx, seed);
			if (ret != 0)
				return ret;
		}
		/* Keep the pop, if any, last: the loop above looks there. */
		nqts--;
		if (idx != nqts) {
			qts[idx] = qts[nqts];
			kinds[idx] = kinds[nqts];
		}
	}
	*rtt_ns = ex_now_ns() - t0;
	return check_held(p, seed) ? 0 : EPROTO;
}

static int run_client(const struct ex_opts *o)
{
	struct pingpong p = {.o = o};
	uint64_t total = o->warmup + o->requests;
	struct ex_latency lat;
	uint64_t *samples;
	int ret = 0;

	samples = calloc(o->requests, sizeof(*samples));
	if (!samples) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	if (ex_connect_wait(SOCK_STREAM, &o->addr, o->timeout_ms * EX_NS_PER_MS, &p.qd) != 0) {
		free(samples);
		return 1;
	}
	for (uint64_t i = 0; i < total && ret == 0 && !ex_stop; i++) {
		uint64_t rtt = 0;

		ret = round_trip(&p, ex_seed(0, (uint32_t)i), &rtt);
		if (i >= o->warmup)
			samples[i - o->warmup] = rtt;
	}
	/* Closing cancels what a failed round trip left pending; exit reaps it. */
	drop_held(&p);
	demi_close(p.qd);
	if (ret == 0 && !ex_stop) {
		ex_latency_compute(samples, o->requests, &lat);
		ex_latency_print("tcp", o->size, o->requests, &lat);
	}
	free(samples);
	return ret == 0 && !ex_stop ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.size = 64, .requests = 10000, .warmup = 1000, .timeout_ms = 5000};
	int code;

	if (!ex_demi_start(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_SIZE |
				   EX_OPT_REQUESTS | EX_OPT_WARMUP | EX_OPT_TIMEOUT,
			   TCP_MAX_SIZE, usage, &o, &code))
		return code;
	if (o.mode == EX_MODE_SERVER)
		return ex_tcp_echo_server(&o.addr, o.count);
	return run_client(&o);
}
