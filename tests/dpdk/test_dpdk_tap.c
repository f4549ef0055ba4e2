/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device against the Linux kernel over net_tap, in a network namespace of its own.
 *
 * The test enters a fresh namespace before the EAL starts, so the tap interface the PMD creates
 * lives there (the PMD drives the interface by name through ioctls in its own namespace: moving
 * the interface away afterwards would break its link state and MTU calls). The kernel side gets
 * 10.77.0.1/24; the "device side" answers as 10.77.0.2 with frames built by hand:
 *   1. RX: pinging 10.77.0.2 from a raw ICMP socket makes the kernel send ARP requests; each
 *      must arrive well formed. The test answers them and turns every ICMP echo request into a
 *      reply in the very buffer it arrived in (an RX buffer sent back zero-copy); all 3 pings
 *      must be answered intact.
 *   2. TX: UDP datagrams 10.77.0.2:4000 -> 10.77.0.1:5555 (checksums per the link's offload
 *      flags) must reach a kernel UDP socket byte-exact; a reference the test keeps on a sent
 *      buffer must survive the device's release.
 *   3. RX of UDP from a kernel socket, first holding every received buffer (the device must
 *      keep receiving into the rest), then releasing them; payloads byte-exact, no copy.
 *   4. Sleeping on the receive interrupt (nip_dpdk_wait): with nothing to receive it sleeps
 *      until its timeout; a datagram that arrived before the wait (its interrupt event is
 *      discarded as stale when the wait arms) ends the wait at once through the check after
 *      arming, and is received; a datagram sent during a long sleep wakes it.
 * Ends with no pool buffer in use after nip_dpdk_fini. Needs root and /dev/net/tun (skip 77).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dev/dpdk_link.h"
#include "dpdk_test.h"
#include "log.h"
#include "wire/checksum.h"

#define KERNEL_IP "10.77.0.1"
#define DEV_IP "10.77.0.2"
#define UDP_DEV_PORT 4000
#define UDP_KERNEL_PORT 5555
#define N_TX 300
#define N_RX_HELD 1000
#define N_RX_FREE 2000

static char ns_name[32], ifname[16];
static bool ns_made;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cleanup(void)
{
	t_eal_files_remove((int)getpid());
	if (ns_made) {
		run("ip netns del %s 2>/dev/null", ns_name);
		ns_made = false;
	}
}

static int skip(const char *why)
{
	printf("SKIP: %s\n", why);
	cleanup();
	return T_SKIP;
}

struct ctx {
	struct nip_link *link;
	struct demi__pool *pool;
	uint8_t kmac[6]; /* the kernel interface's MAC, learned from its ARP request */
	bool have_kmac;
	uint32_t dev_ip, kernel_ip; /* network order */
	unsigned arp_requests, arp_replies, echo_replies, bad_frames;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static bool send_one(struct ctx *c, struct demi__buf *b)
{
	for (int tries = 0; tries < 1000; tries++) {
		if (c->link->ops->tx_burst(c->link->dev, &b, 1) == 1)
			return true;
		sched_yield();
	}
	demi__buf_put(b);
	return false;
}

/* Answers an ARP request for DEV_IP. Returns true when f was one (consumed or not). */
static bool handle_arp(struct ctx *c, const uint8_t *f, uint32_t len)
{
	const uint8_t *a = f + 14;
	struct demi__buf *r;
	uint8_t *o;

	if (len < 42 || rd16(f + 12) != 0x0806)
		return false;
	/* Well formed: Ethernet/IPv4 ARP, request, broadcast, from the kernel's address. */
	if (rd16(a) != 1 || rd16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 || rd16(a + 6) != 1 ||
	    memcmp(a + 24, &c->dev_ip, 4) != 0) {
		return true; /* someone else's ARP (or a reply): ignore */
	}
	if (memcmp(a + 14, &c->kernel_ip, 4) != 0 || memcmp(f + 6, a + 8, 6) != 0) {
		c->bad_frames++;
		return true;
	}
	c->arp_requests++;
	memcpy(c->kmac, a + 8, 6);
	c->have_kmac = true;
	r = c->link->ops->alloc(c->link->dev, 42);
	if (!r)
		return true;
	o = demi__buf_data(r);
	memcpy(o, c->kmac, 6);
	memcpy(o + 6, c->link->mac, 6);
	wr16(o + 12, 0x0806);
	wr16(o + 14, 1);
	wr16(o + 16, 0x0800);
	o[18] = 6;
	o[19] = 4;
	wr16(o + 20, 2);
	memcpy(o + 22, c->link->mac, 6);
	memcpy(o + 28, &c->dev_ip, 4);
	memcpy(o + 32, c->kmac, 6);
	memcpy(o + 38, &c->kernel_ip, 4);
	if (send_one(c, r))
		c->arp_replies++;
	return true;
}

/* Turns an ICMP echo request to DEV_IP into the reply, in place, and sends the same buffer.
 * Returns true when it took b. */
static bool handle_echo(struct ctx *c, struct demi__buf *b)
{
	uint8_t *f = demi__buf_data(b), *ip = f + 14, *icmp;
	uint32_t ihl, tot;
	uint8_t tmp[6];

	if (b->len < 14 + 20 + 8 || rd16(f + 12) != 0x0800 || ip[9] != 1 ||
	    memcmp(ip + 16, &c->dev_ip, 4) != 0)
		return false;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = rd16(ip + 2);
	if (ihl < 20 || tot > b->len - 14 || tot < ihl + 8)
		return false;
	icmp = ip + ihl;
	if (icmp[0] != 8)
		return false;
	/* The device checked nothing for ICMP but the IP header: verify the ICMP sum here. */
	if (nip_csum_fold(nip_csum_add(0, icmp, tot - ihl)) != 0) {
		c->bad_frames++;
		return false;
	}
	memcpy(tmp, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, tmp, 6);
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4); /* the IPv4 sum does not change: its words only swapped */
	icmp[0] = 0;
	wr16(icmp + 2, 0);
	{
		uint16_t cs = nip_csum_fold(nip_csum_add(0, icmp, tot - ihl));

		memcpy(icmp + 2, &cs, 2);
	}
	b->len = 14 + tot;
	if (send_one(c, b))
		c->echo_replies++;
	return true;
}

/* Builds an Ethernet/IPv4/UDP frame dev -> kernel with n payload bytes of pattern seq. */
static struct demi__buf *build_udp(struct ctx *c, uint32_t seq, uint32_t n)
{
	uint32_t tot = 20 + 8 + n;
	struct demi__buf *b = c->link->ops->alloc(c->link->dev, 14 + tot);
	uint8_t *f, *ip, *udp;
	uint16_t cs;

	if (!b)
		return NULL;
	f = demi__buf_data(b);
	ip = f + 14;
	udp = ip + 20;
	memcpy(f, c->kmac, 6);
	memcpy(f + 6, c->link->mac, 6);
	wr16(f + 12, 0x0800);
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)tot);
	wr16(ip + 4, (uint16_t)seq);
	wr16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	wr16(ip + 10, 0);
	memcpy(ip + 12, &c->dev_ip, 4);
	memcpy(ip + 16, &c->kernel_ip, 4);
	if (!(c->link->offloads & NIP_OFF_IPV4_CSUM_TX)) {
		cs = nip_csum_fold(nip_csum_add(0, ip, 20));
		memcpy(ip + 10, &cs, 2);
	}
	wr16(udp, UDP_DEV_PORT);
	wr16(udp + 2, UDP_KERNEL_PORT);
	wr16(udp + 4, (uint16_t)(8 + n));
	wr16(udp + 6, 0);
	memcpy(udp + 8, &seq, 4);
	for (uint32_t j = 4; j < n; j++)
		udp[8 + j] = (uint8_t)(seq * 7 + j);
	if (c->link->offloads & NIP_OFF_UDP_CSUM_TX) {
		/* DPDK's convention: the pseudo-header sum, not complemented; the device adds
		 * the rest. */
		cs = (uint16_t)~nip_csum_fold(
			nip_csum_pseudo4(c->dev_ip, c->kernel_ip, 17, (uint16_t)(8 + n)));
	} else {
		cs = nip_csum_fold(nip_csum_add(
			nip_csum_pseudo4(c->dev_ip, c->kernel_ip, 17, (uint16_t)(8 + n)), udp,
			8 + n));
		if (cs == 0)
			cs = 0xffff;
	}
	memcpy(udp + 6, &cs, 2);
	return b;
}

static bool payload_ok(const uint8_t *p, uint32_t n, uint32_t *seq_out)
{
	uint32_t seq;

	if (n < 4)
		return false;
	memcpy(&seq, p, 4);
	for (uint32_t j = 4; j < n; j++)
		if (p[j] != (uint8_t)(seq * 7 + j))
			return false;
	*seq_out = seq;
	return true;
}

static uint32_t size_for(uint32_t i)
{
	return 4 + (i * 137) % 1469; /* 4 .. 1472 bytes: up to a full 1500-byte IP packet */
}

/* A received frame: a UDP datagram to UDP_DEV_PORT (payload checked, seq returned) -> 1;
 * ARP/echo handled -> 0 (buffer consumed); anything else -> 0 (freed). */
static int classify(struct ctx *c, struct demi__buf *b, uint32_t *seq, bool *bad)
{
	uint8_t *f = demi__buf_data(b), *ip = f + 14;
	uint32_t ihl, tot, src, dst;

	*bad = false;
	if (b->len < 14) {
		c->bad_frames++;
		demi__buf_put(b);
		return 0;
	}
	if (handle_arp(c, f, b->len)) {
		demi__buf_put(b);
		return 0;
	}
	if (handle_echo(c, b))
		return 0;
	if (b->len < 14 + 28 || rd16(f + 12) != 0x0800 || ip[9] != 17 ||
	    rd16(ip + 20 + 2) != UDP_DEV_PORT) {
		demi__buf_put(b);
		return 0;
	}
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = rd16(ip + 2);
	/* Independent of the device's checks: both sums must hold. */
	memcpy(&src, ip + 12, 4);
	memcpy(&dst, ip + 16, 4);
	if (ihl != 20 || tot > b->len - 14 || nip_csum_fold(nip_csum_add(0, ip, 20)) != 0 ||
	    (rd16(ip + 26) &&
	     nip_csum_fold(nip_csum_add(nip_csum_pseudo4(src, dst, 17, (uint16_t)(tot - 20)),
					ip + 20, tot - 20)) != 0) ||
	    !payload_ok(ip + 28, tot - 28, seq)) {
		*bad = true;
		return 1;
	}
	return 1;
}

static int poll_misc(struct ctx *c)
{
	struct demi__buf *bufs[32];
	int n = c->link->ops->rx_burst(c->link->dev, bufs, 32);
	uint32_t seq;
	bool bad;

	for (int i = 0; i < n; i++)
		if (classify(c, bufs[i], &seq, &bad) == 1)
			demi__buf_put(bufs[i]);
	return n;
}

/* Pings DEV_IP count times from a raw ICMP socket (the kernel resolves it by ARP first),
 * polling the device meanwhile; returns how many intact replies came back. */
static int kernel_ping(struct ctx *c, int count)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	uint16_t id = (uint16_t)getpid();
	int s = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP), ok = 0;

	if (s < 0)
		return -1;
	to.sin_addr.s_addr = c->dev_ip;
	for (int i = 0; i < count; i++) {
		uint8_t req[64], rep[256];
		uint64_t deadline = t_now_ms() + 1000;
		uint16_t cs;
		bool got = false;

		req[0] = 8;
		req[1] = 0;
		wr16(req + 2, 0);
		wr16(req + 4, id);
		wr16(req + 6, (uint16_t)i);
		for (int j = 8; j < (int)sizeof(req); j++)
			req[j] = (uint8_t)(i + j);
		cs = nip_csum_fold(nip_csum_add(0, req, sizeof(req)));
		memcpy(req + 2, &cs, 2);
		if (sendto(s, req, sizeof(req), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			break;
		while (!got && t_now_ms() < deadline) {
			ssize_t n = recv(s, rep, sizeof(rep), 0);

			if (n < 0) {
				if (!poll_misc(c))
					usleep(100);
				continue;
			}
			/* A raw socket gives the IPv4 header too. */
			uint32_t ihl = (uint32_t)(rep[0] & 0xf) * 4;
			if ((size_t)n == ihl + sizeof(req) &&
			    memcmp(rep + 12, &c->dev_ip, 4) == 0 && rep[ihl] == 0 &&
			    rd16(rep + ihl + 4) == id && rd16(rep + ihl + 6) == i &&
			    !memcmp(rep + ihl + 8, req + 8, sizeof(req) - 8) &&
			    nip_csum_fold(nip_csum_add(0, rep + ihl, sizeof(req))) == 0)
				got = true;
		}
		ok += got;
		usleep(50000);
		poll_misc(c);
	}
	close(s);
	return ok;
}

static int udp_socket(struct ctx *c)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(UDP_KERNEL_PORT)};
	int big = 8 << 20;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	if (s < 0)
		return -1;
	a.sin_addr.s_addr = c->kernel_ip;
	setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

struct late_send {
	int sock;
	struct sockaddr_in to;
};

/* Sends one datagram to the device 100 ms from now (while the test sleeps in the device). */
static void *send_late(void *arg)
{
	struct late_send *ls = arg;

	usleep(100000);
	sendto(ls->sock, "late", 4, 0, (struct sockaddr *)&ls->to, sizeof(ls->to));
	return NULL;
}

/* Receives everything pending; returns how many frames carried a datagram for UDP_DEV_PORT. */
static int drain_udp(struct ctx *c)
{
	struct demi__buf *bufs[32];
	int n, udp = 0;

	while ((n = c->link->ops->rx_burst(c->link->dev, bufs, 32)) > 0)
		for (int i = 0; i < n; i++) {
			const uint8_t *f = demi__buf_data(bufs[i]);

			udp += bufs[i]->len >= 42 && f[23] == 17 && rd16(f + 36) == UDP_DEV_PORT;
			demi__buf_put(bufs[i]);
		}
	return udp;
}

/* Phase 4: nip_dpdk_wait sleeps, and loses no frame to the race with arming. */
static int phase_sleep(struct nip_dpdk *d, struct ctx *c, int us)
{
	struct late_send ls = {.sock = us,
			       .to = {.sin_family = AF_INET, .sin_port = htons(UDP_DEV_PORT)}};
	struct nip_dpdk_stats st;
	pthread_t th;
	uint64_t t0, dt_idle, dt_early, dt_late;
	int r_idle, r_early, r_late, got_early, got_late;

	ls.to.sin_addr.s_addr = c->dev_ip;
	usleep(20000);
	drain_udp(c);
	t0 = t_now_ms();
	r_idle = nip_dpdk_wait(d, 200000000ull); /* nothing comes: 200 ms */
	dt_idle = t_now_ms() - t0;
	/* The datagram is in the tap's queue, and its event in DPDK's epoll set, before the
	 * wait starts: the wait discards the event as stale, so only the ring check after
	 * arming can see the datagram. */
	CHECK(sendto(us, "early", 5, 0, (struct sockaddr *)&ls.to, sizeof(ls.to)) == 5, "send");
	usleep(20000);
	t0 = t_now_ms();
	r_early = nip_dpdk_wait(d, 3000000000ull);
	dt_early = t_now_ms() - t0;
	got_early = drain_udp(c);
	CHECK(pthread_create(&th, NULL, send_late, &ls) == 0, "thread");
	t0 = t_now_ms();
	r_late = nip_dpdk_wait(d, 5000000000ull);
	dt_late = t_now_ms() - t0;
	pthread_join(th, NULL);
	got_late = drain_udp(c);
	nip_dpdk_stats(d, &st);
	printf("phase 4: idle wait %d after %" PRIu64
	       " ms; datagram before the wait: %d after %" PRIu64
	       " ms (%d received); datagram during the wait: %d after %" PRIu64
	       " ms (%d received); %" PRIu64 " sleeps, %" PRIu64 " woken by a frame, %" PRIu64
	       " given up for frames that came while arming\n",
	       r_idle, dt_idle, r_early, dt_early, got_early, r_late, dt_late, got_late, st.sleeps,
	       st.sleep_wakeups, st.sleep_races);
	CHECK(r_idle == 0 && dt_idle >= 150 && dt_idle < 1500,
	      "the idle wait did not sleep 200 ms");
	CHECK(r_early > 0 && dt_early < 100 && got_early == 1,
	      "a datagram that arrived before the wait was slept over");
	CHECK(st.sleep_races >= 1, "the check after arming did not find the datagram");
	CHECK(r_late > 0 && dt_late >= 50 && dt_late < 2000 && got_late == 1,
	      "a datagram during the sleep did not wake it");
	return T_PASS;
fail:
	return T_FAIL;
}

int main(void)
{
	struct demi__config cfg = {0};
	struct demi__pool pool = {0};
	struct nip_dpdk *d = NULL;
	struct nip_dpdk_stats st;
	struct ctx c = {0};
	char vdev[64], path[128];
	static uint8_t got[N_RX_HELD + N_RX_FREE], got_tx[N_TX];
	static struct demi__buf *held[N_RX_HELD];
	static uint8_t rbuf[2048];
	struct demi__buf *kept = NULL;
	unsigned nheld = 0, rx_ok = 0, tx_ok = 0, bad = 0;
	int rc = T_FAIL, nsfd, us = -1, ping_ok;
	uint64_t deadline;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0)
		return skip("needs root (network namespace and tap device)");
	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		return skip("no /dev/net/tun");
	if (run("ip -V >/dev/null 2>&1") != 0)
		return skip("no ip(8) (iproute2)");
	snprintf(ns_name, sizeof(ns_name), "niptap%d", (int)getpid());
	snprintf(ifname, sizeof(ifname), "nipt%d", (int)getpid() % 1000000);
	if (run("ip netns add %s", ns_name) != 0)
		return skip("cannot create a network namespace");
	ns_made = true;
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns_name);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
		return skip("cannot enter the network namespace");
	close(nsfd);
	run("ip link set lo up");

	demi__log_init();
	CHECK(demi__pool_init(&pool, 0) == 0, "pool");
	snprintf(vdev, sizeof(vdev), "net_tap0,iface=%s", ifname);
	CHECK(t_config(&cfg, 0, vdev, 5000) == 0, "config");
	rc = nip_dpdk_init(&d, &cfg, &pool);
	if (rc == -ENODEV) {
		demi__config_fini(&cfg);
		demi__pool_fini(&pool);
		return skip("no net_tap port (DPDK tap PMD missing?)");
	}
	CHECK(rc == 0, "nip_dpdk_init: %s", strerror(-rc));
	rc = T_FAIL;
	c.link = nip_dpdk_link(d);
	c.pool = &pool;
	inet_pton(AF_INET, DEV_IP, &c.dev_ip);
	inet_pton(AF_INET, KERNEL_IP, &c.kernel_ip);
	printf("port %u: MAC %02x:%02x:%02x:%02x:%02x:%02x MTU %u offloads 0x%x\n",
	       nip_dpdk_port(d), c.link->mac[0], c.link->mac[1], c.link->mac[2], c.link->mac[3],
	       c.link->mac[4], c.link->mac[5], c.link->mtu, c.link->offloads);
	CHECK(c.link->mtu >= 1500, "MTU %u", c.link->mtu);
	run("echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6 2>/dev/null", ifname);
	CHECK(run("ip addr add %s/24 dev %s && ip link set %s up", KERNEL_IP, ifname, ifname) == 0,
	      "address the tap interface");

	/* 1. ARP requests in, ARP replies and ICMP echo replies out, pinged from a raw socket
	 * (no dependency on ping(8)). */
	ping_ok = kernel_ping(&c, 3);
	printf("phase 1: %u ARP requests received, %u ARP replies, %u echo replies, "
	       "%d/3 pings answered\n",
	       c.arp_requests, c.arp_replies, c.echo_replies, ping_ok);
	CHECK(c.arp_requests >= 1 && c.have_kmac, "no well-formed ARP request received");
	CHECK(c.bad_frames == 0, "%u malformed frames", c.bad_frames);
	CHECK(c.echo_replies >= 3, "echo replies sent: %u", c.echo_replies);
	CHECK(ping_ok == 3, "echo replies did not reach the kernel intact");

	/* 2. UDP from the device to a kernel socket. */
	us = udp_socket(&c);
	CHECK(us >= 0, "kernel UDP socket: %s", strerror(errno));
	for (uint32_t i = 0; i < N_TX; i++) {
		struct demi__buf *b = build_udp(&c, i, size_for(i));

		CHECK(b, "alloc");
		if (i == 7) {
			/* Keep a reference across the send: the device's release must leave it. */
			demi__buf_ref(b);
			kept = b;
		}
		CHECK(send_one(&c, b), "tx_burst refused frame %u", i);
		for (;;) {
			ssize_t n = recv(us, rbuf, sizeof(rbuf), 0);
			uint32_t seq;

			if (n < 0)
				break;
			if (payload_ok(rbuf, (uint32_t)n, &seq) && seq < N_TX &&
			    (uint32_t)n == size_for(seq) && !got_tx[seq]) {
				got_tx[seq] = 1;
				tx_ok++;
			} else {
				bad++;
			}
		}
		poll_misc(&c);
	}
	deadline = t_now_ms() + 2000;
	while (tx_ok < N_TX && t_now_ms() < deadline) {
		ssize_t n = recv(us, rbuf, sizeof(rbuf), 0);
		uint32_t seq;

		if (n < 0) {
			poll_misc(&c);
			usleep(200);
			continue;
		}
		if (payload_ok(rbuf, (uint32_t)n, &seq) && seq < N_TX &&
		    (uint32_t)n == size_for(seq) && !got_tx[seq]) {
			got_tx[seq] = 1;
			tx_ok++;
		} else {
			bad++;
		}
	}
	printf("phase 2: %u/%u datagrams reached the kernel socket byte-exact, %u bad\n", tx_ok,
	       N_TX, bad);
	CHECK(kept->refcnt == 1, "kept buffer refcnt %u after the device released it",
	      kept->refcnt);
	demi__buf_put(kept);
	CHECK(tx_ok == N_TX && bad == 0, "datagrams lost or corrupted");

	/* 3. UDP from a kernel socket to the device; the first N_RX_HELD buffers stay held. */
	{
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(UDP_DEV_PORT)};
		uint32_t sent = 0, total = N_RX_HELD + N_RX_FREE;
		static uint8_t sbuf[2048];

		to.sin_addr.s_addr = c.dev_ip;
		deadline = t_now_ms() + 15000;
		while (rx_ok < total && t_now_ms() < deadline) {
			struct demi__buf *bufs[32];
			int n;

			/* A window keeps the tap's queue (txqueuelen 1000) from overflowing. */
			while (sent < total && sent - rx_ok < 64) {
				uint32_t len = size_for(sent);

				memcpy(sbuf, &sent, 4);
				for (uint32_t j = 4; j < len; j++)
					sbuf[j] = (uint8_t)(sent * 7 + j);
				if (sendto(us, sbuf, len, 0, (struct sockaddr *)&to, sizeof(to)) <
				    0)
					break;
				sent++;
			}
			n = c.link->ops->rx_burst(c.link->dev, bufs, 32);
			for (int i = 0; i < n; i++) {
				uint32_t seq;
				bool isbad;

				if (classify(&c, bufs[i], &seq, &isbad) != 1)
					continue;
				if (isbad || seq >= total || got[seq] ||
				    rd16(demi__buf_data(bufs[i]) + 14 + 2) - 28 !=
					    (int)size_for(seq)) {
					bad++;
					demi__buf_put(bufs[i]);
					continue;
				}
				/* Zero copy: the frame is in pool memory, in the buffer rx gave. */
				if (demi__pool_lookup(&pool, demi__buf_data(bufs[i])) != bufs[i])
					bad++;
				got[seq] = 1;
				rx_ok++;
				if (nheld < N_RX_HELD)
					held[nheld++] = bufs[i];
				else
					demi__buf_put(bufs[i]);
			}
			if (!n)
				usleep(50);
		}
		nip_dpdk_stats(d, &st);
		printf("phase 3: %u/%u datagrams received byte-exact (%u held at once), %u bad, "
		       "rx_held %" PRIu64 ", reclaim scans %" PRIu64 "\n",
		       rx_ok, total, nheld, bad, st.rx_held, st.rx_reclaim_scans);
		CHECK(st.rx_held == nheld, "device counts %" PRIu64 " held, test holds %u",
		      st.rx_held, nheld);
		for (unsigned i = 0; i < nheld; i++)
			demi__buf_put(held[i]);
		nheld = 0;
		CHECK(rx_ok == total && bad == 0, "datagrams lost or corrupted");
	}

	if (phase_sleep(d, &c, us) != T_PASS)
		goto fail;

	nip_dpdk_stats(d, &st);
	printf("stats: rx %" PRIu64 " (%" PRIu64 " B) tx %" PRIu64 " (%" PRIu64
	       " B) tx_full %" PRIu64 " tx_nombuf %" PRIu64 " tx_bad %" PRIu64
	       " alloc_failed %" PRIu64 " rx_copied %" PRIu64 " rx_csum_bad %" PRIu64
	       " | port ipackets %" PRIu64 " opackets %" PRIu64 " imissed %" PRIu64
	       " rx_nombuf %" PRIu64 "\n",
	       st.rx_frames, st.rx_bytes, st.tx_frames, st.tx_bytes, st.tx_full, st.tx_nombuf,
	       st.tx_bad, st.alloc_failed, st.rx_copied, st.rx_csum_bad, st.port_ipackets,
	       st.port_opackets, st.port_imissed, st.port_rx_nombuf);
	CHECK(st.rx_copied == 0, "frames were copied");
	nip_dpdk_fini(d);
	d = NULL;
	CHECK(pool.stats.bufs_in_use == 0, "%" PRIu64 " pool buffers leaked",
	      pool.stats.bufs_in_use);
	rc = T_PASS;
	printf("PASS\n");
fail:
	for (unsigned i = 0; i < nheld; i++)
		demi__buf_put(held[i]);
	if (us >= 0)
		close(us);
	if (d)
		nip_dpdk_fini(d);
	demi__config_fini(&cfg);
	demi__pool_fini(&pool);
	cleanup();
	return rc;
}
