/* SPDX-License-Identifier: MIT */
/*
 * catnip's UDP queues over the stack's UDP sockets (inet/udp.c): bind (ephemeral ports),
 * connect (a default destination), push/pushto, pop with the sender, datagrams up to the MTU.
 *
 * A push completes when its frame is queued for the link, which leaves at the call's end (or,
 * while the application works through a batch, with the next TX_BATCH_MIN frames or the next
 * wait: catnip.c nip_end_call), or fails when the link refuses it or ARP gives up. To a known
 * destination (udp.c's route) the stack queues it at once and says so: the push completes
 * there and then, with no callback. Otherwise the stack calls push_sent with the push's
 * token, looked up again because a close may have ended the task meanwhile. A pop completes
 * when a datagram is queued on the socket (on_readable), in issue order, with the very buffer
 * the datagram arrived in.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "catnip.h"

static int udp_open(struct nip_queue *q, struct nip_stack *s)
{
	nip_udp_sock_init(&q->udp, s);
	return 0;
}

static int udp_bind(struct nip_queue *q, uint32_t ip, uint16_t port)
{
	return nip_udp_bind(&q->udp, ip, port);
}

static int udp_connect(struct nip_queue *q, struct demi__task *t, uint32_t ip, uint16_t port)
{
	nip_udp_connect(&q->udp, ip, port);
	demi__task_complete(t);
	return 0;
}

/* The stack tells us a datagram was queued for the link (or failed: the link refused it, ARP
 * gave up); ctx is the push's token. */
static void push_sent(void *ctx, int err)
{
	struct demi__libos *los = nip_thread_los;
	struct demi__task *t;

	if (!los || !(t = demi__task_lookup(&los->rt, (demi_qtoken_t)(uintptr_t)ctx)) ||
	    demi__task_done(t))
		return; /* cancelled by a close meanwhile */
	if (err)
		demi__task_fail(t, -err);
	else
		demi__task_complete(t);
}

/*
 * A push can go without a copy when it is one pool buffer with room for the headers in front
 * of the data, and nobody but the application and this push holds it (another push of the
 * same buffer still in flight would see its headers overwritten). Pops pushed back (echo) and
 * buffers from demi_sgaalloc qualify.
 */
static bool zero_copy_ok(const struct demi__push_req *req)
{
	const struct demi__seg *seg = &req->segs[0];
	const struct demi__buf *b = seg->buf;

	return req->nsegs == 1 && b && seg->data >= b->base + NIP_UDP_HEADROOM &&
	       b->refcnt - b->app_owned == 1;
}

/* After a send that took the frame: 1, queued: the push is done; 0, push_sent finishes it,
 * maybe already did, else it waits listed, so that a close cancels it. */
static void push_queued(struct nip_queue *q, struct demi__task *t, int rc)
{
	if (rc > 0)
		demi__task_complete(t);
	else if (!demi__task_done(t))
		demi__list_push_back(&q->pushes, &t->wait_link);
}

static int udp_push(struct nip_queue *q, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	const void *pieces[DEMI_SGARRAY_MAXSIZE];
	uint32_t lens[DEMI_SGARRAY_MAXSIZE];
	uint32_t ip;
	uint16_t port;
	int rc;

	if (to) {
		ip = to->sin_addr.s_addr;
		port = ntohs(to->sin_port);
	} else if (q->udp.connected) {
		ip = q->udp.remote_ip;
		port = q->udp.remote_port;
	} else {
		return -EDESTADDRREQ;
	}
	/* The stack refuses a datagram past the MTU (-EMSGSIZE) before it takes anything. */
	if (zero_copy_ok(req)) {
		struct demi__seg *seg = &req->segs[0];

		rc = nip_udp_send_buf(&q->udp, ip, port, seg->buf, seg->data, seg->len, push_sent,
				      (void *)(uintptr_t)demi__task_token(t));
		if (rc < 0)
			return rc;
		seg->buf = NULL; /* the push's reference went with the frame */
		req->nsegs = 0;
		push_queued(q, t, rc);
		return 0;
	}
	for (uint32_t i = 0; i < req->nsegs; i++) {
		pieces[i] = req->segs[i].data;
		lens[i] = req->segs[i].len;
	}
	rc = nip_udp_send(&q->udp, ip, port, pieces, lens, (int)req->nsegs, push_sent,
			  (void *)(uintptr_t)demi__task_token(t));
	if (rc < 0)
		return rc;
	/* The payload was copied into the frame: the application's buffers are free again. */
	demi__push_req_put(req);
	push_queued(q, t, rc);
	return 0;
}

static void deliver(struct nip_queue *q, struct demi__task *t)
{
	uint32_t ip;
	uint16_t port;
	struct demi__buf *b = nip_udp_recv(&q->udp, &ip, &port);
	struct sockaddr_in from = {.sin_family = AF_INET};

	demi__sga_from_buf(&t->result.qr_value.sga, b);
	from.sin_addr.s_addr = ip;
	from.sin_port = htons(port);
	/* The result struct is packed: copy, do not store through a misaligned pointer. */
	memcpy(&t->result.qr_value.sga.sga_addr, &from, sizeof(from));
	demi__task_complete(t);
}

/* Datagrams arrived: serve the pops in order, as many as there are datagrams. */
static void on_readable(void *ctx)
{
	struct nip_queue *q = ctx;
	struct demi__list *n;

	while ((n = demi__list_front(&q->pops)) && q->udp.rx.head)
		deliver(q, demi__container_of(n, struct demi__task, wait_link));
}

static int udp_pop(struct nip_queue *q, struct demi__task *t)
{
	int rc;

	/* Like a kernel socket that sends first: an unbound socket gets an ephemeral port, the
	 * one its pushes will come from, so that replies can arrive. */
	if (!q->udp.local_port && (rc = nip_udp_bind(&q->udp, 0, 0)) < 0)
		return rc;
	q->udp.on_readable = on_readable;
	q->udp.ctx = q;
	demi__list_push_back(&q->pops, &t->wait_link);
	on_readable(q);
	return 0;
}

static void udp_close(struct nip_queue *q)
{
	nip_cancel_all(&q->pushes);
	nip_udp_close(&q->udp);
}

static int udp_getsockopt(struct nip_queue *q, int level, int name, void *val, socklen_t *len)
{
	int v = 0;

	(void)q;
	if (level != SOL_SOCKET || name != SO_ERROR)
		return -ENOPROTOOPT;
	if (*len < (socklen_t)sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int udp_getpeername(struct nip_queue *q, struct sockaddr_in *addr)
{
	if (!q->udp.connected)
		return -ENOTCONN;
	nip_fill_addr(addr, q->udp.remote_ip, q->udp.remote_port);
	return 0;
}

static int udp_getsockname(struct nip_queue *q, struct sockaddr_in *addr)
{
	nip_fill_addr(addr, q->udp.local_ip, q->udp.local_port);
	return 0;
}

/* No listen or accept (catnip.c answers -EOPNOTSUPP) and no option to set (-ENOPROTOOPT). */
const struct nip_queue_ops nip_udp_queue_ops = {
	.open = udp_open,
	.bind = udp_bind,
	.connect = udp_connect,
	.push = udp_push,
	.pop = udp_pop,
	.close = udp_close,
	.getsockopt = udp_getsockopt,
	.getpeername = udp_getpeername,
	.getsockname = udp_getsockname,
};
