/* SPDX-License-Identifier: MIT */
/*
 * The sending side of tcp-push-pop and udp-push-pop: --requests messages of --size bytes pushed
 * on one queue with up to --window pushes outstanding, and the client's rate. It sends from
 * --window buffers allocated and filled once, each pushed again whenever its previous push has
 * completed: this measures zero-copy pushes, not memset. Pushes complete in issue order, so with
 * fewer than W outstanding, the buffer of push i - W is free again. What differs stays in each
 * program: how long a push may take (TCP flow control may stall it, a UDP push never waits for
 * the peer) and UDP's end marker.
 */
#ifndef EX_PUSH_SOURCE_H
#define EX_PUSH_SOURCE_H

#include "demi-common.h"

struct ex_source {
	/* Set by the program. */
	uint64_t wait_ns;	 /* longest wait for a push to complete */
	const char *wait_failed; /* what a wait that times out is reported as */

	/* Set by ex_source_run. */
	const struct ex_opts *o;
	int qd;
	demi_sgarray_t *bufs; /* --window buffers pushed in turn */
	uint64_t issued, done;
	struct ex_tokset set;
};

/*
 * Connects a queue of `type` (SOCK_STREAM or SOCK_DGRAM) to --client's address, waiting at most
 * connect_ns, pushes everything and prints the client's rate and its RESULT line. Returns 0 or an
 * errno (printed; EINTR on SIGINT/SIGTERM). The queue stays open for more pushes: release it all
 * with ex_source_fini, also after a failure.
 */
int ex_source_run(struct ex_source *c, const struct ex_opts *o, int type, uint64_t connect_ns);

/* Pushes sga (which the caller may free at once). 0 or an errno (printed). */
int ex_source_push(struct ex_source *c, const demi_sgarray_t *sga);

/* Waits for one push. 0 or an errno (printed unless it is `quiet`, a push's own error). */
int ex_source_reap(struct ex_source *c, int quiet);

/* Closes the queue, then frees the buffers and the token set. */
void ex_source_fini(struct ex_source *c);

#endif /* EX_PUSH_SOURCE_H */
