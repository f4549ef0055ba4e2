/* SPDX-License-Identifier: MIT */
/*
 * catmint's device: one verbs context per libOS instance, its protection domain, the one
 * completion queue every QP of the instance shares (one ibv_poll_cq per pass, however many
 * connections) with its completion channel, the rdma_cm event channel, and the registration of
 * pool memory.
 *
 * Memory registration: the pool's slab hook registers every slab, present and future, as one
 * memory region (local write access: receives land in it) and keeps the ibv_mr in slab->priv;
 * a buffer's lkey is its slab's. No operation ever registers memory: receive buffers come from
 * the pool, pushes of pool memory are sent where they are, other memory is either sent inline
 * or copied into the pool first. Only a buffer larger than the pool's largest class has a slab
 * (and so a registration) of its own.
 *
 * Call order: mint_dev_open (device list check -> event channel -> rdma_get_devices -> PD ->
 * completion channel -> CQ -> slab hook), then mint_poll on every pass, mint_sleep when a wait
 * is idle, mint_dev_close last (after every queue is gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catmint.h"

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* The slab hook: every pool slab becomes one memory region of our PD. */
static int slab_hook(void *arg, struct demi__slab *slab, bool added)
{
	struct mint_libos *m = arg;
	struct ibv_mr *mr;

	if (!added) {
		if (slab->priv)
			ibv_dereg_mr((struct ibv_mr *)(uintptr_t)slab->priv);
		slab->priv = 0;
		return 0;
	}
	mr = ibv_reg_mr(m->pd, slab->mem, slab->bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!mr) {
		int err = errno ? errno : ENOMEM;
		DEMI_WARN("catmint: cannot register %zu bytes of pool memory: %s (RLIMIT_MEMLOCK?)",
			  slab->bytes, strerror(err));
		return -err;
	}
	slab->priv = (uintptr_t)mr;
	return 0;
}

/* Before any librdmacm call: a machine without RDMA gets a clear message, not library noise. */
static int check_devices(void)
{
	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);

	if (list)
		ibv_free_device_list(list);
	if (!list || n == 0) {
		DEMI_ERR(
			"catmint: no RDMA device on this machine (libibverbs lists none; for "
			"soft-RoCE: modprobe rdma_rxe && rdma link add rxe0 type rxe netdev IFACE)");
		return -ENODEV;
	}
	return 0;
}

int mint_dev_open(struct mint_libos *m, const char *name)
{
	struct ibv_device_attr attr;
	int n = 0, rc;

	if ((rc = check_devices()) < 0)
		return rc;
	m->cm_ch = rdma_create_event_channel();
	if (!m->cm_ch) {
		rc = errno ? -errno : -ENODEV;
		DEMI_ERR("catmint: cannot open the rdma_cm event channel: %s (is rdma_ucm loaded?)",
			 strerror(-rc));
		return rc == -ENOENT ? -ENODEV : rc;
	}
	if ((rc = set_nonblock(m->cm_ch->fd)) < 0)
		goto fail;
	m->devs = rdma_get_devices(&n);
	for (int i = 0; m->devs && i < n; i++)
		if (!name || !strcmp(ibv_get_device_name(m->devs[i]->device), name))
			m->ctx = m->devs[i];
	if (!name && m->devs && n > 0)
		m->ctx = m->devs[0];
	if (!m->ctx) {
		DEMI_ERR("catmint: RDMA device %s not found (catmint.device)", name ? name : "");
		rc = -ENODEV;
		goto fail;
	}
	if ((rc = -ibv_query_device(m->ctx, &attr)) < 0)
		goto fail;
	m->max_sge = (uint32_t)attr.max_sge < DEMI_SGARRAY_MAXSIZE ? (uint32_t)attr.max_sge
								   : DEMI_SGARRAY_MAXSIZE;
	m->max_cqe = (uint32_t)attr.max_cqe;
	if ((uint32_t)attr.max_qp_wr < m->cfg.sq_depth ||
	    (uint32_t)attr.max_qp_wr < m->cfg.rq_depth) {
		DEMI_ERR("catmint: %s allows %d work requests per queue; lower catmint.sq_depth / "
			 "catmint.rq_depth",
			 ibv_get_device_name(m->ctx->device), attr.max_qp_wr);
		rc = -EINVAL;
		goto fail;
	}
	rc = -ENOMEM;
	if (!(m->pd = ibv_alloc_pd(m->ctx)))
		goto fail_errno;
	if (!(m->comp_ch = ibv_create_comp_channel(m->ctx)))
		goto fail_errno;
	if ((rc = set_nonblock(m->comp_ch->fd)) < 0)
		goto fail;
	m->cq_cap = 1024 < m->max_cqe ? 1024 : m->max_cqe;
	if (!(m->cq = ibv_create_cq(m->ctx, (int)m->cq_cap, m, m->comp_ch, 0)))
		goto fail_errno;
	m->cq_cap = (uint32_t)m->cq->cqe;
	if ((rc = demi__pool_set_slab_hook(&m->los->pool, slab_hook, m)) < 0)
		goto fail;
	DEMI_INFO("catmint: device %s, max_sge %u, max_cqe %u", ibv_get_device_name(m->ctx->device),
		  m->max_sge, m->max_cqe);
	return 0;
fail_errno:
	rc = errno ? -errno : -ENOMEM;
fail:
	DEMI_ERR("catmint: cannot set up the RDMA device: %s", strerror(-rc));
	mint_dev_close(m);
	return rc;
}

void mint_dev_close(struct mint_libos *m)
{
	struct demi__pool *pool = &m->los->pool;

	/* The pool outlives us: take back every registration and the hook. */
	if (pool->hook == slab_hook) {
		for (uint32_t id = 1; id < pool->nslabs; id++)
			if (pool->slabs[id])
				slab_hook(m, pool->slabs[id], false);
		demi__pool_set_slab_hook(pool, NULL, NULL);
	}
	if (m->cq) {
		if (m->cq_unacked)
			ibv_ack_cq_events(m->cq, m->cq_unacked);
		ibv_destroy_cq(m->cq);
	}
	if (m->comp_ch)
		ibv_destroy_comp_channel(m->comp_ch);
	if (m->pd)
		ibv_dealloc_pd(m->pd);
	if (m->devs)
		rdma_free_devices(m->devs);
	if (m->cm_ch)
		rdma_destroy_event_channel(m->cm_ch);
	demi__map_fini(&m->qps);
	m->cq = NULL;
	m->comp_ch = NULL;
	m->pd = NULL;
	m->devs = NULL;
	m->ctx = NULL;
	m->cm_ch = NULL;
}

/* ---- completion queue ---- */

int mint_cq_reserve(struct mint_libos *m, uint32_t entries)
{
	uint32_t want = m->cq_need + m->cq_stale + entries, cap = m->cq_cap;

	if (want > cap) {
		while (cap < want)
			cap *= 2;
		if (cap > m->max_cqe)
			cap = m->max_cqe;
		/* Overflowing a CQ breaks every QP on it: refuse the connection instead. */
		if (cap < want)
			return -ENOBUFS;
		if (ibv_resize_cq(m->cq, (int)cap) != 0)
			return -ENOBUFS;
		m->cq_cap = (uint32_t)m->cq->cqe;
		DEMI_DEBUG("catmint: completion queue resized to %u entries", m->cq_cap);
	}
	m->cq_need += entries;
	return 0;
}

void mint_cq_release(struct mint_libos *m, uint32_t entries)
{
	m->cq_need -= entries;
	m->cq_stale += entries; /* completions of the destroyed QP may still be in the CQ */
}

int mint_cq_poll(struct mint_libos *m)
{
	struct ibv_wc wc[MINT_CQ_BATCH];
	int total = 0, n;

	do {
		n = ibv_poll_cq(m->cq, MINT_CQ_BATCH, wc);
		if (n < 0) {
			DEMI_ERR("catmint: ibv_poll_cq failed (%d)", n);
			return total;
		}
		for (int i = 0; i < n; i++) {
			struct mint_queue *q = demi__map_get(&m->qps, (uintptr_t)wc[i].qp_num + 1);

			if (!q || q->gen != (uint32_t)(wc[i].wr_id >> 32)) {
				m->st.stale_wc++;
				continue;
			}
			mint_wc_handle(q, &wc[i]);
		}
		total += n;
	} while (n == MINT_CQ_BATCH);
	/* The CQ is empty: nothing of a destroyed QP is left in it. */
	m->cq_stale = 0;
	return total;
}

void mint_sleep(struct mint_libos *m, uint64_t timeout_ns)
{
	struct pollfd fds[2] = {
		{.fd = m->comp_ch->fd, .events = POLLIN},
		{.fd = m->cm_ch->fd, .events = POLLIN},
	};
	struct timespec ts, *tsp = NULL;

	if (!m->cq_armed) {
		if (ibv_req_notify_cq(m->cq, 0) != 0)
			return;
		m->cq_armed = true;
	}
	/* A completion that arrived before the CQ was armed raises no event: look once more. */
	if (mint_cq_poll(m) > 0)
		return;
	if (timeout_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tsp = &ts;
	}
	m->st.cq_sleeps++;
	if (ppoll(fds, 2, tsp, NULL) <= 0)
		return;
	if (fds[0].revents & POLLIN) {
		struct ibv_cq *cq;
		void *ctx;

		while (ibv_get_cq_event(m->comp_ch, &cq, &ctx) == 0) {
			m->cq_unacked++;
			m->cq_armed = false;
		}
		/* Acknowledging takes a lock: do it in batches. */
		if (m->cq_unacked >= 64) {
			ibv_ack_cq_events(m->cq, m->cq_unacked);
			m->cq_unacked = 0;
		}
	}
	if (fds[1].revents & POLLIN)
		m->cm_countdown = 0; /* look at the rdma_cm channel on the next pass */
}

int mint_poll(void *arg)
{
	struct mint_libos *m = arg;
	int n;

	/* Receives of the messages popped since the last pass first: reposting them here, not in
	 * the pop, keeps ibv_post_recv off the path from a received message to the reply the
	 * application pushes. */
	if (!demi__list_empty(&m->refill))
		mint_refill(m);
	n = mint_cq_poll(m);

	/* Reading the rdma_cm channel is a system call: every pass only while a handshake
	 * waits for its next event, now and then otherwise (disconnects, new connections;
	 * a sleeping wait watches the channel's fd anyway). */
	if (m->cm_busy || m->cm_countdown == 0) {
		n += mint_cm_poll(m);
		m->cm_countdown = MINT_CM_POLL_EVERY;
	} else {
		m->cm_countdown--;
	}
	return n;
}
