/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the integration tests. Every test is a program that exits 0 (pass), 1 (fail)
 * or 77 (skip, reason printed). A failed check prints where and why and ends the whole process
 * at once, from any thread, so a broken library fails a test instead of hanging it. Every wait
 * done through these helpers has a timeout.
 */
#ifndef TESTS_INTEGRATION_HELPERS_H
#define TESTS_INTEGRATION_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <pthread.h>
#include <time.h>

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "debug.h"

#define H_EXIT_PASS 0
#define H_EXIT_FAIL 1
#define H_EXIT_SKIP 77

/* Upper bound of a wait that is expected to complete. */
#define H_WAIT_MS 10000

__attribute__((noreturn, format(printf, 4, 5))) void h_fail(const char *file, int line,
							    const char *expr, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void h_skip(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void h_log(const char *fmt, ...);

/* Fails the test when cond is false. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			h_fail(__FILE__, __LINE__, #cond, " ");                                    \
	} while (0)

/* Same, with a printf-style explanation. */
#define CHECKF(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                            \
	} while (0)

/* Checks that a call returning 0 or a positive errno returned `want`. */
#define CHECK_ERR(call, want)                                                                      \
	do {                                                                                       \
		int h_rc_ = (call);                                                                \
		int h_want_ = (want);                                                              \
		if (h_rc_ != h_want_)                                                              \
			h_fail(__FILE__, __LINE__, #call, "returned %d (%s), expected %d (%s)",    \
			       h_rc_, h_errname(h_rc_), h_want_, h_errname(h_want_));              \
	} while (0)

#define CHECK_OK(call) CHECK_ERR(call, 0)

/* The libOS demi_init chooses (LIBOS or the configuration file), as demi_init reads it; "?"
 * when the configuration cannot be read. */
void h_libos_name(char *out, size_t size);
/* Symbolic name of an errno value ("ECONNREFUSED"), or "?" for an unusual one. */
const char *h_errname(int err);
const char *h_opcname(int opc);

/* Ends the process with a failure after `seconds` unless cancelled with h_watchdog(0). */
void h_watchdog(unsigned int seconds);

/* A timespec of ms milliseconds, in *ts; returns ts. */
struct timespec *h_ts(struct timespec *ts, long ms);
/* Monotonic clock in nanoseconds. */
uint64_t h_now_ns(void);
/* CPU time (user + system) of the calling thread in nanoseconds. */
uint64_t h_thread_cpu_ns(void);
/* Number of open file descriptors of the process (entries of /proc/self/fd). */
int h_count_fds(void);
void h_sleep_ms(long ms);

/*
 * demi_init for the calling thread with an empty argument list (LIBOS from the environment).
 * Skips the test when the chosen libOS is not built or has no device.
 */
void h_init(void);

/*
 * Records the buffers the calling thread's fresh libOS holds for itself (e.g. catnap's io_uring
 * engine lends a ring of pool buffers to the kernel) as the level h_check_idle expects.
 * h_init calls it; a test calling demi_init itself calls it right after.
 */
void h_baseline(void);
/* Buffers in use that h_check_idle does not count as leaked (see h_baseline). */
uint64_t h_baseline_bufs(void);

/* Live-object counters of the calling thread's libOS (fails the test on error). */
void h_counts(struct demi__debug_counts *out);
/*
 * Fails unless no task and no buffer (beyond the baseline) of the calling thread's libOS is
 * alive and exactly `queues` queues are open. With no task alive it first lets the libOS make
 * one pass (a zero-timeout demi_wait_next_n), so that buffers it lends to the kernel are back
 * at their baseline level.
 */
#define h_check_idle(where, queues) h_check_idle_at(__FILE__, __LINE__, where, queues)
void h_check_idle_at(const char *file, int line, const char *where, uint64_t queues);
/* Same with no queue open. */
#define h_check_no_leaks(where) h_check_idle_at(__FILE__, __LINE__, where, 0)

/*
 * Waits for qt (at most H_WAIT_MS) and checks the result's opcode; on a DEMI_OPC_FAILED result
 * that was not asked for, the errno is printed. qr may be NULL when the result is not needed.
 */
#define h_wait(qt, opc, qr) h_wait_at(__FILE__, __LINE__, qt, opc, qr)
void h_wait_at(const char *file, int line, demi_qtoken_t qt, int opc, demi_qresult_t *qr);
/* Waits for qt and checks that it failed with errno `err`. */
#define h_wait_failed(qt, err) h_wait_failed_at(__FILE__, __LINE__, qt, err)
void h_wait_failed_at(const char *file, int line, demi_qtoken_t qt, int err);
/* Checks that qt does not complete within ms milliseconds (it stays valid). */
#define h_wait_pending(qt, ms) h_wait_pending_at(__FILE__, __LINE__, qt, ms)
void h_wait_pending_at(const char *file, int line, demi_qtoken_t qt, long ms);

/* The IPv4 loopback address with the given port (host order). */
struct sockaddr_in h_loopback(uint16_t port);
#define H_SA(a) ((const struct sockaddr *)(a))

/* A TCP queue bound to 127.0.0.1:0 and listening; its address (with the port) in *addr. */
int h_tcp_listen(struct sockaddr_in *addr, int backlog);
/* A UDP queue bound to 127.0.0.1:0; its address in *addr. */
int h_udp_bind(struct sockaddr_in *addr);
/* A connected pair through listener lqd (address addr), driven by the calling thread. */
void h_tcp_pair(int lqd, const struct sockaddr_in *addr, int *client_qd, int *server_qd);
/* A connected TCP queue to addr (the peer is served by another thread). */
int h_tcp_connect(const struct sockaddr_in *addr);
/* Accepts one connection on lqd (waits at most H_WAIT_MS). */
int h_tcp_accept(int lqd);

/* Deterministic test data: the byte at stream offset `off` of stream `seed`. */
static inline uint8_t h_pattern_byte(uint64_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ (seed * 0xbf58476d1ce4e5b9ull);

	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	return (uint8_t)(x >> 56);
}

void h_pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t off);
/* Index of the first byte of buf that is not the pattern, or len if all match. */
size_t h_pattern_find_mismatch(const void *buf, size_t len, uint64_t seed, uint64_t off);
/* Fails the test unless buf holds the pattern. */
#define h_pattern_check(buf, len, seed, off)                                                       \
	h_pattern_check_at(__FILE__, __LINE__, buf, len, seed, off)
void h_pattern_check_at(const char *file, int line, const void *buf, size_t len, uint64_t seed,
			uint64_t off);

/* A one-segment sga over application memory (not from the pool). */
demi_sgarray_t h_sga_of(void *buf, uint32_t len);
/* demi_sgaalloc(len) filled with the pattern; fails the test if the allocation fails. */
demi_sgarray_t h_sga_pattern(uint32_t len, uint64_t seed, uint64_t off);
/* Total bytes of an sga. */
size_t h_sga_len(const demi_sgarray_t *sga);

/* Pushes len bytes of application memory on qd and waits for the push. */
#define h_push_bytes(qd, buf, len) h_push_bytes_at(__FILE__, __LINE__, qd, buf, len)
void h_push_bytes_at(const char *file, int line, int qd, const void *buf, size_t len);
/*
 * Pops from a TCP queue until exactly len bytes arrived and copies them into buf; fails on EOF,
 * on an error or when a pop returns more than asked (the caller controls what the peer sends).
 */
#define h_pop_exact(qd, buf, len) h_pop_exact_at(__FILE__, __LINE__, qd, buf, len)
void h_pop_exact_at(const char *file, int line, int qd, void *buf, size_t len);
/* Pops once and checks that it is the end of the stream (0 bytes). */
#define h_pop_eof(qd) h_pop_eof_at(__FILE__, __LINE__, qd)
void h_pop_eof_at(const char *file, int line, int qd);

/* Starts a thread running fn(arg) (fails the test on error). */
pthread_t h_thread_start(void *(*fn)(void *), void *arg);
void h_thread_join(pthread_t t);

/* A one-shot value handed from one thread to another (e.g. a listening port). */
struct h_mailbox {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool full;
	uint64_t value;
};

#define H_MAILBOX_INIT                                                                             \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0                      \
	}

void h_mailbox_put(struct h_mailbox *mb, uint64_t value);
/* Waits at most H_WAIT_MS for the value. */
uint64_t h_mailbox_get(struct h_mailbox *mb);

#endif /* TESTS_INTEGRATION_HELPERS_H */
