/* SPDX-License-Identifier: MIT */
/*
 * redis-server on libdemikernel: the queue table, the event loop's poll (the ae hooks of
 * demi_ae.h) and a Redis connection type (CT_Demi) whose sockets are demi queues.
 *
 * Descriptors. Redis indexes its event table by descriptor and hands descriptors to close(2),
 * fcntl and getsockopt in many places; queue descriptors are small ints from 0 and would
 * collide with its kernel fds (files, pipes, a unix socket). So each queue reserves a kernel
 * fd, a dup of /dev/null (close-on-exec), and Redis only ever sees that number: it is unique
 * among all of the process's descriptors by construction, fits Redis's table as any socket
 * did, shows in CLIENT LIST as fd=N, and whatever Redis does to it with a system call is
 * harmless (a stray close(2) closes the placeholder, never another descriptor). by_fd maps the
 * placeholder to the queue, by_qd the queue descriptor back to it.
 *
 * Poll (the Demikernel paper's way): every queue keeps one operation outstanding, an accept on
 * a listener and a pop on a connection; pushes carry the replies. The poll waits with
 * demi_wait_next_n on all of them at once, bounded by Redis's nearest time event, turns each
 * completion into state on its queue (accepted queues, a popped buffer, end of stream, an
 * error, pushes done) and fires the queues whose state matches what Redis asked for. A popped
 * buffer larger than what Redis reads at once stays on its queue, which stays readable and
 * fires again in the next iteration without sleeping. A queue that may fire is on the check
 * list; the poll evaluates only those, so an idle connection costs nothing.
 *
 * Kernel fds stay on Redis's epoll backend. While some are registered they are polled without
 * waiting once per slice, and the demi wait is cut at the slice's end: the slice starts at
 * 50 us after a kernel fd fired (a pipe streaming an RDB to replicas keeps flowing) and doubles
 * up to 10 ms while none fires, so an idle server wakes at most 100 times a second for them.
 *
 * Writes: a write copies Redis's reply once into pool memory (demi_sgaalloc) and pushes it; it
 * reports the bytes as written at once. A connection accepts writes while it has less than
 * TX_BUDGET bytes and TX_SLOTS pushes in flight; beyond that it answers EAGAIN and becomes
 * writable again when pushes complete (back-pressure from a client that does not read).
 * Closing a connection with pushes in flight keeps the queue (not the connection) until they
 * complete or LINGER_US passed, so a reply written just before the close (QUIT, an error
 * before disconnecting) is not cancelled.
 *
 * Fork: the child (BGSAVE, BGREWRITEAOF, diskless replication) never touches the libOS:
 * demiActive() is false there, and closing a listener there only closes the placeholder.
 */
#include "server.h"
#include "connhelpers.h"
#include "demi_ae.h"
#include "demi_conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#define ACCEPT_RING 64
#define TX_SLOTS 64
#define TX_BUDGET (1u << 20)
#define WAIT_BATCH 64
#define KSLICE_MIN_US 50
#define KSLICE_MAX_US 10000
#define LINGER_US 5000000

enum dq_kind { DQ_LISTEN, DQ_CONN };

struct dq {
	int fd; /* placeholder kernel fd: the number Redis knows */
	int qd;
	enum dq_kind kind;
	int on_check;
	connection *conn; /* DQ_CONN, NULL once Redis closed it */
	/* listener: accepted queues waiting for Redis */
	demi_qtoken_t accept_qt;
	int accept_armed;
	int acc_qd[ACCEPT_RING];
	struct sockaddr_in acc_addr[ACCEPT_RING];
	unsigned acc_head, acc_n;
	/* connection: receive */
	demi_qtoken_t pop_qt;
	int pop_armed;
	demi_sgarray_t rx;
	size_t rx_off;
	int rx_have, eof, err;
	/* connection: connect, transmit */
	demi_qtoken_t connect_qt;
	int connecting;
	demi_qtoken_t push_qt[TX_SLOTS];
	size_t push_len[TX_SLOTS];
	unsigned push_head, push_n;
	size_t inflight;
	struct sockaddr_in peer;
	/* closed by Redis, pushes still in flight */
	monotime linger_until;
	struct dq *zombie_next;
};

static struct dq **by_fd, **by_qd;
static int by_fd_cap, by_qd_cap;
static int *check;
static int check_n, check_cap;
static struct dq *zombies;
static int devnull = -1;
static pid_t owner_pid;
static monotime kpoll_next;
static long long kslice = KSLICE_MIN_US;

int demiActive(void)
{
	return aeDemi != NULL && getpid() == owner_pid;
}

int demiOwnsFd(int fd)
{
	return fd >= 0 && fd < by_fd_cap && by_fd[fd] != NULL;
}

static int hook_owns(int fd)
{
	return demiOwnsFd(fd);
}

/* Grows a table of pointers to hold index i. */
static int table_fit(struct dq ***t, int *cap, int i)
{
	if (i < *cap)
		return 0;
	int n = *cap ? *cap : 256;
	while (n <= i)
		n *= 2;
	struct dq **nt = zrealloc(*t, sizeof(*nt) * n);
	memset(nt + *cap, 0, sizeof(*nt) * (n - *cap));
	*t = nt;
	*cap = n;
	return 0;
}

static void check_add(struct dq *q)
{
	if (q->on_check)
		return;
	if (check_n == check_cap) {
		check_cap = check_cap ? check_cap * 2 : 256;
		check = zrealloc(check, sizeof(*check) * check_cap);
	}
	check[check_n++] = q->fd;
	q->on_check = 1;
}

/* A new queue behind a fresh placeholder, or NULL (errno set). */
static struct dq *dq_create(int qd, enum dq_kind kind)
{
	int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct dq *q = zcalloc(sizeof(*q));
	q->fd = fd;
	q->qd = qd;
	q->kind = kind;
	table_fit(&by_fd, &by_fd_cap, fd);
	table_fit(&by_qd, &by_qd_cap, qd);
	by_fd[fd] = q;
	by_qd[qd] = q;
	return q;
}

/* Closes the queue and frees it. Its pending operations complete with ECANCELED: the poll
 * drops those completions, since no queue expects their tokens any more. */
static void dq_destroy(struct dq *q)
{
	if (q->rx_have)
		demi_sgafree(&q->rx);
	for (unsigned i = 0; i < q->acc_n; i++)
		demi_close(q->acc_qd[(q->acc_head + i) % ACCEPT_RING]);
	demi_close(q->qd);
	by_qd[q->qd] = NULL;
	by_fd[q->fd] = NULL;
	close(q->fd);
	/* The check list holds fds: a stale entry finds no queue and is dropped. */
	zfree(q);
}

static void arm_pop(struct dq *q)
{
	if (q->pop_armed || q->rx_have || q->eof || q->err || q->connecting)
		return;
	int ret = demi_pop(&q->pop_qt, q->qd);
	if (ret != 0) {
		q->err = ret;
		check_add(q);
		return;
	}
	q->pop_armed = 1;
}

static void arm_accept(struct dq *q)
{
	if (q->accept_armed || q->acc_n == ACCEPT_RING)
		return;
	int ret = demi_accept(&q->accept_qt, q->qd);
	if (ret != 0) {
		serverLog(LL_WARNING, "demi_accept: %s", strerror(ret));
		return;
	}
	q->accept_armed = 1;
}

/* What q could fire now, whatever Redis asked for. */
static int dq_ready(struct dq *q)
{
	int mask = 0;

	if (q->kind == DQ_LISTEN)
		return q->acc_n ? AE_READABLE : 0;
	if (q->connecting)
		return 0;
	if (q->rx_have || q->eof || q->err)
		mask |= AE_READABLE;
	if (q->err || (q->push_n < TX_SLOTS && q->inflight < TX_BUDGET))
		mask |= AE_WRITABLE;
	return mask;
}

static void complete(const demi_qresult_t *qr)
{
	struct dq *q = qr->qr_qd >= 0 && qr->qr_qd < by_qd_cap ? by_qd[qr->qr_qd] : NULL;
	int failed = qr->qr_opcode == DEMI_OPC_FAILED;
	int ret = failed ? (int)qr->qr_ret : 0;

	if (q && q->accept_armed && qr->qr_qt == q->accept_qt) {
		q->accept_armed = 0;
		if (failed) {
			if (ret != ECANCELED)
				serverLog(LL_WARNING, "accept failed: %s", strerror(ret));
		} else {
			unsigned slot = (q->acc_head + q->acc_n++) % ACCEPT_RING;
			q->acc_qd[slot] = qr->qr_value.ares.qd;
			q->acc_addr[slot] = qr->qr_value.ares.addr;
			check_add(q);
		}
		if (ret != ECANCELED)
			arm_accept(q);
		return;
	}
	if (q && q->pop_armed && qr->qr_qt == q->pop_qt) {
		q->pop_armed = 0;
		if (failed)
			q->err = ret;
		else if (qr->qr_value.sga.sga_numsegs == 0 ||
			 qr->qr_value.sga.sga_segs[0].sgaseg_len == 0)
			q->eof = 1;
		else {
			q->rx = qr->qr_value.sga;
			q->rx_off = 0;
			q->rx_have = 1;
		}
		if (qr->qr_opcode == DEMI_OPC_POP && !q->rx_have)
			demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
		check_add(q);
		return;
	}
	if (q && q->connecting && qr->qr_qt == q->connect_qt) {
		q->connecting = 0;
		if (failed)
			q->err = ret;
		else
			arm_pop(q);
		check_add(q);
		return;
	}
	if (q && q->push_n && qr->qr_qt == q->push_qt[q->push_head]) {
		q->inflight -= q->push_len[q->push_head];
		q->push_head = (q->push_head + 1) % TX_SLOTS;
		q->push_n--;
		if (failed && !q->err)
			q->err = ret;
		if (q->conn)
			check_add(q);
		return;
	}
	/* A completion nobody waits for: an operation of a closed queue, or a synchronous
	 * operation that timed out. Only a popped buffer needs releasing. */
	if (qr->qr_opcode == DEMI_OPC_POP)
		demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
	else if (qr->qr_opcode == DEMI_OPC_ACCEPT)
		demi_close(qr->qr_value.ares.qd);
}

/* Takes every completion available within timeout_us (-1: no limit). */
static void harvest(long long timeout_us)
{
	demi_qresult_t qrs[WAIT_BATCH];
	struct timespec ts, *tsp = NULL;

	for (;;) {
		int n = 0;

		if (timeout_us >= 0) {
			ts.tv_sec = timeout_us / 1000000;
			ts.tv_nsec = (timeout_us % 1000000) * 1000;
			tsp = &ts;
		}
		int ret = demi_wait_next_n(qrs, WAIT_BATCH, &n, tsp);
		if (ret != 0 && ret != ETIMEDOUT) {
			serverLog(LL_WARNING, "demi_wait_next_n: %s", strerror(ret));
			return;
		}
		for (int i = 0; i < n; i++)
			complete(&qrs[i]);
		if (n < WAIT_BATCH)
			return;
		timeout_us = 0; /* a full batch: more may be there already */
	}
}

static void reap_zombies(monotime now)
{
	struct dq **p = &zombies;

	while (*p) {
		struct dq *q = *p;
		if (q->push_n == 0 || q->err || now >= q->linger_until) {
			*p = q->zombie_next;
			dq_destroy(q);
		} else {
			p = &q->zombie_next;
		}
	}
}

static int fireable(aeEventLoop *el, struct dq *q)
{
	/* A placeholder beyond the table never had events registered (ae refused it). */
	if ((q->kind == DQ_CONN && !q->conn) || q->fd >= el->setsize)
		return 0;
	return dq_ready(q) & el->events[q->fd].mask;
}

static int hook_poll(aeEventLoop *el, struct timeval *tvp)
{
	long long timeout_us = tvp ? (long long)tvp->tv_sec * 1000000 + tvp->tv_usec : -1;
	int nfired = 0;

	for (int i = 0; i < check_n && timeout_us != 0; i++) {
		struct dq *q = demiOwnsFd(check[i]) ? by_fd[check[i]] : NULL;
		if (q && fireable(el, q))
			timeout_us = 0;
	}
	if (aeDemiKernelFds() > 0) {
		monotime now = getMonotonicUs();
		if (now >= kpoll_next) {
			int n = aeDemiKernelPoll(el, 0, 0);
			nfired += n;
			kslice = n ? KSLICE_MIN_US
				   : (kslice * 2 > KSLICE_MAX_US ? KSLICE_MAX_US : kslice * 2);
			kpoll_next = now + kslice;
			if (n)
				timeout_us = 0;
		}
		long long until = (long long)(kpoll_next - now);
		if (until < 0)
			until = 0;
		if (timeout_us < 0 || timeout_us > until)
			timeout_us = until;
	}
	if (zombies && (timeout_us < 0 || timeout_us > 100000))
		timeout_us = 100000;
	harvest(timeout_us);
	if (zombies)
		reap_zombies(getMonotonicUs());

	/* Fire what matches Redis's interest; keep those on the list (they may still be ready
	 * after their handler ran) and drop the rest until a completion or a new interest. */
	int kept = 0;
	for (int i = 0; i < check_n; i++) {
		int fd = check[i];
		struct dq *q = demiOwnsFd(fd) ? by_fd[fd] : NULL;
		int mask = q ? fireable(el, q) : 0;

		if (!mask || nfired >= el->setsize) {
			if (q)
				q->on_check = 0;
			continue;
		}
		el->fired[nfired].fd = fd;
		el->fired[nfired].mask = mask;
		nfired++;
		check[kept++] = fd;
	}
	check_n = kept;
	return nfired;
}

static void hook_watch(aeEventLoop *el, int fd)
{
	UNUSED(el);
	check_add(by_fd[fd]);
}

static int hook_fd_to_string(int fd, char *ip, size_t ip_len, int *port, int fd_to_str_type)
{
	struct dq *q = by_fd[fd];
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int ret;

	if (fd_to_str_type == FD_TO_PEER_NAME) {
		sin = q->peer;
		ret = q->kind == DQ_CONN ? 0 : ENOTCONN;
	} else {
		ret = demi_getsockname(q->qd, (struct sockaddr *)&sin, &len);
	}
	if (ret != 0 || (ip && !inet_ntop(AF_INET, &sin.sin_addr, ip, ip_len))) {
		if (ip && ip_len >= 2) {
			ip[0] = '?';
			ip[1] = '\0';
		} else if (ip && ip_len == 1) {
			ip[0] = '\0';
		}
		if (port)
			*port = 0;
		errno = ret ? ret : EINVAL;
		return -1;
	}
	if (port)
		*port = ntohs(sin.sin_port);
	return 0;
}

static struct aeDemiHooks hooks = {
	.owns = hook_owns,
	.watch = hook_watch,
	.poll = hook_poll,
	.fd_to_string = hook_fd_to_string,
};

/* At exit (SHUTDOWN, SIGTERM, exit from a command): close every queue so the libOS ends each
 * connection properly (catnip sends FIN and finishes it before the process ends). */
static void close_all(void)
{
	if (!demiActive())
		return;
	for (int fd = 0; fd < by_fd_cap; fd++)
		if (by_fd[fd])
			dq_destroy(by_fd[fd]);
	zombies = NULL;
}

static void refuse(const char *what)
{
	serverLog(LL_WARNING, "libdemikernel port: %s is not supported, refusing to start", what);
	exit(1);
}

void demiRedisInit(void)
{
	if (server.tls_port != 0)
		refuse("TLS (tls-port)");
	if (server.cluster_enabled)
		refuse("cluster mode (cluster-enabled yes: the cluster bus)");
	if (server.io_threads_num > 1)
		refuse("io-threads > 1 (a libOS instance belongs to one thread)");
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		serverLog(LL_WARNING, "libdemikernel port: cannot open /dev/null: %s",
			  strerror(errno));
		exit(1);
	}
	int ret = demi_init(NULL);
	if (ret != 0) {
		serverLog(LL_WARNING,
			  "libdemikernel port: demi_init failed: %s (check LIBOS and CONFIG_PATH)",
			  strerror(ret));
		exit(1);
	}
	/* A catnap connection holds two kernel fds: its socket and its placeholder. */
	struct rlimit rl;
	rlim_t want = (rlim_t)server.maxclients * 2 + CONFIG_MIN_RESERVED_FDS + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur =
			rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Placeholders take fd numbers too: make room for them in Redis's event table. */
	if (aeResizeSetSize(server.el, server.maxclients * 2 + CONFIG_FDSET_INCR) != AE_OK)
		serverLog(LL_WARNING, "libdemikernel port: cannot grow the event table");
	owner_pid = getpid();
	aeDemi = &hooks;
	atexit(close_all);
	const char *libos = getenv("LIBOS"), *path = getenv("CONFIG_PATH");
	serverLog(LL_NOTICE, "libdemikernel port: started (LIBOS=%s CONFIG_PATH=%s)",
		  libos ? libos : "(unset)", path ? path : "(unset)");
}

/* IPv4 address of a bind or connect argument. */
static int resolve4(const char *addr, struct in_addr *out)
{
	if (!strcmp(addr, "*") || !strcmp(addr, "0.0.0.0")) {
		out->s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (inet_pton(AF_INET, addr, out) == 1)
		return 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(addr, NULL, &hints, &res) != 0)
		return -1;
	*out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

int demiTcpServer(char *err, int port, char *bindaddr, int backlog, int optional)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int qd, ret;

	if (strchr(bindaddr, ':')) {
		snprintf(err, ANET_ERR_LEN, "IPv6 (%s) is not supported by the libdemikernel port",
			 bindaddr);
		/* An optional bind ("-::*", the default) is skipped, a required one refused. */
		errno = optional ? EADDRNOTAVAIL : EINVAL;
		return ANET_ERR;
	}
	if (resolve4(bindaddr, &sin.sin_addr) != 0) {
		snprintf(err, ANET_ERR_LEN, "cannot resolve %s to an IPv4 address", bindaddr);
		errno = EADDRNOTAVAIL;
		return ANET_ERR;
	}
	ret = demi_socket(&qd, AF_INET, SOCK_STREAM, 0);
	if (ret != 0) {
		snprintf(err, ANET_ERR_LEN, "demi_socket: %s", strerror(ret));
		errno = ret;
		return ANET_ERR;
	}
	ret = demi_bind(qd, (struct sockaddr *)&sin, sizeof(sin));
	if (ret == 0)
		ret = demi_listen(qd, backlog);
	struct dq *q = ret == 0 ? dq_create(qd, DQ_LISTEN) : NULL;
	if (ret == 0 && !q)
		ret = errno;
	if (ret != 0) {
		snprintf(err, ANET_ERR_LEN, "demi_bind/demi_listen %s:%d: %s", bindaddr, port,
			 strerror(ret));
		demi_close(qd);
		errno = ret;
		return ANET_ERR;
	}
	arm_accept(q);
	return q->fd;
}

int demiTcpAccept(char *err, int lfd, char *ip, size_t ip_len, int *port)
{
	if (!demiOwnsFd(lfd))
		return anetTcpAccept(err, lfd, ip, ip_len, port);
	struct dq *l = by_fd[lfd];
	if (l->acc_n == 0) {
		arm_accept(l);
		errno = EWOULDBLOCK;
		return ANET_ERR;
	}
	int qd = l->acc_qd[l->acc_head];
	struct sockaddr_in addr = l->acc_addr[l->acc_head];
	l->acc_head = (l->acc_head + 1) % ACCEPT_RING;
	l->acc_n--;
	arm_accept(l);
	struct dq *q = dq_create(qd, DQ_CONN);
	if (!q) {
		int e = errno;
		snprintf(err, ANET_ERR_LEN, "no placeholder fd for a new connection: %s",
			 strerror(e));
		demi_close(qd);
		errno = e;
		return ANET_ERR;
	}
	q->peer = addr;
	if (ip)
		inet_ntop(AF_INET, &addr.sin_addr, ip, ip_len);
	if (port)
		*port = ntohs(addr.sin_port);
	arm_pop(q);
	return q->fd;
}

void demiCloseFd(int fd)
{
	if (!demiOwnsFd(fd)) {
		close(fd);
		return;
	}
	if (!demiActive()) {
		close(fd); /* fork child: only the placeholder, never the libOS */
		return;
	}
	dq_destroy(by_fd[fd]);
}

static struct dq *conn_dq(connection *conn)
{
	return conn->fd >= 0 && demiOwnsFd(conn->fd) ? by_fd[conn->fd] : NULL;
}

connection *demiConnCreateAccepted(int fd)
{
	connection *conn = zcalloc(sizeof(*conn));
	conn->type = &CT_Demi;
	conn->fd = fd;
	conn->state = CONN_STATE_ACCEPTING;
	by_fd[fd]->conn = conn;
	return conn;
}

int demiConnKeepAlive(connection *conn, int interval)
{
	struct dq *q = conn_dq(conn);
	int yes = 1, idle = interval, intvl = interval / 3 ? interval / 3 : 1, cnt = 3;

	if (!q || demi_setsockopt(q->qd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes)) != 0)
		return C_ERR;
	/* Like anetKeepAlive; a libOS without these options keeps its defaults. */
	demi_setsockopt(q->qd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	demi_setsockopt(q->qd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	demi_setsockopt(q->qd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	return C_OK;
}

/* ---- the connection type ---- */

static int conn_failed(connection *conn, int err)
{
	conn->last_errno = err;
	if (conn->state == CONN_STATE_CONNECTED)
		conn->state = CONN_STATE_ERROR;
	errno = err;
	return -1;
}

/* A new queue connecting to addr:port, as conn's. */
static int conn_open(connection *conn, const char *addr, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int qd, ret;

	if (strchr(addr, ':') || resolve4(addr, &sin.sin_addr) != 0)
		return EAFNOSUPPORT;
	ret = demi_socket(&qd, AF_INET, SOCK_STREAM, 0);
	if (ret != 0)
		return ret;
	struct dq *q = dq_create(qd, DQ_CONN);
	if (!q) {
		ret = errno;
		demi_close(qd);
		return ret;
	}
	ret = demi_connect(&q->connect_qt, qd, (struct sockaddr *)&sin, sizeof(sin));
	if (ret != 0) {
		dq_destroy(q);
		return ret;
	}
	q->connecting = 1;
	q->peer = sin;
	q->conn = conn;
	conn->fd = q->fd;
	conn->state = CONN_STATE_CONNECTING;
	return 0;
}

static int demi_conn_connect(connection *conn, const char *addr, int port, const char *src_addr,
			     ConnectionCallbackFunc connect_handler)
{
	UNUSED(src_addr);
	int ret = conn_open(conn, addr, port);
	if (ret != 0) {
		conn->state = CONN_STATE_ERROR;
		conn->last_errno = ret;
		return C_ERR;
	}
	conn->conn_handler = connect_handler;
	aeCreateFileEvent(server.el, conn->fd, AE_WRITABLE, conn->type->ae_handler, conn);
	return C_OK;
}

/* Waits for one completion of tok (the caller's pending operation), until deadline. */
static int wait_token(demi_qtoken_t tok, monotime deadline)
{
	monotime now = getMonotonicUs();
	if (now >= deadline)
		return ETIMEDOUT;
	long long us = (long long)(deadline - now);
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	demi_qresult_t qr;
	int ret = demi_wait(&qr, tok, &ts);
	if (ret == 0)
		complete(&qr);
	return ret;
}

static int demi_conn_blocking_connect(connection *conn, const char *addr, int port,
				      long long timeout)
{
	int ret = conn_open(conn, addr, port);
	if (ret != 0) {
		conn->state = CONN_STATE_ERROR;
		conn->last_errno = ret;
		return C_ERR;
	}
	struct dq *q = conn_dq(conn);
	monotime deadline = getMonotonicUs() + timeout * 1000;
	while (q->connecting && ret != ETIMEDOUT)
		ret = wait_token(q->connect_qt, deadline);
	if (q->connecting || q->err) {
		conn->state = CONN_STATE_ERROR;
		conn->last_errno = q->connecting ? ETIMEDOUT : q->err;
		return C_ERR;
	}
	conn->state = CONN_STATE_CONNECTED;
	return C_OK;
}

static int demi_conn_writev(connection *conn, const struct iovec *iov, int iovcnt)
{
	struct dq *q = conn_dq(conn);
	size_t total = 0;

	if (!q)
		return conn_failed(conn, EBADF);
	if (q->err)
		return conn_failed(conn, q->err);
	if (q->connecting || q->push_n == TX_SLOTS || q->inflight >= TX_BUDGET) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > TX_BUDGET - q->inflight)
		total = TX_BUDGET - q->inflight;
	if (total > INT_MAX)
		total = INT_MAX;
	if (total == 0)
		return 0;
	/* The one copy: Redis's reply into pool memory, pushed without another. */
	demi_sgarray_t sga = demi_sgaalloc(total);
	if (sga.sga_numsegs == 0)
		return conn_failed(conn, ENOMEM);
	char *p = sga.sga_segs[0].sgaseg_buf;
	size_t left = total;
	for (int i = 0; i < iovcnt && left; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
		memcpy(p, iov[i].iov_base, n);
		p += n;
		left -= n;
	}
	unsigned slot = (q->push_head + q->push_n) % TX_SLOTS;
	int ret = demi_push(&q->push_qt[slot], q->qd, &sga);
	demi_sgafree(&sga); /* the push holds its own reference */
	if (ret != 0) {
		q->err = ret;
		return conn_failed(conn, ret);
	}
	q->push_len[slot] = total;
	q->push_n++;
	q->inflight += total;
	return (int)total;
}

static int demi_conn_write(connection *conn, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	return demi_conn_writev(conn, &iov, 1);
}

static int demi_conn_read(connection *conn, void *buf, size_t len)
{
	struct dq *q = conn_dq(conn);

	if (!q)
		return conn_failed(conn, EBADF);
	if (q->rx_have) {
		demi_sgaseg_t *seg = &q->rx.sga_segs[0];
		size_t n = seg->sgaseg_len - q->rx_off;
		if (n > len)
			n = len;
		memcpy(buf, (char *)seg->sgaseg_buf + q->rx_off, n);
		q->rx_off += n;
		if (q->rx_off == seg->sgaseg_len) {
			demi_sgafree(&q->rx);
			q->rx_have = 0;
			arm_pop(q);
		}
		return (int)n;
	}
	if (q->eof) {
		conn->state = CONN_STATE_CLOSED;
		return 0;
	}
	if (q->err)
		return conn_failed(conn, q->err);
	errno = EAGAIN;
	return -1;
}

static void demi_conn_close(connection *conn)
{
	struct dq *q = conn_dq(conn);

	if (q) {
		aeDeleteFileEvent(server.el, conn->fd, AE_READABLE | AE_WRITABLE);
		q->conn = NULL;
		if (q->push_n && !q->err && demiActive()) {
			/* Let the last replies leave first. */
			if (q->rx_have) {
				demi_sgafree(&q->rx);
				q->rx_have = 0;
			}
			q->linger_until = getMonotonicUs() + LINGER_US;
			q->zombie_next = zombies;
			zombies = q;
		} else if (demiActive()) {
			dq_destroy(q);
		} else {
			close(conn->fd);
		}
		conn->fd = -1;
	}
	if (connHasRefs(conn)) {
		conn->flags |= CONN_FLAG_CLOSE_SCHEDULED;
		return;
	}
	zfree(conn);
}

static int demi_conn_accept(connection *conn, ConnectionCallbackFunc accept_handler)
{
	int ret = C_OK;

	if (conn->state != CONN_STATE_ACCEPTING)
		return C_ERR;
	conn->state = CONN_STATE_CONNECTED;
	connIncrRefs(conn);
	if (!callHandler(conn, accept_handler))
		ret = C_ERR;
	connDecrRefs(conn);
	return ret;
}

static int demi_conn_set_write_handler(connection *conn, ConnectionCallbackFunc func, int barrier)
{
	if (func == conn->write_handler)
		return C_OK;
	conn->write_handler = func;
	if (barrier)
		conn->flags |= CONN_FLAG_WRITE_BARRIER;
	else
		conn->flags &= ~CONN_FLAG_WRITE_BARRIER;
	if (!func)
		aeDeleteFileEvent(server.el, conn->fd, AE_WRITABLE);
	else if (aeCreateFileEvent(server.el, conn->fd, AE_WRITABLE, conn->type->ae_handler,
				   conn) == AE_ERR)
		return C_ERR;
	return C_OK;
}

static int demi_conn_set_read_handler(connection *conn, ConnectionCallbackFunc func)
{
	if (func == conn->read_handler)
		return C_OK;
	conn->read_handler = func;
	if (!func)
		aeDeleteFileEvent(server.el, conn->fd, AE_READABLE);
	else if (aeCreateFileEvent(server.el, conn->fd, AE_READABLE, conn->type->ae_handler,
				   conn) == AE_ERR)
		return C_ERR;
	return C_OK;
}

static const char *demi_conn_get_last_error(connection *conn)
{
	return strerror(conn->last_errno);
}

static void demi_conn_ae_handler(struct aeEventLoop *el, int fd, void *data, int mask)
{
	UNUSED(el);
	UNUSED(fd);
	connection *conn = data;
	struct dq *q = conn_dq(conn);

	if (conn->state == CONN_STATE_CONNECTING && (mask & AE_WRITABLE) && conn->conn_handler) {
		if (q && q->err) {
			conn->state = CONN_STATE_ERROR;
			conn->last_errno = q->err;
		} else {
			conn->state = CONN_STATE_CONNECTED;
		}
		if (!conn->write_handler)
			aeDeleteFileEvent(server.el, conn->fd, AE_WRITABLE);
		if (!callHandler(conn, conn->conn_handler))
			return;
		conn->conn_handler = NULL;
	}
	/* Readable before writable (a reply may leave in the same iteration), unless Redis asked
	 * for a write barrier (fsync before replying). */
	int barrier = conn->flags & CONN_FLAG_WRITE_BARRIER;
	int do_read = (mask & AE_READABLE) && conn->read_handler;
	int do_write = (mask & AE_WRITABLE) && conn->write_handler;

	if (do_read && !barrier && !callHandler(conn, conn->read_handler))
		return;
	if (do_write && !callHandler(conn, conn->write_handler))
		return;
	if (do_read && barrier)
		callHandler(conn, conn->read_handler);
}

static ssize_t demi_conn_sync_write(connection *conn, char *ptr, ssize_t size, long long timeout)
{
	struct dq *q = conn_dq(conn);
	monotime deadline = getMonotonicUs() + timeout * 1000;
	ssize_t done = 0;

	while (q && done < size) {
		int n = demi_conn_write(conn, ptr + done, size - done);
		if (n > 0) {
			done += n;
			continue;
		}
		if (q->err || errno != EAGAIN)
			return -1;
		if (wait_token(q->push_qt[q->push_head], deadline) == ETIMEDOUT) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	/* Sent means taken by the libOS, as write(2) means taken by the kernel. */
	while (q && q->push_n && !q->err)
		if (wait_token(q->push_qt[q->push_head], deadline) == ETIMEDOUT) {
			errno = ETIMEDOUT;
			return -1;
		}
	return q && !q->err ? done : -1;
}

/* Waits until q has bytes, end of stream or an error. */
static int wait_rx(struct dq *q, monotime deadline)
{
	arm_pop(q);
	while (!q->rx_have && !q->eof && !q->err)
		if (wait_token(q->pop_qt, deadline) == ETIMEDOUT) {
			errno = ETIMEDOUT;
			return -1;
		}
	return 0;
}

static ssize_t demi_conn_sync_read(connection *conn, char *ptr, ssize_t size, long long timeout)
{
	struct dq *q = conn_dq(conn);
	monotime deadline = getMonotonicUs() + timeout * 1000;
	ssize_t done = 0;

	while (q && done < size) {
		if (wait_rx(q, deadline) != 0)
			return -1;
		int n = demi_conn_read(conn, ptr + done, size - done);
		if (n <= 0)
			return -1;
		done += n;
	}
	return q ? done : -1;
}

static ssize_t demi_conn_sync_readline(connection *conn, char *ptr, ssize_t size, long long timeout)
{
	ssize_t n = 0;

	for (size--; size > 0; size--) {
		char c;
		if (demi_conn_sync_read(conn, &c, 1, timeout) != 1)
			return -1;
		if (c == '\n') {
			*ptr = '\0';
			if (n && ptr[-1] == '\r')
				ptr[-1] = '\0';
			return n;
		}
		*ptr++ = c;
		*ptr = '\0';
		n++;
	}
	return n;
}

static int demi_conn_get_type(connection *conn)
{
	UNUSED(conn);
	return CONN_TYPE_SOCKET;
}

ConnectionType CT_Demi = {
	.ae_handler = demi_conn_ae_handler,
	.connect = demi_conn_connect,
	.write = demi_conn_write,
	.writev = demi_conn_writev,
	.read = demi_conn_read,
	.close = demi_conn_close,
	.accept = demi_conn_accept,
	.set_write_handler = demi_conn_set_write_handler,
	.set_read_handler = demi_conn_set_read_handler,
	.get_last_error = demi_conn_get_last_error,
	.blocking_connect = demi_conn_blocking_connect,
	.sync_write = demi_conn_sync_write,
	.sync_read = demi_conn_sync_read,
	.sync_readline = demi_conn_sync_readline,
	.get_type = demi_conn_get_type,
};
