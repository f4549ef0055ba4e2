/* SPDX-License-Identifier: MIT */
/*
 * catnip: the libOS on DPDK with our own stack. This file joins three things: the demi_*
 * operations (lib/libos.h), the stack (inet/, which knows no device) and the DPDK device
 * (dev/dpdk_link.c). The device is polled by a background task on every scheduler pass, with
 * the runtime's clock as the stack's time. A wait polls while work is likely (lib/wait.c:
 * busy_poll, demikernel.spin_us) and otherwise sleeps in nip_poll_io on the device's receive
 * interrupt (or in short naps), never past the stack's next timer.
 *
 * Each queue carries its protocol's operations (catnip.h: catnip_tcp.c, catnip_udp.c); this
 * file checks what is common and dispatches. Configuration: catnip_config.c; the counters
 * logged at exit: catnip_counters.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "catnip.h"
#include "dev/dpdk_link.h"
#include "dev/fault_link.h"
#include "dev/pcap_link.h"

_Thread_local struct demi__libos *nip_thread_los __attribute__((tls_model("initial-exec")));

/* When the stack next needs a poll: due (the stack's own next deadline) or a delayed frame
 * of the fault link, whichever comes first. */
static uint64_t next_due(struct nip_libos *n, uint64_t due)
{
	if (n->fault) {
		uint64_t f = nip_fault_link_next_due(n->fault);

		due = f < due ? f : due;
	}
	return due;
}

/* The device poller, on every scheduler pass. Most passes of a busy-polling wait find
 * nothing; such a pass only reads the receive ring (into the device's stash, where the next
 * rx_burst takes it) and moves the stack's clock. nip_stack_poll runs when frames came, when
 * its next deadline is due, and on each wait's first pass, after whatever the application
 * did since the last wait: the rule a sleeping catnip follows (nip_poll_io), which
 * nip_stack_next_deadline serves (early, never late). That poll's own tail (timers, deferred
 * ACKs, output waiting for the device) runs only when due (stack.c, tail_due). Saves about
 * half of an idle pass (docs/benchmarks.md, issue 14). */
static int poll_device(void *arg)
{
	struct demi__libos *los = arg;
	struct nip_libos *n = nip_of(los);
	uint64_t now;
	int rc;

	/* The ring first: the clock (demi__pass_now) is read on few idle passes, but the frame
	 * that ends the spin is looked for on every one. */
	if (los->waits == n->waits_seen && !nip_dpdk_rx_peek(n->dev) &&
	    (now = demi__pass_now(&los->rt)) < n->due) {
		n->stack.now = now; /* what a push or connect stamps before the next poll */
		return 0;
	}
	/* A pass that works reads the clock afresh: a reading reused by idle passes would date
	 * the frame's RTT sample, timestamps and timers before its arrival. */
	demi__pass_clock_stale(&los->rt);
	now = demi__pass_now(&los->rt);
	n->waits_seen = los->waits;
	rc = nip_stack_poll(&n->stack, now);
	n->due = next_due(n, n->stack.poll_due); /* the poll's own answer: nothing ran since */
	return rc;
}

static uint64_t fault_clock(void *rt)
{
	return demi__clock_now(rt);
}

static int nip_init(struct demi__libos *los)
{
	struct nip_libos *n;
	struct nip_stack_config sc;
	int rc;

	if (nip_thread_los)
		return -EEXIST;
	if (!(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	los->priv = n;
	if ((rc = nip_config_read(&los->cfg, &sc)) < 0)
		goto fail;
	if ((rc = nip_dpdk_init(&n->dev, &los->cfg, &los->pool)) < 0)
		goto fail;
	/* catnip.fault.*: loss, reordering and corruption on the real port, for testing an
	 * application under a bad network; when unset the device's link is used as it is. */
	struct nip_link *link = nip_dpdk_link(n->dev);
	/* catnip.pcap.*: every frame into a pcap file, closest to the device (what was on the
	 * wire); unset, the link is not wrapped. */
	if ((rc = nip_pcap_link_from_config(&n->pcap, &los->cfg, link)) < 0)
		goto fail;
	if (n->pcap)
		link = &n->pcap->link;
	if ((rc = nip_fault_link_from_config(&n->fault, &los->cfg, link, &los->pool, fault_clock,
					     &los->rt)) < 0)
		goto fail;
	if (n->fault)
		link = &n->fault->link;
	if ((rc = nip_stack_init(&n->stack, link, &sc)) < 0)
		goto fail;
	n->stack_up = true;
	/* The stack's time is that of its last poll: a connect before the first poll would
	 * otherwise stamp its SYN with time 0 and arm a retransmission that is already due. */
	n->stack.now = demi__clock_now(&los->rt);
	if ((rc = nip_config_arp_table(&los->cfg, &n->stack)) < 0)
		goto fail;
	demi__bg_add(&los->rt, &n->poller, poll_device, los);
	nip_thread_los = los;
	return 0;
fail:
	if (n->stack_up)
		nip_stack_fini(&n->stack);
	nip_fault_link_destroy(n->fault);
	nip_pcap_link_destroy(n->pcap);
	if (n->dev)
		nip_dpdk_fini(n->dev);
	free(n);
	los->priv = NULL;
	return rc;
}

static void log_device(struct nip_dpdk *dev)
{
	struct nip_dpdk_stats ds;

	nip_dpdk_stats(dev, &ds);
	/* The port's own drops too: a receive ring left with no buffer to refill it shows there
	 * (by driver), and in how many receive buffers were held at most. */
	DEMI_INFO("catnip: device rx %llu frames (%llu copied, %llu bad checksum, %llu no buffer) "
		  "tx %llu frames in %llu bursts, %llu refused (ring full), %llu too long, "
		  "%llu no mbuf; port rx %llu (%llu missed, %llu errors, %llu no mbuf) tx %llu "
		  "(%llu errors); receive "
		  "buffers held at most %llu of %llu; idle: %llu sleeps (%llu woken by a frame, "
		  "%llu given up for frames that came while arming), %llu naps",
		  (unsigned long long)ds.rx_frames, (unsigned long long)ds.rx_copied,
		  (unsigned long long)ds.rx_csum_bad, (unsigned long long)ds.rx_nobuf,
		  (unsigned long long)ds.tx_frames, (unsigned long long)ds.tx_bursts,
		  (unsigned long long)ds.tx_full, (unsigned long long)ds.tx_bad,
		  (unsigned long long)ds.tx_nombuf, (unsigned long long)ds.port_ipackets,
		  (unsigned long long)ds.port_imissed, (unsigned long long)ds.port_ierrors,
		  (unsigned long long)ds.port_rx_nombuf, (unsigned long long)ds.port_opackets,
		  (unsigned long long)ds.port_oerrors, (unsigned long long)ds.rx_held_max,
		  (unsigned long long)ds.rx_lendable, (unsigned long long)ds.sleeps,
		  (unsigned long long)ds.sleep_wakeups, (unsigned long long)ds.sleep_races,
		  (unsigned long long)ds.naps);
}

static void nip_fini(struct demi__libos *los)
{
	struct nip_libos *n = nip_of(los);

	/* Closed connections may still owe their peers data or a FIN: give them up to 2 s to
	 * deliver it, as the kernel would after a process exits (demi_close promises the FIN
	 * after all pushed data), and up to 0.5 s for the peers' FINs; reset what is left. */
	uint64_t t0 = demi__clock_now(&los->rt), now = t0;
	int owing, closing;

	for (;;) {
		nip_tcp_orphans(&n->stack, &owing, &closing);
		if (!(owing && now < t0 + 2000000000ull) && !(closing && now < t0 + 500000000ull))
			break;
		for (int i = 0; i < 64; i++) {
			now = demi__clock_now(&los->rt);
			nip_stack_poll(&n->stack, now);
		}
	}
	nip_tcp_abort_orphans(&n->stack);
	nip_stack_flush(&n->stack);
	nip_counters_log(&n->stack.cnt);
	log_device(n->dev);
	demi__bg_remove(&n->poller);
	nip_stack_fini(&n->stack);
	nip_fault_link_destroy(n->fault);
	nip_pcap_link_destroy(n->pcap);
	nip_dpdk_fini(n->dev);
	free(n);
	los->priv = NULL;
	nip_thread_los = NULL;
}

struct nip_queue *nip_queue_new(int type)
{
	struct nip_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->base.type = type;
	q->ops = type == SOCK_STREAM ? &nip_tcp_queue_ops : &nip_udp_queue_ops;
	demi__list_init(&q->pops);
	demi__list_init(&q->pushes);
	demi__list_init(&q->accepts);
	demi__list_init(&q->connects);
	return q;
}

void nip_cancel_all(struct demi__list *l)
{
	struct demi__list *n;

	while ((n = demi__list_front(l)))
		demi__task_fail(demi__container_of(n, struct demi__task, wait_link), ECANCELED);
}

static int nip_socket(struct demi__libos *los, int domain, int type, int protocol,
		      struct demi__queue **q_out)
{
	struct nip_queue *q;

	(void)domain;
	(void)protocol;
	if (!(q = nip_queue_new(type)))
		return -ENOMEM;
	if (q->ops->open(q, &nip_of(los)->stack) < 0) {
		free(q);
		return -ENOMEM;
	}
	*q_out = &q->base;
	return 0;
}

static int nip_bind(struct demi__queue *dq, const struct sockaddr_in *addr)
{
	struct nip_queue *q = nip_queue_of(dq);

	return q->ops->bind(q, addr->sin_addr.s_addr, ntohs(addr->sin_port));
}

static int nip_listen(struct demi__queue *dq, int backlog)
{
	struct nip_queue *q = nip_queue_of(dq);

	if (!q->ops->listen)
		return -EOPNOTSUPP;
	return q->ops->listen(q, backlog > 0 ? (uint32_t)backlog : 1);
}

static int nip_accept(struct demi__queue *dq, struct demi__task *t)
{
	struct nip_queue *q = nip_queue_of(dq);

	if (!q->ops->accept)
		return -EOPNOTSUPP;
	return q->ops->accept(q, t);
}

static int nip_connect(struct demi__queue *dq, struct demi__task *t, const struct sockaddr_in *to)
{
	struct nip_queue *q = nip_queue_of(dq);

	return q->ops->connect(q, t, to->sin_addr.s_addr, ntohs(to->sin_port));
}

static int nip_push(struct demi__queue *dq, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	struct nip_queue *q = nip_queue_of(dq);

	return q->ops->push(q, t, req, to);
}

static int nip_pop(struct demi__queue *dq, struct demi__task *t)
{
	struct nip_queue *q = nip_queue_of(dq);

	return q->ops->pop(q, t);
}

static int nip_close(struct demi__queue *dq)
{
	struct nip_queue *q = nip_queue_of(dq);

	nip_cancel_all(&q->pops);
	q->ops->close(q);
	free(q);
	return 0;
}

static int nip_setsockopt(struct demi__queue *dq, int level, int name, const void *val,
			  socklen_t len)
{
	struct nip_queue *q = nip_queue_of(dq);

	if (!q->ops->setsockopt)
		return -ENOPROTOOPT;
	return q->ops->setsockopt(q, level, name, val, len);
}

static int nip_getsockopt(struct demi__queue *dq, int level, int name, void *val, socklen_t *len)
{
	struct nip_queue *q = nip_queue_of(dq);
	int v;

	if (level == SOL_SOCKET && name == SO_TYPE) {
		if (*len < (socklen_t)sizeof(int))
			return -EINVAL;
		v = dq->type;
		memcpy(val, &v, sizeof(v));
		*len = sizeof(v);
		return 0;
	}
	return q->ops->getsockopt(q, level, name, val, len);
}

static int nip_getpeername(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct nip_queue *q = nip_queue_of(dq);

	return q->ops->getpeername(q, addr);
}

static int nip_getsockname(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct nip_queue *q = nip_queue_of(dq);

	return q->ops->getsockname(q, addr);
}

/* The stack batches frames for the device: whatever a user call made it send goes out
 * before the call returns (lib/api.c calls this after connect, close, push, pop and
 * setsockopt), except while the application works through a batch of completions
 * (may_wait): then frames leave TX_BATCH_MIN at a time, and the rest at the next wait. A
 * memif burst costs ~400 instructions and a ring update the peer must fetch whatever it
 * carries; holding the whole batch to its end instead made the two ends of a closed loop take
 * turns (32 connections over memif: half the requests per second). */
#define TX_BATCH_MIN 8
static void nip_end_call(struct demi__libos *los, bool may_wait)
{
	struct nip_stack *s = &nip_of(los)->stack;

	if (may_wait && s->txq_len < TX_BATCH_MIN)
		return;
	nip_stack_flush(s);
}

/* A wait with nothing to do: sleep on the device, but no later than the stack's next timer
 * (retransmissions, delayed ACKs, ARP retries) or a delayed frame of the fault link. A zero
 * timeout (spinning) returns at once: the scheduler pass around it polls the device. */
static int nip_poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	struct nip_libos *n = nip_of(los);
	uint64_t now, due;

	if (!timeout_ns)
		return 0;
	due = next_due(n, nip_stack_next_deadline(&n->stack));
	now = demi__clock_now(&los->rt);
	if (due <= now)
		return 0;
	if (due - now < timeout_ns)
		timeout_ns = due - now;
	return nip_dpdk_wait(n->dev, timeout_ns);
}

/* The device's counters for demi_stats, after the stack's. */
#define DEV(f) DEMI__STAT_FIELD("catnip.dev_", struct nip_dpdk_stats, f)
static const struct demi__stat_field dev_stats[] = {
	DEV(rx_frames),	   DEV(rx_bytes),      DEV(rx_copied),	      DEV(rx_csum_bad),
	DEV(rx_nobuf),	   DEV(rx_held),       DEV(rx_reclaim_scans), DEV(tx_frames),
	DEV(tx_bytes),	   DEV(tx_bursts),     DEV(tx_full),	      DEV(tx_nombuf),
	DEV(tx_bad),	   DEV(alloc_failed),  DEV(port_ipackets),    DEV(port_opackets),
	DEV(port_imissed), DEV(port_ierrors),  DEV(port_oerrors),     DEV(port_rx_nombuf),
	DEV(sleeps),	   DEV(sleep_wakeups), DEV(sleep_races),      DEV(naps),
	DEV(rx_held_max),  DEV(rx_lendable),   DEV(tx_own_frames),
};
DEMI__STAT_TABLE_COVERS(dev_stats, struct nip_dpdk_stats);

static size_t nip_stats(struct demi__libos *los, demi_stat_t *out, size_t cap)
{
	struct nip_libos *n = nip_of(los);
	size_t k = nip_counters_stats(&n->stack.cnt, out, cap);
	struct nip_dpdk_stats ds;

	nip_dpdk_stats(n->dev, &ds);
	return DEMI__STATS_FROM(dev_stats, &ds, out, cap, k);
}

static uint64_t nip_bufs_cached(struct demi__libos *los)
{
	return nip_dpdk_bufs_cached(nip_of(los)->dev);
}

const struct demi__libos_ops nip_libos_ops = {
	.name = "catnip",
	.init = nip_init,
	.fini = nip_fini,
	.socket = nip_socket,
	.bind = nip_bind,
	.listen = nip_listen,
	.accept = nip_accept,
	.connect = nip_connect,
	.push = nip_push,
	.pop = nip_pop,
	.close = nip_close,
	.setsockopt = nip_setsockopt,
	.getsockopt = nip_getsockopt,
	.getpeername = nip_getpeername,
	.getsockname = nip_getsockname,
	.poll_io = nip_poll_io,
	.poll_io_only_sleeps = true,
	.end_call = nip_end_call,
	.bufs_cached = nip_bufs_cached,
	.stats = nip_stats,
};
