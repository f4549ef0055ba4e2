/* SPDX-License-Identifier: MIT */
/*
 * catmint: the libOS on RDMA (rdma-core: librdmacm for connections, libibverbs for data).
 * Applications open catmint queues like TCP sockets (AF_INET, SOCK_STREAM) on the IPv4
 * addresses of RDMA-capable interfaces; each connection is a reliable-connected (RC) queue pair
 * carrying two-sided SEND/RECV messages: one push is one message, one pop returns one message.
 *
 * Files, one job each:
 *   catmint.c  the demi_* operations (lib/libos.h), queue life cycle, options, poll_io
 *   dev.c      the device: verbs context, protection domain, the one completion queue and its
 *              channel, registration of every pool slab as a memory region, qp_num -> queue map
 *   cm.c       connection management: the rdma_cm event channel (polled by the background
 *              task, non-blocking), address/route resolution, connect/accept, disconnects
 *   xfer.c     the datapath: receive ring, posting sends with credits, completion handling,
 *              reassembly, pushes and pops
 *   credit.c   credit accounting (pure), frame.c wire formats and fragment rules (pure)
 *
 * Runtime model: one background task (dev.c: mint_poll) reposts the receives of the messages
 * popped since the last pass, polls the completion queue on every scheduler pass, and the
 * rdma_cm channel on every pass while a handshake is under way (every MINT_CM_POLL_EVERY
 * passes otherwise). When a wait has nothing to do, poll_io arms the
 * completion channel and sleeps in ppoll(2) on it and on the rdma_cm channel (unless busy
 * polling). Push and pop tasks have no work of their own to do when polled: completions and
 * events finish them.
 *
 * Lifetime: a queue owns its rdma_cm id, its QP and the pool buffers posted to its receive
 * queue. Closing destroys the QP and the id at once; completions of a destroyed QP still in
 * the shared CQ are recognised (unknown qp_num, or a stale generation in wr_id) and dropped.
 */
#ifndef MINT_CATMINT_H
#define MINT_CATMINT_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>
#include <infiniband/verbs.h>

#include "credit.h"
#include "frame.h"
#include "libos.h"

/* Passes between two looks at the rdma_cm channel when no handshake is under way: a look is a
 * system call (a write to the ucma device) that costs hundreds of busy-poll passes, and one
 * that coincides with an arriving message delays its answer by as much (measured under
 * emulation: at 1024, one look per 1.3 round trips on a ping-pong server). 65536 passes are
 * a few milliseconds: the delay before a disconnect is noticed by a busy poller that has
 * nothing else pending (a sleeping wait watches the fd instead). */
#define MINT_CM_POLL_EVERY 65536u
/* Work completions taken from the CQ per ibv_poll_cq call. */
#define MINT_CQ_BATCH 32
/* WRs chained in one ibv_post_send (one system call with soft-RoCE). */
#define MINT_POST_BATCH 16

enum mint_state {
	MINT_NEW = 0, /* created, maybe bound */
	MINT_LISTENING,
	MINT_RESOLVING,	 /* connect: address, then route resolution */
	MINT_CONNECTING, /* connect: request sent, waiting for the reply */
	MINT_ACCEPTING,	 /* passive side: accepted, waiting for the connection to be established */
	MINT_CONNECTED,
	MINT_DOWN, /* disconnected or failed: err says why */
};

struct mint_config {
	uint32_t rq_depth;   /* receive buffers posted per connection = credits given to the peer */
	uint32_t sq_depth;   /* send work requests in flight per connection */
	uint32_t recv_bytes; /* payload bytes per receive buffer = largest unfragmented message */
	uint32_t max_inline; /* asked of the device; the QP says what it grants */
	uint32_t rnr_retry;  /* 0..7 (7 = forever); credits make RNR impossible, tests use 0 */
	uint32_t timeout_ms; /* address and route resolution */
};

struct mint_stats {
	uint64_t sends; /* data SENDs posted */
	uint64_t inline_sends;
	uint64_t signaled;
	uint64_t recvs;	      /* receive completions */
	uint64_t msgs_rx;     /* messages delivered to the queue */
	uint64_t reassembled; /* of those, put together from fragments */
	uint64_t stale_wc;    /* completions of destroyed QPs */
	uint64_t post_calls;  /* ibv_post_send calls */
	uint64_t cm_events;
	uint64_t cq_sleeps; /* ppoll calls that slept */
};

struct mint_libos {
	struct demi__libos *los;
	struct mint_config cfg;
	struct rdma_event_channel *cm_ch;
	struct ibv_context **devs; /* rdma_get_devices(): librdmacm's contexts */
	struct ibv_context *ctx;   /* the one device this instance uses */
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp_ch;
	struct ibv_cq *cq;
	uint32_t cq_cap;     /* entries of cq */
	uint32_t cq_need;    /* send + receive depth of every live QP */
	uint32_t cq_stale;   /* entries destroyed QPs may still have in the CQ */
	uint32_t cq_unacked; /* completion-channel events not yet acknowledged */
	bool cq_armed;
	uint32_t max_sge; /* send SGEs per WR */
	uint32_t max_cqe; /* device limit */
	struct demi__bg_task poller;
	uint32_t cm_busy;	  /* queues waiting for an rdma_cm event of a handshake */
	uint32_t cm_countdown;	  /* passes until the next look at the channel when idle */
	uint32_t gen;		  /* generation of the next queue */
	uint64_t bufs_posted;	  /* pool buffers posted as receives, all queues */
	struct demi__map qps;	  /* qp_num + 1 -> queue (lib/map.h) */
	struct demi__list refill; /* queues with receives to post again (mint_refill) */
	struct mint_stats st;
};

struct mint_queue {
	struct demi__queue base; /* first: lib/ sees this */
	struct mint_libos *m;
	struct rdma_cm_id *id;
	struct ibv_qp *qp;
	uint32_t qpn;
	uint32_t gen; /* in every wr_id: completions of an earlier queue are recognised */
	uint8_t state;
	bool bound;
	bool cm_wait; /* counted in m->cm_busy */
	int err;      /* MINT_DOWN: positive errno for pending and later operations */
	struct sockaddr_in peer;

	/* Listening: accept tasks, and connections being set up or established not yet accepted
	 * (children), oldest first. */
	struct demi__list accepts;
	struct demi__list children;
	uint32_t nchildren;
	int backlog;
	/* A child: its listener (NULL once accepted) and its place in the listener's list. */
	struct mint_queue *parent;
	struct demi__list child_link;

	struct demi__task *connect;
	struct demi__list pops;	    /* pending pops, oldest first */
	struct demi__list pushes;   /* pushes not completely posted, oldest first */
	struct demi__list inflight; /* pushes posted, waiting for their send completion */

	struct mint_credit cr;
	uint32_t peer_frag;  /* bytes per fragment the peer's receive buffers hold */
	uint32_t max_inline; /* granted by the QP */
	uint32_t sq_depth, rq_depth;

	/* Receive ring: buffers posted in order, completed in order. */
	struct demi__buf **rq;
	uint32_t rq_head;    /* index of the oldest posted receive */
	uint32_t rq_count;   /* receives posted */
	uint32_t rq_missing; /* receives to post again: after pops, or when the pool was empty */
	struct demi__buf *spare; /* receive buffers to post again before taking fresh ones */
	struct demi__list refill_link;

	/* Messages received and not popped; buf->priv holds a receive buffer to repost at pop
	 * (reassembled messages) or 0 (a fresh one is taken). */
	struct demi__buf_fifo rx; /* whole messages waiting for pops */
	struct demi__buf *reasm_buf;
	struct mint_reasm reasm;

	/* Send queue: WR sequence numbers. */
	uint64_t sq_posted;	 /* WRs posted */
	uint64_t sq_done;	 /* WRs known complete (up to the last signaled completion) */
	uint64_t sq_last_signal; /* sequence number of the last signaled WR + 1 */
};

/* Per-task state in the task's priv area (pushes use all of it). */
struct mint_task_state {
	struct demi__push_req req;
	uint32_t nfrags; /* fragments of the message */
	uint32_t frags_posted;
	uint32_t seg;	   /* next segment to send from */
	uint32_t seg_off;  /* bytes of it already sent */
	uint64_t last_seq; /* sequence number of the message's last WR */
	bool inline_ok;
};

static inline struct mint_task_state *mint_task_state(struct demi__task *t)
{
	_Static_assert(sizeof(struct mint_task_state) <= DEMI__TASK_PRIV_BYTES,
		       "task state must fit in a task");
	return (struct mint_task_state *)(void *)t->priv.u64;
}

static inline struct mint_libos *mint_of(struct demi__libos *los)
{
	return los->priv;
}

/* wr_id: generation (32) | receive flag (1) | ring slot or sequence number (31). */
#define MINT_WR_RECV (1ull << 31)
static inline uint64_t mint_wr_id(const struct mint_queue *q, bool recv, uint64_t n)
{
	return ((uint64_t)q->gen << 32) | (recv ? MINT_WR_RECV : 0) | (n & 0x7fffffffull);
}

/* ---- dev.c ---- */
int mint_dev_open(struct mint_libos *m, const char *name);
void mint_dev_close(struct mint_libos *m);
/* Makes room in the CQ for a QP of sq + rq work requests. 0 or -errno. */
int mint_cq_reserve(struct mint_libos *m, uint32_t entries);
void mint_cq_release(struct mint_libos *m, uint32_t entries);
/* Handles every completion in the CQ. Returns how many. */
int mint_cq_poll(struct mint_libos *m);
/* Arms the completion channel and sleeps until a completion, an rdma_cm event or the
 * timeout. */
void mint_sleep(struct mint_libos *m, uint64_t timeout_ns);
/* The local key of a pool buffer (every slab is registered). */
static inline uint32_t mint_lkey(const struct demi__buf *b)
{
	return ((const struct ibv_mr *)(uintptr_t)b->slab->priv)->lkey;
}
/* The background task: completions, then rdma_cm events when due. */
int mint_poll(void *arg);

/* ---- cm.c ---- */
/* Handles every rdma_cm event waiting on the channel. Returns how many. */
int mint_cm_poll(struct mint_libos *m);
int mint_cm_connect(struct mint_queue *q, struct demi__task *t, const struct sockaddr_in *to);
/* Marks q as waiting (or not) for a handshake event. */
void mint_cm_wait(struct mint_queue *q, bool waiting);
/* The connection went down: fail what waits with err, disconnect, keep received messages for
 * the pops. */
void mint_conn_down(struct mint_queue *q, int err);
/* Hands established children of listener lq to its waiting accepts. */
void mint_serve_accepts(struct mint_queue *lq);

/* ---- xfer.c ---- */
/* Creates q's QP on its cm id and posts its receive ring. 0 or -errno. */
int mint_qp_create(struct mint_queue *q);
/* Destroys q's QP and returns every buffer it holds (ring, received, reassembly). */
void mint_qp_destroy(struct mint_queue *q);
/* The connection is up with the peer's hello: start credits. */
void mint_xfer_start(struct mint_queue *q, const struct mint_hello *peer);
/* Our hello for q. */
void mint_hello_of(const struct mint_queue *q, struct mint_hello *h);
/* One work completion of q. */
void mint_wc_handle(struct mint_queue *q, const struct ibv_wc *wc);
/* Posts what credits and send queue room allow. */
void mint_tx_run(struct mint_queue *q);
/* Posts the receives of popped messages again, and those the pool had no memory for. Run by
 * the background task, so that a pop's repost is off the path from pop to push. */
void mint_refill(struct mint_libos *m);
int mint_push(struct mint_queue *q, struct demi__task *t, struct demi__push_req *req);
int mint_pop(struct mint_queue *q, struct demi__task *t);
/* Fails every pending push and pop of q with err (pops only when nothing is left to pop, or
 * always when all is true). */
void mint_fail_ops(struct mint_queue *q, int err, bool all);

/* ---- catmint.c ---- */
/* A new queue struct (no cm id yet). NULL: -ENOMEM. */
struct mint_queue *mint_queue_new(struct mint_libos *m, int type);
/* Destroys a queue that has no qd (a child never accepted, or at close). */
void mint_queue_free(struct mint_queue *q);

#endif
