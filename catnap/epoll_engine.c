/* SPDX-License-Identifier: MIT */
/*
 * catnap's epoll engine. Every socket is registered once, edge-triggered, for input and
 * output; an event only records readiness on the queue and wakes the task at the head of the
 * matching FIFO. Tasks run the non-blocking syscall themselves when their queue is known to be
 * ready, and go back to sleep when the kernel answers EAGAIN. Per echoed message that makes
 * the same three syscalls as a hand-written epoll loop: epoll_wait, recv, send.
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
	struct epoll_event events[MAX_EVENTS];
};

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
	free(st);
	nap_of(los)->engine_state = NULL;
}

static int ep_watch(struct demi__libos *los, struct nap_queue *q)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = q,
	};

	if (q->watched)
		return 0;
	if (epoll_ctl(state_of(los)->epfd, EPOLL_CTL_ADD, q->fd, &ev) < 0)
		return -errno;
	q->watched = true;
	return 0;
}

static void ep_unwatch(struct demi__libos *los, struct nap_queue *q)
{
	/* close(2) removes the fd from the epoll set (we never dup it). */
	(void)los;
	(void)q;
}

/* ---- accept ---- */

static void ep_accept(struct demi__task *t)
{
	struct nap_queue *lq = t->queue;
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd;

	if (nap_head(&lq->accepts) != t || !lq->readable)
		return;
	for (;;) {
		fd = accept4(lq->fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue; /* that connection died before we took it: take the next */
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			lq->readable = false;
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
	int err = 0;
	socklen_t len = sizeof(err);

	if (!q->writable)
		return;
	if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	q->connect = NULL;
	if (err) {
		/* Linux lets a socket whose connect failed try again. */
		q->state = NAP_NEW;
		demi__task_fail(t, err);
		return;
	}
	q->state = NAP_CONNECTED;
	demi__task_complete(t);
}

/* ---- push ---- */

static int build_iov(struct nap_task_state *ps, struct iovec *iov)
{
	uint64_t skip = ps->sent;
	int n = 0;

	for (uint32_t i = 0; i < ps->req.nsegs; i++) {
		const struct demi__seg *s = &ps->req.segs[i];
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		iov[n].iov_base = s->data + skip;
		iov[n].iov_len = s->len - skip;
		skip = 0;
		n++;
	}
	return n;
}

static void ep_push(struct demi__task *t)
{
	struct nap_queue *q = t->queue;
	struct nap_task_state *ps = nap_task_state(t);
	struct iovec iov[DEMI_SGARRAY_MAXSIZE];
	struct msghdr msg = {.msg_iov = iov};
	ssize_t n;

	if (nap_head(&q->pushes) != t || !q->writable)
		return;
	msg.msg_iovlen = (size_t)build_iov(ps, iov);
	if (ps->has_to) {
		msg.msg_name = &ps->to;
		msg.msg_namelen = sizeof(ps->to);
	}
	do
		n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			q->writable = false;
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
		q->writable = false;
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
		if ((uint32_t)n < want && !q->peer_closed)
			q->readable = false;
		b->len = (uint32_t)n;
		nap_pop_deliver(t, q, b, NULL);
		return;
	}
	demi__buf_put(b);
	if (n == 0) {
		q->eof = true;
		nap_pop_deliver(t, q, NULL, NULL);
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		q->readable = false;
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
			q->readable = false;
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
	if (!q->readable)
		return;
	if (q->base.type == SOCK_STREAM)
		ep_pop_tcp(t, q);
	else
		ep_pop_udp(t, q);
}

/* ---- events ---- */

static void on_event(struct nap_queue *q, uint32_t ev)
{
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		q->peer_closed = true;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		q->readable = true;
		nap_wake_head(&q->pops);
		nap_wake_head(&q->accepts);
	}
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		q->writable = true;
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
	for (int i = 0; i < n; i++)
		on_event(st->events[i].data.ptr, st->events[i].events);
	return n;
}

const struct nap_engine_ops nap_epoll_engine = {
	.name = "epoll",
	.init = ep_init,
	.fini = ep_fini,
	.watch = ep_watch,
	.unwatch = ep_unwatch,
	.accept = ep_accept,
	.connect = ep_connect,
	.push = ep_push,
	.pop = ep_pop,
	.poll_io = ep_poll_io,
};
