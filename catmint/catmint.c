/* SPDX-License-Identifier: MIT */
/*
 * catmint's demi_* operations (lib/libos.h): configuration, queue life cycle, options and the
 * idle wait. The device is in dev.c, connections in cm.c, the datapath in xfer.c; catmint.h
 * gives the whole picture.
 *
 * Semantics, where they differ from catnap's TCP: SOCK_STREAM only (SOCK_DGRAM: ENOTSUP);
 * message semantics (a pop returns exactly one pushed message); a disconnect fails pending
 * and later pushes with ECONNRESET, and pops with ECONNRESET once the messages that had
 * arrived are popped (there is no 0-byte end of stream); socket options are accepted and
 * ignored where they mean nothing on RDMA (TCP_NODELAY, buffer sizes, SO_REUSEADDR).
 *
 * Configuration keys (environment: upper case, dots as underscores):
 *   catmint.device         RDMA device name (default: the first one)
 *   catmint.rq_depth       receive buffers per connection = the peer's credits (64)
 *   catmint.sq_depth       send work requests in flight per connection (128)
 *   catmint.recv_buf_bytes bytes per receive buffer: larger messages are fragmented (8000)
 *   catmint.max_inline     inline data asked of the device (128)
 *   catmint.rnr_retry      RNR retries, 7 = forever (7); flow control makes RNR impossible
 *   catmint.timeout_ms     address and route resolution timeout (2000)
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "catmint.h"

static int load_config(struct demi__libos *los, struct mint_config *c, const char **device)
{
	struct demi__config *cfg = &los->cfg;
	uint64_t rq, sq, rb, inl, rnr, to;
	int rc;

	if ((rc = demi__config_get_str(cfg, "catmint.device", NULL, device)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catmint.rq_depth", 64, MINT_DEPTH_MIN, 4096, &rq)) <
		    0 ||
	    (rc = demi__config_get_u64(cfg, "catmint.sq_depth", 128, 4, 16384, &sq)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catmint.recv_buf_bytes", 8192 - DEMI__BUF_HEADROOM,
				       MINT_FRAG_MIN, (4u << 20) - DEMI__BUF_HEADROOM, &rb)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catmint.max_inline", 128, 0, 1024, &inl)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catmint.rnr_retry", 7, 0, 7, &rnr)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catmint.timeout_ms", 2000, 1, 600000, &to)) < 0)
		return rc;
	c->rq_depth = (uint32_t)rq;
	c->sq_depth = (uint32_t)sq;
	c->recv_bytes = (uint32_t)rb;
	c->max_inline = (uint32_t)inl;
	c->rnr_retry = (uint32_t)rnr;
	c->timeout_ms = (uint32_t)to;
	return 0;
}

static int mint_init(struct demi__libos *los)
{
	struct mint_libos *m = calloc(1, sizeof(*m));
	const char *device;
	int rc;

	if (!m)
		return -ENOMEM;
	m->los = los;
	los->priv = m;
	demi__list_init(&m->refill);
	if ((rc = load_config(los, &m->cfg, &device)) < 0 || (rc = mint_dev_open(m, device)) < 0) {
		free(m);
		los->priv = NULL;
		return rc;
	}
	demi__bg_add(&los->rt, &m->poller, mint_poll, m);
	DEMI_INFO("catmint: rq_depth %u sq_depth %u recv_buf_bytes %u busy_poll %s",
		  m->cfg.rq_depth, m->cfg.sq_depth, m->cfg.recv_bytes,
		  los->busy_poll ? "on" : "off");
	return 0;
}

static void mint_fini(struct demi__libos *los)
{
	struct mint_libos *m = mint_of(los);
	const struct mint_stats *s = &m->st;

	DEMI_INFO(
		"catmint: sends %llu (inline %llu, signaled %llu) in %llu post calls; recvs %llu, "
		"messages %llu (reassembled %llu); stale completions %llu; cm events %llu; "
		"sleeps %llu",
		(unsigned long long)s->sends, (unsigned long long)s->inline_sends,
		(unsigned long long)s->signaled, (unsigned long long)s->post_calls,
		(unsigned long long)s->recvs, (unsigned long long)s->msgs_rx,
		(unsigned long long)s->reassembled, (unsigned long long)s->stale_wc,
		(unsigned long long)s->cm_events, (unsigned long long)s->cq_sleeps);
	demi__bg_remove(&m->poller);
	/* Completions of the queues just closed must not reach freed queues: drop them. */
	mint_cq_poll(m);
	mint_dev_close(m);
	free(m);
	los->priv = NULL;
}

struct mint_queue *mint_queue_new(struct mint_libos *m, int type)
{
	struct mint_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->m = m;
	q->base.los = m->los;
	q->base.qd = -1;
	q->base.type = type;
	q->gen = ++m->gen;
	demi__list_init(&q->accepts);
	demi__list_init(&q->children);
	demi__list_init(&q->child_link);
	demi__list_init(&q->pops);
	demi__list_init(&q->pushes);
	demi__list_init(&q->inflight);
	demi__list_init(&q->refill_link);
	return q;
}

void mint_queue_free(struct mint_queue *q)
{
	if (q->parent) {
		demi__list_remove(&q->child_link);
		q->parent->nchildren--;
		q->parent = NULL;
	}
	mint_cm_wait(q, false);
	mint_qp_destroy(q);
	if (q->id)
		rdma_destroy_id(q->id);
	free(q);
}

static struct mint_queue *queue_of(struct demi__queue *dq)
{
	return (struct mint_queue *)dq;
}

static int mint_socket(struct demi__libos *los, int domain, int type, int protocol,
		       struct demi__queue **q_out)
{
	struct mint_libos *m = mint_of(los);
	struct mint_queue *q;

	(void)domain;
	(void)protocol;
	if (type != SOCK_STREAM) {
		DEMI_WARN("catmint: only SOCK_STREAM queues (RDMA reliable connections)");
		return -ENOTSUP;
	}
	if (!(q = mint_queue_new(m, type)))
		return -ENOMEM;
	if (rdma_create_id(m->cm_ch, &q->id, q, RDMA_PS_TCP) != 0) {
		int rc = errno ? -errno : -ENOMEM;
		free(q);
		return rc;
	}
	*q_out = &q->base;
	return 0;
}

static int mint_bind(struct demi__queue *dq, const struct sockaddr_in *addr)
{
	struct mint_queue *q = queue_of(dq);

	if (q->bound || q->state != MINT_NEW || !q->id)
		return -EINVAL;
	if (rdma_bind_addr(q->id, (struct sockaddr *)(uintptr_t)addr) != 0)
		return errno ? -errno : -EADDRNOTAVAIL;
	q->bound = true;
	return 0;
}

static int mint_listen(struct demi__queue *dq, int backlog)
{
	struct mint_queue *q = queue_of(dq);

	if (q->state != MINT_NEW)
		return -EINVAL;
	if (!q->bound)
		return -EDESTADDRREQ;
	if (rdma_listen(q->id, backlog) != 0)
		return errno ? -errno : -EINVAL;
	q->state = MINT_LISTENING;
	q->backlog = backlog;
	return 0;
}

static int mint_accept(struct demi__queue *dq, struct demi__task *t)
{
	struct mint_queue *q = queue_of(dq);

	if (q->state != MINT_LISTENING)
		return -EINVAL;
	demi__list_push_back(&q->accepts, &t->wait_link);
	mint_serve_accepts(q);
	return 0;
}

static int mint_connect(struct demi__queue *dq, struct demi__task *t, const struct sockaddr_in *to)
{
	return mint_cm_connect(queue_of(dq), t, to);
}

static int mint_push_op(struct demi__queue *dq, struct demi__task *t, struct demi__push_req *req,
			const struct sockaddr_in *to)
{
	(void)to; /* pushto on a connected queue ignores the address */
	return mint_push(queue_of(dq), t, req);
}

static int mint_pop_op(struct demi__queue *dq, struct demi__task *t)
{
	return mint_pop(queue_of(dq), t);
}

static void cancel(struct demi__list *l)
{
	struct demi__list *n;

	while ((n = demi__list_front(l)))
		demi__task_fail(demi__container_of(n, struct demi__task, wait_link), ECANCELED);
}

static int mint_close(struct demi__queue *dq)
{
	struct mint_queue *q = queue_of(dq);
	struct demi__list *n;

	if (q->connect) {
		demi__task_fail(q->connect, ECANCELED);
		q->connect = NULL;
	}
	cancel(&q->accepts);
	mint_fail_ops(q, ECANCELED, true);
	/* Connections the application never accepted go with their listener. */
	while ((n = demi__list_front(&q->children)))
		mint_queue_free(demi__container_of(n, struct mint_queue, child_link));
	if (q->state == MINT_CONNECTED)
		rdma_disconnect(q->id); /* the peer hears DISCONNECTED at once */
	mint_queue_free(q);
	return 0;
}

/* Options that make sense for a TCP socket but not for an RDMA connection are accepted and
 * ignored, so that applications written for TCP run unchanged. */
static bool option_ignored(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == SO_REUSEADDR || name == SO_REUSEPORT || name == SO_KEEPALIVE ||
		       name == SO_RCVBUF || name == SO_SNDBUF;
	return level == IPPROTO_TCP && name == TCP_NODELAY;
}

static int mint_setsockopt(struct demi__queue *dq, int level, int name, const void *val,
			   socklen_t len)
{
	(void)dq;
	(void)val;
	(void)len;
	return option_ignored(level, name) ? 0 : -ENOPROTOOPT;
}

static int mint_getsockopt(struct demi__queue *dq, int level, int name, void *val, socklen_t *len)
{
	struct mint_queue *q = queue_of(dq);
	int v;

	if (level == SOL_SOCKET && name == SO_TYPE)
		v = dq->type;
	else if (level == SOL_SOCKET && name == SO_ERROR)
		v = q->state == MINT_DOWN ? q->err : 0;
	else if (level == IPPROTO_TCP && name == TCP_NODELAY)
		v = 1; /* every push is sent at once */
	else
		return -ENOPROTOOPT;
	if (*len < (socklen_t)sizeof(v))
		return -EINVAL;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int mint_getpeername(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct mint_queue *q = queue_of(dq);

	if (q->state != MINT_CONNECTED && q->state != MINT_DOWN)
		return -ENOTCONN;
	*addr = q->peer;
	return 0;
}

static int mint_getsockname(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct mint_queue *q = queue_of(dq);
	const struct sockaddr *sa = q->id ? rdma_get_local_addr(q->id) : NULL;

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	if (sa && sa->sa_family == AF_INET)
		memcpy(addr, sa, sizeof(*addr));
	return 0;
}

static int mint_poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	struct mint_libos *m = mint_of(los);
	int n;

	/* The scheduler pass just before this call polled the device, and the pass right after
	 * will: a zero timeout (busy polling) has nothing to add, and keeping the loop short is
	 * what makes a busy poll notice a completion early. */
	if (timeout_ns == 0)
		return 0;
	if ((n = mint_cq_poll(m)) > 0)
		return n;
	/* Idle: sleep on the completion channel and the rdma_cm channel; the next scheduler
	 * pass handles what woke us. */
	mint_sleep(m, timeout_ns);
	return 0;
}

static uint64_t mint_bufs_cached(struct demi__libos *los)
{
	return mint_of(los)->bufs_posted;
}

/* The counters the exit log prints, for demi_stats too (catmint.<field>; docs/counters.md). */
#define MSTAT(f) DEMI__STAT_FIELD("catmint.", struct mint_stats, f)
static const struct demi__stat_field mint_stat_fields[] = {
	MSTAT(sends),	  MSTAT(inline_sends), MSTAT(signaled), MSTAT(recvs),
	MSTAT(msgs_rx),	  MSTAT(reassembled),  MSTAT(stale_wc), MSTAT(post_calls),
	MSTAT(cm_events), MSTAT(cq_sleeps),
};
DEMI__STAT_TABLE_COVERS(mint_stat_fields, struct mint_stats);

static size_t mint_stats(struct demi__libos *los, demi_stat_t *out, size_t cap)
{
	return DEMI__STATS_FROM(mint_stat_fields, &mint_of(los)->st, out, cap, 0);
}

const struct demi__libos_ops mint_libos_ops = {
	.name = "catmint",
	.init = mint_init,
	.fini = mint_fini,
	.socket = mint_socket,
	.bind = mint_bind,
	.listen = mint_listen,
	.accept = mint_accept,
	.connect = mint_connect,
	.push = mint_push_op,
	.pop = mint_pop_op,
	.close = mint_close,
	.setsockopt = mint_setsockopt,
	.getsockopt = mint_getsockopt,
	.getpeername = mint_getpeername,
	.getsockname = mint_getsockname,
	.poll_io = mint_poll_io,
	.poll_io_only_sleeps = true,
	.bufs_cached = mint_bufs_cached,
	.stats = mint_stats,
};
