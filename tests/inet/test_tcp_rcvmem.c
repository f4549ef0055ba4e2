/* SPDX-License-Identifier: MIT */
/*
 * The stack-wide receive memory budget (catnip/inet/tcp/tcp_mem.c) on the test link, whose
 * ends here have a finite set of receive buffers as a NIC has (faults.rx_bufs): a frame is
 * delivered only while the receiving stack and its application hold fewer delivered frames
 * than that, and the rest wait on the wire.
 *
 * - Many connections echo through a server that pushes back the very buffers it popped (zero
 *   copy, as examples/tcp-echo does). Without the budget the echo's send queues keep every
 *   receive buffer until the client acknowledges the data, the server has none left to
 *   receive those acknowledgments into, and nothing moves again (issue 12). Every byte must
 *   come back within a bound of virtual time.
 * - Connections whose application never reads, beside one that does: the reader must keep at
 *   least half the throughput it has alone.
 * - Pressure begins at its threshold: after every poll the level is what the buffers held say.
 * - Pressure ends: windows held back are announced again, and a stack with no pressure copies
 *   nothing.
 * Every case ends with no connection and no buffer leaked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "two_stacks.h"
#include "tcp/tcp.h"

#define US 1000ull
#define MS 1000000ull
#define IP_A 0x0a000001u /* 10.0.0.1, host order: the clients */
#define IP_B 0x0a000002u /* the server */
#define PORT 7
#define MAXC 64
#define CHUNK (16 * 1024)

/* One connection's two ends and its progress. */
struct pair {
	struct nip_tcp_conn *c, *s; /* on a and on b */
	uint64_t sent, echoed;	    /* client: bytes pushed, bytes back and checked */
	struct demi__buf *held;	    /* server: a popped buffer its send queue had no room for */
};

struct rig {
	struct two_stacks t;
	struct pair p[MAXC];
	int n;
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct nip_stack_config ca, cb;

	assert_non_null(r);
	nip_stack_config_default(&ca);
	memset(ca.tcp.isn_secret, 0x5c, sizeof(ca.tcp.isn_secret));
	cb = ca;
	ca.ip = htonl(IP_A);
	cb.ip = htonl(IP_B);
	two_stacks_up(&r->t, &ca, &cb);
	assert_int_equal(nip_arp_add_static(&r->t.a, htonl(IP_B), r->t.wire.end[1].link.mac), 0);
	assert_int_equal(nip_arp_add_static(&r->t.b, htonl(IP_A), r->t.wire.end[0].link.mac), 0);
	r->t.wire.faults.delay_ns = 10 * US;
	*state = r;
	return 0;
}

static void run(struct rig *r, uint64_t step)
{
	r->t.now += step;
	nip_stack_poll(&r->t.a, r->t.now);
	nip_stack_poll(&r->t.b, r->t.now);
}

/* Closes every connection, runs past TIME-WAIT and checks that nothing leaked. */
static int teardown(void **state)
{
	struct rig *r = *state;

	for (int i = 0; i < r->n; i++) {
		if (r->p[i].held)
			demi__buf_put(r->p[i].held);
		nip_tcp_close(r->p[i].c);
		nip_tcp_close(r->p[i].s);
	}
	two_stacks_tcp_down(&r->t);
	free(r);
	return 0;
}

/* n established connections from a to b. */
static void connect_all(struct rig *r, int n)
{
	struct nip_tcp_conn *l = nip_tcp_create(&r->t.b, NULL, NULL);

	assert_non_null(l);
	assert_int_equal(nip_tcp_bind(l, 0, PORT, false), 0);
	assert_int_equal(nip_tcp_listen(l, MAXC), 0);
	for (int i = 0; i < n; i++) {
		r->p[i].c = nip_tcp_create(&r->t.a, NULL, NULL);
		assert_non_null(r->p[i].c);
		assert_int_equal(nip_tcp_connect(r->p[i].c, htonl(IP_B), PORT), 0);
	}
	r->n = n;
	/* Accepted in SYN order, which is the order of the connects. */
	for (int i = 0, k = 0; i < 100000 && k < n; i++) {
		struct nip_tcp_conn *s;

		run(r, 10 * US);
		while ((s = nip_tcp_accept(l)))
			r->p[k++].s = s;
	}
	for (int i = 0; i < n; i++) {
		assert_non_null(r->p[i].s);
		assert_int_equal(r->p[i].c->state, NIP_TCP_ESTABLISHED);
	}
	nip_tcp_close(l);
}

static uint8_t pattern(int conn, uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 8) + (uint64_t)conn * 31);
}

/* The client of pair i pushes what its send queue takes of total bytes. */
static bool client_push(struct rig *r, int i, uint64_t total)
{
	struct pair *p = &r->p[i];
	bool moved = false;

	while (p->sent < total && nip_tcp_writable(p->c)) {
		uint32_t len = total - p->sent < CHUNK ? (uint32_t)(total - p->sent) : CHUNK;
		struct demi__buf *b = demi__pool_get(&r->t.pool, len);

		assert_non_null(b);
		for (uint32_t k = 0; k < len; k++)
			demi__buf_data(b)[k] = pattern(i, p->sent + k);
		assert_int_equal(nip_tcp_send(p->c, b, demi__buf_data(b), len), 0);
		p->sent += len;
		moved = true;
	}
	return moved;
}

/* The client of pair i reads what came back, checking every byte. */
static bool client_pop(struct rig *r, int i)
{
	struct pair *p = &r->p[i];
	struct demi__buf *b;
	bool moved = false;
	int st;

	while ((b = nip_tcp_recv(p->c, &st))) {
		for (uint32_t k = 0; k < b->len; k++)
			if (demi__buf_data(b)[k] != pattern(i, p->echoed + k))
				fail_msg("connection %d: byte %llu differs", i,
					 (unsigned long long)(p->echoed + k));
		p->echoed += b->len;
		demi__buf_put(b);
		moved = true;
	}
	assert_int_equal(st, 0);
	return moved;
}

/* The server of pair i echoes what it received: the popped buffer itself is pushed back, as
 * the libOS does with a push of a popped array (nip_tcp_push_unpin when the push is issued). */
static bool server_echo(struct rig *r, int i)
{
	struct pair *p = &r->p[i];
	bool moved = false;
	int st;

	for (;;) {
		struct demi__buf *b = p->held;
		uint8_t *data;
		int rc;

		if (!b) {
			b = nip_tcp_recv(p->s, &st);
			if (!b)
				break;
			data = demi__buf_data(b);
			nip_tcp_push_unpin(&r->t.b, &b, &data, b->len);
		}
		p->held = NULL;
		data = demi__buf_data(b);
		rc = nip_tcp_send(p->s, b, data, b->len);
		if (rc == -EAGAIN) {
			p->held = b; /* a push waiting for room */
			break;
		}
		assert_int_equal(rc, 0);
		moved = true;
	}
	return moved;
}

/* Every pair echoes total bytes; fails if that takes more than max_ns of virtual time.
 * Returns the time it took. */
static uint64_t echo_all(struct rig *r, uint64_t total, uint64_t max_ns)
{
	uint64_t start = r->t.now;

	for (;;) {
		bool moved = false, done = true;

		for (int i = 0; i < r->n; i++) {
			moved |= client_push(r, i, total);
			moved |= server_echo(r, i);
			moved |= client_pop(r, i);
			done &= r->p[i].echoed == total;
		}
		if (done)
			break;
		if (r->t.now - start > max_ns) {
			uint64_t sum = 0;

			for (int i = 0; i < r->n; i++)
				sum += r->p[i].echoed;
			fail_msg("%llu of %llu bytes echoed after %.3f s virtual (server holds %u "
				 "of %u receive buffers, its link stalled %llu times)",
				 (unsigned long long)sum, (unsigned long long)total * r->n,
				 (r->t.now - start) / 1e9, r->t.wire.end[1].rxmem.held,
				 r->t.wire.end[1].rxmem.bufs,
				 (unsigned long long)r->t.wire.end[1].rx_stalled);
		}
		run(r, moved ? 10 * US : 100 * US);
	}
	return r->t.now - start;
}

static void print_counters(const char *who, const struct nip_counters *c)
{
	printf("# %s: pressure %llu critical %llu push copied %llu rcv copied %llu ofo pruned "
	       "%llu dropped %llu window updates %llu\n",
	       who, (unsigned long long)c->tcp_mem_pressure,
	       (unsigned long long)c->tcp_mem_critical, (unsigned long long)c->tcp_mem_push_copied,
	       (unsigned long long)c->tcp_mem_rcv_copied, (unsigned long long)c->tcp_mem_ofo_pruned,
	       (unsigned long long)c->drop_tcp_mem_pressure,
	       (unsigned long long)c->tcp_mem_window_updates);
}

/* 32 connections echo 512 KiB each through 512 receive buffers per end: the echo's send
 * queues alone would want them all several times over. */
static void test_rcvmem_echo_many_connections(void **state)
{
	struct rig *r = *state;
	uint64_t took;

	r->t.wire.faults.rx_bufs = 512;
	connect_all(r, 32);
	took = echo_all(r, 512 * 1024, 5000 * MS);
	printf("# 32 x 512 KiB echoed in %.3f s virtual\n", took / 1e9);
	print_counters("server", &r->t.b.cnt);
	assert_true(r->t.b.cnt.tcp_mem_pressure > 0);
	assert_true(r->t.b.cnt.tcp_mem_push_copied > 0);
}

/* The same under 1% loss each way: out-of-order queues hold receive buffers too, and are
 * pruned first when the device runs short. */
static void test_rcvmem_echo_under_loss(void **state)
{
	struct rig *r = *state;
	uint64_t took;

	r->t.wire.faults.rx_bufs = 512;
	r->t.wire.faults.drop_ppm = 10000;
	connect_all(r, 16);
	took = echo_all(r, 512 * 1024, 30000 * MS);
	printf("# 16 x 512 KiB echoed under 1%% loss in %.3f s virtual\n", took / 1e9);
	print_counters("server", &r->t.b.cnt);
	print_counters("client", &r->t.a.cnt);
}

/* Bytes the client of pair 0 receives from its server in span of virtual time, while the
 * servers of pairs 1.. send without their clients ever reading. */
static uint64_t reader_bytes(struct rig *r, uint64_t span)
{
	uint64_t start = r->t.now, got = 0;
	uint64_t sent[MAXC] = {0};

	while (r->t.now - start < span) {
		struct demi__buf *b;
		int st;

		for (int i = 0; i < r->n; i++) {
			/* Every server sends as fast as its send queue takes. */
			while (nip_tcp_writable(r->p[i].s)) {
				b = demi__pool_get(&r->t.pool, CHUNK);
				assert_non_null(b);
				memset(demi__buf_data(b), (int)(sent[i] & 0xff), CHUNK);
				assert_int_equal(
					nip_tcp_send(r->p[i].s, b, demi__buf_data(b), CHUNK), 0);
				sent[i] += CHUNK;
			}
		}
		while ((b = nip_tcp_recv(r->p[0].c, &st))) {
			got += b->len;
			demi__buf_put(b);
		}
		assert_int_equal(st, 0);
		run(r, 10 * US);
	}
	return got;
}

/* 40 connections that never read beside one that does: alone, then with them. */
static void test_rcvmem_reader_beside_idle_connections(void **state)
{
	struct rig *r = *state;
	uint64_t alone, loaded;

	r->t.wire.faults.rx_bufs = 512;
	connect_all(r, 41);
	/* Alone: the others send nothing yet (their servers' queues stay empty). */
	r->n = 1;
	alone = reader_bytes(r, 200 * MS);
	r->n = 41;
	loaded = reader_bytes(r, 200 * MS);
	printf("# the reader: %.1f MB/s alone, %.1f MB/s beside 40 connections that never read\n",
	       alone / 0.2e6, loaded / 0.2e6);
	print_counters("client", &r->t.a.cnt);
	assert_true(alone > 0);
	assert_true(loaded * 2 >= alone);
}

/* Runs the stacks one step and checks b's level against the counts its poll read. */
static void step_check_level(struct rig *r)
{
	const struct nip_link_rxmem *m = &r->t.wire.end[1].rxmem;

	client_push(r, 0, UINT64_MAX);
	run(r, 10 * US);
	if (m->held >= m->bufs * 85 / 100)
		assert_int_equal(r->t.b.tcp.mem_level, NIP_TCP_MEM_CRITICAL);
	else if (m->held >= m->bufs / 2)
		assert_int_not_equal(r->t.b.tcp.mem_level, NIP_TCP_MEM_OK);
}

/* A server that never reads holds ever more buffers: 60 of first_bufs, then the device has
 * only 100 (50 the pressure threshold, 85 the critical one, by default). After every poll the
 * level is what the counts the poll read say. */
static void level_follows_held(struct rig *r, uint32_t first_bufs)
{
	const struct nip_link_rxmem *m = &r->t.wire.end[1].rxmem;
	int i;

	connect_all(r, 1);
	r->t.wire.faults.rx_bufs = first_bufs;
	for (i = 0; i < 2000 && m->held < 60; i++)
		step_check_level(r);
	assert_true(m->held >= 60);
	r->t.wire.faults.rx_bufs = 100;
	for (i = 0; i < 1000; i++)
		step_check_level(r);
	assert_true(r->t.b.cnt.tcp_mem_pressure >= 1);
}

/* nip_stack_poll skips the memory check while held stays below a bound (mem_quiet) and the
 * device's count is unchanged: a bound above the pressure threshold would miss the climb
 * through it, */
static void test_rcvmem_level_follows_held(void **state)
{
	level_follows_held(*state, 100);
}

/* and a bound kept across a change of the count would miss the pressure the change makes. */
static void test_rcvmem_level_follows_bufs(void **state)
{
	level_follows_held(*state, 1000);
}

/* A link with no finite receive buffers (or with plenty) never sees pressure: zero copy. */
static void test_rcvmem_no_pressure_copies_nothing(void **state)
{
	struct rig *r = *state;

	r->t.wire.faults.rx_bufs = 4096;
	connect_all(r, 2);
	echo_all(r, 256 * 1024, 1000 * MS);
	assert_int_equal(r->t.a.cnt.tcp_mem_pressure + r->t.b.cnt.tcp_mem_pressure, 0);
	assert_int_equal(r->t.b.cnt.tcp_mem_push_copied + r->t.b.cnt.tcp_mem_rcv_copied, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rcvmem_echo_many_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvmem_echo_under_loss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvmem_reader_beside_idle_connections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rcvmem_level_follows_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvmem_level_follows_bufs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvmem_no_pressure_copies_nothing, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
