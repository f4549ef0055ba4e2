/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device's setup errors and buffer accounting, in one process over net_null (frames
 * appear and vanish at once), net_ring (sent frames wait in a ring for the receive side) and a
 * net_memif server nobody connects to:
 *   - no dpdk.eal_init: -EINVAL, and the EAL may still be initialized later;
 *   - a port that does not exist: -ENODEV;
 *   - no link (memif server without a client): -ETIMEDOUT after dpdk.link_timeout_ms;
 *   - a PMD that keeps sent mbufs (net_ring): their buffers stay in use until it lets go,
 *     a receive mbuf sent back stays in the held FIFO while the PMD has it, and fini gives
 *     back all but what the PMD still holds after close; past 64 slabs a slab's buffers
 *     have no own mbufs and go out through header mbufs;
 *   - a second instance reuses the EAL; with dpdk.register_memory every pool slab is
 *     registered while the device lives and unregistered after;
 *   - tx: a reference kept across a send survives it; runt and oversized frames are taken and
 *     counted; rx: buffers held by the caller are not reused, released ones are reclaimed;
 *     no pool buffer is left in use after nip_dpdk_fini; a closed port is gone (-ENODEV).
 * Needs no root (--no-huge unless hugepages are free).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dev/dpdk_link.h"
#include "dpdk_test.h"
#include "log.h"

#define MANY 200000u /* buffers enough for 66 slabs of 2 KiB buffers and more */

static char sock_path[108];

static int load(struct demi__config *cfg, const char *yaml)
{
	demi__config_fini(cfg);
	memset(cfg, 0, sizeof(*cfg));
	return demi__config_load_string(cfg, yaml, "test");
}

int main(void)
{
	struct demi__config cfg = {0};
	struct demi__pool pool;
	struct nip_dpdk *d = NULL;
	struct nip_dpdk_stats st;
	struct nip_link *l;
	char yaml[1024];
	static struct demi__buf *held[600];
	uint64_t t0, ms, base, kept = 0;
	unsigned nheld = 0, slabs = 0, registered = 0;
	int rc, got = 0, ret = T_FAIL;
	struct demi__buf **many = NULL, *bare = NULL;
	unsigned nmany = 0, own_slabs = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	demi__log_init();
	snprintf(sock_path, sizeof(sock_path), "/tmp/nip-memif-err-%d.sock", (int)getpid());
	CHECK(demi__pool_init(&pool, 0) == 0, "pool");

	/* No EAL arguments. */
	CHECK(t_config(&cfg, 0, "net_null0", 300) == 0, "config");
	CHECK(load(&cfg, "dpdk:\n  port_id: 0\n") == 0, "config");
	rc = nip_dpdk_init(&d, &cfg, &pool);
	CHECK(rc == -EINVAL && !d, "no eal_init: %d", rc);

	/* A port that does not exist (the EAL comes up here, once for the process). */
	snprintf(
		yaml, sizeof(yaml),
		"dpdk:\n"
		"  eal_init: [\"nip_test\", \"-l\", \"0\", \"--no-pci\", \"--no-telemetry\", %s,"
		" \"--file-prefix=nip%d\", \"--log-level=lib.eal:error\", \"--vdev=net_null0\","
		" \"--vdev=net_memif0,role=server,id=0,socket=%s,socket-abstract=no\", \"--vdev=net_ring0\"]\n"
		"  port_id: 5\n"
		"  link_timeout_ms: 300\n",
		t_eal_mem(), (int)getpid(), sock_path);
	CHECK(load(&cfg, yaml) == 0, "config");
	rc = nip_dpdk_init(&d, &cfg, &pool);
	CHECK(rc == -ENODEV && !d, "port 5: %d", rc);

	/* No link: port 1 is a memif server nobody connects to (the EAL list is ignored now). */
	CHECK(load(&cfg, "dpdk:\n  eal_init: [\"x\", \"--bogus\"]\n  port_id: 1\n"
			 "  link_timeout_ms: 300\n") == 0,
	      "config");
	t0 = t_now_ms();
	rc = nip_dpdk_init(&d, &cfg, &pool);
	ms = t_now_ms() - t0;
	CHECK(rc == -ETIMEDOUT && !d, "no link: %d", rc);
	CHECK(ms >= 300 && ms < 3000, "timed out after %" PRIu64 " ms", ms);
	CHECK(pool.stats.bufs_in_use == 0, "%" PRIu64 " buffers left by a failed init",
	      pool.stats.bufs_in_use);

	/* A PMD that keeps sent mbufs (net_ring: until read back, and past the port's close):
	 * each frame sent as its buffer's own mbuf keeps the buffer until the mbuf's count is
	 * back to ours (tx_sweep, which a receive burst or the next send runs), and fini gives
	 * back what the PMD still holds. */
	CHECK(load(&cfg, "dpdk:\n  port_id: 2\n  rx_bufs: 4096\n") == 0, "config");
	rc = nip_dpdk_init(&d, &cfg, &pool);
	CHECK(rc == 0 && d, "net_ring: %s", strerror(-rc));
	l = nip_dpdk_link(d);
	base = pool.stats.bufs_in_use;
	for (int i = 0; i < 100; i++) {
		struct demi__buf *b = l->ops->alloc(l->dev, 100);

		CHECK(b, "alloc %d", i);
		memset(demi__buf_data(b), 0xcd, b->len);
		CHECK(l->ops->tx_burst(l->dev, &b, 1) == 1, "ring tx %d", i);
	}
	nip_dpdk_stats(d, &st);
	printf("net_ring: %" PRIu64 " of %" PRIu64 " frames sent as their own mbuf, in use %" PRIu64
	       " (%" PRIu64 " before)\n",
	       st.tx_own_frames, st.tx_frames, pool.stats.bufs_in_use, base);
	CHECK(st.tx_own_frames == 100 && st.tx_frames == 100, "own mbufs");
	CHECK(pool.stats.bufs_in_use == base + 100, "held by the ring: %" PRIu64 " in use",
	      pool.stats.bufs_in_use - base);
	for (int k = 0; k < 10; k++) {
		struct demi__buf *bufs[32];
		int n = l->ops->rx_burst(l->dev, bufs, 32);

		for (int i = 0; i < n; i++) {
			CHECK(bufs[i]->len == 100 && demi__buf_data(bufs[i])[20] == 0xcd,
			      "ring frame %d: len %u", got + i, bufs[i]->len);
			demi__buf_put(bufs[i]);
		}
		got += n;
	}
	CHECK(got == 100, "read back %d of 100", got);
	/* Past 64 slabs of 2 KiB buffers (OWN_MBUF_SLABS) a slab gets no own mbufs (each would
	 * cost memzones of the whole process): its buffers go out through header mbufs. */
	many = calloc(MANY, sizeof(*many));
	CHECK(many, "calloc");
	for (nmany = 0; nmany < MANY; nmany++) {
		unsigned cls0 = 0;

		many[nmany] = l->ops->alloc(l->dev, 100);
		CHECK(many[nmany], "alloc %u", nmany);
		if (!many[nmany]->dev && !bare)
			bare = many[nmany];
		for (uint32_t id = 1; bare && id < pool.nslabs; id++)
			cls0 += pool.slabs[id] && pool.slabs[id]->cls == 0;
		if (cls0 > 66) {
			nmany++;
			break;
		}
	}
	for (uint32_t id = 1; id < pool.nslabs; id++) {
		const struct demi__slab *sl = pool.slabs[id];
		bool used = false;

		if (!sl || sl->cls != 0)
			continue;
		slabs++;
		if (!(sl->priv & ~1ull))
			continue;
		own_slabs++;
		/* A slab with a mempool of its own has buffers that use it: one lent whole to the
		 * receive side (each buffer's mbuf a receive mbuf) gave its place back. */
		for (uint32_t i = 0; i < sl->nbufs && !used; i++)
			used = sl->bufs[i].dev &&
			       ((struct rte_mbuf *)sl->bufs[i].dev)->pool ==
				       (struct rte_mempool *)(uintptr_t)(sl->priv & ~1ull);
		CHECK(used, "slab %u keeps a mempool none of its buffers uses", id);
	}
	printf("net_ring: %u slabs of 2 KiB buffers, %u with own mbufs\n", slabs, own_slabs);
	CHECK(bare && own_slabs == 64 && slabs > own_slabs, "own mbuf budget");
	nip_dpdk_stats(d, &st);
	t0 = st.tx_own_frames;
	memset(demi__buf_data(bare), 0xcd, bare->len);
	demi__buf_ref(bare); /* many[] keeps its own */
	CHECK(l->ops->tx_burst(l->dev, &bare, 1) == 1, "ring tx");
	nip_dpdk_stats(d, &st);
	CHECK(st.tx_own_frames == t0 && st.tx_frames == 101, "past the budget: header mbuf");
	for (int k = 0, n = 0; k < 10 && !n; k++) {
		struct demi__buf *bufs[32];

		n = l->ops->rx_burst(l->dev, bufs, 32);
		CHECK(n <= 1, "%d frames", n);
		for (int i = 0; i < n; i++)
			demi__buf_put(bufs[i]);
	}
	/* Last first: the next allocation is a buffer from a slab with own mbufs again. */
	for (unsigned i = nmany; i-- > 0;)
		demi__buf_put(many[i]);
	free(many);
	many = NULL;
	slabs = 0;
	CHECK(pool.stats.bufs_in_use == base, "%" PRIu64 " in use after the budget check",
	      pool.stats.bufs_in_use - base);
	/* A frame sent back as its receive mbuf while the PMD keeps that mbuf: the mbuf stays in
	 * the held FIFO (its buffer is the pending send's) until the PMD lets go. The test plays
	 * a NIC that received the frame (an mbuf of the device's receive mempool put in the
	 * ring) and holds it after the send (taken out of the ring, freed later). */
	{
		struct rte_ring *r = rte_ring_lookup("ETH_RXTX0_net_ring0");
		struct rte_mempool *mp = NULL;
		struct rte_mbuf *m = NULL, *m2 = NULL;
		struct demi__buf *b = NULL;
		char name[RTE_MEMPOOL_NAMESIZE];

		for (unsigned i = 0; !mp && i < 64; i++) {
			snprintf(name, sizeof(name), "nip_rx_2_%u", i);
			mp = rte_mempool_lookup(name);
		}
		CHECK(r && mp, "net_ring's ring %p, receive mempool %p", (void *)r, (void *)mp);
		m = rte_pktmbuf_alloc(mp);
		CHECK(m && rte_pktmbuf_append(m, 100), "receive mbuf");
		memset(rte_pktmbuf_mtod(m, void *), 0xee, 100);
		CHECK(rte_ring_enqueue(r, m) == 0, "enqueue");
		nip_dpdk_stats(d, &st);
		t0 = st.tx_own_frames;
		CHECK(l->ops->rx_burst(l->dev, &b, 1) == 1 && b->len == 100 &&
			      demi__buf_data(b)[20] == 0xee && b->dev == m,
		      "the frame, zero-copy");
		CHECK(l->ops->tx_burst(l->dev, &b, 1) == 1, "tx of the receive buffer");
		CHECK(rte_ring_dequeue(r, (void **)&m2) == 0 && m2 == m, "its own mbuf went out");
		for (int k = 0; k < 3; k++)
			CHECK(l->ops->rx_burst(l->dev, &b, 1) == 0, "nothing to receive");
		nip_dpdk_stats(d, &st);
		printf("net_ring: a receive mbuf the PMD holds: %" PRIu64 " held, in use %" PRIu64
		       "\n",
		       st.rx_held, pool.stats.bufs_in_use - base);
		CHECK(st.tx_own_frames == t0 + 1 && st.rx_held == 1 &&
			      pool.stats.bufs_in_use == base,
		      "held while the PMD has it");
		rte_pktmbuf_free(m); /* the PMD lets go */
		CHECK(l->ops->rx_burst(l->dev, &b, 1) == 0, "nothing to receive");
		nip_dpdk_stats(d, &st);
		CHECK(st.rx_held == 0 && pool.stats.bufs_in_use == base,
		      "not given back after the PMD let go: %" PRIu64 " held", st.rx_held);
	}
	{
		struct demi__buf *b = l->ops->alloc(l->dev, 100);

		CHECK(b && b->dev, "alloc: a buffer with its own mbuf");
		memset(demi__buf_data(b), 0, b->len);
		CHECK(l->ops->tx_burst(l->dev, &b, 1) == 1, "ring tx");
	}
	printf("net_ring: %d frames read back, in use %" PRIu64 " after them and one send\n", got,
	       pool.stats.bufs_in_use);
	CHECK(pool.stats.bufs_in_use == base + 1, "the PMD holds one frame: %" PRIu64 " in use",
	      pool.stats.bufs_in_use - base);
	/* net_ring keeps that frame past the port's close (a NIC would free it): its buffer
	 * stays out of the pool for good, every other one comes back. */
	nip_dpdk_fini(d);
	d = NULL;
	kept = pool.stats.bufs_in_use;
	CHECK(kept == 1, "%" PRIu64 " buffers in use after fini, want the 1 the PMD kept", kept);

	/* A working instance on net_null, with every slab registered. */
	CHECK(load(&cfg, "dpdk:\n  port_id: 0\n  register_memory: true\n  rx_bufs: 4096\n") == 0,
	      "config");
	rc = nip_dpdk_init(&d, &cfg, &pool);
	CHECK(rc == 0 && d, "net_null: %s", strerror(-rc));
	l = nip_dpdk_link(d);
	for (uint32_t id = 1; id < pool.nslabs; id++) {
		if (pool.slabs[id]) {
			slabs++;
			registered += (unsigned)(pool.slabs[id]->priv & 1);
		}
	}
	printf("net_null up: MTU %u, %u slabs, %u registered\n", l->mtu, slabs, registered);
	CHECK(slabs > 0 && registered == slabs, "slab registration");

	/* tx: early release, a reference kept by the caller, runt and oversized frames. */
	for (int i = 0; i < 20000; i++) {
		struct demi__buf *b = l->ops->alloc(l->dev, 60 + (uint32_t)(i % 1400));

		CHECK(b, "alloc %d", i);
		memset(demi__buf_data(b), 0xab, b->len);
		if (i % 3 == 0) {
			demi__buf_ref(b);
			CHECK(l->ops->tx_burst(l->dev, &b, 1) == 1, "tx %d", i);
			CHECK(b->refcnt == 1, "kept reference: refcnt %u", b->refcnt);
			demi__buf_put(b);
		} else {
			CHECK(l->ops->tx_burst(l->dev, &b, 1) == 1, "tx %d", i);
		}
	}
	{
		struct demi__buf *bad[3] = {
			l->ops->alloc(l->dev, 5),
			l->ops->alloc(l->dev, 60),
			l->ops->alloc(l->dev, 4000),
		};

		CHECK(bad[0] && bad[1] && bad[2], "alloc");
		CHECK(l->ops->tx_burst(l->dev, bad, 3) == 3, "runt/oversize not taken");
	}
	nip_dpdk_stats(d, &st);
	printf("tx: %" PRIu64 " frames, %" PRIu64 " bad, in use %" PRIu64 "\n", st.tx_frames,
	       st.tx_bad, pool.stats.bufs_in_use);
	CHECK(st.tx_frames == 20001 && st.tx_bad == 2, "tx counters");
	CHECK(pool.stats.bufs_in_use == 4096 + kept,
	      "only the receive buffers are in use: %" PRIu64, pool.stats.bufs_in_use - kept);

	/* rx: hold 600 frames while receiving 20000 more; then release. */
	for (int round = 0; round < 2000; round++) {
		struct demi__buf *bufs[32];
		int n = l->ops->rx_burst(l->dev, bufs, 32);

		for (int i = 0; i < n; i++) {
			CHECK(bufs[i]->refcnt == 2 && bufs[i]->len == 64,
			      "rx frame refcnt %u len %u", bufs[i]->refcnt, bufs[i]->len);
			CHECK(demi__pool_lookup(&pool, demi__buf_data(bufs[i])) == bufs[i],
			      "zero copy");
			if (nheld < 600)
				held[nheld++] = bufs[i];
			else
				demi__buf_put(bufs[i]);
		}
	}
	nip_dpdk_stats(d, &st);
	printf("rx: %" PRIu64 " frames, %" PRIu64 " held, %" PRIu64 " copied, cached %" PRIu64
	       ", scans %" PRIu64 "\n",
	       st.rx_frames, st.rx_held, st.rx_copied, nip_dpdk_bufs_cached(d),
	       st.rx_reclaim_scans);
	CHECK(st.rx_frames > 20000 && st.rx_held == 600 && st.rx_copied == 0, "rx counters");
	for (unsigned i = 0; i < nheld; i++)
		demi__buf_put(held[i]);
	nheld = 0;
	CHECK(nip_dpdk_bufs_cached(d) == 4096, "cached after release");
	nip_dpdk_fini(d);
	d = NULL;
	CHECK(pool.stats.bufs_in_use == kept, "%" PRIu64 " buffers leaked",
	      pool.stats.bufs_in_use - kept);
	for (uint32_t id = 1; id < pool.nslabs; id++)
		CHECK(!pool.slabs[id] || !(pool.slabs[id]->priv & 1), "slab %u still registered",
		      id);

	/* The closed port is gone for this process. */
	rc = nip_dpdk_init(&d, &cfg, &pool);
	CHECK(rc == -ENODEV && !d, "closed port: %d", rc);
	ret = T_PASS;
	printf("PASS\n");
fail:
	for (unsigned i = 0; many && i < nmany && i < MANY; i++)
		demi__buf_put(many[i]);
	free(many);
	for (unsigned i = 0; i < nheld; i++)
		demi__buf_put(held[i]);
	if (d)
		nip_dpdk_fini(d);
	demi__config_fini(&cfg);
	demi__pool_fini(&pool);
	unlink(sock_path);
	t_eal_files_remove((int)getpid());
	return ret;
}
