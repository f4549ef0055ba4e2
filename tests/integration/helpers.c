/* SPDX-License-Identifier: MIT */
/* Shared helpers of the integration tests; see helpers.h. */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "config.h"

void h_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	fflush(stdout);
	/* Other threads may still run: end the process without running exit handlers. */
	_exit(H_EXIT_FAIL);
}

void h_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	_exit(H_EXIT_SKIP);
}

void h_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

const char *h_errname(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{0, "0"},
		{EPERM, "EPERM"},
		{ENOENT, "ENOENT"},
		{EINTR, "EINTR"},
		{EIO, "EIO"},
		{EBADF, "EBADF"},
		{EAGAIN, "EAGAIN"},
		{ENOMEM, "ENOMEM"},
		{EFAULT, "EFAULT"},
		{EBUSY, "EBUSY"},
		{EEXIST, "EEXIST"},
		{ENODEV, "ENODEV"},
		{EINVAL, "EINVAL"},
		{ENFILE, "ENFILE"},
		{EMFILE, "EMFILE"},
		{EPIPE, "EPIPE"},
		{ERANGE, "ERANGE"},
		{ENOSYS, "ENOSYS"},
		{ENOTSOCK, "ENOTSOCK"},
		{EDESTADDRREQ, "EDESTADDRREQ"},
		{EMSGSIZE, "EMSGSIZE"},
		{EPROTOTYPE, "EPROTOTYPE"},
		{ENOPROTOOPT, "ENOPROTOOPT"},
		{EPROTONOSUPPORT, "EPROTONOSUPPORT"},
		{ENOTSUP, "ENOTSUP"},
		{EAFNOSUPPORT, "EAFNOSUPPORT"},
		{EADDRINUSE, "EADDRINUSE"},
		{EADDRNOTAVAIL, "EADDRNOTAVAIL"},
		{ENETUNREACH, "ENETUNREACH"},
		{ECONNABORTED, "ECONNABORTED"},
		{ECONNRESET, "ECONNRESET"},
		{ENOBUFS, "ENOBUFS"},
		{EISCONN, "EISCONN"},
		{ENOTCONN, "ENOTCONN"},
		{ESHUTDOWN, "ESHUTDOWN"},
		{ETIMEDOUT, "ETIMEDOUT"},
		{ECONNREFUSED, "ECONNREFUSED"},
		{EHOSTUNREACH, "EHOSTUNREACH"},
		{EALREADY, "EALREADY"},
		{EINPROGRESS, "EINPROGRESS"},
		{ECANCELED, "ECANCELED"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	return "?";
}

const char *h_opcname(int opc)
{
	switch (opc) {
	case DEMI_OPC_INVALID:
		return "INVALID";
	case DEMI_OPC_PUSH:
		return "PUSH";
	case DEMI_OPC_POP:
		return "POP";
	case DEMI_OPC_ACCEPT:
		return "ACCEPT";
	case DEMI_OPC_CONNECT:
		return "CONNECT";
	case DEMI_OPC_CLOSE:
		return "CLOSE";
	case DEMI_OPC_FAILED:
		return "FAILED";
	default:
		return "?";
	}
}

static void watchdog_fired(int sig)
{
	static const char msg[] = "FAIL: watchdog: the test did not finish in time\n";
	ssize_t n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
	_exit(H_EXIT_FAIL);
}

void h_watchdog(unsigned int seconds)
{
	signal(SIGALRM, watchdog_fired);
	alarm(seconds);
}

struct timespec *h_ts(struct timespec *ts, long ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000L;
	return ts;
}

uint64_t h_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t h_thread_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		h_fail(__FILE__, __LINE__, "getrusage", "%s", strerror(errno));
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

int h_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		h_fail(__FILE__, __LINE__, "opendir(/proc/self/fd)", "%s", strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

void h_sleep_ms(long ms)
{
	struct timespec ts;

	h_ts(&ts, ms);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void h_libos_name(char *out, size_t size)
{
	struct demi__config cfg = {0};
	const char *name = "catnap";

	snprintf(out, size, "?");
	if (demi__config_load(&cfg) < 0)
		return;
	if (demi__config_get_str(&cfg, "libos", "catnap", &name) == 0)
		snprintf(out, size, "%s", name);
	demi__config_fini(&cfg);
}

void h_init(void)
{
	struct demi_args args = {0, NULL, NULL};
	int rc = demi_init(&args);
	char name[32];

	/* Only a libOS that needs a device may be missing here: catnip without a DPDK port,
	 * catmint without an RDMA device (ENODEV), or either not built in (ENOTSUP). catnap needs
	 * nothing but the kernel, so its failure to start is a failure, not a skip. */
	if (rc == ENOTSUP || rc == ENODEV) {
		h_libos_name(name, sizeof(name));
		if (!strcmp(name, "catnip") || !strcmp(name, "catmint"))
			h_skip("demi_init: libOS '%s' unavailable (%s)", name, h_errname(rc));
	}
	/* The kernel may refuse io_uring (old kernel, seccomp): ENOSYS, EPERM. */
	if (getenv("CATNAP_ENGINE") && strcmp(getenv("CATNAP_ENGINE"), "epoll") != 0 &&
	    (rc == ENOSYS || rc == EPERM || rc == EACCES))
		h_skip("demi_init: catnap engine '%s' unavailable (%s)", getenv("CATNAP_ENGINE"),
		       h_errname(rc));
	CHECKF(rc == 0, "demi_init returned %d (%s)", rc, h_errname(rc));
	h_baseline();
}

static _Thread_local uint64_t base_bufs;

/* One pass over the libOS; only done when no operation is pending, so no result is taken. */
static void settle(void)
{
	struct timespec ts = {0, 0};
	demi_qresult_t qr;
	int n = -1, rc;

	rc = demi_wait_next_n(&qr, 1, &n, &ts);
	CHECKF(rc == ETIMEDOUT && n == 0,
	       "a pass with no operation pending returned %d (%s), "
	       "%d results",
	       rc, h_errname(rc), n);
}

void h_baseline(void)
{
	struct demi__debug_counts c;

	settle();
	h_counts(&c);
	base_bufs = c.bufs_in_use - c.bufs_cached;
}

uint64_t h_baseline_bufs(void)
{
	return base_bufs;
}

void h_counts(struct demi__debug_counts *out)
{
	int rc = demi__debug_counts(out);

	CHECKF(rc == 0, "demi__debug_counts returned %d", rc);
}

void h_check_idle_at(const char *file, int line, const char *where, uint64_t queues)
{
	struct demi__debug_counts c;

	h_counts(&c);
	if (c.tasks_in_use == 0) {
		settle();
		h_counts(&c);
	}
	/* Buffers posted to the device for receiving are the libOS's, not leaked. */
	if (c.bufs_in_use - c.bufs_cached != base_bufs || c.tasks_in_use != 0 ||
	    c.queues_open != queues)
		h_fail(file, line, where,
		       "leak: bufs_in_use %llu - cached %llu (baseline %llu), tasks_in_use %llu, "
		       "queues_open %llu (expected %llu), pool_bytes %llu",
		       (unsigned long long)c.bufs_in_use, (unsigned long long)c.bufs_cached,
		       (unsigned long long)base_bufs, (unsigned long long)c.tasks_in_use,
		       (unsigned long long)c.queues_open, (unsigned long long)queues,
		       (unsigned long long)c.pool_bytes);
}

void h_wait_at(const char *file, int line, demi_qtoken_t qt, int opc, demi_qresult_t *qr)
{
	demi_qresult_t local;
	struct timespec ts;
	int rc;

	if (qr == NULL)
		qr = &local;
	memset(qr, 0, sizeof(*qr));
	rc = demi_wait(qr, qt, h_ts(&ts, H_WAIT_MS));
	if (rc != 0)
		h_fail(file, line, "demi_wait", "token %#llx: returned %d (%s)",
		       (unsigned long long)qt, rc, h_errname(rc));
	if (qr->qr_qt != qt)
		h_fail(file, line, "demi_wait", "qr_qt %#llx, expected %#llx",
		       (unsigned long long)qr->qr_qt, (unsigned long long)qt);
	if ((int)qr->qr_opcode != opc) {
		if (qr->qr_opcode == DEMI_OPC_FAILED)
			h_fail(file, line, "demi_wait",
			       "opcode FAILED (qr_ret %lld %s), expected %s", (long long)qr->qr_ret,
			       h_errname((int)qr->qr_ret), h_opcname(opc));
		h_fail(file, line, "demi_wait", "opcode %s (%d), expected %s",
		       h_opcname(qr->qr_opcode), (int)qr->qr_opcode, h_opcname(opc));
	}
	if (opc != DEMI_OPC_FAILED && qr->qr_ret != 0)
		h_fail(file, line, "demi_wait", "opcode %s with qr_ret %lld", h_opcname(opc),
		       (long long)qr->qr_ret);
}

void h_wait_failed_at(const char *file, int line, demi_qtoken_t qt, int err)
{
	demi_qresult_t qr;

	h_wait_at(file, line, qt, DEMI_OPC_FAILED, &qr);
	if (qr.qr_ret != err)
		h_fail(file, line, "demi_wait", "failed with %lld (%s), expected %d (%s)",
		       (long long)qr.qr_ret, h_errname((int)qr.qr_ret), err, h_errname(err));
}

void h_wait_pending_at(const char *file, int line, demi_qtoken_t qt, long ms)
{
	demi_qresult_t qr;
	struct timespec ts;
	int rc = demi_wait(&qr, qt, h_ts(&ts, ms));

	if (rc != ETIMEDOUT) {
		if (rc == 0)
			h_fail(file, line, "demi_wait",
			       "token %#llx completed (%s, qr_ret %lld), "
			       "expected it to stay pending",
			       (unsigned long long)qt, h_opcname(qr.qr_opcode),
			       (long long)qr.qr_ret);
		h_fail(file, line, "demi_wait", "returned %d (%s), expected ETIMEDOUT", rc,
		       h_errname(rc));
	}
}

struct sockaddr_in h_loopback(uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void local_addr(int qd, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	CHECK_OK(demi_getsockname(qd, (struct sockaddr *)addr, &len));
	CHECKF(len == sizeof(*addr), "getsockname length %u", (unsigned)len);
	CHECK(addr->sin_family == AF_INET);
	CHECK(addr->sin_port != 0);
}

int h_tcp_listen(struct sockaddr_in *addr, int backlog)
{
	struct sockaddr_in a = h_loopback(0);
	int qd = -1;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_bind(qd, H_SA(&a), sizeof(a)));
	CHECK_OK(demi_listen(qd, backlog));
	local_addr(qd, addr);
	return qd;
}

int h_udp_bind(struct sockaddr_in *addr)
{
	struct sockaddr_in a = h_loopback(0);
	int qd = -1;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0));
	CHECK_OK(demi_bind(qd, H_SA(&a), sizeof(a)));
	local_addr(qd, addr);
	return qd;
}

void h_tcp_pair(int lqd, const struct sockaddr_in *addr, int *client_qd, int *server_qd)
{
	demi_qtoken_t ct, at;
	demi_qresult_t qr;

	CHECK_OK(demi_socket(client_qd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_accept(&at, lqd));
	CHECK_OK(demi_connect(&ct, *client_qd, H_SA(addr), sizeof(*addr)));
	h_wait(ct, DEMI_OPC_CONNECT, &qr);
	CHECK(qr.qr_qd == *client_qd);
	h_wait(at, DEMI_OPC_ACCEPT, &qr);
	CHECK(qr.qr_qd == lqd);
	*server_qd = qr.qr_value.ares.qd;
	CHECK(*server_qd >= 0 && *server_qd != lqd && *server_qd != *client_qd);
	CHECK(qr.qr_value.ares.addr.sin_family == AF_INET);
	CHECK(qr.qr_value.ares.addr.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
}

int h_tcp_connect(const struct sockaddr_in *addr)
{
	demi_qtoken_t qt;
	int qd = -1;

	CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
	CHECK_OK(demi_connect(&qt, qd, H_SA(addr), sizeof(*addr)));
	h_wait(qt, DEMI_OPC_CONNECT, NULL);
	return qd;
}

int h_tcp_accept(int lqd)
{
	demi_qtoken_t qt;
	demi_qresult_t qr;

	CHECK_OK(demi_accept(&qt, lqd));
	h_wait(qt, DEMI_OPC_ACCEPT, &qr);
	CHECK(qr.qr_value.ares.qd >= 0);
	return qr.qr_value.ares.qd;
}

void h_pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = h_pattern_byte(seed, off + i);
}

size_t h_pattern_find_mismatch(const void *buf, size_t len, uint64_t seed, uint64_t off)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != h_pattern_byte(seed, off + i))
			return i;
	return len;
}

void h_pattern_check_at(const char *file, int line, const void *buf, size_t len, uint64_t seed,
			uint64_t off)
{
	size_t i = h_pattern_find_mismatch(buf, len, seed, off);

	if (i != len)
		h_fail(file, line, "pattern",
		       "stream %llu: byte at offset %llu is %#x, expected %#x (chunk of %zu bytes "
		       "at offset %llu)",
		       (unsigned long long)seed, (unsigned long long)(off + i),
		       ((const uint8_t *)buf)[i], h_pattern_byte(seed, off + i), len,
		       (unsigned long long)off);
}

demi_sgarray_t h_sga_of(void *buf, uint32_t len)
{
	demi_sgarray_t sga;

	memset(&sga, 0, sizeof(sga));
	sga.sga_numsegs = 1;
	sga.sga_segs[0].sgaseg_buf = buf;
	sga.sga_segs[0].sgaseg_len = len;
	return sga;
}

demi_sgarray_t h_sga_pattern(uint32_t len, uint64_t seed, uint64_t off)
{
	demi_sgarray_t sga = demi_sgaalloc(len);

	CHECKF(sga.sga_numsegs == 1, "demi_sgaalloc(%u): %u segments", len, sga.sga_numsegs);
	CHECK(sga.sga_segs[0].sgaseg_buf != NULL);
	CHECKF(sga.sga_segs[0].sgaseg_len == len, "demi_sgaalloc(%u): segment of %u bytes", len,
	       sga.sga_segs[0].sgaseg_len);
	h_pattern_fill(sga.sga_segs[0].sgaseg_buf, len, seed, off);
	return sga;
}

size_t h_sga_len(const demi_sgarray_t *sga)
{
	size_t n = 0;

	for (uint32_t i = 0; i < sga->sga_numsegs && i < DEMI_SGARRAY_MAXSIZE; i++)
		n += sga->sga_segs[i].sgaseg_len;
	return n;
}

void h_push_bytes_at(const char *file, int line, int qd, const void *buf, size_t len)
{
	demi_sgarray_t sga = h_sga_of((void *)(uintptr_t)buf, (uint32_t)len);
	demi_qtoken_t qt;
	int rc;

	CHECK(len > 0 && len <= UINT32_MAX);
	rc = demi_push(&qt, qd, &sga);
	if (rc != 0)
		h_fail(file, line, "demi_push", "returned %d (%s)", rc, h_errname(rc));
	h_wait_at(file, line, qt, DEMI_OPC_PUSH, NULL);
}

void h_pop_exact_at(const char *file, int line, int qd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		demi_qresult_t qr;
		demi_qtoken_t qt;
		size_t n;
		int rc;

		rc = demi_pop(&qt, qd);
		if (rc != 0)
			h_fail(file, line, "demi_pop", "returned %d (%s)", rc, h_errname(rc));
		h_wait_at(file, line, qt, DEMI_OPC_POP, &qr);
		if (qr.qr_qd != qd)
			h_fail(file, line, "pop", "qr_qd %d, expected %d", qr.qr_qd, qd);
		n = h_sga_len(&qr.qr_value.sga);
		if (n == 0)
			h_fail(file, line, "pop", "end of stream after %zu of %zu bytes", got, len);
		if (qr.qr_value.sga.sga_numsegs != 1)
			h_fail(file, line, "pop", "%u segments", qr.qr_value.sga.sga_numsegs);
		if (got + n > len)
			h_fail(file, line, "pop", "%zu bytes, only %zu expected", n, len - got);
		memcpy(p + got, qr.qr_value.sga.sga_segs[0].sgaseg_buf, n);
		got += n;
		CHECK_OK(demi_sgafree(&qr.qr_value.sga));
	}
}

void h_pop_eof_at(const char *file, int line, int qd)
{
	demi_qresult_t qr;
	demi_qtoken_t qt;
	int rc;

	rc = demi_pop(&qt, qd);
	if (rc != 0)
		h_fail(file, line, "demi_pop", "returned %d (%s)", rc, h_errname(rc));
	h_wait_at(file, line, qt, DEMI_OPC_POP, &qr);
	if (h_sga_len(&qr.qr_value.sga) != 0)
		h_fail(file, line, "pop", "expected end of stream, got %zu bytes",
		       h_sga_len(&qr.qr_value.sga));
	CHECK_OK(demi_sgafree(&qr.qr_value.sga));
}

pthread_t h_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, fn, arg);

	CHECKF(rc == 0, "pthread_create: %s", strerror(rc));
	return t;
}

void h_thread_join(pthread_t t)
{
	int rc = pthread_join(t, NULL);

	CHECKF(rc == 0, "pthread_join: %s", strerror(rc));
}

void h_mailbox_put(struct h_mailbox *mb, uint64_t value)
{
	pthread_mutex_lock(&mb->lock);
	mb->value = value;
	mb->full = true;
	pthread_cond_broadcast(&mb->cond);
	pthread_mutex_unlock(&mb->lock);
}

uint64_t h_mailbox_get(struct h_mailbox *mb)
{
	uint64_t deadline = h_now_ns() + (uint64_t)H_WAIT_MS * 1000000ull;
	uint64_t v;

	pthread_mutex_lock(&mb->lock);
	while (!mb->full) {
		struct timespec ts;

		CHECKF(h_now_ns() < deadline, "no value from the other thread in %d ms", H_WAIT_MS);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&mb->cond, &mb->lock, &ts);
	}
	v = mb->value;
	pthread_mutex_unlock(&mb->lock);
	return v;
}
