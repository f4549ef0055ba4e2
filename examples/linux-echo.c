/* SPDX-License-Identifier: MIT */
/*
 * The Linux-sockets baseline: the same echo service and latency client as the demi examples,
 * written directly on the kernel's socket API (no libdemikernel), so that catnap's overhead can
 * be measured against what a careful plain program gets.
 *
 *   --server --mode blocking  TCP: one thread per connection, blocking read/write.
 *                             UDP: one blocking recvfrom/sendto loop.
 *   --server --mode epoll     one thread, one level-triggered epoll loop over nonblocking
 *                             sockets (the pattern catnap's epoll engine follows).
 *   --pingpong                latency client printing the RESULT line of the demi pingpong
 *                             clients with proto=linux-tcp or linux-udp. --mode blocking
 *                             (default): send, then one blocking read; --mode epoll: send, then
 *                             epoll_wait and a nonblocking read, the same system calls an
 *                             event-driven client (such as one on catnap) makes.
 *
 * TCP_NODELAY is set on every TCP socket: an echo split in two writes would otherwise wait for
 * the delayed ACK of the first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common.h"

#define TCP_MAX_SIZE (1ULL << 30)
#define BUF_SIZE (256 * 1024)
#define MAX_EVENTS 64

static const char *prog = "linux-echo";

static const char usage[] =
	"--server ADDR:PORT [--mode blocking|epoll] [--proto tcp|udp]\n"
	"       | --pingpong ADDR:PORT [--size B] [--requests R] [--warmup W] [--proto tcp|udp]\n"
	"         [--mode blocking|epoll] [--timeout-ms T]\n"
	"  --server    echo server (default: --mode epoll --proto tcp); runs until SIGINT\n"
	"  --pingpong  R timed round trips (default 10000) of B bytes (default 64) after W\n"
	"              untimed ones (default 1000), waiting for replies in a blocking read\n"
	"              (default) or with epoll; a reply must come within T ms (default 1000;\n"
	"              UDP: else the request is lost)\n";

static void sys_err(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
}

static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		sys_err("setsockopt(TCP_NODELAY)");
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Writes all of buf to a blocking socket. 0, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR && !ex_stop)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A bound (and for TCP listening) socket on addr, or -1 after printing why. */
static int open_server(const struct sockaddr_in *addr, bool tcp)
{
	int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	int one = 1, bufsize = 4 << 20;

	if (fd < 0) {
		sys_err("socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!tcp) /* as the demi UDP server: many clients share its buffers */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		sys_err("bind");
		close(fd);
		return -1;
	}
	if (tcp && listen(fd, 1024) < 0) {
		sys_err("listen");
		close(fd);
		return -1;
	}
	return fd;
}

static void *blocking_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(BUF_SIZE);
	ssize_t n;

	while (buf) {
		n = read(fd, buf, BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(fd, buf, (size_t)n) < 0)
			break;
	}
	free(buf);
	close(fd);
	return NULL;
}

/*
 * Starts a connection thread with SIGINT and SIGTERM blocked, so that they always reach the
 * accepting main thread, which is the one that has to stop.
 */
static int spawn(pthread_t *tid, const pthread_attr_t *attr, int fd)
{
	sigset_t stop, old;
	int ret;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	ret = pthread_create(tid, attr, blocking_conn, (void *)(intptr_t)fd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static int blocking_tcp(int lfd)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!ex_stop) {
		pthread_t tid;
		int fd = accept(lfd, NULL, NULL);
		int ret;

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				sys_err("accept");
			continue;
		}
		set_nodelay(fd);
		ret = spawn(&tid, &attr, fd);
		if (ret != 0) {
			fprintf(stderr, "%s: pthread_create: %s\n", prog, strerror(ret));
			close(fd);
		}
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/* Echoes every datagram that can be read now (all of them if `block`). */
static int udp_echo(int fd, char *buf, bool block)
{
	for (;;) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, EX_UDP_MAX, 0, (struct sockaddr *)&from, &fromlen);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			sys_err("recvfrom");
			return -1;
		}
		/* A failed echo is a lost datagram, as on the wire; the server goes on. */
		sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)&from, fromlen);
		if (block)
			return 0;
	}
}

static int blocking_udp(int fd)
{
	char *buf = malloc(EX_UDP_MAX);
	int ret = 0;

	if (!buf)
		return -1;
	while (!ex_stop && ret == 0)
		ret = udp_echo(fd, buf, true);
	free(buf);
	return ret;
}

/* A connection of the epoll server; bytes [off, len) of buf still have to be written. */
struct econn {
	int fd;
	size_t off, len;
	char buf[BUF_SIZE];
};

static void econn_close(int epfd, struct econn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Writes what is pending; waits for EPOLLOUT instead of reading while the peer is slow. */
static int econn_flush(int epfd, struct econn *c)
{
	struct epoll_event ev = {.data.ptr = c};

	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -1;
		c->off += (size_t)n;
	}
	ev.events = c->off < c->len ? EPOLLOUT : EPOLLIN;
	if (c->off == c->len)
		c->off = c->len = 0;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void econn_event(int epfd, struct econn *c, uint32_t events)
{
	ssize_t n;

	if (c->len == 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			econn_close(epfd, c);
			return;
		}
		c->len = (size_t)n;
		c->off = 0;
	}
	if (econn_flush(epfd, c) < 0)
		econn_close(epfd, c);
}

static void epoll_accept(int epfd, int lfd)
{
	for (;;) {
		struct epoll_event ev = {.events = EPOLLIN};
		struct econn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				sys_err("accept4");
			return;
		}
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = c->len = 0;
		set_nodelay(fd);
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			sys_err("epoll_ctl");
			close(fd);
			free(c);
		}
	}
}

/* The epoll server; the listening (or UDP) socket is registered with a NULL pointer. */
static int epoll_loop(int fd, bool tcp)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct epoll_event events[MAX_EVENTS];
	char *udpbuf = NULL;
	int epfd, ret = 0;

	if (set_nonblock(fd) < 0 || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		sys_err("epoll setup");
		return -1;
	}
	if (!tcp && !(udpbuf = malloc(EX_UDP_MAX)))
		ret = -1;
	if (ret == 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		sys_err("epoll_ctl");
		ret = -1;
	}
	while (ret == 0 && !ex_stop) {
		int n = epoll_wait(epfd, events, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR) {
			sys_err("epoll_wait");
			ret = -1;
		}
		for (int i = 0; i < n && ret == 0; i++) {
			if (events[i].data.ptr)
				econn_event(epfd, events[i].data.ptr, events[i].events);
			else if (tcp)
				epoll_accept(epfd, fd);
			else
				ret = udp_echo(fd, udpbuf, false);
		}
	}
	free(udpbuf);
	close(epfd);
	return ret;
}

static int run_server(const struct ex_opts *o)
{
	bool tcp = strcmp(o->proto, "tcp") == 0;
	bool blocking = strcmp(o->io, "blocking") == 0;
	char buf[32];
	int fd, ret;

	fd = open_server(&o->addr, tcp);
	if (fd < 0)
		return 1;
	printf("linux %s echo server (%s) on %s\n", o->proto, o->io,
	       ex_addr_str(&o->addr, buf, sizeof(buf)));
	fflush(stdout);
	if (blocking)
		ret = tcp ? blocking_tcp(fd) : blocking_udp(fd);
	else
		ret = epoll_loop(fd, tcp);
	close(fd);
	return ret == 0 ? 0 : 1;
}

/* The latency client's socket; epfd is -1 in blocking mode. */
struct client {
	int fd;
	int epfd;
	int timeout_ms;
};

/* Watches the client's socket for input, for --mode epoll. 0, or -1 after printing why. */
static int client_epoll(struct client *cl)
{
	struct epoll_event ev = {.events = EPOLLIN};

	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cl->epfd < 0 || epoll_ctl(cl->epfd, EPOLL_CTL_ADD, cl->fd, &ev) < 0) {
		sys_err("epoll setup");
		return -1;
	}
	return 0;
}

/*
 * Receives at most len bytes: one blocking recv (SO_RCVTIMEO bounds it), or epoll_wait for
 * input then a nonblocking recv. -1 with errno EAGAIN when nothing came in time.
 */
static ssize_t client_recv(const struct client *cl, char *buf, size_t len)
{
	struct epoll_event ev;
	ssize_t n;

	for (;;) {
		if (cl->epfd >= 0) {
			int ready = epoll_wait(cl->epfd, &ev, 1, cl->timeout_ms);

			if (ready == 0)
				errno = EAGAIN;
			if (ready <= 0)
				return -1;
		}
		n = recv(cl->fd, buf, len, cl->epfd >= 0 ? MSG_DONTWAIT : 0);
		/* epoll may report input that is gone by the time we read: wait again */
		if (n < 0 && cl->epfd >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		return n;
	}
}

/* A connected blocking socket with a receive timeout, or -1 after printing why. */
static int open_client(const struct ex_opts *o, bool tcp)
{
	struct timeval tv = {
		.tv_sec = (time_t)(o->timeout_ms / 1000),
		.tv_usec = (suseconds_t)(o->timeout_ms % 1000) * 1000,
	};
	int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);

	if (fd < 0) {
		sys_err("socket");
		return -1;
	}
	if (tcp)
		set_nodelay(fd);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&o->addr, sizeof(o->addr)) < 0) {
		sys_err("connect");
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads exactly len bytes. 0, or -1 with errno set (EPROTO: the server closed). */
static int read_all(const struct client *cl, char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = client_recv(cl, buf, len);

		if (n < 0 && errno == EINTR && !ex_stop)
			continue;
		if (n == 0)
			errno = EPROTO;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One TCP round trip. 0, or -1 after printing why. */
static int tcp_round_trip(const struct client *cl, char *tx, char *rx, size_t size, uint64_t seed,
			  uint64_t *rtt)
{
	uint64_t t0;
	size_t bad;

	ex_pattern_fill(tx, size, seed, 0);
	t0 = ex_now_ns();
	if (write_all(cl->fd, tx, size) < 0 || read_all(cl, rx, size) < 0) {
		sys_err("round trip");
		return -1;
	}
	*rtt = ex_now_ns() - t0;
	bad = ex_pattern_check(rx, size, seed, 0);
	if (bad != size) {
		fprintf(stderr, "%s: echo differs at byte %zu\n", prog, bad);
		return -1;
	}
	return 0;
}

/*
 * One UDP round trip. 0, 1 when the request was lost (no echo within the timeout), or -1 after
 * printing why. Late echoes of lost requests are recognised by their seed and skipped.
 */
static int udp_round_trip(const struct client *cl, char *tx, char *rx, size_t size, uint64_t seed,
			  uint64_t *rtt)
{
	uint64_t t0, got;
	ssize_t n;

	ex_pattern_fill(tx, size, seed, 0);
	t0 = ex_now_ns();
	if (send(cl->fd, tx, size, 0) < 0) {
		sys_err("send");
		return -1;
	}
	for (;;) {
		n = client_recv(cl, rx, EX_UDP_MAX);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n < 0) {
			if (errno != EINTR || !ex_stop)
				sys_err("recv");
			return -1;
		}
		if ((size_t)n == size && ex_pattern_check(rx, size, seed, 0) == size)
			break;
		if (!ex_pattern_seed(rx, (size_t)n, &got) || got >> 32 != seed >> 32 ||
		    got >= seed) {
			fprintf(stderr, "%s: datagram of %zd bytes is no echo\n", prog, n);
			return -1;
		}
	}
	*rtt = ex_now_ns() - t0;
	return 0;
}

static int run_pingpong(const struct ex_opts *o)
{
	bool tcp = strcmp(o->proto, "tcp") == 0;
	uint64_t total = o->warmup + o->requests, n = 0, lost = 0;
	uint64_t *samples = calloc(o->requests, sizeof(*samples));
	char *tx = malloc(o->size), *rx = malloc(tcp ? o->size : EX_UDP_MAX);
	struct client cl = {.fd = -1, .epfd = -1, .timeout_ms = (int)o->timeout_ms};
	struct ex_latency lat;
	int ret = -1;

	if (samples && tx && rx)
		cl.fd = open_client(o, tcp);
	if (cl.fd >= 0 && strcmp(o->io, "epoll") == 0 && client_epoll(&cl) < 0) {
		close(cl.fd);
		cl.fd = -1;
	}
	for (uint64_t i = 0; cl.fd >= 0 && i < total && !ex_stop; i++) {
		uint64_t rtt = 0, seed = ex_seed(0, (uint32_t)i);

		ret = tcp ? tcp_round_trip(&cl, tx, rx, o->size, seed, &rtt)
			  : udp_round_trip(&cl, tx, rx, o->size, seed, &rtt);
		if (ret < 0)
			break;
		if (ret == 1)
			lost++;
		else if (i >= o->warmup)
			samples[n++] = rtt;
	}
	if (ret >= 0 && n > 0 && !ex_stop) {
		printf("%s client, replies awaited with %s\n", o->proto,
		       cl.epfd >= 0 ? "epoll_wait" : "a blocking read");
		ex_latency_compute(samples, n, &lat);
		ex_latency_print(tcp ? "linux-tcp" : "linux-udp", o->size, n, &lat);
	}
	if (lost)
		printf("  %" PRIu64 " requests lost (no echo within %" PRIu64 " ms)\n", lost,
		       o->timeout_ms);
	if (cl.epfd >= 0)
		close(cl.epfd);
	if (cl.fd >= 0)
		close(cl.fd);
	free(samples);
	free(tx);
	free(rx);
	return ret >= 0 && n == o->requests && lost == 0 && !ex_stop ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ex_opts o = {
		.size = 64,
		.requests = 10000,
		.warmup = 1000,
		.timeout_ms = 1000,
		.proto = "tcp",
	};
	int code;

	prog = argv[0];
	if (!ex_opts_parse(argc, argv,
			   EX_OPT_SERVER | EX_OPT_PINGPONG | EX_OPT_IO | EX_OPT_PROTO |
				   EX_OPT_SIZE | EX_OPT_REQUESTS | EX_OPT_WARMUP | EX_OPT_TIMEOUT,
			   TCP_MAX_SIZE, usage, &o, &code))
		return code;
	if (strcmp(o.proto, "udp") == 0 && o.size > EX_UDP_MAX)
		return ex_bad_arg(prog, "--size", "", "at most 65507 bytes for UDP");
	if (!o.io) /* the server's default is the event loop, the client's a blocking read */
		o.io = o.mode == EX_MODE_SERVER ? "epoll" : "blocking";
	ex_signals_init();
	return o.mode == EX_MODE_SERVER ? run_server(&o) : run_pingpong(&o);
}
