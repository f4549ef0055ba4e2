/* SPDX-License-Identifier: MIT */
/*
 * catnap: the libOS on the host's POSIX sockets.
 *
 * One queue implementation (catnap.c: socket lifecycle, option handling, the per-queue FIFOs
 * of pending operations, cancellation) over an engine that makes the operations progress.
 * The epoll engine (epoll_engine.c) tries each operation's syscall when the socket is known to
 * be ready and otherwise parks the task until edge-triggered epoll says it is.
 *
 * Ordering: on one queue, pops complete in issue order and pushes are written in issue order:
 * only the task at the head of a FIFO touches the socket; when it finishes it wakes the next.
 */
#ifndef NAP_CATNAP_H
#define NAP_CATNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

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
	bool watched; /* registered with the engine */
	/* Readiness known from the last event or syscall (edge-triggered): try the syscall only
	 * when set, clear it when the kernel says EAGAIN. */
	bool readable;
	bool writable;
	bool eof;	  /* the peer closed: every further pop completes at once with 0 bytes */
	bool peer_closed; /* epoll reported the peer's FIN (or an error): no further edge comes */
	bool has_peer;	  /* UDP: connect() gave a default destination */
	struct demi__list accepts;
	struct demi__list pops;
	struct demi__list pushes;
	struct demi__task *connect;
	struct demi__list engine_link; /* io_uring: on the list of receives to re-arm */
	struct nap_queue *next_free;
	uint32_t gen; /* changes each time the struct is reused: stale completions are spotted */
	int err;      /* a socket error to report to pending and later pops (io_uring) */
	/* io_uring engine: received data not yet popped, and connections not yet accepted. */
	struct demi__buf_fifo rx; /* received buffers, oldest first */
	uint64_t rx_bytes;
	bool rx_paused;	    /* receive stopped: rx_bytes reached catnap.uring_rx_max_bytes */
	bool zc_ok;	    /* the peer is not on this host: zero-copy sends are worth it */
	uint32_t recv_op;   /* armed multishot receive (op id + 1), 0 if none */
	uint32_t accept_op; /* armed multishot accept (op id + 1), 0 if none */
	int *acc_fds;	    /* ring of accepted fds */
	uint32_t acc_head, acc_count, acc_cap;
};

/* Per-task state, kept in the task's priv area. The push fields serve push tasks only. */
struct nap_task_state {
	uint32_t op; /* io_uring: the operation in flight for this task (id + 1), 0 if none */
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

struct nap_engine;

struct nap_engine_ops {
	const char *name;
	int (*init)(struct demi__libos *los);
	void (*fini)(struct demi__libos *los);
	/* Starts watching q's fd (it just connected, listens, or is a UDP socket). Idempotent.
	 * 0 or -errno. */
	int (*watch)(struct demi__libos *los, struct nap_queue *q);
	/* q is about to be closed: stop everything in flight on it and drop what the engine
	 * holds for it. Called before the queue's tasks are cancelled and its fd closed. */
	void (*unwatch)(struct demi__libos *los, struct nap_queue *q);
	/* The poll functions of the four kinds of task. */
	demi__task_poll_fn accept, connect, push, pop;
	int (*poll_io)(struct demi__libos *los, uint64_t timeout_ns);
	/* Pool buffers the engine holds as receive buffers for the kernel (not leaks). */
	uint64_t (*bufs_cached)(struct demi__libos *los);
};

struct nap_libos {
	const struct nap_engine_ops *engine;
	void *engine_state;
	uint32_t tcp_pop_bytes;	       /* most bytes one TCP pop returns */
	struct nap_queue *free_queues; /* cache of queue structs (accept churn allocates none) */
	uint8_t *udp_spill;	       /* overflow area for datagrams larger than a small buffer */
};

static inline struct nap_libos *nap_of(struct demi__libos *los)
{
	return los->priv;
}

static inline struct nap_queue *nap_queue_of(void *q)
{
	return q;
}

/* Creates a queue around an existing fd. NULL: -ENOMEM. */
struct nap_queue *nap_queue_create(struct demi__libos *los, int fd, int type);
/* Turns a connection fd from accept into a watched, connected queue with a qd. On failure the
 * fd is closed. 0 or -errno. */
int nap_queue_accepted(struct demi__libos *los, int fd, struct nap_queue **q_out);
/* Completes accept t with the connection fd from listening queue lq (or fails it), then
 * lets the next accept of lq look. */
void nap_accept_finish(struct demi__task *t, struct nap_queue *lq, int fd,
		       const struct sockaddr_in *peer);
/* Completes pop t with buffer b (NULL: end of stream) and the sender of a datagram (or
 * NULL), then wakes the next pop of q. */
void nap_pop_deliver(struct demi__task *t, struct nap_queue *q, struct demi__buf *b,
		     const struct sockaddr_in *from);
/* Returns a queue struct (fd already closed) to the cache. */
void nap_queue_release(struct demi__libos *los, struct nap_queue *q);
/* Wakes the first task of a FIFO, if any. */
void nap_wake_head(struct demi__list *fifo);
/* The task at the head of a FIFO, or NULL. */
struct demi__task *nap_head(struct demi__list *fifo);

extern const struct nap_engine_ops nap_epoll_engine;
#ifdef NAP_HAVE_URING
extern const struct nap_engine_ops nap_uring_engine;
#endif

#endif
