/* SPDX-License-Identifier: MIT */
/*
 * TCP one-way throughput on the demi_* API.
 *
 * The client pushes --requests messages of --size bytes with up to --window pushes outstanding,
 * then closes. The server pops and counts until the peer closes, and reports the rate between
 * its first and its last byte. The client's rate counts pushes the libOS has taken (for catnap:
 * data in the kernel's send buffer), so the server's figure is the one to quote.
 *
 * The client is the push loop of push-source.c; a stalled push fails it after --timeout-ms.
 *
 * With --ignore N the server holds its first N connections open and never pops them: a
 * receiver that stopped reading, whose data the libOS must keep without starving the
 * connections that are read (catnip's receive memory budget, tests/dpdk/catnip-rcvmem-tap.sh).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push-source.h"

#define TCP_MAX_SIZE (1ULL << 30)
#define TICK_NS (100 * EX_NS_PER_MS)

static const char usage[] =
	"--server ADDR:PORT [--count N] [--size B] [--ignore I]\n"
	"       | --client ADDR:PORT [--size B] [--requests R] [--window W] [--timeout-ms T]\n"
	"  --server    count what every connection sends until it closes; exit after N\n"
	"              connections (default: on SIGINT); B (if given) turns bytes into messages;\n"
	"              the first I connections are held open and never read (default 0)\n"
	"  --client    push R messages (default 100000) of B bytes (default 64k) with W pushes\n"
	"              outstanding (default 16); fail after T ms (default 10000) without progress\n";

enum { OP_ACCEPT, OP_POP };

struct sink {
	int qd;
	uint64_t bytes, pops;
	uint64_t first_ns, last_ns; /* first and last byte popped */
	bool closed;
	bool popping;
};

struct server {
	const struct ex_opts *o;
	int lqd;
	uint64_t accepted, finished;
	struct ex_tokset set;
	int *ignored; /* the first o->ignore connections' qds, closed at the end */
	uint64_t nignored;
};

static void sink_report(const struct server *s, const struct sink *k)
{
	uint64_t msgs = s->o->size ? k->bytes / s->o->size : k->pops;

	ex_rate_print("tcp", "server", s->o->size, msgs, k->bytes, k->last_ns - k->first_ns);
}

static void sink_close(struct server *s, struct sink *k)
{
	int ret;

	if (k->closed)
		return;
	k->closed = true;
	s->finished++;
	ret = demi_close(k->qd);
	if (ret != 0)
		ex_err("demi_close", ret);
}

static int sink_pop(struct server *s, struct sink *k)
{
	int ret = ex_tokset_pop(&s->set, k->qd, k, OP_POP);

	if (ret == 0)
		k->popping = true;
	return ret;
}

static int issue_accept(struct server *s)
{
	return ex_tokset_accept(&s->set, s->lqd, OP_ACCEPT);
}

static int on_accept(struct server *s, const demi_qresult_t *qr)
{
	struct sink *k;

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (qr->qr_ret == ECANCELED)
			return 0;
		ex_err("accept", (int)qr->qr_ret);
	} else if (s->lqd < 0) {
		demi_close(qr->qr_value.ares.qd); /* raced with shutdown */
		return 0;
	} else if (s->nignored < s->o->ignore) {
		s->ignored[s->nignored++] = qr->qr_value.ares.qd;
	} else {
		k = calloc(1, sizeof(*k));
		if (!k) {
			demi_close(qr->qr_value.ares.qd);
			return ENOMEM;
		}
		k->qd = qr->qr_value.ares.qd;
		s->accepted++;
		if (sink_pop(s, k) != 0) {
			sink_close(s, k);
			free(k);
		}
	}
	if (s->o->count && s->accepted >= s->o->count)
		return 0;
	return issue_accept(s);
}

static void on_sink_pop(struct server *s, struct sink *k, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;
	size_t len = 0;

	k->popping = false;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (qr->qr_ret != ECANCELED)
			ex_err("pop", (int)qr->qr_ret);
	} else {
		sga = qr->qr_value.sga;
		len = ex_sga_len(&sga);
		ex_sga_free(&sga);
	}
	if (len > 0 && !k->closed) {
		k->last_ns = ex_now_ns();
		if (k->bytes == 0)
			k->first_ns = k->last_ns;
		k->bytes += len;
		k->pops++;
		if (sink_pop(s, k) == 0)
			return;
	}
	/* End of stream, failure or shutdown (then the figures cover what came until then). */
	if (k->bytes > 0)
		sink_report(s, k);
	sink_close(s, k);
	free(k);
}

static void close_popping_sink(void *arg, struct ex_tok *tok)
{
	if (tok->kind == OP_POP)
		sink_close(arg, tok->owner);
}

/* Closes the listening queue and every connection; the main loop reaps the cancellations. */
static void server_stop(struct server *s)
{
	if (s->lqd >= 0) {
		demi_close(s->lqd);
		s->lqd = -1;
	}
	for (; s->nignored > 0; s->nignored--)
		demi_close(s->ignored[s->nignored - 1]);
	ex_tokset_foreach(&s->set, close_popping_sink, s);
}

static int run_server(const struct ex_opts *o)
{
	struct timespec tick = ex_timespec(TICK_NS);
	struct server s = {.o = o, .lqd = -1};
	struct ex_tok tok;
	demi_qresult_t qr;
	char buf[32];
	int ret = 0;

	if (o->ignore && !(s.ignored = calloc(o->ignore, sizeof(*s.ignored)))) {
		ex_err("calloc", ENOMEM);
		return 1;
	}
	if (ex_tcp_listen(&o->addr, &s.lqd) != 0 || issue_accept(&s) != 0) {
		free(s.ignored);
		return 1;
	}
	printf("tcp push-pop server on %s\n", ex_addr_str(&o->addr, buf, sizeof(buf)));
	fflush(stdout);
	while (s.set.n > 0) {
		if (s.lqd >= 0 && (ex_stop || (o->count && s.finished >= o->count)))
			server_stop(&s);
		ret = ex_tokset_wait(&s.set, &qr, &tok, &tick);
		if (ret == ETIMEDOUT) {
			ret = 0;
			continue;
		}
		if (ret != 0) {
			ex_err("demi_wait_any", ret);
			break;
		}
		if (tok.kind == OP_ACCEPT)
			ret = on_accept(&s, &qr);
		else
			on_sink_pop(&s, tok.owner, &qr);
		if (ret != 0) {
			ex_err("server", ret);
			break;
		}
	}
	if (s.lqd >= 0)
		demi_close(s.lqd);
	for (; s.nignored > 0; s.nignored--)
		demi_close(s.ignored[s.nignored - 1]);
	free(s.ignored);
	ex_tokset_fini(&s.set);
	return ret == 0 ? 0 : 1;
}

static int run_client(const struct ex_opts *o)
{
	struct ex_source c = {
		.wait_ns = o->timeout_ms * EX_NS_PER_MS,
		.wait_failed = "no progress within --timeout-ms",
	};
	int ret = ex_source_run(&c, o, SOCK_STREAM, o->timeout_ms * EX_NS_PER_MS);

	/* Closing a TCP queue still sends what the kernel buffered, then the FIN. */
	ex_source_fini(&c);
	return ret == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.requests = 100000, .window = 16, .timeout_ms = 10000};
	int code;

	if (!ex_demi_start(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_SIZE |
				   EX_OPT_REQUESTS | EX_OPT_WINDOW | EX_OPT_TIMEOUT | EX_OPT_IGNORE,
			   TCP_MAX_SIZE, usage, &o, &code))
		return code;
	/* The server reports messages only when told their size; the client needs one. */
	if (o.mode == EX_MODE_CLIENT && o.size == 0)
		o.size = 65536;
	return o.mode == EX_MODE_SERVER ? run_server(&o) : run_client(&o);
}
