/* SPDX-License-Identifier: MIT */
/*
 * catnip: the libOS on DPDK with our own stack. This file joins three things: the demi_*
 * operations (lib/libos.h), the stack (inet/, which knows no device) and the DPDK device
 * (dev/dpdk_link.c). The device is polled by a background task on every scheduler pass, with
 * the runtime's clock as the stack's time: catnip busy-polls, as kernel bypass does.
 *
 * UDP: bind, ephemeral ports, connect, push/pushto, pop with the sender, datagrams up to the
 * MTU. TCP (inet/tcp/): listen/accept, connect, push, pop, close; the stack tells this file
 * what changed through tcp_event, which finishes the waiting tasks. A TCP push completes once
 * its data is in the connection's send queue (which holds the pushed buffers themselves until
 * they are acknowledged: the application must not write into a pushed buffer again); it waits
 * while the send queue is full (SO_SNDBUF). A pop returns the next received segment's payload
 * in the very buffer it arrived in; end of stream is an empty array.
 *
 * Configuration (Demikernel's keys): demikernel.local_ipv4_addr (required),
 * inetstack_config.arp_table (MAC: IP pairs), inetstack_config.arp_request_retries,
 * inetstack_config.arp_request_timeout_ms, inetstack_config.arp_cache_ttl (seconds),
 * inetstack_config.udp_rx_queue_max; TCP: inetstack_config.tcp_congestion_control (newreno,
 * cubic), tcp_rcvbuf, tcp_rcvbuf_max, tcp_sndbuf, tcp_sndbuf_max, tcp_nodelay, tcp_sack,
 * tcp_window_scale, tcp_timestamps, tcp_delayed_ack_ms (0: ACK every segment), tcp_msl_ms,
 * tcp_rto_min_ms, tcp_rto_max_ms, tcp_retries, tcp_syn_retries, tcp_keepalive_idle_s,
 * tcp_keepalive_intvl_s, tcp_keepalive_probes, tcp_syn_backlog; the device's keys are in
 * dev/dpdk_link.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "dev/dpdk_link.h"
#include "libos.h"
#include "stack.h"
#include "tcp/tcp.h"
#include "udp.h"

struct nip_queue {
	struct demi__queue base;
	struct nip_udp_sock udp;
	struct nip_tcp_conn *tcp; /* SOCK_STREAM */
	bool reuseaddr;
	struct demi__list pops;	  /* pending pops, oldest first */
	struct demi__list pushes; /* UDP: waiting for ARP; TCP: waiting for send queue room */
	struct demi__list accepts;
	struct demi__list connects;
};

/* A TCP push's state in its task: the request and how many segments the stack took. */
struct tcp_push {
	struct demi__push_req req;
	uint32_t next;
};
_Static_assert(sizeof(struct tcp_push) <= DEMI__TASK_PRIV_BYTES, "push state fits the task");

struct nip_libos {
	struct nip_dpdk *dev;
	struct nip_stack stack;
	bool stack_up;
	struct demi__bg_task poller;
};

/* The libOS of this thread: the stack's send callbacks find their task through it. */
static _Thread_local struct demi__libos *tls_nip;

static struct nip_libos *nip_of(struct demi__libos *los)
{
	return los->priv;
}

static int poll_device(void *arg)
{
	struct demi__libos *los = arg;

	return nip_stack_poll(&nip_of(los)->stack, demi__pass_now(&los->rt));
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int add_arp_entry(void *arg, const char *mac_s, const char *ip_s)
{
	struct nip_stack *s = arg;
	uint8_t mac[6];
	struct in_addr ip;

	if (parse_mac(mac_s, mac) < 0 || inet_pton(AF_INET, ip_s, &ip) != 1) {
		DEMI_ERR("catnip: inetstack_config.arp_table: \"%s\": \"%s\" is not MAC: IPv4",
			 mac_s, ip_s);
		return -EINVAL;
	}
	return nip_arp_add_static(s, ip.s_addr, mac);
}

static int tcp_config(struct demi__config *cfg, struct nip_tcp_config *tc)
{
	static const char *const ccs[] = {"newreno", "cubic", NULL};
	uint64_t rcvbuf, rcvbuf_max, sndbuf, sndbuf_max, delack, msl, rto_min, rto_max, retries,
		syn_retries, ka_idle, ka_intvl, ka_probes, backlog;
	int cc, rc;

	if ((rc = demi__config_get_choice(cfg, "inetstack_config.tcp_congestion_control", ccs, 0,
					  &cc)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_rcvbuf", tc->rcvbuf, 4096,
				       1u << 30, &rcvbuf)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_rcvbuf_max", tc->rcvbuf_max, 0,
				       1u << 30, &rcvbuf_max)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_sndbuf", tc->sndbuf, 4096,
				       1u << 30, &sndbuf)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_sndbuf_max", tc->sndbuf_max, 0,
				       1u << 30, &sndbuf_max)) < 0 ||
	    (rc = demi__config_get_bool(cfg, "inetstack_config.tcp_nodelay", tc->nodelay,
					&tc->nodelay)) < 0 ||
	    (rc = demi__config_get_bool(cfg, "inetstack_config.tcp_sack", tc->sack, &tc->sack)) <
		    0 ||
	    (rc = demi__config_get_bool(cfg, "inetstack_config.tcp_window_scale", tc->wscale,
					&tc->wscale)) < 0 ||
	    (rc = demi__config_get_bool(cfg, "inetstack_config.tcp_timestamps", tc->timestamps,
					&tc->timestamps)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_delayed_ack_ms",
				       tc->delack / 1000000, 0, 500, &delack)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_msl_ms", tc->msl / 1000000, 1,
				       600000, &msl)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_rto_min_ms",
				       tc->rto_min / 1000000, 1, 60000, &rto_min)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_rto_max_ms",
				       tc->rto_max / 1000000, 1, 600000, &rto_max)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_retries", tc->max_retries, 1, 100,
				       &retries)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_syn_retries", tc->syn_retries, 1,
				       100, &syn_retries)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_keepalive_idle_s",
				       tc->keepalive_idle / 1000000000, 1, 86400 * 7, &ka_idle)) <
		    0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_keepalive_intvl_s",
				       tc->keepalive_intvl / 1000000000, 1, 86400, &ka_intvl)) <
		    0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_keepalive_probes",
				       tc->keepalive_probes, 1, 100, &ka_probes)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.tcp_syn_backlog", tc->syn_backlog, 1,
				       1u << 20, &backlog)) < 0)
		return rc;
	if (rto_min > rto_max) {
		DEMI_ERR("catnip: inetstack_config.tcp_rto_min_ms (%llu) is above tcp_rto_max_ms "
			 "(%llu)",
			 (unsigned long long)rto_min, (unsigned long long)rto_max);
		return -EINVAL;
	}
	tc->cc = cc == 1 ? &nip_cc_cubic : &nip_cc_newreno;
	tc->rcvbuf = (uint32_t)rcvbuf;
	tc->rcvbuf_max = (uint32_t)rcvbuf_max;
	tc->sndbuf = (uint32_t)sndbuf;
	tc->sndbuf_max = (uint32_t)sndbuf_max;
	tc->delack = delack * 1000000;
	tc->msl = msl * 1000000;
	tc->rto_min = rto_min * 1000000;
	tc->rto_max = rto_max * 1000000;
	if (tc->rto_init < tc->rto_min)
		tc->rto_init = tc->rto_min;
	tc->max_retries = (uint32_t)retries;
	tc->syn_retries = (uint32_t)syn_retries;
	tc->keepalive_idle = ka_idle * 1000000000;
	tc->keepalive_intvl = ka_intvl * 1000000000;
	tc->keepalive_probes = (uint32_t)ka_probes;
	tc->syn_backlog = (uint32_t)backlog;
	/* RFC 6528's secret: random per process. */
	if (getrandom(tc->isn_secret, sizeof(tc->isn_secret), 0) != sizeof(tc->isn_secret)) {
		DEMI_ERR("catnip: getrandom failed: no secret for TCP sequence numbers");
		return -EIO;
	}
	return 0;
}

static int stack_config(struct demi__libos *los, struct nip_stack_config *sc)
{
	struct demi__config *cfg = &los->cfg;
	const char *ip_s;
	struct in_addr ip;
	uint64_t retries, timeout_ms, ttl_s, qmax;
	int rc;

	nip_stack_config_default(sc);
	if ((rc = demi__config_get_str(cfg, "demikernel.local_ipv4_addr", NULL, &ip_s)) < 0)
		return rc;
	if (!ip_s || inet_pton(AF_INET, ip_s, &ip) != 1) {
		DEMI_ERR("catnip: demikernel.local_ipv4_addr (env DEMIKERNEL_LOCAL_IPV4_ADDR) must "
			 "be this host's IPv4 address, got %s",
			 ip_s ? ip_s : "nothing");
		return -EINVAL;
	}
	sc->ip = ip.s_addr;
	if ((rc = demi__config_get_u64(cfg, "inetstack_config.arp_request_retries", 5, 1, 100,
				       &retries)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.arp_request_timeout_ms", 200, 1,
				       60000, &timeout_ms)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.arp_cache_ttl", 15, 1, 86400,
				       &ttl_s)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.udp_rx_queue_max", 1024, 1, 1u << 20,
				       &qmax)) < 0)
		return rc;
	if ((rc = tcp_config(cfg, &sc->tcp)) < 0)
		return rc;
	sc->arp_retries = (uint32_t)retries;
	sc->arp_retry_ns = timeout_ms * 1000000ull;
	sc->arp_ttl_ns = ttl_s * 1000000000ull;
	sc->udp_rx_queue_max = (uint32_t)qmax;
	return 0;
}

static int nip_init(struct demi__libos *los)
{
	struct nip_libos *n;
	struct nip_stack_config sc;
	int rc;

	if (tls_nip)
		return -EEXIST;
	if (!(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	los->priv = n;
	if ((rc = stack_config(los, &sc)) < 0)
		goto fail;
	if ((rc = nip_dpdk_init(&n->dev, &los->cfg, &los->pool)) < 0)
		goto fail;
	if ((rc = nip_stack_init(&n->stack, nip_dpdk_link(n->dev), &sc)) < 0)
		goto fail;
	n->stack_up = true;
	/* The stack's time is that of its last poll: a connect before the first poll would
	 * otherwise stamp its SYN with time 0 and arm a retransmission that is already due. */
	n->stack.now = demi__clock_now(&los->rt);
	if ((rc = demi__config_foreach(&los->cfg, "inetstack_config.arp_table", add_arp_entry,
				       &n->stack)) != 0)
		goto fail;
	demi__bg_add(&los->rt, &n->poller, poll_device, los);
	tls_nip = los;
	return 0;
fail:
	if (n->stack_up)
		nip_stack_fini(&n->stack);
	if (n->dev)
		nip_dpdk_fini(n->dev);
	free(n);
	los->priv = NULL;
	return rc < 0 ? rc : -EINVAL;
}

static void log_counters(const struct nip_counters *c, struct nip_dpdk *dev)
{
	struct nip_dpdk_stats ds;

	uint64_t ip4_drops = 0;

	for (int i = 0; i < NIP_IP4_NERR; i++)
		ip4_drops += c->drop_ip4[i];
	DEMI_INFO("catnip: rx %llu tx %llu frames; udp rx %llu tx %llu; icmp echo replies %llu; "
		  "arp requests %llu replies %llu failures %llu; drops: eth %llu/%llu/%llu arp "
		  "%llu/%llu ip4 %llu/%llu/%llu icmp %llu/%llu udp %llu/%llu/%llu tx-full %llu "
		  "(ring-full waits %llu) no-buffer %llu arp-queue %llu",
		  (unsigned long long)c->rx_frames, (unsigned long long)c->tx_frames,
		  (unsigned long long)c->udp_rx, (unsigned long long)c->udp_tx,
		  (unsigned long long)c->icmp_echo_replies,
		  (unsigned long long)c->arp_requests_sent, (unsigned long long)c->arp_replies_sent,
		  (unsigned long long)c->arp_failures, (unsigned long long)c->drop_eth_short,
		  (unsigned long long)c->drop_eth_not_for_us, (unsigned long long)c->drop_eth_type,
		  (unsigned long long)c->drop_arp_bad, (unsigned long long)c->drop_arp_not_for_us,
		  (unsigned long long)ip4_drops, (unsigned long long)c->drop_ip4_not_for_us,
		  (unsigned long long)c->drop_ip4_proto, (unsigned long long)c->drop_icmp_bad,
		  (unsigned long long)c->drop_icmp_type, (unsigned long long)c->drop_udp_bad,
		  (unsigned long long)c->drop_udp_no_socket,
		  (unsigned long long)c->drop_udp_queue_full, (unsigned long long)c->drop_tx_full,
		  (unsigned long long)c->tx_deferred, (unsigned long long)c->drop_no_buffer,
		  (unsigned long long)c->drop_arp_pending_full);
	DEMI_INFO(
		"catnip: tcp rx %llu tx %llu segments, %llu/%llu payload bytes; opens active "
		"%llu passive %llu; retransmits %llu (fast %llu, timeouts %llu), conn timeouts "
		"%llu; rst sent %llu rcvd %llu; challenge acks %llu; buffers grown rcv %llu snd %llu; tail loss probes %llu (repairs %llu); drops: bad %llu no-conn %llu "
		"window %llu paws %llu ack %llu rcv-mem %llu syn-queue %llu accept-queue %llu "
		"after-close %llu",
		(unsigned long long)c->tcp_rx, (unsigned long long)c->tcp_tx,
		(unsigned long long)c->tcp_rx_bytes, (unsigned long long)c->tcp_tx_bytes,
		(unsigned long long)c->tcp_active_opens, (unsigned long long)c->tcp_passive_opens,
		(unsigned long long)c->tcp_retransmits, (unsigned long long)c->tcp_fast_retransmits,
		(unsigned long long)c->tcp_rto_timeouts, (unsigned long long)c->tcp_timeouts,
		(unsigned long long)c->tcp_rst_sent, (unsigned long long)c->tcp_rst_rcvd,
		(unsigned long long)c->tcp_challenge_acks, (unsigned long long)c->tcp_rcvbuf_grown,
		(unsigned long long)c->tcp_sndbuf_grown, (unsigned long long)c->tcp_tlp_probes,
		(unsigned long long)c->tcp_tlp_repairs,
		(unsigned long long)(c->drop_tcp_bad[1] + c->drop_tcp_bad[2] + c->drop_tcp_bad[3] +
				     c->drop_tcp_bad[4]),
		(unsigned long long)c->drop_tcp_no_conn,
		(unsigned long long)c->drop_tcp_out_of_window, (unsigned long long)c->drop_tcp_paws,
		(unsigned long long)c->drop_tcp_bad_ack, (unsigned long long)c->drop_tcp_rcv_mem,
		(unsigned long long)c->drop_tcp_syn_queue_full,
		(unsigned long long)c->drop_tcp_accept_queue_full,
		(unsigned long long)c->drop_tcp_after_close);
	nip_dpdk_stats(dev, &ds);
	DEMI_INFO("catnip: device rx %llu frames (%llu copied, %llu bad checksum, %llu no buffer) "
		  "tx %llu frames, %llu refused (ring full), %llu too long, %llu no mbuf",
		  (unsigned long long)ds.rx_frames, (unsigned long long)ds.rx_copied,
		  (unsigned long long)ds.rx_csum_bad, (unsigned long long)ds.rx_nobuf,
		  (unsigned long long)ds.tx_frames, (unsigned long long)ds.tx_full,
		  (unsigned long long)ds.tx_bad, (unsigned long long)ds.tx_nombuf);
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
	log_counters(&n->stack.cnt, n->dev);
	demi__bg_remove(&n->poller);
	nip_stack_fini(&n->stack);
	nip_dpdk_fini(n->dev);
	free(n);
	los->priv = NULL;
	tls_nip = NULL;
}

static struct nip_queue *queue_of(struct demi__queue *q)
{
	return (struct nip_queue *)q;
}

static void tcp_event(void *ctx, unsigned events);

static struct nip_queue *queue_new(int type)
{
	struct nip_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->base.type = type;
	demi__list_init(&q->pops);
	demi__list_init(&q->pushes);
	demi__list_init(&q->accepts);
	demi__list_init(&q->connects);
	return q;
}

static int nip_socket(struct demi__libos *los, int domain, int type, int protocol,
		      struct demi__queue **q_out)
{
	struct nip_queue *q;

	(void)domain;
	(void)protocol;
	if (!(q = queue_new(type)))
		return -ENOMEM;
	if (type == SOCK_STREAM) {
		q->tcp = nip_tcp_create(&nip_of(los)->stack, tcp_event, q);
		if (!q->tcp) {
			free(q);
			return -ENOMEM;
		}
	} else {
		nip_udp_sock_init(&q->udp, &nip_of(los)->stack);
	}
	*q_out = &q->base;
	return 0;
}

static int nip_bind(struct demi__queue *dq, const struct sockaddr_in *addr)
{
	struct nip_queue *q = queue_of(dq);

	if (q->tcp)
		return nip_tcp_bind(q->tcp, addr->sin_addr.s_addr, ntohs(addr->sin_port),
				    q->reuseaddr);
	return nip_udp_bind(&q->udp, addr->sin_addr.s_addr, ntohs(addr->sin_port));
}

static int nip_listen(struct demi__queue *dq, int backlog)
{
	struct nip_queue *q = queue_of(dq);

	if (!q->tcp)
		return -EOPNOTSUPP;
	return nip_tcp_listen(q->tcp, backlog > 0 ? (uint32_t)backlog : 1);
}

static void fill_addr(struct sockaddr_in *a, uint32_t ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = ip;
	a->sin_port = htons(port);
}

/* Connections wait on the listener: hand them to the pending accepts, oldest first. */
static void serve_accepts(struct nip_queue *q)
{
	struct demi__libos *los = q->base.los;
	struct demi__list *n;
	struct nip_tcp_conn *c;

	while ((n = demi__list_front(&q->accepts)) && (c = nip_tcp_accept(q->tcp))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		struct nip_queue *nq = queue_new(SOCK_STREAM);
		struct sockaddr_in peer;
		int rc = nq ? 0 : -ENOMEM;

		if (nq) {
			nq->base.los = los;
			nq->tcp = c;
			nip_tcp_set_cb(c, tcp_event, nq);
			rc = demi__qd_alloc(los, &nq->base);
		}
		if (rc < 0) {
			nip_tcp_close(c);
			free(nq);
			demi__task_fail(t, -rc);
			continue;
		}
		fill_addr(&peer, c->remote_ip, c->remote_port);
		t->result.qr_value.ares.qd = nq->base.qd;
		memcpy(&t->result.qr_value.ares.addr, &peer, sizeof(peer));
		demi__task_complete(t);
	}
}

static void wait_poll(struct demi__task *t)
{
	(void)t; /* finished by tcp_event or on_readable */
}

static int nip_accept(struct demi__queue *dq, struct demi__task *t)
{
	struct nip_queue *q = queue_of(dq);

	if (!q->tcp)
		return -EOPNOTSUPP;
	if (q->tcp->state != NIP_TCP_LISTEN)
		return -EINVAL;
	t->poll = wait_poll;
	demi__list_push_back(&q->accepts, &t->wait_link);
	serve_accepts(q);
	return 0;
}

/* Fails a TCP push, dropping the references to the segments the stack did not take. */
static void push_fail(struct demi__task *t, int err)
{
	struct tcp_push *p = (struct tcp_push *)t->priv.u64;

	for (uint32_t i = p->next; i < p->req.nsegs; i++)
		if (p->req.segs[i].buf)
			demi__buf_put(p->req.segs[i].buf);
	p->req.nsegs = 0;
	demi__task_fail(t, err);
}

/* Moves pushed data into the send queue, oldest push first, while it has room. */
static void serve_pushes(struct nip_queue *q)
{
	struct demi__list *n;

	while ((n = demi__list_front(&q->pushes))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		struct tcp_push *p = (struct tcp_push *)t->priv.u64;

		while (p->next < p->req.nsegs) {
			struct demi__seg *seg = &p->req.segs[p->next];
			int rc = nip_tcp_send(q->tcp, seg->buf, seg->data, seg->len);

			if (rc == -EAGAIN)
				return;
			if (rc < 0) {
				push_fail(t, -rc);
				break;
			}
			seg->buf = NULL; /* the send queue holds it now */
			p->next++;
		}
		if (!demi__task_done(t)) {
			p->req.nsegs = 0;
			demi__task_complete(t);
		}
	}
}

static void serve_pops(struct nip_queue *q)
{
	struct demi__list *n;

	while ((n = demi__list_front(&q->pops))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);
		demi_sgarray_t *sga = &t->result.qr_value.sga;
		int st;
		struct demi__buf *b = nip_tcp_recv(q->tcp, &st);

		if (b) {
			demi__sga_from_buf(sga, b);
		} else if (st == 1) {
			memset(sga, 0, sizeof(*sga)); /* end of stream: an empty array */
			sga->sga_numsegs = 1;
		} else if (st < 0) {
			demi__task_fail(t, -st);
			continue;
		} else {
			return;
		}
		demi__task_complete(t);
	}
}

static void fail_all(struct demi__list *l, int err, bool pushes)
{
	struct demi__list *n;

	while ((n = demi__list_front(l))) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);

		if (pushes)
			push_fail(t, err);
		else
			demi__task_fail(t, err);
	}
}

static void tcp_event(void *ctx, unsigned events)
{
	struct nip_queue *q = ctx;
	struct nip_tcp_conn *c = q->tcp;

	if (events & NIP_TCP_EV_CONNECTED) {
		struct demi__list *n;

		while ((n = demi__list_front(&q->connects)))
			demi__task_complete(demi__container_of(n, struct demi__task, wait_link));
	}
	if (events & NIP_TCP_EV_ACCEPTABLE)
		serve_accepts(q);
	if (c->err) {
		fail_all(&q->connects, c->err, false);
		fail_all(&q->pushes, c->err, true);
	}
	if (events & NIP_TCP_EV_WRITABLE)
		serve_pushes(q);
	if (events & NIP_TCP_EV_READABLE)
		serve_pops(q);
}

static int nip_connect(struct demi__queue *dq, struct demi__task *t, const struct sockaddr_in *to)
{
	struct nip_queue *q = queue_of(dq);
	int rc;

	if (q->tcp) {
		if ((rc = nip_tcp_connect(q->tcp, to->sin_addr.s_addr, ntohs(to->sin_port))) < 0)
			return rc;
		t->poll = wait_poll;
		demi__list_push_back(&q->connects, &t->wait_link);
		return 0;
	}
	nip_udp_connect(&q->udp, to->sin_addr.s_addr, ntohs(to->sin_port));
	demi__task_complete(t);
	return 0;
}

/* The stack tells us a datagram left (or ARP gave up); ctx is the push's token. */
static void push_sent(void *ctx, int err)
{
	struct demi__task *t;

	if (!tls_nip || !(t = demi__task_lookup(&tls_nip->rt, (demi_qtoken_t)(uintptr_t)ctx)) ||
	    demi__task_done(t))
		return; /* cancelled by a close meanwhile */
	if (err)
		demi__task_fail(t, -err);
	else
		demi__task_complete(t);
}

/*
 * A push can go without a copy when it is one pool buffer with room for the headers in front
 * of the data, and nobody but the application and this push holds it (another push of the
 * same buffer still in flight would see its headers overwritten). Pops pushed back (echo) and
 * buffers from demi_sgaalloc qualify.
 */
static bool zero_copy_ok(const struct demi__push_req *req)
{
	const struct demi__seg *seg = &req->segs[0];
	const struct demi__buf *b = seg->buf;

	return req->nsegs == 1 && b && seg->data >= b->base + NIP_UDP_HEADROOM &&
	       b->refcnt - b->app_owned == 1;
}

static int tcp_push(struct nip_queue *q, struct demi__task *t, struct demi__push_req *req)
{
	struct tcp_push *p = (struct tcp_push *)t->priv.u64;
	struct nip_tcp_conn *c = q->tcp;

	if (c->err)
		return -c->err;
	if (c->fin_queued)
		return -EPIPE;
	if (c->state != NIP_TCP_ESTABLISHED && c->state != NIP_TCP_CLOSE_WAIT)
		return -ENOTCONN;
	/* Foreign memory is copied now: the application may reuse it once push returns. */
	if (demi__push_req_own(&q->base.los->pool, req, 0) < 0)
		return -ENOMEM;
	p->req = *req;
	p->next = 0;
	t->poll = wait_poll;
	demi__list_push_back(&q->pushes, &t->wait_link);
	serve_pushes(q);
	return 0;
}

static int nip_push(struct demi__queue *dq, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	struct nip_queue *q = queue_of(dq);
	const void *pieces[DEMI_SGARRAY_MAXSIZE];
	uint32_t lens[DEMI_SGARRAY_MAXSIZE];
	uint32_t ip;
	uint16_t port;
	int rc;

	if (q->tcp)
		return tcp_push(q, t, req);
	if (to) {
		ip = to->sin_addr.s_addr;
		port = ntohs(to->sin_port);
	} else if (q->udp.connected) {
		ip = q->udp.remote_ip;
		port = q->udp.remote_port;
	} else {
		return -EDESTADDRREQ;
	}
	if (req->total > nip_udp_max_payload(q->udp.s))
		return -EMSGSIZE;
	if (zero_copy_ok(req)) {
		struct demi__seg *seg = &req->segs[0];

		demi__list_push_back(&q->pushes, &t->wait_link);
		rc = nip_udp_send_buf(&q->udp, ip, port, seg->buf, seg->data, seg->len, push_sent,
				      (void *)(uintptr_t)demi__task_token(t));
		if (rc < 0) {
			demi__list_remove(&t->wait_link);
			return rc;
		}
		seg->buf = NULL; /* the push's reference went with the frame */
		req->nsegs = 0;
		return 0;
	}
	for (uint32_t i = 0; i < req->nsegs; i++) {
		pieces[i] = req->segs[i].data;
		lens[i] = req->segs[i].len;
	}
	/* Listed first: push_sent may finish the task before nip_udp_send returns. */
	demi__list_push_back(&q->pushes, &t->wait_link);
	rc = nip_udp_send(&q->udp, ip, port, pieces, lens, (int)req->nsegs, push_sent,
			  (void *)(uintptr_t)demi__task_token(t));
	if (rc < 0) {
		demi__list_remove(&t->wait_link);
		return rc;
	}
	/* The payload was copied into the frame: the application's buffers are free again. */
	demi__push_req_put(req);
	return 0;
}

static void deliver(struct nip_queue *q, struct demi__task *t)
{
	uint32_t ip;
	uint16_t port;
	struct demi__buf *b = nip_udp_recv(&q->udp, &ip, &port);
	struct sockaddr_in from = {.sin_family = AF_INET};

	demi__sga_from_buf(&t->result.qr_value.sga, b);
	from.sin_addr.s_addr = ip;
	from.sin_port = htons(port);
	/* The result struct is packed: copy, do not store through a misaligned pointer. */
	memcpy(&t->result.qr_value.sga.sga_addr, &from, sizeof(from));
	demi__task_complete(t);
}

/* Datagrams arrived: serve the pops in order, as many as there are datagrams. */
static void on_readable(void *ctx)
{
	struct nip_queue *q = ctx;
	struct demi__list *n;

	while ((n = demi__list_front(&q->pops)) && q->udp.rx.head)
		deliver(q, demi__container_of(n, struct demi__task, wait_link));
}

static void pop_poll(struct demi__task *t)
{
	(void)t; /* pops are finished by on_readable */
}

static int nip_pop(struct demi__queue *dq, struct demi__task *t)
{
	struct nip_queue *q = queue_of(dq);
	int rc;

	if (q->tcp) {
		if (q->tcp->state == NIP_TCP_LISTEN ||
		    (q->tcp->state == NIP_TCP_CLOSED && !q->tcp->err && !q->tcp->fin_rcvd))
			return -ENOTCONN;
		t->poll = wait_poll;
		demi__list_push_back(&q->pops, &t->wait_link);
		serve_pops(q);
		return 0;
	}

	/* Like a kernel socket that sends first: an unbound socket gets an ephemeral port, the
	 * one its pushes will come from, so that replies can arrive. */
	if (!q->udp.local_port && (rc = nip_udp_bind(&q->udp, 0, 0)) < 0)
		return rc;
	q->udp.on_readable = on_readable;
	q->udp.ctx = q;
	t->poll = pop_poll;
	demi__list_push_back(&q->pops, &t->wait_link);
	on_readable(q);
	return 0;
}

static void cancel_all(struct demi__list *l)
{
	struct demi__list *n;

	while ((n = demi__list_front(l)))
		demi__task_fail(demi__container_of(n, struct demi__task, wait_link), ECANCELED);
}

static int nip_close(struct demi__queue *dq)
{
	struct nip_queue *q = queue_of(dq);

	cancel_all(&q->pops);
	if (q->tcp) {
		fail_all(&q->pushes, ECANCELED, true);
		cancel_all(&q->accepts);
		cancel_all(&q->connects);
		nip_tcp_close(q->tcp);
	} else {
		cancel_all(&q->pushes);
		nip_udp_close(&q->udp);
	}
	free(q);
	return 0;
}

static int nip_setsockopt(struct demi__queue *dq, int level, int name, const void *val,
			  socklen_t len)
{
	struct nip_queue *q = queue_of(dq);

	if (!q->tcp)
		return -ENOPROTOOPT;
	if (level == SOL_SOCKET && name == SO_REUSEADDR) {
		int v;

		if (len < sizeof(v))
			return -EINVAL;
		memcpy(&v, val, sizeof(v));
		q->reuseaddr = v != 0;
		return 0;
	}
	return nip_tcp_setsockopt(q->tcp, level, name, val, len);
}

/* The stack batches frames for the device: whatever a user call made it send goes out
 * before the call returns (lib/api.c calls this after connect, close, push, pop and
 * setsockopt). */
static void nip_end_call(struct demi__libos *los)
{
	nip_stack_flush(&nip_of(los)->stack);
}

static int nip_getsockopt(struct demi__queue *dq, int level, int name, void *val, socklen_t *len)
{
	struct nip_queue *q = queue_of(dq);
	int v;

	if (level == SOL_SOCKET && name == SO_TYPE) {
		if (*len < (socklen_t)sizeof(int))
			return -EINVAL;
		v = dq->type;
		memcpy(val, &v, sizeof(v));
		*len = sizeof(v);
		return 0;
	}
	if (q->tcp) {
		uint32_t l = *len;
		int rc = nip_tcp_getsockopt(q->tcp, level, name, val, &l);

		*len = l;
		return rc;
	}
	if (level != SOL_SOCKET || name != SO_ERROR)
		return -ENOPROTOOPT;
	if (*len < (socklen_t)sizeof(int))
		return -EINVAL;
	v = 0;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int nip_getpeername(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct nip_queue *q = queue_of(dq);

	if (q->tcp) {
		if (q->tcp->state == NIP_TCP_CLOSED || q->tcp->state == NIP_TCP_LISTEN ||
		    q->tcp->state == NIP_TCP_SYN_SENT)
			return -ENOTCONN;
		fill_addr(addr, q->tcp->remote_ip, q->tcp->remote_port);
		return 0;
	}
	if (!q->udp.connected)
		return -ENOTCONN;
	fill_addr(addr, q->udp.remote_ip, q->udp.remote_port);
	return 0;
}

static int nip_getsockname(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct nip_queue *q = queue_of(dq);

	if (q->tcp)
		fill_addr(addr, q->tcp->local_ip, q->tcp->local_port);
	else
		fill_addr(addr, q->udp.local_ip, q->udp.local_port);
	return 0;
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
	.poll_io = NULL, /* busy-polls the device in a background task */
	.end_call = nip_end_call,
	.bufs_cached = nip_bufs_cached,
};
