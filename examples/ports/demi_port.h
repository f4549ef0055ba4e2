/* SPDX-License-Identifier: MIT */
/*
 * demi_port: the queue-per-connection layer every application ported onto the demi_* API
 * shares (Redis, memcached; later the POSIX layer for unmodified programs). Not part of
 * libdemikernel: the port's build copies demi_port.{c,h} beside the program's own files
 * (examples/ports/prepare-tree.sh), and the program's glue calls it.
 *
 * What it does, so that the glue only maps the program's calls and loop onto it:
 *  - Placeholder fds. A program indexes its tables by descriptor and hands descriptors to
 *    close(2) and friends, while queue descriptors are small ints from 0 that collide with
 *    kernel fds (and, one instance per thread, with each other). Each queue reserves a kernel
 *    fd, a close-on-exec dup of /dev/null, and the program only sees that number: unique in
 *    the process, harmless under any stray system call. demi_port_q_of_fd() maps it back.
 *  - One operation outstanding per queue: an accept on a listener (accepted queues wait in a
 *    ring until the program takes them), a pop on a connection while it holds no popped
 *    buffer. A popped buffer larger than what the program reads at once stays held (and the
 *    queue readable) until it is consumed: one copy, as read(2) makes.
 *  - Writes copy the program's bytes once into pool memory and push them, answered as
 *    written at once: one buffer is pushed as it is (the libOS copies it into its pool, or
 *    catnap hands it to the kernel at once without that copy), several are gathered into one
 *    buffer from demi_sgaalloc; past DEMI_PORT_TX_SLOTS pushes or DEMI_PORT_TX_BUDGET bytes
 *    in flight they answer -EAGAIN (back-pressure from a peer that does not read).
 *  - The close linger: a queue closed with pushes in flight gives its placeholder back at
 *    once but keeps the queue until they complete (at most DEMI_PORT_LINGER_NS), so a reply
 *    written just before a close (QUIT, a refusal) is not cancelled.
 *  - The wait: demi_wait_next_n in batches, each completion turned into state on its queue,
 *    matched by token (a completion of a closed queue whose qd was reused is dropped, its
 *    buffer freed). It returns once a completion changed what a queue can do (not for a push
 *    that leaves room as before). A queue whose state changed goes on the check list, which the
 * program's loop evaluates (demi_port_check_each) against what it waits for: an idle queue costs
 *    nothing.
 *  - The kernel slice: a program keeps some kernel fds (pipes, a unix socket, an eventfd) on
 *    its own poller, polled without waiting once per slice; the slice is
 *    DEMI_PORT_KSLICE_MIN_NS after one fired and doubles to DEMI_PORT_KSLICE_MAX_NS while none
 *    does (a busy-polling libOS makes one system call per slice, an idle catnap one wakes at
 *    most 100 times a second).
 *
 * Threads: one struct demi_port per thread that runs a libOS instance; its queues belong to it.
 * The placeholder table is process-wide: fixed in size when demi_port_init got a size (each
 * slot written only by the thread owning the fd), grown on demand when it got 0 (one thread).
 *
 * Call order: demi_port_init (once, before demi_init), demi_port_create (per thread, after its
 * demi_init); then queues (demi_port_q_create + demi_port_q_listen/_arm_pop/_connect), the
 * loop (demi_port_wait, demi_port_check_each, the kernel-slice calls) and the I/O calls;
 * demi_port_destroy at the end closes every queue of the thread.
 *
 * Errors: >= 0 or -errno, as everywhere in this tree.
 */
#ifndef DEMI_PORT_H
#define DEMI_PORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <demi/types.h>

#define DEMI_PORT_ACCEPT_RING 64
#define DEMI_PORT_TX_SLOTS 64
#define DEMI_PORT_TX_BUDGET (1u << 20)
#define DEMI_PORT_LINGER_NS 5000000000ull
#define DEMI_PORT_KSLICE_MIN_NS 50000ull
#define DEMI_PORT_KSLICE_MAX_NS 10000000ull

/* demi_port_ready() bits. */
#define DEMI_PORT_IN 1
#define DEMI_PORT_OUT 2

struct demi_port;

/* A push in flight: its token and how many bytes it carries. */
struct demi_port_push {
	demi_qtoken_t qt;
	size_t len;
};

/* One queue. A program with state of its own per queue embeds this as its first member and
 * passes its struct's size to demi_port_q_create. Fields are read by the glue, written only
 * here. What every request touches comes first, with every token a completion is matched
 * against (a few cache lines per connection; the listener's accept ring last), and the push ring
 * restarts at slot 0 whenever it empties, so a connection with one reply in flight at a time keeps
 * using the same slot. */
struct demi_port_q {
	int fd; /* the placeholder the program knows; -1 once the program closed it */
	int qd;
	struct demi_port *port;
	int on_check;
	int listening;
	/* what each completion is matched against (complete() reads these for every one) */
	int pop_armed, rearm, accept_armed, connecting;
	demi_qtoken_t pop_qt, accept_qt, connect_qt;
	/* connection: receive (one pop outstanding or one popped buffer held) */
	int rx_have, eof, err;
	size_t rx_off;
	demi_sgarray_t rx;
	/* connection: transmit (pushes complete in issue order) */
	unsigned push_head, push_n;
	size_t inflight;
	struct demi_port_push push[DEMI_PORT_TX_SLOTS];
	struct sockaddr_in peer;
	/* closed by the program, pushes still in flight */
	uint64_t linger_until;
	struct demi_port_q *zombie_next;
	/* listener: accepted queues waiting for the program */
	unsigned acc_head, acc_n;
	int acc_qd[DEMI_PORT_ACCEPT_RING];
	struct sockaddr_in acc_addr[DEMI_PORT_ACCEPT_RING];
};

typedef void (*demi_port_log_fn)(const char *msg);

/* Once per process: opens the /dev/null the placeholders dup, sizes the placeholder table
 * (fd_cap > 0: fixed, placeholders beyond it are refused with -EMFILE; 0: grows) and sets
 * where warnings go (NULL: stderr). 0 or -errno. */
int demi_port_init(int fd_cap, demi_port_log_fn log);
/* The calling thread's queue set (after its demi_init), or NULL without memory. */
struct demi_port *demi_port_create(void);
/* Closes every queue of p (lingering ones too) and frees p: at exit, so the libOS ends each
 * connection properly. */
void demi_port_destroy(struct demi_port *p);

/* CLOCK_MONOTONIC in ns: the clock of deadlines given here. */
uint64_t demi_port_now_ns(void);

/* A new queue for qd behind a fresh placeholder; size >= sizeof(struct demi_port_q) (the
 * program's struct embedding it, zeroed). NULL with errno set (EMFILE, ENOMEM). */
struct demi_port_q *demi_port_q_create(struct demi_port *p, int qd, size_t size);
/* The queue behind placeholder fd, or NULL (a kernel fd). */
struct demi_port_q *demi_port_q_of_fd(int fd);
/* p's queue of qd, or NULL. */
struct demi_port_q *demi_port_q_of_qd(struct demi_port *p, int qd);
/* q is a listening queue: keep an accept outstanding. */
void demi_port_q_listen(struct demi_port_q *q);
/* Takes the oldest accepted queue: 0 with *qd and *addr, or -EAGAIN. */
int demi_port_accept_take(struct demi_port_q *l, int *qd, struct sockaddr_in *addr);
/* Issues q's pop unless one is outstanding or q holds a buffer, end of stream or an error. */
void demi_port_arm_pop(struct demi_port_q *q);
/* Connects q (a fresh queue) to addr: 0 and q is connecting, or -errno. */
int demi_port_connect(struct demi_port_q *q, const struct sockaddr_in *addr);

/* Copies up to len popped bytes into buf: their count, 0 at end of stream, -errno (q's
 * error), or -EAGAIN (nothing yet, the next pop issued). When the held buffer is consumed, the
 * next pop is issued by the next demi_port_wait (the program's answer leaves first). */
ssize_t demi_port_read(struct demi_port_q *q, void *buf, size_t len);
/* Pushes the iovecs (up to the budget's room) as one copy: the bytes taken, 0 for none,
 * -EAGAIN (connecting, or no room until pushes complete), -ENOMEM (no pool memory) or -errno
 * (q's error). */
ssize_t demi_port_writev(struct demi_port_q *q, const struct iovec *iov, int iovcnt);
/* What q could do now, whatever the program waits for: DEMI_PORT_IN (bytes, end of stream,
 * an error, an accepted queue), DEMI_PORT_OUT (room for a push, or an error). */
int demi_port_ready(const struct demi_port_q *q);

/* The program closed q: its placeholder goes at once; the queue too, unless pushes are in
 * flight (then it lingers until they complete or DEMI_PORT_LINGER_NS passed). */
void demi_port_close(struct demi_port_q *q);
/* Gives back q's placeholder only (a queue another thread owns, or a fork child's copy). */
void demi_port_release_fd(struct demi_port_q *q);

/* Puts q on its port's check list (a new interest of the program; or to keep it there). */
void demi_port_check_add(struct demi_port_q *q);
/* Whether some queue on the list satisfies ready(q, arg). */
int demi_port_check_any(struct demi_port *p, int (*ready)(struct demi_port_q *q, void *arg),
			void *arg);
/* Takes the check list and calls fn on each queue still open on it (off the list by then;
 * fn may close queues, and demi_port_check_add(q) keeps q for the next round). */
void demi_port_check_each(struct demi_port *p, void (*fn)(struct demi_port_q *q, void *arg),
			  void *arg);
/* How many queues are on the check list. */
int demi_port_check_count(const struct demi_port *p);

/* Waits until a completion changes what some queue can do (it goes on the check list: bytes,
 * end of stream, an error, an accepted queue, a connect done, room for a push after none)
 * or timeout_ns passed (-1: no limit; 0: one look; capped at 100 ms while queues linger),
 * and applies every completion available by then. A completion that changes nothing the
 * program could see (a push's, while room remained) does not end the wait: the program's loop
 * does not run a round for it. now is the caller's demi_port_now_ns() reading from just
 * before (used only to keep the deadline when the wait goes on; 0: read it then). Ends the
 * lingering queues that are done. 0 or -errno (demi_wait_next_n's error). */
int demi_port_wait(struct demi_port *p, uint64_t now, int64_t timeout_ns);
/* Waits for one operation's completion (a synchronous call of the program) until deadline
 * (demi_port_now_ns()): 0 (applied), -ETIMEDOUT or -errno. */
int demi_port_wait_token(struct demi_port *p, demi_qtoken_t qt, uint64_t deadline_ns);

/* The kernel slice: whether the kernel fds are due for their poll at now; after polling them,
 * whether any fired (sets the next slice); how long until they are due (0: now). */
int demi_port_kernel_due(const struct demi_port *p, uint64_t now);
void demi_port_kernel_polled(struct demi_port *p, uint64_t now, int fired);
uint64_t demi_port_kernel_left(const struct demi_port *p, uint64_t now);

#endif /* DEMI_PORT_H */
