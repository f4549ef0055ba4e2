/* SPDX-License-Identifier: MIT */
/*
 * memcached on libdemikernel: each worker thread owns a libOS instance, a listening queue and
 * the connections it accepts on it, and runs a loop that waits on their demi tokens instead of
 * libevent's epoll (docs/memcached.md).
 *
 * Threads. Stock memcached accepts on the main thread and hands each socket to a worker over a
 * queue plus an eventfd. A demi queue belongs to the thread whose instance created it, so here
 * every worker listens itself (with -t N on catnap, N listening sockets on one port with
 * SO_REUSEPORT: the kernel spreads the connections) and calls conn_new() for what it accepts,
 * as thread.c does for a socket from the main thread. The main thread never calls demi_*.
 *
 * Descriptors. memcached indexes conns[] by descriptor and passes descriptors to close(2),
 * getpeername and libevent. Queue descriptors are small ints from 0 and every instance numbers
 * its own, so they collide with kernel fds and with each other. Each connection therefore
 * reserves a kernel fd, a close-on-exec dup of /dev/null, and memcached only ever sees that
 * number: unique in the process by construction, a valid conns[] index, harmless under any
 * stray system call. by_fd (process-wide, each slot written only by the worker that owns the
 * fd) maps it to the queue; each worker's by_qd maps its queue descriptors back.
 *
 * Events. event_add/event_del (macros of demi_memcached.h) record on the queue what memcached
 * waits for and its callback; libevent never sees those descriptors. A queue is readable while
 * it holds popped bytes, end of stream or an error, writable while its pushes in flight stay
 * under TX_SLOTS and TX_BUDGET bytes; the loop fires a queue that is ready for what memcached
 * asked, level-triggered like libevent on epoll. Only queues on the check list (a completion
 * arrived, memcached changed its interest, a callback left it ready) are evaluated, so an idle
 * connection costs nothing.
 *
 * Loop, per iteration: fire the ready queues, wait with demi_wait_next_n (no wait while some
 * queue is still ready, else until the kernel slice ends), apply the completions. Every queue
 * keeps one operation outstanding: an accept on the listener, a pop on a connection while it
 * holds no popped buffer. A popped buffer larger than what memcached reads stays on the queue
 * and readable. The worker's kernel fds (the notify eventfd: pause, idle timeout, stop) stay on
 * libevent, polled without waiting once per slice: 50 us after one fired, doubling to 10 ms
 * while none does, so a busy-polling libOS (catnip) makes one system call per slice, not per
 * request, and an idle catnap worker wakes at most 100 times a second.
 *
 * Writes: sendmsg copies memcached's iovecs once into pool memory (demi_sgaalloc) and pushes
 * it, answering the bytes as written; beyond the budget it answers EAGAIN and memcached waits
 * for EV_WRITE. A connection closed with pushes in flight keeps its queue until they complete
 * (or LINGER_NS passed), so a reply written just before a close still leaves.
 */
#include "memcached.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/stats.h>
#include <demi/wait.h>

/* libevent's own calls from here on. */
#undef event_add
#undef event_del

#define TX_SLOTS 64
#define TX_BUDGET (1u << 20)
#define WAIT_BATCH 64
#define KSLICE_MIN_NS 50000ull
#define KSLICE_MAX_NS 10000000ull
#define LINGER_NS 5000000000ull

struct worker;

struct mq {
	int fd; /* the placeholder memcached knows; -1 once memcached closed it */
	int qd;
	struct worker *w;
	/* what memcached waits for */
	int added, persist;
	short interest;
	event_callback_fn cb;
	void *arg;
	int on_check;
	/* receive: one pop outstanding or one popped buffer held */
	demi_qtoken_t pop_qt;
	int pop_armed;
	demi_sgarray_t rx;
	size_t rx_off;
	int rx_have, eof, err;
	/* transmit: pushes complete in issue order */
	size_t push_len[TX_SLOTS];
	unsigned push_head, push_n;
	size_t inflight;
	struct sockaddr_in peer, local;
	/* closed by memcached, pushes still in flight */
	uint64_t linger_until;
	struct mq *zombie_next;
};

struct worker {
	LIBEVENT_THREAD *t;
	int lqd;
	demi_qtoken_t accept_qt;
	int accept_armed;
	struct mq **by_qd;
	int by_qd_cap;
	int *check, *spare; /* the check list (queue descriptors) and the one being fired */
	int check_n, check_cap, spare_cap;
	struct mq *zombies;
	uint64_t kpoll_next, kslice;
	int kernel_fired;
	event_callback_fn notify_cb;
	void *notify_arg;
};

static struct mq **by_fd;
static int by_fd_cap;
static int devnull = -1;
static struct sockaddr_in listen_addr;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct worker *self;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("memcached (libdemikernel port): ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct mq *owned(int fd)
{
	return fd >= 0 && fd < by_fd_cap ? by_fd[fd] : NULL;
}

int mcd_owns(int fd)
{
	return owned(fd) != NULL;
}

/* ---- settings (main thread) ---- */

rlim_t mcd_nofile(int maxconns)
{
	/* The placeholder, and on catnap the socket behind the queue. */
	return (rlim_t)maxconns * 2 + 64;
}

/* The address to listen on: -l takes one IPv4 address or host name (no list, no IPv6). */
static void parse_listen(void)
{
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_ANY);
	if (settings.inter == NULL)
		return;
	if (strchr(settings.inter, ',') != NULL)
		die(EX_USAGE, "-l takes one address here (%s): each worker listens on it itself",
		    settings.inter);
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	int ret = getaddrinfo(settings.inter, NULL, &hints, &ai);
	if (ret != 0)
		die(EX_USAGE, "-l %s: not an IPv4 address (%s); the port listens on IPv4 only",
		    settings.inter, gai_strerror(ret));
	listen_addr.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
	freeaddrinfo(ai);
}

void mcd_init(int max_fds)
{
	if (settings.socketpath != NULL)
		die(EX_USAGE, "unix sockets (-s) are not supported: clients reach the port over "
			      "TCP on its libOS");
	if (settings.udpport != 0)
		die(EX_USAGE, "UDP (-U %d) is not supported: run with -U 0", settings.udpport);
	if (settings.port == 0)
		die(EX_USAGE, "-p 0 turns TCP off, and TCP is all the port serves");
	parse_listen();
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		die(EX_OSERR, "cannot open /dev/null: %s", strerror(errno));
	by_fd = calloc((size_t)max_fds, sizeof(*by_fd));
	if (by_fd == NULL)
		die(EX_OSERR, "no memory for the descriptor table");
	by_fd_cap = max_fds;
}

int mcd_server_sockets(int port, int transport, FILE *portnumber_file)
{
	(void)transport;
	/* The workers listen (mcd_worker_start); they all started before main gets here. Stock
	 * counts its listening socket as a connection (conn_new): so does the port, once. */
	STATS_LOCK();
	stats_state.curr_conns++;
	stats.total_conns++;
	STATS_UNLOCK();
	if (portnumber_file != NULL)
		fprintf(portnumber_file, "TCP INET: %u\n", (unsigned)ntohs(listen_addr.sin_port));
	(void)port;
	return 0;
}

/* ---- per-worker tables ---- */

static void qd_table_fit(struct worker *w, int qd)
{
	if (qd < w->by_qd_cap)
		return;
	int n = w->by_qd_cap ? w->by_qd_cap : 256;
	while (n <= qd)
		n *= 2;
	struct mq **t = realloc(w->by_qd, sizeof(*t) * (size_t)n);
	if (t == NULL)
		die(EX_OSERR, "no memory for the queue table");
	memset(t + w->by_qd_cap, 0, sizeof(*t) * (size_t)(n - w->by_qd_cap));
	w->by_qd = t;
	w->by_qd_cap = n;
}

static struct mq *by_qd(struct worker *w, int qd)
{
	return qd >= 0 && qd < w->by_qd_cap ? w->by_qd[qd] : NULL;
}

static void check_add(struct mq *q)
{
	struct worker *w = q->w;

	if (q->on_check)
		return;
	if (w->check_n == w->check_cap) {
		int n = w->check_cap ? w->check_cap * 2 : 256;
		int *a = realloc(w->check, sizeof(*a) * (size_t)n);
		if (a == NULL)
			die(EX_OSERR, "no memory for the check list");
		w->check = a;
		w->check_cap = n;
	}
	w->check[w->check_n++] = q->qd;
	q->on_check = 1;
}

static void arm_pop(struct mq *q)
{
	if (q->pop_armed || q->rx_have || q->eof || q->err)
		return;
	int ret = demi_pop(&q->pop_qt, q->qd);
	if (ret != 0) {
		q->err = ret;
		check_add(q);
		return;
	}
	q->pop_armed = 1;
}

static int tx_room(const struct mq *q)
{
	return q->push_n < TX_SLOTS && q->inflight < TX_BUDGET;
}

static short ready(const struct mq *q)
{
	short r = 0;

	if (!q->added || q->fd < 0)
		return 0;
	if ((q->interest & EV_READ) && (q->rx_have || q->eof || q->err))
		r |= EV_READ;
	if ((q->interest & EV_WRITE) && (q->err || tx_room(q)))
		r |= EV_WRITE;
	return r;
}

static struct mq *mq_create(struct worker *w, int qd, const struct sockaddr_in *peer)
{
	int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (fd >= by_fd_cap) {
		close(fd);
		errno = EMFILE;
		return NULL;
	}
	struct mq *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	q->fd = fd;
	q->qd = qd;
	q->w = w;
	q->peer = *peer;
	socklen_t len = sizeof(q->local);
	if (demi_getsockname(qd, (struct sockaddr *)&q->local, &len) != 0)
		q->local = listen_addr;
	qd_table_fit(w, qd);
	w->by_qd[qd] = q;
	by_fd[fd] = q;
	return q;
}

/* Closes the queue (its pending operations complete with ECANCELED, which the loop drops)
 * and frees it. */
static void mq_destroy(struct mq *q)
{
	if (q->rx_have)
		demi_sgafree(&q->rx);
	demi_close(q->qd);
	q->w->by_qd[q->qd] = NULL;
	if (q->fd >= 0) {
		by_fd[q->fd] = NULL;
		close(q->fd);
	}
	free(q);
}

/* ---- what memcached calls ---- */

int mcd_event_add(struct event *ev, const struct timeval *tv)
{
	struct mq *q = owned(event_get_fd(ev));

	if (q == NULL)
		return event_add(ev, tv);
	short what = event_get_events(ev);
	q->interest = what & (EV_READ | EV_WRITE);
	q->persist = (what & EV_PERSIST) != 0;
	q->cb = event_get_callback(ev);
	q->arg = event_get_callback_arg(ev);
	q->added = 1;
	check_add(q);
	return 0;
}

int mcd_event_del(struct event *ev)
{
	struct mq *q = owned(event_get_fd(ev));

	if (q == NULL)
		return event_del(ev);
	q->added = 0;
	return 0;
}

ssize_t mcd_read(int fd, void *buf, size_t count)
{
	struct mq *q = owned(fd);

	if (q == NULL)
		return read(fd, buf, count);
	if (q->rx_have) {
		demi_sgaseg_t *seg = &q->rx.sga_segs[0];
		size_t n = seg->sgaseg_len - q->rx_off;
		if (n > count)
			n = count;
		memcpy(buf, (char *)seg->sgaseg_buf + q->rx_off, n);
		q->rx_off += n;
		if (q->rx_off == seg->sgaseg_len) {
			demi_sgafree(&q->rx);
			q->rx_have = 0;
			arm_pop(q);
		}
		return (ssize_t)n;
	}
	if (q->err) {
		errno = q->err;
		return -1;
	}
	if (q->eof)
		return 0;
	arm_pop(q);
	errno = EAGAIN;
	return -1;
}

ssize_t mcd_sendmsg(int fd, struct msghdr *msg, int flags)
{
	struct mq *q = owned(fd);

	if (q == NULL)
		return sendmsg(fd, msg, flags);
	if (q->err) {
		errno = q->err;
		return -1;
	}
	if (!tx_room(q)) {
		errno = EAGAIN;
		return -1;
	}
	size_t total = 0;
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		total += msg->msg_iov[i].iov_len;
	if (total > TX_BUDGET - q->inflight)
		total = TX_BUDGET - q->inflight;
	if (total == 0)
		return 0;
	demi_sgarray_t sga = demi_sgaalloc(total);
	if (sga.sga_numsegs == 0) {
		/* Pool memory comes back as pushes complete; with none in flight, give up. */
		errno = q->push_n ? EAGAIN : ENOMEM;
		return -1;
	}
	char *p = sga.sga_segs[0].sgaseg_buf;
	size_t left = total;
	for (size_t i = 0; left > 0; i++) {
		size_t n = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;
		memcpy(p, msg->msg_iov[i].iov_base, n);
		p += n;
		left -= n;
	}
	demi_qtoken_t qt;
	int ret = demi_push(&qt, q->qd, &sga);
	/* The push holds its own reference. */
	demi_sgafree(&sga);
	if (ret != 0) {
		q->err = ret;
		errno = ret;
		return -1;
	}
	q->push_len[(q->push_head + q->push_n) % TX_SLOTS] = total;
	q->push_n++;
	q->inflight += total;
	return (ssize_t)total;
}

ssize_t mcd_write(int fd, const void *buf, size_t count)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = count};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (owned(fd) == NULL)
		return write(fd, buf, count);
	return mcd_sendmsg(fd, &msg, 0);
}

static int copy_addr(const struct sockaddr_in *a, struct sockaddr *addr, socklen_t *len)
{
	size_t n = *len < sizeof(*a) ? *len : sizeof(*a);

	memcpy(addr, a, n);
	*len = sizeof(*a);
	return 0;
}

int mcd_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct mq *q = owned(fd);

	return q ? copy_addr(&q->peer, addr, len) : getpeername(fd, addr, len);
}

int mcd_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct mq *q = owned(fd);

	return q ? copy_addr(&q->local, addr, len) : getsockname(fd, addr, len);
}

void mcd_close(int fd)
{
	struct mq *q = owned(fd);

	if (q == NULL) {
		close(fd);
		return;
	}
	by_fd[fd] = NULL;
	close(fd);
	q->fd = -1;
	if (q->w != self) {
		/* The main thread's conn_close_all() at a graceful stop: the workers are hung and
		 * their instances go with their threads; the queue is not this thread's to touch.
		 */
		return;
	}
	if (q->rx_have) {
		demi_sgafree(&q->rx);
		q->rx_have = 0;
	}
	if (q->push_n == 0 || q->err) {
		mq_destroy(q);
		return;
	}
	q->linger_until = now_ns() + LINGER_NS;
	q->zombie_next = q->w->zombies;
	q->w->zombies = q;
}

/* ---- the worker ---- */

/* The libOS this instance runs, from its counters' names (catnap., catnip., catmint.). */
static void libos_name(char *out, size_t cap)
{
	demi_stat_t st[256];
	size_t n = 0;

	snprintf(out, cap, "catnap");
	if (demi_stats(st, sizeof(st) / sizeof(st[0]), &n) != 0)
		return;
	if (n > sizeof(st) / sizeof(st[0]))
		n = sizeof(st) / sizeof(st[0]);
	for (size_t i = 0; i < n; i++) {
		const char *dot = strchr(st[i].name, '.');
		if (dot != NULL && dot - st[i].name < (ptrdiff_t)cap) {
			snprintf(out, cap, "%.*s", (int)(dot - st[i].name), st[i].name);
			return;
		}
	}
}

static void notify_trampoline(evutil_socket_t fd, short which, void *arg)
{
	struct worker *w = arg;

	w->kernel_fired = 1;
	w->notify_cb(fd, which, w->notify_arg);
}

static void arm_accept(struct worker *w)
{
	if (w->accept_armed)
		return;
	int ret = demi_accept(&w->accept_qt, w->lqd);
	if (ret != 0) {
		fprintf(stderr, "memcached (libdemikernel port): demi_accept: %s\n", strerror(ret));
		return;
	}
	w->accept_armed = 1;
}

void mcd_worker_start(void *thread)
{
	LIBEVENT_THREAD *me = thread;
	struct worker *w = calloc(1, sizeof(*w));
	struct demi_args args = {0};
	char name[32];
	int ret, one = 1;

	if (w == NULL)
		die(EX_OSERR, "no memory for a worker");
	w->t = me;
	w->lqd = -1;
	self = w;
	/* One worker at a time: the first finds out which libOS runs and refuses -t N if needed. */
	pthread_mutex_lock(&start_lock);
	ret = demi_init(&args);
	if (ret != 0)
		die(EX_OSERR, "demi_init: %s (LIBOS, CONFIG_PATH: docs/api.md)", strerror(ret));
	libos_name(name, sizeof(name));
	if (settings.num_threads > 1 && strcmp(name, "catnap") != 0)
		die(EX_USAGE,
		    "-t %d needs catnap: %s runs one device port per process, so one "
		    "worker (-t 1)",
		    settings.num_threads, name);
	ret = demi_socket(&w->lqd, AF_INET, SOCK_STREAM, 0);
	if (ret == 0 && settings.num_threads > 1)
		ret = demi_setsockopt(w->lqd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in a = listen_addr;
	a.sin_port = htons((uint16_t)settings.port);
	if (ret == 0)
		ret = demi_bind(w->lqd, (struct sockaddr *)&a, sizeof(a));
	if (ret == 0)
		ret = demi_listen(w->lqd, settings.backlog);
	if (ret != 0)
		die(EX_OSERR, "failed to listen on TCP port %d (%s): %s", settings.port,
		    inet_ntoa(a.sin_addr), strerror(ret));
	listen_addr.sin_port = a.sin_port;
	pthread_mutex_unlock(&start_lock);
	if (settings.verbose > 0)
		fprintf(stderr, "<%d worker listening on %s:%u (libdemikernel, %s)\n", w->lqd,
			inet_ntoa(a.sin_addr), (unsigned)ntohs(listen_addr.sin_port), name);

	/* The notify eventfd stays on libevent; a trampoline tells the loop that it fired. */
	w->notify_cb = event_get_callback(&me->notify_event);
	w->notify_arg = event_get_callback_arg(&me->notify_event);
	event_del(&me->notify_event);
	event_assign(&me->notify_event, me->base, event_get_fd(&me->notify_event),
		     EV_READ | EV_PERSIST, notify_trampoline, w);
	if (event_add(&me->notify_event, 0) != 0)
		die(EX_OSERR, "cannot watch the worker's notify fd");
	w->kslice = KSLICE_MIN_NS;
	arm_accept(w);
}

static void on_accept(struct worker *w, const demi_qresult_t *qr)
{
	int qd = qr->qr_value.ares.qd;
	int reject = 0;

	if (settings.maxconns_fast) {
		/* Stock compares the new fd with maxconns; here a connection may hold two. */
		STATS_LOCK();
		reject = stats_state.curr_conns + stats_state.reserved_fds >= settings.maxconns - 1;
		if (reject)
			stats.rejected_conns++;
		STATS_UNLOCK();
	}
	struct sockaddr_in peer;
	memcpy(&peer, &qr->qr_value.ares.addr, sizeof(peer));
	struct mq *q = mq_create(w, qd, &peer);
	if (q == NULL) {
		if (settings.verbose > 0)
			fprintf(stderr, "Too many open connections (%s)\n", strerror(errno));
		demi_close(qd);
		return;
	}
	arm_pop(q);
	if (reject) {
		static const char str[] = "ERROR Too many open connections\r\n";
		mcd_write(q->fd, str, sizeof(str) - 1);
		mcd_close(q->fd);
		return;
	}
	conn *c = conn_new(q->fd, conn_new_cmd, EV_READ | EV_PERSIST, READ_BUFFER_CACHED,
			   tcp_transport, w->t->base, NULL, 0, settings.binding_protocol);
	if (c == NULL) {
		mcd_close(q->fd);
		return;
	}
	c->thread = w->t;
	conn_io_queue_setup(c);
}

static void on_result(struct worker *w, const demi_qresult_t *qr)
{
	if (qr->qr_qd == w->lqd) {
		w->accept_armed = 0;
		if (qr->qr_opcode == DEMI_OPC_ACCEPT)
			on_accept(w, qr);
		else if (qr->qr_ret != ECANCELED && settings.verbose > 0)
			fprintf(stderr, "accept: %s\n", strerror((int)qr->qr_ret));
		arm_accept(w);
		return;
	}
	struct mq *q = by_qd(w, qr->qr_qd);
	if (qr->qr_opcode == DEMI_OPC_FAILED && qr->qr_ret == ECANCELED)
		return; /* a queue we closed */
	if (q == NULL) {
		if (qr->qr_opcode == DEMI_OPC_POP)
			demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
		return;
	}
	int is_pop = q->pop_armed && qr->qr_qt == q->pop_qt;
	if (!is_pop && qr->qr_opcode == DEMI_OPC_POP) {
		/* A pop of a closed queue whose number came back (qds are reused). */
		demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
		return;
	}
	if (is_pop) {
		q->pop_armed = 0;
		if (qr->qr_opcode == DEMI_OPC_FAILED) {
			q->err = (int)qr->qr_ret;
		} else if (qr->qr_value.sga.sga_numsegs == 0 ||
			   qr->qr_value.sga.sga_segs[0].sgaseg_len == 0) {
			demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
			q->eof = 1;
		} else if (q->fd < 0) {
			demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
			arm_pop(q);
		} else {
			q->rx = qr->qr_value.sga;
			q->rx_off = 0;
			q->rx_have = 1;
		}
	} else if (q->push_n > 0) {
		q->inflight -= q->push_len[q->push_head];
		q->push_head = (q->push_head + 1) % TX_SLOTS;
		q->push_n--;
		if (qr->qr_opcode == DEMI_OPC_FAILED)
			q->err = (int)qr->qr_ret;
	}
	if (q->fd >= 0)
		check_add(q);
}

/* Fires every queue of the check list that is ready for what memcached waits for. */
static void fire_ready(struct worker *w)
{
	int n = w->check_n, cap = w->check_cap;
	int *list = w->check;

	/* Callbacks add to a fresh list (which may grow); this one is only read. */
	w->check = w->spare;
	w->check_cap = w->spare_cap;
	w->spare = list;
	w->spare_cap = cap;
	w->check_n = 0;
	for (int i = 0; i < n; i++) {
		struct mq *q = by_qd(w, list[i]);
		if (q == NULL || !q->on_check)
			continue;
		q->on_check = 0;
		short r = ready(q);
		if (r == 0)
			continue;
		if (!q->persist)
			q->added = 0;
		q->cb(q->fd, r, q->arg);
		/* The callback may have closed it; level-triggered: still ready, fire again. */
		q = by_qd(w, list[i]);
		if (q != NULL && ready(q))
			check_add(q);
	}
}

/* Zombies whose pushes completed or whose linger ran out. */
static void reap(struct worker *w, uint64_t now)
{
	struct mq **pp = &w->zombies;

	while (*pp != NULL) {
		struct mq *q = *pp;
		if (q->push_n == 0 || q->err || now >= q->linger_until) {
			*pp = q->zombie_next;
			mq_destroy(q);
		} else {
			pp = &q->zombie_next;
		}
	}
}

void mcd_worker_loop(void *thread)
{
	LIBEVENT_THREAD *me = thread;
	struct worker *w = self;
	demi_qresult_t qrs[WAIT_BATCH];

	for (;;) {
		fire_ready(w);
		uint64_t now = now_ns();
		if (now >= w->kpoll_next) {
			w->kernel_fired = 0;
			event_base_loop(me->base, EVLOOP_NONBLOCK);
			if (event_base_got_exit(me->base))
				break;
			w->kslice = w->kernel_fired
					    ? KSLICE_MIN_NS
					    : (w->kslice * 2 > KSLICE_MAX_NS ? KSLICE_MAX_NS
									     : w->kslice * 2);
			w->kpoll_next = now + w->kslice;
			reap(w, now);
			continue;
		}
		uint64_t left = w->check_n ? 0 : w->kpoll_next - now;
		struct timespec ts = {.tv_sec = (time_t)(left / 1000000000ull),
				      .tv_nsec = (long)(left % 1000000000ull)};
		int n = 0;
		int ret = demi_wait_next_n(qrs, WAIT_BATCH, &n, &ts);
		if (ret != 0 && ret != ETIMEDOUT)
			die(EX_SOFTWARE, "demi_wait_next_n: %s", strerror(ret));
		for (int i = 0; i < n; i++)
			on_result(w, &qrs[i]);
		if (w->zombies != NULL)
			reap(w, now);
	}
	/* Stopping (stop_threads): queue_stop made libevent exit. */
}
