/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the examples that run on libdemikernel: a set of outstanding tokens waited for with
 * demi_wait_any, socket setup, and the TCP and UDP echo servers shared by tcp-echo/tcp-pingpong
 * and udp-echo/udp-pingpong. Only the public API is used, so all of it runs on every libOS.
 */
#ifndef EX_DEMI_COMMON_H
#define EX_DEMI_COMMON_H

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "common.h"

/* What an outstanding token stands for. */
struct ex_tok {
	void *owner; /* the connection or socket the operation belongs to */
	int kind;    /* operation kind, defined by each program */
};

/*
 * The tokens a thread has outstanding, each with its context. Waiting uses demi_wait_next_n:
 * one call returns every operation that completed, so an event loop over thousands of
 * connections costs O(completions), not O(outstanding tokens), per wakeup. Results are matched
 * to their context by token (a hash table), which stays correct when a closed descriptor is
 * reused while its cancelled operations are still to be reaped. Every operation the thread
 * issues must be in the set: demi_wait_next_n returns any completion of the thread.
 */
struct ex_tokslot {
	demi_qtoken_t qt;
	struct ex_tok tok;
	uint8_t state; /* 0 empty, 1 used */
};

#define EX_TOKSET_BATCH 64

struct ex_tokset {
	struct ex_tokslot *tab;
	int cap;			       /* power of two */
	int n;				       /* outstanding tokens */
	demi_qresult_t ready[EX_TOKSET_BATCH]; /* results taken from the libOS, not yet returned */
	int nready, next;
};

/* Adds a token. Returns 0 or ENOMEM. */
int ex_tokset_add(struct ex_tokset *set, demi_qtoken_t qt, void *owner, int kind);

/*
 * Waits for any token of the set (the set must not be empty), removes it and returns its result
 * in *qr and its context in *tok. Returns 0, ETIMEDOUT (also when a signal interrupted the wait),
 * EPROTO for a completion the set did not know, or the error of demi_wait_next_n.
 */
int ex_tokset_wait(struct ex_tokset *set, demi_qresult_t *qr, struct ex_tok *tok,
		   const struct timespec *timeout);

/* Removes qt and gives its context in *tok; false if the set does not hold it. */
bool ex_tokset_take(struct ex_tokset *set, demi_qtoken_t qt, struct ex_tok *tok);

/* Calls fn for the context of every outstanding token. */
void ex_tokset_foreach(struct ex_tokset *set, void (*fn)(void *arg, struct ex_tok *tok), void *arg);

void ex_tokset_fini(struct ex_tokset *set);

/*
 * Issue a pop, push or accept on qd and add its token to the set with (owner, kind): together,
 * because every operation must be in the set (see above). Return 0 or an errno, already printed
 * as the failed call. The push does not keep sga: the library holds its own reference, so the
 * caller may free it at once.
 */
int ex_tokset_pop(struct ex_tokset *set, int qd, void *owner, int kind);
int ex_tokset_push(struct ex_tokset *set, int qd, const demi_sgarray_t *sga, void *owner, int kind);
int ex_tokset_accept(struct ex_tokset *set, int qd, int kind);

/* Prints "PROG: WHAT: strerror(err)" to stderr. err is a positive errno. */
void ex_err(const char *what, int err);

/* Name used as prefix of error messages; set by each program's main. */
extern const char *ex_prog;

/* Starts the libOS of this thread (chosen by the LIBOS environment variable). 0 or an errno. */
int ex_demi_init(void);

/*
 * The common start of every demi example's main: names the program in messages (ex_prog),
 * parses the command line as ex_opts_parse does, installs the signal handlers and starts the
 * libOS. Returns true to go on; false when main must return *exit_code (that of ex_opts_parse,
 * or 1 when the libOS did not start).
 */
bool ex_demi_start(int argc, char **argv, unsigned int allowed, uint64_t max_size,
		   const char *usage, struct ex_opts *o, int *exit_code);

/* Total bytes of a scatter-gather array. */
size_t ex_sga_len(const demi_sgarray_t *sga);

/* Allocates an array of len bytes filled with the pattern of seed. 0 or ENOMEM. */
int ex_sga_pattern(demi_sgarray_t *sga, size_t len, uint64_t seed);

/*
 * Checks the bytes of sga against the pattern of seed, the first of them being at offset of the
 * message. Returns the offset in the message of the first wrong byte, or offset + length.
 */
size_t ex_sga_check(const demi_sgarray_t *sga, uint64_t seed, size_t offset);

/* Frees an array, printing why if the library refuses. */
void ex_sga_free(demi_sgarray_t *sga);

/* Sets TCP_NODELAY; a libOS without the option only gets a warning. */
void ex_set_nodelay(int qd);

/* A listening TCP queue on addr. 0 or an errno (already printed). */
int ex_tcp_listen(const struct sockaddr_in *addr, int *qd_out);

/* A UDP queue bound to addr. 0 or an errno (already printed). */
int ex_udp_bind(const struct sockaddr_in *addr, int *qd_out);

/*
 * Opens a socket queue of `type`, connects it to addr and waits at most timeout_ns for the
 * connection (TCP gets TCP_NODELAY). 0 or an errno (already printed).
 */
int ex_connect_wait(int type, const struct sockaddr_in *addr, uint64_t timeout_ns, int *qd_out);

/*
 * Echo servers. They return when `count` connections (TCP) or datagrams (UDP) have been
 * served (0: no limit) or on SIGINT/SIGTERM; the return value is the exit code.
 */
int ex_tcp_echo_server(const struct sockaddr_in *addr, uint64_t count);
int ex_udp_echo_server(const struct sockaddr_in *addr, uint64_t count);

#endif /* EX_DEMI_COMMON_H */
