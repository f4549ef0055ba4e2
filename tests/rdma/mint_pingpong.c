/* SPDX-License-Identifier: MIT */
/*
 * The leanest ping-pong the demi_* API allows, for comparing catmint with perftest's
 * ib_send_lat on the same device (tests/bench/catmint.sh): no event loop, no token table, no
 * pattern check on the timed path, just push, pop and wait, as ib_send_lat is just post_send,
 * post_recv and poll_cq. It measures the library, not an application around it.
 *
 *   mint-pingpong --server ADDR:PORT            echoes every message of one connection
 *   mint-pingpong --client ADDR:PORT [--size B] [--requests R] [--warmup W] [--samples FILE]
 *
 * The client times each round trip (push to the echo's pop) and prints
 *   RESULT size=B n=R p50_us=.. p99_us=.. min_us=.. mean_us=..
 * and, with --samples, writes every timed round trip to FILE (microseconds, one a line, in
 * ascending order) for the benchmark's latency distribution (tests/bench/plot.sh).
 * The first and last bytes of every echo are checked, outside the timed interval.
 * Exit 0 on success, 1 on an error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "mint-pingpong: %s: %s\n", what, strerror(err));
	return 1;
}

/* Waits for qt and checks its opcode; 0 or an errno. */
static int wait_op(demi_qtoken_t qt, demi_opcode_t opc, demi_qresult_t *qr)
{
	struct timespec ts = {10, 0};
	int rc = demi_wait(qr, qt, &ts);

	if (rc)
		return rc;
	if (qr->qr_opcode != opc)
		return qr->qr_opcode == DEMI_OPC_FAILED ? (int)qr->qr_ret : EPROTO;
	return 0;
}

static int server(const struct sockaddr_in *addr)
{
	demi_qtoken_t qt, pop_qt, push_qt;
	demi_qresult_t qr;
	int lqd, qd, rc;

	if ((rc = demi_socket(&lqd, AF_INET, SOCK_STREAM, 0)) ||
	    (rc = demi_bind(lqd, (const struct sockaddr *)addr, sizeof(*addr))) ||
	    (rc = demi_listen(lqd, 16)))
		return fail("listen", rc);
	printf("mint-pingpong: listening on %s:%u\n", inet_ntoa(addr->sin_addr),
	       ntohs(addr->sin_port));
	fflush(stdout);
	if ((rc = demi_accept(&qt, lqd)) || (rc = demi_wait(&qr, qt, NULL)))
		return fail("accept", rc);
	if (qr.qr_opcode != DEMI_OPC_ACCEPT)
		return fail("accept", (int)qr.qr_ret);
	qd = qr.qr_value.ares.qd;
	if ((rc = demi_pop(&pop_qt, qd)))
		return fail("pop", rc);
	for (;;) {
		demi_sgarray_t sga;

		if ((rc = demi_wait(&qr, pop_qt, NULL)))
			return fail("wait", rc);
		if (qr.qr_opcode == DEMI_OPC_FAILED)
			break; /* the client went away: ECONNRESET */
		sga = qr.qr_value.sga;
		/* Echo the very buffer the device wrote, then be ready for the next one. */
		if ((rc = demi_push(&push_qt, qd, &sga)))
			return fail("push", rc);
		demi_sgafree(&sga);
		if ((rc = demi_pop(&pop_qt, qd)))
			return fail("pop", rc);
		if ((rc = wait_op(push_qt, DEMI_OPC_PUSH, &qr)) && rc != ECONNRESET)
			return fail("push", rc);
	}
	demi_close(qd);
	demi_close(lqd);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The sorted samples, one a line in microseconds, into path (NULL: nothing); 0 or an errno. */
static int samples_write(const char *path, const uint64_t *samples, uint64_t n)
{
	FILE *f;
	int bad;

	if (!path)
		return 0;
	if (!(f = fopen(path, "w")))
		return errno;
	for (uint64_t i = 0; i < n; i++)
		fprintf(f, "%.3f\n", samples[i] / 1e3);
	bad = ferror(f);
	return fclose(f) || bad ? EIO : 0;
}

static int client(const struct sockaddr_in *addr, uint32_t size, uint64_t requests, uint64_t warmup,
		  const char *samples_path)
{
	uint64_t *samples = calloc(requests, sizeof(*samples)), sum = 0;
	demi_qtoken_t qt, qts[2];
	demi_qresult_t qr;
	int qd, rc;

	if (!samples)
		return fail("calloc", ENOMEM);
	if ((rc = demi_socket(&qd, AF_INET, SOCK_STREAM, 0)) ||
	    (rc = demi_connect(&qt, qd, (const struct sockaddr *)addr, sizeof(*addr))) ||
	    (rc = wait_op(qt, DEMI_OPC_CONNECT, &qr)))
		return fail("connect", rc);
	for (uint64_t i = 0; i < warmup + requests; i++) {
		demi_sgarray_t sga = demi_sgaalloc(size), echo;
		uint8_t *p = sga.sga_segs[0].sgaseg_buf;
		uint64_t t0, t1;
		int idx;

		if (!sga.sga_numsegs)
			return fail("sgaalloc", ENOMEM);
		memset(p, (int)(i & 0xff), size);
		t0 = now_ns();
		if ((rc = demi_push(&qts[0], qd, &sga)) || (rc = demi_pop(&qts[1], qd)))
			return fail("push/pop", rc);
		/* Both must finish: the push (acknowledged) and the pop (the echo). */
		for (int left = 2; left > 0; left--) {
			if ((rc = demi_wait_any(&qr, &idx, qts, left, NULL)))
				return fail("wait", rc);
			if (qr.qr_opcode == DEMI_OPC_FAILED)
				return fail(idx == 0 && left == 2 ? "push" : "pop", (int)qr.qr_ret);
			if (qr.qr_opcode == DEMI_OPC_POP)
				echo = qr.qr_value.sga;
			qts[idx] = qts[left - 1];
		}
		t1 = now_ns();
		if (echo.sga_segs[0].sgaseg_len != size ||
		    ((uint8_t *)echo.sga_segs[0].sgaseg_buf)[0] != (uint8_t)i ||
		    ((uint8_t *)echo.sga_segs[0].sgaseg_buf)[size - 1] != (uint8_t)i)
			return fail("echo differs", EPROTO);
		demi_sgafree(&echo);
		demi_sgafree(&sga);
		if (i >= warmup) {
			samples[i - warmup] = t1 - t0;
			sum += t1 - t0;
		}
	}
	demi_close(qd);
	qsort(samples, requests, sizeof(*samples), cmp_u64);
	printf("RESULT size=%u n=%llu p50_us=%.2f p99_us=%.2f min_us=%.2f mean_us=%.2f\n", size,
	       (unsigned long long)requests, samples[requests / 2] / 1e3,
	       samples[requests * 99 / 100] / 1e3, samples[0] / 1e3, (double)sum / requests / 1e3);
	rc = samples_write(samples_path, samples, requests);
	free(samples);
	return rc ? fail(samples_path, rc) : 0;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct demi_args args = {0, NULL, NULL};
	unsigned long size = 64, requests = 10000, warmup = 1000;
	const char *samples_path = NULL;
	struct sockaddr_in addr;
	int mode = 0, rc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--server") || !strcmp(argv[i], "--client")) {
			mode = argv[i][2] == 's' ? 1 : 2;
			if (parse_addr(argv[i + 1], &addr) < 0)
				mode = -1;
		} else if (!strcmp(argv[i], "--size")) {
			size = strtoul(argv[i + 1], NULL, 0);
		} else if (!strcmp(argv[i], "--requests")) {
			requests = strtoul(argv[i + 1], NULL, 0);
		} else if (!strcmp(argv[i], "--warmup")) {
			warmup = strtoul(argv[i + 1], NULL, 0);
		} else if (!strcmp(argv[i], "--samples")) {
			samples_path = argv[i + 1];
		} else {
			mode = -1;
		}
	}
	if (mode <= 0 || size == 0 || size > (1u << 30) || requests == 0) {
		fprintf(stderr,
			"usage: %s --server ADDR:PORT | --client ADDR:PORT [--size B] "
			"[--requests R] [--warmup W] [--samples FILE]\n",
			argv[0]);
		return 2;
	}
	if ((rc = demi_init(&args)))
		return fail("demi_init", rc);
	return mode == 1 ? server(&addr)
			 : client(&addr, (uint32_t)size, requests, warmup, samples_path);
}
