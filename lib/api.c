/* SPDX-License-Identifier: MIT */
/*
 * The public demi_* calls: the only place that speaks the public error convention (0 or a
 * positive errno). Each call checks its arguments, finds the calling thread's libOS and queue,
 * and dispatches to the libOS's table of operations (which return 0 or -errno).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <demi/libos.h>
#include <demi/sga.h>

#include "api.h"
#include "debug.h"
#include "libos.h"

/* initial-exec: one instruction to reach it, instead of a __tls_get_addr call per API call. */
static _Thread_local struct demi__libos *tls_los __attribute__((tls_model("initial-exec")));
static pthread_key_t los_key;
static pthread_once_t los_key_once = PTHREAD_ONCE_INIT;

struct demi__libos *demi__current(void)
{
	return tls_los;
}

static void libos_destroy(struct demi__libos *los)
{
	for (int qd = 0; qd < los->nqds; qd++)
		if (los->qds[qd])
			los->ops->close(los->qds[qd]);
	los->ops->fini(los);
	demi__runtime_fini(&los->rt);
	demi__pool_fini(&los->pool);
	demi__config_fini(&los->cfg);
	free(los->qds);
	free(los->qd_free_ring);
	free(los);
}

/* A thread that exits takes its libOS with it: sockets closed, memory freed. */
static void thread_exit(void *arg)
{
	struct demi__libos *los = arg;

	if (los == tls_los)
		tls_los = NULL;
	libos_destroy(los);
}

/* exit() tears down the instance of the thread that calls it (usually main): sockets are
 * closed cleanly and the libOS prints its statistics. Other threads' instances go with their
 * thread. */
static void process_exit(void)
{
	demi__fini();
}

static void key_create(void)
{
	pthread_key_create(&los_key, thread_exit);
	atexit(process_exit);
	demi__log_init();
}

void demi__fini(void)
{
	struct demi__libos *los = tls_los;

	/* A forked child (exit() runs this through atexit) shares the parent's device, sockets,
	 * epoll set, rings and hugepage memory: closing its queues would send FINs and RSTs for
	 * the parent's connections, stop the parent's DPDK port or destroy its queue pairs. It
	 * leaves them all alone (docs/api.md, "fork"); the memory goes with the process. */
	if (!los || los->owner != getpid())
		return;
	pthread_setspecific(los_key, NULL);
	tls_los = NULL;
	libos_destroy(los);
}

DEMI_EXPORT int demi_init(const struct demi_args *args)
{
	struct demi__libos *los;
	const struct demi__libos_ops *ops;
	const char *name;
	bool known;
	uint64_t max_pool, spin_us, spin_max_us;
	bool pool_huge;
	int rc;

	(void)args;
	pthread_once(&los_key_once, key_create);
	if (tls_los)
		return EEXIST;
	los = calloc(1, sizeof(*los));
	if (!los)
		return ENOMEM;
	los->owner = getpid();
	rc = demi__config_load(&los->cfg);
	if (rc < 0)
		goto fail_cfg;
	rc = demi__config_get_str(&los->cfg, "libos", "catnap", &name);
	if (rc < 0)
		goto fail_cfg;
	ops = demi__libos_find(name, &known);
	if (!ops) {
		DEMI_ERR("LIBOS=%s: %s", name,
			 known ? "this libOS was not built into this library (see meson's summary)"
			       : "unknown libOS (catnap, catnip or catmint)");
		rc = known ? -ENOTSUP : -EINVAL;
		goto fail_cfg;
	}
	los->ops = ops;
	rc = demi__config_get_u64(&los->cfg, "demikernel.pool_max_bytes", 0, 0, UINT64_MAX,
				  &max_pool);
	if (rc < 0)
		goto fail_cfg;
	rc = demi__config_get_bool(&los->cfg, "demikernel.busy_poll", false, &los->busy_poll);
	if (rc < 0)
		goto fail_cfg;
	/* How long a wait keeps polling after the last sign of work before it sleeps (lib/wait.c):
	 * longer than a round trip on a fast link, so a steady exchange never sleeps, and short
	 * enough that an idle thread costs nothing measurable. */
	rc = demi__config_get_u64(&los->cfg, "demikernel.spin_us", DEMI__SPIN_US_DEFAULT, 0,
				  1000000, &spin_us);
	if (rc == 0)
		rc = demi__config_get_u64(&los->cfg, "demikernel.spin_max_us",
					  DEMI__SPIN_MAX_US_DEFAULT, 0, 1000000, &spin_max_us);
	if (rc < 0)
		goto fail_cfg;
	los->spin_ns = los->spin_base_ns = spin_us * 1000;
	los->spin_max_ns = spin_max_us > spin_us ? spin_max_us * 1000 : los->spin_base_ns;
	rc = demi__stats_init(los);
	if (rc < 0)
		goto fail_cfg;
	/* Pool slabs on 2 MiB hugepages when the machine has free ones (fewer TLB misses on the
	 * datapath); off for a machine whose hugepages are meant for something else, e.g. DPDK. */
	rc = demi__config_get_bool(&los->cfg, "demikernel.pool_hugepages", true, &pool_huge);
	if (rc < 0)
		goto fail_cfg;
	rc = demi__pool_init(&los->pool, (size_t)max_pool);
	if (rc < 0)
		goto fail_cfg;
	los->pool.no_huge = !pool_huge;
	demi__runtime_init(&los->rt);
	/* demikernel.clock: the invariant counter (default) or clock_gettime on every read. */
	rc = demi__clock_config(&los->rt.clock, &los->cfg);
	if (rc < 0) {
		demi__runtime_fini(&los->rt);
		demi__pool_fini(&los->pool);
		goto fail_cfg;
	}
	rc = ops->init(los);
	if (rc < 0) {
		DEMI_ERR("%s: initialisation failed: %s", ops->name, strerror(-rc));
		goto fail_init;
	}
	tls_los = los;
	pthread_setspecific(los_key, los);
	DEMI_INFO("%s ready", ops->name);
	return 0;
fail_init:
	demi__runtime_fini(&los->rt);
	demi__pool_fini(&los->pool);
fail_cfg:
	demi__config_fini(&los->cfg);
	free(los);
	return -rc;
}

/* The calling thread's libOS and the queue qd names in it: 0, EPERM (no demi_init) or EBADF. */
static int find_queue(int qd, struct demi__libos **los_out, struct demi__queue **q_out)
{
	struct demi__libos *los = tls_los;

	if (!los)
		return EPERM;
	*los_out = los;
	*q_out = demi__qd_get(los, qd);
	return *q_out ? 0 : EBADF;
}

static int check_addr(const struct sockaddr *addr, socklen_t size, struct sockaddr_in *out)
{
	if (!addr || size < (socklen_t)sizeof(sa_family_t))
		return EINVAL;
	if (addr->sa_family != AF_INET)
		return EAFNOSUPPORT;
	if (size < (socklen_t)sizeof(struct sockaddr_in))
		return EINVAL;
	memcpy(out, addr, sizeof(*out));
	return 0;
}

DEMI_EXPORT int demi_socket(int *sockqd_out, int domain, int type, int protocol)
{
	struct demi__libos *los = tls_los;
	struct demi__queue *q;
	int rc;

	if (!sockqd_out)
		return EINVAL;
	if (!los)
		return EPERM;
	if (domain != AF_INET)
		return EAFNOSUPPORT;
	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return ENOTSUP;
	if (protocol != 0 && !(type == SOCK_STREAM && protocol == IPPROTO_TCP) &&
	    !(type == SOCK_DGRAM && protocol == IPPROTO_UDP))
		return EPROTONOSUPPORT;
	rc = los->ops->socket(los, domain, type, protocol, &q);
	if (rc < 0)
		return -rc;
	rc = demi__qd_alloc(los, q);
	if (rc < 0) {
		los->ops->close(q);
		return -rc;
	}
	*sockqd_out = q->qd;
	return 0;
}

DEMI_EXPORT int demi_bind(int sockqd, const struct sockaddr *addr, socklen_t size)
{
	struct sockaddr_in sin;
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if ((rc = find_queue(sockqd, &los, &q)) || (rc = check_addr(addr, size, &sin)))
		return rc;
	return -los->ops->bind(q, &sin);
}

DEMI_EXPORT int demi_listen(int sockqd, int backlog)
{
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if ((rc = find_queue(sockqd, &los, &q)))
		return rc;
	if (q->type != SOCK_STREAM)
		return ENOTSUP;
	if (backlog < 1)
		backlog = 1;
	if (backlog > SOMAXCONN)
		backlog = SOMAXCONN;
	return -los->ops->listen(q, backlog);
}

/* rc of a libOS op, after letting it flush what the op made it send (end_call). */
static int end_call(struct demi__libos *los, int rc)
{
	if (los->ops->end_call)
		los->ops->end_call(los, false);
	return rc;
}

/* end_call for a push or pop: while the application works through a batch of completions,
 * the libOS may hold frames until its next demi_wait* (struct demi__libos.defer_end_call). */
static int end_io_call(struct demi__libos *los, int rc)
{
	if (los->ops->end_call)
		los->ops->end_call(los, los->defer_end_call);
	return rc;
}

/*
 * The asynchronous calls: creates the task of operation opc on q, hands out its token and lets
 * the libOS start it. If the libOS refuses, the task goes again and no token exists; for a
 * push, the caller then still holds req's references.
 */
static int start(struct demi__libos *los, struct demi__queue *q, demi_opcode_t opc,
		 const struct sockaddr_in *to, struct demi__push_req *req, demi_qtoken_t *qt_out)
{
	struct demi__task *t = demi__task_create(&los->rt, NULL, opc, q->qd, q);
	int rc;

	if (!t)
		return ENOMEM;
	*qt_out = t->result.qr_qt; /* the token, as create stored it */
	los->user_call = true;	   /* an answer is likely soon: the next wait spins first */
	switch (opc) {
	case DEMI_OPC_ACCEPT:
		rc = los->ops->accept(q, t); /* sends nothing: no end_call */
		break;
	case DEMI_OPC_CONNECT:
		rc = end_call(los, los->ops->connect(q, t, to));
		break;
	case DEMI_OPC_PUSH:
		rc = end_io_call(los, los->ops->push(q, t, req, to));
		break;
	default: /* DEMI_OPC_POP */
		rc = end_io_call(los, los->ops->pop(q, t));
		break;
	}
	if (rc < 0)
		demi__task_discard(t);
	return -rc;
}

DEMI_EXPORT int demi_accept(demi_qtoken_t *qt_out, int sockqd)
{
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!qt_out)
		return EINVAL;
	if ((rc = find_queue(sockqd, &los, &q)))
		return rc;
	if (q->type != SOCK_STREAM)
		return ENOTSUP;
	return start(los, q, DEMI_OPC_ACCEPT, NULL, NULL, qt_out);
}

DEMI_EXPORT int demi_connect(demi_qtoken_t *qt_out, int sockqd, const struct sockaddr *addr,
			     socklen_t size)
{
	struct sockaddr_in sin;
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!qt_out)
		return EINVAL;
	if ((rc = find_queue(sockqd, &los, &q)) || (rc = check_addr(addr, size, &sin)))
		return rc;
	return start(los, q, DEMI_OPC_CONNECT, &sin, NULL, qt_out);
}

DEMI_EXPORT int demi_close(int qd)
{
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if ((rc = find_queue(qd, &los, &q)))
		return rc;
	demi__qd_free(los, q);
	return -end_call(los, los->ops->close(q));
}

/*
 * Resolves the application's array into segments: pool memory is referenced (zero-copy), any
 * other memory is marked foreign. A segment that points into a freed pool buffer, or runs past
 * the end of its buffer, is refused.
 *
 * The array's handle (sga_buf, from demi_sgaalloc or a pop) names its buffer by index: a
 * segment inside that buffer is found without the pool's address lookup (a hash probe and a
 * division); any other segment, or a stale or forged handle, takes the lookup as before.
 */
static int push_req_build(struct demi__libos *los, const demi_sgarray_t *sga,
			  struct demi__push_req *req)
{
	struct demi__buf *hint = NULL;

	req->nsegs = 0;
	req->total = 0;
	if (sga->sga_numsegs == 0 || sga->sga_numsegs > DEMI_SGARRAY_MAXSIZE)
		return EINVAL;
	if (sga->sga_buf)
		hint = demi__pool_from_handle(&los->pool, (uint64_t)(uintptr_t)sga->sga_buf);
	for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
		uint8_t *data = sga->sga_segs[i].sgaseg_buf;
		uint32_t len = sga->sga_segs[i].sgaseg_len;
		struct demi__buf *b;
		uintptr_t off;

		if (!data || len == 0)
			goto bad;
		if (hint && (off = (uintptr_t)data - (uintptr_t)hint->base) < hint->cap) {
			/* Live: demi__pool_from_handle returns no buffer without a reference. */
			if (len > hint->cap - off)
				goto bad;
			b = hint;
		} else {
			b = demi__pool_lookup(&los->pool, data);
			if (b &&
			    (b->refcnt == 0 || data + len > b->base + b->cap || data + len < data))
				goto bad;
		}
		if (b)
			demi__buf_ref(b);
		req->segs[i] = (struct demi__seg){.buf = b, .data = data, .len = len};
		req->nsegs++;
		req->total += len;
	}
	return 0;
bad:
	demi__push_req_put(req);
	return EINVAL;
}

static int push_common(demi_qtoken_t *qt_out, int qd, const demi_sgarray_t *sga,
		       const struct sockaddr *dst, socklen_t size)
{
	struct sockaddr_in sin;
	struct demi__push_req req;
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!qt_out || !sga)
		return EINVAL;
	if ((rc = find_queue(qd, &los, &q)))
		return rc;
	if (dst && (rc = check_addr(dst, size, &sin)))
		return rc;
	if ((rc = push_req_build(los, sga, &req)))
		return rc;
	if ((rc = start(los, q, DEMI_OPC_PUSH, dst ? &sin : NULL, &req, qt_out)))
		demi__push_req_put(&req);
	return rc;
}

DEMI_EXPORT int demi_push(demi_qtoken_t *qt_out, int qd, const demi_sgarray_t *sga)
{
	return push_common(qt_out, qd, sga, NULL, 0);
}

DEMI_EXPORT int demi_pushto(demi_qtoken_t *qt_out, int sockqd, const demi_sgarray_t *sga,
			    const struct sockaddr *dest_addr, socklen_t size)
{
	if (!dest_addr)
		return EINVAL;
	return push_common(qt_out, sockqd, sga, dest_addr, size);
}

DEMI_EXPORT int demi_pop(demi_qtoken_t *qt_out, int qd)
{
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!qt_out)
		return EINVAL;
	if ((rc = find_queue(qd, &los, &q)))
		return rc;
	return start(los, q, DEMI_OPC_POP, NULL, NULL, qt_out);
}

DEMI_EXPORT int demi_setsockopt(int qd, int level, int optname, const void *optval,
				socklen_t optlen)
{
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!optval)
		return EINVAL;
	if ((rc = find_queue(qd, &los, &q)))
		return rc;
	return -end_call(los, los->ops->setsockopt(q, level, optname, optval, optlen));
}

DEMI_EXPORT int demi_getsockopt(int qd, int level, int optname, void *optval, socklen_t *optlen)
{
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!optval || !optlen)
		return EINVAL;
	if ((rc = find_queue(qd, &los, &q)))
		return rc;
	return -los->ops->getsockopt(q, level, optname, optval, optlen);
}

static int copy_addr_out(const struct sockaddr_in *sin, struct sockaddr *addr, socklen_t *len)
{
	socklen_t n = *len < (socklen_t)sizeof(*sin) ? *len : (socklen_t)sizeof(*sin);

	/* Like getsockname(2): truncate to the caller's room, report the full length. */
	memcpy(addr, sin, n);
	*len = sizeof(*sin);
	return 0;
}

/* getpeername and getsockname: the same checks, then one of two libOS operations. */
static int get_addr(int qd, struct sockaddr *addr, socklen_t *addrlen, bool peer)
{
	struct sockaddr_in sin;
	struct demi__libos *los;
	struct demi__queue *q;
	int rc;

	if (!addr || !addrlen)
		return EINVAL;
	if ((rc = find_queue(qd, &los, &q)))
		return rc;
	rc = peer ? los->ops->getpeername(q, &sin) : los->ops->getsockname(q, &sin);
	if (rc < 0)
		return -rc;
	return copy_addr_out(&sin, addr, addrlen);
}

DEMI_EXPORT int demi_getpeername(int qd, struct sockaddr *addr, socklen_t *addrlen)
{
	return get_addr(qd, addr, addrlen, true);
}

DEMI_EXPORT int demi_getsockname(int qd, struct sockaddr *addr, socklen_t *addrlen)
{
	return get_addr(qd, addr, addrlen, false);
}

DEMI_EXPORT demi_sgarray_t demi_sgaalloc(size_t size)
{
	demi_sgarray_t sga;
	struct demi__libos *los = tls_los;
	struct demi__buf *b;

	memset(&sga, 0, sizeof(sga));
	if (!los || size == 0 || size > DEMI__BUF_MAX_BYTES)
		return sga;
	b = demi__pool_get(&los->pool, size);
	if (b)
		demi__sga_from_buf(&sga, b);
	return sga;
}

static int app_release(struct demi__buf *b)
{
	if (!b || !b->app_owned || b->refcnt == 0)
		return EINVAL;
	b->app_owned = 0;
	demi__buf_put(b);
	return 0;
}

/* Further segments the application gathered from other arrays of its own. Out of line: the
 * loop's pool lookups would make every demi_sgafree save registers, and most arrays have one
 * segment. */
static __attribute__((noinline)) void
release_gathered(struct demi__libos *los, const demi_sgarray_t *sga, const struct demi__buf *first)
{
	for (uint32_t i = 1; i < sga->sga_numsegs; i++) {
		struct demi__buf *b = demi__pool_lookup(&los->pool, sga->sga_segs[i].sgaseg_buf);
		if (b && b != first && b->app_owned)
			app_release(b);
	}
}

DEMI_EXPORT int demi_sgafree(demi_sgarray_t *sga)
{
	struct demi__libos *los = tls_los;
	struct demi__buf *first;
	int rc;

	if (!sga)
		return EINVAL;
	if (!los)
		return EPERM;
	if (!sga->sga_buf) {
		/* The empty array of an end-of-stream pop (or of a failed sgaalloc). */
		for (uint32_t i = 0; i < sga->sga_numsegs && i < DEMI_SGARRAY_MAXSIZE; i++)
			if (sga->sga_segs[i].sgaseg_buf)
				return EINVAL;
		return 0;
	}
	if (sga->sga_numsegs > DEMI_SGARRAY_MAXSIZE)
		return EINVAL;
	first = demi__pool_from_handle(&los->pool, (uint64_t)(uintptr_t)sga->sga_buf);
	if ((rc = app_release(first)))
		return rc;
	if (sga->sga_numsegs > 1)
		release_gathered(los, sga, first);
	return 0;
}

int demi__debug_counts(struct demi__debug_counts *out)
{
	struct demi__libos *los = tls_los;

	if (!los)
		return -EPERM;
	out->bufs_in_use = los->pool.stats.bufs_in_use;
	out->bufs_cached = los->ops->bufs_cached ? los->ops->bufs_cached(los) : 0;
	out->tasks_in_use = los->rt.stats.tasks_in_use;
	out->queues_open = los->queues_open;
	out->pool_bytes = los->pool.stats.bytes_reserved;
	return 0;
}
