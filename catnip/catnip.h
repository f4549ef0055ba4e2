/* SPDX-License-Identifier: MIT */
/*
 * catnip: the libOS on DPDK with our own stack. What its files share.
 *
 * Files, one job each:
 *   catnip.c          the demi_* operations (lib/libos.h): init/fini, the device's poller,
 *                     queue creation, and dispatch to the queue's protocol (struct nip_queue_ops)
 *   catnip_tcp.c      TCP queues: listen/accept, connect, push, pop, close over inet/tcp/
 *   catnip_udp.c      UDP queues: bind, connect, push/pushto, pop with the sender over inet/udp.c
 *   catnip_config.c   the configuration keys, read through one table into nip_stack_config
 *   catnip_counters.c the stack's counters by name, logged at exit (DEMI_LOG=info)
 *
 * The stack (inet/) knows no device and the device (dev/dpdk_link.c) knows no protocol; this
 * header names neither DPDK nor any device, so the config and counter tables build without
 * DPDK (their unit tests do).
 */
#ifndef NIP_CATNIP_H
#define NIP_CATNIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#include "libos.h"
#include "stack.h"
#include "tcp/tcp.h"
#include "udp.h"

struct nip_dpdk;
struct nip_fault_link;
struct nip_pcap_link;
struct nip_queue;

/* What a queue does, by protocol (nip_tcp_queue_ops, nip_udp_queue_ops). catnip.c checks
 * what lib/api.c left to the libOS and calls these; a NULL operation is -EOPNOTSUPP
 * (-ENOPROTOOPT for setsockopt). */
struct nip_queue_ops {
	/* Sets up the protocol's socket on a new queue. 0 or -ENOMEM. */
	int (*open)(struct nip_queue *q, struct nip_stack *s);
	int (*bind)(struct nip_queue *q, uint32_t ip, uint16_t port);
	int (*listen)(struct nip_queue *q, uint32_t backlog);
	int (*accept)(struct nip_queue *q, struct demi__task *t);
	int (*connect)(struct nip_queue *q, struct demi__task *t, uint32_t ip, uint16_t port);
	int (*push)(struct nip_queue *q, struct demi__task *t, struct demi__push_req *req,
		    const struct sockaddr_in *to);
	int (*pop)(struct nip_queue *q, struct demi__task *t);
	/* Ends the protocol's pending tasks (the pops are cancelled already) and its socket. */
	void (*close)(struct nip_queue *q);
	int (*setsockopt)(struct nip_queue *q, int level, int name, const void *val, socklen_t len);
	/* Options other than SO_TYPE, which catnip.c answers for both. */
	int (*getsockopt)(struct nip_queue *q, int level, int name, void *val, socklen_t *len);
	int (*getpeername)(struct nip_queue *q, struct sockaddr_in *addr);
	int (*getsockname)(struct nip_queue *q, struct sockaddr_in *addr);
};

extern const struct nip_queue_ops nip_tcp_queue_ops;
extern const struct nip_queue_ops nip_udp_queue_ops;

struct nip_queue {
	struct demi__queue base;
	const struct nip_queue_ops *ops;
	struct nip_udp_sock udp;
	struct nip_tcp_conn *tcp; /* SOCK_STREAM */
	bool reuseaddr;
	bool err_logged;	  /* TCP: the connection's failure went to the debug log */
	struct demi__list pops;	  /* pending pops, oldest first */
	struct demi__list pushes; /* UDP: waiting for ARP; TCP: waiting for send queue room */
	struct demi__list accepts;
	struct demi__list connects;
};

struct nip_libos {
	struct nip_dpdk *dev;
	struct nip_fault_link *fault; /* catnip.fault.*: NULL when off */
	struct nip_pcap_link *pcap;   /* catnip.pcap.*: NULL when off */
	struct nip_stack stack;
	bool stack_up;
	struct demi__bg_task poller;
	/* The idle-pass shortcut (catnip.c, poll_device): when the stack next needs a poll, and
	 * the last wait (struct demi__libos.waits) whose first pass polled it. */
	uint64_t due;
	uint64_t waits_seen;
};

/* The libOS of this thread (NULL when catnip is not up): UDP's send callbacks look their
 * task up through its runtime, since the queue may be gone by then. initial-exec, like
 * lib/api.c's own: one instruction to reach, not a __tls_get_addr call per datagram sent. */
extern _Thread_local struct demi__libos *nip_thread_los __attribute__((tls_model("initial-exec")));

static inline struct nip_libos *nip_of(struct demi__libos *los)
{
	return los->priv;
}

static inline struct nip_queue *nip_queue_of(struct demi__queue *q)
{
	return (struct nip_queue *)q;
}

/* A new queue of type (SOCK_STREAM or SOCK_DGRAM) with empty task lists and its ops, the
 * protocol's socket not yet open; NULL without memory. */
struct nip_queue *nip_queue_new(int type);

/* Fails every task waiting on l with ECANCELED. */
void nip_cancel_all(struct demi__list *l);

static inline void nip_fill_addr(struct sockaddr_in *a, uint32_t ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = ip;
	a->sin_port = htons(port);
}

/* Reads the stack's configuration (the keys are listed in catnip_config.c) into sc, defaults
 * first. 0, or -EINVAL with a DEMI_ERR naming the key; -EIO without randomness. */
int nip_config_read(struct demi__config *cfg, struct nip_stack_config *sc);
/* Adds the static ARP entries of inetstack_config.arp_table to s. 0 or -EINVAL (logged). */
int nip_config_arp_table(struct demi__config *cfg, struct nip_stack *s);

/* One counter of struct nip_counters, or an array of n of them, by its field name. */
struct nip_counter_name {
	const char *name;
	size_t offset;
	size_t n;
};
/* Every counter of struct nip_counters, in the struct's order. */
extern const struct nip_counter_name nip_counter_names[];
extern const size_t nip_counter_names_len;
/* Logs every counter (DEMI_INFO), as name=value, arrays as v0/v1/... */
void nip_counters_log(const struct nip_counters *c);
/* The counters for demi_stats: "catnip.<name>" ("catnip.<name>[i]" for arrays), in the
 * struct's order, into out[0..cap); returns how many there are. */
size_t nip_counters_stats(const struct nip_counters *c, demi_stat_t *out, size_t cap);

#endif
