/* SPDX-License-Identifier: MIT */
/*
 * The floor under catnip, and catnip's UDP ping-pong split in two: raw DPDK ends with no stack
 * at all. Every mode busy-polls port 0 (whatever --vdev the EAL arguments give, e.g.
 * net_memif); the clients send one request at a time and time its answer with
 * CLOCK_MONOTONIC, from just before the transmit to the receive that returns it.
 *
 *   raw-memif-pingpong EAL-ARGS... -- --server
 *       L2 reflector: sends back every frame as it came.
 *   raw-memif-pingpong EAL-ARGS... -- --client [--requests N] [--warmup W] [--size B]
 *       L2 client: broadcast frames of B bytes (60..1514, default 64, EtherType 0x8888).
 *   raw-memif-pingpong EAL-ARGS... -- --udp-server --ip A
 *       A UDP echo server at IPv4 address A, done by hand: answers ARP requests for A and
 *       sends back every IPv4/UDP datagram for A with its Ethernet addresses, IPv4 addresses
 *       and UDP ports swapped (its checksums stay valid: a one's complement sum does not
 *       depend on the order of its words); drops anything else. Serves catnip's clients.
 *   raw-memif-pingpong EAL-ARGS... -- --udp-client --ip A --to B:PORT [--requests N]
 *       [--warmup W] [--size B]
 *       A UDP client at A, done by hand: resolves B by ARP (answering ARP requests for A all
 *       along), then sends well-formed Ethernet/IPv4/UDP datagrams of B payload bytes
 *       (0..1472, default 64; checksums computed before the clock starts) to B:PORT, e.g.
 *       catnip's examples/udp-echo --server, and checks that each comes back unchanged but
 *       for the swapped addresses.
 *
 * tests/bench/catnip-udp.sh --split runs the four pairs of raw and catnip ends and splits
 * catnip's excess over the floor into its server's and its client's shares.
 *
 * Prints the same RESULT line as the examples (proto=raw-l2 or raw-udp; size: the frame for
 * L2, the payload for UDP) and, with EX_CDF_FILE set, the latency distribution into that file.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#define BURST 32
#define UDP_HDRS                                                                                   \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
#define UDP_SRC_PORT 40007

enum mode { L2_SERVER, L2_CLIENT, UDP_SERVER, UDP_CLIENT };

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

/* Starts the port and waits for its link: a client for up to 10 s, restarting its port (a memif
 * client connects once), a server for up to 60 s without restarts (a restart would cut a
 * client's handshake short; clients start slowly on a loaded machine). */
static int port_up(uint16_t port, struct rte_mempool *mp, bool server)
{
	struct rte_eth_conf conf;
	struct rte_eth_link link;

	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup(port, 0, 512, rte_eth_dev_socket_id(port), NULL, mp) < 0 ||
	    rte_eth_tx_queue_setup(port, 0, 512, rte_eth_dev_socket_id(port), NULL) < 0 ||
	    rte_eth_dev_start(port) < 0)
		return -1;
	for (int i = 0; i < (server ? 600 : 100) && !stop; i++) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status)
			return 0;
		rte_delay_ms(100);
		if (!server && i % 2 == 1) {
			rte_eth_dev_stop(port);
			rte_eth_dev_start(port);
		}
	}
	return -1;
}

/* ---- the frames of the UDP modes ---- */

/* The frame's ARP header when it is an Ethernet/IPv4 ARP packet of opcode op, else NULL. */
static struct rte_arp_hdr *arp_of(struct rte_mbuf *m, uint16_t op)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);

	if (m->data_len < sizeof(*eh) + sizeof(*ah) ||
	    eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) ||
	    ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ah->arp_hlen != RTE_ETHER_ADDR_LEN || ah->arp_plen != 4 ||
	    ah->arp_opcode != rte_cpu_to_be_16(op))
		return NULL;
	return ah;
}

/* Turns an ARP request for ip into its reply, in place. False: no such request. */
static bool arp_answer(struct rte_mbuf *m, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *ah = arp_of(m, RTE_ARP_OP_REQUEST);

	if (!ah || ah->arp_data.arp_tip != ip)
		return false;
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	ah->arp_data.arp_tha = ah->arp_data.arp_sha;
	ah->arp_data.arp_tip = ah->arp_data.arp_sip;
	ah->arp_data.arp_sha = *mac;
	ah->arp_data.arp_sip = ip;
	eh->dst_addr = eh->src_addr;
	eh->src_addr = *mac;
	return true;
}

/* The frame's UDP header when it is an IPv4/UDP datagram for ip (no options needed), else
 * NULL; *ihp gets its IPv4 header. */
static struct rte_udp_hdr *udp_of(struct rte_mbuf *m, uint32_t ip, struct rte_ipv4_hdr **ihp)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(eh + 1);
	uint32_t ihl;

	if (m->data_len < UDP_HDRS || eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    (ih->version_ihl >> 4) != 4 || ih->next_proto_id != IPPROTO_UDP || ih->dst_addr != ip)
		return NULL;
	ihl = (uint32_t)(ih->version_ihl & 0xf) * 4;
	if (ihl < sizeof(*ih) || m->data_len < sizeof(*eh) + ihl + sizeof(struct rte_udp_hdr))
		return NULL;
	*ihp = ih;
	return (struct rte_udp_hdr *)((char *)ih + ihl);
}

/* An echo server's answer, in place: Ethernet addresses, IPv4 addresses and ports swapped. */
static bool udp_reflect(struct rte_mbuf *m, uint32_t ip)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ih;
	struct rte_udp_hdr *uh = udp_of(m, ip, &ih);
	struct rte_ether_addr a;
	uint32_t x;
	uint16_t p;

	if (!uh)
		return false;
	a = eh->dst_addr, eh->dst_addr = eh->src_addr, eh->src_addr = a;
	x = ih->dst_addr, ih->dst_addr = ih->src_addr, ih->src_addr = x;
	p = uh->dst_port, uh->dst_port = uh->src_port, uh->src_port = p;
	return true;
}

/* The reflectors: L2 sends back every frame, UDP (at ip, with mac) answers as said above. */
static void serve(uint16_t port, bool l2, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct rte_mbuf *b[BURST], *keep[BURST];

	while (!stop) {
		uint16_t got = rte_eth_rx_burst(port, 0, b, BURST), n = got, sent;
		struct rte_mbuf **out = b;

		if (!l2) {
			out = keep;
			n = 0;
			for (uint16_t i = 0; i < got; i++) {
				if (udp_reflect(b[i], ip) || arp_answer(b[i], ip, mac))
					keep[n++] = b[i];
				else
					rte_pktmbuf_free(b[i]);
			}
		}
		sent = n ? rte_eth_tx_burst(port, 0, out, n) : 0;
		for (uint16_t i = sent; i < n; i++)
			rte_pktmbuf_free(out[i]);
	}
}

/* Sends m (taken: freed when the ring refuses it and we stop). */
static void send_one(uint16_t port, struct rte_mbuf *m)
{
	while (rte_eth_tx_burst(port, 0, &m, 1) != 1)
		if (stop) {
			rte_pktmbuf_free(m);
			return;
		}
}

/* Where the UDP client sends: its address, the peer's, and the peer's MAC once resolved. */
struct udp_peer {
	uint32_t ip, to_ip;
	uint16_t to_port;
	struct rte_ether_addr mac, to_mac;
};

/* Answers m when it is an ARP request for us (then true, m sent), else leaves it. */
static bool arp_serve(uint16_t port, struct rte_mbuf *m, const struct udp_peer *u)
{
	if (!arp_answer(m, u->ip, &u->mac))
		return false;
	send_one(port, m);
	return true;
}

/* Resolves u->to_ip into u->to_mac: a broadcast request every 100 ms, for up to 10 s. */
static int arp_resolve(uint16_t port, struct rte_mempool *mp, struct udp_peer *u)
{
	for (int tries = 0; tries < 100 && !stop; tries++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp), *r;
		struct rte_ether_hdr *eh;
		struct rte_arp_hdr *ah;

		if (!m || !rte_pktmbuf_append(m, 60)) /* padded to Ethernet's minimum */
			return -1;
		eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		memset(eh, 0, 60);
		memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
		eh->src_addr = u->mac;
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
		ah = (struct rte_arp_hdr *)(eh + 1);
		ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
		ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ah->arp_hlen = RTE_ETHER_ADDR_LEN;
		ah->arp_plen = 4;
		ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
		ah->arp_data.arp_sha = u->mac;
		ah->arp_data.arp_sip = u->ip;
		ah->arp_data.arp_tip = u->to_ip;
		send_one(port, m);
		for (uint64_t until = now_ns() + 100000000ull; now_ns() < until && !stop;) {
			if (rte_eth_rx_burst(port, 0, &r, 1) != 1 || arp_serve(port, r, u))
				continue;
			ah = arp_of(r, RTE_ARP_OP_REPLY);
			if (ah && ah->arp_data.arp_sip == u->to_ip) {
				u->to_mac = ah->arp_data.arp_sha;
				rte_pktmbuf_free(r);
				return 0;
			}
			rte_pktmbuf_free(r);
		}
	}
	return -1;
}

/* Request i as a datagram of size payload bytes: i in its first 8 (zeros after), checksums
 * filled. NULL: no mbuf. */
static struct rte_mbuf *udp_request(struct rte_mempool *mp, const struct udp_peer *u, long size,
				    long i)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	char *d = m ? rte_pktmbuf_append(m, (uint16_t)(UDP_HDRS + size)) : NULL;
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)d;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)(ih + 1);

	if (!d) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(d, 0, UDP_HDRS + (size_t)size);
	eh->dst_addr = u->to_mac;
	eh->src_addr = u->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ih->version_ihl = RTE_IPV4_VHL_DEF;
	ih->total_length = rte_cpu_to_be_16((uint16_t)(UDP_HDRS - sizeof(*eh) + size));
	ih->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ih->time_to_live = 64;
	ih->next_proto_id = IPPROTO_UDP;
	ih->src_addr = u->ip;
	ih->dst_addr = u->to_ip;
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	uh->src_port = rte_cpu_to_be_16(UDP_SRC_PORT);
	uh->dst_port = rte_cpu_to_be_16(u->to_port);
	uh->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*uh) + size));
	memcpy(uh + 1, &i, size < (long)sizeof(i) ? (size_t)size : sizeof(i));
	uh->dgram_cksum = rte_ipv4_udptcp_cksum(ih, uh);
	return m;
}

/* Whether r is request q's echo: the same datagram (same length, same bytes) from the peer's
 * address and port. The echo's IPv4 header may carry options: its payload is found from the
 * header, and bounded by the frame. */
static bool udp_echo_ok(struct rte_mbuf *r, const struct rte_mbuf *q, const struct udp_peer *u)
{
	struct rte_ipv4_hdr *ih;
	struct rte_udp_hdr *uh = udp_of(r, u->ip, &ih);
	const char *qd = rte_pktmbuf_mtod(q, const char *);
	size_t plen = q->data_len - UDP_HDRS, off;

	if (!uh)
		return false;
	off = (size_t)((char *)(uh + 1) - rte_pktmbuf_mtod(r, char *));
	return ih->src_addr == u->to_ip && uh->src_port == rte_cpu_to_be_16(u->to_port) &&
	       uh->dst_port == rte_cpu_to_be_16(UDP_SRC_PORT) && r->data_len >= off + plen &&
	       uh->dgram_len == rte_cpu_to_be_16((uint16_t)(sizeof(*uh) + plen)) &&
	       !memcmp((char *)(uh + 1), qd + UDP_HDRS, plen);
}

static int parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = a.s_addr;
	return 0;
}

static int parse_to(const char *s, struct udp_peer *u)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = s ? strrchr(s, ':') : NULL;
	long port = colon ? atol(colon + 1) : 0;

	if (!colon || (size_t)(colon - s) >= sizeof(host) || port < 1 || port > 65535)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	u->to_port = (uint16_t)port;
	return parse_ip(host, &u->to_ip);
}

/* The distribution for the benchmark's plot, as the examples write it (EX_CDF_FILE), and the
 * RESULT line, from the sorted samples. */
static void report(const char *proto, long size, const uint64_t *rtt, long requests)
{
	const char *cdf = getenv("EX_CDF_FILE");
	FILE *cf = cdf && *cdf ? fopen(cdf, "w") : NULL;
	double mean = 0;

	for (int q = 1; cf && q <= 1000; q++) {
		long k = (long)((double)requests * q / 1000.0 + 0.999999) - 1;
		fprintf(cf, "%.3f %.5f\n", rtt[k < 0 ? 0 : k] / 1e3, q / 1000.0);
	}
	if (cf)
		fclose(cf);
	for (long i = 0; i < requests; i++)
		mean += (double)rtt[i];
	mean /= (double)requests;
	printf("RESULT proto=%s size=%ld n=%ld p50_us=%.2f p99_us=%.2f p999_us=%.2f "
	       "max_us=%.2f mean_us=%.2f\n",
	       proto, size, requests, rtt[requests / 2] / 1e3, rtt[requests * 99 / 100] / 1e3,
	       rtt[requests * 999 / 1000] / 1e3, rtt[requests - 1] / 1e3, mean / 1e3);
}

/* The clients' loop: requests + warmup round trips, the timed ones into rtt. 0, or 1 with a
 * message. */
static int run_client(uint16_t port, struct rte_mempool *mp, bool l2, struct udp_peer *u, long size,
		      long requests, long warmup, uint64_t *rtt)
{
	if (!l2 && arp_resolve(port, mp, u) < 0) {
		fprintf(stderr, "raw-memif-pingpong: no ARP answer from the peer\n");
		return 1;
	}
	for (long i = -warmup; i < requests && !stop; i++) {
		struct rte_mbuf *m, *q = NULL, *r = NULL;

		if (l2) {
			char *d;

			m = rte_pktmbuf_alloc(mp);
			d = m ? rte_pktmbuf_append(m, (uint16_t)size) : NULL;
			if (!d) {
				rte_pktmbuf_free(m);
				m = NULL;
			} else {
				memset(d, 0xff, 12);	 /* broadcast, any source */
				memset(d + 12, 0x88, 2); /* a local-experimental EtherType */
				memcpy(d + 14, &i, sizeof(i));
			}
		} else {
			m = udp_request(mp, u, size, i);
			/* What to check the echo against, copied before the clock runs. */
			q = m ? rte_pktmbuf_copy(m, mp, 0, UINT32_MAX) : NULL;
		}
		if (!m || (!l2 && !q)) {
			fprintf(stderr, "raw-memif-pingpong: out of mbufs\n");
			return 1;
		}
		struct rte_ipv4_hdr *ih;
		uint64_t t0 = now_ns();
		while (rte_eth_tx_burst(port, 0, &m, 1) != 1 && !stop)
			;
		for (;;) {
			while (rte_eth_rx_burst(port, 0, &r, 1) != 1 && !stop)
				;
			if (stop || l2)
				break;
			/* The peer's ARP request for us (catnip asks before answering) is
			 * answered, and any frame that is no datagram for us (a late ARP
			 * reply, a stray frame) dropped: the echo is waited for still. */
			if (arp_serve(port, r, u))
				continue;
			if (udp_of(r, u->ip, &ih))
				break;
			rte_pktmbuf_free(r);
		}
		uint64_t t1 = now_ns();
		if (stop)
			break;
		if (l2 ? memcmp(rte_pktmbuf_mtod(r, char *) + 14, &i, sizeof(i))
		       : !udp_echo_ok(r, q, u)) {
			fprintf(stderr, "raw-memif-pingpong: frame %ld came back wrong\n", i);
			return 1;
		}
		rte_pktmbuf_free(r);
		rte_pktmbuf_free(q);
		if (i >= 0)
			rtt[i] = t1 - t0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = rte_eal_init(argc, argv);
	enum mode mode = L2_CLIENT;
	long requests = 100000, warmup = 1000, size = -1;
	const char *ip_s = NULL, *to_s = NULL;
	struct udp_peer u = {0};
	struct rte_mempool *mp;
	uint16_t port = 0;
	int rc = 0;

	if (n < 0) {
		fprintf(stderr, "raw-memif-pingpong: EAL init failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = n + 1; i < argc; i++) {
		if (!strcmp(argv[i], "--server"))
			mode = L2_SERVER;
		else if (!strcmp(argv[i], "--client"))
			mode = L2_CLIENT;
		else if (!strcmp(argv[i], "--udp-server"))
			mode = UDP_SERVER;
		else if (!strcmp(argv[i], "--udp-client"))
			mode = UDP_CLIENT;
		else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
			requests = atol(argv[++i]);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = atol(argv[++i]);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = atol(argv[++i]);
		else if (!strcmp(argv[i], "--ip") && i + 1 < argc)
			ip_s = argv[++i];
		else if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to_s = argv[++i];
		else {
			/* A misspelt option would otherwise run the defaults and time the wrong
			 * thing without a word. */
			fprintf(stderr,
				"raw-memif-pingpong: unknown argument or missing value: %s\n",
				argv[i]);
			return 2;
		}
	}
	bool l2 = mode == L2_SERVER || mode == L2_CLIENT;
	if (size < 0)
		size = 64;
	if (requests < 1 || warmup < 0 || (l2 && (size < 60 || size > 1514)) ||
	    (!l2 && size > 1472)) {
		fprintf(stderr, "raw-memif-pingpong: bad --requests, --warmup or --size (L2: "
				"60..1514 frame bytes, UDP: 0..1472 payload bytes)\n");
		return 2;
	}
	if ((!l2 && parse_ip(ip_s, &u.ip) < 0) || (mode == UDP_CLIENT && parse_to(to_s, &u) < 0)) {
		fprintf(stderr, "raw-memif-pingpong: the UDP modes need --ip A.B.C.D, the client "
				"also --to A.B.C.D:PORT\n");
		return 2;
	}
	mp = rte_pktmbuf_pool_create("raw", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     rte_socket_id());
	if (!mp || rte_eth_dev_count_avail() < 1 ||
	    port_up(port, mp, mode == L2_SERVER || mode == UDP_SERVER) < 0 ||
	    rte_eth_macaddr_get(port, &u.mac) < 0) {
		fprintf(stderr, "raw-memif-pingpong: no port, or its link never came up\n");
		return 1;
	}
	if (mode == L2_SERVER || mode == UDP_SERVER) {
		serve(port, l2, u.ip, &u.mac);
	} else {
		uint64_t *rtt = calloc((size_t)requests, sizeof(*rtt));

		rc = !rtt ? 1 : run_client(port, mp, l2, &u, size, requests, warmup, rtt);
		if (rc == 0 && !stop) {
			qsort(rtt, (size_t)requests, sizeof(*rtt), cmp);
			report(l2 ? "raw-l2" : "raw-udp", size, rtt, requests);
		}
		free(rtt);
	}
	rte_eth_dev_stop(port);
	rte_eal_cleanup();
	return rc;
}
