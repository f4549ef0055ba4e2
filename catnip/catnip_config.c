/* SPDX-License-Identifier: MIT */
/*
 * catnip's configuration (Demikernel's keys) into struct nip_stack_config: the address
 * (demikernel.local_ipv4_addr, required), the congestion control by name, and the numbers and
 * switches of the table below, each read into its field with its range and unit; the
 * defaults are the stack's own (nip_stack_config_default). The static ARP entries
 * (inetstack_config.arp_table, MAC: IP pairs) go to the stack once it is up. The device's keys
 * are in dev/dpdk_link.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "catnip.h"
#include "tcp/cc.h"

#define MS 1000000ull	/* ns */
#define S 1000000000ull /* ns */

enum key_type { KEY_U32, KEY_U64, KEY_BOOL };

/* A key and the field it sets: value * unit, value in [min, max]. */
struct key {
	const char *key;
	enum key_type type;
	size_t offset; /* in struct nip_stack_config */
	uint64_t unit;
	uint64_t min, max;
};

#define F(field) offsetof(struct nip_stack_config, field)

static const struct key keys[] = {
	{"inetstack_config.arp_request_retries", KEY_U32, F(arp_retries), 1, 1, 100},
	{"inetstack_config.arp_request_timeout_ms", KEY_U64, F(arp_retry_ns), MS, 1, 60000},
	{"inetstack_config.arp_cache_ttl", KEY_U64, F(arp_ttl_ns), S, 1, 86400},
	{"inetstack_config.udp_rx_queue_max", KEY_U32, F(udp_rx_queue_max), 1, 1, 1u << 20},
	{"inetstack_config.tcp_rcvbuf", KEY_U32, F(tcp.rcvbuf), 1, 4096, 1u << 30},
	{"inetstack_config.tcp_rcvbuf_max", KEY_U32, F(tcp.rcvbuf_max), 1, 0, 1u << 30},
	{"inetstack_config.tcp_sndbuf", KEY_U32, F(tcp.sndbuf), 1, 4096, 1u << 30},
	{"inetstack_config.tcp_sndbuf_max", KEY_U32, F(tcp.sndbuf_max), 1, 0, 1u << 30},
	{"inetstack_config.tcp_nodelay", KEY_BOOL, F(tcp.nodelay), 0, 0, 0},
	{"inetstack_config.tcp_sack", KEY_BOOL, F(tcp.sack), 0, 0, 0},
	{"inetstack_config.tcp_window_scale", KEY_BOOL, F(tcp.wscale), 0, 0, 0},
	{"inetstack_config.tcp_timestamps", KEY_BOOL, F(tcp.timestamps), 0, 0, 0},
	/* 0: ACK every segment at once */
	{"inetstack_config.tcp_delayed_ack_ms", KEY_U64, F(tcp.delack), MS, 0, 500},
	{"inetstack_config.tcp_msl_ms", KEY_U64, F(tcp.msl), MS, 1, 600000},
	{"inetstack_config.tcp_rto_min_ms", KEY_U64, F(tcp.rto_min), MS, 1, 60000},
	{"inetstack_config.tcp_rto_max_ms", KEY_U64, F(tcp.rto_max), MS, 1, 600000},
	{"inetstack_config.tcp_retries", KEY_U32, F(tcp.max_retries), 1, 1, 100},
	{"inetstack_config.tcp_syn_retries", KEY_U32, F(tcp.syn_retries), 1, 1, 100},
	{"inetstack_config.tcp_keepalive_idle_s", KEY_U64, F(tcp.keepalive_idle), S, 1, 86400 * 7},
	{"inetstack_config.tcp_keepalive_intvl_s", KEY_U64, F(tcp.keepalive_intvl), S, 1, 86400},
	{"inetstack_config.tcp_keepalive_probes", KEY_U32, F(tcp.keepalive_probes), 1, 1, 100},
	{"inetstack_config.tcp_syn_backlog", KEY_U32, F(tcp.syn_backlog), 1, 1, 1u << 20},
	{"inetstack_config.tcp_max_conns", KEY_U32, F(tcp.max_conns), 1, 1, 1u << 24},
	{"inetstack_config.tcp_listen_backlog_max", KEY_U32, F(tcp.listen_backlog_max), 1, 1,
	 1u << 20},
	/* ARP's bounds against floods (catnip/inet/arp.c); absent: the stack's defaults */
	{"inetstack_config.arp_resolving_max", KEY_U32, F(arp_resolving_max), 1, 1, 256},
	{"inetstack_config.arp_request_rate", KEY_U32, F(arp_request_rate), 1, 1, 1000000},
	{"inetstack_config.arp_queued_max", KEY_U32, F(arp_queued_max), 1, 1, 1u << 20},
	/* SYN cookies when a listener's SYN queue is full (catnip/inet/tcp/tcp_cookie.c) */
	{"inetstack_config.tcp_syncookies", KEY_BOOL, F(tcp.syncookies), 0, 0, 0},
	/* Receive memory pressure: shares of the device's receive buffers held (tcp_mem.c) */
	{"inetstack_config.tcp_mem_pressure_pct", KEY_U32, F(tcp.mem_pressure_pct), 1, 1, 100},
	{"inetstack_config.tcp_mem_critical_pct", KEY_U32, F(tcp.mem_critical_pct), 1, 1, 100},
	/* IPv4 reassembly's bounds (catnip/inet/ip4_reass.h); 0 datagrams: fragments dropped */
	{"catnip.ip4.reass_max_datagrams", KEY_U32, F(reass_max_datagrams), 1, 0, 1u << 16},
	{"catnip.ip4.reass_max_bytes", KEY_U32, F(reass_max_bytes), 1, 4096, 1u << 30},
	{"catnip.ip4.reass_timeout_ms", KEY_U64, F(reass_timeout_ns), MS, 1, 600000},
};

/* Reads k into its field of sc; absent, the field keeps its default. */
static int read_key(struct demi__config *cfg, const struct key *k, struct nip_stack_config *sc)
{
	void *field = (char *)sc + k->offset;
	uint64_t v, def;
	int rc;

	if (k->type == KEY_BOOL)
		return demi__config_get_bool(cfg, k->key, *(bool *)field, field);
	def = k->type == KEY_U32 ? *(uint32_t *)field : *(uint64_t *)field;
	if ((rc = demi__config_get_u64(cfg, k->key, def / k->unit, k->min, k->max, &v)) < 0)
		return rc;
	if (k->type == KEY_U32)
		*(uint32_t *)field = (uint32_t)(v * k->unit);
	else
		*(uint64_t *)field = v * k->unit;
	return 0;
}

/* inetstack_config.tcp_congestion_control: a name nip_tcp_cc_find knows, in any case. */
static int read_cc(struct demi__config *cfg, struct nip_tcp_config *tc)
{
	static const char key[] = "inetstack_config.tcp_congestion_control";
	const struct nip_tcp_cc_ops *cc;
	const char *v;
	char name[16];
	size_t i;
	int rc;

	if ((rc = demi__config_get_str(cfg, key, NULL, &v)) < 0)
		return rc;
	if (!v)
		return 0; /* the stack's default */
	for (i = 0; v[i] && i < sizeof(name) - 1; i++)
		name[i] = (char)tolower((unsigned char)v[i]);
	name[i] = '\0';
	if (v[i] || !(cc = nip_tcp_cc_find(name))) {
		DEMI_ERR("catnip: %s=\"%s\" is no congestion control algorithm catnip has "
			 "(newreno, cubic)",
			 key, v);
		return -EINVAL;
	}
	tc->cc = cc;
	return 0;
}

int nip_config_read(struct demi__config *cfg, struct nip_stack_config *sc)
{
	struct nip_tcp_config *tc = &sc->tcp;
	const char *ip_s;
	struct in_addr ip;
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
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((rc = read_key(cfg, &keys[i], sc)) < 0)
			return rc;
	if ((rc = read_cc(cfg, tc)) < 0)
		return rc;
	if (tc->rto_min > tc->rto_max) {
		DEMI_ERR("catnip: inetstack_config.tcp_rto_min_ms (%llu) is above tcp_rto_max_ms "
			 "(%llu)",
			 (unsigned long long)(tc->rto_min / MS),
			 (unsigned long long)(tc->rto_max / MS));
		return -EINVAL;
	}
	if (tc->rto_init < tc->rto_min)
		tc->rto_init = tc->rto_min;
	/* RFC 6528's secret: random per process. */
	if (getrandom(tc->isn_secret, sizeof(tc->isn_secret), 0) != sizeof(tc->isn_secret)) {
		DEMI_ERR("catnip: getrandom failed: no secret for TCP sequence numbers");
		return -EIO;
	}
	return 0;
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

int nip_config_arp_table(struct demi__config *cfg, struct nip_stack *s)
{
	int rc = demi__config_foreach(cfg, "inetstack_config.arp_table", add_arp_entry, s);

	return rc < 0 ? rc : rc ? -EINVAL : 0;
}
