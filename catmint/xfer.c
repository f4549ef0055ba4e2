/* SPDX-License-Identifier: MIT */
/*
 * catmint's datapath on one RC queue pair: two-sided SEND/RECV, one message per push and pop,
 * credit-based flow control (credit.h), fragments for messages larger than a receive buffer
 * (frame.h).
 *
 * Receive side. The receive queue is a ring of rq_depth pool buffers of recv_bytes each,
 * posted in order and completed in order (wr_id carries the slot, which is checked). A whole
 * message (kind MSG) is handed to the pop in the buffer the device wrote, with no copy; the
 * ring gets a fresh pool buffer and the peer a credit only once the message is popped (at the
 * start of the next scheduler pass, mint_refill: off the path from a received message to the
 * reply the application pushes). Fragments are copied into one reassembly buffer and their
 * receive buffer is reposted at once (credit returned), except the last one's, which waits
 * for the pop: so a connection never holds more unpopped messages than its receive depth, and
 * the sender of a slow receiver waits. When the pool is out of memory, the receives not
 * reposted are retried by the background task (and their credits wait with them).
 *
 * Send side. Pushes are posted in issue order, fragment by fragment, while there are credits
 * and send-queue room, chained up to MINT_POST_BATCH per ibv_post_send. A message of one
 * fragment no larger than the QP's max_inline goes inline (the device copies it at post time:
 * no registration, any memory); other pushes of non-pool memory are first copied into the
 * pool (registered). Only a message's last WR is signaled (and one WR in sq_depth / 2, to
 * reclaim send-queue room): a push completes on the completion of its last WR, which on an RC
 * QP means the peer acknowledged it, and every earlier WR with it.
 *
 * Call order: mint_qp_create (ring posted) -> mint_xfer_start (credits from the peer's hello)
 * -> mint_push / mint_pop / mint_wc_handle (from dev.c) -> mint_qp_destroy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catmint.h"

static struct demi__pool *pool_of(struct mint_queue *q)
{
	return &q->m->los->pool;
}

void mint_hello_of(const struct mint_queue *q, struct mint_hello *h)
{
	h->credits = q->m->cfg.rq_depth;
	h->frag_bytes = q->m->cfg.recv_bytes;
}

void mint_xfer_start(struct mint_queue *q, const struct mint_hello *peer)
{
	mint_credit_init(&q->cr, peer->credits, q->rq_depth);
	q->peer_frag = peer->frag_bytes;
}

/* ---- receive ring ---- */

/* Posts b (NULL: a fresh pool buffer) at the tail of the ring. 0, -ENOMEM or -errno. */
static int post_recv(struct mint_queue *q, struct demi__buf *b)
{
	uint32_t slot = (q->rq_head + q->rq_count) % q->rq_depth;
	struct ibv_recv_wr wr, *bad;
	struct ibv_sge sge;
	int rc;

	if (!b && !(b = demi__pool_get(pool_of(q), q->m->cfg.recv_bytes)))
		return -ENOMEM;
	b->off = DEMI__BUF_HEADROOM;
	b->len = 0;
	sge.addr = (uintptr_t)demi__buf_data(b);
	sge.length = q->m->cfg.recv_bytes;
	sge.lkey = mint_lkey(b);
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = mint_wr_id(q, true, slot);
	wr.sg_list = &sge;
	wr.num_sge = 1;
	if ((rc = ibv_post_recv(q->qp, &wr, &bad)) != 0) {
		demi__buf_put(b);
		return -rc;
	}
	q->rq[slot] = b;
	q->rq_count++;
	q->m->bufs_posted++;
	return 0;
}

static void send_credit(struct mint_queue *q);

/* Posts b (NULL: a spare or fresh buffer) for the receive of a consumed message and owes the
 * peer its credit; when that cannot be done now, mint_refill does it later. ctl: the message
 * was credit-only. */
static void repost_as(struct mint_queue *q, struct demi__buf *b, bool ctl)
{
	int rc;

	if (!q->qp || q->state == MINT_DOWN) {
		if (b)
			demi__buf_put(b);
		return;
	}
	rc = post_recv(q, b);
	if (rc == -ENOMEM) {
		/* The pool is empty: the background task tries again; the peer waits. */
		if (!q->rq_missing++)
			demi__list_push_back(&q->m->refill, &q->refill_link);
		return;
	}
	if (rc < 0) {
		DEMI_WARN("catmint: ibv_post_recv: %s", strerror(-rc));
		mint_conn_down(q, -rc);
		return;
	}
	if (ctl)
		mint_credit_owe_ctl(&q->cr);
	else
		mint_credit_owe(&q->cr, 1);
}

static void repost(struct mint_queue *q, struct demi__buf *b)
{
	repost_as(q, b, false);
}

/* Leaves the repost of a popped message's receive to mint_refill. */
static void repost_later(struct mint_queue *q, struct demi__buf *spare)
{
	if (spare) {
		spare->next = q->spare;
		q->spare = spare;
	}
	if (!q->rq_missing++)
		demi__list_push_back(&q->m->refill, &q->refill_link);
}

void mint_refill(struct mint_libos *m)
{
	struct demi__list *n, *next;

	for (n = m->refill.next; n != &m->refill; n = next) {
		struct mint_queue *q = demi__container_of(n, struct mint_queue, refill_link);

		next = n->next;
		while (q->rq_missing && q->state == MINT_CONNECTED) {
			struct demi__buf *b = q->spare;

			if (b)
				q->spare = b->next;
			if (post_recv(q, b) < 0)
				break; /* the buffer went back to the pool: take a fresh one next
					  time */
			q->rq_missing--;
			mint_credit_owe(&q->cr, 1);
		}
		if (!q->rq_missing || q->state != MINT_CONNECTED) {
			demi__list_remove(&q->refill_link);
			q->rq_missing = 0;
		}
		send_credit(q);
	}
}

int mint_qp_create(struct mint_queue *q)
{
	struct mint_libos *m = q->m;
	struct ibv_qp_init_attr a;
	uint32_t entries;
	int rc;

	q->sq_depth = m->cfg.sq_depth;
	q->rq_depth = m->cfg.rq_depth;
	entries = q->sq_depth + q->rq_depth;
	if ((rc = mint_cq_reserve(m, entries)) < 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.send_cq = m->cq;
	a.recv_cq = m->cq;
	a.qp_type = IBV_QPT_RC;
	a.cap.max_send_wr = q->sq_depth;
	a.cap.max_recv_wr = q->rq_depth;
	a.cap.max_send_sge = m->max_sge;
	a.cap.max_recv_sge = 1;
	a.cap.max_inline_data = m->cfg.max_inline;
	if (rdma_create_qp(q->id, m->pd, &a) != 0) {
		rc = errno ? -errno : -ENOMEM;
		m->cq_need -= entries;
		DEMI_WARN("catmint: cannot create a queue pair: %s", strerror(-rc));
		return rc;
	}
	q->qp = q->id->qp;
	q->qpn = q->qp->qp_num;
	q->max_inline = a.cap.max_inline_data;
	q->rq = calloc(q->rq_depth, sizeof(*q->rq));
	if (!q->rq || (rc = demi__map_put(&m->qps, (uintptr_t)q->qpn + 1, q)) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < q->rq_depth; i++)
		if ((rc = post_recv(q, NULL)) < 0)
			goto fail;
	return 0;
fail:
	mint_qp_destroy(q);
	return rc;
}

void mint_qp_destroy(struct mint_queue *q)
{
	struct mint_libos *m = q->m;
	struct demi__buf *b;

	if (!q->qp)
		return;
	demi__map_del(&m->qps, (uintptr_t)q->qpn + 1);
	rdma_destroy_qp(q->id);
	q->qp = NULL;
	mint_cq_release(m, q->sq_depth + q->rq_depth);
	/* The device is done with the ring: its buffers go back to the pool. */
	for (uint32_t i = 0; i < q->rq_count; i++)
		demi__buf_put(q->rq[(q->rq_head + i) % q->rq_depth]);
	m->bufs_posted -= q->rq_count;
	q->rq_count = 0;
	free(q->rq);
	q->rq = NULL;
	while ((b = demi__buf_fifo_pop(&q->rx))) {
		if (b->priv)
			demi__buf_put((struct demi__buf *)(uintptr_t)b->priv);
		b->priv = 0;
		demi__buf_put(b);
	}
	if (q->reasm_buf)
		demi__buf_put(q->reasm_buf);
	q->reasm_buf = NULL;
	mint_reasm_reset(&q->reasm);
	if (q->rq_missing)
		demi__list_remove(&q->refill_link);
	q->rq_missing = 0;
	while ((b = q->spare)) {
		q->spare = b->next;
		b->next = NULL;
		demi__buf_put(b);
	}
}

/* ---- pops ---- */

/* Hands the oldest received message to pop t, then reposts its receive. */
static void deliver(struct mint_queue *q, struct demi__task *t)
{
	struct demi__buf *b = demi__buf_fifo_pop(&q->rx), *spare;

	spare = (struct demi__buf *)(uintptr_t)b->priv;
	b->priv = 0;
	demi__sga_from_buf(&t->result.qr_value.sga, b);
	demi__task_complete(t);
	repost_later(q, spare);
}

/* A whole message arrived: queue it, serve waiting pops. spare: receive buffer to repost
 * when it is popped (NULL: a fresh one). */
static void rx_enqueue(struct mint_queue *q, struct demi__buf *b, struct demi__buf *spare)
{
	struct demi__list *n;

	b->priv = (uintptr_t)spare;
	demi__buf_fifo_push(&q->rx, b);
	q->m->st.msgs_rx++;
	while (q->rx.head && (n = demi__list_front(&q->pops)))
		deliver(q, demi__container_of(n, struct demi__task, wait_link));
}

/* Pushes and pops need a connection, or one that went down (whose error they then get). */
static int io_state_check(const struct mint_queue *q)
{
	switch (q->state) {
	case MINT_LISTENING:
		return -EINVAL;
	case MINT_CONNECTED:
	case MINT_DOWN:
		return 0;
	default:
		return -ENOTCONN;
	}
}

int mint_pop(struct mint_queue *q, struct demi__task *t)
{
	int rc;

	if ((rc = io_state_check(q)) < 0)
		return rc;
	if (demi__list_empty(&q->pops) && q->rx.head) {
		deliver(q, t);
		send_credit(q);
		return 0;
	}
	if (q->state == MINT_DOWN && !q->rx.head) {
		demi__task_fail(t, q->err);
		return 0;
	}
	demi__list_push_back(&q->pops, &t->wait_link);
	return 0;
}

/* ---- sends ---- */

static uint32_t sq_room(const struct mint_queue *q)
{
	return q->sq_depth - (uint32_t)(q->sq_posted - q->sq_done);
}

/* Fills wr for the next WR; signaled when asked or when sq_depth / 2 WRs went unsignaled. */
static void wr_init(struct mint_queue *q, struct ibv_send_wr *wr, uint32_t imm, bool signal)
{
	/* Only the fields a SEND reads (the rest of the struct is for other opcodes). */
	wr->wr_id = mint_wr_id(q, false, q->sq_posted);
	wr->next = NULL;
	wr->sg_list = NULL;
	wr->num_sge = 0;
	wr->opcode = IBV_WR_SEND_WITH_IMM;
	wr->send_flags = 0;
	wr->imm_data = htonl(imm);
	memset(&wr->wr, 0, sizeof(wr->wr)); /* the provider may copy the union whole */
	if (signal || q->sq_posted + 1 - q->sq_last_signal >= q->sq_depth / 2) {
		wr->send_flags |= IBV_SEND_SIGNALED;
		q->sq_last_signal = q->sq_posted + 1;
		q->m->st.signaled++;
	}
	q->sq_posted++;
}

/* Posts a chain of n WRs; a failure takes the connection down. */
static int post_chain(struct mint_queue *q, struct ibv_send_wr *wrs, int n)
{
	struct ibv_send_wr *bad;
	int rc;

	for (int i = 0; i + 1 < n; i++)
		wrs[i].next = &wrs[i + 1];
	wrs[n - 1].next = NULL;
	q->m->st.post_calls++;
	if ((rc = ibv_post_send(q->qp, wrs, &bad)) != 0) {
		DEMI_WARN("catmint: ibv_post_send: %s", strerror(rc));
		mint_conn_down(q, rc);
		return -rc;
	}
	return 0;
}

/* A credit-only message, when credits are owed and no data can carry them. */
static void send_credit(struct mint_queue *q)
{
	struct ibv_send_wr wr;
	uint32_t credits;

	if (q->state != MINT_CONNECTED || !mint_credit_update_due(&q->cr, q->rq_count) ||
	    !sq_room(q))
		return;
	if (!demi__list_empty(&q->pushes) && mint_credit_data_ok(&q->cr))
		return; /* the next data SEND carries them */
	credits = mint_credit_send(&q->cr);
	wr_init(q, &wr, mint_imm_encode(MINT_KIND_CREDIT, credits, 0), false);
	q->cr.updates++;
	post_chain(q, &wr, 1);
}

/* Fills the WR of push t's next fragment. */
static void build_frag(struct mint_queue *q, struct demi__task *t, struct ibv_send_wr *wr,
		       struct ibv_sge *sge)
{
	struct mint_task_state *ps = mint_task_state(t);
	uint32_t k = ps->frags_posted, left, ns = 0, kind, aux;
	bool last = k + 1 == ps->nfrags;

	left = mint_frag_len(ps->req.total, q->peer_frag, k);
	while (left) {
		struct demi__seg *s = &ps->req.segs[ps->seg];
		uint32_t take = s->len - ps->seg_off < left ? s->len - ps->seg_off : left;

		sge[ns].addr = (uintptr_t)(s->data + ps->seg_off);
		sge[ns].length = take;
		sge[ns].lkey = s->buf ? mint_lkey(s->buf) : 0; /* foreign memory only inline */
		ns++;
		left -= take;
		ps->seg_off += take;
		if (ps->seg_off == s->len) {
			ps->seg++;
			ps->seg_off = 0;
		}
	}
	if (ps->nfrags == 1) {
		kind = MINT_KIND_MSG;
		aux = 0;
	} else {
		kind = k == 0 ? MINT_KIND_FIRST : MINT_KIND_MORE;
		aux = k == 0 ? ps->nfrags : k & 0xffffu;
	}
	if (last)
		ps->last_seq = q->sq_posted;
	wr_init(q, wr, mint_imm_encode(kind, mint_credit_send(&q->cr), aux), last);
	wr->sg_list = sge;
	wr->num_sge = (int)ns;
	if (ps->inline_ok) {
		wr->send_flags |= IBV_SEND_INLINE;
		q->m->st.inline_sends++;
	}
	q->m->st.sends++;
	ps->frags_posted++;
}

void mint_tx_run(struct mint_queue *q)
{
	struct ibv_send_wr wrs[MINT_POST_BATCH];
	struct ibv_sge sges[MINT_POST_BATCH][DEMI_SGARRAY_MAXSIZE];
	struct demi__list *n;
	int nwr = 0;

	if (q->state != MINT_CONNECTED)
		return;
	while ((n = demi__list_front(&q->pushes))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		struct mint_task_state *ps = mint_task_state(t);

		while (ps->frags_posted < ps->nfrags) {
			if (!mint_credit_data_ok(&q->cr)) {
				q->cr.stalls++;
				goto out;
			}
			if (!sq_room(q))
				goto out;
			if (nwr == MINT_POST_BATCH) {
				if (post_chain(q, wrs, nwr) < 0)
					return;
				nwr = 0;
			}
			build_frag(q, t, &wrs[nwr], sges[nwr]);
			nwr++;
		}
		demi__list_remove(&t->wait_link);
		demi__list_push_back(&q->inflight, &t->wait_link);
	}
out:
	if (nwr && post_chain(q, wrs, nwr) < 0)
		return;
	send_credit(q);
}

/* Copies every segment of req into one pool buffer (more segments than the device's SGEs). */
static int coalesce(struct mint_queue *q, struct demi__push_req *req)
{
	struct demi__buf *b = demi__pool_get(pool_of(q), req->total);
	uint8_t *p;

	if (!b)
		return -ENOMEM;
	p = demi__buf_data(b);
	for (uint32_t i = 0; i < req->nsegs; i++) {
		memcpy(p, req->segs[i].data, req->segs[i].len);
		p += req->segs[i].len;
	}
	demi__push_req_put(req);
	req->segs[0] = (struct demi__seg){
		.buf = b, .data = demi__buf_data(b), .len = (uint32_t)req->total};
	req->nsegs = 1;
	return 0;
}

int mint_push(struct mint_queue *q, struct demi__task *t, struct demi__push_req *req)
{
	struct mint_task_state *ps = mint_task_state(t);
	uint32_t nfrags;
	int rc = 0;

	if ((rc = io_state_check(q)) < 0)
		return rc;
	nfrags = mint_frag_count(req->total, q->peer_frag);
	if (!nfrags)
		return -EMSGSIZE;
	if (q->state == MINT_DOWN) {
		/* The connection is gone: the error arrives on the token, as it would later. */
		demi__push_req_put(req);
		demi__task_fail(t, q->err);
		return 0;
	}
	ps->req = *req;
	ps->nfrags = nfrags;
	ps->frags_posted = 0;
	ps->seg = 0;
	ps->seg_off = 0;
	ps->inline_ok = nfrags == 1 && req->total <= q->max_inline;
	if (!ps->inline_ok) {
		/* The device reads it later: it must be registered pool memory. */
		if (ps->req.nsegs > q->m->max_sge)
			rc = coalesce(q, &ps->req);
		else
			rc = demi__push_req_own(pool_of(q), &ps->req, 0);
		if (rc < 0) {
			*req = ps->req; /* the caller drops the references */
			return rc;
		}
	}
	demi__list_push_back(&q->pushes, &t->wait_link);
	mint_tx_run(q);
	if (ps->inline_ok && ps->frags_posted == 0 && !demi__task_done(t)) {
		/* Waiting for credits: the application may reuse its memory once we return. */
		if ((rc = demi__push_req_own(pool_of(q), &ps->req, 0)) < 0) {
			demi__list_remove(&t->wait_link);
			*req = ps->req;
			return rc;
		}
	}
	return 0;
}

static void fail_list(struct demi__list *l, int err, bool pushes)
{
	struct demi__list *n;

	while ((n = demi__list_front(l))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);

		if (pushes)
			demi__push_req_put(&mint_task_state(t)->req);
		demi__task_fail(t, err);
	}
}

void mint_fail_ops(struct mint_queue *q, int err, bool all)
{
	fail_list(&q->inflight, err, true);
	fail_list(&q->pushes, err, true);
	if (all || !q->rx.head)
		fail_list(&q->pops, err, false);
}

/* ---- completions ---- */

static void protocol_error(struct mint_queue *q, struct demi__buf *b, const char *why)
{
	DEMI_WARN("catmint: qd %d: the peer broke the protocol (%s): disconnecting", q->base.qd,
		  why);
	demi__buf_put(b);
	mint_conn_down(q, EPROTO);
}

/* A fragment (FIRST or MORE) arrived in b: copy it into the message being put together. */
static void recv_frag(struct mint_queue *q, struct demi__buf *b, const struct mint_imm *imm)
{
	uint32_t frag = q->m->cfg.recv_bytes;
	int64_t off = mint_reasm_feed(&q->reasm, imm, b->len, frag);

	if (off < 0) {
		protocol_error(q, b, "bad fragment");
		return;
	}
	if (imm->kind == MINT_KIND_FIRST &&
	    !(q->reasm_buf = demi__pool_get(pool_of(q), mint_reasm_bytes(&q->reasm, frag)))) {
		DEMI_WARN("catmint: qd %d: no memory for a %llu-byte message", q->base.qd,
			  (unsigned long long)mint_reasm_bytes(&q->reasm, frag));
		demi__buf_put(b);
		mint_conn_down(q, ENOMEM);
		return;
	}
	memcpy(demi__buf_data(q->reasm_buf) + off, demi__buf_data(b), b->len);
	if (mint_reasm_done(&q->reasm)) {
		struct demi__buf *rb = q->reasm_buf;

		rb->len = (uint32_t)q->reasm.len;
		q->reasm_buf = NULL;
		mint_reasm_reset(&q->reasm);
		q->m->st.reassembled++;
		rx_enqueue(q, rb, b); /* b is reposted when the message is popped */
	} else {
		repost(q, b);
	}
}

static void recv_done(struct mint_queue *q, const struct ibv_wc *wc)
{
	uint32_t slot = (uint32_t)(wc->wr_id & 0x7fffffffu);
	struct demi__buf *b;
	struct mint_imm imm;

	if (!q->rq_count || slot != q->rq_head) {
		DEMI_ERR("catmint: qd %d: receive completion out of order (slot %u, head %u)",
			 q->base.qd, slot, q->rq_head);
		mint_conn_down(q, EPROTO);
		return;
	}
	b = q->rq[slot];
	q->rq[slot] = NULL;
	q->rq_head = (q->rq_head + 1) % q->rq_depth;
	q->rq_count--;
	q->m->bufs_posted--;
	if (wc->status != IBV_WC_SUCCESS) {
		demi__buf_put(b);
		if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			DEMI_WARN("catmint: qd %d: receive failed: %s", q->base.qd,
				  ibv_wc_status_str(wc->status));
			mint_conn_down(q, ECONNRESET);
		}
		return;
	}
	q->m->st.recvs++;
	if (q->state != MINT_CONNECTED) {
		demi__buf_put(b); /* a late arrival after we went down */
		return;
	}
	if (!(wc->wc_flags & IBV_WC_WITH_IMM) || mint_imm_decode(ntohl(wc->imm_data), &imm) < 0) {
		protocol_error(q, b, "bad immediate data");
		return;
	}
	if (mint_credit_grant(&q->cr, imm.credits) < 0) {
		protocol_error(q, b, "more credits than receive buffers");
		return;
	}
	b->len = wc->byte_len;
	if (imm.kind == MINT_KIND_CREDIT) {
		if (wc->byte_len) {
			protocol_error(q, b, "credit message with a payload");
			return;
		}
		repost_as(q, b, true);
	} else if (imm.kind == MINT_KIND_MSG) {
		if (mint_reasm_open(&q->reasm) || !wc->byte_len) {
			protocol_error(q, b, "unexpected message");
			return;
		}
		rx_enqueue(q, b, NULL);
	} else {
		recv_frag(q, b, &imm);
	}
	if (imm.credits && !demi__list_empty(&q->pushes))
		mint_tx_run(q);
	else
		send_credit(q);
}

static void send_done(struct mint_queue *q, const struct ibv_wc *wc)
{
	uint32_t n31 = (uint32_t)(wc->wr_id & 0x7fffffffu);
	uint64_t seq = q->sq_done + ((n31 - (uint32_t)q->sq_done) & 0x7fffffffu);
	struct demi__list *n;

	q->sq_done = seq + 1; /* and every WR before it */
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status != IBV_WC_WR_FLUSH_ERR)
			DEMI_WARN("catmint: qd %d: send failed: %s", q->base.qd,
				  ibv_wc_status_str(wc->status));
		mint_conn_down(q, ECONNRESET);
		return;
	}
	while ((n = demi__list_front(&q->inflight))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		struct mint_task_state *ps = mint_task_state(t);

		if (ps->last_seq >= q->sq_done)
			break;
		demi__push_req_put(&ps->req);
		demi__task_complete(t);
	}
	if (!demi__list_empty(&q->pushes))
		mint_tx_run(q);
}

void mint_wc_handle(struct mint_queue *q, const struct ibv_wc *wc)
{
	if (wc->wr_id & MINT_WR_RECV)
		recv_done(q, wc);
	else
		send_done(q, wc);
}
