/* SPDX-License-Identifier: MIT */
/*
 * catnap: the libOS on the host's POSIX sockets.
 *
 * The split: catnap.c is the queue implementation every engine shares (socket lifecycle,
 * option handling, the per-queue FIFOs of pending operations, cancellation, and the way an
 * accept, a connect or a pop finishes); an engine (struct nap_engine_ops, chosen by
 * catnap.engine) makes the operations progress:
 * - epoll (epoll_engine.c): readiness-based. Each socket is registered once, edge-triggered;
 *   tasks run the non-blocking syscall themselves when their socket is known to be ready and
 *   otherwise park until epoll says it is.
 * - io_uring (uring_engine.c, uring_bufring.c): completion-based. Tasks prepare SQEs, one
 *   io_uring_enter per scheduler pass submits them and reaps the CQEs; listening and
 *   connected TCP queues keep a multishot accept or receive armed.
 * What only one engine needs per queue lives in the engine's own struct, kept in the queue's
 * engine area (nap_queue.engine, engine->queue_bytes long): the engines never see each other's
 * fields, and the area costs no allocation of its own.
 *
 * Ordering: on one queue, pops complete in issue order and pushes are written in issue order:
 * only the task at the head of a FIFO touches the socket; when it finishes it wakes the next.
 */
#ifndef NAP_CATNAP_H
#define NAP_CATNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "libos.h"

enum nap_state {
	NAP_NEW = 0, /* created, maybe bound */
	NAP_CONNECTING,
	NAP_CONNECTED,
	NAP_LISTENING,
};

struct nap_queue {
	struct demi__queue base;
	int fd;
	uint8_t state;
	bool bound;
	bool eof;      /* the peer closed: every further pop completes at once with 0 bytes */
	bool has_peer; /* UDP: connect() gave a default destination */
	struct demi__list accepts;
	struct demi__list pops;
	struct demi__list pushes;
	struct demi__task *connect;
	struct nap_queue *next_free;
	uint32_t gen; /* changes each time the struct is reused: stale completions are spotted */
	/* The engine's per-queue state (engine->queue_bytes; aligned for any scalar). */
	uint64_t engine[];
};

/* Per-task state, kept in the task's priv area. The push fields serve push tasks only. */
struct nap_task_state {
	uint32_t op; /* the engine's word, 0 when the task starts (io_uring: its operation) */
	bool has_to;
	uint64_t sent;
	struct sockaddr_in to;
	struct demi__push_req req;
};

static inline struct nap_task_state *nap_task_state(struct demi__task *t)
{
	_Static_assert(sizeof(struct nap_task_state) <= DEMI__TASK_PRIV_BYTES,
		       "task state must fit in a task");
	return (struct nap_task_state *)(void *)t->priv.u64;
}

/* Fills iov with what push ps has still to send (from byte ps->sent on); returns the count. */
static inline int nap_push_iov(const struct nap_task_state *ps, struct iovec *iov)
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

struct nap_engine_ops {
	const char *name;
	int (*init)(struct demi__libos *los);
	void (*fini)(struct demi__libos *los);
	/* Bytes of per-queue state the engine keeps in nap_queue.engine. */
	size_t queue_bytes;
	/* Readies q's engine area for a new socket. A fresh struct's area is zeroed; a reused
	 * one's holds what the engine left in it (it may keep allocations for the next use). */
	void (*queue_init)(struct nap_queue *q);
	/* Frees what q's engine area holds; the struct itself goes next. NULL: nothing. */
	void (*queue_fini)(struct nap_queue *q);
	/* q's fd changed state (q->state): it is a new UDP socket, listens, is connecting or has
	 * just connected. Starts watching it, or adapts to the new state. 0 or -errno. */
	int (*watch)(struct demi__libos *los, struct nap_queue *q);
	/* q is about to be closed: stop everything in flight on it and drop what the engine
	 * holds for it. Called before the queue's tasks are cancelled and its fd closed. NULL:
	 * nothing to stop (closing the fd is enough). In a forked child (nap_forked) it must not
	 * touch what the child shares with the parent (epoll set, io_uring rings). */
	void (*unwatch)(struct demi__libos *los, struct nap_queue *q);
	/* The poll functions of the four kinds of task. */
	demi__task_poll_fn accept, connect, push, pop;
	int (*poll_io)(struct demi__libos *los, uint64_t timeout_ns);
	/* Pool buffers the engine holds as receive buffers for the kernel (not leaks). */
	uint64_t (*bufs_cached)(struct demi__libos *los);
	/* Optional: the engine's counters, as the libOS's stats op (lib/libos.h). */
	size_t (*stats)(struct demi__libos *los, demi_stat_t *out, size_t cap);
};

struct nap_libos {
	const struct nap_engine_ops *engine;
	void *engine_state;
	uint32_t tcp_pop_bytes;	       /* most bytes one TCP pop returns */
	struct nap_queue *free_queues; /* cache of queue structs (accept churn allocates none) */
	uint8_t *udp_spill;	       /* overflow area for datagrams larger than a small buffer */
	pid_t owner;		       /* the process that called demi_init */
};

static inline struct nap_libos *nap_of(struct demi__libos *los)
{
	return los->priv;
}

/*
 * True in a child forked after demi_init. Such a child shares the epoll set, the io_uring rings
 * and every socket's file with its parent; when it tears its copy of the libOS down (exit()
 * runs the library's atexit handler) it closes its own fds and frees its own memory but must
 * not change those shared objects. Asked only on close and teardown (getpid is a syscall).
 */
static inline bool nap_forked(struct demi__libos *los)
{
	return getpid() != nap_of(los)->owner;
}

/* Completes accept t with the connection fd from listening queue lq (or fails it), then
 * lets the next accept of lq look. */
void nap_accept_finish(struct demi__task *t, struct nap_queue *lq, int fd,
		       const struct sockaddr_in *peer);
/* Finishes connect t of q: err is the engine's error (0: none seen), else the socket's
 * SO_ERROR decides. On success the engine is told (watch) that q is connected. */
void nap_connect_finish(struct demi__task *t, struct nap_queue *q, int err);
/* Completes pop t with buffer b (NULL: end of stream) and the sender of a datagram (or
 * NULL), then wakes the next pop of q. */
void nap_pop_deliver(struct demi__task *t, struct nap_queue *q, struct demi__buf *b,
		     const struct sockaddr_in *from);
/* Wakes the first task of a FIFO, if any. */
void nap_wake_head(struct demi__list *fifo);
/* The task at the head of a FIFO, or NULL. */
struct demi__task *nap_head(struct demi__list *fifo);

extern const struct nap_engine_ops nap_epoll_engine;
#ifdef NAP_HAVE_URING
extern const struct nap_engine_ops nap_uring_engine;
#endif

#endif
