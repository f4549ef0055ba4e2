/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device: one ethdev port behind struct nip_link. See dpdk_link.h for the design
 * (EAL once per process, zero-copy RX over pool buffers, zero-copy TX as the buffer's own
 * mbuf or by external-buffer attach, checksum offload contract).
 *
 * Call order: nip_dpdk_init -> rx_burst/tx_burst/alloc (one thread, the pool's) ->
 * nip_dpdk_fini. Nothing on the rx/tx path allocates memory or makes a system call (the PMD
 * itself may: net_tap reads and writes a file descriptor).
 */
#include "dpdk_link.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_mempool.h>

#include "log.h"
#include "runtime/clock.h"
#include "wire/checksum.h"
#include "wire/eth.h"

#define BURST 32
#define NB_RXD 1024
#define NB_TXD 1024
#define TX_HDRS 4095 /* header mbufs: a full TX ring, bursts in flight, rte_mempool likes 2^n-1 */
#define MEMPOOL_CACHE 256
/* Receive buffers are pool buffers of the smallest class, used whole as mbuf data rooms. */
/* demi__slab.priv: this bit, and the slab's own mbuf mempool (slab_mbufs_add) above it. */
#define SLAB_REGISTERED 1u
/* Frames sent as their buffer's own mbuf that the PMD held past rte_eth_tx_burst: room for a
 * full TX ring (NB_TXD) and a burst, rounded up to a power of two for the index mask; when a
 * burst would not fit, its frames go by header mbuf. */
#define TX_PEND 2048u
/* Slabs whose buffers get their own mbufs (slab_mbufs_add), per instance: each takes a
 * mempool, i.e. 3 memzones of the process's RTE_MAX_MEMZONE (2560 in Debian's DPDK) and about
 * 190 KiB of EAL memory, so ~800 slabs would leave the whole process without memzones. 64
 * slabs are 128 MiB of 2 KiB buffers to send (slabs lent whole to the receive side give
 * their place back: rx_slabs_unown), far beyond what a ring and the frames in flight need
 * (192 memzones, ~12 MiB); later slabs send through header mbufs. */
#define OWN_MBUF_SLABS 64u
/* Without receive interrupts an idle wait sleeps in steps that double from this. */
#define NAP_MIN_NS 16000ull

struct nip_dpdk {
	struct nip_link link; /* first: link.dev points back here */
	uint16_t port;
	bool configured, started;
	bool is_memif; /* a memif client, which needs restarts to reconnect: see port_start */
	bool iova_va;  /* IOVA as VA: an mbuf's IO address is its virtual address */
	bool register_memory;
	struct rte_device *rte_dev;
	struct demi__pool *pool;
	size_t page_size;
	uint32_t max_frame; /* largest frame tx accepts: MTU + Ethernet header + one VLAN tag */
	/* mbuf TX flags for each offload, 0 when off. */
	uint64_t tx_ol_ip, tx_ol_udp, tx_ol_tcp;
	/* RX checksum offloads enabled on the port: their results become NIP_RXF_* flags. */
	bool rx_check_ip, rx_check_l4;

	struct rte_mempool *rx_mp; /* mbufs whose pinned data rooms are rx_bufs[] */
	/* Instead of rx_mp, for a driver that cannot receive into external data rooms
	 * (rx_needs_plain_pool): whole mbufs, each frame copied out by rx_wrap. */
	struct rte_mempool *rx_plain_mp;
	uint32_t rx_buf_bytes;	    /* size of each receive buffer: a pool size class, >= 2 KiB */
	uint32_t want_mtu;	    /* dpdk.mtu, 0 = the port's own */
	struct rte_mempool *tx_mp;  /* header mbufs, an rte_mbuf_ext_shared_info in priv */
	struct demi__buf **rx_bufs; /* the pool buffers lent to rx_mp (one reference each) */
	uint32_t rx_nbufs;
	/* Received mbufs whose buffer the stack may still hold, oldest first (FIFO of capacity
	 * held_mask + 1 >= rx_nbufs, so it never overflows: each entry is an mbuf out of rx_mp). */
	struct rte_mbuf **held;
	uint32_t held_mask, held_head, held_tail;
	uint32_t scan_skip; /* bursts to wait before the next full scan (backoff) */
	/* What the stack learns of the receive buffers (link.h): lendable beyond the ring, and
	 * held: the FIFO's length after each burst (reclaimed late, so never under the truth). */
	struct nip_link_rxmem rxmem;

	/* Sleeping (nip_dpdk_wait). With receive interrupts: DPDK's epoll set (intr_epfd) holds
	 * the queue's interrupt fd, registered through ethdev so that DPDK clears the event the
	 * way the driver needs; ours (wait_epfd) holds intr_epfd and is waited on with a
	 * nanosecond timeout. -1 when the port has none. */
	bool rx_intr;	  /* dpdk.rx_interrupts */
	bool intr_toggle; /* the driver arms and disarms the interrupt (else it is always on) */
	int intr_epfd, wait_epfd;
	/* Frames found by the check after arming, handed out by the next rx_burst first. */
	struct rte_mbuf *stash[BURST];
	uint16_t stash_head, stash_len;
	/* Without interrupts: the next sleep (0: NAP_MIN_NS), doubling up to nap_max_ns, back to
	 * the start when frames move. */
	uint64_t nap_ns, nap_max_ns;

	/* Frames sent as their buffer's own mbuf (demi__buf.dev, see tx_own) that the PMD still
	 * held when rte_eth_tx_burst returned (a NIC frees on a later completion; the copying
	 * software PMDs never leave one): each keeps its buffer's reference until the mbuf's
	 * count is back to ours (tx_sweep), oldest first. */
	struct rte_mbuf **tx_pend; /* TX_PEND entries, apart: the struct's hot fields stay close */
	uint32_t tx_pend_head, tx_pend_tail;
	uint32_t instance;  /* names the slabs' mempools */
	uint32_t own_slabs; /* slabs with own mbufs, at most OWN_MBUF_SLABS */

	struct nip_dpdk_stats st;
	char rx_name[RTE_MEMPOOL_NAMESIZE], tx_name[RTE_MEMPOOL_NAMESIZE];
};

/* ---- EAL, once per process ---- */

static pthread_mutex_t eal_lock = PTHREAD_MUTEX_INITIALIZER;
static int eal_state; /* 0 never tried, 1 up, -errno failed (final) */
/* rte_eal_init permutes argv and may keep pointers into it: the copy lives for the process
 * (argv for rte_eal_init, then a NULL, then the strings themselves). */
static char **eal_argv;

static int eal_init_once(struct demi__config *cfg)
{
	char *const *items;
	size_t n;
	int rc;

	pthread_mutex_lock(&eal_lock);
	items = demi__config_get_list(cfg, "dpdk.eal_init", &n);
	if (eal_state == 1) {
		if (n)
			DEMI_INFO("dpdk: EAL already initialized in this process; dpdk.eal_init of "
				  "this instance is ignored");
		rc = 0;
		goto out;
	}
	if (eal_state < 0) {
		DEMI_ERR("dpdk: EAL initialization failed earlier in this process and cannot be "
			 "retried (%s)",
			 strerror(-eal_state));
		rc = eal_state;
		goto out;
	}
	if (!n || n > INT_MAX - 1) {
		DEMI_ERR("dpdk: dpdk.eal_init is missing (a list starting with argv[0], e.g. "
			 "[\"\", \"-l\", \"0\", \"--in-memory\", \"--vdev=net_tap0\"]; env "
			 "DPDK_EAL_INIT)");
		rc = -EINVAL; /* not final: a later call may bring a config */
		goto out;
	}
	/* Two arrays: rte_eal_init rewrites the one it gets (it stores argv[0] over an option),
	 * the other keeps every string reachable. */
	eal_argv = calloc(2 * (n + 1), sizeof(*eal_argv));
	if (!eal_argv) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(eal_argv[n + 1 + i] = strdup(items[i]))) {
			while (i-- > 0)
				free(eal_argv[n + 1 + i]);
			free(eal_argv);
			eal_argv = NULL;
			rc = -ENOMEM;
			goto out;
		}
		eal_argv[i] = eal_argv[n + 1 + i];
	}
	if (rte_eal_init((int)n, eal_argv) < 0) {
		rc = rte_errno > 0 ? -rte_errno : -EINVAL;
		DEMI_ERR("dpdk: rte_eal_init failed: %s (check dpdk.eal_init; DPDK's log above "
			 "names the argument)",
			 rte_strerror(-rc));
		eal_state = rc;
		goto out;
	}
	eal_state = 1;
	rc = 0;
out:
	pthread_mutex_unlock(&eal_lock);
	return rc;
}

/* The IO address of memory at p: its virtual address under IOVA as VA, else none known (a
 * driver that needs one cannot take it). */
static inline rte_iova_t va_iova(const struct nip_dpdk *d, const void *p)
{
	return d->iova_va ? (rte_iova_t)(uintptr_t)p : RTE_BAD_IOVA;
}

/* ---- every pool slab, through the pool's slab hook: registration and mbufs ---- */

static int slab_register(struct nip_dpdk *d, struct demi__slab *s)
{
	rte_iova_t iova = va_iova(d, s->mem);

	if (rte_extmem_register(s->mem, s->bytes, NULL, 0, d->page_size) < 0 &&
	    rte_errno != EEXIST) {
		int err = rte_errno;

		DEMI_ERR("dpdk: rte_extmem_register of a %zu-byte slab failed: %s%s", s->bytes,
			 rte_strerror(err),
			 err == ENOSPC ? " (out of memseg lists: set dpdk.register_memory false "
					 "for a software port)"
				       : "");
		return -err;
	}
	/* A software port has no DMA to map: its bus says ENOTSUP, which is fine. */
	if (d->rte_dev && iova != RTE_BAD_IOVA &&
	    rte_dev_dma_map(d->rte_dev, s->mem, iova, s->bytes) < 0 && rte_errno != ENOTSUP) {
		int err = rte_errno;

		DEMI_ERR("dpdk: rte_dev_dma_map of a %zu-byte slab failed: %s", s->bytes,
			 rte_strerror(err));
		rte_extmem_unregister(s->mem, s->bytes);
		return -err;
	}
	s->priv |= SLAB_REGISTERED;
	return 0;
}

static void slab_unregister(struct nip_dpdk *d, struct demi__slab *s)
{
	rte_iova_t iova = va_iova(d, s->mem);

	if (!(s->priv & SLAB_REGISTERED))
		return;
	if (d->rte_dev && iova != RTE_BAD_IOVA)
		rte_dev_dma_unmap(d->rte_dev, s->mem, iova, s->bytes);
	rte_extmem_unregister(s->mem, s->bytes);
	s->priv &= ~(uint64_t)SLAB_REGISTERED;
}

static inline struct demi__buf *mbuf_buf(struct rte_mbuf *m)
{
	return *(struct demi__buf **)rte_mbuf_to_priv(m);
}

/* Ties an mbuf and the pool buffer its pinned data room is, both ways: the mbuf's private
 * word names the buffer, the buffer's dev names the mbuf. */
static void mbuf_bind(struct rte_mempool *mp, void *arg, void *obj, unsigned int idx)
{
	struct nip_dpdk *d = arg;
	struct rte_mbuf *m = obj;
	struct demi__buf *b = demi__pool_lookup(d->pool, m->buf_addr);

	(void)mp;
	(void)idx;
	*(struct demi__buf **)rte_mbuf_to_priv(m) = b;
	b->dev = m;
}

static struct rte_mempool *slab_mp(const struct demi__slab *s)
{
	return (struct rte_mempool *)(uintptr_t)(s->priv & ~(uint64_t)SLAB_REGISTERED);
}

/*
 * Gives every buffer of a slab of the smallest class (2 KiB: frames, requests, replies) a
 * permanent mbuf whose pinned data room is the buffer (demi__buf.dev), so that sending it
 * needs no header mbuf (tx_own). The mempool is only their storage: none is ever allocated
 * or freed, each keeps the count 1 that is ours, and a send raises it for the PMD. Past
 * OWN_MBUF_SLABS, or without DPDK memory for them, the slab's frames go by header mbuf
 * (logged once).
 */
static void slab_mbufs_add(struct nip_dpdk *d, struct demi__slab *s)
{
	struct rte_pktmbuf_extmem ext = {
		.buf_ptr = s->mem,
		.buf_iova = va_iova(d, s->mem),
		.buf_len = (size_t)s->stride * s->nbufs,
		.elt_size = s->stride,
	};
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;
	static bool said_budget, said;

	if (s->cls != 0 || s->stride > UINT16_MAX)
		return;
	if (d->own_slabs >= OWN_MBUF_SLABS) {
		if (!said_budget)
			DEMI_INFO("dpdk: %u slabs have their own mbufs: the frames of later slabs "
				  "are sent through header mbufs",
				  OWN_MBUF_SLABS);
		said_budget = true;
		return;
	}
	snprintf(name, sizeof(name), "nip_s_%u_%u", d->instance, s->id);
	mp = rte_pktmbuf_pool_create_extbuf(name, s->nbufs, 0,
					    RTE_ALIGN(sizeof(void *), RTE_MBUF_PRIV_ALIGN),
					    (uint16_t)s->stride, SOCKET_ID_ANY, &ext, 1);
	if (!mp) {
		if (!said)
			DEMI_WARN("dpdk: no mbufs for a slab of %u buffers (%s): its frames are "
				  "sent through header mbufs",
				  s->nbufs, rte_strerror(rte_errno));
		said = true;
		return;
	}
	rte_mempool_obj_iter(mp, mbuf_bind, d);
	s->priv |= (uint64_t)(uintptr_t)mp;
	d->own_slabs++;
}

static void slab_mbufs_drop(struct nip_dpdk *d, struct demi__slab *s)
{
	struct rte_mempool *mp = slab_mp(s);

	if (!mp)
		return;
	for (uint32_t i = 0; i < s->nbufs; i++)
		s->bufs[i].dev = NULL;
	rte_mempool_free(mp);
	s->priv &= SLAB_REGISTERED;
	d->own_slabs--;
}

static int slab_hook(void *arg, struct demi__slab *s, bool added)
{
	struct nip_dpdk *d = arg;

	if (!added) {
		slab_mbufs_drop(d, s);
		slab_unregister(d, s);
		return 0;
	}
	if (d->register_memory) {
		int rc = slab_register(d, s);

		if (rc < 0)
			return rc;
	}
	slab_mbufs_add(d, s);
	return 0;
}

static void slabs_release(struct nip_dpdk *d)
{
	struct demi__pool *p = d->pool;

	if (p->hook != slab_hook || p->hook_arg != d)
		return;
	demi__pool_set_slab_hook(p, NULL, NULL);
	for (uint32_t id = 1; id < p->nslabs; id++)
		if (p->slabs[id])
			slab_hook(d, p->slabs[id], false);
}

/* Drops the buffer references of own-mbuf frames the PMD has freed since, oldest first. */
static void tx_sweep(struct nip_dpdk *d)
{
	while (d->tx_pend_head != d->tx_pend_tail) {
		struct rte_mbuf *m = d->tx_pend[d->tx_pend_head & (TX_PEND - 1)];

		if (rte_mbuf_refcnt_read(m) != 1)
			break;
		demi__buf_put(mbuf_buf(m));
		d->tx_pend_head++;
	}
}

/* ---- receive ---- */

/* A held receive mbuf back to its mempool without rte_pktmbuf_free (callgrind: a receive
 * burst 46 instructions cheaper, of rte_pktmbuf_free's 88). rte_mbuf_raw_free wants the mbuf
 * as rte_pktmbuf_prefree_seg would leave it, which holds here: one segment (rx_wrap keeps no
 * other), count 1 (a send's count is gone before the send's buffer reference: tx_sweep), a
 * pinned data room that is never detached and whose shared count stays 1; what is left is
 * prefree's one store for a pinned room, the flags back to the room's flag alone. */
static inline void rx_mbuf_free(struct rte_mbuf *m)
{
	m->ol_flags = RTE_MBUF_F_EXTERNAL;
	rte_mbuf_raw_free(m);
}

/* Gives back to the mempool every received mbuf, oldest first, whose buffer nobody but the
 * device references any more. When an old buffer stays held (a socket queue, the
 * application) and a quarter of the lendable buffers seem held, scans the whole FIFO and
 * compacts it, so that the count the stack reads (rxmem.held) is right before it can mean
 * pressure (tcp_mem.c: from half of them on by default). */
static void rx_reclaim(struct nip_dpdk *d)
{
	uint32_t held;

	/* A frame sent as its receive mbuf keeps its buffer's reference until the PMD lets go:
	 * only then may the mbuf go back to the ring. */
	if (d->tx_pend_head != d->tx_pend_tail)
		tx_sweep(d);
	while (d->held_head != d->held_tail) {
		struct rte_mbuf *m = d->held[d->held_head & d->held_mask];

		if (mbuf_buf(m)->refcnt != 1)
			break;
		rx_mbuf_free(m);
		d->held_head++;
	}
	held = d->held_tail - d->held_head;
	if (held <= d->rxmem.bufs / 4)
		return;
	/* Short of buffers, the stack copies what it receives and frees the device's buffers at
	 * once (tcp_mem.c): they must come back now, not after the backoff. */
	if (d->scan_skip && held < d->rxmem.bufs / 4 * 3) {
		d->scan_skip--;
		return;
	}
	d->st.rx_reclaim_scans++;
	uint32_t w = d->held_head, freed = 0;
	for (uint32_t r = d->held_head; r != d->held_tail; r++) {
		struct rte_mbuf *m = d->held[r & d->held_mask];

		if (mbuf_buf(m)->refcnt == 1) {
			rx_mbuf_free(m);
			freed++;
		} else {
			d->held[w++ & d->held_mask] = m;
		}
	}
	d->held_tail = w;
	/* Scanning a FIFO of buffers that all stay held would cost O(n) per burst: back off. */
	d->scan_skip = freed ? 0 : 64;
}

/* The frame's checksum status as the NIC reported it, in the stack's terms (link.h NIP_RXF_*);
 * what the NIC left unknown stays unmarked and the stack checks it. DPDK's "NONE" (the bytes in
 * the packet are not right but the NIC verified the data's integrity) counts as good. */
static uint64_t rx_flags(struct nip_dpdk *d, const struct rte_mbuf *m)
{
	uint64_t ip_st = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4_st = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	uint64_t f = 0;

	if (d->rx_check_ip) {
		if (ip_st == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip_st == RTE_MBUF_F_RX_IP_CKSUM_NONE)
			f |= NIP_RXF_IP4_CSUM_GOOD;
		else if (ip_st == RTE_MBUF_F_RX_IP_CKSUM_BAD)
			f |= NIP_RXF_IP4_CSUM_BAD;
	}
	if (d->rx_check_l4) {
		if (l4_st == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4_st == RTE_MBUF_F_RX_L4_CKSUM_NONE)
			f |= NIP_RXF_L4_CSUM_GOOD;
		else if (l4_st == RTE_MBUF_F_RX_L4_CKSUM_BAD)
			f |= NIP_RXF_L4_CSUM_BAD;
	}
	if (f & (NIP_RXF_IP4_CSUM_BAD | NIP_RXF_L4_CSUM_BAD))
		d->st.rx_csum_bad++;
	return f;
}

/* The rare path: a chained frame (or one from a foreign mempool) copied into a pool buffer. */
static struct demi__buf *rx_copy(struct nip_dpdk *d, struct rte_mbuf *m)
{
	struct demi__buf *b = demi__pool_get(d->pool, m->pkt_len);
	uint32_t off = 0;

	if (!b) {
		d->st.rx_nobuf++;
		rte_pktmbuf_free(m);
		return NULL;
	}
	for (struct rte_mbuf *s = m; s; s = s->next) {
		memcpy(demi__buf_data(b) + off, rte_pktmbuf_mtod(s, void *), s->data_len);
		off += s->data_len;
	}
	b->len = off;
	d->st.rx_copied++;
	rte_pktmbuf_free(m);
	return b;
}

static struct demi__buf *rx_wrap(struct nip_dpdk *d, struct rte_mbuf *m)
{
	uint64_t flags = rx_flags(d, m);
	struct demi__buf *b;

	if (m->nb_segs != 1 || m->pool != d->rx_mp) {
		b = rx_copy(d, m);
		if (b)
			b->priv = flags;
		return b;
	}
	b = mbuf_buf(m);
	b->off = (uint32_t)(rte_pktmbuf_mtod(m, uint8_t *) - b->base);
	b->len = m->data_len;
	b->next = NULL;
	b->priv = flags;
	b->app_owned = 0;
	/* A new life for the buffer, as demi__pool_get would give: a handle the application
	 * kept from the buffer's previous frame must not name this one. */
	b->gen++;
	demi__buf_ref(b); /* the stack's; the device keeps its own until reclaim */
	d->held[d->held_tail++ & d->held_mask] = m;
	return b;
}

static int dpdk_rx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_dpdk *d = dev;
	struct rte_mbuf *mbufs[BURST];
	/* What the last look at the ring found (nip_dpdk_rx_peek, a sleep's check), if any. */
	uint16_t stashed = d->stash_len ? (uint16_t)(d->stash_head + d->stash_len) : 0;
	int got = 0;

	rx_reclaim(d);
	while (got < n && d->stash_len) {
		struct demi__buf *b = rx_wrap(d, d->stash[d->stash_head++]);

		d->stash_len--;
		if (b) {
			d->st.rx_frames++;
			d->st.rx_bytes += b->len;
			bufs[got++] = b;
		}
	}
	/* A stash of less than a burst was all the ring held a moment ago (the pass that
	 * found it): another look now finds nothing nearly always, and costs an empty
	 * receive on the path of every answer (memif: 75-110 instructions by callgrind, and on
	 * the client's ring a store to the head the peer reads). The next pass looks again. A
	 * full stash (reached here only when rx_wrap dropped one of its frames) may have more
	 * behind it: the ring is read on. */
	while (got < n && (!stashed || stashed == BURST)) {
		uint16_t want = (uint16_t)(n - got < BURST ? n - got : BURST);
		uint16_t nb = rte_eth_rx_burst(d->port, 0, mbufs, want);

		for (uint16_t i = 0; i < nb; i++) {
			struct demi__buf *b = rx_wrap(d, mbufs[i]);

			if (b) {
				d->st.rx_frames++;
				d->st.rx_bytes += b->len;
				bufs[got++] = b;
			}
		}
		if (nb < want)
			break;
	}
	d->rxmem.held = d->held_tail - d->held_head;
	if (d->rxmem.held > d->st.rx_held_max)
		d->st.rx_held_max = d->rxmem.held;
	if (got)
		d->nap_ns = 0;
	return got;
}

/* ---- transmit ---- */

/* Runs when the PMD frees a sent frame's mbuf: the device's reference on the buffer goes. */
static void tx_ext_free(void *addr, void *opaque)
{
	(void)addr;
	demi__buf_put(opaque);
}

/* Offload flags for a frame, per the contract in dpdk_link.h. */
static void tx_offload(const struct nip_dpdk *d, struct rte_mbuf *m, const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + NIP_ETH_HLEN;
	uint32_t ihl;
	uint64_t ol = 0;

	if (!(d->tx_ol_ip | d->tx_ol_udp | d->tx_ol_tcp) || len < NIP_ETH_HLEN + 20 ||
	    f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4)
		return;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || len < NIP_ETH_HLEN + ihl)
		return;
	m->l2_len = NIP_ETH_HLEN;
	m->l3_len = ihl;
	ol = d->tx_ol_ip;
	if (!(ip[6] & 0x3f) && !ip[7]) { /* L4 header only in a first fragment */
		if (ip[9] == 17 && d->tx_ol_udp && len >= NIP_ETH_HLEN + ihl + 8) {
			ol |= d->tx_ol_udp;
			m->l4_len = 8;
		} else if (ip[9] == 6 && d->tx_ol_tcp && len >= NIP_ETH_HLEN + ihl + 20) {
			ol |= d->tx_ol_tcp;
			m->l4_len = (uint64_t)(ip[ihl + 12] >> 4) * 4;
		}
	}
	if (ol)
		ol |= RTE_MBUF_F_TX_IPV4;
	m->ol_flags |= ol;
}

static inline bool tx_len_ok(const struct nip_dpdk *d, const struct demi__buf *b)
{
	return b->len >= NIP_ETH_HLEN && b->len + nip_frame_ext_len(b) <= d->max_frame;
}

/* A chained frame's payload (link.h) as a second mbuf naming the range in place; its shared
 * info (in the mbuf's private area) drops the payload buffer's reference once sent. */
static void tx_attach_payload(struct nip_dpdk *d, struct rte_mbuf *m, struct rte_mbuf *p,
			      struct demi__buf *b)
{
	struct rte_mbuf_ext_shared_info *sh = rte_mbuf_to_priv(p);
	uint8_t *data = (uint8_t *)nip_frame_ext_data(b);
	uint32_t len = nip_frame_ext_len(b);

	sh->free_cb = tx_ext_free;
	sh->fcb_opaque = b->next;
	rte_mbuf_ext_refcnt_set(sh, 1);
	rte_pktmbuf_attach_extbuf(p, data, va_iova(d, data), (uint16_t)len, sh);
	p->data_len = (uint16_t)len;
	p->pkt_len = len;
	m->next = p;
	m->nb_segs = 2;
	m->pkt_len += len;
	/* The payload reference now belongs to p. */
	b->next = NULL;
	b->priv = 0;
}

/*
 * A frame as its buffer's own mbuf (demi__buf.dev: a received frame's receive mbuf, or the
 * permanent mbuf of a 2 KiB pool buffer), set up for transmit with its count raised for the
 * PMD, so that the PMD's free only drops that count. NULL, for the header-mbuf path, when the
 * buffer has none, the frame is chained, or the mbuf is in flight already (its count is not
 * ours alone: the same buffer earlier in this burst, or still on a NIC's ring), since one
 * mbuf describes one frame at a time. A receive mbuf is ours while the stack holds its buffer
 * (it waits in the held FIFO), a slab's always.
 */
static struct rte_mbuf *tx_own(struct nip_dpdk *d, struct demi__buf *b)
{
	struct rte_mbuf *m = b->dev;

	if (!m || b->next || rte_mbuf_refcnt_read(m) != 1)
		return NULL;
	rte_mbuf_refcnt_set(m, 2);
	m->data_off = (uint16_t)b->off;
	m->data_len = (uint16_t)b->len;
	m->pkt_len = b->len;
	/* What a receive left (checksum results, VLAN): not for the PMD's transmit. The pinned
	 * data room's flag stays, or a free would detach it. */
	m->ol_flags &= RTE_MBUF_F_EXTERNAL;
	m->packet_type = 0;
	m->tx_offload = 0;
	tx_offload(d, m, demi__buf_data(b), b->len);
	return m;
}

/* Sends bufs[0..k), all of acceptable length. Returns how many the PMD took; the rest stay
 * the caller's. */
static int tx_chunk(struct nip_dpdk *d, struct demi__buf **bufs, uint16_t k)
{
	struct rte_mbuf *mbufs[BURST], *hdrs[BURST], *pays[BURST];
	uint16_t sent, nhdr = 0, chained = 0;
	/* Room to keep every own-mbuf frame of this chunk in case the PMD holds them all. */
	bool own_ok = TX_PEND - (d->tx_pend_tail - d->tx_pend_head) >= k;
	uint32_t own = 0; /* bit i: frame i goes as its buffer's own mbuf */

	for (uint16_t i = 0; i < k; i++) {
		struct rte_mbuf *m = own_ok ? tx_own(d, bufs[i]) : NULL;

		if (m) {
			mbufs[i] = m;
			own |= 1u << i;
		} else {
			nhdr++;
			chained += bufs[i]->next != NULL;
		}
	}
	if (nhdr && rte_pktmbuf_alloc_bulk(d->tx_mp, hdrs, nhdr) != 0)
		goto nombuf;
	if (chained && rte_pktmbuf_alloc_bulk(d->tx_mp, pays, chained) != 0) {
		for (uint16_t i = 0; i < nhdr; i++)
			rte_pktmbuf_free(hdrs[i]);
		goto nombuf;
	}
	chained = 0;
	/* The frames that go by header mbuf, if any: all nhdr of them are found by then. */
	for (uint16_t i = 0, h = 0; h < nhdr; i++) {
		struct demi__buf *b = bufs[i];
		struct rte_mbuf_ext_shared_info *sh;
		uint8_t *data = demi__buf_data(b);
		struct rte_mbuf *m;

		if (own & (1u << i))
			continue;
		m = mbufs[i] = hdrs[h++];
		sh = rte_mbuf_to_priv(m);
		sh->free_cb = tx_ext_free;
		sh->fcb_opaque = b;
		rte_mbuf_ext_refcnt_set(sh, 1);
		rte_pktmbuf_attach_extbuf(m, data, va_iova(d, data), (uint16_t)b->len, sh);
		m->data_len = (uint16_t)b->len;
		m->pkt_len = b->len;
		tx_offload(d, m, data, b->len);
		if (b->next)
			tx_attach_payload(d, m, pays[chained++], b);
	}
	sent = rte_eth_tx_burst(d->port, 0, mbufs, k);
	d->st.tx_bursts += sent != 0;
	for (uint16_t i = 0; i < sent; i++) {
		d->st.tx_frames++;
		d->st.tx_bytes += mbufs[i]->pkt_len;
		if (!(own & (1u << i)))
			continue;
		/* The frame's buffer reference goes once the PMD's count on the mbuf has: at
		 * once for the copying PMDs (memif, tap, af_packet), else when swept. */
		d->st.tx_own_frames++;
		if (rte_mbuf_refcnt_read(mbufs[i]) == 1)
			demi__buf_put(bufs[i]);
		else
			d->tx_pend[d->tx_pend_tail++ & (TX_PEND - 1)] = mbufs[i];
	}
	/* Refused frames stay the caller's: freeing their mbufs runs the callbacks, which would
	 * drop the references the caller keeps, so give the caller its frame back whole first.
	 * An own mbuf just gets its count back. */
	for (uint16_t i = sent; i < k; i++) {
		struct rte_mbuf *p = mbufs[i]->next;

		if (own & (1u << i)) {
			rte_mbuf_refcnt_set(mbufs[i], 1);
			continue;
		}
		demi__buf_ref(bufs[i]);
		if (p) {
			struct rte_mbuf_ext_shared_info *sh = rte_mbuf_to_priv(p);
			struct demi__buf *pb = sh->fcb_opaque;

			demi__buf_ref(pb);
			nip_frame_attach(bufs[i], pb, rte_pktmbuf_mtod(p, uint8_t *), p->data_len);
		}
		rte_pktmbuf_free(mbufs[i]);
	}
	d->st.tx_full += (uint64_t)(k - sent);
	return sent;
nombuf:
	for (uint16_t i = 0; i < k; i++)
		if (own & (1u << i))
			rte_mbuf_refcnt_set(mbufs[i], 1);
	d->st.tx_nombuf += k;
	return 0;
}

static int dpdk_tx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_dpdk *d = dev;
	int taken = 0;

	if (d->tx_pend_head != d->tx_pend_tail)
		tx_sweep(d);
	while (taken < n) {
		uint16_t k = 0;
		int sent;

		/* A frame the port cannot carry is taken and dropped (counted), so a caller that
		 * retries what was not taken does not retry it forever. */
		if (!tx_len_ok(d, bufs[taken])) {
			d->st.tx_bad++;
			nip_frame_put(bufs[taken++]);
			continue;
		}
		while (k < BURST && taken + k < n && tx_len_ok(d, bufs[taken + k]))
			k++;
		sent = tx_chunk(d, bufs + taken, k);
		taken += sent;
		if (sent)
			d->nap_ns = 0; /* an answer is likely soon: short naps again */
		if (sent < k)
			break;
	}
	return taken;
}

static struct demi__buf *dpdk_alloc(void *dev, size_t size)
{
	struct nip_dpdk *d = dev;
	struct demi__buf *b = demi__pool_get(d->pool, size);

	if (!b)
		d->st.alloc_failed++;
	return b;
}

static const struct nip_link_ops dpdk_link_ops = {
	.rx_burst = dpdk_rx_burst,
	.tx_burst = dpdk_tx_burst,
	.alloc = dpdk_alloc,
};

/* ---- sleeping ---- */

static struct timespec ns_to_ts(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
				 .tv_nsec = (long)(ns % 1000000000ull)};
}

/* Sleeps on the receive interrupt. The usual race: a frame that arrived after the last poll
 * but before the interrupt was armed raises no event (or raised one we discard here as
 * stale), so the ring is read once more after arming; what that finds waits in the stash for
 * the next rx_burst and the wait ends at once. A frame arriving after that read raises the
 * interrupt. */
static int intr_wait(struct nip_dpdk *d, uint64_t timeout_ns)
{
	struct rte_epoll_event stale[4];
	struct epoll_event ev;
	struct timespec ts;
	uint16_t nb;
	int n;

	/* DPDK's own wait consumes events and clears them as the driver needs (an eventfd is
	 * read; net_tap's queue fd is the data itself and is left alone). */
	while (rte_epoll_wait(d->intr_epfd, stale, 4, 0) == 4)
		;
	if (d->intr_toggle)
		rte_eth_dev_rx_intr_enable(d->port, 0);
	nb = rte_eth_rx_burst(d->port, 0, d->stash, BURST);
	if (nb) {
		d->stash_head = 0;
		d->stash_len = nb;
		d->st.sleep_races++;
		n = nb;
		goto out;
	}
	ts = ns_to_ts(timeout_ns);
	d->st.sleeps++;
	n = epoll_pwait2(d->wait_epfd, &ev, 1, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
	if (n < 0)
		n = errno == EINTR ? 0 : -errno;
	else if (n > 0)
		d->st.sleep_wakeups++;
out:
	if (d->intr_toggle)
		rte_eth_dev_rx_intr_disable(d->port, 0);
	return n;
}

/* Without interrupts: a short sleep, twice as long as the last one, up to nap_max_ns. An idle
 * port then costs one poll per nap_max_ns; a frame waits at most that long. */
static int nap(struct nip_dpdk *d, uint64_t timeout_ns)
{
	uint64_t ns = d->nap_ns ? d->nap_ns : NAP_MIN_NS;
	struct timespec ts;

	d->nap_ns = 2 * ns < d->nap_max_ns ? 2 * ns : d->nap_max_ns;
	if (ns > timeout_ns)
		ns = timeout_ns;
	ts = ns_to_ts(ns);
	d->st.naps++;
	nanosleep(&ts, NULL);
	return 0;
}

int nip_dpdk_rx_peek(struct nip_dpdk *d)
{
	if (!d->stash_len) {
		d->stash_head = 0;
		d->stash_len = rte_eth_rx_burst(d->port, 0, d->stash, BURST);
	}
	return d->stash_len;
}

int nip_dpdk_wait(struct nip_dpdk *d, uint64_t timeout_ns)
{
	if (d->stash_len)
		return d->stash_len;
	if (!timeout_ns)
		return 0;
	if (d->wait_epfd >= 0)
		return intr_wait(d, timeout_ns);
	return nap(d, timeout_ns);
}

static void intr_close(struct nip_dpdk *d)
{
	if (d->wait_epfd >= 0)
		close(d->wait_epfd);
	if (d->intr_epfd >= 0)
		close(d->intr_epfd);
	d->wait_epfd = d->intr_epfd = -1;
}

/* Registers the receive queue's interrupt, when the port has one (net_tap; net_memif and
 * net_af_packet have none in DPDK 22.11), for nip_dpdk_wait. Without, waits nap. */
static void intr_setup(struct nip_dpdk *d)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int rc = -ENOTSUP;

	if (!d->rx_intr || rte_eth_dev_rx_intr_ctl_q_get_fd(d->port, 0) < 0)
		goto none;
	d->intr_epfd = epoll_create1(EPOLL_CLOEXEC);
	d->wait_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->intr_epfd < 0 || d->wait_epfd < 0)
		goto none;
	rc = rte_eth_dev_rx_intr_ctl_q(d->port, 0, d->intr_epfd, RTE_INTR_EVENT_ADD, NULL);
	if (rc < 0)
		goto none;
	ev.data.fd = d->intr_epfd;
	if (epoll_ctl(d->wait_epfd, EPOLL_CTL_ADD, d->intr_epfd, &ev) < 0) {
		rc = -errno;
		goto unregister;
	}
	/* Drivers that mask the interrupt while polling (NICs) arm it for each sleep; net_tap's
	 * "interrupt" is its queue fd, always readable while frames wait (ENOTSUP). */
	rc = rte_eth_dev_rx_intr_enable(d->port, 0);
	if (rc < 0 && rc != -ENOTSUP)
		goto unregister;
	d->intr_toggle = rc == 0;
	if (d->intr_toggle)
		rte_eth_dev_rx_intr_disable(d->port, 0);
	DEMI_INFO("dpdk: port %u: idle waits sleep on the receive interrupt", d->port);
	return;
unregister:
	rte_eth_dev_rx_intr_ctl_q(d->port, 0, d->intr_epfd, RTE_INTR_EVENT_DEL, NULL);
none:
	intr_close(d);
	DEMI_INFO("dpdk: port %u: no receive interrupt (%s): idle waits sleep in steps of up to "
		  "%" PRIu64 " us",
		  d->port,
		  d->rx_intr ? rte_strerror(rc < 0 ? -rc : ENOTSUP) : "dpdk.rx_interrupts off",
		  d->nap_max_ns / 1000);
}

/* ---- setup ---- */

static int port_check(uint16_t port)
{
	char names[512] = "";
	size_t used = 0;
	uint16_t p;

	if (rte_eth_dev_is_valid_port(port))
		return 0;
	RTE_ETH_FOREACH_DEV(p)
	{
		char name[RTE_ETH_NAME_MAX_LEN];

		if (rte_eth_dev_get_name_by_port(p, name) != 0)
			snprintf(name, sizeof(name), "?");
		if (used < sizeof(names))
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%u (%s)",
						 used ? ", " : "", p, name);
	}
	DEMI_ERR("dpdk: dpdk.port_id %u does not exist; available ports: %s", port,
		 used ? names : "none (add a --vdev=... or allow a PCI device in dpdk.eal_init)");
	return -ENODEV;
}

/* Setup only (the link's wait for a port): the data path reads the runtime's clock. */
static uint64_t now_ms(void)
{
	return demi__clock_monotonic_ns() / 1000000;
}

/*
 * A memif client connects once, in dev_start: if the server is not listening yet, or has not
 * started its own port (it then answers "ID not found" and hangs up), the client never tries
 * again. Starting the port again is what makes it reconnect, so a memif client is restarted
 * every MEMIF_RETRY_MS until the link comes up or the timeout passes. Other drivers are
 * left alone: restarting a NIC would restart its autonegotiation and delay the link.
 */
#define MEMIF_RETRY_MS 200

static int port_start(struct nip_dpdk *d, uint64_t deadline)
{
	for (;;) {
		int rc = rte_eth_dev_start(d->port);

		if (rc == 0) {
			d->started = true;
			return 0;
		}
		if (!d->is_memif || now_ms() >= deadline) {
			DEMI_ERR("dpdk: port %u: rte_eth_dev_start: %s%s", d->port,
				 rte_strerror(-rc),
				 d->is_memif ? " (is the memif server up?)" : "");
			return rc;
		}
		usleep(MEMIF_RETRY_MS * 1000);
	}
}

static int link_wait(struct nip_dpdk *d, uint64_t timeout_ms)
{
	uint64_t start = now_ms(), deadline = start + timeout_ms, retry = start + MEMIF_RETRY_MS;

	for (;;) {
		struct rte_eth_link l;
		uint64_t t;
		int rc;

		memset(&l, 0, sizeof(l));
		rc = rte_eth_link_get_nowait(d->port, &l);
		if (rc == -ENOTSUP)
			return 0; /* a software port with no link state: it is up */
		if (rc == 0 && l.link_status == RTE_ETH_LINK_UP) {
			DEMI_INFO("dpdk: port %u link up (%u Mbps) after %" PRIu64 " ms", d->port,
				  l.link_speed, now_ms() - start);
			return 0;
		}
		t = now_ms();
		if (t >= deadline) {
			DEMI_ERR("dpdk: port %u: no link after %" PRIu64
				 " ms (dpdk.link_timeout_ms)%s",
				 d->port, timeout_ms,
				 rc < 0	       ? ": link state unreadable"
				 : d->is_memif ? ": no memif peer connected"
					       : "");
			return -ETIMEDOUT;
		}
		if (d->is_memif && t >= retry) {
			retry = t + MEMIF_RETRY_MS;
			rc = rte_eth_dev_stop(d->port);
			d->started = false;
			if (rc == 0 && (rc = port_start(d, deadline)) < 0)
				return rc;
			continue;
		}
		usleep(10000);
	}
}

/*
 * net_af_xdp builds its UMEM (the memory the kernel writes frames into, and the PMD copies
 * sent frames into) from the receive queue's mempool, which it requires to be one area of
 * whole mbufs: the external data rooms of rx_mp are refused ("Failed to create umem"). Such a
 * port receives into a plain mempool and every frame is copied into a pool buffer (rx_copy:
 * cheap where, as for a bulk sender, what arrives is mostly ACKs).
 */
static bool rx_needs_plain_pool(const char *driver)
{
	return driver && !strcmp(driver, "net_af_xdp");
}

static int rx_plain_pool_create(struct nip_dpdk *d, int socket)
{
	d->rx_plain_mp = rte_pktmbuf_pool_create(d->rx_name, d->rx_nbufs, MEMPOOL_CACHE, 0,
						 RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!d->rx_plain_mp) {
		DEMI_ERR("dpdk: receive mempool of %u mbufs: %s", d->rx_nbufs,
			 rte_strerror(rte_errno));
		return -rte_errno;
	}
	DEMI_INFO("dpdk: port %u (%s): received frames are copied (no external receive buffers)",
		  d->port, rte_dev_name(d->rte_dev));
	return 0;
}

/* Lends rx_nbufs pool buffers to a mempool of mbufs that use them as pinned data rooms. */
/* A slab whose every buffer is lent to the receive side needs no mbufs of its own (each
 * buffer's is its receive mbuf): its mempool goes, and with it its place in OWN_MBUF_SLABS,
 * which is meant for the buffers that are sent. A slab only partly lent keeps them.
 * rx_bufs holds a slab's buffers side by side when they came from it in one run (a fresh
 * slab); a slab met in pieces is left alone. */
static void rx_slabs_unown(struct nip_dpdk *d)
{
	for (uint32_t i = 0; i < d->rx_nbufs;) {
		struct demi__slab *s = d->rx_bufs[i]->slab;
		uint32_t n = 0;

		for (; i < d->rx_nbufs && d->rx_bufs[i]->slab == s; i++)
			n++;
		if (n == s->nbufs)
			slab_mbufs_drop(d, s);
	}
}

static int rx_pool_create(struct nip_dpdk *d, int socket)
{
	struct rte_pktmbuf_extmem *ext;
	int rc = 0;

	d->rx_bufs = calloc(d->rx_nbufs, sizeof(*d->rx_bufs));
	ext = calloc(d->rx_nbufs, sizeof(*ext));
	if (!d->rx_bufs || !ext) {
		free(ext);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < d->rx_nbufs; i++) {
		struct demi__buf *b = demi__pool_get(d->pool, d->rx_buf_bytes - DEMI__BUF_HEADROOM);

		if (!b) {
			DEMI_ERR("dpdk: no pool buffer for receive buffer %u of %u (pool limit?)",
				 i, d->rx_nbufs);
			rc = -ENOMEM;
			goto out;
		}
		d->rx_bufs[i] = b;
		if (b->cap != d->rx_buf_bytes) {
			DEMI_ERR("dpdk: receive buffer of %u bytes, expected %u", b->cap,
				 d->rx_buf_bytes);
			rc = -EINVAL;
			goto out;
		}
		ext[i].buf_ptr = b->base;
		ext[i].buf_iova = va_iova(d, b->base);
		ext[i].buf_len = d->rx_buf_bytes;
		ext[i].elt_size = d->rx_buf_bytes;
	}
	d->rx_mp = rte_pktmbuf_pool_create_extbuf(d->rx_name, d->rx_nbufs, MEMPOOL_CACHE,
						  RTE_ALIGN(sizeof(void *), RTE_MBUF_PRIV_ALIGN),
						  d->rx_buf_bytes, socket, ext, d->rx_nbufs);
	if (!d->rx_mp) {
		rc = -rte_errno;
		DEMI_ERR("dpdk: receive mempool of %u external buffers: %s", d->rx_nbufs,
			 rte_strerror(rte_errno));
		goto out;
	}
	rx_slabs_unown(d);
	/* A receive buffer's own mbuf is its receive mbuf (it replaces the slab's). */
	rte_mempool_obj_iter(d->rx_mp, mbuf_bind, d);
out:
	free(ext);
	return rc;
}

/*
 * memif and dpdk.mtu. The memif protocol carries frames of any length (a frame longer than
 * one shared buffer spans several descriptors), but DPDK's driver reports Ethernet's
 * 1518 bytes as its longest frame, so ethdev would refuse a larger MTU. For memif the MTU
 * is therefore ours alone: both ends must be given the same dpdk.mtu, as with any link.
 * A frame stays zero-copy only if it fits one shared buffer (the vdev's bsize, 2048 by
 * default) and arrives as one mbuf; a longer one would arrive chained and be copied, so
 * that configuration is refused rather than left slow.
 */
static int memif_jumbo_check(struct nip_dpdk *d, const char *args)
{
	const char *p = args ? strstr(args, "bsize=") : NULL;
	unsigned long bsize = p ? strtoul(p + 6, NULL, 0) : 2048;
	uint32_t frame = d->want_mtu + NIP_ETH_HLEN + 4;

	if (bsize < frame) {
		DEMI_ERR("dpdk: memif port %u: dpdk.mtu %u needs bsize=%u or more in the vdev "
			 "arguments (it has %lu)",
			 d->port, d->want_mtu, frame, bsize);
		return -EINVAL;
	}
	return 0;
}

static int port_setup(struct nip_dpdk *d, struct demi__config *cfg)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct rte_ether_addr mac;
	uint16_t nb_rxd = NB_RXD, nb_txd = NB_TXD, mtu = 1500;
	uint64_t rx_want, tx_want, timeout;
	const char *memif_args = NULL;
	bool memif = false;
	int socket, rc;

	rc = rte_eth_dev_info_get(d->port, &info);
	if (rc != 0) {
		DEMI_ERR("dpdk: port %u: rte_eth_dev_info_get: %s", d->port, rte_strerror(-rc));
		return rc;
	}
	d->rte_dev = info.device;
	if (info.driver_name && !strcmp(info.driver_name, "net_memif")) {
		const struct rte_devargs *da = rte_dev_devargs(info.device);

		memif = true;
		memif_args = da ? da->args : NULL;
		/* The server only listens: restarting it would cut a handshake short. */
		d->is_memif = !(memif_args && strstr(memif_args, "role=server"));
	}
	socket = rte_eth_dev_socket_id(d->port);
	if (socket < 0)
		socket = SOCKET_ID_ANY;

	rx_want = info.rx_offload_capa &
		  (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
		   RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
	tx_want = info.tx_offload_capa &
		  (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
		   RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.offloads = rx_want;
	/* Frames chained to their payload (zero-copy TCP) need multi-segment transmit. */
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads = tx_want | RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	else
		conf.txmode.offloads = tx_want;
	if (d->want_mtu) {
		/* A frame must fit one receive buffer (after DPDK's headroom) to stay zero-copy. */
		if (d->want_mtu + NIP_ETH_HLEN + 4 + RTE_PKTMBUF_HEADROOM > d->rx_buf_bytes) {
			DEMI_ERR("dpdk: dpdk.mtu %u needs dpdk.rx_buf_bytes of at least %u",
				 d->want_mtu,
				 d->want_mtu + NIP_ETH_HLEN + 4 + RTE_PKTMBUF_HEADROOM);
			return -EINVAL;
		}
		if (memif) {
			rc = memif_jumbo_check(d, memif_args);
			if (rc < 0)
				return rc;
		} else if (d->want_mtu < info.min_mtu || d->want_mtu > info.max_mtu) {
			DEMI_ERR("dpdk: port %u: dpdk.mtu %u is outside %u..%u", d->port,
				 d->want_mtu, info.min_mtu, info.max_mtu);
			return -EINVAL;
		} else {
			/* Set through the configuration: virtual ports have no MTU call. */
			conf.rxmode.mtu = d->want_mtu;
		}
	}
	/* Receive interrupts let an idle wait sleep (nip_dpdk_wait); a driver that refuses
	 * them is configured without, and idle waits nap instead. */
	conf.intr_conf.rxq = d->rx_intr;
	rc = rte_eth_dev_configure(d->port, 1, 1, &conf);
	if (rc < 0 && conf.intr_conf.rxq) {
		DEMI_INFO("dpdk: port %u refuses receive interrupts (%s): configured without",
			  d->port, rte_strerror(-rc));
		conf.intr_conf.rxq = 0;
		d->rx_intr = false;
		rc = rte_eth_dev_configure(d->port, 1, 1, &conf);
	}
	if (rc < 0) {
		DEMI_ERR("dpdk: port %u: rte_eth_dev_configure: %s", d->port, rte_strerror(-rc));
		return rc;
	}
	d->configured = true;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(d->port, &nb_rxd, &nb_txd);
	if (rc < 0) {
		DEMI_ERR("dpdk: port %u: descriptor counts: %s", d->port, rte_strerror(-rc));
		return rc;
	}
	if (d->rx_nbufs < 2u * nb_rxd + BURST) {
		DEMI_ERR("dpdk: dpdk.rx_bufs %u is too small for %u receive descriptors (need %u)",
			 d->rx_nbufs, nb_rxd, 2u * nb_rxd + BURST);
		return -EINVAL;
	}
	if (rx_needs_plain_pool(info.driver_name))
		rc = rx_plain_pool_create(d, socket);
	else
		rc = rx_pool_create(d, socket);
	if (rc < 0)
		return rc;
	/* The ring keeps nb_rxd buffers posted and a burst being refilled: the rest is what the
	 * stack and the application may hold before the device stops receiving. */
	d->rxmem.bufs = d->rx_nbufs - nb_rxd - BURST;
	d->link.rxmem = &d->rxmem;
	d->tx_mp = rte_pktmbuf_pool_create(
		d->tx_name, TX_HDRS, MEMPOOL_CACHE,
		RTE_ALIGN(sizeof(struct rte_mbuf_ext_shared_info), RTE_MBUF_PRIV_ALIGN), 0, socket);
	if (!d->tx_mp) {
		DEMI_ERR("dpdk: transmit header mempool: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	rc = rte_eth_rx_queue_setup(d->port, 0, nb_rxd, (unsigned)socket, NULL,
				    d->rx_plain_mp ? d->rx_plain_mp : d->rx_mp);
	if (rc < 0) {
		DEMI_ERR("dpdk: port %u: RX queue: %s", d->port, rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_tx_queue_setup(d->port, 0, nb_txd, (unsigned)socket, NULL);
	if (rc < 0) {
		DEMI_ERR("dpdk: port %u: TX queue: %s", d->port, rte_strerror(-rc));
		return rc;
	}
	rc = demi__config_get_u64(cfg, "dpdk.link_timeout_ms", 5000, 0, 3600000, &timeout);
	if (rc < 0)
		return rc;
	rc = port_start(d, now_ms() + timeout);
	if (rc < 0)
		return rc;
	rc = link_wait(d, timeout);
	if (rc < 0)
		return rc;
	intr_setup(d);

	rc = rte_eth_macaddr_get(d->port, &mac);
	if (rc < 0) {
		DEMI_ERR("dpdk: port %u: MAC address: %s", d->port, rte_strerror(-rc));
		return rc;
	}
	memcpy(d->link.mac, mac.addr_bytes, NIP_ETH_ALEN);
	if (memif && d->want_mtu)
		mtu = (uint16_t)d->want_mtu; /* checked by memif_jumbo_check */
	else if (rte_eth_dev_get_mtu(d->port, &mtu) < 0)
		mtu = 1500; /* the port does not say: Ethernet's */
	/* A frame must fit one receive buffer after DPDK's headroom to stay zero-copy; longer
	 * ones would arrive chained and be copied, so advertise no more. */
	if (mtu > d->rx_buf_bytes - RTE_PKTMBUF_HEADROOM - NIP_ETH_HLEN - 4)
		mtu = (uint16_t)(d->rx_buf_bytes - RTE_PKTMBUF_HEADROOM - NIP_ETH_HLEN - 4);
	d->link.mtu = mtu;
	d->max_frame = (uint32_t)mtu + NIP_ETH_HLEN + 4;

	d->tx_ol_ip = (tx_want & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) ? RTE_MBUF_F_TX_IP_CKSUM : 0;
	d->tx_ol_udp = (tx_want & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) ? RTE_MBUF_F_TX_UDP_CKSUM : 0;
	d->tx_ol_tcp = (tx_want & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) ? RTE_MBUF_F_TX_TCP_CKSUM : 0;
	d->rx_check_ip = rx_want & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	/* A frame of a protocol the port does not check arrives marked unknown. */
	d->rx_check_l4 = rx_want & (RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
	d->link.offloads =
		((conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) ? NIP_OFF_TX_CHAIN : 0) |
		(d->tx_ol_ip ? NIP_OFF_IPV4_CSUM_TX : 0) |
		(d->tx_ol_udp ? NIP_OFF_UDP_CSUM_TX : 0) | (d->tx_ol_tcp ? NIP_OFF_TCP_CSUM_TX : 0);
	DEMI_INFO("dpdk: port %u (%s): MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %u, offloads 0x%x, "
		  "%u rx / %u tx descriptors, %u receive buffers",
		  d->port, info.driver_name, mac.addr_bytes[0], mac.addr_bytes[1],
		  mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5], mtu,
		  d->link.offloads, nb_rxd, nb_txd, d->rx_nbufs);
	return 0;
}

int nip_dpdk_init(struct nip_dpdk **out, struct demi__config *cfg, struct demi__pool *pool)
{
	static uint32_t instance; /* mempool names are global to the process */
	struct nip_dpdk *d;
	uint64_t port, nbufs, buf_bytes, mtu, nap_max_us;
	bool reg, rx_intr;
	int rc;

	*out = NULL;
	rc = demi__config_get_u64(cfg, "dpdk.port_id", 0, 0, RTE_MAX_ETHPORTS - 1, &port);
	if (rc == 0)
		rc = demi__config_get_u64(cfg, "dpdk.rx_bufs", 4096, 2 * BURST, 1u << 20, &nbufs);
	if (rc == 0)
		rc = demi__config_get_bool(cfg, "dpdk.register_memory", false, &reg);
	/* Some drivers want more than 2 KiB of data room (net_af_packet: its frame size). */
	if (rc == 0)
		rc = demi__config_get_u64(cfg, "dpdk.rx_buf_bytes", 2048, 2048, 65536, &buf_bytes);
	if (rc == 0)
		rc = demi__config_get_u64(cfg, "dpdk.mtu", 0, 0, 65000, &mtu);
	if (rc == 0)
		rc = demi__config_get_bool(cfg, "dpdk.rx_interrupts", true, &rx_intr);
	/* Without interrupts, the longest nap bounds how late an idle port sees a frame; each
	 * nap costs a wake-up and a poll (about 1% of a core per instance at 1 ms here). */
	if (rc == 0)
		rc = demi__config_get_u64(cfg, "dpdk.idle_sleep_max_us", 1000, 1, 1000000,
					  &nap_max_us);
	if (rc == 0 && mtu && mtu < 576) {
		DEMI_ERR("dpdk: dpdk.mtu must be at least 576 (or 0: the port's own)");
		rc = -EINVAL;
	}
	if (rc == 0 && (buf_bytes & (buf_bytes - 1))) {
		DEMI_ERR("dpdk: dpdk.rx_buf_bytes must be a power of two (2048 ... 65536)");
		rc = -EINVAL;
	}
	if (rc < 0)
		return rc;
	rc = eal_init_once(cfg);
	if (rc < 0)
		return rc;
	rc = port_check((uint16_t)port);
	if (rc < 0)
		return rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->port = (uint16_t)port;
	d->pool = pool;
	d->rx_nbufs = (uint32_t)nbufs;
	d->rx_buf_bytes = (uint32_t)buf_bytes;
	d->want_mtu = (uint32_t)mtu;
	d->register_memory = reg;
	d->rx_intr = rx_intr;
	d->intr_epfd = d->wait_epfd = -1;
	d->nap_max_ns = nap_max_us * 1000;
	d->iova_va = rte_eal_iova_mode() == RTE_IOVA_VA;
	d->page_size = (size_t)sysconf(_SC_PAGESIZE);
	d->link.ops = &dpdk_link_ops;
	d->link.dev = d;
	pthread_mutex_lock(&eal_lock);
	d->instance = ++instance;
	snprintf(d->rx_name, sizeof(d->rx_name), "nip_rx_%u_%u", d->port, instance);
	snprintf(d->tx_name, sizeof(d->tx_name), "nip_tx_%u_%u", d->port, instance);
	pthread_mutex_unlock(&eal_lock);

	uint32_t cap = 1;
	while (cap < d->rx_nbufs)
		cap <<= 1;
	d->held = calloc(cap, sizeof(*d->held));
	d->held_mask = cap - 1;
	d->tx_pend = calloc(TX_PEND, sizeof(*d->tx_pend));
	if (!d->held || !d->tx_pend) {
		rc = -ENOMEM;
		goto fail;
	}
	if (reg) {
		/* Also needs the device for DMA mapping: known once the port is looked up. */
		struct rte_eth_dev_info info;

		if (rte_eth_dev_info_get(d->port, &info) == 0)
			d->rte_dev = info.device;
	}
	/* Registration (dpdk.register_memory) and the 2 KiB buffers' own mbufs. */
	rc = demi__pool_set_slab_hook(pool, slab_hook, d);
	if (rc < 0)
		goto fail;
	rc = port_setup(d, cfg);
	if (rc < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	nip_dpdk_fini(d);
	return rc;
}

void nip_dpdk_fini(struct nip_dpdk *d)
{
	uint32_t kept = 0;

	if (!d)
		return;
	if (d->wait_epfd >= 0) {
		rte_eth_dev_rx_intr_ctl_q(d->port, 0, d->intr_epfd, RTE_INTR_EVENT_DEL, NULL);
		intr_close(d);
	}
	for (; d->stash_len; d->stash_len--)
		rte_pktmbuf_free(d->stash[d->stash_head++]);
	if (d->started) {
		int rc = rte_eth_dev_stop(d->port);

		if (rc < 0)
			DEMI_WARN("dpdk: port %u: stop: %s", d->port, rte_strerror(-rc));
	}
	/* Close releases the queues, and with them every mbuf the PMD still holds (the TX ones
	 * drop their buffers' references): only then may the mempools and buffers go. */
	if (d->configured)
		rte_eth_dev_close(d->port);
	/* A NIC's close frees what it held, so each pending frame's count is back to ours; a
	 * PMD that keeps its mbufs past close (net_ring: in its ring, for whoever reads it next)
	 * keeps a stale descriptor: that frame's buffer stays out of the pool, reported, so it is
	 * never reused while the descriptor may point at it. The mbuf header itself goes with
	 * its slab's mempool below: whoever reads that ring after fini reads freed memory. */
	for (; d->tx_pend_head != d->tx_pend_tail; d->tx_pend_head++) {
		struct rte_mbuf *m = d->tx_pend[d->tx_pend_head & (TX_PEND - 1)];

		if (rte_mbuf_refcnt_read(m) == 1)
			demi__buf_put(mbuf_buf(m));
		else
			kept++;
	}
	if (kept)
		DEMI_WARN("dpdk: port %u: the driver still holds %u sent frames after close: "
			  "their buffers stay in use",
			  d->port, kept);
	/* Buffers still held by the stack or the application stay valid pool memory: only
	 * their mbufs go. */
	rte_mempool_free(d->rx_mp);
	rte_mempool_free(d->rx_plain_mp);
	rte_mempool_free(d->tx_mp);
	for (uint32_t i = 0; d->rx_bufs && i < d->rx_nbufs; i++) {
		if (d->rx_bufs[i]) {
			d->rx_bufs[i]->dev = NULL; /* its mbuf is gone */
			demi__buf_put(d->rx_bufs[i]);
		}
	}
	slabs_release(d);
	free(d->rx_bufs);
	free(d->held);
	free(d->tx_pend);
	free(d);
}

struct nip_link *nip_dpdk_link(struct nip_dpdk *d)
{
	return &d->link;
}

uint16_t nip_dpdk_port(const struct nip_dpdk *d)
{
	return d->port;
}

uint64_t nip_dpdk_bufs_cached(struct nip_dpdk *d)
{
	uint64_t held = 0;

	for (uint32_t r = d->held_head; r != d->held_tail; r++)
		if (mbuf_buf(d->held[r & d->held_mask])->refcnt > 1)
			held++;
	return d->rx_nbufs - held;
}

void nip_dpdk_stats(struct nip_dpdk *d, struct nip_dpdk_stats *out)
{
	struct rte_eth_stats es;

	*out = d->st;
	out->rx_held = d->rx_nbufs - nip_dpdk_bufs_cached(d);
	out->rx_lendable = d->rxmem.bufs;
	if (rte_eth_stats_get(d->port, &es) == 0) {
		out->port_ipackets = es.ipackets;
		out->port_opackets = es.opackets;
		out->port_imissed = es.imissed;
		out->port_ierrors = es.ierrors;
		out->port_oerrors = es.oerrors;
		out->port_rx_nombuf = es.rx_nombuf;
	}
}
