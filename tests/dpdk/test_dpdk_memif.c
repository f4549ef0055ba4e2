/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device between two processes over net_memif: the client sends N frames of varying
 * sizes (a window of them in flight), the server sends each back in the buffer it arrived in
 * (RX buffer -> TX, zero-copy), and the client checks every byte and the order. Then the
 * client checks the receive stash's rule (stash_rule_ok) and transmit from buffers' own mbufs
 * under a full ring and a buffer pushed twice (full_ring_ok). Every frame the server sends
 * goes as its receive mbuf and every one the client sends as its 2 KiB buffer's own mbuf
 * (dpdk_link.h), which the counters check; 20000 frames through 4096 receive buffers, no
 * frame lost, no buffer leaked, none left held: the receive mbufs go round.
 *
 * The parent never touches DPDK (the EAL cannot be forked): it forks the two children, each
 * with its own EAL (--in-memory, or --no-huge with NIP_DPDK_TEST_MEM=nohuge) on its own core,
 * and kills them by PID if they overrun. Exit 77 when DPDK or the memif PMD is unavailable.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dev/dpdk_link.h"
#include "dpdk_test.h"
#include "log.h"

#define N_FRAMES 20000
#define WINDOW 64
#define ETHERTYPE_TEST 0x88b5 /* IEEE local experimental */
#define CHILD_TIMEOUT_S 60
#define PAUSE_MS 300 /* the server stops reading this long on a 'P' frame */

static char sock_path[108];

static uint32_t frame_len(uint32_t seq)
{
	return 60 + (seq * 131) % (1514 - 60 + 1); /* 60 .. 1514 bytes */
}

static void fill(uint8_t *f, uint32_t seq, uint32_t len, const uint8_t *src, bool end)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE_TEST >> 8;
	f[13] = ETHERTYPE_TEST & 0xff;
	f[14] = (uint8_t)(end ? 'E' : 'D');
	memcpy(f + 15, &seq, 4);
	for (uint32_t j = 19; j < len; j++)
		f[j] = (uint8_t)(seq * 13 + j * 3);
}

static bool check(const uint8_t *f, uint32_t len, uint32_t *seq_out)
{
	uint32_t seq;

	if (len < 19 || f[12] != ETHERTYPE_TEST >> 8 || f[13] != (ETHERTYPE_TEST & 0xff) ||
	    f[14] != 'D')
		return false;
	memcpy(&seq, f + 15, 4);
	if (len != frame_len(seq))
		return false;
	for (uint32_t j = 19; j < len; j++)
		if (f[j] != (uint8_t)(seq * 13 + j * 3))
			return false;
	*seq_out = seq;
	return true;
}

static int child_init(bool server, struct demi__pool *pool, struct demi__config *cfg,
		      struct nip_dpdk **d)
{
	char vdev[256];
	int rc;

	snprintf(vdev, sizeof(vdev), "net_memif0,role=%s,id=0,socket=%s,socket-abstract=no",
		 server ? "server" : "client", sock_path);
	demi__log_init();
	if (demi__pool_init(pool, 0) != 0 || t_config(cfg, server ? 0 : 1, vdev, 20000) != 0)
		return T_FAIL;
	rc = nip_dpdk_init(d, cfg, pool);
	if (rc == -ENODEV) {
		printf("SKIP: no net_memif port (DPDK memif PMD missing?)\n");
		return T_SKIP;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: nip_dpdk_init: %s\n", server ? "server" : "client",
			strerror(-rc));
		return T_FAIL;
	}
	return T_PASS;
}

/* own_less: how many frames the caller sent through a header mbuf (else all went as their
 * buffers' own mbufs). */
static int child_done(const char *who, struct nip_dpdk *d, struct demi__pool *pool,
		      uint64_t own_less)
{
	struct nip_dpdk_stats st;
	uint64_t own;

	nip_dpdk_stats(d, &st);
	own = st.tx_own_frames;
	if (own + own_less != st.tx_frames || st.rx_held != 0) {
		fprintf(stderr,
			"%s: %" PRIu64 " of %" PRIu64 " frames sent as their own mbuf, %" PRIu64
			" expected; %" PRIu64 " receive buffers still held\n",
			who, own, st.tx_frames, st.tx_frames - own_less, st.rx_held);
		nip_dpdk_fini(d);
		return T_FAIL;
	}
	printf("%s: rx %" PRIu64 " (%" PRIu64 " B) tx %" PRIu64 " (%" PRIu64 " B, own mbuf %" PRIu64
	       ") tx_full %" PRIu64 " tx_nombuf %" PRIu64 " rx_copied %" PRIu64
	       " alloc_failed %" PRIu64 " | port imissed %" PRIu64 " rx_nombuf %" PRIu64 "\n",
	       who, st.rx_frames, st.rx_bytes, st.tx_frames, st.tx_bytes, own, st.tx_full,
	       st.tx_nombuf, st.rx_copied, st.alloc_failed, st.port_imissed, st.port_rx_nombuf);
	nip_dpdk_fini(d);
	if (pool->stats.bufs_in_use != 0) {
		fprintf(stderr, "%s: %" PRIu64 " pool buffers leaked\n", who,
			pool->stats.bufs_in_use);
		return T_FAIL;
	}
	return T_PASS;
}

/* Sends every received test frame back as is, in its own buffer, until the end frame. */
static int run_server(void)
{
	struct demi__pool pool;
	struct demi__config cfg;
	struct nip_dpdk *d;
	struct nip_link *l;
	uint64_t deadline = t_now_ms() + CHILD_TIMEOUT_S * 1000;
	int rc = child_init(true, &pool, &cfg, &d);

	if (rc != T_PASS)
		return rc;
	l = nip_dpdk_link(d);
	while (t_now_ms() < deadline) {
		struct demi__buf *bufs[32];
		int n = l->ops->rx_burst(l->dev, bufs, 32), done = 0, end = 0;

		if (!n) {
			sched_yield();
			continue;
		}
		for (int i = 0; i < n; i++) {
			uint8_t *f = demi__buf_data(bufs[i]);

			if (bufs[i]->len >= 15 && f[14] == 'E')
				end = 1;
			if (bufs[i]->len >= 15 && f[14] == 'P') {
				/* The client fills its ring meanwhile: not echoed. */
				demi__buf_put(bufs[i]);
				bufs[i--] = bufs[--n];
				usleep(PAUSE_MS * 1000);
			}
		}
		while (done < n && t_now_ms() < deadline) {
			int k = l->ops->tx_burst(l->dev, bufs + done, n - done);

			done += k;
			if (!k)
				sched_yield();
		}
		if (done < n) {
			/* The client stopped reading: fail instead of spinning into the kill. */
			while (done < n)
				demi__buf_put(bufs[done++]);
			break;
		}
		if (end)
			return child_done("server", d, &pool, 0);
	}
	fprintf(stderr, "server: no end frame (or no room for echoes) in %d s\n", CHILD_TIMEOUT_S);
	nip_dpdk_fini(d);
	return T_FAIL;
}

/*
 * After the echo test: a receive burst that starts from a partial stash (what
 * nip_dpdk_rx_peek found) hands out the stash without another look at the ring, so a frame
 * that arrived after the peek comes with the next burst. Frames 0 and 1 again: 1 is sent once
 * 0's echo is in the stash, and its echo is in the ring before the burst.
 */
static bool stash_rule_ok(struct nip_dpdk *d, struct nip_link *l)
{
	struct demi__buf *bufs[32];
	uint32_t seq[2] = {UINT32_MAX, UINT32_MAX};
	uint64_t until;
	int n[2] = {0, 0}, peek = 0;

	for (uint32_t s = 0; s < 2; s++) {
		struct demi__buf *b = l->ops->alloc(l->dev, frame_len(s));

		if (!b)
			return false;
		fill(demi__buf_data(b), s, frame_len(s), l->mac, false);
		if (l->ops->tx_burst(l->dev, &b, 1) != 1) {
			demi__buf_put(b);
			return false;
		}
		for (until = t_now_ms() + 5000; s == 0 && !peek && t_now_ms() < until;)
			if (!(peek = nip_dpdk_rx_peek(d)))
				sched_yield();
	}
	usleep(100000); /* frame 1's echo is in the ring by now */
	for (int k = 0; k < 2; k++) {
		for (until = t_now_ms() + 5000; !n[k] && t_now_ms() < until;)
			n[k] = l->ops->rx_burst(l->dev, bufs, 32);
		if (n[k] < 1 || !check(demi__buf_data(bufs[0]), bufs[0]->len, &seq[k]))
			seq[k] = UINT32_MAX;
		for (int i = 0; i < n[k]; i++)
			demi__buf_put(bufs[i]);
	}
	if (peek == 1 && n[0] == 1 && seq[0] == 0 && n[1] == 1 && seq[1] == 1)
		return true;
	fprintf(stderr,
		"client: stash rule: peek %d, first burst %d frames (seq %u), second %d (seq %u); "
		"want 1, 1 (0), 1 (1)\n",
		peek, n[0], seq[0], n[1], seq[1]);
	return false;
}

/* The echoes of full_ring_ok's frames, numbered first .. seq - 1, counted as they come. */
struct echoes {
	uint32_t first, seq, echoed, twice, bad;
};

/* One receive burst, each frame counted as an echo (twice: of the frame first) or as bad. */
static int echoes_read(struct nip_link *l, struct echoes *e)
{
	struct demi__buf *bufs[32];
	int n = l->ops->rx_burst(l->dev, bufs, 32);

	for (int i = 0; i < n; i++) {
		uint32_t s;

		if (check(demi__buf_data(bufs[i]), bufs[i]->len, &s) && s >= e->first &&
		    s < e->seq) {
			e->echoed++;
			e->twice += s == e->first;
		} else {
			e->bad++;
		}
		demi__buf_put(bufs[i]);
	}
	return n;
}

/*
 * Sends one frame, retrying while the ring is full, until the deadline (then the frame is put
 * back and false returned). It reads echoes while it retries: a server that echoes into our
 * full receive ring stops reading its own, so our transmit ring would never drain.
 */
static bool send_wait(struct nip_link *l, struct demi__buf *b, struct echoes *e, uint64_t deadline)
{
	while (l->ops->tx_burst(l->dev, &b, 1) != 1) {
		if (t_now_ms() >= deadline) {
			demi__buf_put(b);
			return false;
		}
		if (!echoes_read(l, e))
			sched_yield();
	}
	return true;
}

/*
 * Transmit from own mbufs at the edges: the server stops reading (a 'P' frame) while the
 * client sends until the ring refuses a frame, which must come back as it was (one reference,
 * the same bytes) and leave later as its own mbuf again; before that, one buffer pushed twice
 * in one burst (the second copy goes through a header mbuf: the first holds the mbuf) must
 * arrive twice, byte-exact. Every frame sent comes back. Frames are numbered from first.
 * The flood does not read: if the server resumes before the ring is full, its echoes fill our
 * receive ring, it stops reading, and our ring fills all the same (what PAUSE_MS 0 tests).
 */
static bool full_ring_ok(struct nip_dpdk *d, struct nip_link *l, uint32_t first)
{
	struct nip_dpdk_stats st0, st1;
	struct demi__buf *p = l->ops->alloc(l->dev, 60), *two[2], *refused = NULL;
	struct echoes e = {.first = first, .seq = first};
	uint64_t own0, deadline = t_now_ms() + 20000;
	bool ok = true, sent_all;

	nip_dpdk_stats(d, &st0);
	own0 = st0.tx_own_frames;
	if (!p)
		return false;
	fill(demi__buf_data(p), 0, 60, l->mac, false);
	demi__buf_data(p)[14] = 'P';
	ok &= send_wait(l, p, &e, deadline);
	two[0] = two[1] = l->ops->alloc(l->dev, frame_len(e.seq));
	if (!two[0])
		return false;
	fill(demi__buf_data(two[0]), e.seq, frame_len(e.seq), l->mac, false);
	demi__buf_ref(two[0]); /* one reference per push */
	ok &= l->ops->tx_burst(l->dev, two, 2) == 2;
	e.seq++;
	while (!refused && e.seq - first < 8192 && t_now_ms() < deadline) {
		struct demi__buf *b = l->ops->alloc(l->dev, frame_len(e.seq));

		if (!b)
			break;
		fill(demi__buf_data(b), e.seq, frame_len(e.seq), l->mac, false);
		if (l->ops->tx_burst(l->dev, &b, 1) != 1)
			refused = b;
		else
			e.seq++;
	}
	if (refused) {
		uint32_t s;

		ok &= refused->refcnt == 1 && check(demi__buf_data(refused), refused->len, &s) &&
		      s == e.seq;
		e.seq++; /* its echo may come while send_wait retries */
		if (!send_wait(l, refused, &e, deadline)) {
			ok = false;
			e.seq--;
		}
	}
	/* e.seq - first frames sent, the first of them twice. */
	while (e.echoed + e.bad < e.seq - first + 1 && t_now_ms() < deadline)
		if (!echoes_read(l, &e))
			sched_yield();
	nip_dpdk_stats(d, &st1);
	/* All but the pushed-twice buffer's second copy went as own mbufs. */
	ok &= st1.tx_own_frames - own0 == st1.tx_frames - st0.tx_frames - 1;
	sent_all = e.echoed + e.bad == e.seq - first + 1;
	printf("client: full ring: %u frames sent, %" PRIu64 " refusals before it left, %u echoed "
	       "(%u of the buffer pushed twice), %u bad%s: %s\n",
	       e.seq - first, st1.tx_full - st0.tx_full, e.echoed, e.twice, e.bad,
	       sent_all ? "" : ", deadline passed",
	       ok && refused && e.twice == 2 && !e.bad && e.echoed == e.seq - first + 1 ? "ok"
											: "BROKEN");
	return ok && refused && e.twice == 2 && !e.bad && e.echoed == e.seq - first + 1;
}

static int run_client(void)
{
	static uint8_t seen[N_FRAMES];
	struct demi__pool pool;
	struct demi__config cfg;
	struct nip_dpdk *d;
	struct nip_link *l;
	uint64_t deadline = t_now_ms() + CHILD_TIMEOUT_S * 1000, t0, bytes = 0;
	uint32_t sent = 0, ok = 0, bad = 0, next_expected = 0, reordered = 0;
	int rc = child_init(false, &pool, &cfg, &d);

	if (rc != T_PASS)
		return rc;
	l = nip_dpdk_link(d);
	t0 = t_now_ms();
	while (ok + bad < N_FRAMES && t_now_ms() < deadline) {
		struct demi__buf *bufs[32];
		int n;

		while (sent < N_FRAMES && sent - (ok + bad) < WINDOW) {
			struct demi__buf *b = l->ops->alloc(l->dev, frame_len(sent));

			if (!b)
				break;
			fill(demi__buf_data(b), sent, frame_len(sent), l->mac, false);
			if (l->ops->tx_burst(l->dev, &b, 1) != 1) {
				demi__buf_put(b);
				break;
			}
			sent++;
		}
		n = l->ops->rx_burst(l->dev, bufs, 32);
		for (int i = 0; i < n; i++) {
			uint32_t seq;

			if (check(demi__buf_data(bufs[i]), bufs[i]->len, &seq) && seq < sent &&
			    !seen[seq]) {
				seen[seq] = 1;
				ok++;
				bytes += bufs[i]->len;
				if (seq != next_expected)
					reordered++;
				next_expected = seq + 1;
			} else {
				bad++;
			}
			demi__buf_put(bufs[i]);
		}
		if (!n)
			sched_yield();
	}
	{
		uint64_t ms = t_now_ms() - t0;
		bool stash_ok = ok + bad == N_FRAMES && stash_rule_ok(d, l);
		bool full_ok = stash_ok && full_ring_ok(d, l, N_FRAMES);
		struct demi__buf *e = l->ops->alloc(l->dev, 60);

		printf("client: %u/%u frames echoed byte-exact (%" PRIu64 " bytes), %u bad, "
		       "%u out of order, %" PRIu64 " ms; stash rule %s\n",
		       ok, N_FRAMES, bytes, bad, reordered, ms, stash_ok ? "kept" : "broken");
		if (!stash_ok || !full_ok)
			bad++;
		if (e) {
			uint64_t until = t_now_ms() + 5000;
			bool gone;

			fill(demi__buf_data(e), 0, 60, l->mac, true);
			while (!(gone = l->ops->tx_burst(l->dev, &e, 1) == 1) && t_now_ms() < until)
				sched_yield();
			if (!gone) {
				demi__buf_put(e);
				bad++;
			}
		}
		usleep(100000); /* let the end frame leave before the port closes */
	}
	rc = child_done("client", d, &pool, 1);
	return ok == N_FRAMES && bad == 0 && reordered == 0 ? rc : T_FAIL;
}

static int wait_child(pid_t pid, uint64_t deadline)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : T_FAIL;
		if (r < 0)
			return T_FAIL;
		if (t_now_ms() >= deadline) {
			fprintf(stderr, "child %d overran: killed\n", (int)pid);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return T_FAIL;
		}
		usleep(20000);
	}
}

int main(void)
{
	uint64_t deadline = t_now_ms() + (CHILD_TIMEOUT_S + 15) * 1000;
	pid_t server, client;
	int rs, rcl;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("SKIP: needs 2 cores (two busy-polling processes)\n");
		return T_SKIP;
	}
	snprintf(sock_path, sizeof(sock_path), "/tmp/nip-memif-%d.sock", (int)getpid());
	unlink(sock_path);
	server = fork();
	if (server == 0)
		_exit(run_server());
	if (server < 0)
		return T_FAIL;
	client = fork();
	if (client == 0)
		_exit(run_client());
	if (client < 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		return T_FAIL;
	}
	rcl = wait_child(client, deadline);
	rs = wait_child(server, rcl == T_PASS ? deadline : t_now_ms() + 3000);
	unlink(sock_path);
	t_eal_files_remove((int)server);
	t_eal_files_remove((int)client);
	printf("server exit %d, client exit %d\n", rs, rcl);
	if (rs == T_SKIP || rcl == T_SKIP)
		return T_SKIP;
	if (rs == T_PASS && rcl == T_PASS) {
		printf("PASS\n");
		return T_PASS;
	}
	return T_FAIL;
}
