/* SPDX-License-Identifier: MIT */
/* What tcp-echo and udp-echo's clients share; see echo-client.h. */
#include <stdio.h>
#include <string.h>

#include "echo-client.h"

void ex_echo_client_init(struct ex_echo_client *ec, const struct ex_opts *o, const char *noun)
{
	ec->o = o;
	ec->noun = noun;
	ec->st.clients = o->clients;
	ec->st.size = o->size;
	ec->st.expected = o->clients * o->requests;
	ec->t0_ns = ex_now_ns();
}

void ex_echo_open(struct ex_echo_client *ec, struct ex_echo_conn *c, uint32_t id, int type)
{
	demi_qtoken_t qt;
	int ret;

	c->id = id;
	c->closed = true; /* until it has a queue */
	ret = demi_socket(&c->qd, AF_INET, type, 0);
	if (ret != 0) {
		ex_err("demi_socket", ret);
		ec->st.errors++;
		return;
	}
	c->closed = false;
	/* UDP too: a connected UDP queue has a default destination and a local port to pop on. */
	ret = demi_connect(&qt, c->qd, (const struct sockaddr *)&ec->o->addr, sizeof(ec->o->addr));
	if (ret == 0)
		ret = ex_tokset_add(&ec->set, qt, c, EX_ECHO_CONNECT);
	if (ret != 0) {
		ex_err("demi_connect", ret);
		ex_echo_fail(ec, c);
	}
}

void ex_echo_close(struct ex_echo_conn *c)
{
	int ret;

	if (c->closed)
		return;
	c->closed = true;
	ret = demi_close(c->qd);
	if (ret != 0)
		ex_err("demi_close", ret);
}

void ex_echo_fail(struct ex_echo_client *ec, struct ex_echo_conn *c)
{
	if (c->closed)
		return;
	ec->st.errors++;
	ex_echo_close(c);
}

int ex_echo_pop(struct ex_echo_client *ec, struct ex_echo_conn *c)
{
	int ret = ex_tokset_pop(&ec->set, c->qd, c, EX_ECHO_POP);

	if (ret == 0)
		c->popping = true;
	return ret;
}

int ex_echo_push(struct ex_echo_client *ec, struct ex_echo_conn *c)
{
	demi_sgarray_t sga;
	int ret;

	ret = ex_sga_pattern(&sga, ec->o->size, ex_seed(c->id, c->req));
	if (ret != 0) {
		ex_err("demi_sgaalloc", ret);
		return ret;
	}
	ret = ex_tokset_push(&ec->set, c->qd, &sga, c, EX_ECHO_PUSH);
	ex_sga_free(&sga); /* zero-copy: the push holds its own reference */
	return ret;
}

bool ex_echo_failed(struct ex_echo_client *ec, struct ex_echo_conn *c, const char *what,
		    const demi_qresult_t *qr)
{
	if (qr->qr_opcode != DEMI_OPC_FAILED)
		return false;
	if (!c->closed)
		fprintf(stderr, "%s: %s %u: %s: %s\n", ex_prog, ec->noun, c->id, what,
			strerror((int)qr->qr_ret));
	ex_echo_fail(ec, c);
	return true;
}

int ex_echo_client_end(struct ex_echo_client *ec, const char *proto, bool ok)
{
	ec->st.elapsed_ns = ex_now_ns() - ec->t0_ns;
	ex_tokset_fini(&ec->set);
	ex_echo_print(proto, &ec->st);
	/* lost stays 0 for TCP, which has no such notion. */
	return ok && ec->st.errors == 0 && ec->st.lost == 0 && ec->st.done == ec->st.expected ? 0
											      : 1;
}
