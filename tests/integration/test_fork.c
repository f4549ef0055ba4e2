/* SPDX-License-Identifier: MIT */
/*
 * fork() with queues open, as Redis does for BGSAVE: the child holds every socket and the libOS's
 * own fds (epoll set, io_uring ring) and never calls demi_*. Two children in turn: one sleeps
 * through the test and then calls exit(), one calls exit() at once; exit() runs the library's
 * atexit teardown in the child. Meanwhile the parent
 * - closes some queues while their peers keep sending data and FIN into sockets that only the
 *   child holds now (the kernel keeps them open, and so their epoll registrations unless catnap
 *   removed them);
 * - opens new queues, which reuse the closed ones' qds and queue structs: first a connect that
 *   cannot finish yet (the target's accept queue is full), which a stray writable event of a
 *   closed queue would complete early, then connections carrying traffic;
 * - keeps echoing on queues open since before the fork, also after the child's teardown (which
 *   must leave the parent's registrations and operations alone).
 * Every byte echoed is checked, catnap.epoll_stale_events must stay 0 (epoll engine), the child
 * must exit with status 0 (under ASan: clean in the child too), and nothing leaks.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <demi/stats.h>

#include "helpers.h"

#define NOLD 6	  /* queues closed after the fork */
#define NNEW 6	  /* queues opened after the closes */
#define NKEPT 2	  /* queues open across the fork and after the child's exit */
#define ROUNDS 12 /* echo rounds on the new and kept queues */
#define MAX_CHUNK 24000

/* A connection between a demi queue and a kernel socket of this process, with the stream
 * offsets of what the kernel side sent and got back (one pattern stream per connection). */
struct conn {
	int qd;
	int kfd;
	uint64_t seed;
	uint64_t off;
};

static uint8_t chunk[MAX_CHUNK];
static uint64_t next_seed = 1;

static int kernel_connect(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* Blocking, without socket timeouts: a signal or io_uring's task work then restarts the
	 * call instead of failing it with EINTR; the watchdog bounds a hang. */
	CHECK(fd >= 0);
	CHECKF(connect(fd, H_SA(addr), sizeof(*addr)) == 0, "connect: %s", h_errname(errno));
	return fd;
}

static struct conn conn_open(int lqd, const struct sockaddr_in *addr)
{
	struct conn c = {.seed = next_seed++};

	c.kfd = kernel_connect(addr);
	c.qd = h_tcp_accept(lqd);
	return c;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		CHECKF(n > 0, "send: %s", h_errname(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* The kernel side sends len bytes of its stream, the queue echoes them, the kernel side checks
 * every byte that comes back. The first bytes may go to pop, a pop issued earlier (0: none). */
static void echo_from(struct conn *c, size_t len, demi_qtoken_t pop)
{
	size_t got = 0;
	ssize_t n;

	h_pattern_fill(chunk, len, c->seed, c->off);
	send_all(c->kfd, chunk, len);
	memset(chunk, 0, len);
	if (pop) {
		demi_qresult_t qr;
		demi_sgarray_t *sga = &qr.qr_value.sga;

		h_wait(pop, DEMI_OPC_POP, &qr);
		CHECKF(h_sga_len(sga) > 0 && h_sga_len(sga) <= len, "pop of %zu bytes",
		       h_sga_len(sga));
		for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
			memcpy(chunk + got, sga->sga_segs[i].sgaseg_buf,
			       sga->sga_segs[i].sgaseg_len);
			got += sga->sga_segs[i].sgaseg_len;
		}
		CHECK_OK(demi_sgafree(sga));
	}
	h_pop_exact(c->qd, chunk + got, len - got);
	h_pattern_check(chunk, len, c->seed, c->off);
	h_push_bytes(c->qd, chunk, len);
	memset(chunk, 0, len);
	n = recv(c->kfd, chunk, len, MSG_WAITALL);
	CHECKF(n == (ssize_t)len, "echo of %zu bytes: recv returned %zd (%s)", len, n,
	       n < 0 ? h_errname(errno) : "short");
	h_pattern_check(chunk, len, c->seed, c->off);
	c->off += len;
}

static void echo(struct conn *c, size_t len)
{
	echo_from(c, len, 0);
}

/*
 * A peer of a closed queue writes len bytes, then (fin) shuts its side down. With the child
 * holding the queue's socket, that lands in the socket's buffer and must succeed; once the child
 * is gone the socket is closed, so the first write draws a reset and the next fails.
 */
static void orphan_write(int fd, size_t len, bool fin, bool held)
{
	ssize_t n = send(fd, chunk, len, MSG_NOSIGNAL);
	int rc = fin ? shutdown(fd, SHUT_WR) : 0;

	if (held)
		CHECKF(n == (ssize_t)len && rc == 0,
		       "write of %zu bytes to a socket the child holds: "
		       "%zd, %s",
		       len, n, h_errname(errno));
}

static size_t chunk_len(int round, int i)
{
	return (size_t)(round * 7919 + i * 104729) % MAX_CHUNK + 1;
}

/* A kernel listener whose accept queue (backlog 0) holds one connection already, so Linux drops
 * the next SYN and retries it only after a second. *fill is the connection that fills it. */
static int full_listener(struct sockaddr_in *addr, int *fill)
{
	socklen_t len = sizeof(*addr);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	*addr = h_loopback(0);
	CHECK(lfd >= 0);
	CHECK(bind(lfd, H_SA(addr), sizeof(*addr)) == 0);
	CHECK(listen(lfd, 0) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)addr, &len) == 0);
	*fill = kernel_connect(addr);
	return lfd;
}

/* The epoll engine's count of events that named a registration already removed; -1 on an
 * engine that has no such counter. */
static long long stale_events(void)
{
	uint64_t v;
	int rc = demi_stat("catnap.epoll_stale_events", &v);

	if (rc == ENOENT)
		return -1;
	CHECK_OK(rc);
	return (long long)v;
}

static void on_sigchld(int sig)
{
	(void)sig; /* only there to interrupt the parent's sleep in the libOS (EINTR) */
}

/*
 * The child: closes its copies of the test's kernel sockets (so that the parent's closes and
 * shutdowns reach the peers), says it is ready, then calls exit() at once or when the parent
 * closes the pipe. It never calls demi_*; exit() tears its copy of the libOS down.
 */
static __attribute__((noreturn)) void child(int ready_fd, int hold_fd, const int *kfds, int nk,
					    bool exit_at_once)
{
	char c = 1;

	alarm(60);
	for (int i = 0; i < nk; i++)
		close(kfds[i]);
	CHECK(write(ready_fd, &c, 1) == 1);
	if (!exit_at_once)
		while (read(hold_fd, &c, 1) != 0)
			; /* EOF: the parent is done */
	exit(0);
}

static void child_reap(pid_t pid)
{
	int status;
	pid_t rc;

	while ((rc = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	CHECKF(rc == pid, "waitpid: %s", h_errname(errno));
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}

/* What one scenario keeps open: connections by role, the pending operations and the child. */
struct fixture {
	int lqd;
	const struct sockaddr_in *addr;
	bool exit_at_once;
	struct conn old[NOLD];	 /* closed after the fork */
	struct conn kept[NKEPT]; /* open across the fork and the child's exit */
	struct conn fresh[NNEW]; /* opened after the closes */
	int uqd;		 /* UDP queue with a pop pending across the child's life */
	demi_qtoken_t upt;
	struct sockaddr_in uaddr;
	int full_lfd, fill; /* kernel listener with a full accept queue, what fills it */
	struct sockaddr_in full_addr;
	int cqd; /* queue connecting to full_addr */
	demi_qtoken_t ct;
	pid_t child;
	int hold; /* the sleeping child exits when this pipe end closes */
};

/* Before the fork: connections with traffic, a UDP pop pending, a kernel listener whose accept
 * queue is full. Then the fork; returns once the child is ready (or gone, if it exits at once). */
static void fork_with_queues_open(struct fixture *f)
{
	int kfds[NOLD + NKEPT + 2], nk = 0, ready[2], hold[2];
	char c;

	for (int i = 0; i < NOLD; i++) {
		f->old[i] = conn_open(f->lqd, f->addr);
		echo(&f->old[i], chunk_len(0, i));
		kfds[nk++] = f->old[i].kfd;
	}
	for (int i = 0; i < NKEPT; i++) {
		f->kept[i] = conn_open(f->lqd, f->addr);
		echo(&f->kept[i], chunk_len(0, i));
		kfds[nk++] = f->kept[i].kfd;
	}
	f->full_lfd = full_listener(&f->full_addr, &f->fill);
	kfds[nk++] = f->full_lfd;
	kfds[nk++] = f->fill;
	f->uqd = h_udp_bind(&f->uaddr);
	CHECK_OK(demi_pop(&f->upt, f->uqd));
	h_wait_pending(f->upt, 10); /* io_uring: its receive is in flight */

	CHECK(pipe(ready) == 0 && pipe(hold) == 0);
	f->child = fork();
	CHECKF(f->child >= 0, "fork: %s", h_errname(errno));
	if (f->child == 0) {
		close(ready[0]);
		close(hold[1]);
		child(ready[1], hold[0], kfds, nk, f->exit_at_once);
	}
	close(ready[1]);
	close(hold[0]);
	f->hold = hold[1];
	while (read(ready[0], &c, 1) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (f->exit_at_once)
		child_reap(f->child);
}

/*
 * Closes the old queues, then starts a connect on a new queue: the last closed queue's struct is
 * the first one reused. Their peers then write into sockets the child still holds (if it
 * sleeps), each waking its old registration, readable and writable: none of that may reach the
 * connect, whose SYN the full accept queue dropped.
 */
static void close_old_then_connect(struct fixture *f)
{
	for (int i = 0; i < NOLD; i++)
		CHECK_OK(demi_close(f->old[i].qd));
	CHECK_OK(demi_socket(&f->cqd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_connect(&f->ct, f->cqd, H_SA(&f->full_addr), sizeof(f->full_addr)));
	for (int i = NOLD - 1; i >= 0; i--)
		orphan_write(f->old[i].kfd, chunk_len(1, i), false, !f->exit_at_once);
	h_wait_pending(f->ct, 200);
}

/* New connections (reusing the old qds and structs) and the kept ones echo, while the old
 * queues' peers send more and then FIN. */
static void traffic(struct fixture *f)
{
	for (int i = 0; i < NNEW; i++)
		f->fresh[i] = conn_open(f->lqd, f->addr);
	for (int r = 1; r <= ROUNDS; r++) {
		if (r <= NOLD)
			orphan_write(f->old[r - 1].kfd, chunk_len(r, 0), r % 2 == 0,
				     !f->exit_at_once);
		if (r > NOLD && r - NOLD <= NOLD && (r - NOLD) % 2 == 1)
			orphan_write(f->old[r - NOLD - 1].kfd, 100, true, !f->exit_at_once);
		for (int i = 0; i < NNEW; i++)
			echo(&f->fresh[i], chunk_len(r, i));
		for (int i = 0; i < NKEPT; i++)
			echo(&f->kept[i], chunk_len(r, i + NNEW));
	}
}

/* Makes room in the full accept queue: the connect's SYN gets in at its retry (about 1 s); the
 * new connection then carries traffic. Returns it. */
static struct conn connect_finish(struct fixture *f)
{
	struct sockaddr_in peer, local;
	socklen_t len = sizeof(peer);
	int kfd = accept(f->full_lfd, NULL, NULL);

	CHECK(kfd >= 0);
	close(kfd);
	close(f->fill);
	h_wait(f->ct, DEMI_OPC_CONNECT, NULL);
	kfd = accept(f->full_lfd, NULL, NULL);
	CHECK(kfd >= 0);
	close(f->full_lfd);
	CHECK(getpeername(kfd, (struct sockaddr *)&peer, &len) == 0);
	CHECK_OK(demi_getsockname(f->cqd, (struct sockaddr *)&local, &len));
	CHECK(peer.sin_port == local.sin_port);
	return (struct conn){.qd = f->cqd, .kfd = kfd, .seed = next_seed++};
}

/* The sleeping child exits now, while we sleep in the libOS with a pop pending (its SIGCHLD
 * interrupts that sleep). Then what was open before the fork must still work: the kept
 * connections, the UDP queue's pending pop, the listener. */
static void after_child_exit(struct fixture *f)
{
	demi_qresult_t qr;
	demi_qtoken_t pt;
	int ufd;

	CHECK_OK(demi_pop(&pt, f->kept[0].qd));
	close(f->hold);
	if (!f->exit_at_once) {
		h_wait_pending(pt, 300);
		child_reap(f->child);
	}
	echo_from(&f->kept[0], chunk_len(ROUNDS + 1, 0), pt);
	for (int i = 1; i < NKEPT; i++)
		echo(&f->kept[i], chunk_len(ROUNDS + 1, i));

	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(ufd >= 0);
	h_pattern_fill(chunk, 1200, next_seed, 0);
	CHECK(sendto(ufd, chunk, 1200, 0, H_SA(&f->uaddr), sizeof(f->uaddr)) == 1200);
	close(ufd);
	h_wait(f->upt, DEMI_OPC_POP, &qr);
	CHECK(h_sga_len(&qr.qr_value.sga) == 1200);
	h_pattern_check(qr.qr_value.sga.sga_segs[0].sgaseg_buf, 1200, next_seed++, 0);
	CHECK_OK(demi_sgafree(&qr.qr_value.sga));

	CHECK_OK(demi_close(f->fresh[0].qd));
	close(f->fresh[0].kfd);
	f->fresh[0] = conn_open(f->lqd, f->addr);
	echo(&f->fresh[0], MAX_CHUNK);
}

static void check_no_stale_events(void)
{
	long long n = stale_events();

	CHECKF(n <= 0, "%lld events of closed queues reached the libOS", n);
}

static void scenario(int lqd, const struct sockaddr_in *addr, bool exit_at_once)
{
	struct fixture f = {.lqd = lqd, .addr = addr, .exit_at_once = exit_at_once};
	struct conn late;

	h_log("child %s", exit_at_once ? "exits at once" : "sleeps, then exits");
	fork_with_queues_open(&f);
	close_old_then_connect(&f);
	traffic(&f);
	late = connect_finish(&f);
	echo(&late, 1000);
	check_no_stale_events();
	after_child_exit(&f);

	for (int i = 0; i < NOLD; i++)
		close(f.old[i].kfd);
	for (int i = 0; i < NNEW; i++) {
		CHECK_OK(demi_close(f.fresh[i].qd));
		close(f.fresh[i].kfd);
	}
	for (int i = 0; i < NKEPT; i++) {
		CHECK_OK(demi_close(f.kept[i].qd));
		close(f.kept[i].kfd);
	}
	CHECK_OK(demi_close(late.qd));
	close(late.kfd);
	CHECK_OK(demi_close(f.uqd));
	check_no_stale_events();
	h_check_idle(exit_at_once ? "child exited at once" : "child slept", 1);
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART};
	struct sockaddr_in addr;
	int lqd;

	h_watchdog(60);
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
	h_init();
	lqd = h_tcp_listen(&addr, 64);
	scenario(lqd, &addr, false);
	scenario(lqd, &addr, true);
	CHECK_OK(demi_close(lqd));
	h_check_no_leaks("end");
	return H_EXIT_PASS;
}
