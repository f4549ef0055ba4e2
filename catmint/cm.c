/* SPDX-License-Identifier: MIT */
/*
 * catmint's connection management on rdma_cm, without ever blocking: every rdma_cm call here
 * returns at once and its outcome arrives as an event on the libOS's own event channel (its fd
 * is non-blocking), read by the background task (dev.c: mint_poll) and dispatched below.
 *
 * Active side (demi_connect):
 *   rdma_resolve_addr -> ADDR_RESOLVED -> rdma_resolve_route -> ROUTE_RESOLVED -> QP created,
 *   receives posted -> rdma_connect (our hello in the private data) -> ESTABLISHED (the peer's
 *   hello in the reply) -> the connect token completes.
 *   ADDR_ERROR, ROUTE_ERROR, UNREACHABLE, REJECTED (nobody listens: ECONNREFUSED) and
 *   CONNECT_ERROR fail the token with an errno; the queue gets a fresh cm id and may connect
 *   again.
 * Passive side (demi_listen, demi_accept): every CONNECT_REQUEST is answered at once, like a
 *   kernel's SYN queue, up to the listen backlog: a child queue with its QP and receives, then
 *   rdma_accept with our hello; ESTABLISHED makes it ready, and ready children go to accept
 *   tokens in arrival order (a qd is assigned then). Requests beyond the backlog, from a peer
 *   that sends no valid hello, or on another device than ours are rejected.
 * Either side: DISCONNECTED (the peer closed or died) takes the connection down
 *   (mint_conn_down): our side disconnects too (the QP goes to the error state and flushes its
 *   receives), pending and later pushes fail with ECONNRESET, pops get the messages that had
 *   arrived and then ECONNRESET.
 *
 * Every event is copied and acknowledged before it is handled: rdma_destroy_id waits for the
 * acknowledgement of its id's events, and handling may destroy the id.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "catmint.h"

/* An rdma_cm event, copied so that it can be acknowledged before it is handled. */
struct cm_event {
	enum rdma_cm_event_type type;
	int status;
	struct rdma_cm_id *id;
	struct rdma_cm_id *listen_id;
	uint8_t priv[MINT_HELLO_BYTES];
	uint8_t priv_len;
};

void mint_cm_wait(struct mint_queue *q, bool waiting)
{
	if (q->cm_wait == waiting)
		return;
	q->cm_wait = waiting;
	if (waiting)
		q->m->cm_busy++;
	else
		q->m->cm_busy--;
}

static void conn_param(struct mint_queue *q, struct rdma_conn_param *p, uint8_t *hello)
{
	struct mint_hello h;

	mint_hello_of(q, &h);
	mint_hello_emit(hello, MINT_HELLO_BYTES, &h);
	memset(p, 0, sizeof(*p));
	p->private_data = hello;
	p->private_data_len = MINT_HELLO_BYTES;
	p->flow_control = 1;
	p->retry_count = 7;
	p->rnr_retry_count = (uint8_t)q->m->cfg.rnr_retry;
}

static void peer_addr(struct mint_queue *q)
{
	const struct sockaddr *sa = rdma_get_peer_addr(q->id);

	memset(&q->peer, 0, sizeof(q->peer));
	q->peer.sin_family = AF_INET;
	if (sa && sa->sa_family == AF_INET)
		memcpy(&q->peer, sa, sizeof(q->peer));
}

/* The errno of a failed handshake event. */
static int event_errno(const struct cm_event *e)
{
	switch (e->type) {
	case RDMA_CM_EVENT_REJECTED:
		return ECONNREFUSED; /* status is the CM's reject reason, not an errno */
	case RDMA_CM_EVENT_ADDR_ERROR:
		return e->status < 0 ? -e->status : EHOSTUNREACH;
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return e->status < 0 ? -e->status : ENETUNREACH;
	case RDMA_CM_EVENT_UNREACHABLE:
		return e->status < 0 ? -e->status : ETIMEDOUT;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return ENODEV;
	default:
		return e->status < 0 ? -e->status : ECONNABORTED;
	}
}

/*
 * A connect failed: its token gets err and the queue starts over (new cm id, not bound), as a
 * socket may connect again after a refused connect.
 */
static void connect_failed(struct mint_queue *q, int err)
{
	struct mint_libos *m = q->m;

	DEMI_DEBUG("catmint: connect qd %d failed: %s", q->base.qd, strerror(err));
	mint_cm_wait(q, false);
	if (q->connect) {
		demi__task_fail(q->connect, err);
		q->connect = NULL;
	}
	mint_qp_destroy(q);
	rdma_destroy_id(q->id);
	q->id = NULL;
	q->bound = false;
	q->state = MINT_NEW;
	if (rdma_create_id(m->cm_ch, &q->id, q, RDMA_PS_TCP) != 0) {
		q->id = NULL;
		q->state = MINT_DOWN;
		q->err = errno ? errno : ENOMEM;
	}
}

int mint_cm_connect(struct mint_queue *q, struct demi__task *t, const struct sockaddr_in *to)
{
	switch (q->state) {
	case MINT_CONNECTED:
	case MINT_DOWN:
		return -EISCONN;
	case MINT_RESOLVING:
	case MINT_CONNECTING:
		return -EALREADY;
	case MINT_NEW:
		break;
	default:
		return -EINVAL;
	}
	if (!q->id)
		return -EBADF;
	q->peer = *to;
	if (rdma_resolve_addr(q->id, NULL, (struct sockaddr *)(uintptr_t)to,
			      (int)q->m->cfg.timeout_ms) != 0) {
		/* No route, no RDMA device for the address...: the error arrives on the token. */
		demi__task_fail(t, errno ? errno : EHOSTUNREACH);
		return 0;
	}
	q->connect = t;
	q->state = MINT_RESOLVING;
	mint_cm_wait(q, true);
	return 0;
}

void mint_conn_down(struct mint_queue *q, int err)
{
	if (q->state == MINT_DOWN)
		return;
	DEMI_DEBUG("catmint: connection qd %d down: %s", q->base.qd, strerror(err));
	/* Moves the QP to the error state: posted receives come back flushed. */
	if (q->id && q->state != MINT_NEW && q->state != MINT_LISTENING)
		rdma_disconnect(q->id);
	q->state = MINT_DOWN;
	q->err = err;
	mint_cm_wait(q, false);
	if (q->connect) {
		demi__task_fail(q->connect, err);
		q->connect = NULL;
	}
	mint_fail_ops(q, err, false);
}

void mint_serve_accepts(struct mint_queue *lq)
{
	struct demi__libos *los = lq->m->los;
	struct demi__list *n, *next;

	for (n = lq->children.next; n != &lq->children && !demi__list_empty(&lq->accepts);
	     n = next) {
		struct mint_queue *c = demi__container_of(n, struct mint_queue, child_link);
		struct demi__task *t;
		int rc;

		next = n->next;
		if (c->state != MINT_CONNECTED)
			continue;
		t = demi__container_of(lq->accepts.next, struct demi__task, wait_link);
		demi__list_remove(&c->child_link);
		lq->nchildren--;
		c->parent = NULL;
		if ((rc = demi__qd_alloc(los, &c->base)) < 0) {
			demi__task_fail(t, -rc);
			mint_queue_free(c);
			continue;
		}
		t->result.qr_value.ares.qd = c->base.qd;
		memcpy(&t->result.qr_value.ares.addr, &c->peer, sizeof(c->peer));
		demi__task_complete(t);
	}
}

static void reject(struct rdma_cm_id *id, const char *why)
{
	DEMI_INFO("catmint: connection request rejected: %s", why);
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void on_connect_request(struct mint_libos *m, const struct cm_event *e)
{
	struct mint_queue *lq = e->listen_id ? e->listen_id->context : NULL;
	struct rdma_conn_param param;
	uint8_t hello_buf[MINT_HELLO_BYTES];
	struct mint_hello peer;
	struct mint_queue *c;

	if (!lq || lq->state != MINT_LISTENING) {
		reject(e->id, "not listening");
		return;
	}
	if ((int)lq->nchildren >= lq->backlog) {
		reject(e->id, "listen backlog full");
		return;
	}
	if (mint_hello_parse(e->priv, e->priv_len, &peer) < 0) {
		reject(e->id, "the peer is not catmint (no valid hello)");
		return;
	}
	if (e->id->verbs != m->ctx) {
		reject(e->id, "request arrived on another RDMA device than catmint's");
		return;
	}
	if (!(c = mint_queue_new(m, SOCK_STREAM))) {
		reject(e->id, "out of memory");
		return;
	}
	c->id = e->id;
	c->id->context = c; /* it inherited the listener's */
	c->parent = lq;
	demi__list_push_back(&lq->children, &c->child_link);
	lq->nchildren++;
	peer_addr(c);
	if (mint_qp_create(c) < 0) {
		rdma_reject(c->id, NULL, 0);
		mint_queue_free(c);
		return;
	}
	/* The requester posted its receives before asking: credits start now. */
	mint_xfer_start(c, &peer);
	conn_param(c, &param, hello_buf);
	if (rdma_accept(c->id, &param) != 0) {
		DEMI_WARN("catmint: rdma_accept: %s", strerror(errno));
		mint_queue_free(c);
		return;
	}
	c->state = MINT_ACCEPTING;
	mint_cm_wait(c, true);
}

static void on_route_resolved(struct mint_queue *q)
{
	struct rdma_conn_param param;
	uint8_t hello_buf[MINT_HELLO_BYTES];
	int rc;

	if (q->id->verbs != q->m->ctx) {
		DEMI_WARN("catmint: %s is reached through another RDMA device than catmint's "
			  "(catmint.device)",
			  inet_ntoa(q->peer.sin_addr));
		connect_failed(q, ENODEV);
		return;
	}
	if ((rc = mint_qp_create(q)) < 0) {
		connect_failed(q, -rc);
		return;
	}
	conn_param(q, &param, hello_buf);
	if (rdma_connect(q->id, &param) != 0) {
		connect_failed(q, errno ? errno : ECONNABORTED);
		return;
	}
	q->state = MINT_CONNECTING;
}

static void on_established(struct mint_queue *q, const struct cm_event *e)
{
	struct mint_hello peer;

	mint_cm_wait(q, false);
	if (q->state == MINT_ACCEPTING) {
		q->state = MINT_CONNECTED;
		if (q->parent)
			mint_serve_accepts(q->parent);
		return;
	}
	if (q->state != MINT_CONNECTING)
		return;
	if (mint_hello_parse(e->priv, e->priv_len, &peer) < 0) {
		DEMI_WARN("catmint: the peer's reply has no valid hello (not catmint?)");
		mint_conn_down(q, EPROTO);
		return;
	}
	peer_addr(q);
	mint_xfer_start(q, &peer);
	q->state = MINT_CONNECTED;
	demi__task_complete(q->connect);
	q->connect = NULL;
}

static void dispatch(struct mint_libos *m, const struct cm_event *e)
{
	struct mint_queue *q;
	int rc;

	m->st.cm_events++;
	DEMI_TRACE("catmint: rdma_cm %s status %d", rdma_event_str(e->type), e->status);
	if (e->type == RDMA_CM_EVENT_CONNECT_REQUEST) {
		on_connect_request(m, e);
		return;
	}
	q = e->id ? e->id->context : NULL;
	if (!q)
		return;
	switch (e->type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (q->state != MINT_RESOLVING)
			break;
		if (rdma_resolve_route(q->id, (int)m->cfg.timeout_ms) != 0)
			connect_failed(q, errno ? errno : ENETUNREACH);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		if (q->state == MINT_RESOLVING)
			on_route_resolved(q);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		on_established(q, e);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		rc = event_errno(e);
		if (q->parent) {
			/* Not accepted yet: the application never hears of it. */
			mint_queue_free(q);
		} else if (q->state == MINT_RESOLVING || q->state == MINT_CONNECTING) {
			connect_failed(q, rc);
		} else if (q->state == MINT_CONNECTED) {
			mint_conn_down(q, e->type == RDMA_CM_EVENT_DISCONNECTED ? ECONNRESET : rc);
		}
		break;
	default: /* TIMEWAIT_EXIT, ADDR_CHANGE, ...: nothing to do */
		break;
	}
}

int mint_cm_poll(struct mint_libos *m)
{
	struct rdma_cm_event *ev;
	struct cm_event e;
	int n = 0;

	while (rdma_get_cm_event(m->cm_ch, &ev) == 0) {
		e.type = ev->event;
		e.status = ev->status;
		e.id = ev->id;
		e.listen_id = ev->listen_id;
		e.priv_len = 0;
		if (ev->param.conn.private_data) {
			e.priv_len = ev->param.conn.private_data_len < sizeof(e.priv)
					     ? ev->param.conn.private_data_len
					     : (uint8_t)sizeof(e.priv);
			memcpy(e.priv, ev->param.conn.private_data, e.priv_len);
		}
		rdma_ack_cm_event(ev);
		dispatch(m, &e);
		n++;
	}
	return n;
}
