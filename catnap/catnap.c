/* SPDX-License-Identifier: MIT */
/*
 * catnap's queue implementation: sockets, their state, options and the FIFOs of pending
 * operations. The engine (selected by catnap.engine) makes those operations progress.
 */
#include "catnap.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_MAX_PAYLOAD 65507u

struct demi__task *nap_head(struct demi__list *fifo)
{
	struct demi__list *n = demi__list_front(fifo);

	return n ? demi__container_of(n, struct demi__task, wait_link) : NULL;
}

void nap_wake_head(struct demi__list *fifo)
{
	struct demi__task *t = nap_head(fifo);

	if (t)
		demi__task_wake(t);
}

static int nap_init(struct demi__libos *los)
{
	static const char *const engines[] = {"epoll", "io_uring", NULL};
	struct nap_libos *nap = calloc(1, sizeof(*nap));
	uint64_t pop_bytes;
	bool fallback;
	int engine, rc;

	if (!nap)
		return -ENOMEM;
	los->priv = nap;
	rc = demi__config_get_choice(&los->cfg, "catnap.engine", engines, 0, &engine);
	if (rc == 0)
		rc = demi__config_get_u64(&los->cfg, "catnap.tcp_pop_bytes",
					  65536 - DEMI__BUF_HEADROOM, 1, 1u << 24, &pop_bytes);
	if (rc == 0)
		rc = demi__config_get_bool(&los->cfg, "catnap.fallback_to_epoll", false, &fallback);
	if (rc < 0)
		goto fail;
	nap->tcp_pop_bytes = (uint32_t)pop_bytes;
	nap->engine = &nap_epoll_engine;
	if (engine == 1) {
#ifdef NAP_HAVE_URING
		nap->engine = &nap_uring_engine;
#else
		DEMI_ERR("catnap: engine io_uring was not built into this library (liburing was "
			 "missing at build time)");
		rc = -ENOTSUP;
		goto fail;
#endif
	}
	nap->udp_spill = malloc(UDP_MAX_PAYLOAD + 1);
	if (!nap->udp_spill) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = nap->engine->init(los);
	if (rc < 0 && nap->engine != &nap_epoll_engine && fallback) {
		DEMI_WARN("catnap: %s engine unavailable (%s); falling back to epoll as configured",
			  nap->engine->name, strerror(-rc));
		nap->engine = &nap_epoll_engine;
		rc = nap->engine->init(los);
	}
	if (rc < 0) {
		DEMI_ERR("catnap: %s engine unavailable: %s%s", nap->engine->name, strerror(-rc),
			 nap->engine != &nap_epoll_engine
				 ? " (set catnap.fallback_to_epoll / CATNAP_FALLBACK_TO_EPOLL=1 to "
				   "fall back to epoll)"
				 : "");
		goto fail;
	}
	DEMI_INFO("catnap: %s engine, busy_poll %s", nap->engine->name,
		  los->busy_poll ? "on" : "off");
	return 0;
fail:
	free(nap->udp_spill);
	free(nap);
	los->priv = NULL;
	return rc;
}

static void nap_fini(struct demi__libos *los)
{
	struct nap_libos *nap = nap_of(los);

	nap->engine->fini(los);
	while (nap->free_queues) {
		struct nap_queue *q = nap->free_queues;
		nap->free_queues = q->next_free;
		free(q->acc_fds);
		free(q);
	}
	free(nap->udp_spill);
	free(nap);
	los->priv = NULL;
}

struct nap_queue *nap_queue_create(struct demi__libos *los, int fd, int type)
{
	struct nap_libos *nap = nap_of(los);
	struct nap_queue *q = nap->free_queues;

	uint32_t gen = 0;
	int *acc_fds = NULL;
	uint32_t acc_cap = 0;

	if (q) {
		nap->free_queues = q->next_free;
		gen = q->gen;
		acc_fds = q->acc_fds;
		acc_cap = q->acc_cap;
	} else if (!(q = malloc(sizeof(*q)))) {
		return NULL;
	}
	memset(q, 0, sizeof(*q));
	q->gen = gen + 1;
	q->acc_fds = acc_fds;
	q->acc_cap = acc_cap;
	q->base.los = los;
	q->base.qd = -1;
	q->base.type = type;
	q->fd = fd;
	q->readable = true; /* unknown: the first pop tries */
	q->writable = true;
	demi__list_init(&q->engine_link);
	demi__list_init(&q->accepts);
	demi__list_init(&q->pops);
	demi__list_init(&q->pushes);
	return q;
}

void nap_queue_release(struct demi__libos *los, struct nap_queue *q)
{
	struct nap_libos *nap = nap_of(los);

	q->gen++; /* anything still naming the old queue is now stale */
	q->next_free = nap->free_queues;
	nap->free_queues = q;
}

int nap_queue_accepted(struct demi__libos *los, int fd, struct nap_queue **q_out)
{
	struct nap_queue *q = nap_queue_create(los, fd, SOCK_STREAM);
	int one = 1, rc;

	if (!q) {
		close(fd);
		return -ENOMEM;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	q->state = NAP_CONNECTED;
	if ((rc = demi__qd_alloc(los, &q->base)) < 0) {
		close(fd);
		nap_queue_release(los, q);
		return rc;
	}
	if ((rc = nap_of(los)->engine->watch(los, q)) < 0) {
		close(fd);
		demi__qd_free(los, &q->base);
		nap_queue_release(los, q);
		return rc;
	}
	*q_out = q;
	return 0;
}

void nap_accept_finish(struct demi__task *t, struct nap_queue *lq, int fd,
		       const struct sockaddr_in *peer)
{
	struct nap_queue *q;
	int rc = nap_queue_accepted(lq->base.los, fd, &q);

	if (rc < 0) {
		demi__task_fail(t, -rc);
	} else {
		t->result.qr_value.ares.qd = q->base.qd;
		memcpy(&t->result.qr_value.ares.addr, peer, sizeof(*peer));
		demi__task_complete(t);
	}
	/* More connections may be waiting: let the next accept look. */
	nap_wake_head(&lq->accepts);
}

void nap_pop_deliver(struct demi__task *t, struct nap_queue *q, struct demi__buf *b,
		     const struct sockaddr_in *from)
{
	demi_sgarray_t *sga = &t->result.qr_value.sga;

	if (b) {
		demi__sga_from_buf(sga, b);
	} else {
		/* End of stream: an empty array with nothing to free. */
		memset(sga, 0, sizeof(*sga));
		sga->sga_numsegs = 1;
	}
	if (from)
		memcpy(&sga->sga_addr, from, sizeof(*from)); /* packed: no direct store */
	demi__task_complete(t);
	nap_wake_head(&q->pops);
}

static int nap_socket(struct demi__libos *los, int domain, int type, int protocol,
		      struct demi__queue **q_out)
{
	int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	struct nap_queue *q;
	int one = 1;

	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM) {
		/* Latency first: no Nagle. A server restarts without waiting out TIME_WAIT. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	q = nap_queue_create(los, fd, type);
	if (!q) {
		close(fd);
		return -ENOMEM;
	}
	if (type == SOCK_DGRAM) {
		int rc = nap_of(los)->engine->watch(los, q);
		if (rc < 0) {
			close(fd);
			nap_queue_release(los, q);
			return rc;
		}
	}
	*q_out = &q->base;
	return 0;
}

static int nap_bind(struct demi__queue *dq, const struct sockaddr_in *addr)
{
	struct nap_queue *q = nap_queue_of(dq);

	if (q->bound || q->state != NAP_NEW)
		return -EINVAL;
	if (bind(q->fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		return -errno;
	q->bound = true;
	return 0;
}

static int nap_listen(struct demi__queue *dq, int backlog)
{
	struct nap_queue *q = nap_queue_of(dq);
	int rc;

	if (q->state == NAP_LISTENING)
		return -EINVAL;
	if (q->state != NAP_NEW)
		return -EINVAL;
	if (!q->bound)
		return -EDESTADDRREQ;
	if (listen(q->fd, backlog) < 0)
		return -errno;
	q->state = NAP_LISTENING;
	rc = nap_of(dq->los)->engine->watch(dq->los, q);
	return rc;
}

static int nap_accept(struct demi__queue *dq, struct demi__task *t)
{
	struct nap_queue *q = nap_queue_of(dq);
	bool first = demi__list_empty(&q->accepts);

	if (q->state != NAP_LISTENING)
		return -EINVAL;
	t->poll = nap_of(dq->los)->engine->accept;
	nap_task_state(t)->op = 0;
	demi__list_push_back(&q->accepts, &t->wait_link);
	if (first)
		t->poll(t);
	return 0;
}

static int nap_connect(struct demi__queue *dq, struct demi__task *t, const struct sockaddr_in *to)
{
	struct nap_queue *q = nap_queue_of(dq);
	struct demi__libos *los = dq->los;
	int rc;

	if (dq->type == SOCK_DGRAM) {
		/* A UDP connect only sets the default destination: it completes at once. */
		if (connect(q->fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
			demi__task_fail(t, errno);
			return 0;
		}
		q->has_peer = true;
		demi__task_complete(t);
		return 0;
	}
	if (q->state == NAP_CONNECTED)
		return -EISCONN;
	if (q->state == NAP_CONNECTING)
		return -EALREADY;
	if (q->state == NAP_LISTENING)
		return -EINVAL;
	t->poll = nap_of(los)->engine->connect;
	nap_task_state(t)->op = 0;
	if (connect(q->fd, (const struct sockaddr *)to, sizeof(*to)) == 0) {
		q->state = NAP_CONNECTED;
	} else if (errno == EINPROGRESS) {
		q->state = NAP_CONNECTING;
	} else {
		/* Refused, unreachable...: the error arrives on the token, as it would later. */
		demi__task_fail(t, errno);
		return 0;
	}
	/* Watching starts after connect(2), so the first writable edge is its outcome. */
	if (!q->watched && (rc = nap_of(los)->engine->watch(los, q)) < 0) {
		q->state = NAP_NEW;
		return rc;
	}
	if (q->state == NAP_CONNECTED) {
		demi__task_complete(t);
		return 0;
	}
	q->connect = t;
	q->writable = false; /* the next writable edge is the connect's outcome */
	t->poll(t);
	return 0;
}

static void cancel_fifo(struct demi__list *fifo, bool is_push)
{
	struct demi__task *t;

	while ((t = nap_head(fifo))) {
		if (is_push)
			demi__push_req_put(&nap_task_state(t)->req);
		demi__task_fail(t, ECANCELED);
	}
}

static int nap_close(struct demi__queue *dq)
{
	struct nap_queue *q = nap_queue_of(dq);

	nap_of(dq->los)->engine->unwatch(dq->los, q);
	if (q->connect) {
		demi__task_fail(q->connect, ECANCELED);
		q->connect = NULL;
	}
	cancel_fifo(&q->accepts, false);
	cancel_fifo(&q->pops, false);
	cancel_fifo(&q->pushes, true);
	/* close(2) also removes the fd from epoll (we never dup it). */
	close(q->fd);
	nap_queue_release(dq->los, q);
	return 0;
}

static int nap_push(struct demi__queue *dq, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	struct nap_queue *q = nap_queue_of(dq);
	struct nap_task_state *ps = nap_task_state(t);
	bool first = demi__list_empty(&q->pushes);
	int rc;

	if (dq->type == SOCK_STREAM) {
		if (q->state == NAP_LISTENING)
			return -EINVAL;
		if (q->state != NAP_CONNECTED)
			return -ENOTCONN;
		to = NULL; /* pushto on a connected stream ignores the address */
	} else {
		if (req->total > UDP_MAX_PAYLOAD)
			return -EMSGSIZE;
		if (!to && !q->has_peer)
			return -EDESTADDRREQ;
	}
	ps->req = *req;
	ps->op = 0;
	ps->sent = 0;
	ps->has_to = to != NULL;
	if (to)
		ps->to = *to;
	t->poll = nap_of(dq->los)->engine->push;
	demi__list_push_back(&q->pushes, &t->wait_link);
	if (first)
		t->poll(t);
	if (!demi__task_done(t)) {
		/* Still pending: the application may reuse its memory as soon as we return. */
		rc = demi__push_req_own(&dq->los->pool, &ps->req, ps->sent);
		if (rc < 0) {
			demi__list_remove(&t->wait_link);
			*req = ps->req; /* the caller drops the references */
			return rc;
		}
	}
	return 0;
}

static int nap_pop(struct demi__queue *dq, struct demi__task *t)
{
	struct nap_queue *q = nap_queue_of(dq);
	bool first = demi__list_empty(&q->pops);

	if (dq->type == SOCK_STREAM) {
		if (q->state == NAP_LISTENING)
			return -EINVAL;
		if (q->state != NAP_CONNECTED)
			return -ENOTCONN;
	}
	t->poll = nap_of(dq->los)->engine->pop;
	nap_task_state(t)->op = 0;
	demi__list_push_back(&q->pops, &t->wait_link);
	if (first)
		t->poll(t);
	return 0;
}

/* The options an application may set or read; anything else is ENOPROTOOPT. */
static bool option_allowed(int level, int name, bool get)
{
	if (level == SOL_SOCKET)
		return name == SO_REUSEADDR || name == SO_REUSEPORT || name == SO_KEEPALIVE ||
		       name == SO_LINGER || name == SO_RCVBUF || name == SO_SNDBUF ||
		       (get && (name == SO_ERROR || name == SO_TYPE));
	if (level == IPPROTO_TCP)
		return name == TCP_NODELAY || name == TCP_KEEPIDLE || name == TCP_KEEPINTVL ||
		       name == TCP_KEEPCNT;
	return false;
}

static int nap_setsockopt(struct demi__queue *dq, int level, int name, const void *val,
			  socklen_t len)
{
	struct nap_queue *q = nap_queue_of(dq);

	if (!option_allowed(level, name, false))
		return -ENOPROTOOPT;
	if (level == IPPROTO_TCP && dq->type != SOCK_STREAM)
		return -ENOPROTOOPT;
	return setsockopt(q->fd, level, name, val, len) < 0 ? -errno : 0;
}

static int nap_getsockopt(struct demi__queue *dq, int level, int name, void *val, socklen_t *len)
{
	struct nap_queue *q = nap_queue_of(dq);

	if (!option_allowed(level, name, true))
		return -ENOPROTOOPT;
	if (level == IPPROTO_TCP && dq->type != SOCK_STREAM)
		return -ENOPROTOOPT;
	return getsockopt(q->fd, level, name, val, len) < 0 ? -errno : 0;
}

static int nap_getpeername(struct demi__queue *dq, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	return getpeername(nap_queue_of(dq)->fd, (struct sockaddr *)addr, &len) < 0 ? -errno : 0;
}

static int nap_getsockname(struct demi__queue *dq, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	return getsockname(nap_queue_of(dq)->fd, (struct sockaddr *)addr, &len) < 0 ? -errno : 0;
}

static int nap_poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	return nap_of(los)->engine->poll_io(los, timeout_ns);
}

static uint64_t nap_bufs_cached(struct demi__libos *los)
{
	const struct nap_engine_ops *e = nap_of(los)->engine;

	return e->bufs_cached ? e->bufs_cached(los) : 0;
}

const struct demi__libos_ops nap_libos_ops = {
	.name = "catnap",
	.init = nap_init,
	.fini = nap_fini,
	.socket = nap_socket,
	.bind = nap_bind,
	.listen = nap_listen,
	.accept = nap_accept,
	.connect = nap_connect,
	.push = nap_push,
	.pop = nap_pop,
	.close = nap_close,
	.setsockopt = nap_setsockopt,
	.getsockopt = nap_getsockopt,
	.getpeername = nap_getpeername,
	.getsockname = nap_getsockname,
	.poll_io = nap_poll_io,
	.bufs_cached = nap_bufs_cached,
};
