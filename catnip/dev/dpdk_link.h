/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device: struct nip_link over one ethdev port, one RX and one TX queue.
 *
 * Call order: nip_dpdk_init (EAL on the first call of the process, port setup, link up), then
 * nip_dpdk_link(d)->ops from the one thread that owns the pool, then nip_dpdk_fini. No DPDK
 * type appears here, so the libOS and tests include this header without DPDK's flags.
 *
 * Configuration keys (lib/config.h; environment overrides in upper case):
 *   dpdk.eal_init         list, argv of rte_eal_init with argv[0] first, as in Demikernel's
 *                         YAML (env DPDK_EAL_INIT, split on spaces). Required.
 *   dpdk.port_id          ethdev port (default 0).
 *   dpdk.link_timeout_ms  how long to wait for link up (default 5000).
 *   dpdk.rx_bufs          pool buffers lent to the receive queue (default 4096).
 *   dpdk.rx_buf_bytes     size of each receive buffer, a power of two (default 2048).
 *   dpdk.mtu              IP MTU to set on the port (default 0: keep the port's own); a frame
 *                         must fit one receive buffer, e.g. 9000 with rx_buf_bytes 16384. On
 *                         net_memif the MTU is not the driver's (it reports 1518 bytes while
 *                         the protocol chains descriptors) but ours: both ends need the same
 *                         value and a vdev bsize that holds a frame (bsize=9216 for 9000).
 *   dpdk.register_memory  register every pool slab with DPDK (rte_extmem_register and
 *                         rte_dev_dma_map), which a DMA-capable NIC needs (default false:
 *                         software ports read memory with the CPU, and each registration uses
 *                         one of DPDK's 128 memseg lists).
 *   dpdk.rx_interrupts    configure the port with receive interrupts when its driver has them
 *                         (default true): an idle wait then sleeps until a frame arrives.
 *   dpdk.idle_sleep_max_us  without receive interrupts (net_memif, net_af_packet in DPDK
 *                         22.11), an idle wait sleeps in steps doubling from 16 us up to this
 *                         (default 1000): how late an idle port may see a frame.
 *
 * The EAL can be initialized only once per process (DPDK keeps global state and refuses a
 * second rte_eal_init, even after rte_eal_cleanup). The first nip_dpdk_init runs it with its
 * dpdk.eal_init; later calls reuse that EAL and ignore their own list (logged); a failed
 * initialization is final for the process. nip_dpdk_fini closes the port (a virtual device
 * such as net_tap is then gone for good) and leaves the EAL up until the process exits.
 *
 * Zero copy, both ways:
 * - RX: the receive mempool is built over pool buffers (rte_pktmbuf_pool_create_extbuf with one
 *   pinned external buffer per 2 KiB pool buffer), so the device writes frames straight into
 *   pool memory. rx_burst hands out that very demi__buf, trimmed to the frame, with a new
 *   generation; the device keeps a reference of its own on every receive buffer, and once the
 *   stack and the application have dropped theirs (refcnt back to 1) the mbuf returns to the
 *   mempool. Frames that arrive chained (longer than one buffer) are copied into a pool
 *   buffer and counted (rx_copied).
 * - TX: a frame goes out as its buffer's own mbuf (demi__buf.dev) when it has one: a
 *   received frame's buffer (an echo, a reply built in place) has its receive mbuf, and every
 *   buffer of the pool's 2 KiB class a permanent mbuf made when its slab is added (the slab
 *   hook: one mempool per slab, used as storage only). Such an mbuf's count is 1 while it is
 *   ours (a receive mbuf: while it waits in the held FIFO); a send raises it to 2, the PMD's
 *   free drops it back, and the frame's buffer reference goes then: right after
 *   rte_eth_tx_burst for the PMDs that copy (memif, tap, af_packet), else when swept later.
 *   An mbuf in flight already, a chained frame, or a buffer of another class or of foreign
 *   memory becomes a header-only mbuf with the data attached as an external buffer, whose
 *   free callback drops the buffer's reference once the PMD is done. Software PMDs free sent
 *   mbufs inside rte_eth_tx_burst (hardware ones in a later call), so the callback always
 *   runs on the thread that owns the pool.
 * buf->priv of a received frame carries its checksum flags (link.h NIP_RXF_*); the stack
 * reads them in IPv4 input and reuses the word afterwards (catnip/inet/udp.c keeps the sender
 * there).
 *
 * Checksum offloads (link.offloads) follow DPDK's convention: with NIP_OFF_UDP_CSUM_TX or
 * NIP_OFF_TCP_CSUM_TX set, the stack leaves the pseudo-header sum in the L4 checksum field and
 * the device fills the rest; with NIP_OFF_IPV4_CSUM_TX the device fills the IPv4 header
 * checksum. On receive, with the port's checksum offloads on, each frame is marked with what
 * the NIC found (NIP_RXF_*: good, bad, or nothing when it did not know); the stack drops the
 * bad ones and checks the unmarked ones itself. The device parses no header on receive.
 */
#ifndef NIP_DPDK_LINK_H
#define NIP_DPDK_LINK_H

#include <stdint.h>

#include "config.h"
#include "link.h"
#include "mem/buf.h"

struct nip_dpdk;

struct nip_dpdk_stats {
	/* Frames handed to the stack, and their bytes. */
	uint64_t rx_frames, rx_bytes;
	/* Chained frames copied into a pool buffer (the only RX copy). */
	uint64_t rx_copied;
	/* Frames the NIC marked with a bad IPv4 or L4 checksum (the stack drops them). */
	uint64_t rx_csum_bad;
	/* Dropped: no pool buffer to copy a chained frame into. */
	uint64_t rx_nobuf;
	/* Receive buffers now held by the stack or the application. */
	uint64_t rx_held;
	/* Full scans for receive buffers given back out of order. */
	uint64_t rx_reclaim_scans;
	/* Frames accepted by the PMD, and their bytes; the transmit bursts that carried them
	 * (tx_frames / tx_bursts: how well frames made together share a burst). */
	uint64_t tx_frames, tx_bytes, tx_bursts;
	/* Of tx_frames, those sent as their buffer's own mbuf (no header mbuf attached). */
	uint64_t tx_own_frames;
	/* Refused by a full TX ring: left to the caller. */
	uint64_t tx_full;
	/* No mbuf header to attach a frame to: left to the caller. */
	uint64_t tx_nombuf;
	/* Taken and dropped: shorter than an Ethernet header or longer than the MTU allows. */
	uint64_t tx_bad;
	/* link alloc found no pool buffer. */
	uint64_t alloc_failed;
	/* The port's own counters (rte_eth_stats_get). */
	uint64_t port_ipackets, port_opackets, port_imissed, port_ierrors, port_oerrors;
	uint64_t port_rx_nombuf;
	/* Idle waits: sleeps on the receive interrupt, those ended by it (not the timeout),
	 * sleeps given up because frames came while the interrupt was being armed (the race the
	 * check after arming catches), and naps (ports without interrupts). */
	uint64_t sleeps, sleep_wakeups, sleep_races, naps;
	/* The most receive buffers held by the stack or the application after a burst, and how
	 * many may be held (beyond the ring's): at that many, the port has nothing to receive
	 * into and drops frames (port_imissed or port_rx_nombuf, by driver). */
	uint64_t rx_held_max, rx_lendable;
};

/**
 * @brief Initializes the EAL (once per process), sets up and starts the port, waits for link.
 * @param out  the device on success
 * @param cfg  configuration (keys above)
 * @param pool the buffer pool frames live in; the device sets its slab hook
 * @return 0, or -errno with a DEMI_ERR message naming the cause (-EINVAL bad configuration,
 *         -ENODEV no such port, -ETIMEDOUT no link, -ENOMEM, or DPDK's error)
 */
int nip_dpdk_init(struct nip_dpdk **out, struct demi__config *cfg, struct demi__pool *pool);

/** @brief Stops and closes the port, frees the mempools, drops the device's buffers. */
void nip_dpdk_fini(struct nip_dpdk *d);

/** @brief The link interface of the device (valid until nip_dpdk_fini). */
struct nip_link *nip_dpdk_link(struct nip_dpdk *d);

/** @brief Fills *out with the device's counters and the port's. */
void nip_dpdk_stats(struct nip_dpdk *d, struct nip_dpdk_stats *out);

/** @brief Pool buffers the device holds for receiving and nobody else references (for the
 *  libOS's bufs_cached: they are in use, not leaked). */
uint64_t nip_dpdk_bufs_cached(struct nip_dpdk *d);

/**
 * @brief Sleeps until a frame arrives or timeout_ns passes (UINT64_MAX: no limit).
 *
 * With a receive interrupt: arms it, reads the ring once more (frames found there are kept
 * for the next rx_burst and end the wait at once: none is lost to the race with arming), then
 * sleeps on it. Without: one nap, twice as long as the previous one (from 16 us up to
 * dpdk.idle_sleep_max_us; back to the start once frames move). The caller bounds timeout_ns
 * by its own deadlines (the stack's timers).
 * @return > 0 when frames are waiting, 0 after the timeout (or a nap), -errno on failure
 */
int nip_dpdk_wait(struct nip_dpdk *d, uint64_t timeout_ns);

/**
 * @brief Whether frames are waiting: reads the receive ring into the device's stash (as a
 * sleep does after arming), where the next rx_burst takes them. Cheaper than an rx_burst
 * through the stack: the libOS's idle polls use it to skip the stack's poll.
 * @return the number of frames waiting (0: none)
 */
int nip_dpdk_rx_peek(struct nip_dpdk *d);

/** @brief The ethdev port id (for tools and tests). */
uint16_t nip_dpdk_port(const struct nip_dpdk *d);

#endif
