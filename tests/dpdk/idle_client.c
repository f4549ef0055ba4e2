/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo client for the adaptive-waiting tests (catnip-idle.sh): round trips separated by
 * silences, so that both ends go to sleep between them. Runs on any libOS (LIBOS, CONFIG_PATH).
 *
 *   idle_client ADDR:PORT [--warmup W] [--gaps N] [--max-gap-ms G] [--idle-ms L]
 *               [--silences K] [--silence-ms S] [--seed X] [--timeout-ms T]
 *
 * Phases, in order, over one connection, each message 64 bytes carrying its number:
 *   warm-up  W round trips back to back (default 100);
 *   gaps     N round trips (default 200), each after a random pause of 0..G ms (default 5),
 *            so that requests land on a server at any point of its spin-then-sleep cycle;
 *   idle     one silence of L ms (default 0: none), announced by "idle" on stdout: a script
 *            measures the idle CPU of both ends meanwhile;
 *   silence  K round trips (default 3), each after S ms of silence (default 1000), the client
 *            itself idle in demi_wait meanwhile; prints each one's latency.
 * Every echo must match its request byte for byte and arrive within T ms (default 3000): a
 * frame lost on wake-up fails the run. Prints "silent" (flushed) when a silence starts, so a
 * script can act during it, and a RESULT line at the end. Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "common.h"

#define MSG 64

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec ms_ts(uint64_t ms)
{
	return (struct timespec){.tv_sec = (time_t)(ms / 1000),
				 .tv_nsec = (long)(ms % 1000) * 1000000};
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "idle_client: %s: %s\n", what, strerror(err));
	return 1;
}

/* Waits for qt for at most ms; the result in *qr. */
static int wait_for(demi_qtoken_t qt, demi_qresult_t *qr, uint64_t ms)
{
	struct timespec ts = ms_ts(ms);

	return demi_wait(qr, qt, &ts);
}

/* Silence of us: the libOS runs (and sleeps) in demi_wait on a pop that does not complete. */
static int stay_silent(int qd, demi_qtoken_t *pop, uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
			      .tv_nsec = (long)(us % 1000000) * 1000};
	demi_qresult_t qr;
	int rc;

	if (!*pop && (rc = demi_pop(pop, qd)))
		return fail("demi_pop", rc);
	rc = demi_wait(&qr, *pop, &ts);
	if (rc == 0)
		return fail("silence", EPROTO); /* the server sent something unasked */
	return rc == ETIMEDOUT ? 0 : fail("demi_wait (silence)", rc);
}

/* One round trip of message number seq; its latency in *ns. The pop may already be issued. */
static int round_trip(int qd, demi_qtoken_t *pop, uint32_t seq, uint64_t timeout_ms, uint64_t *ns)
{
	char want[MSG];
	uint32_t got = 0;
	demi_qtoken_t qt;
	demi_qresult_t qr;
	demi_sgarray_t sga;
	uint64_t t0;
	int rc;

	for (int i = 0; i < MSG; i++)
		want[i] = (char)(seq * 131u + (uint32_t)i);
	sga = demi_sgaalloc(MSG);
	if (!sga.sga_numsegs)
		return fail("demi_sgaalloc", ENOMEM);
	memcpy(sga.sga_segs[0].sgaseg_buf, want, MSG);
	t0 = now_ns();
	rc = demi_push(&qt, qd, &sga);
	demi_sgafree(&sga);
	if (rc)
		return fail("demi_push", rc);
	if ((rc = wait_for(qt, &qr, timeout_ms)) || qr.qr_opcode != DEMI_OPC_PUSH)
		return fail("push", rc ? rc : qr.qr_ret);
	while (got < MSG) {
		if (!*pop && (rc = demi_pop(pop, qd)))
			return fail("demi_pop", rc);
		rc = wait_for(*pop, &qr, timeout_ms);
		if (rc) {
			fprintf(stderr,
				"idle_client: no echo of message %u within %" PRIu64 " ms\n", seq,
				timeout_ms);
			return 1;
		}
		*pop = 0;
		if (qr.qr_opcode != DEMI_OPC_POP)
			return fail("pop", qr.qr_ret);
		demi_sgaseg_t *s = &qr.qr_value.sga.sga_segs[0];
		uint32_t len = qr.qr_value.sga.sga_numsegs ? s->sgaseg_len : 0;

		if (!len || got + len > MSG || memcmp(s->sgaseg_buf, want + got, len)) {
			fprintf(stderr, "idle_client: echo of message %u: wrong bytes (%u at %u)\n",
				seq, len, got);
			return 1;
		}
		got += len;
		demi_sgafree(&qr.qr_value.sga);
	}
	*ns = now_ns() - t0;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t warmup = 100, gaps = 200, max_gap_ms = 5, silences = 3, silence_ms = 1000;
	uint64_t idle_ms = 0, seed = 1, timeout_ms = 3000, ns, worst_gap = 0, first_max = 0;
	struct sockaddr_in addr;
	demi_qtoken_t qt, pop = 0;
	demi_qresult_t qr;
	uint32_t seq = 0;
	int qd, rc;

	if (argc < 2 || ex_parse_addr(argv[1], &addr)) {
		fprintf(stderr, "usage: idle_client ADDR:PORT [--warmup W] [--gaps N] "
				"[--max-gap-ms G] [--silences K] [--silence-ms S] [--seed X] "
				"[--timeout-ms T]\n");
		return 1;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		uint64_t v = strtoull(argv[i + 1], NULL, 0);

		if (!strcmp(argv[i], "--warmup"))
			warmup = v;
		else if (!strcmp(argv[i], "--gaps"))
			gaps = v;
		else if (!strcmp(argv[i], "--max-gap-ms"))
			max_gap_ms = v;
		else if (!strcmp(argv[i], "--idle-ms"))
			idle_ms = v;
		else if (!strcmp(argv[i], "--silences"))
			silences = v;
		else if (!strcmp(argv[i], "--silence-ms"))
			silence_ms = v;
		else if (!strcmp(argv[i], "--seed"))
			seed = v;
		else if (!strcmp(argv[i], "--timeout-ms"))
			timeout_ms = v;
		else
			return fail(argv[i], EINVAL);
	}
	srandom((unsigned)seed);
	if ((rc = demi_init(NULL)))
		return fail("demi_init", rc);
	if ((rc = demi_socket(&qd, AF_INET, SOCK_STREAM, 0)))
		return fail("demi_socket", rc);
	/* The peer may still be coming up (a tap configured after we created it): SYNs retry. */
	if ((rc = demi_connect(&qt, qd, (struct sockaddr *)&addr, sizeof(addr))) ||
	    (rc = wait_for(qt, &qr, timeout_ms > 10000 ? timeout_ms : 10000)))
		return fail("connect", rc);
	if (qr.qr_opcode != DEMI_OPC_CONNECT)
		return fail("connect", qr.qr_ret);

	for (uint64_t i = 0; i < warmup; i++)
		if (round_trip(qd, &pop, seq++, timeout_ms, &ns))
			return 1;
	for (uint64_t i = 0; i < gaps; i++) {
		uint64_t gap = max_gap_ms ? (uint64_t)random() % (max_gap_ms * 1000 + 1) : 0;

		if (gap && stay_silent(qd, &pop, gap) != 0)
			return 1;
		if (round_trip(qd, &pop, seq++, timeout_ms, &ns))
			return 1;
		worst_gap = ns > worst_gap ? ns : worst_gap;
	}
	if (idle_ms) {
		printf("idle\n");
		fflush(stdout);
		if (stay_silent(qd, &pop, idle_ms * 1000))
			return 1;
	}
	for (uint64_t i = 0; i < silences; i++) {
		printf("silent\n");
		fflush(stdout);
		if (stay_silent(qd, &pop, silence_ms * 1000) ||
		    round_trip(qd, &pop, seq++, timeout_ms, &ns))
			return 1;
		printf("first reply after %" PRIu64 " ms of silence: %.1f us\n", silence_ms,
		       (double)ns / 1000.0);
		first_max = ns > first_max ? ns : first_max;
	}
	printf("RESULT echoed=%u worst_gap_rtt_us=%.1f worst_first_reply_us=%.1f\n", seq,
	       (double)worst_gap / 1000.0, (double)first_max / 1000.0);
	fflush(stdout);
	if ((rc = demi_close(qd)))
		return fail("demi_close", rc);
	if (pop && (rc = wait_for(pop, &qr, timeout_ms)))
		return fail("demi_wait (cancelled pop)", rc);
	return 0;
}
