/* SPDX-License-Identifier: MIT */
/*
 * catnap's epoll engine. Every socket is registered once, edge-triggered, for input and
 * output; an event only records readiness on the queue and wakes the task at the head of the
 * matching FIFO. Tasks run the non-blocking syscall themselves when their queue is known to be
 * ready, and go back to sleep when the kernel answers EAGAIN. Per echoed message that makes
 * the same three syscalls as a hand-written epoll loop: epoll_wait, recv, send.
 *
 * Registrations and fork: the epoll set belongs to open files, not to fds. A socket whose file
 * is still open elsewhere (in a child forked after it was opened) stays in the set after our
 * close(2), and its events would keep arriving. So a queue leaves the set explicitly
 * (EPOLL_CTL_DEL) before it is closed, and an event names its registration as (id, fd), checked
 * against the queue now registered under that fd: an event of a registration that is gone is
 * dropped and counted (catnap.epoll_stale_events), never applied to a queue that reuses the
 * struct or the fd. A forked child that tears its copy of the libOS down (exit() runs the
 * library's atexit handler) leaves the set alone: it is shared with the parent.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "catnap.h"

#define MAX_EVENTS 256
#define UDP_SMALL_BYTES (2048 - DEMI__BUF_HEADROOM)

struct epoll_state {
	int epfd;
	uint32_t next_reg;	  /* id of the next registration (0 is never used) */
	uint64_t stale_events;	  /* events of registrations already removed (dropped) */
	struct nap_queue **by_fd; /* the queue registered under each fd, or NULL */
	size_t by_fd_cap;
	struct epoll_event events[MAX_EVENTS];
};

/* Per-queue state, in the queue's engine area. */
struct ep_queue {
	uint32_t reg; /* id of its registration with epoll, 0 when not registered */
	/* Readiness known from the last event or syscall (edge-triggered): try the syscall only
	 * when set, clear it when the kernel says EAGAIN. */
	bool readable;
	bool writable;
	bool peer_closed; /* epoll reported the peer's FIN (or an error): no further edge comes */
};

static struct ep_queue *ep_q(struct nap_queue *q)
{
	_Static_assert(_Alignof(struct ep_queue) <= _Alignof(uint64_t), "engine area alignment");
	return (struct ep_queue *)(void *)q->engine;
}

static struct epoll_state *state_of(struct demi__libos *los)
{
	return nap_of(los)->engine_state;
}

static int ep_init(struct demi__libos *los)
{
	struct epoll_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st->epfd < 0) {
		int err = errno;
		free(st);
		return -err;
	}
	nap_of(los)->engine_state = st;
	return 0;
}

static void ep_fini(struct demi__libos *los)
{
	struct epoll_state *st = state_of(los);

	close(st->epfd);
	free(st->by_fd);
	free(st);
	nap_of(los)->engine_state = NULL;
}

static void ep_queue_init(struct nap_queue *q)
{
	*ep_q(q) = (struct ep_queue){.readable = true, .writable = true}; /* unknown: try */
}

/* Makes room in the fd table for fd. 0 or -ENOMEM. */
static int by_fd_reserve(struct epoll_state *st, int fd)
{
	size_t cap = st->by_fd_cap ? st->by_fd_cap : 64;
	struct nap_queue **t;

	if ((size_t)fd < st->by_fd_cap)
		return 0;
	while (cap <= (size_t)fd)
		cap *= 2;
	t = realloc(st->by_fd, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + st->by_fd_cap, 0, (cap - st->by_fd_cap) * sizeof(*t));
	st->by_fd = t;
	st->by_fd_cap = cap;
	return 0;
}

static int ep_watch(struct demi__libos *los, struct nap_queue *q)
{
	struct epoll_state *st = state_of(los);
	struct ep_queue *eq = ep_q(q);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
	int rc;

	/* Registered once, until ep_unwatch. */
	if (!eq->reg) {
		if ((rc = by_fd_reserve(st, q->fd)) < 0)
			return rc;
		if (++st->next_reg == 0)
			st->next_reg = 1;
		ev.data.u64 = (uint64_t)st->next_reg << 32 | (uint32_t)q->fd;
		if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, q->fd, &ev) < 0)
			return -errno;
		eq->reg = st->next_reg;
		st->by_fd[q->fd] = q;
	}
	/* The next writable edge is the connect's outcome; an earlier one (of a failed attempt)
	 * says nothing about it. */
	if (q->state == NAP_CONNECTING)
		eq->writable = false;
	return 0;
}

/*
 * Takes q out of the epoll set before its fd is closed: close(2) removes a registration only
 * with the last reference to the file, and a forked child may hold one. In a forked child the
 * set is the parent's (shared through the inherited epoll fd): only our table forgets q.
 */
static void ep_unwatch(struct demi__libos *los, struct nap_queue *q)
{
	struct epoll_state *st = state_of(los);
	struct ep_queue *eq = ep_q(q);

	if (!eq->reg)
		return;
	if (!nap_forked(los))
		epoll_ctl(st->epfd, EPOLL_CTL_DEL, q->fd, NULL); /* cannot fail: q->fd is ours */
	st->by_fd[q->fd] = NULL;
	eq->reg = 0;
}

/* ---- accept ---- */

static void ep_accept(struct demi__task *t)
{
	struct nap_queue *lq = t->queue;
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd;

	if (nap_head(&lq->accepts) != t || !ep_q(lq)->readable)
		return;
	for (;;) {
		fd = accept4(lq->fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue; /* that connection died before we took it: take the next */
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			ep_q(lq)->readable = false;
			return;
		}
		/* EMFILE, ENFILE, ENOBUFS...: tell the application, the queue stays usable. */
		demi__task_fail(t, errno);
		nap_wake_head(&lq->accepts);
		return;
	}
	nap_accept_finish(t, lq, fd, &addr);
}

/* ---- connect ---- */

static void ep_connect(struct demi__task *t)
{
	struct nap_queue *q = t->queue;

	if (ep_q(q)->writable)
		nap_connect_finish(t, q, 0);
}

/* ---- push ---- */

static void ep_push(struct demi__task *t)
{
	struct nap_queue *q = t->queue;
	struct ep_queue *eq = ep_q(q);
	struct nap_task_state *ps = nap_task_state(t);
	struct iovec iov[DEMI_SGARRAY_MAXSIZE];
	struct msghdr msg = {.msg_iov = iov};
	ssize_t n;

	if (nap_head(&q->pushes) != t || !eq->writable)
		return;
	msg.msg_iovlen = (size_t)nap_push_iov(ps, iov);
	if (ps->has_to) {
		msg.msg_name = &ps->to;
		msg.msg_namelen = sizeof(ps->to);
	}
	/* One segment to the connected peer (a reply, a request): send(2), which spares the
	 * kernel copying in a message header and an iovec array. */
	do
		n = msg.msg_iovlen == 1 && !ps->has_to
			    ? send(q->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
			    : sendmsg(q->fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			eq->writable = false;
			return;
		}
		demi__push_req_put(&ps->req);
		demi__task_fail(t, errno);
		nap_wake_head(&q->pushes);
		return;
	}
	ps->sent += (uint64_t)n;
	if (ps->sent < ps->req.total) {
		/* A short write: the send buffer is full; the next writable edge resumes us. */
		eq->writable = false;
		return;
	}
	demi__push_req_put(&ps->req);
	demi__task_complete(t);
	nap_wake_head(&q->pushes);
}

/* ---- pop ---- */

static void pop_fail(struct demi__task *t, int err)
{
	struct nap_queue *q = t->queue;

	demi__task_fail(t, err);
	nap_wake_head(&q->pops);
}

static void ep_pop_tcp(struct demi__task *t, struct nap_queue *q)
{
	struct ep_queue *eq = ep_q(q);
	struct demi__libos *los = q->base.los;
	uint32_t want = nap_of(los)->tcp_pop_bytes;
	struct demi__buf *b = demi__pool_get(&los->pool, want);
	ssize_t n;

	if (!b) {
		pop_fail(t, ENOMEM);
		return;
	}
	do
		n = recv(q->fd, demi__buf_data(b), want, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		/* Edge-triggered: a short read drained the data, so wait for the next edge; but
		 * once the peer's FIN was seen its edge is spent, so keep reading until EOF. */
		if ((uint32_t)n < want && !eq->peer_closed)
			eq->readable = false;
		b->len = (uint32_t)n;
		nap_pop_deliver(t, q, b, NULL);
		return;
	}
	demi__buf_put(b);
	if (n == 0) {
		q->eof = true;
		nap_pop_deliver(t, q, NULL, NULL);
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		eq->readable = false;
	} else {
		pop_fail(t, errno);
	}
}

/*
 * A datagram lands in a small pool buffer, with a spill area behind it for the rare large one
 * (then copied into a buffer of its size): small datagrams cost no big buffer, and no extra
 * syscall is needed to learn the size first.
 */
static void ep_pop_udp(struct demi__task *t, struct nap_queue *q)
{
	struct demi__libos *los = q->base.los;
	struct demi__buf *b = demi__pool_get(&los->pool, UDP_SMALL_BYTES);
	struct sockaddr_in from;
	struct iovec iov[2];
	struct msghdr msg = {
		.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	if (!b) {
		pop_fail(t, ENOMEM);
		return;
	}
	iov[0] = (struct iovec){demi__buf_data(b), UDP_SMALL_BYTES};
	iov[1] = (struct iovec){nap_of(los)->udp_spill, 65536};
	do
		n = recvmsg(q->fd, &msg, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		demi__buf_put(b);
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			ep_q(q)->readable = false;
		else
			pop_fail(t, errno);
		return;
	}
	if ((size_t)n > UDP_SMALL_BYTES) {
		struct demi__buf *big = demi__pool_get(&los->pool, (size_t)n);
		if (!big) {
			demi__buf_put(b);
			pop_fail(t, ENOMEM);
			return;
		}
		memcpy(demi__buf_data(big), demi__buf_data(b), UDP_SMALL_BYTES);
		memcpy(demi__buf_data(big) + UDP_SMALL_BYTES, nap_of(los)->udp_spill,
		       (size_t)n - UDP_SMALL_BYTES);
		demi__buf_put(b);
		b = big;
	}
	b->len = (uint32_t)n;
	/* Datagrams do not tell whether more are queued: readable stays set until EAGAIN. */
	nap_pop_deliver(t, q, b, &from);
}

static void ep_pop(struct demi__task *t)
{
	struct nap_queue *q = t->queue;

	if (nap_head(&q->pops) != t)
		return;
	if (q->eof) {
		nap_pop_deliver(t, q, NULL, NULL);
		return;
	}
	if (!ep_q(q)->readable)
		return;
	if (q->base.type == SOCK_STREAM)
		ep_pop_tcp(t, q);
	else
		ep_pop_udp(t, q);
}

/* ---- events ---- */

static void on_event(struct nap_queue *q, uint32_t ev)
{
	struct ep_queue *eq = ep_q(q);

	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		eq->peer_closed = true;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		eq->readable = true;
		nap_wake_head(&q->pops);
		nap_wake_head(&q->accepts);
	}
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		eq->writable = true;
		nap_wake_head(&q->pushes);
		if (q->connect)
			demi__task_wake(q->connect);
	}
}

static int ep_poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	struct epoll_state *st = state_of(los);
	struct timespec ts, *tsp = NULL;
	int n;

	if (timeout_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tsp = &ts;
	}
	n = epoll_pwait2(st->epfd, st->events, MAX_EVENTS, tsp, NULL);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t data = st->events[i].data.u64;
		uint32_t fd = (uint32_t)data;
		struct nap_queue *q = fd < st->by_fd_cap ? st->by_fd[fd] : NULL;

		if (!q || ep_q(q)->reg != (uint32_t)(data >> 32)) {
			st->stale_events++;
			continue;
		}
		on_event(q, st->events[i].events);
	}
	return n;
}

static size_t ep_stats(struct demi__libos *los, demi_stat_t *out, size_t cap)
{
	if (cap > 0)
		out[0] = (demi_stat_t){"catnap.epoll_stale_events", state_of(los)->stale_events};
	return 1;
}

const struct nap_engine_ops nap_epoll_engine = {
	.name = "epoll",
	.init = ep_init,
	.fini = ep_fini,
	.queue_bytes = sizeof(struct ep_queue),
	.queue_init = ep_queue_init,
	.watch = ep_watch,
	.unwatch = ep_unwatch,
	.accept = ep_accept,
	.connect = ep_connect,
	.push = ep_push,
	.pop = ep_pop,
	.poll_io = ep_poll_io,
	.stats = ep_stats,
};
