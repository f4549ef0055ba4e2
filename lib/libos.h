/* SPDX-License-Identifier: MIT */
/*
 * The driver SDK: the one header a libOS (catnap, catnip, catmint) includes. It defines the
 * table of operations a libOS implements and the services lib/ gives it (runtime, buffer pool,
 * configuration, logging, queue descriptors).
 *
 * lib/api.c has already checked every argument that does not need the libOS's state: pointers
 * are non-NULL, the qd names an open queue of this libOS, addresses are AF_INET and long
 * enough, scatter-gather arrays are well formed and resolved to demi__seg (with a reference
 * taken on every pool buffer). Operations return 0 (or a count) on success, -errno on failure;
 * a task handed to an operation that fails is discarded by the caller.
 */
#ifndef DEMI__LIBOS_H
#define DEMI__LIBOS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include <netinet/in.h>

#include <demi/stats.h>
#include <demi/types.h>

#include "config.h"
#include "list.h"
#include "log.h"
#include "mem/buf.h"
#include "runtime/runtime.h"

struct demi__libos;
struct demi__queue;

/* demikernel.spin_us's default: how long a wait polls after the last work before it sleeps;
 * demikernel.spin_max_us's: how far that grows when sleeps keep being cut short by work. */
#define DEMI__SPIN_US_DEFAULT 100
#define DEMI__SPIN_MAX_US_DEFAULT 1000

/* One segment of a push: pool memory (buf != NULL, one reference held for the push) or
 * foreign memory (buf == NULL), which the libOS must consume or copy before push returns. */
struct demi__seg {
	struct demi__buf *buf;
	uint8_t *data;
	uint32_t len;
};

/* Data of a push, built by lib/api.c: the segments and their total length. */
struct demi__push_req {
	struct demi__seg segs[DEMI_SGARRAY_MAXSIZE];
	uint32_t nsegs;
	uint64_t total;
};

struct demi__libos_ops {
	const char *name;
	int (*init)(struct demi__libos *los);
	void (*fini)(struct demi__libos *los);

	/* Creates a queue (embedding struct demi__queue); lib/ assigns its qd. */
	int (*socket)(struct demi__libos *los, int domain, int type, int protocol,
		      struct demi__queue **q_out);
	int (*bind)(struct demi__queue *q, const struct sockaddr_in *addr);
	int (*listen)(struct demi__queue *q, int backlog);
	/* The asynchronous operations start the task t (already created with its opcode, and
	 * with no poll function). A libOS whose tasks make progress when woken sets t->poll; one
	 * whose tasks are finished only by its own events (completions, stack callbacks) leaves
	 * it NULL: such a task is never polled, and waking it does nothing. Completing or
	 * failing a task unlinks its wait_link; a libOS never links a done task again (its slot
	 * is freed without looking at that list). */
	int (*accept)(struct demi__queue *q, struct demi__task *t);
	int (*connect)(struct demi__queue *q, struct demi__task *t, const struct sockaddr_in *to);
	/* to is NULL for demi_push. On success the task owns req (the segments' references);
	 * on failure the caller drops them. */
	int (*push)(struct demi__queue *q, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to);
	int (*pop)(struct demi__queue *q, struct demi__task *t);
	/* Fails every pending task of q with ECANCELED and frees q. */
	int (*close)(struct demi__queue *q);
	int (*setsockopt)(struct demi__queue *q, int level, int name, const void *val,
			  socklen_t len);
	int (*getsockopt)(struct demi__queue *q, int level, int name, void *val, socklen_t *len);
	int (*getpeername)(struct demi__queue *q, struct sockaddr_in *addr);
	int (*getsockname)(struct demi__queue *q, struct sockaddr_in *addr);

	/* Optional: called after each user call that may have made the libOS send (connect,
	 * close, push, pop, setsockopt), so that a libOS batching work for its device (catnip)
	 * hands it over before the call returns. may_wait: a push or pop made while the
	 * application works through a batch of completions (struct demi__libos.defer_end_call);
	 * the libOS may keep a few frames for one burst, since the next demi_wait* calls
	 * end_call(los, false) first. */
	void (*end_call)(struct demi__libos *los, bool may_wait);
	/* Looks for device events, sleeping up to timeout_ns (0: do not sleep; UINT64_MAX: no
	 * limit) until one arrives, and wakes the tasks they concern. Called by demi_wait* when no
	 * task is ready: with 0 while it spins (busy_poll, or work seen within spin_ns), with the
	 * time to the wait's deadline or the next runtime timer otherwise. A libOS with deadlines
	 * of its own (catnip's protocol timers) shortens the sleep to the earliest of them.
	 * Returns how many events it found (> 0: work for the next pass), 0 or -errno. NULL: the
	 * libOS polls in a background task and never sleeps. */
	int (*poll_io)(struct demi__libos *los, uint64_t timeout_ns);
	/* poll_io(los, 0) does nothing: the libOS polls its device in its scheduler pass (catnip,
	 * catmint), so a spinning wait does not call it (a call per idle pass saved). */
	bool poll_io_only_sleeps;
	/* Pool buffers the libOS keeps handed to its device for receiving (0 if none): they are
	 * in use but not leaked. NULL means 0. */
	uint64_t (*bufs_cached)(struct demi__libos *los);
	/* Optional: the libOS's counters (demi_stats), names of static storage in a fixed order;
	 * fills out[0..cap) and returns how many it has. */
	size_t (*stats)(struct demi__libos *los, demi_stat_t *out, size_t cap);
};

/* One uint64_t counter of a libOS's stats struct for demi_stats: its name (static storage,
 * "<libos>.<field>") and where it lies in the struct. A libOS keeps a table of these beside
 * the struct, with a _Static_assert that it covers every field, so no counter goes unnamed. */
struct demi__stat_field {
	const char *name;
	size_t offset;
};
#define DEMI__STAT_FIELD(prefix, type, f)                                                          \
	{                                                                                          \
		prefix #f, offsetof(type, f)                                                       \
	}
/* The n counters of table t, read from the struct at base, into out[k..cap) (those past cap
 * are only counted); returns k + n, for the next table's k. */
size_t demi__stats_from_table(const struct demi__stat_field *t, size_t n, const void *base,
			      demi_stat_t *out, size_t cap, size_t k);
/* A table (array) t names every field of type, which holds only uint64_t counters. */
#define DEMI__STAT_TABLE_COVERS(t, type)                                                           \
	_Static_assert(sizeof(t) / sizeof((t)[0]) * sizeof(uint64_t) == sizeof(type),              \
		       "every counter of " #type " has a name for demi_stats")
/* demi__stats_from_table over the whole array t. */
#define DEMI__STATS_FROM(t, base, out, cap, k)                                                     \
	demi__stats_from_table((t), sizeof(t) / sizeof((t)[0]), (base), (out), (cap), (k))

/* Common head of every queue; a libOS embeds it first in its own queue struct. */
struct demi__queue {
	struct demi__libos *los;
	int qd;
	int type; /* SOCK_STREAM or SOCK_DGRAM */
};

struct demi__libos {
	const struct demi__libos_ops *ops;
	struct demi__runtime rt;
	struct demi__pool pool;
	struct demi__config cfg;
	bool busy_poll; /* never sleep in demi_wait* */
	/* Adaptive waiting (lib/wait.c): a wait polls without sleeping for spin_ns after the last
	 * sign of work (a scheduler pass that made progress, or an operation the application
	 * started since: user_call, set by lib/api.c), then sleeps in poll_io. spin_ns moves
	 * between spin_base_ns (demikernel.spin_us) and spin_max_ns (demikernel.spin_max_us). */
	uint64_t spin_ns, spin_base_ns, spin_max_ns;
	uint64_t last_work_ns;
	bool user_call;
	bool io_work; /* poll_io reported events since the last work noted */
	bool slept;   /* poll_io was asked to sleep since the last work */
	/* demi_wait* calls so far: the application can change what a libOS must do (free a
	 * buffer, close a queue) only between waits, so a libOS that skips work on passes where
	 * nothing happened (catnip's idle device polls) does it all on a wait's first pass. */
	uint64_t waits;
	/* The last wait handed out one completion of several ready (lib/wait.c): the
	 * application is working through a batch, and its pushes and pops call end_call with
	 * may_wait, so that answers leave in a few device bursts rather than one burst each
	 * (catnip over memif: a burst costs a ring update the peer's core must fetch); the next
	 * wait flushes what is left. Off when the wait found a single completion, so a lone
	 * answer (a ping-pong) leaves at once. */
	bool defer_end_call;
	void *priv;  /* the libOS's own state */
	pid_t owner; /* the process that made it: a forked child never tears it down */
	/* What the waits did (demi_stats wait_sleeps, wait_spin_polls): the evidence of the
	 * adaptive waiting, which CPU time on a shared machine is not. */
	uint64_t wait_sleeps, wait_spin_polls;
	/* qd table: qd -> queue; free qds are reused oldest first, so a stale qd is unlikely
	 * to name a new queue soon. */
	struct demi__queue **qds;
	int nqds;
	int *qd_free_ring;
	int qd_free_head, qd_free_count;
	uint64_t queues_open;
	unsigned stats_seen; /* the stats signal's generation last dumped (lib/stats.c) */
};

/* Registers q under a new qd (q->qd is set). 0 or -EMFILE/-ENOMEM. */
int demi__qd_alloc(struct demi__libos *los, struct demi__queue *q);
/* Forgets q's qd (the libOS frees q). */
void demi__qd_free(struct demi__libos *los, struct demi__queue *q);
struct demi__queue *demi__qd_get(struct demi__libos *los, int qd);

/* Drops the references a push request holds. */
void demi__push_req_put(struct demi__push_req *req);
/* Copies the foreign segments of req into pool buffers (from byte `skip` of the request on,
 * the bytes before having been consumed already), so the application may reuse its memory.
 * 0 or -ENOMEM. */
int demi__push_req_own(struct demi__pool *pool, struct demi__push_req *req, uint64_t skip);

/* Fills an sga naming buf's data, handing the caller's reference to the application. */
void demi__sga_from_buf(demi_sgarray_t *sga, struct demi__buf *b);

/* The libOS registry (lib/libos_registry.c): one entry per libOS compiled in. */
const struct demi__libos_ops *demi__libos_find(const char *name, bool *known);

#endif
