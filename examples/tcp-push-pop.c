/* SPDX-License-Identifier: MIT */
/*
 * TCP one-way throughput on the demi_* API.
 *
 * The client pushes --requests messages of --size bytes with up to --window pushes outstanding,
 * then closes. The server pops and counts until the peer closes, and reports the rate between
 * its first and its last byte. The client's rate counts pushes the libOS has taken (for catnap:
 * data in the kernel's send buffer), so the server's figure is the one to quote.
 *
 * The client sends from --window buffers allocated and filled once, each pushed again whenever
 * its previous push has completed: this measures zero-copy pushes, not memset. Pushes complete
 * in issue order, so with fewer than W outstanding, the buffer of push i - W is free again.
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
	"--server ADDR:PORT [--count N] [--size B]\n"
	"       | --client ADDR:PORT [--size B] [--requests R] [--window W] [--timeout-ms T]\n"
	"  --server    count what every connection sends until it closes; exit after N\n"
	"              connections (default: on SIGINT); B (if given) turns bytes into messages\n"
	"  --client    push R messages (default 100000) of B bytes (default 64k) with W pushes\n"
	"              outstanding (default 16); fail after T ms (default 10000) without progress\n";

enum { OP_ACCEPT, OP_POP, OP_PUSH };

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
	demi_qtoken_t qt;
	int ret = demi_pop(&qt, k->qd);

	if (ret == 0)
		ret = ex_tokset_add(&s->set, qt, k, OP_POP);
	if (ret != 0) {
		ex_err("demi_pop", ret);
		return ret;
	}
	k->popping = true;
	return 0;
}

static int issue_accept(struct server *s)
{
	demi_qtoken_t qt;
	int ret = demi_accept(&qt, s->lqd);

	if (ret == 0)
		ret = ex_tokset_add(&s->set, qt, NULL, OP_ACCEPT);
	if (ret != 0)
		ex_err("demi_accept", ret);
	return ret;
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

	if (ex_tcp_listen(&o->addr, &s.lqd) != 0 || issue_accept(&s) != 0)
		return 1;
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
	ex_tokset_fini(&s.set);
	return ret == 0 ? 0 : 1;
}

struct source {
	const struct ex_opts *o;
	int qd;
	demi_sgarray_t *bufs; /* --window buffers pushed in turn */
	uint64_t issued, done;
	struct ex_tokset set;
};

static int alloc_bufs(struct source *c)
{
	c->bufs = calloc(c->o->window, sizeof(*c->bufs));
	if (!c->bufs)
		return ENOMEM;
	for (uint64_t i = 0; i < c->o->window; i++) {
		int ret = ex_sga_pattern(&c->bufs[i], c->o->size, ex_seed(0, (uint32_t)i));

		if (ret != 0) {
			ex_err("demi_sgaalloc", ret);
			return ret;
		}
	}
	return 0;
}

static void free_bufs(struct source *c)
{
	if (!c->bufs)
		return;
	for (uint64_t i = 0; i < c->o->window; i++)
		if (c->bufs[i].sga_numsegs > 0)
			ex_sga_free(&c->bufs[i]);
	free(c->bufs);
}

/* Keeps --window pushes outstanding until --requests were issued. */
static int fill_window(struct source *c)
{
	while (c->issued < c->o->requests && c->issued - c->done < c->o->window) {
		demi_qtoken_t qt;
		int ret = demi_push(&qt, c->qd, &c->bufs[c->issued % c->o->window]);

		if (ret == 0)
			ret = ex_tokset_add(&c->set, qt, NULL, OP_PUSH);
		if (ret != 0) {
			ex_err("demi_push", ret);
			return ret;
		}
		c->issued++;
	}
	return 0;
}

/* Pushes everything; returns 0 or an errno (printed). */
static int push_all(struct source *c)
{
	struct timespec ts = ex_timespec(c->o->timeout_ms * EX_NS_PER_MS);
	struct ex_tok tok;
	demi_qresult_t qr;
	int ret;

	ret = fill_window(c);
	while (ret == 0 && c->done < c->o->requests && !ex_stop) {
		ret = ex_tokset_wait(&c->set, &qr, &tok, &ts);
		if (ret != 0) {
			ex_err(ret == ETIMEDOUT ? "no progress within --timeout-ms"
						: "demi_wait_any",
			       ret);
			break;
		}
		if (qr.qr_opcode == DEMI_OPC_FAILED) {
			ex_err("push", (int)qr.qr_ret);
			return (int)qr.qr_ret;
		}
		c->done++;
		ret = fill_window(c);
	}
	return ex_stop ? EINTR : ret;
}

static int run_client(const struct ex_opts *o)
{
	struct source c = {.o = o, .qd = -1};
	uint64_t t0, elapsed;
	int ret;

	ret = alloc_bufs(&c);
	if (ret == 0)
		ret = ex_connect_wait(SOCK_STREAM, &o->addr, o->timeout_ms * EX_NS_PER_MS, &c.qd);
	if (ret == 0) {
		t0 = ex_now_ns();
		ret = push_all(&c);
		elapsed = ex_now_ns() - t0;
		if (ret == 0)
			ex_rate_print("tcp", "client", o->size, c.done, c.done * o->size, elapsed);
	}
	/* Closing a TCP queue still sends what the kernel buffered, then the FIN. */
	if (c.qd >= 0)
		demi_close(c.qd);
	free_bufs(&c);
	ex_tokset_fini(&c.set);
	return ret == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.requests = 100000, .window = 16, .timeout_ms = 10000};
	int code;

	ex_prog = argv[0];
	if (!ex_opts_parse(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_COUNT | EX_OPT_SIZE |
				   EX_OPT_REQUESTS | EX_OPT_WINDOW | EX_OPT_TIMEOUT,
			   TCP_MAX_SIZE, usage, &o, &code))
		return code;
	/* The server reports messages only when told their size; the client needs one. */
	if (o.mode == EX_MODE_CLIENT && o.size == 0)
		o.size = 65536;
	ex_signals_init();
	if (ex_demi_init() != 0)
		return 1;
	return o.mode == EX_MODE_SERVER ? run_server(&o) : run_client(&o);
}
