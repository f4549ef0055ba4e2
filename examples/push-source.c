/* SPDX-License-Identifier: MIT */
/* The push loop of tcp-push-pop and udp-push-pop's clients; see push-source.h. */
#include <errno.h>
#include <stdlib.h>

#include "push-source.h"

enum { OP_PUSH };

static int alloc_bufs(struct ex_source *c)
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

static void free_bufs(struct ex_source *c)
{
	if (!c->bufs)
		return;
	for (uint64_t i = 0; i < c->o->window; i++)
		if (c->bufs[i].sga_numsegs > 0)
			ex_sga_free(&c->bufs[i]);
	free(c->bufs);
}

int ex_source_push(struct ex_source *c, const demi_sgarray_t *sga)
{
	return ex_tokset_push(&c->set, c->qd, sga, NULL, OP_PUSH);
}

/* Keeps --window pushes outstanding until --requests were issued. */
static int fill_window(struct ex_source *c)
{
	while (c->issued < c->o->requests && c->issued - c->done < c->o->window) {
		int ret = ex_source_push(c, &c->bufs[c->issued % c->o->window]);

		if (ret != 0)
			return ret;
		c->issued++;
	}
	return 0;
}

int ex_source_reap(struct ex_source *c, int quiet)
{
	struct timespec ts = ex_timespec(c->wait_ns);
	struct ex_tok tok;
	demi_qresult_t qr;
	int ret;

	ret = ex_tokset_wait(&c->set, &qr, &tok, &ts);
	if (ret != 0) {
		ex_err(ret == ETIMEDOUT ? c->wait_failed : "demi_wait_any", ret);
		return ret;
	}
	if (qr.qr_opcode == DEMI_OPC_FAILED) {
		if (qr.qr_ret != quiet)
			ex_err("push", (int)qr.qr_ret);
		return (int)qr.qr_ret;
	}
	return 0;
}

/* Pushes everything; returns 0 or an errno (printed). */
static int push_all(struct ex_source *c)
{
	int ret = fill_window(c);

	while (ret == 0 && c->done < c->o->requests && !ex_stop) {
		ret = ex_source_reap(c, 0);
		if (ret == 0) {
			c->done++;
			ret = fill_window(c);
		}
	}
	return ex_stop ? EINTR : ret;
}

int ex_source_run(struct ex_source *c, const struct ex_opts *o, int type, uint64_t connect_ns)
{
	const char *proto = type == SOCK_STREAM ? "tcp" : "udp";
	uint64_t t0, elapsed;
	int ret;

	c->o = o;
	c->qd = -1;
	ret = alloc_bufs(c);
	if (ret == 0)
		ret = ex_connect_wait(type, &o->addr, connect_ns, &c->qd);
	if (ret != 0)
		return ret;
	t0 = ex_now_ns();
	ret = push_all(c);
	elapsed = ex_now_ns() - t0;
	if (ret == 0)
		ex_rate_print(proto, "client", o->size, c->done, c->done * o->size, elapsed);
	return ret;
}

void ex_source_fini(struct ex_source *c)
{
	if (c->qd >= 0)
		demi_close(c->qd);
	free_bufs(c);
	ex_tokset_fini(&c->set);
}
