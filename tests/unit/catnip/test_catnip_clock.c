/* SPDX-License-Identifier: MIT */
/*
 * catnip's device poller (catnip.c, poll_device) and the runtime's reused clock reading: an
 * idle pass only peeks at the receive ring and may run on a reading some passes old
 * (DEMI__PASS_CLOCK_REUSE); the pass that finds a frame must read the clock afresh, or the
 * frame's processing (RTT samples, timestamps, timers) is dated before its arrival.
 *
 * The whole libOS runs through the public API, with the DPDK device replaced by the in-memory
 * test link (catnip/dev/test_link.h): the nip_dpdk_* calls are wrapped (-Wl,--wrap) and
 * answered here, and the wire's time is the runtime's fake clock, which a background task of
 * the test moves on by a microsecond per scheduler pass. A plain stack on the wire's other end
 * sends the datagram.
 *
 * Between a wait's first pass and the next frame the poller runs the stack only when the
 * deadline its last poll left (nip_stack_poll's poll_due) has come: a timer the stack armed
 * must still fire on time inside one long spinning wait.
 *
 * A push (catnip_udp.c) ends one of three ways, each exactly once: at once, when the stack
 * queued its frame (nip_udp_send* returned 1); failed before the call returned (the link
 * refused the frame); or later, from push_sent or a close, when it waited for ARP. A close
 * cancels only the pushes still waiting, and ARP's give-up after it completes nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "unit.h"

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include "api.h"
#include "catnip.h"
#include "debug.h"
#include "dev/dpdk_link.h"
#include "dev/test_link.h"

#define US 1000ull
#define IP_CATNIP 0x0a000001u /* 10.0.0.1 */
#define IP_PEER 0x0a000002u
#define PORT 7

static const uint8_t mac_catnip[6] = {2, 0, 0, 0, 0, 1}; /* the test link's end 0 */
static const uint8_t mac_peer[6] = {2, 0, 0, 0, 0, 2};

/* The device: the wire's end 0, and when a peek first found a frame. */
static struct {
	struct nip_test_wire wire;
	uint64_t *now;
	uint64_t seen_at;
} dev;

/* The wire's other end and the time per pass. */
static struct {
	struct demi__libos *los;
	struct nip_stack peer;
	struct nip_udp_sock sock;
	struct demi__bg_task ticker;
} t;

/* ---- the DPDK device, answered by the test link ---- */

int __wrap_nip_dpdk_init(struct nip_dpdk **out, struct demi__config *cfg, struct demi__pool *pool);
__attribute__((used)) int __wrap_nip_dpdk_init(struct nip_dpdk **out, struct demi__config *cfg,
					       struct demi__pool *pool)
{
	(void)cfg;
	/* The runtime's fake clock (set by the test once demi_init is done) is the wire's. */
	dev.now = &demi__container_of(pool, struct demi__libos, pool)->rt.clock.fake_now_ns;
	nip_test_wire_init(&dev.wire, pool, dev.now, 1500, 1);
	dev.seen_at = 0;
	*out = (struct nip_dpdk *)&dev;
	return 0;
}

void __wrap_nip_dpdk_fini(struct nip_dpdk *d);
__attribute__((used)) void __wrap_nip_dpdk_fini(struct nip_dpdk *d)
{
	(void)d;
	nip_test_wire_fini(&dev.wire);
}

struct nip_link *__wrap_nip_dpdk_link(struct nip_dpdk *d);
__attribute__((used)) struct nip_link *__wrap_nip_dpdk_link(struct nip_dpdk *d)
{
	(void)d;
	return nip_test_link(&dev.wire, 0);
}

void __wrap_nip_dpdk_stats(struct nip_dpdk *d, struct nip_dpdk_stats *out);
__attribute__((used)) void __wrap_nip_dpdk_stats(struct nip_dpdk *d, struct nip_dpdk_stats *out)
{
	(void)d;
	memset(out, 0, sizeof(*out));
}

uint64_t __wrap_nip_dpdk_bufs_cached(struct nip_dpdk *d);
__attribute__((used)) uint64_t __wrap_nip_dpdk_bufs_cached(struct nip_dpdk *d)
{
	(void)d;
	return 0;
}

/* The test's waits never sleep (they spin within demikernel.spin_us). */
int __wrap_nip_dpdk_wait(struct nip_dpdk *d, uint64_t timeout_ns);
__attribute__((used)) int __wrap_nip_dpdk_wait(struct nip_dpdk *d, uint64_t timeout_ns)
{
	(void)d;
	(void)timeout_ns;
	fail_msg("catnip slept");
	return 0;
}

int __wrap_nip_dpdk_rx_peek(struct nip_dpdk *d);
__attribute__((used)) int __wrap_nip_dpdk_rx_peek(struct nip_dpdk *d)
{
	struct nip_test_end *e = &dev.wire.end[0];
	bool due = e->count && e->q[e->head].due <= *dev.now;

	(void)d;
	if (due && !dev.seen_at)
		dev.seen_at = *dev.now;
	return due;
}

/* ---- the fixture ---- */

/* After catnip's poller on every pass: the time a pass takes. */
static int tick(void *arg)
{
	(void)arg;
	*dev.now += 1 * US;
	return 0;
}

/* catnip on end 0 of the wire; busy: its waits spin to their timeout (demikernel.busy_poll). */
static int start(bool busy)
{
	struct nip_stack_config sc;

	memset(&t, 0, sizeof(t));
	setenv("LIBOS", "catnip", 1);
	setenv("DEMIKERNEL_LOCAL_IPV4_ADDR", "10.0.0.1", 1);
	if (busy)
		setenv("DEMIKERNEL_BUSY_POLL", "true", 1);
	else
		unsetenv("DEMIKERNEL_BUSY_POLL");
	unsetenv("DEMIKERNEL_SPIN_US");
	unsetenv("CONFIG_PATH");
	if (demi_init(NULL))
		return -1;
	t.los = demi__current();
	/* Ahead of the real clock catnip's stack started on. */
	demi__clock_use_fake(&t.los->rt, demi__clock_now(&t.los->rt) + 1000000000ull);
	demi__bg_add(&t.los->rt, &t.ticker, tick, NULL);
	nip_stack_config_default(&sc);
	sc.ip = htonl(IP_PEER);
	if (nip_stack_init(&t.peer, nip_test_link(&dev.wire, 1), &sc) < 0 ||
	    nip_arp_add_static(&t.peer, htonl(IP_CATNIP), mac_catnip) < 0)
		return -1;
	nip_udp_sock_init(&t.sock, &t.peer);
	return nip_udp_bind(&t.sock, 0, PORT);
}

static int setup(void **state)
{
	(void)state;
	return start(false);
}

static int setup_busy(void **state)
{
	(void)state;
	return start(true);
}

static int teardown(void **state)
{
	struct demi__debug_counts c;

	(void)state;
	nip_udp_close(&t.sock);
	nip_stack_fini(&t.peer);
	demi__bg_remove(&t.ticker);
	assert_int_equal(demi__debug_counts(&c), 0);
	demi__fini();
	assert_int_equal(c.bufs_in_use - c.bufs_cached, 0);
	assert_int_equal(c.tasks_in_use, 0);
	assert_int_equal(c.queues_open, 0);
	return 0;
}

/* A datagram that reaches catnip 5 us (5 passes) into a spinning wait, after the wait's first
 * pass read the clock: the stack processes it at its arrival time. */
static void test_catnip_clock_fresh_on_receive(void **state)
{
	static const char msg[] = "ping";
	const void *p[] = {msg};
	uint32_t l[] = {sizeof(msg)};
	struct sockaddr_in a;
	demi_qtoken_t pop;
	demi_qresult_t qr;
	int qd;

	(void)state;
	assert_int_equal(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0), 0);
	nip_fill_addr(&a, htonl(IP_CATNIP), PORT);
	assert_int_equal(demi_bind(qd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(demi_pop(&pop, qd), 0);
	dev.wire.faults.delay_ns = 5 * US;
	nip_stack_poll(&t.peer, *dev.now);
	/* 1: the mapping is known (static), the datagram is queued at once (udp.c's route). */
	assert_int_equal(nip_udp_send(&t.sock, htonl(IP_CATNIP), PORT, p, l, 1, NULL, NULL), 1);
	nip_stack_flush(&t.peer);
	assert_int_equal(dev.wire.end[0].count, 1);
	assert_int_equal(demi_wait(&qr, pop, NULL), 0);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
	assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, sizeof(msg));
	assert_true(dev.seen_at > 0);
	assert_int_equal(nip_of(t.los)->stack.now, dev.seen_at);
	assert_int_equal(demi_sgafree(&qr.qr_value.sga), 0);
	assert_int_equal(demi_close(qd), 0);
}

/* A datagram to an address nobody answers: ARP asks again every arp_retry_ns. The wait that
 * follows spins 300 ms with no frame coming: its passes past the first are idle, and the one
 * at the retry's deadline (to the microsecond a pass takes) must run the stack. */
static void test_catnip_clock_timer_in_spin(void **state)
{
	static const char msg[] = "ping";
	const struct nip_test_end *peer = &dev.wire.end[1];
	const struct nip_stack *s = &nip_of(t.los)->stack;
	const struct timespec spin = {0, 300000000};
	demi_sgarray_t sga;
	struct sockaddr_in a;
	demi_qtoken_t push, pop;
	demi_qresult_t qr;
	uint64_t t0, retry;
	int qd;

	(void)state;
	assert_int_equal(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0), 0);
	nip_fill_addr(&a, htonl(IP_CATNIP), PORT);
	assert_int_equal(demi_bind(qd, (struct sockaddr *)&a, sizeof(a)), 0);
	sga = demi_sgaalloc(sizeof(msg));
	assert_int_equal(sga.sga_numsegs, 1);
	memcpy(sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg));
	nip_fill_addr(&a, htonl(0x0a000009u), PORT);
	/* A few passes first: the stack's clock was the real one until the fake took over. */
	assert_int_equal(demi_pop(&pop, qd), 0);
	assert_int_equal(demi_wait(&qr, pop, &(struct timespec){0, 10 * US}), ETIMEDOUT);
	t0 = *dev.now;
	assert_int_equal(demi_pushto(&push, qd, &sga, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(s->cnt.arp_requests_sent, 1);
	retry = t0 + s->cfg.arp_retry_ns;
	assert_int_equal(demi_wait(&qr, pop, &spin), ETIMEDOUT);
	assert_true(*dev.now >= t0 + 300000000ull);
	assert_int_equal(s->cnt.arp_requests_sent, 2);
	/* Both requests wait on the peer's end, stamped with the time they left. */
	assert_int_equal(peer->count, 2);
	assert_true(peer->q[(peer->head + 1) % NIP_TEST_QUEUE].due >= retry);
	assert_true(peer->q[(peer->head + 1) % NIP_TEST_QUEUE].due <= retry + 2 * US);
	/* ARP gives up: the push fails, the pop is cancelled with the queue. */
	assert_int_equal(demi_wait(&qr, push, NULL), 0);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, EHOSTUNREACH);
	assert_int_equal(demi_close(qd), 0);
	assert_int_equal(demi_wait(&qr, pop, NULL), 0);
	nip_stack_poll(&t.peer, *dev.now); /* the requests, not for the peer: dropped */
	assert_int_equal(peer->count, 0);
}

/* ---- UDP pushes: how each ends (catnip_udp.c, push_queued and push_sent) ---- */

/* A bound UDP queue of catnip's that knows the peer's mapping (static: it never expires). */
static int udp_queue(void)
{
	struct sockaddr_in a;
	int qd;

	assert_int_equal(nip_arp_add_static(&nip_of(t.los)->stack, htonl(IP_PEER), mac_peer), 0);
	assert_int_equal(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0), 0);
	nip_fill_addr(&a, htonl(IP_CATNIP), PORT);
	assert_int_equal(demi_bind(qd, (struct sockaddr *)&a, sizeof(a)), 0);
	return qd;
}

static uint64_t tasks_in_use(void)
{
	struct demi__debug_counts c;

	assert_int_equal(demi__debug_counts(&c), 0);
	return c.tasks_in_use;
}

/* What reached the peer: taken off the wire and out of its socket, so nothing leaks. */
static uint64_t peer_drain(void)
{
	uint64_t got = 0;
	uint32_t ip;
	uint16_t port;
	struct demi__buf *b;

	while (dev.wire.end[1].count) {
		nip_stack_poll(&t.peer, *dev.now);
		while ((b = nip_udp_recv(&t.sock, &ip, &port))) {
			demi__buf_put(b);
			got++;
		}
	}
	return got;
}

/* To the peer, whose mapping is known: the push is done when demi_pushto returns, and the
 * close after it has nothing of it left to cancel. */
static void test_catnip_udp_push_at_once(void **state)
{
	static const char msg[] = "ping";
	const struct timespec now = {0, 0};
	demi_sgarray_t sga;
	struct sockaddr_in a;
	demi_qtoken_t push;
	demi_qresult_t qr;
	uint64_t before;
	int qd;

	(void)state;
	qd = udp_queue();
	sga = demi_sgaalloc(sizeof(msg));
	memcpy(sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg));
	nip_fill_addr(&a, htonl(IP_PEER), PORT);
	before = *dev.now;
	assert_int_equal(demi_pushto(&push, qd, &sga, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(demi_sgafree(&sga), 0);
	/* Done with no scheduler pass: the fake clock did not move. */
	assert_int_equal(demi_wait(&qr, push, &now), 0);
	assert_int_equal(*dev.now, before);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
	assert_int_equal(qr.qr_ret, 0);
	assert_int_equal(tasks_in_use(), 0);
	assert_int_equal(demi_close(qd), 0);
	assert_int_equal(tasks_in_use(), 0);
	assert_int_equal(peer_drain(), 1);
}

/* A transmit ring that takes one frame per poll and no poll in between: the first push's
 * frame leaves, NIP_TXQ more fill the stack's queue (each done at once), and the next one
 * is refused inside demi_pushto (push_sent before nip_udp_send* returned 0). It fails once,
 * with ENOBUFS; the close that follows before anyone waited must not touch it again. */
static void test_catnip_udp_push_refused(void **state)
{
	static const char msg[] = "ping";
	const struct timespec now = {0, 0};
	const struct nip_stack *s = &nip_of(t.los)->stack;
	demi_qtoken_t push[NIP_TXQ + 2];
	demi_sgarray_t sga;
	struct sockaddr_in a;
	demi_qresult_t qr;
	int qd, pop;
	demi_qtoken_t tpop;

	(void)state;
	qd = udp_queue();
	dev.wire.faults.tx_per_poll = 1;
	sga = demi_sgaalloc(sizeof(msg));
	memcpy(sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg));
	nip_fill_addr(&a, htonl(IP_PEER), PORT);
	for (int i = 0; i < NIP_TXQ + 2; i++)
		assert_int_equal(demi_pushto(&push[i], qd, &sga, (struct sockaddr *)&a, sizeof(a)),
				 0);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(s->cnt.drop_tx_full, 1);
	assert_int_equal(demi_close(qd), 0);
	for (int i = 0; i < NIP_TXQ + 1; i++) {
		assert_int_equal(demi_wait(&qr, push[i], &now), 0);
		assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
	}
	assert_int_equal(demi_wait(&qr, push[NIP_TXQ + 1], &now), 0);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, ENOBUFS);
	assert_int_equal(tasks_in_use(), 0);
	/* The ring drains at the next polls: what the stack queued leaves, nothing completes. */
	dev.wire.faults.tx_per_poll = 0;
	assert_int_equal(demi_socket(&pop, AF_INET, SOCK_DGRAM, 0), 0);
	assert_int_equal(demi_pop(&tpop, pop), 0);
	assert_int_equal(demi_wait(&qr, tpop, &(struct timespec){0, 10 * US}), ETIMEDOUT);
	assert_int_equal(s->txq_len, 0);
	assert_int_equal(demi_close(pop), 0);
	assert_int_equal(demi_wait(&qr, tpop, NULL), 0);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, ECANCELED);
	assert_int_equal(peer_drain(), NIP_TXQ + 1);
	assert_int_equal(tasks_in_use(), 0);
}

/* To an address nobody answers: the push waits for ARP; the close cancels it. ARP gives up
 * later (the task done but not yet waited for): push_sent must leave it as the close did. */
static void test_catnip_udp_push_cancelled(void **state)
{
	static const char msg[] = "ping";
	const struct nip_stack *s = &nip_of(t.los)->stack;
	demi_sgarray_t sga;
	struct sockaddr_in a;
	demi_qtoken_t push, tpop;
	demi_qresult_t qr;
	int qd, pop;

	(void)state;
	qd = udp_queue();
	sga = demi_sgaalloc(sizeof(msg));
	memcpy(sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg));
	nip_fill_addr(&a, htonl(0x0a000009u), PORT);
	assert_int_equal(demi_pushto(&push, qd, &sga, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(demi_sgafree(&sga), 0);
	assert_int_equal(s->cnt.arp_requests_sent, 1);
	assert_int_equal(demi_close(qd), 0);
	assert_int_equal(tasks_in_use(), 1);
	/* Past the last retry: another queue's wait runs the passes in which ARP gives up. */
	*dev.now += (uint64_t)(s->cfg.arp_retries + 1) * s->cfg.arp_retry_ns;
	assert_int_equal(demi_socket(&pop, AF_INET, SOCK_DGRAM, 0), 0);
	assert_int_equal(demi_pop(&tpop, pop), 0);
	for (uint32_t i = 0; i <= s->cfg.arp_retries && !s->cnt.arp_failures; i++) {
		assert_int_equal(demi_wait(&qr, tpop, &(struct timespec){0, 10 * US}), ETIMEDOUT);
		*dev.now += s->cfg.arp_retry_ns;
	}
	assert_int_equal(s->cnt.arp_failures, 1);
	assert_int_equal(tasks_in_use(), 2);
	assert_int_equal(demi_wait(&qr, push, NULL), 0);
	assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
	assert_int_equal(qr.qr_ret, ECANCELED);
	assert_int_equal(demi_close(pop), 0);
	assert_int_equal(demi_wait(&qr, tpop, NULL), 0);
	assert_int_equal(tasks_in_use(), 0);
	nip_stack_poll(&t.peer, *dev.now); /* the requests, not for the peer: dropped */
	assert_int_equal(dev.wire.end[1].count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_catnip_clock_fresh_on_receive, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catnip_clock_timer_in_spin, setup_busy,
						teardown),
		cmocka_unit_test_setup_teardown(test_catnip_udp_push_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catnip_udp_push_refused, setup_busy, teardown),
		cmocka_unit_test_setup_teardown(test_catnip_udp_push_cancelled, setup_busy,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
