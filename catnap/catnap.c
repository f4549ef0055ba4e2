/* SPDX-License-Identifier: MIT */
/*
 * catnap's queue implementation: sockets, their state, options and the FIFOs of pending
 * operations, and the way an accept, a connect and a pop finish, the same for every engine.
 * The engine (selected by catnap.engine) makes those operations progress; see catnap.h.
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
	nap->owner = getpid();
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
		if (nap->engine->queue_fini)
			nap->engine->queue_fini(q);
		free(q);
	}
	free(nap->udp_spill);
	free(nap);
	los->priv = NULL;
}

/* A queue around an existing fd, from the cache when it has one. NULL: -ENOMEM. */
static struct nap_queue *queue_create(struct demi__libos *los, int fd, int type)
{
	struct nap_libos *nap = nap_of(los);
	struct nap_queue *q = nap->free_queues;
	uint32_t gen = 0;

	if (q) {
		nap->free_queues = q->next_free;
		gen = q->gen;
		/* The engine area is the engine's to reset (queue_init). */
		memset(q, 0, offsetof(struct nap_queue, engine));
	} else if (!(q = calloc(1, sizeof(*q) + nap->engine->queue_bytes))) {
		return NULL;
	}
	q->gen = gen + 1;
	q->base.los = los;
	q->base.qd = -1;
	q->base.type = type;
	q->fd = fd;
	nap->engine->queue_init(q);
	demi__list_init(&q->accepts);
	demi__list_init(&q->pops);
	demi__list_init(&q->pushes);
	return q;
}

/* Returns a queue struct (fd already closed) to the cache. */
static void queue_release(struct demi__libos *los, struct nap_queue *q)
{
	struct nap_libos *nap = nap_of(los);

	q->gen++; /* anything still naming the old queue is now stale */
	q->next_free = nap->free_queues;
	nap->free_queues = q;
}

/* Turns a connection fd from accept into a watched, connected queue with a qd. On failure the
 * fd is closed. 0 or -errno. */
static int queue_accepted(struct demi__libos *los, int fd, struct nap_queue **q_out)
{
	struct nap_queue *q = queue_create(los, fd, SOCK_STREAM);
	int one = 1, rc;

	if (!q) {
		close(fd);
		return -ENOMEM;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	q->state = NAP_CONNECTED;
	if ((rc = demi__qd_alloc(los, &q->base)) < 0) {
		close(fd);
		queue_release(los, q);
		return rc;
	}
	if ((rc = nap_of(los)->engine->watch(los, q)) < 0) {
		close(fd);
		demi__qd_free(los, &q->base);
		queue_release(los, q);
		return rc;
	}
	*q_out = q;
	return 0;
}

void nap_accept_finish(struct demi__task *t, struct nap_queue *lq, int fd,
		       const struct sockaddr_in *peer)
{
	struct nap_queue *q;
	int rc = queue_accepted(lq->base.los, fd, &q);

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

void nap_connect_finish(struct demi__task *t, struct nap_queue *q, int err)
{
	socklen_t len = sizeof(err);

	if (!err && getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	q->connect = NULL;
	if (err) {
		/* Linux lets a socket whose connect failed try again (after a failure seen
		 * asynchronously, the first retry gets ECONNABORTED and resets the socket). */
		q->state = NAP_NEW;
		demi__task_fail(t, err);
		return;
	}
	q->state = NAP_CONNECTED;
	/* What a connected queue needs from the engine (io_uring: its receive) starts now; its
	 * failure shows on the first pop. */
	nap_of(q->base.los)->engine->watch(q->base.los, q);
	demi__task_complete(t);
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

/* Puts t at the tail of fifo with its engine's poll function; only the head touches the
 * socket, so a task that arrives first is polled at once and the others wait their turn. */
static void enqueue(struct demi__list *fifo, struct demi__task *t, demi__task_poll_fn poll)
{
	bool first = demi__list_empty(fifo);

	t->poll = poll;
	nap_task_state(t)->op = 0;
	demi__list_push_back(fifo, &t->wait_link);
	if (first)
		t->poll(t);
}

static struct nap_queue *queue_of(struct demi__queue *dq)
{
	return demi__container_of(dq, struct nap_queue, base);
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
	q = queue_create(los, fd, type);
	if (!q) {
		close(fd);
		return -ENOMEM;
	}
	if (type == SOCK_DGRAM) {
		int rc = nap_of(los)->engine->watch(los, q);
		if (rc < 0) {
			close(fd);
			queue_release(los, q);
			return rc;
		}
	}
	*q_out = &q->base;
	return 0;
}

static int nap_bind(struct demi__queue *dq, const struct sockaddr_in *addr)
{
	struct nap_queue *q = queue_of(dq);

	if (q->bound || q->state != NAP_NEW)
		return -EINVAL;
	if (bind(q->fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		return -errno;
	q->bound = true;
	return 0;
}

static int nap_listen(struct demi__queue *dq, int backlog)
{
	struct nap_queue *q = queue_of(dq);
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
	struct nap_queue *q = queue_of(dq);

	if (q->state != NAP_LISTENING)
		return -EINVAL;
	enqueue(&q->accepts, t, nap_of(dq->los)->engine->accept);
	return 0;
}

static int nap_connect(struct demi__queue *dq, struct demi__task *t, const struct sockaddr_in *to)
{
	struct nap_queue *q = queue_of(dq);
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
	/* Watching starts (or is told of the new state) after connect(2), so the next event is
	 * its outcome. */
	if ((rc = nap_of(los)->engine->watch(los, q)) < 0) {
		q->state = NAP_NEW;
		return rc;
	}
	if (q->state == NAP_CONNECTED) {
		demi__task_complete(t);
		return 0;
	}
	q->connect = t;
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
	struct nap_queue *q = queue_of(dq);
	const struct nap_engine_ops *e = nap_of(dq->los)->engine;

	if (e->unwatch)
		e->unwatch(dq->los, q);
	if (q->connect) {
		demi__task_fail(q->connect, ECANCELED);
		q->connect = NULL;
	}
	cancel_fifo(&q->accepts, false);
	cancel_fifo(&q->pops, false);
	cancel_fifo(&q->pushes, true);
	close(q->fd);
	queue_release(dq->los, q);
	return 0;
}

static int nap_push(struct demi__queue *dq, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	struct nap_queue *q = queue_of(dq);
	struct nap_task_state *ps = nap_task_state(t);
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
	ps->sent = 0;
	ps->has_to = to != NULL;
	if (to)
		ps->to = *to;
	enqueue(&q->pushes, t, nap_of(dq->los)->engine->push);
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
	struct nap_queue *q = queue_of(dq);

	if (dq->type == SOCK_STREAM) {
		if (q->state == NAP_LISTENING)
			return -EINVAL;
		if (q->state != NAP_CONNECTED)
			return -ENOTCONN;
	}
	enqueue(&q->pops, t, nap_of(dq->los)->engine->pop);
	return 0;
}

/* The options an application may set or read on dq; anything else is ENOPROTOOPT. */
static bool option_allowed(const struct demi__queue *dq, int level, int name, bool get)
{
	if (level == SOL_SOCKET)
		return name == SO_REUSEADDR || name == SO_REUSEPORT || name == SO_KEEPALIVE ||
		       name == SO_LINGER || name == SO_RCVBUF || name == SO_SNDBUF ||
		       (get && (name == SO_ERROR || name == SO_TYPE));
	if (level == IPPROTO_TCP)
		return dq->type == SOCK_STREAM && (name == TCP_NODELAY || name == TCP_KEEPIDLE ||
						   name == TCP_KEEPINTVL || name == TCP_KEEPCNT);
	return false;
}

static int nap_setsockopt(struct demi__queue *dq, int level, int name, const void *val,
			  socklen_t len)
{
	struct nap_queue *q = queue_of(dq);

	if (!option_allowed(dq, level, name, false))
		return -ENOPROTOOPT;
	return setsockopt(q->fd, level, name, val, len) < 0 ? -errno : 0;
}

static int nap_getsockopt(struct demi__queue *dq, int level, int name, void *val, socklen_t *len)
{
	struct nap_queue *q = queue_of(dq);

	if (!option_allowed(dq, level, name, true))
		return -ENOPROTOOPT;
	return getsockopt(q->fd, level, name, val, len) < 0 ? -errno : 0;
}

static int nap_getpeername(struct demi__queue *dq, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	return getpeername(queue_of(dq)->fd, (struct sockaddr *)addr, &len) < 0 ? -errno : 0;
}

static int nap_getsockname(struct demi__queue *dq, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	return getsockname(queue_of(dq)->fd, (struct sockaddr *)addr, &len) < 0 ? -errno : 0;
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

static size_t nap_stats(struct demi__libos *los, demi_stat_t *out, size_t cap)
{
	const struct nap_engine_ops *e = nap_of(los)->engine;

	return e->stats ? e->stats(los, out, cap) : 0;
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
	.stats = nap_stats,
};
