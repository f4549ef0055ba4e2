/* SPDX-License-Identifier: MIT */
/*
 * API misuse, table-driven: every entry is one call that must fail with an exact errno (or, for
 * a connect to a closed port, complete FAILED with one), never crash, and leave no token,
 * buffer or queue behind. All entries run and every mismatch is reported; the program fails if
 * any entry did. Covered: calls before demi_init, demi_init twice or with a bad libOS, bad
 * queue descriptors, NULL pointers, bad scatter-gather arrays, wrong socket state, bad
 * addresses, bad tokens and timespecs, bad socket options, bad frees.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "helpers.h"

/* A NULL the compiler cannot see, so that nonnull attributes do not reject the calls. */
static void *volatile vnull;
#define NULLP(T) ((T *)vnull)

/* The queues, addresses and objects the entries use (main thread's libOS). */
static struct {
	int tcp;       /* unbound stream socket */
	int tcp_bound; /* bound, not listening */
	int lst;       /* listening */
	int cli, srv;  /* connected pair */
	int udp;       /* unbound datagram socket */
	int udp_bound;
	int udp_conn; /* connected to udp_bound */
	int closed;   /* a descriptor that was closed */
	struct sockaddr_in lst_addr, udp_addr, lo0, refused_addr, nonlocal, unix_family;
	struct sockaddr_in6 in6;
	demi_qtoken_t pending;	/* a pop that stays pending */
	demi_qtoken_t released; /* a token whose result was taken */
	demi_sgarray_t one;	/* a valid one-byte array over application memory */
	uint8_t *big;		/* 65508 bytes */
} g;

/* Out-parameters of the calls. */
static demi_qtoken_t qt;
static demi_qtoken_t qts[2];
static demi_qresult_t qr;
static demi_qresult_t qrs[4];
static int ready, nout, ival;
static socklen_t len;
static struct sockaddr_in sa;
static uint8_t byte = 'x';

static const struct timespec ts_zero = {0, 0};
static const struct timespec ts_nsec_big = {0, 1000000000L};
static const struct timespec ts_nsec_neg = {0, -1};
static const struct timespec ts_sec_neg = {-1, 0};

static demi_sgarray_t sga_with(uint32_t numsegs, void *buf, uint32_t seglen)
{
	demi_sgarray_t s;

	memset(&s, 0, sizeof(s));
	s.sga_numsegs = numsegs;
	s.sga_segs[0].sgaseg_buf = buf;
	s.sga_segs[0].sgaseg_len = seglen;
	return s;
}

static demi_sgarray_t tmp_sga;
#define SGA(n, buf, l) (tmp_sga = sga_with(n, buf, l), &tmp_sga)

/* Ops that take a queue descriptor, otherwise valid arguments. */
#define QD_OPS(X)                                                                                  \
	X(close, demi_close(qd))                                                                   \
	X(listen, demi_listen(qd, 8))                                                              \
	X(bind, demi_bind(qd, H_SA(&g.lo0), sizeof(g.lo0)))                                        \
	X(accept, demi_accept(&qt, qd))                                                            \
	X(connect, demi_connect(&qt, qd, H_SA(&g.lst_addr), sizeof(g.lst_addr)))                   \
	X(push, demi_push(&qt, qd, &g.one))                                                        \
	X(pushto, demi_pushto(&qt, qd, &g.one, H_SA(&g.udp_addr), sizeof(g.udp_addr)))             \
	X(pop, demi_pop(&qt, qd))                                                                  \
	X(setsockopt,                                                                              \
	  (ival = 1, demi_setsockopt(qd, SOL_SOCKET, SO_REUSEADDR, &ival, sizeof(ival))))          \
	X(getsockopt, (len = sizeof(ival), demi_getsockopt(qd, SOL_SOCKET, SO_TYPE, &ival, &len))) \
	X(getsockname, (len = sizeof(sa), demi_getsockname(qd, (struct sockaddr *)&sa, &len)))     \
	X(getpeername, (len = sizeof(sa), demi_getpeername(qd, (struct sockaddr *)&sa, &len)))

#define X(name, call)                                                                              \
	static int qdop_##name(int qd)                                                             \
	{                                                                                          \
		return call;                                                                       \
	}
QD_OPS(X)
#undef X

static const struct {
	const char *name;
	int (*fn)(int qd);
} qd_ops[] = {
#define X(name, call) {#name, qdop_##name},
	QD_OPS(X)
#undef X
};

static int failures;

static void report(const char *group, const char *name, int got, int want)
{
	if (got == want) {
		printf("  ok   %-14s %-40s %s\n", group, name, h_errname(got));
		return;
	}
	printf("  FAIL %-14s %-40s got %d (%s), expected %d (%s)\n", group, name, got,
	       h_errname(got), want, h_errname(want));
	failures++;
}

/* Entries needing more than one call. */

/* Connect to a port that is bound (by a plain socket) but not listening. */
static int connect_refused(void)
{
	int qd, rc;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	rc = demi_connect(&qt, qd, H_SA(&g.refused_addr), sizeof(g.refused_addr));
	if (rc == 0) {
		h_wait(qt, DEMI_OPC_FAILED, &qr);
		rc = (int)qr.qr_ret;
	} else {
		rc = -rc; /* the error must come in qr_ret, not from the call */
	}
	CHECK_OK(demi_close(qd));
	return rc;
}

/* A second queue binding the listener's address. */
static int bind_in_use(void)
{
	int qd, rc;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	rc = demi_bind(qd, H_SA(&g.lst_addr), sizeof(g.lst_addr));
	CHECK_OK(demi_close(qd));
	return rc;
}

static int bind_nonlocal(void)
{
	int qd, rc;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0));
	rc = demi_bind(qd, H_SA(&g.nonlocal), sizeof(g.nonlocal));
	CHECK_OK(demi_close(qd));
	return rc;
}

/* connect with a NULL token pointer on a fresh queue (it must not start connecting). */
static int connect_null_qt(void)
{
	int qd, rc;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	rc = demi_connect(NULLP(demi_qtoken_t), qd, H_SA(&g.lst_addr), sizeof(g.lst_addr));
	CHECK_OK(demi_close(qd));
	return rc;
}

/*
 * getsockopt of an int option into 1 byte of room: 0 (truncated, as getsockopt(2) does) or
 * EINVAL are both fine; writing past the room is not. Returns 0 when it behaved.
 */
static int getsockopt_short(void)
{
	unsigned char room[4] = {0xff, 0xff, 0xff, 0xff};
	socklen_t n = 1;
	int rc = demi_getsockopt(g.tcp, SOL_SOCKET, SO_TYPE, room, &n);

	if (rc != 0 && rc != EINVAL)
		return rc;
	return room[1] == 0xff && room[2] == 0xff && room[3] == 0xff ? 0 : -1;
}

/* Valid option calls work; returns 0 when they did. */
static int nodelay_roundtrip(void)
{
	int one = 1, v = 0, rc;
	socklen_t n = sizeof(v);

	rc = demi_setsockopt(g.cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rc != 0)
		return rc;
	rc = demi_getsockopt(g.cli, IPPROTO_TCP, TCP_NODELAY, &v, &n);
	if (rc != 0)
		return rc;
	return v != 0 && n == sizeof(v) ? 0 : -1;
}

static int so_type_udp(void)
{
	int v = 0, rc;
	socklen_t n = sizeof(v);

	rc = demi_getsockopt(g.udp_bound, SOL_SOCKET, SO_TYPE, &v, &n);
	if (rc != 0)
		return rc;
	return v == SOCK_DGRAM && n == sizeof(v) ? 0 : -1;
}

static int socket_ok_close(int domain, int type, int protocol)
{
	int qd = -1, rc = demi_socket(&qd, domain, type, protocol);

	if (rc == 0)
		CHECK_OK(demi_close(qd));
	return rc;
}

static int double_sgafree(void)
{
	demi_sgarray_t s = demi_sgaalloc(100), copy;

	CHECK(s.sga_numsegs == 1);
	copy = s;
	CHECK_OK(demi_sgafree(&s));
	return demi_sgafree(&copy);
}

/* An array whose handle points at memory that is not a library buffer. */
static int garbage_sgafree(void)
{
	static uint64_t junk[64];
	demi_sgarray_t s;

	for (size_t i = 0; i < 64; i++)
		junk[i] = 0x0123456789abcdefull * (i + 1);
	s = sga_with(1, junk, sizeof(junk));
	s.sga_buf = junk + 8;
	return demi_sgafree(&s);
}

/* A real array with its handle moved inside its own buffer. */
static int shifted_sgafree(void)
{
	demi_sgarray_t s = demi_sgaalloc(4096), bad;
	int rc;

	CHECK(s.sga_numsegs == 1);
	memset(s.sga_segs[0].sgaseg_buf, 0, 4096);
	bad = s;
	bad.sga_buf = (char *)s.sga_buf + 64;
	rc = demi_sgafree(&bad);
	CHECK_OK(demi_sgafree(&s));
	return rc;
}

/* Pushes s on the connected client; if it went out, takes the result so no token is left. */
static int push_cli(const demi_sgarray_t *s)
{
	int rc = demi_push(&qt, g.cli, s);

	if (rc == 0)
		h_wait(qt, DEMI_OPC_PUSH, NULL);
	return rc;
}

/* Pushing an array whose pool buffer was already freed. */
static int push_freed(void)
{
	demi_sgarray_t s = demi_sgaalloc(64), stale;

	CHECK(s.sga_numsegs == 1);
	memset(s.sga_segs[0].sgaseg_buf, 'q', 64);
	stale = s;
	CHECK_OK(demi_sgafree(&s));
	return push_cli(&stale);
}

/*
 * An array whose handle names one live buffer but whose segment points into another, freed
 * one: the push finds buffers by the handle first (lib/api.c, push_req_build), and must still
 * check that the segment lies in the handle's buffer. The freed buffer is the lower of the two,
 * so that only that check (not the length check) can refuse it.
 */
static int push_other_freed(void)
{
	demi_sgarray_t a = demi_sgaalloc(64), b = demi_sgaalloc(64), s;
	int rc;

	CHECK(a.sga_numsegs == 1 && b.sga_numsegs == 1);
	if ((uintptr_t)a.sga_segs[0].sgaseg_buf < (uintptr_t)b.sga_segs[0].sgaseg_buf) {
		s = a;
		a = b;
		b = s;
	}
	s = a;
	s.sga_segs[0].sgaseg_buf = b.sga_segs[0].sgaseg_buf;
	CHECK_OK(demi_sgafree(&b));
	rc = push_cli(&s);
	CHECK_OK(demi_sgafree(&a));
	return rc;
}

/* A segment of a pool buffer that runs past the buffer's end. */
static int push_past_end(void)
{
	demi_sgarray_t a = demi_sgaalloc(64), s;
	int rc;

	CHECK(a.sga_numsegs == 1);
	s = a;
	s.sga_segs[0].sgaseg_len = 1u << 24;
	rc = push_cli(&s);
	CHECK_OK(demi_sgafree(&a));
	return rc;
}

/*
 * A stale array is refused even after its buffer was handed out again, and the new owner's
 * array is unaffected. Returns the stale free's result, or -1 if the new array broke.
 */
static int stale_sgafree_after_reuse(void)
{
	demi_sgarray_t a = demi_sgaalloc(100), stale, b;
	int rc;

	CHECK(a.sga_numsegs == 1);
	stale = a;
	CHECK_OK(demi_sgafree(&a));
	b = demi_sgaalloc(100); /* most likely the same buffer */
	CHECK(b.sga_numsegs == 1);
	rc = demi_sgafree(&stale);
	if (demi_sgafree(&b) != 0)
		return -1;
	return rc;
}

/* An array built by the application (no library handle) is not the library's to free. */
static int user_sgafree(void)
{
	demi_sgarray_t s = sga_with(1, &byte, 1);

	return demi_sgafree(&s);
}

/* The result of a failed allocation: returns 0 when it is empty as documented, else 1. */
static int sgaalloc_fails(size_t size)
{
	demi_sgarray_t s = demi_sgaalloc(size);

	if (s.sga_numsegs != 0 || s.sga_buf != NULL || s.sga_segs[0].sgaseg_buf != NULL) {
		if (s.sga_numsegs != 0)
			CHECK_OK(demi_sgafree(&s));
		return 1;
	}
	return 0;
}

/* demi_sgafree of the empty array of a failed allocation: 0 or EINVAL, never a crash. */
static int empty_sgafree(void)
{
	demi_sgarray_t s = demi_sgaalloc(0);
	int rc = demi_sgafree(&s);

	return rc == EINVAL ? 0 : rc;
}

/* A bad call on the pending token must leave it valid. */
static int pending_still_valid(void)
{
	return demi_wait(&qr, g.pending, &ts_zero);
}

/* wait_any over {pending, released}. */
static int wait_any_released(void)
{
	qts[0] = g.pending;
	qts[1] = g.released;
	return demi_wait_any(&qr, &ready, qts, 2, &ts_zero);
}

static int udp_too_big_push(void)
{
	demi_sgarray_t s = sga_with(1, g.big, 65508);

	return demi_push(&qt, g.udp_conn, &s);
}

static int udp_too_big_pushto(void)
{
	demi_sgarray_t s = sga_with(1, g.big, 65508);

	return demi_pushto(&qt, g.udp, &s, H_SA(&g.udp_addr), sizeof(g.udp_addr));
}

#if DEMI_SGARRAY_MAXSIZE > 1
/* Two segments, the second empty or NULL. */
static int multi_bad(int which)
{
	demi_sgarray_t s = sga_with(2, &byte, 1);

	s.sga_segs[1].sgaseg_buf = which == 0 ? &byte : NULL;
	s.sga_segs[1].sgaseg_len = which == 0 ? 0 : 1;
	return demi_push(&qt, g.cli, &s);
}
#endif

/* The table: name, expected errno, expression (with the main thread's libOS ready). */
#define MISUSE(X)                                                                                  \
	X("init twice", EEXIST, demi_init(NULLP(struct demi_args)))                                \
	/* NULL pointers */                                                                        \
	X("socket NULL qd", EINVAL, demi_socket(NULLP(int), AF_INET, SOCK_STREAM, 0))              \
	X("bind NULL addr", EINVAL, demi_bind(g.tcp, NULLP(struct sockaddr), sizeof(sa)))          \
	X("accept NULL qt", EINVAL, demi_accept(NULLP(demi_qtoken_t), g.lst))                      \
	X("connect NULL qt", EINVAL, connect_null_qt())                                            \
	X("connect NULL addr", EINVAL,                                                             \
	  demi_connect(&qt, g.tcp, NULLP(struct sockaddr), sizeof(sa)))                            \
	X("push NULL qt", EINVAL, demi_push(NULLP(demi_qtoken_t), g.cli, &g.one))                  \
	X("push NULL sga", EINVAL, demi_push(&qt, g.cli, NULLP(demi_sgarray_t)))                   \
	X("pushto NULL qt", EINVAL,                                                                \
	  demi_pushto(NULLP(demi_qtoken_t), g.udp, &g.one, H_SA(&g.udp_addr), sizeof(sa)))         \
	X("pushto NULL sga", EINVAL,                                                               \
	  demi_pushto(&qt, g.udp, NULLP(demi_sgarray_t), H_SA(&g.udp_addr), sizeof(sa)))           \
	X("pushto NULL addr", EINVAL,                                                              \
	  demi_pushto(&qt, g.udp, &g.one, NULLP(struct sockaddr), sizeof(sa)))                     \
	X("pop NULL qt", EINVAL, demi_pop(NULLP(demi_qtoken_t), g.cli))                            \
	X("wait NULL qr", EINVAL, demi_wait(NULLP(demi_qresult_t), g.pending, &ts_zero))           \
	X("wait_any NULL qr", EINVAL,                                                              \
	  demi_wait_any(NULLP(demi_qresult_t), &ready, &g.pending, 1, &ts_zero))                   \
	X("wait_any NULL offset", EINVAL, demi_wait_any(&qr, NULLP(int), &g.pending, 1, &ts_zero)) \
	X("wait_any NULL tokens", EINVAL,                                                          \
	  demi_wait_any(&qr, &ready, NULLP(demi_qtoken_t), 1, &ts_zero))                           \
	X("wait_next_n NULL qrs", EINVAL,                                                          \
	  demi_wait_next_n(NULLP(demi_qresult_t), 1, &nout, &ts_zero))                             \
	X("wait_next_n NULL count", EINVAL, demi_wait_next_n(qrs, 1, NULLP(int), &ts_zero))        \
	X("setsockopt NULL value", EINVAL,                                                         \
	  demi_setsockopt(g.tcp, SOL_SOCKET, SO_REUSEADDR, NULLP(int), sizeof(int)))               \
	X("getsockopt NULL value", EINVAL,                                                         \
	  (len = sizeof(int), demi_getsockopt(g.tcp, SOL_SOCKET, SO_TYPE, NULLP(int), &len)))      \
	X("getsockopt NULL length", EINVAL,                                                        \
	  demi_getsockopt(g.tcp, SOL_SOCKET, SO_TYPE, &ival, NULLP(socklen_t)))                    \
	X("getsockname NULL addr", EINVAL,                                                         \
	  (len = sizeof(sa), demi_getsockname(g.cli, NULLP(struct sockaddr), &len)))               \
	X("getsockname NULL length", EINVAL,                                                       \
	  demi_getsockname(g.cli, (struct sockaddr *)&sa, NULLP(socklen_t)))                       \
	X("getpeername NULL addr", EINVAL,                                                         \
	  (len = sizeof(sa), demi_getpeername(g.cli, NULLP(struct sockaddr), &len)))               \
	X("getpeername NULL length", EINVAL,                                                       \
	  demi_getpeername(g.cli, (struct sockaddr *)&sa, NULLP(socklen_t)))                       \
	X("sgafree NULL", EINVAL, demi_sgafree(NULLP(demi_sgarray_t)))                             \
	X("pending token still valid", ETIMEDOUT, pending_still_valid())                           \
	/* scatter-gather arrays */                                                                \
	X("push 0 segments", EINVAL, demi_push(&qt, g.cli, SGA(0, &byte, 1)))                      \
	X("push MAXSIZE+1 segments", EINVAL,                                                       \
	  demi_push(&qt, g.cli, SGA(DEMI_SGARRAY_MAXSIZE + 1, &byte, 1)))                          \
	X("push UINT32_MAX segments", EINVAL, demi_push(&qt, g.cli, SGA(UINT32_MAX, &byte, 1)))    \
	X("push empty segment", EINVAL, demi_push(&qt, g.cli, SGA(1, &byte, 0)))                   \
	X("push NULL segment", EINVAL, demi_push(&qt, g.cli, SGA(1, NULL, 5)))                     \
	X("pushto empty segment", EINVAL,                                                          \
	  demi_pushto(&qt, g.udp, SGA(1, &byte, 0), H_SA(&g.udp_addr), sizeof(sa)))                \
	X("pushto 0 segments", EINVAL,                                                             \
	  demi_pushto(&qt, g.udp, SGA(0, &byte, 1), H_SA(&g.udp_addr), sizeof(sa)))                \
	X("udp push empty segment", EINVAL, demi_push(&qt, g.udp_conn, SGA(1, &byte, 0)))          \
	MULTI_SEG(X)                                                                               \
	/* sockets */                                                                              \
	X("socket AF_INET6", EAFNOSUPPORT, socket_ok_close(AF_INET6, SOCK_STREAM, 0))              \
	X("socket AF_UNIX", EAFNOSUPPORT, socket_ok_close(AF_UNIX, SOCK_STREAM, 0))                \
	X("socket SOCK_RAW", ENOTSUP, socket_ok_close(AF_INET, SOCK_RAW, 0))                       \
	X("socket type 12345", ENOTSUP, socket_ok_close(AF_INET, 12345, 0))                        \
	X("socket stream + udp", EPROTONOSUPPORT,                                                  \
	  socket_ok_close(AF_INET, SOCK_STREAM, IPPROTO_UDP))                                      \
	X("socket dgram + tcp", EPROTONOSUPPORT,                                                   \
	  socket_ok_close(AF_INET, SOCK_DGRAM, IPPROTO_TCP))                                       \
	X("socket stream + tcp (valid)", 0, socket_ok_close(AF_INET, SOCK_STREAM, IPPROTO_TCP))    \
	X("socket dgram + udp (valid)", 0, socket_ok_close(AF_INET, SOCK_DGRAM, IPPROTO_UDP))      \
	/* listen / accept */                                                                      \
	X("listen on udp", ENOTSUP, demi_listen(g.udp_bound, 8))                                   \
	X("listen unbound", EDESTADDRREQ, demi_listen(g.tcp, 8))                                   \
	X("listen twice", EINVAL, demi_listen(g.lst, 8))                                           \
	X("listen connected", EINVAL, demi_listen(g.cli, 8))                                       \
	X("accept not listening", EINVAL, demi_accept(&qt, g.tcp_bound))                           \
	X("accept unbound", EINVAL, demi_accept(&qt, g.tcp))                                       \
	X("accept connected", EINVAL, demi_accept(&qt, g.srv))                                     \
	X("accept on udp", ENOTSUP, demi_accept(&qt, g.udp_bound))                                 \
	/* bind */                                                                                 \
	X("bind AF_INET6 address", EAFNOSUPPORT,                                                   \
	  demi_bind(g.tcp, (struct sockaddr *)&g.in6, sizeof(g.in6)))                              \
	X("bind AF_UNIX family", EAFNOSUPPORT,                                                     \
	  demi_bind(g.tcp, H_SA(&g.unix_family), sizeof(g.unix_family)))                           \
	X("bind short size", EINVAL, demi_bind(g.tcp, H_SA(&g.lo0), sizeof(g.lo0) - 1))            \
	X("bind size 0", EINVAL, demi_bind(g.tcp, H_SA(&g.lo0), 0))                                \
	X("bind twice", EINVAL, demi_bind(g.tcp_bound, H_SA(&g.lo0), sizeof(g.lo0)))               \
	X("bind address in use", EADDRINUSE, bind_in_use())                                        \
	X("bind non-local address", EADDRNOTAVAIL, bind_nonlocal())                                \
	/* connect */                                                                              \
	X("connect AF_INET6 address", EAFNOSUPPORT,                                                \
	  demi_connect(&qt, g.tcp, (struct sockaddr *)&g.in6, sizeof(g.in6)))                      \
	X("connect AF_UNIX family", EAFNOSUPPORT,                                                  \
	  demi_connect(&qt, g.tcp, H_SA(&g.unix_family), sizeof(g.unix_family)))                   \
	X("connect short size", EINVAL,                                                            \
	  demi_connect(&qt, g.tcp, H_SA(&g.lst_addr), sizeof(sa) - 1))                             \
	X("connect listening", EINVAL, demi_connect(&qt, g.lst, H_SA(&g.lst_addr), sizeof(sa)))    \
	X("connect connected", EISCONN, demi_connect(&qt, g.cli, H_SA(&g.lst_addr), sizeof(sa)))   \
	X("udp connect AF_INET6", EAFNOSUPPORT,                                                    \
	  demi_connect(&qt, g.udp, (struct sockaddr *)&g.in6, sizeof(g.in6)))                      \
	X("connect refused (qr_ret)", ECONNREFUSED, connect_refused())                             \
	/* push / pushto / pop state */                                                            \
	X("push unconnected tcp", ENOTCONN, demi_push(&qt, g.tcp, &g.one))                         \
	X("push bound tcp", ENOTCONN, demi_push(&qt, g.tcp_bound, &g.one))                         \
	X("pushto unconnected tcp", ENOTCONN,                                                      \
	  demi_pushto(&qt, g.tcp, &g.one, H_SA(&g.lst_addr), sizeof(sa)))                          \
	X("push unconnected udp", EDESTADDRREQ, demi_push(&qt, g.udp, &g.one))                     \
	X("push bound udp", EDESTADDRREQ, demi_push(&qt, g.udp_bound, &g.one))                     \
	X("udp push 65508 bytes", EMSGSIZE, udp_too_big_push())                                    \
	X("udp pushto 65508 bytes", EMSGSIZE, udp_too_big_pushto())                                \
	X("pushto AF_INET6 address", EAFNOSUPPORT,                                                 \
	  demi_pushto(&qt, g.udp, &g.one, (struct sockaddr *)&g.in6, sizeof(g.in6)))               \
	X("pushto AF_UNIX family", EAFNOSUPPORT,                                                   \
	  demi_pushto(&qt, g.udp, &g.one, H_SA(&g.unix_family), sizeof(sa)))                       \
	X("pushto short size", EINVAL,                                                             \
	  demi_pushto(&qt, g.udp, &g.one, H_SA(&g.udp_addr), sizeof(sa) - 1))                      \
	X("push listening tcp", EINVAL, demi_push(&qt, g.lst, &g.one))                             \
	X("pushto listening tcp", EINVAL,                                                          \
	  demi_pushto(&qt, g.lst, &g.one, H_SA(&g.lst_addr), sizeof(sa)))                          \
	X("pop unconnected tcp", ENOTCONN, demi_pop(&qt, g.tcp))                                   \
	X("pop listening", EINVAL, demi_pop(&qt, g.lst))                                           \
	/* tokens and timeouts */                                                                  \
	X("wait token 0", EINVAL, demi_wait(&qr, 0, &ts_zero))                                     \
	X("wait token 0xdeadbeef", EINVAL, demi_wait(&qr, 0xdeadbeef, &ts_zero))                   \
	X("wait token ~0", EINVAL, demi_wait(&qr, ~0ull, NULL))                                    \
	X("wait released token", EINVAL, demi_wait(&qr, g.released, &ts_zero))                     \
	X("wait released, no timeout", EINVAL, demi_wait(&qr, g.released, NULL))                   \
	X("wait_any with released", EINVAL, wait_any_released())                                   \
	X("wait tv_nsec 1e9", EINVAL, demi_wait(&qr, g.pending, &ts_nsec_big))                     \
	X("wait tv_nsec -1", EINVAL, demi_wait(&qr, g.pending, &ts_nsec_neg))                      \
	X("wait tv_sec -1", EINVAL, demi_wait(&qr, g.pending, &ts_sec_neg))                        \
	X("wait_any tv_nsec 1e9", EINVAL, demi_wait_any(&qr, &ready, &g.pending, 1, &ts_nsec_big)) \
	X("wait_any tv_sec -1", EINVAL, demi_wait_any(&qr, &ready, &g.pending, 1, &ts_sec_neg))    \
	X("wait_next_n tv_nsec 1e9", EINVAL, demi_wait_next_n(qrs, 4, &nout, &ts_nsec_big))        \
	X("wait_next_n tv_nsec -1", EINVAL, demi_wait_next_n(qrs, 4, &nout, &ts_nsec_neg))         \
	X("wait_any 0 tokens", EINVAL, demi_wait_any(&qr, &ready, &g.pending, 0, &ts_zero))        \
	X("wait_any -1 tokens", EINVAL, demi_wait_any(&qr, &ready, &g.pending, -1, &ts_zero))      \
	X("wait_next_n capacity 0", EINVAL, demi_wait_next_n(qrs, 0, &nout, &ts_zero))             \
	X("wait_next_n capacity -1", EINVAL, demi_wait_next_n(qrs, -1, &nout, &ts_zero))           \
	X("pending token still valid (2)", ETIMEDOUT, pending_still_valid())                       \
	/* socket options and names */                                                             \
	X("setsockopt unknown option", ENOPROTOOPT,                                                \
	  (ival = 1, demi_setsockopt(g.tcp, SOL_SOCKET, 9999, &ival, sizeof(ival))))               \
	X("setsockopt unknown level", ENOPROTOOPT,                                                 \
	  (ival = 1, demi_setsockopt(g.tcp, 12345, SO_REUSEADDR, &ival, sizeof(ival))))            \
	X("setsockopt unknown tcp option", ENOPROTOOPT,                                            \
	  (ival = 1, demi_setsockopt(g.cli, IPPROTO_TCP, 9999, &ival, sizeof(ival))))              \
	X("setsockopt short length", EINVAL,                                                       \
	  (ival = 1, demi_setsockopt(g.tcp, SOL_SOCKET, SO_REUSEADDR, &ival, 1)))                  \
	X("setsockopt length 0", EINVAL,                                                           \
	  (ival = 1, demi_setsockopt(g.tcp, SOL_SOCKET, SO_REUSEADDR, &ival, 0)))                  \
	X("getsockopt unknown option", ENOPROTOOPT,                                                \
	  (len = sizeof(ival), demi_getsockopt(g.tcp, SOL_SOCKET, 9999, &ival, &len)))             \
	X("getsockopt short length: no overflow", 0, getsockopt_short())                           \
	X("TCP_NODELAY set and read back (valid)", 0, nodelay_roundtrip())                         \
	X("SO_TYPE of udp is SOCK_DGRAM (valid)", 0, so_type_udp())                                \
	X("getpeername unconnected", ENOTCONN,                                                     \
	  (len = sizeof(sa), demi_getpeername(g.tcp, (struct sockaddr *)&sa, &len)))               \
	X("getpeername unconnected udp", ENOTCONN,                                                 \
	  (len = sizeof(sa), demi_getpeername(g.udp_bound, (struct sockaddr *)&sa, &len)))         \
	/* buffers */                                                                              \
	X("sgafree twice", EINVAL, double_sgafree())                                               \
	X("sgafree garbage handle", EINVAL, garbage_sgafree())                                     \
	X("sgafree shifted handle", EINVAL, shifted_sgafree())                                     \
	X("sgafree stale array after reuse", EINVAL, stale_sgafree_after_reuse())                  \
	X("push freed pool buffer", EINVAL, push_freed())                                          \
	X("push other array's freed buffer", EINVAL, push_other_freed())                           \
	X("push past its buffer's end", EINVAL, push_past_end())                                   \
	X("sgafree application array", EINVAL, user_sgafree())                                     \
	X("sgafree empty array: 0 or EINVAL", 0, empty_sgafree())                                  \
	X("sgaalloc(0) is empty", 0, sgaalloc_fails(0))                                            \
	X("sgaalloc(4 GiB) is empty", 0, sgaalloc_fails((size_t)1 << 32))                          \
	X("sgaalloc(SIZE_MAX) is empty", 0, sgaalloc_fails(SIZE_MAX))                              \
	/* closed queue */                                                                         \
	X("close twice", EBADF, demi_close(g.closed))

#if DEMI_SGARRAY_MAXSIZE > 1
#define MULTI_SEG(X)                                                                               \
	X("push 2 segments, 2nd empty", EINVAL, multi_bad(0))                                      \
	X("push 2 segments, 2nd NULL", EINVAL, multi_bad(1))
#else
#define MULTI_SEG(X)
#endif

#define X(name, want, call) {name, want},
static const struct entry {
	const char *name;
	int want;
} entries[] = {MISUSE(X)};
#undef X

static int run_entry(size_t i)
{
	size_t k = 0;

#define X(name, want, call)                                                                        \
	if (k++ == i)                                                                              \
		return (call);
	MISUSE(X)
#undef X
	h_fail(__FILE__, __LINE__, "run_entry", "no entry %zu", i);
}

static void check_counts(const struct demi__debug_counts *before, const char *name)
{
	struct demi__debug_counts c;

	h_counts(&c);
	if (c.tasks_in_use != before->tasks_in_use || c.bufs_in_use != before->bufs_in_use ||
	    c.queues_open != before->queues_open) {
		printf("  FAIL %-14s %-40s left tasks %llu->%llu, bufs %llu->%llu, queues "
		       "%llu->%llu\n",
		       "state", name, (unsigned long long)before->tasks_in_use,
		       (unsigned long long)c.tasks_in_use, (unsigned long long)before->bufs_in_use,
		       (unsigned long long)c.bufs_in_use, (unsigned long long)before->queues_open,
		       (unsigned long long)c.queues_open);
		failures++;
	}
}

/* Before demi_init, in a thread that never called it. */
static void *pre_init_main(void *arg)
{
	struct demi__debug_counts c;
	demi_sgarray_t s;

	(void)arg;
	report("before init", "demi__debug_counts", -demi__debug_counts(&c), EPERM);
	report("before init", "socket", demi_socket(&ival, AF_INET, SOCK_STREAM, 0), EPERM);
	for (size_t i = 0; i < sizeof(qd_ops) / sizeof(qd_ops[0]); i++)
		report("before init", qd_ops[i].name, qd_ops[i].fn(0), EPERM);
	report("before init", "wait", demi_wait(&qr, 1, &ts_zero), EPERM);
	qts[0] = 1;
	report("before init", "wait_any", demi_wait_any(&qr, &ready, qts, 1, &ts_zero), EPERM);
	report("before init", "wait_next_n", demi_wait_next_n(qrs, 4, &nout, &ts_zero), EPERM);
	s = demi_sgaalloc(16);
	report("before init", "sgaalloc(16) is empty", s.sga_numsegs != 0, 0);
	return NULL;
}

/* demi_init with LIBOS=bogus fails, and leaves the thread uninitialised. */
static void *bogus_libos_main(void *arg)
{
	struct demi_args args = {0, NULL, NULL};

	(void)arg;
	report("init", "LIBOS=bogus", demi_init(&args), EINVAL);
	report("init", "socket after failed init", demi_socket(&ival, AF_INET, SOCK_STREAM, 0),
	       EPERM);
	return NULL;
}

/* Values the entries use, set before anything runs. */
static void setup_values(void)
{
	g.lo0 = h_loopback(0);
	g.nonlocal = h_loopback(0);
	g.nonlocal.sin_addr.s_addr = inet_addr("192.0.2.1"); /* TEST-NET-1 */
	g.unix_family = h_loopback(0);
	g.unix_family.sin_family = AF_UNIX;
	memset(&g.in6, 0, sizeof(g.in6));
	g.in6.sin6_family = AF_INET6;
	g.in6.sin6_addr = in6addr_loopback;
	g.one = sga_with(1, &byte, 1);
	g.big = calloc(1, 65508);
	CHECK(g.big != NULL);
}

/* Queues in every state the entries need (main thread's libOS). */
static void setup_queues(void)
{
	int fd;

	CHECK_OK(demi_socket(&g.tcp, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_socket(&g.tcp_bound, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_bind(g.tcp_bound, H_SA(&g.lo0), sizeof(g.lo0)));
	g.lst = h_tcp_listen(&g.lst_addr, 8);
	h_tcp_pair(g.lst, &g.lst_addr, &g.cli, &g.srv);
	CHECK_OK(demi_socket(&g.udp, AF_INET, SOCK_DGRAM, 0));
	g.udp_bound = h_udp_bind(&g.udp_addr);
	CHECK_OK(demi_socket(&g.udp_conn, AF_INET, SOCK_DGRAM, 0));
	CHECK_OK(demi_connect(&qt, g.udp_conn, H_SA(&g.udp_addr), sizeof(g.udp_addr)));
	h_wait(qt, DEMI_OPC_CONNECT, NULL);
	CHECK_OK(demi_socket(&g.closed, AF_INET, SOCK_DGRAM, 0));
	CHECK_OK(demi_close(g.closed));

	/* A port that refuses: bound by a plain socket that never listens. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(bind(fd, H_SA(&g.lo0), sizeof(g.lo0)) == 0);
	len = sizeof(g.refused_addr);
	CHECK(getsockname(fd, (struct sockaddr *)&g.refused_addr, &len) == 0);
	/* fd stays open until the process ends, so nobody else takes the port */

	CHECK_OK(demi_pop(&g.pending, g.srv));
	/* A datagram that stays unread in udp_bound's socket. */
	CHECK_OK(demi_push(&qt, g.udp_conn, &g.one));
	h_wait(qt, DEMI_OPC_PUSH, NULL);
	g.released = qt;
}

int main(void)
{
	struct demi__debug_counts before;
	int bad_qds[4];
	pthread_t t;

	h_watchdog(60);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup_values();

	printf("calls before demi_init:\n");
	t = h_thread_start(pre_init_main, NULL);
	h_thread_join(t);

	printf("demi_init with a bogus libOS:\n");
	{
		char *saved = getenv("LIBOS") ? strdup(getenv("LIBOS")) : NULL;

		setenv("LIBOS", "bogus", 1);
		t = h_thread_start(bogus_libos_main, NULL);
		h_thread_join(t);
		if (saved != NULL) {
			setenv("LIBOS", saved, 1);
			free(saved);
		} else {
			unsetenv("LIBOS");
		}
	}

	h_init();
	setup_queues();
	h_counts(&before);

	printf("bad queue descriptors:\n");
	bad_qds[0] = -1;
	bad_qds[1] = INT_MAX;
	bad_qds[2] = INT_MIN;
	bad_qds[3] = g.closed;
	for (size_t q = 0; q < 4; q++) {
		for (size_t i = 0; i < sizeof(qd_ops) / sizeof(qd_ops[0]); i++) {
			char name[64];

			snprintf(name, sizeof(name), "%s(%d)", qd_ops[i].name, bad_qds[q]);
			report("bad qd", name, qd_ops[i].fn(bad_qds[q]), EBADF);
			check_counts(&before, name);
		}
	}

	printf("misuse table:\n");
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		char group[16];

		snprintf(group, sizeof(group), "#%zu", i);
		report(group, entries[i].name, run_entry(i), entries[i].want);
		check_counts(&before, entries[i].name);
	}

	/* Valid calls still work after all that, and the pending pop was not disturbed. */
	{
		char b;

		h_push_bytes(g.cli, "z", 1);
		h_wait(g.pending, DEMI_OPC_POP, &qr);
		CHECK(h_sga_len(&qr.qr_value.sga) == 1);
		b = *(char *)qr.qr_value.sga.sga_segs[0].sgaseg_buf;
		CHECKF(b == 'z', "got '%c'", b);
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
	CHECK_OK(demi_close(g.tcp));
	CHECK_OK(demi_close(g.tcp_bound));
	CHECK_OK(demi_close(g.lst));
	CHECK_OK(demi_close(g.cli));
	CHECK_OK(demi_close(g.srv));
	CHECK_OK(demi_close(g.udp));
	CHECK_OK(demi_close(g.udp_bound));
	CHECK_OK(demi_close(g.udp_conn));
	free(g.big);
	h_check_no_leaks("end");

	if (failures > 0) {
		printf("%d misuse checks failed\n", failures);
		return H_EXIT_FAIL;
	}
	printf("PASS: all misuse checks\n");
	return H_EXIT_PASS;
}
