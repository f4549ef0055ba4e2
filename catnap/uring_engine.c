/* SPDX-License-Identifier: MIT */
/*
 * catnap's io_uring engine: completion-based, not a port of the epoll engine.
 *
 * - One io_uring_enter per scheduler pass at most: tasks only prepare SQEs; poll_io submits
 *   them all and reaps every CQE in the same call (submit_and_wait / submit_and_get_events).
 *   The ring is SINGLE_ISSUER | DEFER_TASKRUN (one libOS per thread) with a registered fd.
 * - A listening queue has one multishot accept armed; accepted fds wait on the queue until an
 *   accept task takes them.
 * - A connected TCP queue has one multishot receive armed on a provided-buffer ring whose
 *   buffers come from the shared pool: a pop hands the application the very buffer the kernel
 *   filled. Buffers go back into the ring through the pool: each pass tops the ring up from the
 *   pool, so a buffer the application frees is provided again. When the ring runs dry the
 *   kernel ends the multishot with ENOBUFS and the queue is re-armed after the next top-up.
 * - Pushes of at least catnap.zc_threshold bytes from pool memory go out with SEND_ZC; the
 *   push completes on the send's result but its buffers stay referenced until the kernel's
 *   notification says it no longer reads them. Smaller pushes use SEND / SENDMSG.
 * - UDP pops are single-shot RECVMSG into a pool buffer (the datagram's sender comes back in
 *   the message header).
 * - Closing a queue cancels its operations by user_data (never by fd: the fd number may be
 *   reused at once), and an operation keeps what the kernel may still touch (buffers, message
 *   headers) until its last CQE; CQEs of a closed queue are recognised by the queue's
 *   generation and only release resources.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catnap.h"
#include "uring_bufring.h"

#define OPS_PER_CHUNK 256u
#define UD_IGNORE UINT64_MAX /* user_data of operations whose CQE carries no news (cancels) */
#define UDP_MAX_PAYLOAD 65507u
#define ACCEPT_BACKLOG_MAX 4096u
/* Items of deferred completion work one run in an enter does at most (Linux 6.13 on: the
 * kernel's IO_LOCAL_TW_DEFAULT_MAX; an enter runs that work once or twice). */
#define TW_RUN_MAX 20u

enum op_kind {
	OP_FREE = 0,
	OP_ACCEPT,	 /* multishot accept of a listening queue */
	OP_RECV,	 /* multishot receive of a connected TCP queue */
	OP_RECVMSG,	 /* one UDP pop */
	OP_SEND,	 /* one push (SEND, SENDMSG or SEND_ZC) */
	OP_CONNECT_POLL, /* waits for a non-blocking connect(2) to finish */
};

/* What the kernel may touch while an operation is in flight lives here, not in the task. */
struct uring_op {
	uint32_t gen;
	uint32_t id;
	uint8_t kind;
	bool zc;
	bool task_done;		/* the task finished; the op stays for outstanding notifications */
	uint32_t notifs;	/* SEND_ZC notifications still to come */
	uint32_t cqes_expected; /* results still to come (not counting notifications) */
	struct nap_queue *q;
	uint32_t qgen;
	struct demi__task *task;
	demi_qtoken_t task_qt;
	struct demi__push_req req; /* references the op took over from a finished/closed push */
	struct demi__buf *buf;	   /* RECVMSG target */
	struct msghdr msg;
	struct iovec iov[DEMI_SGARRAY_MAXSIZE];
	struct sockaddr_in addr;
	struct uring_op *next_free;
};

struct uring_stats {
	uint64_t enters;
	uint64_t enters_skipped; /* non-sleeping polls that found no reason to enter */
	uint64_t sqes;
	uint64_t cqes;
	uint64_t max_sqes; /* largest submission batch */
	uint64_t max_cqes; /* largest reap batch */
	uint64_t zc_sends;
	uint64_t sends;
	uint64_t recv_rearms;
	uint64_t accept_drops;
};

struct uring_state {
	struct io_uring ring;
	struct nap_bufring br;
	struct uring_op **chunks;
	uint32_t nchunks;
	struct uring_op *free_ops;
	struct demi__list rearm; /* queues whose multishot receive must be armed again */
	uint32_t zc_threshold;
	bool zc_local;	       /* zero-copy to peers on this host too */
	uint64_t rx_max_bytes; /* unpopped bytes a queue may hold before its receive stops */
	uint32_t pending_sqes; /* prepared since the last enter */
	/* The kernel raises IORING_SQ_TASKRUN when completion work waits for an enter
	 * (IORING_SETUP_TASKRUN_FLAG): a poll that has nothing to submit can skip the enter. */
	bool taskrun_flag;
	/* The last enter reaped so many CQEs that the kernel may have stopped its completion
	 * work at its per-run cap (TW_RUN_MAX): the next look enters, whatever the flag says. */
	bool enter_again;
	/* We are a child forked after demi_init, tearing down its copy: the rings are shared with
	 * the parent (MAP_SHARED), an SQE written here would land among the parent's, and the
	 * operations in flight are the parent's. Nothing is submitted any more. */
	bool forked;
	struct uring_stats stats;
};

/* Per-queue state, in the queue's engine area: received data not yet popped, connections
 * not yet accepted, and the multishot operations armed for them. */
struct ur_queue {
	struct demi__list rearm_link; /* on uring_state.rearm while its receive waits for buffers */
	int err; /* a socket error for pending and later pops (or the next accept) */
	struct demi__buf_fifo rx; /* received buffers, oldest first */
	uint64_t rx_bytes;
	bool rx_paused;	    /* receive stopped: rx_bytes reached catnap.uring_rx_max_bytes */
	bool zc_ok;	    /* the peer is not on this host: zero-copy sends are worth it */
	uint32_t recv_op;   /* armed multishot receive (op id + 1), 0 if none */
	uint32_t accept_op; /* armed multishot accept (op id + 1), 0 if none */
	int *acc_fds;	    /* ring of accepted fds; kept when the queue struct is reused */
	uint32_t acc_head, acc_count, acc_cap;
};

static struct uring_state *state_of(struct demi__libos *los)
{
	return nap_of(los)->engine_state;
}

static struct ur_queue *ur_q(struct nap_queue *q)
{
	_Static_assert(_Alignof(struct ur_queue) <= _Alignof(uint64_t), "engine area alignment");
	return (struct ur_queue *)(void *)q->engine;
}

static struct nap_queue *queue_of_ur(struct ur_queue *uq)
{
	return demi__container_of((void *)uq, struct nap_queue, engine);
}

/* ---- operations ---- */

static struct uring_op *op_alloc(struct uring_state *st, enum op_kind kind, struct nap_queue *q,
				 struct demi__task *t)
{
	struct uring_op *op;

	if (!st->free_ops) {
		struct uring_op **c = realloc(st->chunks, (st->nchunks + 1) * sizeof(*c));
		struct uring_op *chunk;

		if (!c)
			return NULL;
		st->chunks = c;
		chunk = calloc(OPS_PER_CHUNK, sizeof(*chunk));
		if (!chunk)
			return NULL;
		for (uint32_t i = OPS_PER_CHUNK; i-- > 0;) {
			chunk[i].id = st->nchunks * OPS_PER_CHUNK + i;
			chunk[i].next_free = st->free_ops;
			st->free_ops = &chunk[i];
		}
		st->chunks[st->nchunks++] = chunk;
	}
	op = st->free_ops;
	st->free_ops = op->next_free;
	op->gen++;
	op->kind = (uint8_t)kind;
	op->zc = false;
	op->task_done = false;
	op->notifs = 0;
	op->cqes_expected = 1;
	op->q = q;
	op->qgen = q->gen;
	op->task = t;
	op->task_qt = t ? demi__task_token(t) : 0;
	op->req.nsegs = 0;
	op->buf = NULL;
	return op;
}

static void op_free(struct uring_state *st, struct uring_op *op)
{
	demi__push_req_put(&op->req);
	if (op->buf) {
		demi__buf_put(op->buf);
		op->buf = NULL;
	}
	op->kind = OP_FREE;
	op->next_free = st->free_ops;
	st->free_ops = op;
}

static uint64_t op_user_data(const struct uring_op *op)
{
	return ((uint64_t)op->gen << 32) | (op->id + 1);
}

static struct uring_op *op_from_user_data(struct uring_state *st, uint64_t ud)
{
	uint64_t id1 = ud & 0xffffffffu;
	struct uring_op *op;

	if (ud == UD_IGNORE || id1 == 0 || id1 > (uint64_t)st->nchunks * OPS_PER_CHUNK)
		return NULL;
	op = &st->chunks[(id1 - 1) / OPS_PER_CHUNK][(id1 - 1) % OPS_PER_CHUNK];
	return op->kind != OP_FREE && op->gen == (uint32_t)(ud >> 32) ? op : NULL;
}

static struct uring_op *op_by_id1(struct uring_state *st, uint32_t id1)
{
	if (id1 == 0 || id1 > st->nchunks * OPS_PER_CHUNK)
		return NULL;
	return &st->chunks[(id1 - 1) / OPS_PER_CHUNK][(id1 - 1) % OPS_PER_CHUNK];
}

/* The queue an operation was issued on, or NULL if it was closed since. */
static struct nap_queue *op_queue(const struct uring_op *op)
{
	return op->q->gen == op->qgen ? op->q : NULL;
}

/* The task an operation serves, or NULL if it finished or was cancelled since. */
static struct demi__task *op_task(const struct uring_op *op)
{
	struct demi__task *t = op->task;

	if (!t || op->task_done || demi__task_token(t) != op->task_qt || demi__task_done(t))
		return NULL;
	return t;
}

/* A free SQE; if the submission queue is full, submit what is there first (rare: the ring is
 * sized for the common batch). */
static struct io_uring_sqe *get_sqe(struct uring_state *st)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);

	if (!sqe) {
		int n = io_uring_submit(&st->ring);
		st->stats.enters++;
		if (n > 0)
			st->stats.sqes += (uint64_t)n;
		st->pending_sqes = 0;
		sqe = io_uring_get_sqe(&st->ring);
	}
	if (sqe)
		st->pending_sqes++;
	return sqe;
}

/* ---- arming ---- */

static int arm_accept(struct uring_state *st, struct nap_queue *q)
{
	struct ur_queue *uq = ur_q(q);
	struct uring_op *op;
	struct io_uring_sqe *sqe;

	if (uq->accept_op)
		return 0;
	if (!(op = op_alloc(st, OP_ACCEPT, q, NULL)) || !(sqe = get_sqe(st))) {
		if (op)
			op_free(st, op);
		return -ENOMEM;
	}
	io_uring_prep_multishot_accept(sqe, q->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, op_user_data(op));
	uq->accept_op = op->id + 1;
	return 0;
}

/*
 * Zero-copy send only pays off when the data leaves the host: a local peer (loopback, or our
 * own address) keeps the pages queued in its receive buffer, so the notification, and with it
 * the pool buffer, is held until the peer reads. Decided once per connection.
 */
static void decide_zc(struct uring_state *st, struct nap_queue *q)
{
	struct ur_queue *uq = ur_q(q);
	struct sockaddr_in self, peer;
	socklen_t l1 = sizeof(self), l2 = sizeof(peer);

	uq->zc_ok = st->zc_local; /* forced on for measurements (catnap.zc_local) */
	if (uq->zc_ok)
		return;
	if (getsockname(q->fd, (struct sockaddr *)&self, &l1) < 0 ||
	    getpeername(q->fd, (struct sockaddr *)&peer, &l2) < 0)
		return;
	uq->zc_ok = (ntohl(peer.sin_addr.s_addr) >> 24) != 127 &&
		    peer.sin_addr.s_addr != self.sin_addr.s_addr;
}

static int arm_recv(struct uring_state *st, struct nap_queue *q)
{
	struct ur_queue *uq = ur_q(q);
	struct uring_op *op;
	struct io_uring_sqe *sqe;

	if (uq->recv_op || q->eof || uq->err || uq->rx_paused)
		return 0;
	if (!(op = op_alloc(st, OP_RECV, q, NULL)) || !(sqe = get_sqe(st))) {
		if (op)
			op_free(st, op);
		return -ENOMEM;
	}
	io_uring_prep_recv_multishot(sqe, q->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = NAP_BUFRING_GROUP;
	io_uring_sqe_set_data64(sqe, op_user_data(op));
	uq->recv_op = op->id + 1;
	return 0;
}

static void cancel_op(struct uring_state *st, struct uring_op *op)
{
	struct io_uring_sqe *sqe;

	if (st->forked)
		return;
	if (!(sqe = get_sqe(st)))
		return; /* the ring's teardown cancels it anyway */
	io_uring_prep_cancel64(sqe, op_user_data(op), 0);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
}

/* ---- engine interface ---- */

static int ur_init(struct demi__libos *los)
{
	struct uring_state *st = calloc(1, sizeof(*st));
	struct io_uring_params p;
	uint64_t zc, nbufs, buf_bytes, entries, rx_max;
	int rc;

	if (!st)
		return -ENOMEM;
	demi__list_init(&st->rearm);
	if ((rc = demi__config_get_u64(&los->cfg, "catnap.zc_threshold", 65536, 1, UINT32_MAX,
				       &zc)) < 0 ||
	    (rc = demi__config_get_u64(&los->cfg, "catnap.uring_entries", 1024, 8, 32768,
				       &entries)) < 0 ||
	    (rc = demi__config_get_u64(&los->cfg, "catnap.uring_bufs", 1024, 1, 32768, &nbufs)) <
		    0 ||
	    (rc = demi__config_get_u64(&los->cfg, "catnap.uring_buf_bytes",
				       16384 - DEMI__BUF_HEADROOM, 64, 1u << 22, &buf_bytes)) < 0 ||
	    (rc = demi__config_get_u64(&los->cfg, "catnap.uring_rx_max_bytes", 256 * 1024, 1,
				       UINT32_MAX, &rx_max)) < 0)
		goto fail;
	st->rx_max_bytes = rx_max;
	if ((rc = demi__config_get_bool(&los->cfg, "catnap.zc_local", false, &st->zc_local)) < 0)
		goto fail;
	st->zc_threshold = (uint32_t)zc;
	/* The fastest setup this kernel accepts, then plainer ones. */
	static const unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	rc = -EINVAL;
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = (unsigned)entries * 4;
		rc = io_uring_queue_init_params((unsigned)entries, &st->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	if (rc < 0) {
		DEMI_ERR(
			"catnap: io_uring_setup failed: %s (disabled by the kernel.io_uring_disabled "
			"sysctl, a seccomp filter, or a kernel without io_uring?)",
			strerror(-rc));
		goto fail;
	}
	st->taskrun_flag = p.flags & IORING_SETUP_TASKRUN_FLAG;
	if (!(p.features & IORING_FEAT_NODROP))
		DEMI_WARN("catnap: this kernel may drop completions when the CQ overflows");
	if (io_uring_register_ring_fd(&st->ring) < 0)
		DEMI_INFO("catnap: could not register the ring fd; going on without");
	rc = nap_bufring_init(&st->br, &st->ring, &los->pool, (uint32_t)nbufs, (uint32_t)buf_bytes);
	if (rc < 0) {
		DEMI_ERR("catnap: cannot set up the provided-buffer ring: %s", strerror(-rc));
		io_uring_queue_exit(&st->ring);
		goto fail;
	}
	nap_of(los)->engine_state = st;
	DEMI_INFO("catnap: io_uring with flags %#x, %u SQEs, %u buffers of %u bytes, zero-copy "
		  "send from %u bytes",
		  p.flags, (unsigned)entries, st->br.entries, st->br.buf_bytes, st->zc_threshold);
	return 0;
fail:
	free(st);
	return rc;
}

static void ur_fini(struct demi__libos *los)
{
	struct uring_state *st = state_of(los);
	struct uring_stats *s = &st->stats;

	DEMI_INFO("catnap io_uring: %llu enters, %llu SQEs (%.2f per enter, max %llu), %llu CQEs "
		  "(%.2f per enter, max %llu), %llu sends (%llu zero-copy), %llu receive re-arms, "
		  "%llu accepts dropped",
		  (unsigned long long)s->enters, (unsigned long long)s->sqes,
		  s->enters ? (double)s->sqes / (double)s->enters : 0.0,
		  (unsigned long long)s->max_sqes, (unsigned long long)s->cqes,
		  s->enters ? (double)s->cqes / (double)s->enters : 0.0,
		  (unsigned long long)s->max_cqes, (unsigned long long)s->sends,
		  (unsigned long long)s->zc_sends, (unsigned long long)s->recv_rearms,
		  (unsigned long long)s->accept_drops);
	/* Tearing the ring down cancels whatever is in flight; then nothing touches our memory
	 * and the operations' references can go. A forked child only drops its reference to the
	 * parent's ring (the ring and its buffer group live on) and frees its copy of the rest. */
	if (nap_forked(los))
		st->br.registered = false;
	io_uring_queue_exit(&st->ring);
	nap_bufring_fini(&st->br);
	for (uint32_t c = 0; c < st->nchunks; c++) {
		for (uint32_t i = 0; i < OPS_PER_CHUNK; i++) {
			struct uring_op *op = &st->chunks[c][i];
			if (op->kind != OP_FREE) {
				demi__push_req_put(&op->req);
				if (op->buf)
					demi__buf_put(op->buf);
			}
		}
		free(st->chunks[c]);
	}
	free(st->chunks);
	free(st);
	nap_of(los)->engine_state = NULL;
}

static void ur_queue_init(struct nap_queue *q)
{
	struct ur_queue *uq = ur_q(q);
	int *acc_fds = uq->acc_fds;
	uint32_t acc_cap = uq->acc_cap;

	/* The accept ring outlives the queue: a reused struct needs no new one. */
	memset(uq, 0, sizeof(*uq));
	uq->acc_fds = acc_fds;
	uq->acc_cap = acc_cap;
	demi__list_init(&uq->rearm_link);
}

static void ur_queue_fini(struct nap_queue *q)
{
	free(ur_q(q)->acc_fds);
}

static int ur_watch(struct demi__libos *los, struct nap_queue *q)
{
	struct uring_state *st = state_of(los);

	if (q->state == NAP_LISTENING)
		return arm_accept(st, q);
	if (q->state == NAP_CONNECTED && q->base.type == SOCK_STREAM) {
		decide_zc(st, q);
		return arm_recv(st, q);
	}
	return 0; /* UDP pops and connects arm their own operations */
}

static void ur_unwatch(struct demi__libos *los, struct nap_queue *q)
{
	struct uring_state *st = state_of(los);
	struct ur_queue *uq = ur_q(q);
	struct uring_op *op;
	struct demi__task *t;

	if (nap_forked(los))
		st->forked = true;
	if (uq->recv_op && (op = op_by_id1(st, uq->recv_op)) && op->kind != OP_FREE)
		cancel_op(st, op);
	if (uq->accept_op && (op = op_by_id1(st, uq->accept_op)) && op->kind != OP_FREE)
		cancel_op(st, op);
	uq->recv_op = uq->accept_op = 0;
	if (demi__list_linked(&uq->rearm_link))
		demi__list_remove(&uq->rearm_link);
	/* The push in flight: its operation takes over the buffer references, since the kernel
	 * may read them until its CQE, after the task itself is cancelled. */
	if ((t = nap_head(&q->pushes)) && nap_task_state(t)->op) {
		op = op_by_id1(st, nap_task_state(t)->op);
		op->req = nap_task_state(t)->req;
		nap_task_state(t)->req.nsegs = 0;
		op->task_done = true;
		cancel_op(st, op);
	}
	if ((t = nap_head(&q->pops)) && nap_task_state(t)->op)
		cancel_op(st, op_by_id1(st, nap_task_state(t)->op)); /* keeps its buffer */
	if (q->connect && nap_task_state(q->connect)->op)
		cancel_op(st, op_by_id1(st, nap_task_state(q->connect)->op));
	demi__buf_fifo_clear(&uq->rx);
	uq->rx_bytes = 0;
	while (uq->acc_count) {
		close(uq->acc_fds[uq->acc_head]);
		uq->acc_head = (uq->acc_head + 1) % uq->acc_cap;
		uq->acc_count--;
	}
	/* A request in flight holds a reference on the socket's file, so close(2) alone would
	 * not close it (no FIN) until the request ends. Submit the cancels now and let the kernel
	 * run their completion work (deferred task work runs on GETEVENTS), so the caller's
	 * close(2) drops the last reference. Their CQEs are reaped later, as stale. */
	if (st->pending_sqes && !st->forked) {
		int n = io_uring_submit_and_get_events(&st->ring);
		st->stats.enters++;
		if (n > 0)
			st->stats.sqes += (uint64_t)n;
		st->pending_sqes = 0;
	}
}

/* ---- tasks ---- */

static void ur_accept(struct demi__task *t)
{
	struct nap_queue *lq = t->queue;
	struct ur_queue *ul = ur_q(lq);
	struct demi__libos *los = lq->base.los;
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd, rc;

	if (nap_head(&lq->accepts) != t)
		return;
	if (ul->acc_count == 0) {
		if (ul->err) {
			demi__task_fail(t, ul->err);
			ul->err = 0;
			nap_wake_head(&lq->accepts);
		} else if ((rc = arm_accept(state_of(los), lq)) < 0) {
			demi__task_fail(t, -rc);
		}
		return;
	}
	fd = ul->acc_fds[ul->acc_head];
	ul->acc_head = (ul->acc_head + 1) % ul->acc_cap;
	ul->acc_count--;
	memset(&addr, 0, sizeof(addr));
	/* Multishot accept cannot return each peer's address; ask the socket. */
	getpeername(fd, (struct sockaddr *)&addr, &len);
	nap_accept_finish(t, lq, fd, &addr);
}

static void ur_connect(struct demi__task *t)
{
	struct nap_queue *q = t->queue;
	struct uring_state *st = state_of(q->base.los);
	struct nap_task_state *ts = nap_task_state(t);
	struct io_uring_sqe *sqe;
	struct uring_op *op;

	if (ts->op)
		return;
	if (!(op = op_alloc(st, OP_CONNECT_POLL, q, t)) || !(sqe = get_sqe(st))) {
		if (op)
			op_free(st, op);
		q->connect = NULL;
		q->state = NAP_NEW;
		demi__task_fail(t, ENOMEM);
		return;
	}
	io_uring_prep_poll_add(sqe, q->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, op_user_data(op));
	ts->op = op->id + 1;
}

static bool push_uses_zc(struct uring_state *st, const struct ur_queue *uq,
			 const struct nap_task_state *ps)
{
	/* Zero-copy pays for its page pinning and notification only on large pool buffers. */
	if (!uq->zc_ok || ps->req.total - ps->sent < st->zc_threshold || ps->req.nsegs != 1 ||
	    ps->has_to)
		return false;
	return ps->req.segs[0].buf != NULL;
}

static void submit_send(struct uring_state *st, struct demi__task *t, struct uring_op *op)
{
	struct nap_queue *q = t->queue;
	struct nap_task_state *ps = nap_task_state(t);
	struct io_uring_sqe *sqe = get_sqe(st);
	size_t n;

	if (!sqe) {
		demi__push_req_put(&ps->req);
		op_free(st, op);
		ps->op = 0;
		demi__task_fail(t, ENOMEM);
		nap_wake_head(&q->pushes);
		return;
	}
	n = (size_t)nap_push_iov(ps, op->iov);
	op->cqes_expected = 1;
	st->stats.sends++;
	if (push_uses_zc(st, ur_q(q), ps)) {
		io_uring_prep_send_zc(sqe, q->fd, op->iov[0].iov_base, op->iov[0].iov_len,
				      MSG_NOSIGNAL, 0);
		op->zc = true;
		op->notifs++;
		st->stats.zc_sends++;
	} else if (n == 1 && !ps->has_to) {
		io_uring_prep_send(sqe, q->fd, op->iov[0].iov_base, op->iov[0].iov_len,
				   MSG_NOSIGNAL);
	} else {
		memset(&op->msg, 0, sizeof(op->msg));
		op->msg.msg_iov = op->iov;
		op->msg.msg_iovlen = n;
		if (ps->has_to) {
			op->addr = ps->to;
			op->msg.msg_name = &op->addr;
			op->msg.msg_namelen = sizeof(op->addr);
		}
		io_uring_prep_sendmsg(sqe, q->fd, &op->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, op_user_data(op));
}

static void ur_push(struct demi__task *t)
{
	struct nap_queue *q = t->queue;
	struct uring_state *st = state_of(q->base.los);
	struct nap_task_state *ps = nap_task_state(t);
	struct uring_op *op;

	if (nap_head(&q->pushes) != t || ps->op)
		return;
	/* The kernel reads the data after this call returns: foreign memory is copied now. */
	if (demi__push_req_own(&q->base.los->pool, &ps->req, ps->sent) < 0 ||
	    !(op = op_alloc(st, OP_SEND, q, t))) {
		demi__push_req_put(&ps->req);
		demi__task_fail(t, ENOMEM);
		nap_wake_head(&q->pushes);
		return;
	}
	ps->op = op->id + 1;
	submit_send(st, t, op);
}

static void ur_pop_udp(struct demi__task *t, struct nap_queue *q)
{
	struct uring_state *st = state_of(q->base.los);
	struct nap_task_state *ts = nap_task_state(t);
	struct io_uring_sqe *sqe;
	struct uring_op *op;
	struct demi__buf *b;

	if (ts->op)
		return;
	b = demi__pool_get(&q->base.los->pool, UDP_MAX_PAYLOAD);
	if (!b || !(op = op_alloc(st, OP_RECVMSG, q, t)) || !(sqe = get_sqe(st))) {
		if (b)
			demi__buf_put(b);
		demi__task_fail(t, ENOMEM);
		nap_wake_head(&q->pops);
		return;
	}
	op->buf = b;
	op->iov[0].iov_base = demi__buf_data(b);
	op->iov[0].iov_len = UDP_MAX_PAYLOAD;
	memset(&op->msg, 0, sizeof(op->msg));
	op->msg.msg_name = &op->addr;
	op->msg.msg_namelen = sizeof(op->addr);
	op->msg.msg_iov = op->iov;
	op->msg.msg_iovlen = 1;
	io_uring_prep_recvmsg(sqe, q->fd, &op->msg, 0);
	io_uring_sqe_set_data64(sqe, op_user_data(op));
	ts->op = op->id + 1;
}

static void ur_pop(struct demi__task *t)
{
	struct nap_queue *q = t->queue;
	struct ur_queue *uq = ur_q(q);
	struct demi__buf *b;
	int rc;

	if (nap_head(&q->pops) != t)
		return;
	if (q->base.type == SOCK_DGRAM) {
		ur_pop_udp(t, q);
		return;
	}
	if ((b = demi__buf_fifo_pop(&uq->rx))) {
		struct uring_state *st = state_of(q->base.los);

		uq->rx_bytes -= b->len;
		/* Room again: resume receiving (with hysteresis, so a pause is not per pop). */
		if (uq->rx_paused && uq->rx_bytes <= st->rx_max_bytes / 2) {
			uq->rx_paused = false;
			arm_recv(st, q); /* no-op while the cancelled receive is still ending */
		}
		nap_pop_deliver(t, q, b, NULL);
	} else if (q->eof) {
		nap_pop_deliver(t, q, NULL, NULL);
	} else if (uq->err) {
		demi__task_fail(t, uq->err);
		nap_wake_head(&q->pops);
	} else if (!uq->recv_op && !demi__list_linked(&uq->rearm_link) &&
		   (rc = arm_recv(state_of(q->base.los), q)) < 0) {
		demi__task_fail(t, -rc);
		nap_wake_head(&q->pops);
	}
}

/* ---- completions ---- */

static void on_accept(struct uring_state *st, struct uring_op *op, struct io_uring_cqe *cqe)
{
	struct nap_queue *q = op_queue(op);
	struct ur_queue *uq = q ? ur_q(q) : NULL;
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more) {
		if (uq && uq->accept_op == op->id + 1)
			uq->accept_op = 0;
		op_free(st, op);
	}
	if (!q) {
		if (cqe->res >= 0)
			close(cqe->res);
		return;
	}
	if (cqe->res >= 0) {
		if (uq->acc_count == uq->acc_cap) {
			uint32_t cap = uq->acc_cap ? uq->acc_cap * 2 : 16;
			int *fds = cap <= ACCEPT_BACKLOG_MAX ? malloc(cap * sizeof(int)) : NULL;
			if (!fds) {
				/* More unaccepted connections than we hold: refuse this one. */
				close(cqe->res);
				st->stats.accept_drops++;
				return;
			}
			for (uint32_t i = 0; i < uq->acc_count; i++)
				fds[i] = uq->acc_fds[(uq->acc_head + i) % uq->acc_cap];
			free(uq->acc_fds);
			uq->acc_fds = fds;
			uq->acc_cap = cap;
			uq->acc_head = 0;
		}
		uq->acc_fds[(uq->acc_head + uq->acc_count) % uq->acc_cap] = cqe->res;
		uq->acc_count++;
	} else if (cqe->res != -ECANCELED && cqe->res != -EAGAIN && cqe->res != -EINTR &&
		   cqe->res != -ECONNABORTED) {
		uq->err = -cqe->res; /* EMFILE...: reported to the next accept */
	}
	nap_wake_head(&q->accepts);
}

static void on_recv(struct uring_state *st, struct uring_op *op, struct io_uring_cqe *cqe)
{
	struct nap_queue *q = op_queue(op);
	struct ur_queue *uq = q ? ur_q(q) : NULL;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	struct demi__buf *b = NULL;

	if (cqe->flags & IORING_CQE_F_BUFFER)
		b = nap_bufring_take(&st->br, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
	if (!more) {
		if (uq && uq->recv_op == op->id + 1)
			uq->recv_op = 0;
		op_free(st, op);
	}
	if (!q) {
		if (b)
			demi__buf_put(b);
		return;
	}
	if (cqe->res > 0 && b) {
		b->len = (uint32_t)cqe->res;
		demi__buf_fifo_push(&uq->rx, b);
		uq->rx_bytes += b->len;
		/* Back-pressure: nobody pops, so stop taking data; the kernel's receive buffer
		 * then fills and TCP flow control slows the sender. */
		if (uq->rx_bytes >= st->rx_max_bytes && more && !uq->rx_paused) {
			uq->rx_paused = true;
			cancel_op(st, op);
		}
	} else {
		if (b)
			demi__buf_put(b);
		if (cqe->res == 0)
			q->eof = true;
		else if (cqe->res == -ENOBUFS) {
			/* The ring ran dry: re-arm once the next top-up gave it buffers. */
			if (!more && !demi__list_linked(&uq->rearm_link))
				demi__list_push_back(&st->rearm, &uq->rearm_link);
		} else if (cqe->res != -ECANCELED && cqe->res != -EINTR) {
			uq->err = -cqe->res;
		}
	}
	if (!more && !q->eof && !uq->err && !uq->recv_op && !uq->rx_paused &&
	    !demi__list_linked(&uq->rearm_link))
		demi__list_push_back(&st->rearm, &uq->rearm_link);
	nap_wake_head(&q->pops);
}

static void on_recvmsg(struct uring_state *st, struct uring_op *op, struct io_uring_cqe *cqe)
{
	struct demi__task *t = op_task(op);
	struct nap_queue *q = op_queue(op);
	struct demi__buf *b = op->buf;

	op->buf = NULL;
	if (t)
		nap_task_state(t)->op = 0;
	op_free(st, op);
	if (!t || !q) {
		demi__buf_put(b);
		return;
	}
	if (cqe->res < 0) {
		demi__buf_put(b);
		if (cqe->res == -EAGAIN || cqe->res == -EINTR) {
			demi__task_wake(t); /* try again */
			return;
		}
		demi__task_fail(t, -cqe->res);
		nap_wake_head(&q->pops);
		return;
	}
	b->len = (uint32_t)cqe->res;
	nap_pop_deliver(t, q, b, &op->addr);
}

static void on_send(struct uring_state *st, struct uring_op *op, struct io_uring_cqe *cqe)
{
	struct demi__task *t;
	struct nap_task_state *ps;
	struct nap_queue *q;

	if (cqe->flags & IORING_CQE_F_NOTIF) {
		op->notifs--;
	} else {
		op->cqes_expected--;
		t = op_task(op);
		q = op_queue(op);
		if (t && q) {
			ps = nap_task_state(t);
			if (cqe->res < 0) {
				ps->op = 0;
				op->req = ps->req; /* freed with the op, after any notification */
				ps->req.nsegs = 0;
				op->task_done = true;
				demi__task_fail(t, -cqe->res);
				nap_wake_head(&q->pushes);
			} else {
				ps->sent += (uint64_t)cqe->res;
				if (ps->sent < ps->req.total && q->base.type == SOCK_STREAM) {
					submit_send(st, t, op); /* a short write: send the rest */
					return;
				}
				ps->op = 0;
				op->req = ps->req;
				ps->req.nsegs = 0;
				op->task_done = true;
				demi__task_complete(t);
				nap_wake_head(&q->pushes);
			}
		} else {
			op->task_done = true;
		}
	}
	if (op->cqes_expected == 0 && op->notifs == 0)
		op_free(st, op); /* drops the buffer references */
}

static void on_connect(struct uring_state *st, struct uring_op *op, struct io_uring_cqe *cqe)
{
	struct demi__task *t = op_task(op);
	struct nap_queue *q = op_queue(op);

	op_free(st, op);
	if (!t || !q)
		return;
	nap_task_state(t)->op = 0;
	/* On success ur_watch decides on zero copy and arms the receive. */
	nap_connect_finish(t, q, cqe->res < 0 ? -cqe->res : 0);
}

static unsigned reap(struct uring_state *st)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&st->ring, head, cqe)
	{
		struct uring_op *op = op_from_user_data(st, cqe->user_data);

		n++;
		if (!op)
			continue;
		switch (op->kind) {
		case OP_ACCEPT:
			on_accept(st, op, cqe);
			break;
		case OP_RECV:
			on_recv(st, op, cqe);
			break;
		case OP_RECVMSG:
			on_recvmsg(st, op, cqe);
			break;
		case OP_SEND:
			on_send(st, op, cqe);
			break;
		case OP_CONNECT_POLL:
			on_connect(st, op, cqe);
			break;
		default:
			break;
		}
	}
	io_uring_cq_advance(&st->ring, n);
	return n;
}

static void rearm_receives(struct uring_state *st)
{
	while (!demi__list_empty(&st->rearm) && st->br.provided > 0) {
		struct ur_queue *uq =
			demi__container_of(st->rearm.next, struct ur_queue, rearm_link);

		demi__list_remove(&uq->rearm_link);
		st->stats.recv_rearms++;
		arm_recv(st, queue_of_ur(uq));
	}
}

/*
 * Whether a poll that must not sleep has to enter the kernel: to submit, or because completion
 * work waits there (DEFER_TASKRUN posts CQEs only inside an enter; the kernel flags such work
 * with IORING_SQ_TASKRUN) or CQEs overflowed. Otherwise the CQ ring already holds all there is,
 * and the busy wait's many empty looks cost no system call.
 */
static bool enter_needed(const struct uring_state *st)
{
	/* io_uring_sq_ready: SQEs an earlier enter left unsubmitted (-EAGAIN, -EBUSY) are still in
	 * the SQ ring although pending_sqes was reset. */
	if (st->pending_sqes || io_uring_sq_ready(&st->ring) || !st->taskrun_flag ||
	    st->enter_again)
		return true;
	return IO_URING_READ_ONCE(*st->ring.sq.kflags) &
	       (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

static int ur_poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	struct uring_state *st = state_of(los);
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	unsigned submitted, n, total = 0;
	int rc;

	nap_bufring_refill(&st->br);
	rearm_receives(st);
	submitted = st->pending_sqes;
	if (timeout_ns == 0 && !enter_needed(st)) {
		/* A look that needs no system call: what is there is in the CQ ring. */
		st->stats.enters_skipped++;
		while ((n = reap(st)) > 0)
			total += n;
		st->stats.cqes += total;
		return (int)total;
	}
	if (timeout_ns == 0) {
		rc = io_uring_submit_and_get_events(&st->ring);
	} else {
		struct __kernel_timespec *tsp = NULL;
		if (timeout_ns != UINT64_MAX) {
			ts.tv_sec = (long long)(timeout_ns / 1000000000ull);
			ts.tv_nsec = (long long)(timeout_ns % 1000000000ull);
			tsp = &ts;
		}
		rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, tsp, NULL);
	}
	st->stats.enters++;
	st->stats.sqes += submitted;
	if (submitted > st->stats.max_sqes)
		st->stats.max_sqes = submitted;
	st->pending_sqes = 0;
	/* Handling completions may prepare SQEs (re-arms, the rest of a short send): they go
	 * with the next enter. Reap until the ring is empty. */
	while ((n = reap(st)) > 0)
		total += n;
	/* Since 6.13 a run of deferred completion work stops after TW_RUN_MAX items and leaves
	 * the rest for a later enter. The kernel raises IORING_SQ_TASKRUN again for that rest
	 * (io_run_local_work_continue), but the enter-free look would strand completions on a
	 * kernel that did not: a batch that big makes the next look enter regardless (under such
	 * load the next pass usually has SQEs to submit anyway, so it costs no extra enter). */
	st->enter_again = total >= TW_RUN_MAX;
	st->stats.cqes += total;
	if (total > st->stats.max_cqes)
		st->stats.max_cqes = total;
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	return (int)total;
}

static uint64_t ur_bufs_cached(struct demi__libos *los)
{
	return state_of(los)->br.provided;
}

/* The engine's counters for demi_stats (catnap.uring_<field>; docs/counters.md). */
#define UR(f) DEMI__STAT_FIELD("catnap.uring_", struct uring_stats, f)
static const struct demi__stat_field ur_stat_fields[] = {
	UR(enters),   UR(enters_skipped), UR(sqes),  UR(cqes),	      UR(max_sqes),
	UR(max_cqes), UR(zc_sends),	  UR(sends), UR(recv_rearms), UR(accept_drops),
};
DEMI__STAT_TABLE_COVERS(ur_stat_fields, struct uring_stats);

static size_t ur_stats(struct demi__libos *los, demi_stat_t *out, size_t cap)
{
	return DEMI__STATS_FROM(ur_stat_fields, &state_of(los)->stats, out, cap, 0);
}

const struct nap_engine_ops nap_uring_engine = {
	.name = "io_uring",
	.init = ur_init,
	.fini = ur_fini,
	.queue_bytes = sizeof(struct ur_queue),
	.queue_init = ur_queue_init,
	.queue_fini = ur_queue_fini,
	.watch = ur_watch,
	.unwatch = ur_unwatch,
	.accept = ur_accept,
	.connect = ur_connect,
	.push = ur_push,
	.pop = ur_pop,
	.poll_io = ur_poll_io,
	.bufs_cached = ur_bufs_cached,
	.stats = ur_stats,
};
