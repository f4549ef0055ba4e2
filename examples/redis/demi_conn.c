/* SPDX-License-Identifier: MIT */
/*
 * redis-server on libdemikernel: the event loop's poll (the ae hooks of demi_ae.h) and a Redis
 * connection type (CT_Demi) whose sockets are demi queues. The queues themselves (placeholder
 * fds, the held popped buffer, the copy-once push with back-pressure, the close linger, the
 * wait and the kernel slice) are examples/ports/demi_port.{c,h}, which the build copies beside
 * this file; what is here maps Redis onto it.
 *
 * Descriptors. Redis only ever sees a queue's placeholder fd (demi_port.h): unique among all of
 * the process's descriptors, it fits Redis's event table as any socket did, shows in CLIENT
 * LIST as fd=N, and whatever Redis does to it with a system call is harmless.
 *
 * Poll (the Demikernel paper's way): the poll waits with demi_port_wait on every queue at
 * once, bounded by Redis's nearest time event, and fires the queues of the check list whose
 * state matches what Redis registered in its event table. A popped buffer larger than what
 * Redis reads at once keeps its queue readable, so it fires again in the next iteration
 * without sleeping. Kernel fds stay on Redis's epoll backend, polled without waiting once per
 * kernel slice while some are registered (a pipe streaming an RDB to replicas keeps flowing,
 * an idle server wakes at most 100 times a second for them).
 *
 * Key prefetch: before Redis's read handlers run, the keyspace lines of the GET and SET
 * requests in the fired queues' popped buffers are prefetched in stages across the round's
 * requests (prefetch_keys); a lone request's chain starts in the poll and goes on when Redis's
 * handler and read begin (prefetch_lone, lone_step). Hints only: nothing Redis computes changes.
 *
 * Fork: the child (BGSAVE, BGREWRITEAOF, diskless replication) never touches the libOS:
 * demiActive() is false there, and closing a queue there only closes the placeholder.
 */
#include "server.h"
#include "connhelpers.h"
#include "demi_ae.h"
#include "demi_conn.h"

#include "demi_port.h"
#include "resp_scan.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <demi/libos.h>

/* A queue and the Redis connection on it (NULL for a listener, and once Redis closed it). */
struct dq {
	struct demi_port_q q;
	connection *conn;
	/* A lone request's key hash, from the poll to Redis's read (prefetch_keys). */
	int pf_have;
	uint64_t pf_hash;
};

static struct demi_port *queues; /* this process's queues (one thread) */
static pid_t owner_pid;

int demiActive(void)
{
	return aeDemi != NULL && getpid() == owner_pid;
}

/* Redis's queue behind placeholder fd, or NULL (a kernel fd). */
static struct dq *fd_dq(int fd)
{
	return (struct dq *)demi_port_q_of_fd(fd);
}

int demiOwnsFd(int fd)
{
	return fd_dq(fd) != NULL;
}

static int hook_owns(int fd)
{
	return demiOwnsFd(fd);
}

/* The events of q that Redis waits for and that can fire now. */
static int fireable(struct demi_port_q *pq, void *arg)
{
	aeEventLoop *el = arg;
	struct dq *q = (struct dq *)pq;

	/* A placeholder beyond the table never had events registered (ae refused it). */
	if ((!pq->listening && !q->conn) || pq->fd >= el->setsize)
		return 0;
	int ready = demi_port_ready(pq);
	int mask = (ready & DEMI_PORT_IN ? AE_READABLE : 0) |
		   (ready & DEMI_PORT_OUT ? AE_WRITABLE : 0);
	return mask & el->events[pq->fd].mask;
}

struct fire {
	aeEventLoop *el;
	int nfired;
};

/* Fires q if it matches Redis's interest and keeps it on the list (it may still be ready
 * after its handler ran); the rest stay off until a completion or a new interest. */
static void fire(struct demi_port_q *q, void *arg)
{
	struct fire *f = arg;
	int mask = fireable(q, f->el);

	if (!mask || f->nfired >= f->el->setsize)
		return;
	f->el->fired[f->nfired].fd = q->fd;
	f->el->fired[f->nfired].mask = mask;
	f->nfired++;
	demi_port_check_add(q);
}

/* Keys prefetched per loop round at most: enough for a round of 64 completions' requests
 * to overlap their misses, few enough that the first key's lines are still cached when its
 * handler runs. */
#define PREFETCH_KEYS 16
/* Rounds over the pending keys: bucket, entry, key compare, value object (each further entry
 * of the bucket's chain takes two more). */
#define PREFETCH_ROUNDS 8
/* Requests scanned per round at most, GET/SET or not: traffic of other commands stops the
 * scan early. */
#define PREFETCH_SCAN (4 * PREFETCH_KEYS)

enum pf_step { AT_BUCKET, AT_ENTRY, AT_KEY, AT_VALUE, AT_DONE };

struct pf_key {
	enum pf_step step;
	const char *key;
	size_t klen;
	dictEntry **bucket;
	dictEntry *de;
};

/* The dict bucket of hash h in d, or NULL (an empty dict). Where Redis's dictFind looks
 * first: while d rehashes, buckets below rehashidx have moved to table 1. */
static dictEntry **hash_bucket(dict *d, uint64_t h)
{
	if (dictSize(d) == 0)
		return NULL;
	int t = 0;
	unsigned long idx = h & DICTHT_SIZE_MASK(d->ht_size_exp[0]);
	if (dictIsRehashing(d) && (long)idx < d->rehashidx) {
		t = 1;
		idx = h & DICTHT_SIZE_MASK(d->ht_size_exp[1]);
	}
	return d->ht_table[t] ? &d->ht_table[t][idx] : NULL;
}

/* One step of k's walk: read what the last step prefetched, prefetch the next line. */
static void pf_step(struct pf_key *k)
{
	switch (k->step) {
	case AT_BUCKET:
		k->de = *k->bucket;
		break;
	case AT_ENTRY:
		/* The key's sds header (its length) sits just before its bytes. */
		__builtin_prefetch((char *)k->de->key - 1);
		__builtin_prefetch(k->de->key);
		__builtin_prefetch(k->de->v.val);
		k->step = AT_KEY;
		return;
	case AT_KEY:
		if (sdslen(k->de->key) == k->klen && !memcmp(k->de->key, k->key, k->klen)) {
			k->step = AT_VALUE;
			return;
		}
		k->de = k->de->next;
		break;
	case AT_VALUE: {
		robj *o = k->de->v.val;
		/* A raw string's bytes live apart from the object (an embedded one's follow it,
		 * fetched with it). */
		if (o->type == OBJ_STRING && o->encoding == OBJ_ENCODING_RAW)
			__builtin_prefetch(o->ptr);
		k->step = AT_DONE;
		return;
	}
	default:
		return;
	}
	if (!k->de) {
		k->step = AT_DONE;
		return;
	}
	__builtin_prefetch(k->de);
	k->step = AT_ENTRY;
}

/* The client whose read handler fires for q (a replica's handshake or a listener carries
 * none), with its popped bytes, or NULL. */
static client *reading_client(struct dq *q)
{
	if (!q || !q->conn || !q->q.rx_have || q->conn->read_handler != readQueryFromClient)
		return NULL;
	client *c = connGetPrivateData(q->conn);
	return c && c->db ? c : NULL;
}

/* How much of q's popped bytes a scan looks at: what Redis's next read takes at most
 * (PROTO_IOBUF_LEN). A larger buffer stays held and fires again, and each round scans it
 * from where Redis got to: scanning all of it every time would cost quadratic time. */
static size_t scan_len(struct dq *q)
{
	size_t len = q->q.rx.sga_segs[0].sgaseg_len - q->q.rx_off;

	return len < PROTO_IOBUF_LEN ? len : PROTO_IOBUF_LEN;
}

/* A round of one request: nothing to overlap its misses with but Redis's own work before the
 * lookup (its parse, processCommand), so the chain starts now: the bucket is prefetched here,
 * the entry when the read handler is about to run and the key and value object when the read
 * starts (lone_step). Only the hash is kept in between, not a pointer: each step finds the
 * bucket again from the client's dict, whatever ran meanwhile. */
static void prefetch_lone(aeEventLoop *el)
{
	struct dq *q = fd_dq(el->fired[0].fd);
	client *c = el->fired[0].mask & AE_READABLE ? reading_client(q) : NULL;
	const char *key;
	size_t klen, off = 0;

	if (!c)
		return;
	const demi_sgaseg_t *seg = &q->q.rx.sga_segs[0];
	q->pf_have = 0;
	if (resp_scan_next((const char *)seg->sgaseg_buf + q->q.rx_off, scan_len(q), &off, &key,
			   &klen) != 1)
		return;
	q->pf_hash = dictGenHashFunction(key, klen);
	dictEntry **b = hash_bucket(c->db->dict, q->pf_hash);
	if (!b)
		return;
	__builtin_prefetch(b);
	q->pf_have = 1;
}

/* The next step of prefetch_lone's chain: when Redis's read handler of q is about to run (pf_have
 * 1) the bucket's entry, when its read begins (pf_have 2) the entry's key and value object. */
static void lone_step(struct dq *q)
{
	client *c = reading_client(q);
	int step = q->pf_have;
	dictEntry **b, *de;

	q->pf_have = 0;
	if (!c || !(b = hash_bucket(c->db->dict, q->pf_hash)) || !(de = *b))
		return;
	if (step == 1) {
		__builtin_prefetch(de);
		q->pf_have = 2;
		return;
	}
	__builtin_prefetch((char *)de->key - 1);
	__builtin_prefetch(de->key);
	__builtin_prefetch(de->v.val);
}

/*
 * Before a round's read handlers run: the keys of the GET and SET requests in the fired
 * queues' popped buffers are looked up in their client's keyspace in stages, all keys at each
 * stage (hash and prefetch every bucket, then every entry, then every key and value object,
 * then the value bytes), as Valkey 8 does with its batched key prefetching. A GET follows four
 * cold lines one after the other (entry, key, value object, value bytes); done request by
 * request each miss waits alone, done in stages the misses of all the round's requests
 * overlap, and the handlers find the lines cached. Only hints: nothing is written, the
 * buffers are scanned with bounds checks (resp_scan.h) and only as far as Redis's next read,
 * and the keyspace is only read, before any handler runs (a rehash step of a later dictFind
 * only makes a hint stale) and only when no module is loaded (below). A round of one queue
 * has no other request to overlap with: prefetch_lone starts its chain instead.
 */
static void prefetch_keys(aeEventLoop *el, int nfired)
{
	struct pf_key keys[PREFETCH_KEYS];
	int n = 0, scanned = 0;

	/* The poll runs between beforeSleep and afterSleep, where Redis lets go of its module
	 * lock: a module's thread may be changing the keyspace now, and walking its entries
	 * could follow freed memory. With modules loaded, no prefetch. */
	if (moduleCount())
		return;
	if (nfired == 1) {
		prefetch_lone(el);
		return;
	}
	for (int j = 0; j < nfired && n < PREFETCH_KEYS; j++) {
		struct dq *q = fd_dq(el->fired[j].fd);
		client *c = el->fired[j].mask & AE_READABLE ? reading_client(q) : NULL;
		if (!c)
			continue;
		const demi_sgaseg_t *seg = &q->q.rx.sga_segs[0];
		const char *b = (const char *)seg->sgaseg_buf + q->q.rx_off;
		size_t len = scan_len(q), off = 0;
		struct pf_key *k = &keys[n];
		int r;
		while (n < PREFETCH_KEYS && scanned++ < PREFETCH_SCAN &&
		       (r = resp_scan_next(b, len, &off, &k->key, &k->klen)) >= 0) {
			if (r == 0 || !(k->bucket = hash_bucket(
						c->db->dict, dictGenHashFunction(k->key, k->klen))))
				continue;
			__builtin_prefetch(k->bucket);
			k->step = AT_BUCKET;
			k = &keys[++n];
		}
	}
	for (int round = 0; round < PREFETCH_ROUNDS; round++)
		for (int i = 0; i < n; i++)
			pf_step(&keys[i]);
}

static int hook_poll(aeEventLoop *el, struct timeval *tvp)
{
	long long timeout_us = tvp ? (long long)tvp->tv_sec * 1000000 + tvp->tv_usec : -1;
	struct fire f = {.el = el};
	uint64_t now = 0;

	if (timeout_us != 0 && demi_port_check_any(queues, fireable, el))
		timeout_us = 0;
	if (aeDemiKernelFds() > 0) {
		now = demi_port_now_ns();
		if (demi_port_kernel_due(queues, now)) {
			int n = aeDemiKernelPoll(el, 0, 0);
			f.nfired += n;
			demi_port_kernel_polled(queues, now, n > 0);
			if (n)
				timeout_us = 0;
		}
		long long until = (long long)(demi_port_kernel_left(queues, now) / 1000);
		if (timeout_us < 0 || timeout_us > until)
			timeout_us = until;
	}
	/* Returns once some queue's state changed (not for a push done with room to spare), so
	 * Redis runs no round of its loop (beforeSleep, timers) for nothing. */
	int ret = demi_port_wait(queues, now, timeout_us < 0 ? -1 : timeout_us * 1000);
	if (ret < 0)
		serverLog(LL_WARNING, "demi_wait_next_n: %s", strerror(-ret));
	demi_port_check_each(queues, fire, &f);
	prefetch_keys(el, f.nfired);
	return f.nfired;
}

static void hook_watch(aeEventLoop *el, int fd)
{
	UNUSED(el);
	demi_port_check_add(&fd_dq(fd)->q);
}

static int hook_fd_to_string(int fd, char *ip, size_t ip_len, int *port, int fd_to_str_type)
{
	struct demi_port_q *q = demi_port_q_of_fd(fd);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int ret;

	if (fd_to_str_type == FD_TO_PEER_NAME) {
		sin = q->peer;
		ret = q->listening ? ENOTCONN : 0;
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
	demi_port_destroy(queues);
	queues = NULL;
}

static void log_warning(const char *msg)
{
	serverLog(LL_WARNING, "libdemikernel port: %s", msg);
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
	int ret = demi_port_init(0, log_warning);
	if (ret < 0) {
		serverLog(LL_WARNING, "libdemikernel port: cannot open /dev/null: %s",
			  strerror(-ret));
		exit(1);
	}
	ret = demi_init(NULL);
	if (ret != 0) {
		serverLog(LL_WARNING,
			  "libdemikernel port: demi_init failed: %s (check LIBOS and CONFIG_PATH)",
			  strerror(ret));
		exit(1);
	}
	queues = demi_port_create();
	if (!queues) {
		serverLog(LL_WARNING, "libdemikernel port: out of memory");
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
	struct demi_port_q *q = ret == 0 ? demi_port_q_create(queues, qd, sizeof(struct dq)) : NULL;
	if (ret == 0 && !q)
		ret = errno;
	if (ret != 0) {
		snprintf(err, ANET_ERR_LEN, "demi_bind/demi_listen %s:%d: %s", bindaddr, port,
			 strerror(ret));
		demi_close(qd);
		errno = ret;
		return ANET_ERR;
	}
	demi_port_q_listen(q);
	return q->fd;
}

int demiTcpAccept(char *err, int lfd, char *ip, size_t ip_len, int *port)
{
	struct demi_port_q *l = demi_port_q_of_fd(lfd);
	struct sockaddr_in addr;
	int qd;

	if (!l)
		return anetTcpAccept(err, lfd, ip, ip_len, port);
	if (demi_port_accept_take(l, &qd, &addr) != 0) {
		errno = EWOULDBLOCK;
		return ANET_ERR;
	}
	struct demi_port_q *q = demi_port_q_create(queues, qd, sizeof(struct dq));
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
	demi_port_arm_pop(q);
	return q->fd;
}

void demiCloseFd(int fd)
{
	struct demi_port_q *q = demi_port_q_of_fd(fd);

	if (!q || !demiActive()) {
		close(fd); /* a kernel fd, or in a fork child only the placeholder, never the libOS
			    */
		return;
	}
	demi_port_close(q);
}

static struct dq *conn_dq(connection *conn)
{
	return fd_dq(conn->fd);
}

connection *demiConnCreateAccepted(int fd)
{
	connection *conn = zcalloc(sizeof(*conn));
	conn->type = &CT_Demi;
	conn->fd = fd;
	conn->state = CONN_STATE_ACCEPTING;
	fd_dq(fd)->conn = conn;
	return conn;
}

int demiConnKeepAlive(connection *conn, int interval)
{
	struct dq *q = conn_dq(conn);
	int yes = 1, idle = interval, intvl = interval / 3 ? interval / 3 : 1, cnt = 3;

	if (!q || demi_setsockopt(q->q.qd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes)) != 0)
		return C_ERR;
	/* Like anetKeepAlive; a libOS without these options keeps its defaults. */
	demi_setsockopt(q->q.qd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	demi_setsockopt(q->q.qd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	demi_setsockopt(q->q.qd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
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
	struct dq *q = (struct dq *)demi_port_q_create(queues, qd, sizeof(struct dq));
	if (!q) {
		ret = errno;
		demi_close(qd);
		return ret;
	}
	ret = demi_port_connect(&q->q, &sin);
	if (ret != 0) {
		demi_port_close(&q->q);
		return -ret;
	}
	q->conn = conn;
	conn->fd = q->q.fd;
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

/* Waits for one completion of tok (the caller's pending operation), until deadline (ns). */
static int wait_token(demi_qtoken_t tok, uint64_t deadline)
{
	return -demi_port_wait_token(queues, tok, deadline);
}

/* The deadline of a synchronous call given timeout ms from now. */
static uint64_t deadline_in(long long timeout_ms)
{
	return demi_port_now_ns() + (uint64_t)timeout_ms * 1000000;
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
	struct demi_port_q *q = &conn_dq(conn)->q;
	uint64_t deadline = deadline_in(timeout);
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

	if (!q)
		return conn_failed(conn, EBADF);
	ssize_t n = demi_port_writev(&q->q, iov, iovcnt);
	if (n == -EAGAIN) {
		errno = EAGAIN;
		return -1;
	}
	return n < 0 ? conn_failed(conn, (int)-n) : (int)n;
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
	if (q->pf_have)
		lone_step(q);
	ssize_t n = demi_port_read(&q->q, buf, len);
	if (n == 0 && q->q.eof && !q->q.rx_have)
		conn->state = CONN_STATE_CLOSED;
	if (n == -EAGAIN) {
		errno = EAGAIN;
		return -1;
	}
	return n < 0 ? conn_failed(conn, (int)-n) : (int)n;
}

static void demi_conn_close(connection *conn)
{
	struct dq *q = conn_dq(conn);

	if (q) {
		aeDeleteFileEvent(server.el, conn->fd, AE_READABLE | AE_WRITABLE);
		q->conn = NULL;
		if (demiActive())
			demi_port_close(&q->q); /* after its last replies left */
		else
			close(conn->fd); /* fork child: only the placeholder, never the libOS */
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

/* The replies of what a read handler just ran leave now, not in the next round's beforeSleep
 * (after Redis's timers, its expire cycle and the rest of beforeSleep): the reply goes out in
 * the loop iteration that read its request, as from an echo server. beforeSleep would write
 * the same clients (handleClientsWithPendingWrites) with nothing in between that concerns
 * them, except the append-only file, which it writes before any reply leaves: with AOF on,
 * the replies wait for beforeSleep as in stock Redis. */
static void flush_replies(void)
{
	if (server.aof_state == AOF_OFF && listLength(server.clients_pending_write))
		handleClientsWithPendingWrites();
}

static void demi_conn_ae_handler(struct aeEventLoop *el, int fd, void *data, int mask)
{
	UNUSED(el);
	UNUSED(fd);
	connection *conn = data;
	struct dq *q = conn_dq(conn);

	if (conn->state == CONN_STATE_CONNECTING && (mask & AE_WRITABLE) && conn->conn_handler) {
		if (q && q->q.err) {
			conn->state = CONN_STATE_ERROR;
			conn->last_errno = q->q.err;
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

	if (do_read && q && q->pf_have == 1)
		lone_step(q);
	if (do_read && !barrier) {
		if (!callHandler(conn, conn->read_handler))
			return;
		flush_replies();
	}
	if (do_write && !callHandler(conn, conn->write_handler))
		return;
	if (do_read && barrier)
		callHandler(conn, conn->read_handler);
}

static ssize_t demi_conn_sync_write(connection *conn, char *ptr, ssize_t size, long long timeout)
{
	struct dq *dq = conn_dq(conn);
	struct demi_port_q *q = dq ? &dq->q : NULL;
	uint64_t deadline = deadline_in(timeout);
	ssize_t done = 0;

	while (q && done < size) {
		int n = demi_conn_write(conn, ptr + done, size - done);
		if (n > 0) {
			done += n;
			continue;
		}
		if (q->err || errno != EAGAIN)
			return -1;
		if (wait_token(q->push[q->push_head].qt, deadline) == ETIMEDOUT) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	/* Sent means taken by the libOS, as write(2) means taken by the kernel. */
	while (q && q->push_n && !q->err)
		if (wait_token(q->push[q->push_head].qt, deadline) == ETIMEDOUT) {
			errno = ETIMEDOUT;
			return -1;
		}
	return q && !q->err ? done : -1;
}

/* Waits until q has bytes, end of stream or an error. */
static int wait_rx(struct demi_port_q *q, uint64_t deadline)
{
	demi_port_arm_pop(q);
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
	uint64_t deadline = deadline_in(timeout);
	ssize_t done = 0;

	while (q && done < size) {
		if (wait_rx(&q->q, deadline) != 0)
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
