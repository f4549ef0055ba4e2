/* SPDX-License-Identifier: MIT */
/*
 * UDP one-way throughput on the demi_* API.
 *
 * The client pushes --requests datagrams of --size bytes with up to --window pushes outstanding,
 * then an end marker (three times: it may be lost too). The server pops and counts one such
 * session: it stops at the end marker, after --requests datagrams if given, or when no datagram
 * came for --timeout-ms, and reports the rate between its first and last datagram, plus how
 * many were lost when it knows how many were sent. UDP has no flow control: a client faster
 * than the server loses datagrams, and the server's figure is the delivered rate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push-source.h"

#define TICK_NS (100 * EX_NS_PER_MS)

/* Pops kept outstanding, so that a burst of datagrams completes in few passes. */
#define POP_DEPTH 16

/*
 * Marks the end of a session. Data datagrams start with a seed whose fifth byte is 1 (client
 * 0, see ex_seed), so no data datagram can look like this.
 */
static const char end_marker[] = "DEMI-PUSH-POP-END";
#define END_LEN (sizeof(end_marker) - 1)
#define END_COPIES 3

static const char usage[] =
	"--server ADDR:PORT [--size B] [--requests R] [--timeout-ms T]\n"
	"       | --client ADDR:PORT [--size B] [--requests R] [--window W]\n"
	"  --server    count one session of datagrams: until the client's end marker, R\n"
	"              datagrams, or T ms (default 1000) without any; B (if given) is the size\n"
	"              of the messages that are counted (others are ignored)\n"
	"  --client    push R datagrams (default 100000) of B bytes (default 1024, up to 65507)\n"
	"              with W pushes outstanding (default 16), then the end marker\n";

enum { OP_POP };

struct sink {
	const struct ex_opts *o;
	int qd;
	bool ended; /* the session is over */
	uint64_t msgs, bytes, other;
	uint64_t first_ns, last_ns;
	struct ex_tokset set;
};

static bool is_end_marker(const demi_sgarray_t *sga)
{
	return sga->sga_numsegs == 1 && sga->sga_segs[0].sgaseg_len == END_LEN &&
	       memcmp(sga->sga_segs[0].sgaseg_buf, end_marker, END_LEN) == 0;
}

static int sink_pop(struct sink *k)
{
	return ex_tokset_pop(&k->set, k->qd, NULL, OP_POP);
}

/* Counts one popped datagram. Returns 0 or an errno. */
static int on_datagram(struct sink *k, const demi_qresult_t *qr)
{
	demi_sgarray_t sga;
	size_t len;

	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (qr->qr_ret == ECANCELED)
			return 0;
		ex_err("pop", (int)qr->qr_ret);
		return (int)qr->qr_ret;
	}
	sga = qr->qr_value.sga;
	len = ex_sga_len(&sga);
	if (is_end_marker(&sga)) {
		k->ended = true;
	} else if (!k->ended && (k->o->size == 0 || len == k->o->size)) {
		k->last_ns = ex_now_ns();
		if (k->msgs == 0)
			k->first_ns = k->last_ns;
		k->msgs++;
		k->bytes += len;
		if (k->o->requests && k->msgs >= k->o->requests)
			k->ended = true;
	} else {
		k->other++;
	}
	ex_sga_free(&sga);
	return k->ended ? 0 : sink_pop(k);
}

static int run_server(const struct ex_opts *o)
{
	struct timespec tick = ex_timespec(TICK_NS);
	struct sink k = {.o = o};
	struct ex_tok tok;
	demi_qresult_t qr;
	char buf[32];
	int ret = 0;

	if (ex_udp_bind(&o->addr, &k.qd) != 0)
		return 1;
	for (int i = 0; i < POP_DEPTH && ret == 0; i++)
		ret = sink_pop(&k);
	printf("udp push-pop server on %s\n", ex_addr_str(&o->addr, buf, sizeof(buf)));
	fflush(stdout);
	while (ret == 0 && !k.ended && !ex_stop) {
		ret = ex_tokset_wait(&k.set, &qr, &tok, &tick);
		if (ret == ETIMEDOUT) {
			ret = 0;
			/* Idle after a session started: the end marker was lost. */
			if (k.msgs && ex_now_ns() - k.last_ns > o->timeout_ms * EX_NS_PER_MS)
				k.ended = true;
			continue;
		}
		if (ret == 0)
			ret = on_datagram(&k, &qr);
	}
	demi_close(k.qd); /* cancels the pops still outstanding; exit reaps them */
	ex_tokset_fini(&k.set);
	if (k.msgs)
		ex_rate_print("udp", "server", o->size, k.msgs, k.bytes, k.last_ns - k.first_ns);
	if (o->requests && k.msgs < o->requests)
		printf("  %" PRIu64 " of %" PRIu64 " datagrams lost\n", o->requests - k.msgs,
		       o->requests);
	if (k.other)
		printf("  %" PRIu64 " datagrams of another size ignored\n", k.other);
	return ret == 0 ? 0 : 1;
}

/*
 * Sends the end marker; a short pause between copies lets the server drain its queue. A server
 * that got the first copy exits, and the kernel may then report the next copy's ICMP "port
 * unreachable" as ECONNREFUSED: the session ended as it should.
 */
static int send_end(struct ex_source *c)
{
	struct timespec pause = {.tv_nsec = 10 * (long)EX_NS_PER_MS};
	demi_sgarray_t sga;
	int ret = 0;

	for (int i = 0; i < END_COPIES; i++) {
		nanosleep(&pause, NULL);
		sga = demi_sgaalloc(END_LEN);
		if (sga.sga_numsegs == 0) {
			ex_err("demi_sgaalloc", ENOMEM);
			return ENOMEM;
		}
		memcpy(sga.sga_segs[0].sgaseg_buf, end_marker, END_LEN);
		ret = ex_source_push(c, &sga);
		ex_sga_free(&sga);
		if (ret == 0)
			ret = ex_source_reap(c, i > 0 ? ECONNREFUSED : 0);
		if (ret == ECONNREFUSED && i > 0)
			return 0;
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* The client: the push loop of push-source.c, then the end marker. */
static int run_client(const struct ex_opts *o)
{
	/* A UDP push does not wait for the peer: the wait is only bounded against a stuck libOS. */
	struct ex_source c = {.wait_ns = 10 * EX_NS_PER_S, .wait_failed = "demi_wait_any"};
	int ret = ex_source_run(&c, o, SOCK_DGRAM, EX_NS_PER_S);

	if (ret == 0)
		ret = send_end(&c);
	ex_source_fini(&c);
	return ret == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {.window = 16, .timeout_ms = 1000};
	int code;

	if (!ex_demi_start(argc, argv,
			   EX_OPT_SERVER | EX_OPT_CLIENT | EX_OPT_SIZE | EX_OPT_REQUESTS |
				   EX_OPT_WINDOW | EX_OPT_TIMEOUT,
			   EX_UDP_MAX, usage, &o, &code))
		return code;
	if (o.mode == EX_MODE_CLIENT) {
		if (o.size == 0)
			o.size = 1024;
		if (o.requests == 0)
			o.requests = 100000;
	}
	return o.mode == EX_MODE_SERVER ? run_server(&o) : run_client(&o);
}
