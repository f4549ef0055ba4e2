/* SPDX-License-Identifier: MIT */
/*
 * The floor under catnip: a raw DPDK L2 ping-pong with no stack at all. The server sends back
 * every frame it receives; the client sends one 64-byte frame at a time and times its return.
 * Both busy-poll port 0 (whatever --vdev the EAL arguments give, e.g. net_memif).
 *
 *   raw-memif-pingpong EAL-ARGS... -- --server
 *   raw-memif-pingpong EAL-ARGS... -- --client [--requests N] [--warmup W] [--size B]
 *
 * Prints the same RESULT line as the examples (proto=raw-l2).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int port_up(uint16_t port, struct rte_mempool *mp)
{
	struct rte_eth_conf conf;
	struct rte_eth_link link;

	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup(port, 0, 512, rte_eth_dev_socket_id(port), NULL, mp) < 0 ||
	    rte_eth_tx_queue_setup(port, 0, 512, rte_eth_dev_socket_id(port), NULL) < 0 ||
	    rte_eth_dev_start(port) < 0)
		return -1;
	/* A memif client connects once; restart until the server is there. */
	for (int i = 0; i < 100 && !stop; i++) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status)
			return 0;
		rte_delay_ms(100);
		if (i % 2 == 1) {
			rte_eth_dev_stop(port);
			rte_eth_dev_start(port);
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	int n = rte_eal_init(argc, argv);
	bool server = false;
	long requests = 100000, warmup = 1000, size = 64;
	struct rte_mempool *mp;
	uint16_t port = 0;

	if (n < 0) {
		fprintf(stderr, "raw-memif-pingpong: EAL init failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = n + 1; i < argc; i++) {
		if (!strcmp(argv[i], "--server"))
			server = true;
		else if (!strcmp(argv[i], "--client"))
			server = false;
		else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
			requests = atol(argv[++i]);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = atol(argv[++i]);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = atol(argv[++i]);
	}
	if (requests < 1 || size < 60 || size > 1514) {
		fprintf(stderr, "raw-memif-pingpong: bad --requests or --size (60..1514)\n");
		return 2;
	}
	mp = rte_pktmbuf_pool_create("raw", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     rte_socket_id());
	if (!mp || rte_eth_dev_count_avail() < 1 || port_up(port, mp) < 0) {
		fprintf(stderr, "raw-memif-pingpong: no port, or its link never came up\n");
		return 1;
	}
	if (server) {
		struct rte_mbuf *b[32];
		while (!stop) {
			uint16_t got = rte_eth_rx_burst(port, 0, b, 32);
			uint16_t sent = got ? rte_eth_tx_burst(port, 0, b, got) : 0;
			for (uint16_t i = sent; i < got; i++)
				rte_pktmbuf_free(b[i]);
		}
		rte_eth_dev_stop(port);
		rte_eal_cleanup();
		return 0;
	}
	uint64_t *rtt = calloc((size_t)requests, sizeof(*rtt));
	for (long i = -warmup; i < requests && !stop; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp), *r;
		char *d = m ? rte_pktmbuf_append(m, (uint16_t)size) : NULL;
		if (!d) {
			fprintf(stderr, "raw-memif-pingpong: out of mbufs\n");
			return 1;
		}
		memset(d, 0xff, 12);	 /* broadcast, any source */
		memset(d + 12, 0x88, 2); /* a local-experimental EtherType */
		memcpy(d + 14, &i, sizeof(i));
		uint64_t t0 = now_ns();
		while (rte_eth_tx_burst(port, 0, &m, 1) != 1 && !stop)
			;
		while (rte_eth_rx_burst(port, 0, &r, 1) != 1 && !stop)
			;
		uint64_t t1 = now_ns();
		if (stop)
			break;
		if (memcmp(rte_pktmbuf_mtod(r, char *) + 14, &i, sizeof(i))) {
			fprintf(stderr, "raw-memif-pingpong: frame %ld came back wrong\n", i);
			return 1;
		}
		rte_pktmbuf_free(r);
		if (i >= 0)
			rtt[i] = t1 - t0;
	}
	qsort(rtt, (size_t)requests, sizeof(*rtt), cmp);
	/* The distribution for the benchmark's plot, as the examples write it (EX_CDF_FILE). */
	const char *cdf = getenv("EX_CDF_FILE");
	FILE *cf = cdf && *cdf ? fopen(cdf, "w") : NULL;
	for (int q = 1; cf && q <= 1000; q++) {
		long k = (long)((double)requests * q / 1000.0 + 0.999999) - 1;
		fprintf(cf, "%.3f %.5f\n", rtt[k < 0 ? 0 : k] / 1e3, q / 1000.0);
	}
	if (cf)
		fclose(cf);
	double mean = 0;
	for (long i = 0; i < requests; i++)
		mean += (double)rtt[i];
	mean /= (double)requests;
	printf("RESULT proto=raw-l2 size=%ld n=%ld p50_us=%.2f p99_us=%.2f p999_us=%.2f "
	       "max_us=%.2f mean_us=%.2f\n",
	       size, requests, rtt[requests / 2] / 1e3, rtt[requests * 99 / 100] / 1e3,
	       rtt[requests * 999 / 1000] / 1e3, rtt[requests - 1] / 1e3, mean / 1e3);
	free(rtt);
	rte_eth_dev_stop(port);
	rte_eal_cleanup();
	return 0;
}
