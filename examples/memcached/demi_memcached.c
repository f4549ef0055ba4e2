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
 * The queues themselves (placeholder fds, the held popped buffer, the copy-once push with
 * back-pressure, the close linger, the wait and the kernel slice) are
 * examples/ports/demi_port.{c,h}, which the build copies beside this file: one struct
 * demi_port per worker. What is here maps memcached onto it.
 *
 * Descriptors. memcached indexes conns[] by descriptor and passes descriptors to close(2),
 * getpeername and libevent; it only ever sees a queue's placeholder fd (demi_port.h), a valid
 * conns[] index. The placeholder table is sized once, for memcached's max_fds.
 *
 * Events. event_add/event_del (macros of demi_memcached.h) record on the queue what memcached
 * waits for and its callback; libevent never sees those descriptors. The loop fires a queue
 * that is ready (demi_port_ready) for what memcached asked, level-triggered like libevent on
 * epoll. Only queues on the check list (a completion arrived, memcached changed its interest,
 * a callback left it ready) are evaluated, so an idle connection costs nothing.
 *
 * Loop, per iteration: fire the ready queues (and take the accepted ones), wait with
 * demi_port_wait (no wait while some queue is still ready, else until the kernel slice ends).
 * The worker's kernel fds (the notify eventfd: pause, idle timeout, stop) stay on libevent,
 * polled without waiting once per kernel slice, so a busy-polling libOS (catnip) makes one
 * system call per slice, not per request, and an idle catnap worker wakes at most 100 times a
 * second.
 *
 * Writes: sendmsg pushes memcached's iovecs as one copy; beyond the budget it answers EAGAIN
 * and memcached waits for EV_WRITE, as on a full socket.
 */
#include "memcached.h"

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <demi/libos.h>
#include <demi/stats.h>
#include "demi_port.h"

/* libevent's own calls from here on. */
#undef event_add
#undef event_del

struct worker;

/* A connection's queue and what memcached waits for on it. */
struct mq {
	struct demi_port_q q;
	int added, persist;
	short interest;
	event_callback_fn cb;
	void *arg;
	struct sockaddr_in local;
};

struct worker {
	LIBEVENT_THREAD *t;
	struct demi_port *port;
	struct demi_port_q *listener;
	int kernel_fired;
	event_callback_fn notify_cb;
	void *notify_arg;
};

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

static struct mq *owned(int fd)
{
	return (struct mq *)demi_port_q_of_fd(fd);
}

int mcd_owns(int fd)
{
	return owned(fd) != NULL;
}

static void log_warning(const char *msg)
{
	fprintf(stderr, "memcached (libdemikernel port): %s\n", msg);
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
	int ret = demi_port_init(max_fds, log_warning);
	if (ret < 0)
		die(EX_OSERR, "cannot open /dev/null or size the descriptor table: %s",
		    strerror(-ret));
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

/* ---- per-worker queues ---- */

static short ready(struct mq *q)
{
	short r = 0;

	if (!q->added || q->q.fd < 0)
		return 0;
	int can = demi_port_ready(&q->q);
	if ((q->interest & EV_READ) && (can & DEMI_PORT_IN))
		r |= EV_READ;
	if ((q->interest & EV_WRITE) && (can & DEMI_PORT_OUT))
		r |= EV_WRITE;
	return r;
}

static struct mq *mq_create(struct worker *w, int qd, const struct sockaddr_in *peer)
{
	struct mq *q = (struct mq *)demi_port_q_create(w->port, qd, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->q.peer = *peer;
	socklen_t len = sizeof(q->local);
	if (demi_getsockname(qd, (struct sockaddr *)&q->local, &len) != 0)
		q->local = listen_addr;
	return q;
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
	demi_port_check_add(&q->q);
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
	ssize_t n = demi_port_read(&q->q, buf, count);
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return n;
}

ssize_t mcd_sendmsg(int fd, struct msghdr *msg, int flags)
{
	struct mq *q = owned(fd);

	if (q == NULL)
		return sendmsg(fd, msg, flags);
	ssize_t n = demi_port_writev(&q->q, msg->msg_iov, (int)msg->msg_iovlen);
	/* Pool memory comes back as pushes complete; with none in flight, give up. */
	if (n == -ENOMEM && q->q.push_n)
		n = -EAGAIN;
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return n;
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

	return q ? copy_addr(&q->q.peer, addr, len) : getpeername(fd, addr, len);
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
	if (self == NULL || q->q.port != self->port) {
		/* The main thread's conn_close_all() at a graceful stop: the workers are hung and
		 * their instances go with their threads; the queue is not this thread's to touch.
		 */
		demi_port_release_fd(&q->q);
		return;
	}
	demi_port_close(&q->q);
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
	self = w;
	int lqd = -1;
	/* One worker at a time: the first finds out which libOS runs and refuses -t N if needed. */
	pthread_mutex_lock(&start_lock);
	ret = demi_init(&args);
	if (ret != 0)
		die(EX_OSERR, "demi_init: %s (LIBOS, CONFIG_PATH: docs/api.md)", strerror(ret));
	w->port = demi_port_create();
	if (w->port == NULL)
		die(EX_OSERR, "no memory for a worker");
	libos_name(name, sizeof(name));
	if (settings.num_threads > 1 && strcmp(name, "catnap") != 0)
		die(EX_USAGE,
		    "-t %d needs catnap: %s runs one device port per process, so one "
		    "worker (-t 1)",
		    settings.num_threads, name);
	ret = demi_socket(&lqd, AF_INET, SOCK_STREAM, 0);
	if (ret == 0 && settings.num_threads > 1)
		ret = demi_setsockopt(lqd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in a = listen_addr;
	a.sin_port = htons((uint16_t)settings.port);
	if (ret == 0)
		ret = demi_bind(lqd, (struct sockaddr *)&a, sizeof(a));
	if (ret == 0)
		ret = demi_listen(lqd, settings.backlog);
	if (ret != 0)
		die(EX_OSERR, "failed to listen on TCP port %d (%s): %s", settings.port,
		    inet_ntoa(a.sin_addr), strerror(ret));
	w->listener = demi_port_q_create(w->port, lqd, sizeof(struct mq));
	if (w->listener == NULL)
		die(EX_OSERR, "no placeholder fd for the listening queue: %s", strerror(errno));
	listen_addr.sin_port = a.sin_port;
	pthread_mutex_unlock(&start_lock);
	if (settings.verbose > 0)
		fprintf(stderr, "<%d worker listening on %s:%u (libdemikernel, %s)\n", lqd,
			inet_ntoa(a.sin_addr), (unsigned)ntohs(listen_addr.sin_port), name);

	/* The notify eventfd stays on libevent; a trampoline tells the loop that it fired. */
	w->notify_cb = event_get_callback(&me->notify_event);
	w->notify_arg = event_get_callback_arg(&me->notify_event);
	event_del(&me->notify_event);
	event_assign(&me->notify_event, me->base, event_get_fd(&me->notify_event),
		     EV_READ | EV_PERSIST, notify_trampoline, w);
	if (event_add(&me->notify_event, 0) != 0)
		die(EX_OSERR, "cannot watch the worker's notify fd");
	demi_port_q_listen(w->listener);
}

/* A queue the listener accepted becomes a memcached connection (thread.c's part for a socket
 * from the main thread). */
static void on_accept(struct worker *w, int qd, const struct sockaddr_in *peer)
{
	int reject = 0;

	if (settings.maxconns_fast) {
		/* Stock compares the new fd with maxconns; here a connection may hold two. */
		STATS_LOCK();
		reject = stats_state.curr_conns + stats_state.reserved_fds >= settings.maxconns - 1;
		if (reject)
			stats.rejected_conns++;
		STATS_UNLOCK();
	}
	struct mq *q = mq_create(w, qd, peer);
	if (q == NULL) {
		if (settings.verbose > 0)
			fprintf(stderr, "Too many open connections (%s)\n", strerror(errno));
		demi_close(qd);
		return;
	}
	demi_port_arm_pop(&q->q);
	if (reject) {
		static const char str[] = "ERROR Too many open connections\r\n";
		mcd_write(q->q.fd, str, sizeof(str) - 1);
		mcd_close(q->q.fd);
		return;
	}
	conn *c = conn_new(q->q.fd, conn_new_cmd, EV_READ | EV_PERSIST, READ_BUFFER_CACHED,
			   tcp_transport, w->t->base, NULL, 0, settings.binding_protocol);
	if (c == NULL) {
		mcd_close(q->q.fd);
		return;
	}
	c->thread = w->t;
	conn_io_queue_setup(c);
}

/* One queue of the check list: accepts on the listener; a connection ready for what memcached
 * waits for fires its callback. */
static void fire(struct demi_port_q *pq, void *arg)
{
	struct worker *w = arg;
	struct mq *q = (struct mq *)pq;
	struct sockaddr_in peer;
	int qd;

	if (pq->listening) {
		while (demi_port_accept_take(pq, &qd, &peer) == 0)
			on_accept(w, qd, &peer);
		return;
	}
	short r = ready(q);
	if (r == 0)
		return;
	if (!q->persist)
		q->added = 0;
	qd = pq->qd;
	q->cb(pq->fd, r, q->arg);
	/* The callback may have closed it; level-triggered: still ready, fire again. */
	q = (struct mq *)demi_port_q_of_qd(w->port, qd);
	if (q != NULL && ready(q))
		demi_port_check_add(&q->q);
}

void mcd_worker_loop(void *thread)
{
	LIBEVENT_THREAD *me = thread;
	struct worker *w = self;

	for (;;) {
		demi_port_check_each(w->port, fire, w);
		uint64_t now = demi_port_now_ns();
		if (demi_port_kernel_due(w->port, now)) {
			w->kernel_fired = 0;
			event_base_loop(me->base, EVLOOP_NONBLOCK);
			if (event_base_got_exit(me->base))
				break;
			demi_port_kernel_polled(w->port, now, w->kernel_fired);
			continue;
		}
		int64_t left = demi_port_check_count(w->port)
				       ? 0
				       : (int64_t)demi_port_kernel_left(w->port, now);
		int ret = demi_port_wait(w->port, now, left);
		if (ret < 0)
			die(EX_SOFTWARE, "demi_wait_next_n: %s", strerror(-ret));
	}
	/* Stopping (stop_threads): queue_stop made libevent exit. */
}
