/* SPDX-License-Identifier: MIT */
/*
 * catnip: the libOS on DPDK with our own stack. This file joins three things: the demi_*
 * operations (lib/libos.h), the stack (inet/, which knows no device) and the DPDK device
 * (dev/dpdk_link.c). The device is polled by a background task on every scheduler pass, with
 * the runtime's clock as the stack's time: catnip busy-polls, as kernel bypass does.
 *
 * UDP is complete (bind, ephemeral ports, connect, push/pushto, pop with the sender, datagrams
 * up to the MTU); TCP arrives with the stack's TCP (issue 5): SOCK_STREAM is ENOTSUP until then.
 *
 * Configuration (Demikernel's keys): demikernel.local_ipv4_addr (required),
 * inetstack_config.arp_table (MAC: IP pairs), inetstack_config.arp_request_retries,
 * inetstack_config.arp_request_timeout_ms, inetstack_config.arp_cache_ttl (seconds),
 * inetstack_config.udp_rx_queue_max; the device's keys are in dev/dpdk_link.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dev/dpdk_link.h"
#include "libos.h"
#include "stack.h"
#include "udp.h"

struct nip_queue {
	struct demi__queue base;
	struct nip_udp_sock udp;
	struct demi__list pops; /* pending pops, oldest first */
	struct demi__list pushes; /* pushes waiting for ARP */
};

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

	return nip_stack_poll(&nip_of(los)->stack, demi__clock_now(&los->rt));
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
			 "be this host's IPv4 address, got %s", ip_s ? ip_s : "nothing");
		return -EINVAL;
	}
	sc->ip = ip.s_addr;
	if ((rc = demi__config_get_u64(cfg, "inetstack_config.arp_request_retries", 5, 1, 100,
				       &retries)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.arp_request_timeout_ms", 200, 1,
				       60000, &timeout_ms)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.arp_cache_ttl", 15, 1, 86400,
				       &ttl_s)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "inetstack_config.udp_rx_queue_max", 1024, 1,
				       1u << 20, &qmax)) < 0)
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

static void log_counters(const struct nip_counters *c)
{
	uint64_t ip4_drops = 0;

	for (int i = 0; i < NIP_IP4_NERR; i++)
		ip4_drops += c->drop_ip4[i];
	DEMI_INFO("catnip: rx %llu tx %llu frames; udp rx %llu tx %llu; icmp echo replies %llu; "
		  "arp requests %llu replies %llu failures %llu; drops: eth %llu/%llu/%llu arp "
		  "%llu/%llu ip4 %llu/%llu/%llu icmp %llu/%llu udp %llu/%llu/%llu tx-full %llu "
		  "no-buffer %llu arp-queue %llu",
		  (unsigned long long)c->rx_frames, (unsigned long long)c->tx_frames,
		  (unsigned long long)c->udp_rx, (unsigned long long)c->udp_tx,
		  (unsigned long long)c->icmp_echo_replies, (unsigned long long)c->arp_requests_sent,
		  (unsigned long long)c->arp_replies_sent, (unsigned long long)c->arp_failures,
		  (unsigned long long)c->drop_eth_short, (unsigned long long)c->drop_eth_not_for_us,
		  (unsigned long long)c->drop_eth_type, (unsigned long long)c->drop_arp_bad,
		  (unsigned long long)c->drop_arp_not_for_us, (unsigned long long)ip4_drops,
		  (unsigned long long)c->drop_ip4_not_for_us, (unsigned long long)c->drop_ip4_proto,
		  (unsigned long long)c->drop_icmp_bad, (unsigned long long)c->drop_icmp_type,
		  (unsigned long long)c->drop_udp_bad, (unsigned long long)c->drop_udp_no_socket,
		  (unsigned long long)c->drop_udp_queue_full, (unsigned long long)c->drop_tx_full,
		  (unsigned long long)c->drop_no_buffer,
		  (unsigned long long)c->drop_arp_pending_full);
}

static void nip_fini(struct demi__libos *los)
{
	struct nip_libos *n = nip_of(los);

	log_counters(&n->stack.cnt);
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

static int nip_socket(struct demi__libos *los, int domain, int type, int protocol,
		      struct demi__queue **q_out)
{
	struct nip_queue *q;

	(void)domain;
	(void)protocol;
	if (type != SOCK_DGRAM) {
		DEMI_WARN("catnip: TCP is not implemented yet (SOCK_STREAM)");
		return -ENOTSUP;
	}
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	q->base.type = type;
	nip_udp_sock_init(&q->udp, &nip_of(los)->stack);
	demi__list_init(&q->pops);
	demi__list_init(&q->pushes);
	*q_out = &q->base;
	return 0;
}

static int nip_bind(struct demi__queue *dq, const struct sockaddr_in *addr)
{
	return nip_udp_bind(&queue_of(dq)->udp, addr->sin_addr.s_addr, ntohs(addr->sin_port));
}

static int nip_listen(struct demi__queue *dq, int backlog)
{
	(void)dq;
	(void)backlog;
	return -ENOTSUP;
}

static int nip_accept(struct demi__queue *dq, struct demi__task *t)
{
	(void)dq;
	(void)t;
	return -ENOTSUP;
}

static int nip_connect(struct demi__queue *dq, struct demi__task *t, const struct sockaddr_in *to)
{
	nip_udp_connect(&queue_of(dq)->udp, to->sin_addr.s_addr, ntohs(to->sin_port));
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

static int nip_push(struct demi__queue *dq, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to)
{
	struct nip_queue *q = queue_of(dq);
	const void *pieces[DEMI_SGARRAY_MAXSIZE];
	uint32_t lens[DEMI_SGARRAY_MAXSIZE];
	uint32_t ip;
	uint16_t port;
	int rc;

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
	struct sockaddr_in from = { .sin_family = AF_INET };

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

	while ((n = demi__list_front(&q->pops)) && q->udp.rx_head)
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
	cancel_all(&q->pushes);
	nip_udp_close(&q->udp);
	free(q);
	return 0;
}

static int nip_setsockopt(struct demi__queue *dq, int level, int name, const void *val,
			  socklen_t len)
{
	(void)dq;
	(void)level;
	(void)name;
	(void)val;
	(void)len;
	return -ENOPROTOOPT;
}

static int nip_getsockopt(struct demi__queue *dq, int level, int name, void *val, socklen_t *len)
{
	int v;

	if (level != SOL_SOCKET || (name != SO_TYPE && name != SO_ERROR))
		return -ENOPROTOOPT;
	if (*len < (socklen_t)sizeof(int))
		return -EINVAL;
	v = name == SO_TYPE ? dq->type : 0;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int nip_getpeername(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct nip_queue *q = queue_of(dq);

	if (!q->udp.connected)
		return -ENOTCONN;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = q->udp.remote_ip;
	addr->sin_port = htons(q->udp.remote_port);
	return 0;
}

static int nip_getsockname(struct demi__queue *dq, struct sockaddr_in *addr)
{
	struct nip_queue *q = queue_of(dq);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = q->udp.local_ip;
	addr->sin_port = htons(q->udp.local_port);
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
	.bufs_cached = nip_bufs_cached,
};
