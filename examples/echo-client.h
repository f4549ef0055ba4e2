/* SPDX-License-Identifier: MIT */
/*
 * The half of the tcp-echo and udp-echo load clients that does not depend on the protocol. Both
 * drive --clients queues from one thread, each with one request in flight and every token in one
 * set, and report the same statistics. What differs stays in each program: TCP reassembles an
 * echo from the pieces of a byte stream; UDP matches whole datagrams, sends a request again after
 * a timeout and counts the ones lost.
 */
#ifndef EX_ECHO_CLIENT_H
#define EX_ECHO_CLIENT_H

#include "demi-common.h"

/* Kinds of the client's tokens. */
enum { EX_ECHO_CONNECT, EX_ECHO_POP, EX_ECHO_PUSH };

/*
 * One connection (TCP) or socket (UDP). Each program makes it the first member of its own
 * per-queue state, so that the owner of a token, which points to this, also points to that.
 */
struct ex_echo_conn {
	int qd;
	uint32_t id;
	uint32_t req; /* request being echoed */
	bool popping; /* a pop is outstanding */
	bool closed;  /* finished or failed: the queue is closed */
};

struct ex_echo_client {
	const struct ex_opts *o;
	const char *noun; /* what a queue is called in messages: "client" or "socket" */
	struct ex_tokset set;
	struct ex_echo_stats st;
	uint64_t t0_ns;
};

/* Sets up the statistics for --clients queues of --requests each and starts the clock. */
void ex_echo_client_init(struct ex_echo_client *ec, const struct ex_opts *o, const char *noun);

/*
 * Opens queue `id` (type SOCK_STREAM or SOCK_DGRAM) and connects it to --client's address; the
 * connect completes as an EX_ECHO_CONNECT token. Failures count as errors and leave c closed.
 */
void ex_echo_open(struct ex_echo_client *ec, struct ex_echo_conn *c, uint32_t id, int type);

/* Closes c once (a finished queue); its outstanding operations then complete as cancelled. */
void ex_echo_close(struct ex_echo_conn *c);

/* Counts an error and closes c, unless it is closed already: a queue fails only once. */
void ex_echo_fail(struct ex_echo_client *ec, struct ex_echo_conn *c);

/* Issues a pop on c (EX_ECHO_POP). 0 or an errno (printed). */
int ex_echo_pop(struct ex_echo_client *ec, struct ex_echo_conn *c);

/* Pushes request c->req: --size bytes of its pattern (EX_ECHO_PUSH). 0 or an errno (printed). */
int ex_echo_push(struct ex_echo_client *ec, struct ex_echo_conn *c);

/*
 * If qr is a failed `what` (pop, push) of c, reports it, unless c was closed (closing cancels
 * what is outstanding, no news), fails c and returns true.
 */
bool ex_echo_failed(struct ex_echo_client *ec, struct ex_echo_conn *c, const char *what,
		    const demi_qresult_t *qr);

/*
 * Stops the clock, releases the token set and prints the summary and RESULT line. Returns the
 * exit code: 0 only if the loop went well (ok) and every request was echoed exactly.
 */
int ex_echo_client_end(struct ex_echo_client *ec, const char *proto, bool ok);

#endif /* EX_ECHO_CLIENT_H */
