/* SPDX-License-Identifier: MIT */
/* Token sets and socket helpers for the libdemikernel examples; see demi-common.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>

#include "demi-common.h"

const char *ex_prog = "example";

static unsigned slot_of(demi_qtoken_t qt, int cap)
{
	return (unsigned)((qt * 0x9E3779B97F4A7C15ull) >> 32) & (unsigned)(cap - 1);
}

static int rehash(struct ex_tokset *set, int cap)
{
	struct ex_tokslot *old = set->tab;
	int old_cap = set->cap;

	set->tab = calloc((size_t)cap, sizeof(*set->tab));
	if (!set->tab) {
		set->tab = old;
		return ENOMEM;
	}
	set->cap = cap;
	for (int i = 0; i < old_cap; i++) {
		if (old[i].state != 1)
			continue;
		unsigned j = slot_of(old[i].qt, cap);
		while (set->tab[j].state)
			j = (j + 1) & (unsigned)(cap - 1);
		set->tab[j] = old[i];
	}
	free(old);
	return 0;
}

int ex_tokset_add(struct ex_tokset *set, demi_qtoken_t qt, void *owner, int kind)
{
	unsigned j;

	if ((set->n + 1) * 2 > set->cap) {
		int cap = set->cap ? set->cap : 64;
		while ((set->n + 1) * 2 > cap / 2)
			cap *= 2;
		if (rehash(set, cap))
			return ENOMEM;
	}
	j = slot_of(qt, set->cap);
	while (set->tab[j].state == 1)
		j = (j + 1) & (unsigned)(set->cap - 1);
	set->tab[j] = (struct ex_tokslot){.qt = qt, .tok = {owner, kind}, .state = 1};
	set->n++;
	return 0;
}

/* Empties slot i by backward shift (linear probing without tombstones): each later entry of
 * the run that may live at i moves there, so lookups never meet a hole before their key and
 * the table never needs a rehash to clear deletions (no allocation per token). */
static void unlink_slot(struct ex_tokset *set, unsigned i)
{
	unsigned mask = (unsigned)(set->cap - 1), j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (set->tab[j].state == 0)
			break;
		unsigned home = slot_of(set->tab[j].qt, set->cap);
		/* The entry at j may move to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		set->tab[i] = set->tab[j];
		i = j;
	}
	set->tab[i].state = 0;
}

/* Removes qt and returns its context; false if the set does not hold it. */
bool ex_tokset_take(struct ex_tokset *set, demi_qtoken_t qt, struct ex_tok *tok)
{
	if (!set->cap)
		return false;
	for (unsigned j = slot_of(qt, set->cap);; j = (j + 1) & (unsigned)(set->cap - 1)) {
		if (set->tab[j].state == 0)
			return false;
		if (set->tab[j].qt == qt) {
			*tok = set->tab[j].tok;
			unlink_slot(set, j);
			set->n--;
			return true;
		}
	}
}

int ex_tokset_wait(struct ex_tokset *set, demi_qresult_t *qr, struct ex_tok *tok,
		   const struct timespec *timeout)
{
	if (set->next == set->nready) {
		int n = 0, ret = demi_wait_next_n(set->ready, EX_TOKSET_BATCH, &n, timeout);

		if (ret == EINTR)
			return ETIMEDOUT; /* the caller looks at ex_stop and waits again */
		if (ret != 0)
			return ret;
		set->nready = n;
		set->next = 0;
	}
	*qr = set->ready[set->next++];
	if (!ex_tokset_take(set, qr->qr_qt, tok)) {
		fprintf(stderr, "%s: a completion (token %#llx) that no loop was waiting for\n",
			ex_prog, (unsigned long long)qr->qr_qt);
		return EPROTO;
	}
	return 0;
}

void ex_tokset_foreach(struct ex_tokset *set, void (*fn)(void *arg, struct ex_tok *tok), void *arg)
{
	for (int i = 0; i < set->cap; i++)
		if (set->tab[i].state == 1)
			fn(arg, &set->tab[i].tok);
}

void ex_tokset_fini(struct ex_tokset *set)
{
	free(set->tab);
	memset(set, 0, sizeof(*set));
}

/*
 * Adds the token of an operation just issued, `ret` being what the call (named `call`) returned:
 * a token the set does not hold would be a completion no loop waits for.
 */
static int add_issued(struct ex_tokset *set, int ret, demi_qtoken_t qt, void *owner, int kind,
		      const char *call)
{
	if (ret == 0)
		ret = ex_tokset_add(set, qt, owner, kind);
	if (ret != 0)
		ex_err(call, ret);
	return ret;
}

int ex_tokset_pop(struct ex_tokset *set, int qd, void *owner, int kind)
{
	demi_qtoken_t qt = 0;
	int ret = demi_pop(&qt, qd);

	return add_issued(set, ret, qt, owner, kind, "demi_pop");
}

int ex_tokset_push(struct ex_tokset *set, int qd, const demi_sgarray_t *sga, void *owner, int kind)
{
	demi_qtoken_t qt = 0;
	int ret = demi_push(&qt, qd, sga);

	return add_issued(set, ret, qt, owner, kind, "demi_push");
}

int ex_tokset_accept(struct ex_tokset *set, int qd, int kind)
{
	demi_qtoken_t qt = 0;
	int ret = demi_accept(&qt, qd);

	return add_issued(set, ret, qt, NULL, kind, "demi_accept");
}

void ex_err(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", ex_prog, what, strerror(err));
}

int ex_demi_init(void)
{
	/*
	 * NULL arguments: the libOS takes its configuration from the environment (LIBOS,
	 * CONFIG_PATH), never from our command line, whose options it does not know.
	 */
	int ret = demi_init(NULL);

	if (ret != 0)
		ex_err("demi_init (check LIBOS and CONFIG_PATH)", ret);
	return ret;
}

bool ex_demi_start(int argc, char **argv, unsigned int allowed, uint64_t max_size,
		   const char *usage, struct ex_opts *o, int *exit_code)
{
	ex_prog = argv[0];
	if (!ex_opts_parse(argc, argv, allowed, max_size, usage, o, exit_code))
		return false;
	ex_signals_init();
	if (ex_demi_init() != 0) {
		*exit_code = 1;
		return false;
	}
	return true;
}

size_t ex_sga_len(const demi_sgarray_t *sga)
{
	size_t len = 0;

	for (uint32_t i = 0; i < sga->sga_numsegs && i < DEMI_SGARRAY_MAXSIZE; i++)
		len += sga->sga_segs[i].sgaseg_len;
	return len;
}

int ex_sga_pattern(demi_sgarray_t *sga, size_t len, uint64_t seed)
{
	size_t off = 0;

	*sga = demi_sgaalloc(len);
	if (sga->sga_numsegs == 0)
		return ENOMEM;
	for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
		ex_pattern_fill(sga->sga_segs[i].sgaseg_buf, sga->sga_segs[i].sgaseg_len, seed,
				off);
		off += sga->sga_segs[i].sgaseg_len;
	}
	return 0;
}

size_t ex_sga_check(const demi_sgarray_t *sga, uint64_t seed, size_t offset)
{
	for (uint32_t i = 0; i < sga->sga_numsegs && i < DEMI_SGARRAY_MAXSIZE; i++) {
		size_t len = sga->sga_segs[i].sgaseg_len;
		size_t bad = ex_pattern_check(sga->sga_segs[i].sgaseg_buf, len, seed, offset);

		offset += bad;
		if (bad != len)
			break;
	}
	return offset;
}

void ex_sga_free(demi_sgarray_t *sga)
{
	int ret = demi_sgafree(sga);

	if (ret != 0)
		ex_err("demi_sgafree", ret);
}

void ex_set_nodelay(int qd)
{
	static bool warned;
	int one = 1;
	int ret = demi_setsockopt(qd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (ret != 0 && !warned) {
		ex_err("demi_setsockopt(TCP_NODELAY) (continuing without it)", ret);
		warned = true;
	}
}

int ex_tcp_listen(const struct sockaddr_in *addr, int *qd_out)
{
	char buf[32];
	int one = 1;
	int qd, ret;

	ret = demi_socket(&qd, AF_INET, SOCK_STREAM, 0);
	if (ret != 0) {
		ex_err("demi_socket", ret);
		return ret;
	}
	/* A restarted server must not wait for the TIME_WAIT of its previous run. */
	ret = demi_setsockopt(qd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ret != 0)
		ex_err("demi_setsockopt(SO_REUSEADDR) (continuing without it)", ret);
	ret = demi_bind(qd, (const struct sockaddr *)addr, sizeof(*addr));
	if (ret != 0) {
		fprintf(stderr, "%s: demi_bind %s: %s\n", ex_prog,
			ex_addr_str(addr, buf, sizeof(buf)), strerror(ret));
		demi_close(qd);
		return ret;
	}
	ret = demi_listen(qd, 1024);
	if (ret != 0) {
		ex_err("demi_listen", ret);
		demi_close(qd);
		return ret;
	}
	*qd_out = qd;
	return 0;
}

int ex_udp_bind(const struct sockaddr_in *addr, int *qd_out)
{
	int bufsize = 4 << 20;
	char buf[32];
	int qd, ret;

	ret = demi_socket(&qd, AF_INET, SOCK_DGRAM, 0);
	if (ret != 0) {
		ex_err("demi_socket", ret);
		return ret;
	}
	/*
	 * A server socket receives from many clients at once: with the default buffer a burst of
	 * large datagrams overflows it. Best effort: the system may cap it, a libOS may lack it.
	 */
	(void)demi_setsockopt(qd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	(void)demi_setsockopt(qd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	ret = demi_bind(qd, (const struct sockaddr *)addr, sizeof(*addr));
	if (ret != 0) {
		fprintf(stderr, "%s: demi_bind %s: %s\n", ex_prog,
			ex_addr_str(addr, buf, sizeof(buf)), strerror(ret));
		demi_close(qd);
		return ret;
	}
	*qd_out = qd;
	return 0;
}

int ex_connect_wait(int type, const struct sockaddr_in *addr, uint64_t timeout_ns, int *qd_out)
{
	struct timespec ts = ex_timespec(timeout_ns);
	demi_qresult_t qr;
	demi_qtoken_t qt;
	char buf[32];
	int qd, ret;

	ret = demi_socket(&qd, AF_INET, type, 0);
	if (ret != 0) {
		ex_err("demi_socket", ret);
		return ret;
	}
	ret = demi_connect(&qt, qd, (const struct sockaddr *)addr, sizeof(*addr));
	if (ret != 0) {
		ex_err("demi_connect", ret);
		demi_close(qd);
		return ret;
	}
	ret = demi_wait(&qr, qt, &ts);
	if (ret == 0 && qr.qr_opcode != DEMI_OPC_CONNECT)
		ret = qr.qr_opcode == DEMI_OPC_FAILED ? (int)qr.qr_ret : EPROTO;
	if (ret != 0) {
		fprintf(stderr, "%s: connect to %s: %s\n", ex_prog,
			ex_addr_str(addr, buf, sizeof(buf)), strerror(ret));
		/* Closing cancels a connect still pending; its token then completes. */
		demi_close(qd);
		if (ret == ETIMEDOUT)
			demi_wait(&qr, qt, NULL);
		return ret;
	}
	if (type == SOCK_STREAM)
		ex_set_nodelay(qd);
	*qd_out = qd;
	return 0;
}
