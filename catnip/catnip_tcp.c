/* SPDX-License-Identifier: MIT */
/*
 * catnip's TCP queues over the stack's connections (inet/tcp/): listen/accept, connect, push,
 * pop, close, options. The stack tells this file what changed through tcp_event, which
 * finishes the waiting tasks: connects, accepts (serve_accepts), pushes (serve_pushes) and
 * pops (serve_pops), each list in issue order.
 *
 * A push completes once its data is in the connection's send queue (which holds the pushed
 * buffers themselves until they are acknowledged: the application must not write into a
 * pushed buffer again): inside tcp_push itself when no earlier push waits and the queue has
 * room (push_take), else when room comes; it waits while the send queue is full (SO_SNDBUF).
 * A pop returns the next received segment's payload in the very buffer it arrived in; end of
 * stream is an empty array.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "catnip.h"
#include "log.h"

/* A push's state in its task: the request and how many segments the stack took. */
struct tcp_push {
	struct demi__push_req req;
	uint32_t next;
};
_Static_assert(sizeof(struct tcp_push) <= DEMI__TASK_PRIV_BYTES, "push state fits the task");

static void tcp_event(void *ctx, unsigned events);

/* At debug level, a connection that ends badly (reset, timed out, closed with data in flight
 * or unread) leaves its control block in the log: the one place to start from when one
 * connection among many stalls. */
static void log_conn(const char *why, const struct nip_tcp_conn *c)
{
	char line[512];

	if (demi__log_level < DEMI__LOG_DEBUG)
		return;
	nip_tcp_describe(c, nip_now(c->s), line, sizeof(line));
	DEMI_DEBUG("catnip: tcp %s: %s", why, line);
}

static int tcp_open(struct nip_queue *q, struct nip_stack *s)
{
	q->tcp = nip_tcp_create(s, tcp_event, q);
	if (q->tcp)
		return 0;
	/* At tcp_max_conns: the kernel's answer when its file table is full. */
	return s->cfg.tcp.max_conns && s->tcp.nconns >= s->cfg.tcp.max_conns ? -ENFILE : -ENOMEM;
}

static int tcp_bind(struct nip_queue *q, uint32_t ip, uint16_t port)
{
	return nip_tcp_bind(q->tcp, ip, port, q->reuseaddr);
}

static int tcp_listen(struct nip_queue *q, uint32_t backlog)
{
	return nip_tcp_listen(q->tcp, backlog);
}

/* Connections wait on the listener: hand them to the pending accepts, oldest first. */
static void serve_accepts(struct nip_queue *q)
{
	struct demi__libos *los = q->base.los;
	struct demi__list *n;
	struct nip_tcp_conn *c;

	while ((n = demi__list_front(&q->accepts)) && (c = nip_tcp_accept(q->tcp))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		struct nip_queue *nq = nip_queue_new(SOCK_STREAM);
		struct sockaddr_in peer;
		int rc = nq ? 0 : -ENOMEM;

		if (nq) {
			nq->base.los = los;
			nq->tcp = c;
			nip_tcp_set_cb(c, tcp_event, nq);
			rc = demi__qd_alloc(los, &nq->base);
		}
		if (rc < 0) {
			nip_tcp_close(c);
			free(nq);
			demi__task_fail(t, -rc);
			continue;
		}
		nip_fill_addr(&peer, c->remote_ip, c->remote_port);
		t->result.qr_value.ares.qd = nq->base.qd;
		memcpy(&t->result.qr_value.ares.addr, &peer, sizeof(peer));
		demi__task_complete(t);
	}
}

static int tcp_accept(struct nip_queue *q, struct demi__task *t)
{
	if (q->tcp->state != NIP_TCP_LISTEN)
		return -EINVAL;
	demi__list_push_back(&q->accepts, &t->wait_link);
	serve_accepts(q);
	return 0;
}

/* Fails a push, dropping the references to the segments the stack did not take. */
static void push_fail(struct demi__task *t, int err)
{
	struct tcp_push *p = (struct tcp_push *)t->priv.u64;

	for (uint32_t i = p->next; i < p->req.nsegs; i++)
		if (p->req.segs[i].buf)
			demi__buf_put(p->req.segs[i].buf);
	p->req.nsegs = 0;
	demi__task_fail(t, err);
}

/* Moves push t's data into the send queue while it has room. Returns whether t is finished
 * (completed, or failed); false: it waits for room. */
static bool push_take(struct nip_queue *q, struct demi__task *t)
{
	struct tcp_push *p = (struct tcp_push *)t->priv.u64;

	while (p->next < p->req.nsegs) {
		struct demi__seg *seg = &p->req.segs[p->next];
		int rc = nip_tcp_send(q->tcp, seg->buf, seg->data, seg->len);

		if (rc == -EAGAIN)
			return false;
		if (rc < 0) {
			push_fail(t, -rc);
			return true;
		}
		seg->buf = NULL; /* the send queue holds it now */
		p->next++;
	}
	p->req.nsegs = 0;
	demi__task_complete(t);
	return true;
}

/* Moves pushed data into the send queue, oldest push first, while it has room. */
static void serve_pushes(struct nip_queue *q)
{
	struct demi__list *n;

	while ((n = demi__list_front(&q->pushes)))
		if (!push_take(q, demi__container_of(n, struct demi__task, wait_link)))
			return;
}

static void serve_pops(struct nip_queue *q)
{
	struct demi__list *n;

	while ((n = demi__list_front(&q->pops))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		demi_sgarray_t *sga = &t->result.qr_value.sga;
		int st;
		struct demi__buf *b = nip_tcp_recv(q->tcp, &st);

		if (b) {
			demi__sga_from_buf(sga, b);
		} else if (st == 1) {
			memset(sga, 0, sizeof(*sga)); /* end of stream: an empty array */
			sga->sga_numsegs = 1;
		} else if (st < 0) {
			demi__task_fail(t, -st);
			continue;
		} else {
			return;
		}
		demi__task_complete(t);
	}
}

static void fail_pushes(struct demi__list *l, int err)
{
	struct demi__list *n;

	while ((n = demi__list_front(l)))
		push_fail(demi__container_of(n, struct demi__task, wait_link), err);
}

static void fail_all(struct demi__list *l, int err)
{
	struct demi__list *n;

	while ((n = demi__list_front(l)))
		demi__task_fail(demi__container_of(n, struct demi__task, wait_link), err);
}

static void tcp_event(void *ctx, unsigned events)
{
	struct nip_queue *q = ctx;
	struct nip_tcp_conn *c = q->tcp;

	if (events & NIP_TCP_EV_CONNECTED) {
		struct demi__list *n;

		while ((n = demi__list_front(&q->connects)))
			demi__task_complete(demi__container_of(n, struct demi__task, wait_link));
	}
	if (events & NIP_TCP_EV_ACCEPTABLE)
		serve_accepts(q);
	if (c->err) {
		if (!q->err_logged) {
			q->err_logged = true;
			log_conn("connection failed", c);
		}
		fail_all(&q->connects, c->err);
		fail_pushes(&q->pushes, c->err);
	}
	if (events & NIP_TCP_EV_WRITABLE)
		serve_pushes(q);
	if (events & NIP_TCP_EV_READABLE)
		serve_pops(q);
}

static int tcp_connect(struct nip_queue *q, struct demi__task *t, uint32_t ip, uint16_t port)
{
	int rc;

	if ((rc = nip_tcp_connect(q->tcp, ip, port)) < 0)
		return rc;
	demi__list_push_back(&q->connects, &t->wait_link);
	return 0;
}

static int tcp_push(struct nip_queue *q, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	struct tcp_push *p = (struct tcp_push *)t->priv.u64;
	struct nip_tcp_conn *c = q->tcp;
	bool first;

	(void)to; /* a connection has one destination */
	if (c->err)
		return -c->err;
	if (c->fin_queued)
		return -EPIPE;
	if (c->state != NIP_TCP_ESTABLISHED && c->state != NIP_TCP_CLOSE_WAIT)
		return -ENOTCONN;
	/* Foreign memory is copied now: the application may reuse it once push returns. */
	if (demi__push_req_own(&q->base.los->pool, req, 0) < 0)
		return -ENOMEM;
	/* A received buffer pushed back (an echo) must not keep the device's receive buffer
	 * while the push waits for room when the device runs short of them (tcp_mem.c). */
	if (c->s->tcp.mem_level != NIP_TCP_MEM_OK)
		for (uint32_t i = 0; i < req->nsegs; i++)
			nip_tcp_push_unpin(c->s, &req->segs[i].buf, &req->segs[i].data,
					   req->segs[i].len);
	p->req = *req;
	p->next = 0;
	/* With no push before it (the usual case) it goes to the send queue at once, and waits
	 * on the list only for what finds no room; behind others, it waits its turn (and they
	 * may find room now: a larger SO_SNDBUF). */
	first = demi__list_empty(&q->pushes);
	if (first && push_take(q, t))
		return 0;
	demi__list_push_back(&q->pushes, &t->wait_link);
	if (!first)
		serve_pushes(q);
	return 0;
}

static int tcp_pop(struct nip_queue *q, struct demi__task *t)
{
	if (q->tcp->state == NIP_TCP_LISTEN ||
	    (q->tcp->state == NIP_TCP_CLOSED && !q->tcp->err && !q->tcp->fin_rcvd))
		return -ENOTCONN;
	demi__list_push_back(&q->pops, &t->wait_link);
	serve_pops(q);
	return 0;
}

static void tcp_close(struct nip_queue *q)
{
	fail_pushes(&q->pushes, ECANCELED);
	nip_cancel_all(&q->accepts);
	nip_cancel_all(&q->connects);
	if (q->tcp->state >= NIP_TCP_ESTABLISHED &&
	    (q->tcp->rq.head || q->tcp->reass.head || q->tcp->snd_una != q->tcp->snd_max))
		log_conn("closed with data unread or in flight", q->tcp);
	nip_tcp_close(q->tcp);
}

static int tcp_setsockopt(struct nip_queue *q, int level, int name, const void *val, socklen_t len)
{
	if (level == SOL_SOCKET && name == SO_REUSEADDR) {
		int v;

		if (len < sizeof(v))
			return -EINVAL;
		memcpy(&v, val, sizeof(v));
		q->reuseaddr = v != 0;
		return 0;
	}
	return nip_tcp_setsockopt(q->tcp, level, name, val, len);
}

static int tcp_getsockopt(struct nip_queue *q, int level, int name, void *val, socklen_t *len)
{
	uint32_t l = *len;
	int rc = nip_tcp_getsockopt(q->tcp, level, name, val, &l);

	*len = l;
	return rc;
}

static int tcp_getpeername(struct nip_queue *q, struct sockaddr_in *addr)
{
	if (q->tcp->state == NIP_TCP_CLOSED || q->tcp->state == NIP_TCP_LISTEN ||
	    q->tcp->state == NIP_TCP_SYN_SENT)
		return -ENOTCONN;
	nip_fill_addr(addr, q->tcp->remote_ip, q->tcp->remote_port);
	return 0;
}

static int tcp_getsockname(struct nip_queue *q, struct sockaddr_in *addr)
{
	nip_fill_addr(addr, q->tcp->local_ip, q->tcp->local_port);
	return 0;
}

const struct nip_queue_ops nip_tcp_queue_ops = {
	.open = tcp_open,
	.bind = tcp_bind,
	.listen = tcp_listen,
	.accept = tcp_accept,
	.connect = tcp_connect,
	.push = tcp_push,
	.pop = tcp_pop,
	.close = tcp_close,
	.setsockopt = tcp_setsockopt,
	.getsockopt = tcp_getsockopt,
	.getpeername = tcp_getpeername,
	.getsockname = tcp_getsockname,
};
