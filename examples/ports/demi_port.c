/* SPDX-License-Identifier: MIT */
/*
 * demi_port: the queue-per-connection layer of the application ports (demi_port.h says what
 * it does and in which order it is called). Copied beside the program's source at build time.
 */
/* F_DUPFD_CLOEXEC and clock_gettime under the program's -std=c99 (Redis). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "demi_port.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#define WAIT_BATCH 64
/* While queues linger, the wait wakes at least this often to end the expired ones. */
#define LINGER_POLL_NS 100000000ll

struct demi_port {
	struct demi_port_q **by_qd;
	int by_qd_cap;
	int *check, *spare; /* the check list (queue descriptors) and the one being walked */
	int check_n, check_cap, spare_cap;
	int *rearm; /* queues whose next pop waits for the next demi_port_wait (qds) */
	int rearm_n, rearm_cap;
	struct demi_port_q *zombies;
	uint64_t kpoll_next, kslice;
	unsigned long changes; /* completions that changed what a queue can do (demi_port_wait) */
};

/* Process-wide: the placeholder table (see demi_port.h on threads). */
static struct demi_port_q **by_fd;
static int by_fd_cap, by_fd_fixed;
static int devnull = -1;
static demi_port_log_fn log_fn;

static void warn(const char *what, int err)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	if (log_fn)
		log_fn(msg);
	else
		fprintf(stderr, "libdemikernel port: %s\n", msg);
}

/* Out of memory for a list the loop cannot run without: as the programs' own allocators do. */
static void out_of_memory(void)
{
	warn("out of memory", ENOMEM);
	abort();
}

/* Grows a table of queue pointers to hold index i: 0 or -ENOMEM. */
static int table_fit(struct demi_port_q ***t, int *cap, int i)
{
	if (i < *cap)
		return 0;
	int n = *cap ? *cap : 256;
	while (n <= i)
		n *= 2;
	struct demi_port_q **nt = realloc(*t, sizeof(*nt) * (size_t)n);
	if (!nt)
		return -ENOMEM;
	memset(nt + *cap, 0, sizeof(*nt) * (size_t)(n - *cap));
	*t = nt;
	*cap = n;
	return 0;
}

int demi_port_init(int fd_cap, demi_port_log_fn log)
{
	log_fn = log;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	if (fd_cap > 0) {
		by_fd = calloc((size_t)fd_cap, sizeof(*by_fd));
		if (!by_fd)
			return -ENOMEM;
		by_fd_cap = fd_cap;
		by_fd_fixed = 1;
	}
	return 0;
}

struct demi_port *demi_port_create(void)
{
	struct demi_port *p = calloc(1, sizeof(*p));

	if (p)
		p->kslice = DEMI_PORT_KSLICE_MIN_NS;
	return p;
}

uint64_t demi_port_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct demi_port_q *demi_port_q_of_fd(int fd)
{
	return fd >= 0 && fd < by_fd_cap ? by_fd[fd] : NULL;
}

struct demi_port_q *demi_port_q_of_qd(struct demi_port *p, int qd)
{
	return qd >= 0 && qd < p->by_qd_cap ? p->by_qd[qd] : NULL;
}

struct demi_port_q *demi_port_q_create(struct demi_port *p, int qd, size_t size)
{
	int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct demi_port_q *q = calloc(1, size < sizeof(*q) ? sizeof(*q) : size);
	int ret = q ? 0 : -ENOMEM;
	if (ret == 0 && by_fd_fixed && fd >= by_fd_cap)
		ret = -EMFILE;
	if (ret == 0 && !by_fd_fixed)
		ret = table_fit(&by_fd, &by_fd_cap, fd);
	if (ret == 0)
		ret = table_fit(&p->by_qd, &p->by_qd_cap, qd);
	if (ret != 0) {
		free(q);
		close(fd);
		errno = -ret;
		return NULL;
	}
	q->fd = fd;
	q->qd = qd;
	q->port = p;
	by_fd[fd] = q;
	p->by_qd[qd] = q;
	return q;
}

/* A completion changed what q can do: the wait may end, the program's loop looks at q. */
static void changed(struct demi_port_q *q)
{
	q->port->changes++;
	demi_port_check_add(q);
}

/* Appends qd to a list of queue descriptors (grown by doubling): 0 or -ENOMEM. */
static int qd_list_add(int **list, int *n, int *cap, int qd)
{
	if (*n == *cap) {
		int c = *cap ? *cap * 2 : 256;
		int *a = realloc(*list, sizeof(*a) * (size_t)c);
		if (!a)
			return -ENOMEM;
		*list = a;
		*cap = c;
	}
	(*list)[(*n)++] = qd;
	return 0;
}

void demi_port_check_add(struct demi_port_q *q)
{
	struct demi_port *p = q->port;

	if (q->on_check)
		return;
	if (qd_list_add(&p->check, &p->check_n, &p->check_cap, q->qd) < 0)
		out_of_memory();
	q->on_check = 1;
}

int demi_port_check_count(const struct demi_port *p)
{
	return p->check_n;
}

int demi_port_check_any(struct demi_port *p, int (*ready)(struct demi_port_q *q, void *arg),
			void *arg)
{
	for (int i = 0; i < p->check_n; i++) {
		struct demi_port_q *q = demi_port_q_of_qd(p, p->check[i]);
		if (q && q->on_check && ready(q, arg))
			return 1;
	}
	return 0;
}

void demi_port_check_each(struct demi_port *p, void (*fn)(struct demi_port_q *q, void *arg),
			  void *arg)
{
	int n = p->check_n, cap = p->check_cap;
	int *list = p->check;

	/* fn adds to a fresh list (which may grow); this one is only read. */
	p->check = p->spare;
	p->check_cap = p->spare_cap;
	p->spare = list;
	p->spare_cap = cap;
	p->check_n = 0;
	for (int i = 0; i < n; i++) {
		/* An entry of a closed queue finds none, or (qd reused) one not on the list. */
		struct demi_port_q *q = demi_port_q_of_qd(p, list[i]);
		if (!q || !q->on_check || q->fd < 0)
			continue;
		q->on_check = 0;
		fn(q, arg);
	}
}

/* Closes the queue and frees it. Its pending operations complete with ECANCELED: the wait
 * drops those completions, since no queue expects their tokens any more. */
static void q_destroy(struct demi_port_q *q)
{
	if (q->rx_have)
		demi_sgafree(&q->rx);
	for (unsigned i = 0; i < q->acc_n; i++)
		demi_close(q->acc_qd[(q->acc_head + i) % DEMI_PORT_ACCEPT_RING]);
	demi_close(q->qd);
	q->port->by_qd[q->qd] = NULL;
	demi_port_release_fd(q);
	free(q);
}

void demi_port_release_fd(struct demi_port_q *q)
{
	if (q->fd < 0)
		return;
	by_fd[q->fd] = NULL;
	close(q->fd);
	q->fd = -1;
}

void demi_port_close(struct demi_port_q *q)
{
	struct demi_port *p = q->port;

	demi_port_release_fd(q);
	if (q->push_n == 0 || q->err) {
		q_destroy(q);
		return;
	}
	/* Let the last replies leave first; what arrives meanwhile is dropped. */
	if (q->rx_have) {
		demi_sgafree(&q->rx);
		q->rx_have = 0;
	}
	q->linger_until = demi_port_now_ns() + DEMI_PORT_LINGER_NS;
	q->zombie_next = p->zombies;
	p->zombies = q;
}

void demi_port_destroy(struct demi_port *p)
{
	for (int qd = 0; qd < p->by_qd_cap; qd++)
		if (p->by_qd[qd])
			q_destroy(p->by_qd[qd]);
	free(p->by_qd);
	free(p->check);
	free(p->spare);
	free(p->rearm);
	free(p);
}

void demi_port_arm_pop(struct demi_port_q *q)
{
	if (q->pop_armed || q->rx_have || q->eof || q->err || q->connecting)
		return;
	int ret = demi_pop(&q->pop_qt, q->qd);
	if (ret != 0) {
		q->err = ret;
		changed(q); /* readable with its error: a wait issuing deferred pops ends for it */
		return;
	}
	q->pop_armed = 1;
}

static void arm_accept(struct demi_port_q *q)
{
	if (q->accept_armed || q->acc_n == DEMI_PORT_ACCEPT_RING)
		return;
	int ret = demi_accept(&q->accept_qt, q->qd);
	if (ret != 0) {
		warn("demi_accept", ret);
		return;
	}
	q->accept_armed = 1;
}

void demi_port_q_listen(struct demi_port_q *q)
{
	q->listening = 1;
	arm_accept(q);
}

int demi_port_accept_take(struct demi_port_q *l, int *qd, struct sockaddr_in *addr)
{
	if (l->acc_n == 0) {
		arm_accept(l);
		return -EAGAIN;
	}
	*qd = l->acc_qd[l->acc_head];
	*addr = l->acc_addr[l->acc_head];
	l->acc_head = (l->acc_head + 1) % DEMI_PORT_ACCEPT_RING;
	l->acc_n--;
	arm_accept(l);
	return 0;
}

int demi_port_connect(struct demi_port_q *q, const struct sockaddr_in *addr)
{
	int ret = demi_connect(&q->connect_qt, q->qd, (const struct sockaddr *)addr, sizeof(*addr));
	if (ret != 0)
		return -ret;
	q->connecting = 1;
	q->peer = *addr;
	return 0;
}

int demi_port_ready(const struct demi_port_q *q)
{
	int mask = 0;

	if (q->listening)
		return q->acc_n ? DEMI_PORT_IN : 0;
	if (q->connecting)
		return 0;
	if (q->rx_have || q->eof || q->err)
		mask |= DEMI_PORT_IN;
	if (q->err || (q->push_n < DEMI_PORT_TX_SLOTS && q->inflight < DEMI_PORT_TX_BUDGET))
		mask |= DEMI_PORT_OUT;
	return mask;
}

/* q's next pop is issued by the next demi_port_wait, not now: the program is usually about
 * to answer what it just read, and that answer leaves sooner without a pop issued first (one
 * arriving meanwhile waits in the libOS, which completes the pop at once). */
static void rearm_later(struct demi_port_q *q)
{
	struct demi_port *p = q->port;

	if (q->rearm)
		return;
	if (qd_list_add(&p->rearm, &p->rearm_n, &p->rearm_cap, q->qd) < 0) {
		demi_port_arm_pop(q); /* now, then */
		return;
	}
	q->rearm = 1;
}

/* Issues the pops rearm_later put off (an entry of a closed queue finds none, or a new queue
 * of the same qd without the mark). */
static void rearm_now(struct demi_port *p)
{
	for (int i = 0; i < p->rearm_n; i++) {
		struct demi_port_q *q = demi_port_q_of_qd(p, p->rearm[i]);
		if (q && q->rearm) {
			q->rearm = 0;
			demi_port_arm_pop(q);
		}
	}
	p->rearm_n = 0;
}

ssize_t demi_port_read(struct demi_port_q *q, void *buf, size_t len)
{
	if (q->rx_have) {
		demi_sgaseg_t *seg = &q->rx.sga_segs[0];
		size_t n = seg->sgaseg_len - q->rx_off;
		if (n > len)
			n = len;
		memcpy(buf, (char *)seg->sgaseg_buf + q->rx_off, n);
		q->rx_off += n;
		/* The buffer is held until consumed: what the program did not read fires again. */
		if (q->rx_off == seg->sgaseg_len) {
			demi_sgafree(&q->rx);
			q->rx_have = 0;
			rearm_later(q);
		}
		return (ssize_t)n;
	}
	if (q->eof)
		return 0;
	if (q->err)
		return -q->err;
	demi_port_arm_pop(q);
	return -EAGAIN;
}

ssize_t demi_port_writev(struct demi_port_q *q, const struct iovec *iov, int iovcnt)
{
	demi_sgarray_t sga;
	size_t total = 0;

	if (q->err)
		return -q->err;
	if (q->connecting || q->push_n == DEMI_PORT_TX_SLOTS || q->inflight >= DEMI_PORT_TX_BUDGET)
		return -EAGAIN;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > DEMI_PORT_TX_BUDGET - q->inflight)
		total = DEMI_PORT_TX_BUDGET - q->inflight;
	if (total == 0)
		return 0;
	int own = iovcnt == 1 || iov[0].iov_len >= total;
	if (own) {
		/* The program's buffer as it is: the libOS takes it in one copy (or none). */
		sga.sga_buf = NULL;
		sga.sga_numsegs = 1;
		sga.sga_segs[0].sgaseg_buf = iov[0].iov_base;
		sga.sga_segs[0].sgaseg_len = (uint32_t)total;
	} else {
		/* The one copy: the program's bytes gathered into pool memory, pushed as they are.
		 */
		sga = demi_sgaalloc(total);
		if (sga.sga_numsegs == 0)
			return -ENOMEM;
		char *p = sga.sga_segs[0].sgaseg_buf;
		size_t left = total;
		for (int i = 0; i < iovcnt && left; i++) {
			size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
			memcpy(p, iov[i].iov_base, n);
			p += n;
			left -= n;
		}
	}
	struct demi_port_push *slot = &q->push[(q->push_head + q->push_n) % DEMI_PORT_TX_SLOTS];
	int ret = demi_push(&slot->qt, q->qd, &sga);
	if (!own)
		demi_sgafree(&sga); /* the push holds its own reference */
	if (ret != 0) {
		/* Out of pool memory for the libOS's copy: as demi_sgaalloc's failure. */
		if (ret == ENOMEM)
			return -ENOMEM;
		q->err = ret;
		return -ret;
	}
	slot->len = total;
	q->push_n++;
	q->inflight += total;
	return (ssize_t)total;
}

static void free_popped(const demi_qresult_t *qr)
{
	demi_sgafree((demi_sgarray_t *)&qr->qr_value.sga);
}

static void complete(struct demi_port *p, const demi_qresult_t *qr)
{
	struct demi_port_q *q = demi_port_q_of_qd(p, qr->qr_qd);
	int failed = qr->qr_opcode == DEMI_OPC_FAILED;
	int ret = failed ? (int)qr->qr_ret : 0;

	if (q && q->accept_armed && qr->qr_qt == q->accept_qt) {
		q->accept_armed = 0;
		if (failed) {
			if (ret != ECANCELED)
				warn("accept failed", ret);
		} else {
			unsigned slot = (q->acc_head + q->acc_n++) % DEMI_PORT_ACCEPT_RING;
			q->acc_qd[slot] = qr->qr_value.ares.qd;
			memcpy(&q->acc_addr[slot], &qr->qr_value.ares.addr,
			       sizeof(q->acc_addr[slot]));
			changed(q);
		}
		if (ret != ECANCELED)
			arm_accept(q);
		return;
	}
	if (q && q->pop_armed && qr->qr_qt == q->pop_qt) {
		q->pop_armed = 0;
		if (failed) {
			q->err = ret;
		} else if (qr->qr_value.sga.sga_numsegs == 0 ||
			   qr->qr_value.sga.sga_segs[0].sgaseg_len == 0) {
			free_popped(qr);
			q->eof = 1;
		} else if (q->fd < 0) {
			/* Closed, lingering for its pushes: drop what the peer still sends. */
			free_popped(qr);
			demi_port_arm_pop(q);
		} else {
			q->rx = qr->qr_value.sga;
			q->rx_off = 0;
			q->rx_have = 1;
		}
		if (q->fd >= 0)
			changed(q);
		return;
	}
	if (q && q->connecting && qr->qr_qt == q->connect_qt) {
		q->connecting = 0;
		if (failed)
			q->err = ret;
		else
			demi_port_arm_pop(q);
		if (q->fd >= 0)
			changed(q);
		return;
	}
	if (q && q->push_n && qr->qr_qt == q->push[q->push_head].qt) {
		int had_room = q->push_n < DEMI_PORT_TX_SLOTS && q->inflight < DEMI_PORT_TX_BUDGET;

		q->inflight -= q->push[q->push_head].len;
		q->push_head = (q->push_head + 1) % DEMI_PORT_TX_SLOTS;
		if (--q->push_n == 0)
			q->push_head = 0;
		if (failed && !q->err)
			q->err = ret;
		/* A push done while there was room anyway changes nothing the program sees. */
		if (q->fd >= 0 && (failed || !had_room))
			changed(q);
		return;
	}
	/* A completion nobody waits for: an operation of a closed queue, or of a synchronous
	 * call that timed out. Only a popped buffer or an accepted queue needs releasing. */
	if (qr->qr_opcode == DEMI_OPC_POP)
		free_popped(qr);
	else if (qr->qr_opcode == DEMI_OPC_ACCEPT)
		demi_close(qr->qr_value.ares.qd);
}

/* Ends the lingering queues whose pushes completed (or failed) or whose time ran out. */
static void reap(struct demi_port *p, uint64_t now)
{
	struct demi_port_q **pp = &p->zombies;

	while (*pp) {
		struct demi_port_q *q = *pp;
		if (q->push_n == 0 || q->err || now >= q->linger_until) {
			*pp = q->zombie_next;
			q_destroy(q);
		} else {
			pp = &q->zombie_next;
		}
	}
}

int demi_port_wait(struct demi_port *p, uint64_t now, int64_t timeout_ns)
{
	demi_qresult_t qrs[WAIT_BATCH];
	unsigned long changes = p->changes;
	uint64_t deadline = 0;
	int64_t wait_ns;
	int err = 0;

	if (p->zombies && (timeout_ns < 0 || timeout_ns > LINGER_POLL_NS))
		timeout_ns = LINGER_POLL_NS;
	if (timeout_ns > 0)
		deadline = (now ? now : demi_port_now_ns()) + (uint64_t)timeout_ns;
	wait_ns = timeout_ns;
	if (p->rearm_n)
		rearm_now(p);
	for (;;) {
		struct timespec ts, *tsp = NULL;
		int n = 0;

		if (wait_ns >= 0) {
			ts.tv_sec = (time_t)(wait_ns / 1000000000ll);
			ts.tv_nsec = (long)(wait_ns % 1000000000ll);
			tsp = &ts;
		}
		int ret = demi_wait_next_n(qrs, WAIT_BATCH, &n, tsp);
		if (ret != 0 && ret != ETIMEDOUT) {
			err = -ret;
			break;
		}
		for (int i = 0; i < n; i++)
			complete(p, &qrs[i]);
		if (p->zombies)
			reap(p, demi_port_now_ns());
		if (n == WAIT_BATCH) {
			wait_ns = 0; /* a full batch: more may be there already */
			continue;
		}
		if (p->changes != changes || timeout_ns == 0 || (n == 0 && wait_ns != 0))
			break;
		/* Only completions that changed nothing (pushes done while room remained): wait
		 * on for the rest of the time, rather than have the program run a round for them.
		 */
		wait_ns = -1;
		if (timeout_ns > 0) {
			uint64_t t = demi_port_now_ns();
			if (t >= deadline)
				break;
			wait_ns = (int64_t)(deadline - t);
		}
	}
	return err;
}

int demi_port_wait_token(struct demi_port *p, demi_qtoken_t qt, uint64_t deadline_ns)
{
	uint64_t now = demi_port_now_ns();
	if (now >= deadline_ns)
		return -ETIMEDOUT;
	uint64_t ns = deadline_ns - now;
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};
	demi_qresult_t qr;
	int ret = demi_wait(&qr, qt, &ts);
	if (ret == 0)
		complete(p, &qr);
	return -ret;
}

int demi_port_kernel_due(const struct demi_port *p, uint64_t now)
{
	return now >= p->kpoll_next;
}

void demi_port_kernel_polled(struct demi_port *p, uint64_t now, int fired)
{
	uint64_t next =
		p->kslice * 2 > DEMI_PORT_KSLICE_MAX_NS ? DEMI_PORT_KSLICE_MAX_NS : p->kslice * 2;
	p->kslice = fired ? DEMI_PORT_KSLICE_MIN_NS : next;
	p->kpoll_next = now + p->kslice;
}

uint64_t demi_port_kernel_left(const struct demi_port *p, uint64_t now)
{
	return p->kpoll_next > now ? p->kpoll_next - now : 0;
}
