/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target of catnip's TCP state machine (catnip/inet/tcp/): one stack on end 0 of the
 * in-memory test wire, and the fuzzer as its peer on end 1. The input is a short program whose
 * steps inject crafted segments, move the virtual clock (so that every timer fires) and make the
 * user calls on the stack's side. Everything the stack sends is parsed (it must be a valid
 * Ethernet + IPv4 + TCP frame with correct checksums) and followed, so that segments can be
 * placed relative to the stack's sequence numbers. At the end every connection is closed and
 * the clock runs past every timer: no connection and no pool buffer may remain.
 *
 * Program format (bytes past the end of the input read as 0):
 *
 *   byte 0   config: bit 0 SACK, 1 window scale, 2 timestamps (offered by the stack),
 *            3 delayed ACK (20 ms, else none), 4 CUBIC (else NewReno), 5 small socket buffers
 *            (4 KiB), 6 TCP_NODELAY by default, 7 link MTU 576 (else 1500)
 *   byte 1   config: bits 0-1 SYN backlog 1 + n, bits 2-3 challenge ACKs per second
 *            (1, 2, 10, 1000), bits 4-7 spare
 *   then at most MAX_STEPS steps, each an opcode byte op whose low nibble is the kind:
 *
 *   0-7      a segment from the peer. Flags by kind: 0 SYN, 1 SYN|ACK, 2-4 ACK (PSH when
 *            op bit 4), 5 FIN|ACK, 6 RST (|ACK when op bit 4), 7 the next byte as raw flags.
 *            Op bits 5-7 choose the payload length: 0, 0, 1, n, 8n, 64n, mss, 1 + 4n (n: the
 *            next byte). Then a mode byte m:
 *              m bits 0-1  seq: the peer's next (0), the stack's last ACK (1), a 32-bit
 *                          absolute value (2), the peer's next plus a signed 16-bit delta (3)
 *              m bits 2-3  ack: the stack's highest sequence sent plus one (0), the stack's
 *                          last seq (1), absolute 32-bit (2), highest plus signed 16-bit (3)
 *              m bit 4     a 16-bit window follows (else 65535)
 *              m bit 5     well-formed options: an option byte follows (bit 0 MSS from a
 *                          16-bit value read next, 1 window scale = bits 4-7, 2 SACK-permitted,
 *                          3 timestamps echoing the stack's last TSval; a non-SYN segment with
 *                          bit 2 carries up to 3 SACK blocks around the stack's sequence space)
 *              m bit 6     raw option bytes: a length byte (0-40, padded to 4) and the bytes
 *              m bit 7     an extra byte: bits 0-2 flow (see below), bit 3 with bit 4 a wrong
 *                          checksum, bit 5 with bit 6 a bad data offset, bit 7 URG pointer
 *            Flows: 0-3 are the peer's ports 40000-40003 to the listener's port 5001; 4-7 the
 *            flows the stack opened (connect), in the order it sent their first segment. With
 *            no extra byte, the flow of the last segment sent or received.
 *   8        clock: + (next byte) * 100 us
 *   9        clock: + (next byte) * 50 ms
 *   10       clock: + (next byte) seconds, op bits 4-7 times 16 (a long silence)
 *   11       clock: to the stack's next timer deadline (one timer fires)
 *   12       user: op bit 4 clear: listen on 5001 (backlog op bits 5-7) if no listener, else
 *            close the listener; set: connect a new connection to peer port 40000 + bits 5-6
 *            (bit 7: bound to local port 5002 first)
 *   13       user on connection slot (op bits 4-6): send n * 97 bytes (n: next byte) from a pool
 *            buffer (op bit 7: 1 byte)
 *   14       user on slot (op bits 4-6): op bit 7 clear: receive everything and free it; set:
 *            receive one buffer
 *   15       user on slot (op bits 4-6): op bit 7 clear: next byte 0-3 accept into the free
 *            slots, 4-7 close, 8-15 setsockopt (SO_LINGER 0 on/off, TCP_NODELAY on/off,
 *            SO_KEEPALIVE on/off, SO_RCVBUF / SO_SNDBUF 2 KiB), else nothing; bit 7 set: close
 *
 * Replay a crash file with the driver build: build/tests/fuzz/fuzz-tcp-conn FILE.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "fuzz.h"

#include "mem/buf.h"
#include "stack.h"
#include "tcp/tcp.h"
#include "tcp/tcp_seq.h"
#include "tcp_peer.h"
#include "wire/tcp.h"

#define MS 1000000ull
#define SEC 1000000000ull

#define PORT 5001
#define PORT_BOUND 5002
#define PEER_PORT 40000

#define MAX_STEPS 256
#define NSLOTS 8
#define NFLOWS 8
#define FIRINGS_MAX 200000	  /* timer firings in one clock step before calling it a loop */
#define END_TIME (4 * 3600 * SEC) /* after the last close: every timer must be over by then */

/* The peer's view of one 4-tuple. */
struct flow {
	bool used;
	uint16_t pport, sport;	      /* the peer's port, the stack's port */
	uint32_t peer_nxt;	      /* the peer's next sequence number */
	uint32_t st_last_seq, st_max; /* the stack's last seq, highest seq + len it sent */
	uint32_t st_ack;	      /* the stack's last ACK */
	uint32_t st_tsval;
	bool st_seen;
};

struct fz {
	struct fuzz_prog prog; /* the input */
	struct tcp_peer peer;  /* the stack, the wire, the clock (peer.now) */
	struct nip_stack *s;   /* &peer.s */
	struct nip_tcp_conn *listener;
	struct nip_tcp_conn *slot[NSLOTS];
	struct flow flow[NFLOWS];
	int cur;	 /* the flow of the last segment */
	int next_active; /* next of flows 4-7 to fill */
	uint16_t mss;
};

static struct demi__pool pool;
static bool pool_ready;
static struct fz fz; /* large (the wire's queues): not on the stack */

static void on_event(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
}

/* ---- what the stack sends ---- */

static int flow_find(struct fz *f, uint16_t pport, uint16_t sport)
{
	for (int i = 0; i < NFLOWS; i++)
		if (f->flow[i].used && f->flow[i].pport == pport && f->flow[i].sport == sport)
			return i;
	return -1;
}

static void flow_learn(struct fz *f, const struct nip_tcp_seg *t)
{
	int i = flow_find(f, t->dport, t->sport);
	struct flow *fl;
	uint32_t end;

	if (i < 0) {
		i = 4 + f->next_active;
		f->next_active = (f->next_active + 1) % 4;
		memset(&f->flow[i], 0, sizeof(f->flow[i]));
		f->flow[i].used = true;
		f->flow[i].pport = t->dport;
		f->flow[i].sport = t->sport;
		f->flow[i].peer_nxt = 2000000u * (uint32_t)(i + 1);
	}
	fl = &f->flow[i];
	f->cur = i;
	end = t->seq + (uint32_t)t->payload_len + !!(t->flags & NIP_TCP_SYN) +
	      !!(t->flags & NIP_TCP_FIN);
	if (t->flags & NIP_TCP_RST)
		return;
	fl->st_last_seq = t->seq;
	if (!fl->st_seen || (t->flags & NIP_TCP_SYN) || nip_seq_gt(end, fl->st_max))
		fl->st_max = end;
	fl->st_seen = true;
	if (t->flags & NIP_TCP_ACK)
		fl->st_ack = t->ack;
	if (t->opt.has_ts)
		fl->st_tsval = t->opt.tsval;
}

/* Parses and frees what the stack sent (it must be well-formed), learning the flows: after
 * every poll of the stack. */
static void drain(struct tcp_peer *p, void *ctx)
{
	struct fz *f = ctx;
	struct tcp_peer_rx rx;
	int rc;

	while ((rc = tcp_peer_take(p, &rx))) {
		FUZZ_CHECK(rc == 1 || rc == -EPROTONOSUPPORT);
		if (rc == 1)
			flow_learn(f, &rx.seg);
	}
}

/* ---- the clock ---- */

/* Advances to t, polling at every deadline on the way so timers fire on time. */
static void clock_to(struct fz *f, uint64_t t)
{
	FUZZ_CHECK(tcp_peer_clock_to(&f->peer, t, FIRINGS_MAX) == 0);
}

/* After a user call: what it sends goes out, and the peer reads it. */
static void flush(struct fz *f)
{
	nip_stack_flush(f->s);
	drain(&f->peer, f);
}

/* ---- the peer sends ---- */

static uint32_t plen_of(struct fz *f, uint8_t op)
{
	switch (op >> 5) {
	case 0:
	case 1:
		return 0;
	case 2:
		return 1;
	case 3:
		return fuzz_rd8(&f->prog);
	case 4:
		return 8u * fuzz_rd8(&f->prog);
	case 5:
		return 64u * fuzz_rd8(&f->prog);
	case 6:
		return f->mss;
	default:
		return 1 + 4u * fuzz_rd8(&f->prog);
	}
}

static void flow_default(struct fz *f, int i)
{
	struct flow *fl = &f->flow[i];

	if (fl->used)
		return;
	memset(fl, 0, sizeof(*fl));
	fl->used = true;
	fl->pport = (uint16_t)(PEER_PORT + i);
	fl->sport = PORT;
	fl->peer_nxt = 1000000u * (uint32_t)(i + 1);
}

/* The peer's payload: each byte the low bits of its sequence number. */
static uint8_t seq_byte(uint32_t seq, const void *ctx)
{
	(void)ctx;
	return (uint8_t)seq;
}

static void inject(struct fz *f, uint8_t op)
{
	static const uint8_t kind_flags[7] = {
		NIP_TCP_SYN, NIP_TCP_SYN | NIP_TCP_ACK, NIP_TCP_ACK, NIP_TCP_ACK,
		NIP_TCP_ACK, NIP_TCP_FIN | NIP_TCP_ACK, NIP_TCP_RST};
	uint8_t kind = op & 15, flags, m, extra = 0, rawlen = 0, raw[40];
	struct tcp_peer_seg sg = {.fill = seq_byte};
	struct nip_tcp_seg h;
	struct flow *fl;
	int fi, rc;

	if (kind == 7)
		flags = fuzz_rd8(&f->prog);
	else
		flags = kind_flags[kind];
	if ((kind >= 2 && kind <= 4 && (op & 0x10)))
		flags |= NIP_TCP_PSH;
	if (kind == 6 && (op & 0x10))
		flags |= NIP_TCP_ACK;
	sg.len = plen_of(f, op);
	m = fuzz_rd8(&f->prog);
	memset(&h, 0, sizeof(h));
	h.flags = flags;
	h.win = 65535;

	/* The flow first: sequence numbers are relative to it. */
	if (m & 0x80)
		extra = fuzz_rd8(&f->prog);
	fi = (m & 0x80) ? (extra & 7) : f->cur;
	if (fi >= 4 && !f->flow[fi].used)
		fi &= 3;
	flow_default(f, fi);
	f->cur = fi;
	fl = &f->flow[fi];
	h.sport = fl->pport;
	h.dport = fl->sport;

	switch (m & 3) {
	case 0:
		h.seq = fl->peer_nxt;
		break;
	case 1:
		h.seq = fl->st_seen ? fl->st_ack : fl->peer_nxt;
		break;
	case 2:
		h.seq = fuzz_rd32(&f->prog);
		break;
	default:
		h.seq = fl->peer_nxt + (uint32_t)(int32_t)(int16_t)fuzz_rd16(&f->prog);
		break;
	}
	switch ((m >> 2) & 3) {
	case 0:
		h.ack = fl->st_max;
		break;
	case 1:
		h.ack = fl->st_last_seq;
		break;
	case 2:
		h.ack = fuzz_rd32(&f->prog);
		break;
	default:
		h.ack = fl->st_max + (uint32_t)(int32_t)(int16_t)fuzz_rd16(&f->prog);
		break;
	}
	if (!(flags & NIP_TCP_ACK) && ((m >> 2) & 3) != 2)
		h.ack = 0;
	if (m & 0x10)
		h.win = fuzz_rd16(&f->prog);
	if (m & 0x20) {
		uint8_t o = fuzz_rd8(&f->prog);

		if (o & 1) {
			h.opt.has_mss = true;
			h.opt.mss = fuzz_rd16(&f->prog);
		}
		if (o & 2) {
			h.opt.has_wscale = true;
			h.opt.wscale = o >> 4;
		}
		if (o & 8) {
			h.opt.has_ts = true;
			h.opt.tsval = (uint32_t)(f->peer.now / MS) + 77;
			h.opt.tsecr = (flags & NIP_TCP_ACK) ? fl->st_tsval : 0;
		}
		if ((o & 4) && (flags & NIP_TCP_SYN)) {
			h.opt.sack_ok = true;
		} else if (o & 4) {
			uint8_t nb = (uint8_t)(1 + ((o >> 4) % 3));
			uint32_t base = fl->st_max - 4u * f->mss;

			for (uint8_t k = 0; k < nb; k++) {
				uint32_t st = base + (uint32_t)fuzz_rd8(&f->prog) * 64u;

				h.opt.sack[k].start = st;
				h.opt.sack[k].end = st + (uint32_t)fuzz_rd8(&f->prog) * 64u;
			}
			h.opt.nsack = nb;
		}
	}
	if (m & 0x40) {
		rawlen = fuzz_rd8(&f->prog) % 41;
		for (uint8_t k = 0; k < rawlen; k++)
			raw[k] = fuzz_rd8(&f->prog);
		while (rawlen % 4)
			raw[rawlen++] = NIP_TCPOPT_EOL;
		memset(&h.opt, 0, sizeof(h.opt));
	}
	if (extra & 0x80) {
		h.flags |= NIP_TCP_URG;
		h.urg = (uint16_t)(sg.len / 2);
	}
	sg.h = h;
	sg.raw_opt = raw;
	sg.raw_opt_len = rawlen;
	if ((extra & 0x60) == 0x60) {
		sg.doff_set = true;
		sg.doff = fuzz_rd8(&f->prog) & 15;
	}
	sg.bad_csum = (extra & 0x18) == 0x18;
	rc = tcp_peer_inject(&f->peer, &sg);
	FUZZ_CHECK(rc == 0 || rc == -ENOBUFS); /* the wire may be full, the pool may not */
	fl->peer_nxt = h.seq + sg.len + !!(flags & NIP_TCP_SYN) + !!(flags & NIP_TCP_FIN);
}

/* ---- the user's side ---- */

static int free_slot(const struct fz *f)
{
	for (int i = 0; i < NSLOTS; i++)
		if (!f->slot[i])
			return i;
	return -1;
}

static void user_open(struct fz *f, uint8_t op)
{
	struct nip_tcp_conn *c;
	int i;

	if (!(op & 0x10)) {
		if (f->listener) {
			nip_tcp_close(f->listener);
			f->listener = NULL;
			return;
		}
		c = nip_tcp_create(f->s, on_event, NULL);
		FUZZ_CHECK(c);
		if (nip_tcp_bind(c, 0, PORT, false) < 0 || nip_tcp_listen(c, op >> 5) < 0) {
			nip_tcp_close(c);
			return;
		}
		f->listener = c;
		return;
	}
	if ((i = free_slot(f)) < 0)
		return;
	c = nip_tcp_create(f->s, on_event, NULL);
	FUZZ_CHECK(c);
	f->slot[i] = c;
	if (op & 0x80)
		(void)nip_tcp_bind(c, 0, PORT_BOUND, false);
	(void)nip_tcp_connect(c, htonl(TCP_PEER_IP_PEER), (uint16_t)(PEER_PORT + ((op >> 5) & 3)));
	flush(f);
}

static void user_send(struct fz *f, uint8_t op)
{
	struct nip_tcp_conn *c = f->slot[(op >> 4) & 7];
	uint32_t len = (op & 0x80) ? 1 : 97u * fuzz_rd8(&f->prog);
	struct demi__buf *b;

	if (!c)
		return;
	b = demi__pool_get(&pool, len);
	FUZZ_CHECK(b);
	for (uint32_t k = 0; k < len; k++)
		demi__buf_data(b)[k] = (uint8_t)k;
	if (nip_tcp_send(c, b, demi__buf_data(b), len) < 0)
		demi__buf_put(b);
	flush(f);
}

static void user_recv(struct fz *f, uint8_t op)
{
	struct nip_tcp_conn *c = f->slot[(op >> 4) & 7];
	struct demi__buf *b;
	int st;

	if (!c)
		return;
	while ((b = nip_tcp_recv(c, &st))) {
		demi__buf_put(b);
		if (op & 0x80)
			break;
	}
	FUZZ_CHECK(st <= 1);
	flush(f);
}

static void user_close(struct fz *f, int i)
{
	if (!f->slot[i])
		return;
	nip_tcp_close(f->slot[i]);
	f->slot[i] = NULL;
}

static void user_misc(struct fz *f, uint8_t op)
{
	int i = (op >> 4) & 7, v, j;
	struct nip_tcp_conn *c = f->slot[i], *a;
	struct linger lg = {0};
	uint8_t what;

	if (op & 0x80) {
		user_close(f, i);
		goto out;
	}
	what = fuzz_rd8(&f->prog) & 15;
	if (what < 4) {
		while (f->listener && (j = free_slot(f)) >= 0 &&
		       (a = nip_tcp_accept(f->listener))) {
			nip_tcp_set_cb(a, on_event, NULL);
			f->slot[j] = a;
		}
		goto out;
	}
	if (what < 8) {
		user_close(f, i);
		goto out;
	}
	if (!c)
		return;
	v = what & 1;
	switch ((what - 8) / 2) {
	case 0:
		lg.l_onoff = v;
		(void)nip_tcp_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		break;
	case 1:
		(void)nip_tcp_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
		break;
	case 2:
		(void)nip_tcp_setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v));
		break;
	default:
		v = 2048;
		(void)nip_tcp_setsockopt(c, SOL_SOCKET, (what & 1) ? SO_SNDBUF : SO_RCVBUF, &v,
					 sizeof(v));
		break;
	}
out:
	flush(f);
}

/* ---- checks ---- */

/* What every connection the user holds must satisfy between steps. */
static void check_conn(const struct nip_tcp_conn *c)
{
	const struct nip_tcp_chunk *k;
	const struct demi__buf *b;
	uint64_t sq = 0, rq = 0;

	for (k = c->sq_head; k; k = k->next)
		sq += k->len;
	FUZZ_CHECK(sq == c->sq_bytes);
	for (b = c->rq.head; b; b = b->next)
		rq += b->len;
	FUZZ_CHECK(rq == c->rq_bytes);
	if (c->state == NIP_TCP_CLOSED || c->state == NIP_TCP_LISTEN)
		return;
	FUZZ_CHECK(nip_seq_leq(c->snd_una, c->snd_nxt));
	FUZZ_CHECK(nip_seq_leq(c->snd_nxt, c->snd_max));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nip_stack_config cfg;
	struct fz *f = &fz;
	uint8_t c0, c1;
	int steps = 0;

	if (!pool_ready) {
		FUZZ_CHECK(demi__pool_init(&pool, 0) == 0);
		pool_ready = true;
	}
	memset(f, 0, sizeof(*f));
	f->prog.p = data;
	f->prog.n = size;
	c0 = fuzz_rd8(&f->prog);
	c1 = fuzz_rd8(&f->prog);

	nip_stack_config_default(&cfg);
	memset(cfg.tcp.isn_secret, 0x5c, sizeof(cfg.tcp.isn_secret));
	cfg.tcp.sack = c0 & 1;
	cfg.tcp.wscale = c0 & 2;
	cfg.tcp.timestamps = c0 & 4;
	cfg.tcp.delack = (c0 & 8) ? 20 * MS : 0;
	cfg.tcp.cc = (c0 & 16) ? &nip_cc_cubic : &nip_cc_newreno;
	if (c0 & 32)
		cfg.tcp.rcvbuf = cfg.tcp.sndbuf = 4096;
	cfg.tcp.nodelay = c0 & 64;
	cfg.tcp.syn_backlog = 1 + (c1 & 3);
	cfg.tcp.challenge_ack_per_s = ((const uint32_t[]){1, 2, 10, 1000})[(c1 >> 2) & 3];
	/* Short timers, so that the end of a program sees them all run out. */
	cfg.tcp.rto_max = 8 * SEC;
	cfg.tcp.max_retries = 5;
	cfg.tcp.syn_retries = 3;
	cfg.tcp.msl = 1 * SEC;
	cfg.tcp.keepalive_idle = 10 * SEC;
	cfg.tcp.keepalive_intvl = 1 * SEC;
	cfg.tcp.keepalive_probes = 3;

	/* The clock starts at 1 s. */
	FUZZ_CHECK(tcp_peer_init(&f->peer, &pool, &cfg, (c0 & 128) ? 576 : 1500) == 0);
	f->peer.after_poll = drain;
	f->peer.ctx = f;
	f->s = &f->peer.s;
	f->mss = (uint16_t)(f->peer.wire.end[0].link.mtu - 40);

	while (fuzz_prog_more(&f->prog) && steps++ < MAX_STEPS) {
		uint8_t op = fuzz_rd8(&f->prog);

		switch (op & 15) {
		case 8:
			clock_to(f, f->peer.now + (uint64_t)fuzz_rd8(&f->prog) * 100000ull);
			break;
		case 9:
			clock_to(f, f->peer.now + (uint64_t)fuzz_rd8(&f->prog) * 50 * MS);
			break;
		case 10:
			clock_to(f, f->peer.now + (uint64_t)fuzz_rd8(&f->prog) * SEC *
							  (1 + 15 * (op >> 7)));
			break;
		case 11:
			if (nip_stack_next_deadline(f->s) != UINT64_MAX)
				clock_to(f, nip_stack_next_deadline(f->s));
			break;
		case 12:
			user_open(f, op);
			break;
		case 13:
			user_send(f, op);
			break;
		case 14:
			user_recv(f, op);
			break;
		case 15:
			user_misc(f, op);
			break;
		default:
			inject(f, op);
			break;
		}
		for (int i = 0; i < NSLOTS; i++)
			if (f->slot[i])
				check_conn(f->slot[i]);
	}

	/* The end: close everything, let every timer run out. */
	if (f->listener)
		nip_tcp_close(f->listener);
	for (int i = 0; i < NSLOTS; i++)
		user_close(f, i);
	flush(f);
	FUZZ_CHECK(tcp_peer_run_out(&f->peer, END_TIME, FIRINGS_MAX) == 0);
	if (f->s->tcp.nconns) {
		int owing, closing;

		nip_tcp_orphans(f->s, &owing, &closing);
		fprintf(stderr,
			"fuzz-tcp-conn: %u connection(s) left (orphans owing data or FIN: %d, in "
			"FIN-WAIT-2: %d), next deadline %llu ns\n",
			f->s->tcp.nconns, owing, closing,
			(unsigned long long)nip_stack_next_deadline(f->s));
	}
	FUZZ_CHECK(f->s->tcp.nconns == 0);
	tcp_peer_fini(&f->peer);
	FUZZ_CHECK(pool.stats.bufs_in_use == 0);
	return 0;
}
