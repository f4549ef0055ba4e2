/* SPDX-License-Identifier: MIT */
/*
 * kv-load: a load generator for key-value servers (Redis's RESP, memcached's text protocol) on
 * the demi_* API, so the same client runs on every libOS and drives the ported servers and the
 * stock ones alike (over catnap, stock servers are ordinary kernel sockets). --proto echo
 * drives a TCP echo server (examples/tcp-echo) with requests of --value-size bytes, each echo
 * checked byte for byte: the floor of a key-value server's latency, measured by the same client
 * doing the same work per request (tests/bench/redis.sh and memcached.sh compare the two).
 *
 * --connections queues from one thread, each keeping --pipeline requests in flight: every
 * reply is matched to the oldest request of its connection (every protocol answers in order),
 * checked, timed from its push to the pop that brought it, and replaced by a new request. The
 * requests a pop frees go out together in one push. Keys are drawn uniformly from --keys; a
 * key's value is a pattern of --value-size bytes seeded by the key, so every GET reply is
 * checked byte for byte whoever wrote the key last. With --populate every key is SET first;
 * with --strict (implied) a GET that misses is an error.
 *
 * Phases: populate, --warmup untimed requests, then the measured requests: --requests of them
 * and, with --min-duration-ms, as many more as that time takes (so a fast server is measured
 * in its steady state, not in its start), or --duration-ms alone.
 *
 * The client must never be the benchmark's ceiling, so its own per-request work is kept
 * small: requests are drawn straight into their connection's ring and written without
 * snprintf, replies are parsed in the popped buffer (bytes are copied only when a reply spans
 * two pops), and the clock is read twice per push-pop pair (stamping the push, timing the
 * pop), not per request or per completion. The report gives the libOS's idle polls during the
 * measurement (wait_spin_polls: passes that found nothing to do): a client waiting on its
 * server polls idle many times per request, one that is the bottleneck hardly ever.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <demi/stats.h>

#include "demi-common.h"
#include "kv-proto.h"

#define TICK_NS (100 * EX_NS_PER_MS)
/* Requests written into one push: bounded so a deep pipeline of large values stays sane. */
#define PUSH_MAX_BYTES (1u << 20)
/* Latency samples kept (a reservoir beyond that): 64 MiB. */
#define SAMPLES_MAX (8u << 20)

static const char usage[] =
	"usage: kv-load --server ADDR:PORT [options]\n"
	"  --proto resp|memcache|echo  protocol (default resp; echo: requests of --value-size\n"
	"                          bytes to a TCP echo server, no keys)\n"
	"  --connections N         concurrent connections (default 1)\n"
	"  --pipeline D            requests in flight per connection (default 1)\n"
	"  --ratio SET:GET         mix of requests (default 1:10; 1:0 only SETs, 0:1 only GETs)\n"
	"  --value-size B          bytes per value (default 64, up to 64m)\n"
	"  --keys K                key space (default 100000)\n"
	"  --requests N            requests in total (default 100000) ...\n"
	"  --duration-ms T         ... or for this long instead\n"
	"  --min-duration-ms T     measure --requests and for at least T ms\n"
	"  --warmup N              untimed requests first (default 0)\n"
	"  --populate              SET every key before measuring (implies --strict)\n"
	"  --strict                a GET that misses is an error\n"
	"  --seed S                key sequence seed (default 1)\n"
	"  --timeout-ms T          fail when no reply arrives for T ms (default 10000)\n";

struct opts {
	struct sockaddr_in addr;
	enum kv_proto proto;
	uint64_t conns, pipeline, sets, gets, vsize, keys, requests, duration_ms, warmup, seed;
	uint64_t min_duration_ms;
	uint64_t timeout_ms;
	bool populate, strict;
};

/* A request in flight. */
struct req {
	uint64_t t_ns;
	uint64_t key;
	enum kv_op op;
};

enum { TOK_POP, TOK_PUSH };

struct conn {
	int qd;
	uint32_t id;
	bool open, popping;
	struct req *fifo; /* --pipeline slots */
	uint32_t head, n;
	uint8_t *rx; /* received bytes not yet parsed into replies */
	size_t rx_len, rx_cap;
};

enum phase { PHASE_POPULATE, PHASE_WARMUP, PHASE_MEASURE };

struct run {
	const struct opts *o;
	struct ex_tokset set;
	struct conn *conns;
	enum phase phase;
	uint64_t next_key;	   /* PHASE_POPULATE: next key to SET */
	uint64_t issued, answered; /* in this phase */
	uint64_t budget;	   /* requests to issue in this phase (UINT64_MAX: until t_end) */
	uint64_t t_end_ns;	   /* duration mode: stop issuing then */
	uint64_t t_min_end_ns;	   /* --min-duration-ms: go on past budget until then */
	uint64_t now_ns; /* the clock at the last event (a pop, a wait's tick): time bounds are
			  * checked against it, so they cost no clock read of their own */
	uint64_t rng;	 /* xorshift64* state */
	uint64_t last_progress_ns;
	uint64_t errors, misses, gets, sets;
	uint64_t *samples;
	uint64_t nsamples, seen; /* kept, and offered to the reservoir */
};

static uint64_t rng_next(struct run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545F4914F6CDD1DULL;
}

/* The value of key k: the example pattern seeded by the key, so any writer writes the same. */
static void fill_value(uint8_t *v, size_t len, uint64_t key)
{
	ex_pattern_fill(v, len, key + 1, 0);
}

/* Whether the phase issues more requests. */
static bool can_issue(struct run *r)
{
	if (ex_stop)
		return false;
	if (r->t_end_ns)
		return r->now_ns < r->t_end_ns;
	if (r->issued < r->budget)
		return true;
	return r->t_min_end_ns && r->now_ns < r->t_min_end_ns;
}

static void next_req(struct run *r, struct req *q)
{
	if (r->phase == PHASE_POPULATE) {
		q->op = KV_SET;
		q->key = r->next_key++;
		return;
	}
	if (r->o->proto == KV_ECHO) {
		q->op = KV_GET;
		q->key = rng_next(r); /* seeds the request's bytes: each echo is told apart */
		return;
	}
	q->key = rng_next(r) % r->o->keys;
	q->op = rng_next(r) % (r->o->sets + r->o->gets) < r->o->sets ? KV_SET : KV_GET;
}

static void conn_fail(struct run *r, struct conn *c, const char *what)
{
	if (!c->open)
		return;
	fprintf(stderr, "%s: connection %u: %s\n", ex_prog, c->id, what);
	r->errors++;
	c->open = false;
	/* The requests it had in flight will never be answered: count them as answered. */
	r->answered += c->n;
	c->n = 0;
	demi_close(c->qd); /* cancels its pop and pushes; their tokens complete as failed */
}

static struct req *slot(struct run *r, struct conn *c, uint32_t i)
{
	return &c->fifo[(c->head + i) % r->o->pipeline];
}

/*
 * Fills c's pipeline: the new requests are drawn into their slots of c's ring and leave in
 * pushes of up to PUSH_MAX_BYTES. A time-bound phase checks its bound once per push.
 */
static void refill(struct run *r, struct conn *c)
{
	const struct opts *o = r->o;

	while (c->open && c->n < o->pipeline && can_issue(r)) {
		bool timed = r->t_end_ns || r->t_min_end_ns;
		size_t len = 0;
		uint32_t nb = 0;

		while (c->n + nb < o->pipeline && (nb == 0 || timed || r->issued < r->budget)) {
			struct req *q = slot(r, c, c->n + nb);
			size_t l;

			next_req(r, q);
			l = kv_req_len(o->proto, q->op, o->vsize);
			if (nb && len + l > PUSH_MAX_BYTES) {
				/* Put it back: the next push takes it (populate order or a fresh
				 * draw). */
				if (r->phase == PHASE_POPULATE)
					r->next_key--;
				break;
			}
			len += l;
			nb++;
			r->issued++;
		}
		demi_sgarray_t sga = demi_sgaalloc(len);
		if (sga.sga_numsegs == 0) {
			ex_err("demi_sgaalloc", ENOMEM);
			r->issued -= nb;
			conn_fail(r, c, "out of buffers");
			return;
		}
		uint8_t *p = sga.sga_segs[0].sgaseg_buf;
		for (uint32_t i = 0; i < nb; i++) {
			struct req *q = slot(r, c, c->n + i);
			char key[KV_KEY_LEN];
			uint8_t *val = NULL;

			if (o->proto != KV_ECHO)
				kv_key(key, q->key);
			p += kv_req_write(o->proto, q->op, key, o->vsize, p, &val);
			if (val)
				fill_value(val, o->vsize, q->key);
		}
		/* Stamped once the requests are written: as tcp-pingpong, the interval is the
		 * push to the pop that brings the reply. */
		uint64_t now = ex_now_ns();
		for (uint32_t i = 0; i < nb; i++)
			slot(r, c, c->n + i)->t_ns = now;
		c->n += nb;
		int ret = ex_tokset_push(&r->set, c->qd, &sga, c, TOK_PUSH);
		ex_sga_free(&sga); /* the push holds its own reference */
		if (ret != 0) {
			conn_fail(r, c, "push failed");
			return;
		}
	}
}

static void record(struct run *r, uint64_t ns)
{
	if (r->phase != PHASE_MEASURE)
		return;
	r->seen++;
	if (r->nsamples < SAMPLES_MAX) {
		r->samples[r->nsamples++] = ns;
		return;
	}
	uint64_t j = rng_next(r) % r->seen; /* reservoir: every sample kept with equal chance */
	if (j < SAMPLES_MAX)
		r->samples[j] = ns;
}

/* Checks one reply against the request it answers. */
static bool check_reply(struct run *r, struct conn *c, const struct req *q,
			const struct kv_reply *rep)
{
	char key[KV_KEY_LEN], what[160];
	const struct opts *o = r->o;

	if (rep->kind == KV_REPLY_ERROR) {
		snprintf(what, sizeof(what), "server error: %.*s",
			 (int)(rep->vlen > 100 ? 100 : rep->vlen), (const char *)rep->value);
		conn_fail(r, c, what);
		return false;
	}
	if (q->op == KV_SET && o->proto != KV_ECHO)
		return true; /* the parser accepted only the stored answer */
	if (rep->kind == KV_REPLY_MISS) {
		r->misses++;
		if (o->strict) {
			conn_fail(r, c, "GET missed a populated key");
			return false;
		}
		return true;
	}
	size_t bad = rep->vlen == o->vsize ? ex_pattern_check(rep->value, rep->vlen, q->key + 1, 0)
					   : rep->vlen;
	/* The key is spelled out only when something is to be compared with it or reported (a
	 * memcache VALUE names it; RESP and echo replies do not): a good reply costs no digits. */
	if (!rep->key && bad == o->vsize)
		return true;
	if (o->proto == KV_ECHO)
		memcpy(key, "echo            ", KV_KEY_LEN); /* for the messages below */
	else
		kv_key(key, q->key);
	if (rep->key && (rep->klen != KV_KEY_LEN || memcmp(rep->key, key, KV_KEY_LEN) != 0)) {
		conn_fail(r, c, "GET answered for another key");
		return false;
	}
	if (rep->vlen != o->vsize) {
		snprintf(what, sizeof(what), "GET %.*s: %zu bytes, expected %" PRIu64, KV_KEY_LEN,
			 key, rep->vlen, o->vsize);
		conn_fail(r, c, what);
		return false;
	}
	if (bad != rep->vlen) {
		snprintf(what, sizeof(what), "GET %.*s: value differs at byte %zu", KV_KEY_LEN, key,
			 bad);
		conn_fail(r, c, what);
		return false;
	}
	return true;
}

/*
 * Matches the complete replies in buf[0..len) to c's oldest requests, all of them received at
 * now. Returns the bytes taken, or -1 when c failed.
 */
static long parse_replies(struct run *r, struct conn *c, const uint8_t *buf, size_t len,
			  uint64_t now)
{
	const struct opts *o = r->o;
	size_t off = 0;

	while (c->open && c->n > 0) {
		struct req *q = &c->fifo[c->head];
		struct kv_reply rep;
		long took =
			o->proto == KV_ECHO
				? kv_echo_parse(buf + off, len - off, o->vsize, &rep, NULL)
				: kv_reply_parse(o->proto, q->op, buf + off, len - off, &rep, NULL);
		if (took == 0)
			break;
		if (took < 0) {
			conn_fail(r, c, "malformed reply");
			return -1;
		}
		off += (size_t)took;
		if (!check_reply(r, c, q, &rep))
			return -1;
		record(r, now - q->t_ns);
		if (q->op == KV_GET)
			r->gets++;
		else
			r->sets++;
		c->head = (c->head + 1) % (uint32_t)o->pipeline;
		c->n--;
		r->answered++;
	}
	if (c->open && c->n == 0 && off < len) {
		conn_fail(r, c, "bytes beyond the last reply");
		return -1;
	}
	return (long)off;
}

/* Appends len bytes to c->rx (the part of a reply that has not fully arrived). */
static int rx_append(struct conn *c, const uint8_t *p, size_t len)
{
	if (len == 0)
		return 0; /* nothing held yet may mean no buffer yet: no memcpy to NULL */
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		while (cap < c->rx_len + len)
			cap *= 2;
		uint8_t *n = realloc(c->rx, cap);
		if (!n)
			return ENOMEM;
		c->rx = n;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, p, len);
	c->rx_len += len;
	return 0;
}

/*
 * Parses what a pop brought. The common case, no partial reply held and one segment, is
 * parsed in the popped buffer; only an incomplete reply's bytes are kept in c->rx.
 */
static int take_bytes(struct run *r, struct conn *c, const demi_sgarray_t *sga, uint64_t now)
{
	const demi_sgaseg_t *seg = sga->sga_segs;
	long took;

	if (c->rx_len == 0 && sga->sga_numsegs == 1) {
		took = parse_replies(r, c, seg->sgaseg_buf, seg->sgaseg_len, now);
		if (took < 0)
			return 0;
		return rx_append(c, (const uint8_t *)seg->sgaseg_buf + took,
				 seg->sgaseg_len - (size_t)took);
	}
	for (uint32_t i = 0; i < sga->sga_numsegs; i++)
		if (rx_append(c, sga->sga_segs[i].sgaseg_buf, sga->sga_segs[i].sgaseg_len))
			return ENOMEM;
	took = parse_replies(r, c, c->rx, c->rx_len, now);
	if (took > 0) {
		memmove(c->rx, c->rx + took, c->rx_len - (size_t)took);
		c->rx_len -= (size_t)took;
	}
	return 0;
}

static void on_pop(struct run *r, struct conn *c, demi_qresult_t *qr)
{
	c->popping = false;
	if (qr->qr_opcode == DEMI_OPC_FAILED) {
		if (c->open)
			fprintf(stderr, "%s: connection %u: pop: %s\n", ex_prog, c->id,
				strerror((int)qr->qr_ret));
		conn_fail(r, c, "pop failed");
		return;
	}
	if (ex_sga_len(&qr->qr_value.sga) == 0) {
		ex_sga_free(&qr->qr_value.sga);
		if (c->n)
			conn_fail(r, c, "server closed the connection");
		return;
	}
	uint64_t now = ex_now_ns();
	int ret = c->open ? take_bytes(r, c, &qr->qr_value.sga, now) : 0;
	ex_sga_free(&qr->qr_value.sga);
	if (ret) {
		conn_fail(r, c, "out of memory");
		return;
	}
	if (!c->open)
		return;
	r->last_progress_ns = r->now_ns = now;
	refill(r, c);
}

/* Keeps one pop outstanding on every connection with requests in flight. */
static void arm_pop(struct run *r, struct conn *c)
{
	if (!c->open || c->popping || c->n == 0)
		return;
	if (ex_tokset_pop(&r->set, c->qd, c, TOK_POP) != 0) {
		conn_fail(r, c, "pop failed");
		return;
	}
	c->popping = true;
}

/* Runs one phase: issue budget requests (or until t_end) and wait for every answer. */
static int run_phase(struct run *r, enum phase ph, uint64_t budget, uint64_t t_end_ns,
		     uint64_t t_min_end_ns)
{
	const struct opts *o = r->o;

	r->phase = ph;
	r->issued = r->answered = 0;
	r->budget = budget;
	r->t_end_ns = t_end_ns;
	r->t_min_end_ns = t_min_end_ns;
	r->last_progress_ns = r->now_ns = ex_now_ns();
	for (uint64_t i = 0; i < o->conns; i++) {
		refill(r, &r->conns[i]);
		arm_pop(r, &r->conns[i]);
	}
	while (r->answered < r->issued || (can_issue(r) && r->set.n > 0)) {
		struct timespec ts = ex_timespec(TICK_NS);
		demi_qresult_t qr;
		struct ex_tok tok;

		if (r->set.n == 0)
			break; /* every connection failed */
		int ret = ex_tokset_wait(&r->set, &qr, &tok, &ts);
		if (ret == ETIMEDOUT) {
			uint64_t now = r->now_ns = ex_now_ns();

			if (ex_stop && r->answered < r->issued) {
				fprintf(stderr, "%s: interrupted\n", ex_prog);
				return 1;
			}
			if (now - r->last_progress_ns > o->timeout_ms * EX_NS_PER_MS) {
				fprintf(stderr,
					"%s: no reply for %" PRIu64 " ms (%" PRIu64 " of %" PRIu64
					" answered)\n",
					ex_prog, o->timeout_ms, r->answered, r->issued);
				return 1;
			}
			/* Duration mode: connections idle at the deadline still need their turn. */
			for (uint64_t i = 0; i < o->conns; i++) {
				refill(r, &r->conns[i]);
				arm_pop(r, &r->conns[i]);
			}
			continue;
		}
		if (ret != 0) {
			ex_err("demi_wait_next_n", ret);
			return 1;
		}
		struct conn *c = tok.owner;
		if (tok.kind == TOK_PUSH) {
			if (qr.qr_opcode == DEMI_OPC_FAILED && c->open) {
				fprintf(stderr, "%s: connection %u: push: %s\n", ex_prog, c->id,
					strerror((int)qr.qr_ret));
				conn_fail(r, c, "push failed");
			}
			continue;
		}
		on_pop(r, c, &qr);
		arm_pop(r, c);
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"proto", required_argument, NULL, 'P'},
		{"connections", required_argument, NULL, 'c'},
		{"pipeline", required_argument, NULL, 'p'},
		{"ratio", required_argument, NULL, 'r'},
		{"value-size", required_argument, NULL, 'v'},
		{"keys", required_argument, NULL, 'k'},
		{"requests", required_argument, NULL, 'n'},
		{"duration-ms", required_argument, NULL, 'd'},
		{"min-duration-ms", required_argument, NULL, 'm'},
		{"warmup", required_argument, NULL, 'w'},
		{"populate", no_argument, NULL, 'f'},
		{"strict", no_argument, NULL, 'x'},
		{"seed", required_argument, NULL, 'S'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool have_server = false;
	int ch;

	*o = (struct opts){.proto = KV_RESP,
			   .conns = 1,
			   .pipeline = 1,
			   .sets = 1,
			   .gets = 10,
			   .vsize = 64,
			   .keys = 100000,
			   .requests = 100000,
			   .seed = 1,
			   .timeout_ms = 10000};
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case 's':
			bad = ex_parse_addr(optarg, &o->addr)
				      ? ex_bad_arg(ex_prog, "--server", optarg, "ADDR:PORT")
				      : 0;
			have_server = true;
			break;
		case 'P':
			if (strcmp(optarg, "resp") == 0)
				o->proto = KV_RESP;
			else if (strcmp(optarg, "memcache") == 0)
				o->proto = KV_MEMCACHE;
			else if (strcmp(optarg, "echo") == 0)
				o->proto = KV_ECHO;
			else
				bad = ex_bad_arg(ex_prog, "--proto", optarg,
						 "resp, memcache or echo");
			break;
		case 'c':
			bad = ex_parse_u64(optarg, 1, 100000, &o->conns)
				      ? ex_bad_arg(ex_prog, "--connections", optarg, "1..100000")
				      : 0;
			break;
		case 'p':
			bad = ex_parse_u64(optarg, 1, 4096, &o->pipeline)
				      ? ex_bad_arg(ex_prog, "--pipeline", optarg, "1..4096")
				      : 0;
			break;
		case 'r': {
			unsigned long long s, g;
			char tail;
			if (sscanf(optarg, "%llu:%llu%c", &s, &g, &tail) != 2 || s + g == 0 ||
			    s > 1000000 || g > 1000000)
				bad = ex_bad_arg(ex_prog, "--ratio", optarg, "SET:GET, e.g. 1:10");
			o->sets = s;
			o->gets = g;
			break;
		}
		case 'v':
			bad = ex_parse_u64(optarg, 1, 64ULL << 20, &o->vsize)
				      ? ex_bad_arg(ex_prog, "--value-size", optarg, "1..64m")
				      : 0;
			break;
		case 'k':
			bad = ex_parse_u64(optarg, 1, 100000000000ULL, &o->keys)
				      ? ex_bad_arg(ex_prog, "--keys", optarg, "1..10^11")
				      : 0;
			break;
		case 'n':
			bad = ex_parse_u64(optarg, 1, UINT32_MAX * 16ULL, &o->requests)
				      ? ex_bad_arg(ex_prog, "--requests", optarg, "a count")
				      : 0;
			break;
		case 'd':
			bad = ex_parse_u64(optarg, 1, 3600000, &o->duration_ms)
				      ? ex_bad_arg(ex_prog, "--duration-ms", optarg, "1..3600000")
				      : 0;
			break;
		case 'm':
			bad = ex_parse_u64(optarg, 1, 3600000, &o->min_duration_ms)
				      ? ex_bad_arg(ex_prog, "--min-duration-ms", optarg,
						   "1..3600000")
				      : 0;
			break;
		case 'w':
			bad = ex_parse_u64(optarg, 0, UINT32_MAX, &o->warmup)
				      ? ex_bad_arg(ex_prog, "--warmup", optarg, "a count")
				      : 0;
			break;
		case 'f':
			o->populate = o->strict = true;
			break;
		case 'x':
			o->strict = true;
			break;
		case 'S':
			bad = ex_parse_u64(optarg, 0, UINT64_MAX, &o->seed)
				      ? ex_bad_arg(ex_prog, "--seed", optarg, "a number")
				      : 0;
			break;
		case 't':
			bad = ex_parse_u64(optarg, 1, 3600000, &o->timeout_ms)
				      ? ex_bad_arg(ex_prog, "--timeout-ms", optarg, "1..3600000")
				      : 0;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			bad = 2;
		}
		if (bad) {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc || !have_server) {
		fprintf(stderr, "%s: %s\n", ex_prog,
			optind < argc ? "unexpected argument" : "--server is required");
		fputs(usage, stderr);
		return 2;
	}
	if (o->proto == KV_ECHO && o->populate) {
		fprintf(stderr, "%s: --populate: an echo server has no keys\n", ex_prog);
		return 2;
	}
	if (o->duration_ms && o->min_duration_ms) {
		fprintf(stderr, "%s: --duration-ms and --min-duration-ms exclude each other\n",
			ex_prog);
		return 2;
	}
	if (o->proto != KV_ECHO && o->gets && o->sets == 0 && !o->strict)
		fprintf(stderr, "%s: note: only GETs without --populate: misses are not errors\n",
			ex_prog);
	return -1;
}

/* The libOS's idle polls so far (0 when it has no such counter). */
static uint64_t idle_polls(void)
{
	uint64_t v = 0;

	return demi_stat("wait_spin_polls", &v) == 0 ? v : 0;
}

static void report(const struct run *r, uint64_t elapsed_ns, uint64_t polls)
{
	static const char *const names[] = {
		[KV_RESP] = "resp", [KV_MEMCACHE] = "memcache", [KV_ECHO] = "echo"};
	const struct opts *o = r->o;
	const char *proto = names[o->proto];
	uint64_t n = r->gets + r->sets;
	struct ex_latency lat = {0};
	double secs = (double)elapsed_ns / 1e9;
	double rps = secs > 0 ? (double)(r->gets + r->sets) / secs : 0;

	if (r->nsamples)
		ex_latency_compute(r->samples, r->nsamples, &lat);
	printf("kv-load: %s, %" PRIu64 " connections x pipeline %" PRIu64 ", SET:GET %" PRIu64
	       ":%" PRIu64 ", %" PRIu64 " B values, %" PRIu64 " keys\n",
	       proto, o->conns, o->pipeline, o->sets, o->gets, o->vsize, o->keys);
	printf("  %" PRIu64 " requests (%" PRIu64 " GET, %" PRIu64 " SET) in %.3f s: %.0f req/s;"
	       " %" PRIu64 " misses, %" PRIu64 " errors\n",
	       r->gets + r->sets, r->gets, r->sets, secs, rps, r->misses, r->errors);
	printf("  latency (us): p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", lat.p50,
	       lat.p99, lat.p999, lat.max, lat.mean);
	printf("  idle polls of the libOS while measuring: %" PRIu64 " (%.2f per request)\n", polls,
	       n ? (double)polls / (double)n : 0);
	printf("RESULT proto=%s conns=%" PRIu64 " pipeline=%" PRIu64 " size=%" PRIu64 " n=%" PRIu64
	       " rps=%.0f p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f mean_us=%.2f"
	       " misses=%" PRIu64 " errors=%" PRIu64 " idle_polls=%" PRIu64 " secs=%.3f\n",
	       proto, o->conns, o->pipeline, o->vsize, n, rps, lat.p50, lat.p99, lat.p999, lat.max,
	       lat.mean, r->misses, r->errors, polls, secs);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run r = {0};
	int rc = 1, ret;

	ex_prog = "kv-load";
	ret = parse_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	ex_signals_init();
	if (ex_demi_init() != 0)
		return 1;
	r.o = &o;
	r.rng = o.seed * 0x9E3779B97F4A7C15ULL + 1;
	r.conns = calloc(o.conns, sizeof(*r.conns));
	/* Untouched pages cost nothing: a time-bound run gets the whole reservoir. */
	uint64_t cap = o.duration_ms || o.min_duration_ms
			       ? SAMPLES_MAX
			       : (o.requests < SAMPLES_MAX ? o.requests : SAMPLES_MAX);
	r.samples = malloc(cap * sizeof(*r.samples));
	if (!r.conns || !r.samples) {
		ex_err("malloc", ENOMEM);
		goto out;
	}
	for (uint64_t i = 0; i < o.conns; i++) {
		struct conn *c = &r.conns[i];

		c->id = (uint32_t)i;
		c->fifo = calloc(o.pipeline, sizeof(*c->fifo));
		if (!c->fifo ||
		    ex_connect_wait(SOCK_STREAM, &o.addr, o.timeout_ms * EX_NS_PER_MS, &c->qd) != 0)
			goto out;
		c->open = true;
	}
	if (o.populate && run_phase(&r, PHASE_POPULATE, o.keys, 0, 0))
		goto out;
	if (o.warmup && run_phase(&r, PHASE_WARMUP, o.warmup, 0, 0))
		goto out;
	r.gets = r.sets = r.misses = 0;
	uint64_t polls0 = idle_polls();
	uint64_t t0 = ex_now_ns();
	if (run_phase(&r, PHASE_MEASURE, o.duration_ms ? UINT64_MAX : o.requests,
		      o.duration_ms ? t0 + o.duration_ms * EX_NS_PER_MS : 0,
		      o.min_duration_ms ? t0 + o.min_duration_ms * EX_NS_PER_MS : 0))
		goto out;
	uint64_t elapsed = ex_now_ns() - t0;
	report(&r, elapsed, idle_polls() - polls0);
	rc = r.errors == 0 && r.answered == r.issued && r.gets + r.sets == r.issued ? 0 : 1;
out:
	for (uint64_t i = 0; r.conns && i < o.conns; i++) {
		if (r.conns[i].open)
			demi_close(r.conns[i].qd);
		free(r.conns[i].fifo);
		free(r.conns[i].rx);
	}
	ex_tokset_fini(&r.set);
	free(r.conns);
	free(r.samples);
	return rc;
}
