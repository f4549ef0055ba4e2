/* SPDX-License-Identifier: MIT */
/*
 * demi_stats / demi_stat (include/demi/stats.h) on the libOS under test: the library's own
 * counters are there and follow what the program does (queues_open counts an open queue),
 * names are stable between calls, a small array gets the count without overflow, unknown
 * names and bad arguments are refused; and with DEMIKERNEL_STATS_SIGNAL=USR2 a SIGUSR2 makes the
 * next demi_wait dump every counter to stderr. On catnap the engine's counters are there too
 * (io_uring's count the wait's enters). demikernel.pool_hugepages: false keeps every slab off
 * hugepages.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <demi/stats.h>

#include "helpers.h"

/* A NULL the compiler cannot see, so that nonnull attributes do not reject the call. */
static void *volatile vnull;

static uint64_t stat_of(const char *name)
{
	uint64_t v = 0;

	CHECK_OK(demi_stat(name, &v));
	return v;
}

int main(void)
{
	demi_stat_t small[2], *all, *again;
	struct sockaddr_in addr;
	size_t n, n2;
	uint64_t v;
	int qd, pipefd[2], saved;

	h_watchdog(60);
	CHECK_ERR(demi_stats(NULL, 0, &n), EPERM); /* before demi_init */
	setenv("DEMIKERNEL_STATS_SIGNAL", "USR2", 1);
	setenv("DEMIKERNEL_POOL_HUGEPAGES", "false", 1);
	h_init();
	CHECK_ERR(demi_stats(NULL, 1, &n), EINVAL);
	CHECK_ERR(demi_stat("queues_open", vnull), EINVAL);
	CHECK_ERR(demi_stat("no_such_counter", &v), ENOENT);

	CHECK_OK(demi_stats(small, 2, &n));
	CHECKF(n >= 4, "only %zu counters", n);
	CHECK(strcmp(small[0].name, "bufs_in_use") == 0);
	all = calloc(n, sizeof(*all));
	again = calloc(n, sizeof(*again));
	CHECK(all && again);
	CHECK_OK(demi_stats(all, n, &n2));
	CHECK(n2 == n);
	CHECK_OK(demi_stats(again, n, &n2));
	for (size_t i = 0; i < n; i++) {
		CHECK(all[i].name && all[i].name[0]);
		CHECKF(all[i].name == again[i].name, "name %zu moved", i);
	}
	h_log("%zu counters, the first %s=%llu", n, all[0].name, (unsigned long long)all[0].value);

	/* demikernel.pool_hugepages: false keeps the pool off hugepages even when some are free. */
	demi_sgarray_t sga = demi_sgaalloc(64);
	CHECK(sga.sga_numsegs == 1);
	CHECK(stat_of("pool_bytes") > 0);
	CHECKF(stat_of("pool_huge_slabs") == 0, "%llu slabs on hugepages although turned off",
	       (unsigned long long)stat_of("pool_huge_slabs"));
	CHECK_OK(demi_sgafree(&sga));

	uint64_t q0 = stat_of("queues_open");
	qd = h_tcp_listen(&addr, 4);
	CHECKF(stat_of("queues_open") == q0 + 1, "queues_open %llu, expected %llu",
	       (unsigned long long)stat_of("queues_open"), (unsigned long long)q0 + 1);

	/* The dump: stderr into a pipe while one wait runs after the signal. */
	CHECK(pipe(pipefd) == 0);
	saved = dup(STDERR_FILENO);
	CHECK(saved >= 0 && dup2(pipefd[1], STDERR_FILENO) >= 0);
	CHECK(raise(SIGUSR2) == 0);
	demi_qtoken_t qt;
	demi_qresult_t qr;
	struct timespec ts;
	CHECK_OK(demi_accept(&qt, qd));
	int rc = demi_wait(&qr, qt, h_ts(&ts, 10));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(pipefd[1]);
	char buf[65536];
	ssize_t got = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	CHECKF(rc == ETIMEDOUT, "wait: %d", rc);
	CHECK(got > 0);
	buf[got] = 0;
	CHECKF(strstr(buf, "demi: stats (") && strstr(buf, " queues_open=1"), "dump: %.200s", buf);
	h_log("dump: %.120s...", buf);

	/* The libOS's own counters are there too; catnap's come from its engine, which has just
	 * run a wait (io_uring: at least one enter). */
	char los[32];
	const char *engine = getenv("CATNAP_ENGINE");

	h_libos_name(los, sizeof(los));
	if (!strcmp(los, "catnap") && engine && !strcmp(engine, "io_uring"))
		CHECKF(stat_of("catnap.uring_enters") > 0, "catnap.uring_enters is 0 after a wait");
	else if (!strcmp(los, "catnap"))
		CHECK_OK(demi_stat("catnap.epoll_stale_events", &v));
	CHECK_OK(demi_close(qd));
	free(all);
	free(again);
	return H_EXIT_PASS;
}
