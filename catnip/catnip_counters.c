/* SPDX-License-Identifier: MIT */
/*
 * The stack's counters (struct nip_counters) by name, for the log at exit: one table entry per
 * field, named by the field itself, so the log says every counter under the name the code
 * uses. A unit test (tests/unit/catnip/test_catnip_counters.c) checks that the table covers
 * every byte of the struct: a counter added without its entry fails it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "catnip.h"

#define ONE(f)                                                                                     \
	{                                                                                          \
#f, offsetof(struct nip_counters, f), 1                                            \
	}
#define ARRAY(f)                                                                                   \
	{                                                                                          \
#f, offsetof(struct nip_counters, f),                                              \
			sizeof(((struct nip_counters *)0)->f) / sizeof(uint64_t)                   \
	}

const struct nip_counter_name nip_counter_names[] = {
	ONE(rx_frames),
	ONE(tx_frames),
	ONE(drop_eth_short),
	ONE(drop_eth_not_for_us),
	ONE(drop_eth_type),
	ONE(drop_arp_bad),
	ONE(drop_arp_not_for_us),
	ARRAY(drop_ip4), /* by enum nip_ip4_err */
	ONE(drop_ip4_not_for_us),
	ONE(drop_ip4_proto),
	ONE(drop_icmp_bad),
	ONE(drop_icmp_type),
	ONE(drop_udp_bad),
	ONE(drop_udp_no_socket),
	ONE(drop_udp_queue_full),
	ONE(drop_tx_full),
	ONE(tx_deferred),
	ONE(drop_no_buffer),
	ONE(drop_arp_pending_full),
	ONE(arp_requests_sent),
	ONE(arp_replies_sent),
	ONE(arp_failures),
	ONE(icmp_echo_replies),
	ONE(udp_rx),
	ONE(udp_tx),
	ONE(tcp_rx),
	ONE(tcp_tx),
	ONE(tcp_rx_bytes),
	ONE(tcp_tx_bytes),
	ARRAY(drop_tcp_bad), /* by enum nip_tcp_err */
	ONE(drop_tcp_no_conn),
	ONE(drop_tcp_out_of_window),
	ONE(drop_tcp_paws),
	ONE(drop_tcp_bad_ack),
	ONE(drop_tcp_rcv_mem),
	ONE(drop_tcp_syn_queue_full),
	ONE(drop_tcp_accept_queue_full),
	ONE(drop_tcp_no_memory),
	ONE(drop_tcp_after_close),
	ONE(tcp_rst_sent),
	ONE(tcp_rst_rcvd),
	ONE(tcp_challenge_acks),
	ONE(tcp_challenge_limited),
	ONE(tcp_rcvbuf_grown),
	ONE(tcp_sndbuf_grown),
	ONE(tcp_tlp_probes),
	ONE(tcp_tlp_repairs),
	ONE(tcp_retransmits),
	ONE(tcp_fast_retransmits),
	ONE(tcp_rto_timeouts),
	ONE(tcp_timeouts),
	ONE(tcp_zero_window_probes),
	ONE(tcp_keepalive_probes),
	ONE(tcp_delayed_acks),
	ONE(tcp_active_opens),
	ONE(tcp_passive_opens),
	ONE(tcp_ooo_segs),
	ONE(tcp_tx_zero_copy),
	ONE(tcp_lost_retransmits),
	ONE(tcp_rack_untracked),
	ONE(drop_arp_resolving_full),
	ONE(drop_arp_rate_limited),
	ONE(drop_arp_queue_full),
	ONE(arp_evictions),
	ONE(arp_retries_limited),
	ONE(arp_cache_full),
	ONE(tcp_conn_limit),
	ONE(tcp_syncookies_sent),
	ONE(tcp_syncookies_ok),
	ONE(tcp_syncookies_failed),
	ONE(tcp_mem_pressure),
	ONE(tcp_mem_critical),
	ONE(tcp_mem_push_copied),
	ONE(tcp_mem_rcv_copied),
	ONE(tcp_mem_ofo_pruned),
	ONE(drop_tcp_mem_pressure),
	ONE(tcp_mem_window_updates),
	ONE(drop_ip4_bad_src),
	ONE(ip4_frags_rx),
	ONE(ip4_reassembled),
	ONE(drop_ip4_frag_timeout),
	ONE(drop_ip4_frag_mem),
	ONE(drop_ip4_frag_overlap),
	ONE(drop_ip4_frag_dup),
	ONE(drop_ip4_frag_too_long),
	ONE(drop_ip4_frag_bad),
};
const size_t nip_counter_names_len = sizeof(nip_counter_names) / sizeof(nip_counter_names[0]);

/* A log line holds a few hundred characters (lib/log.c): the counters go out in lines of at
 * most this many, each "catnip: counters: name=value ...". */
#define LINE_MAX_CHARS 400

void nip_counters_log(const struct nip_counters *c)
{
	char line[LINE_MAX_CHARS + 256];
	size_t len = 0;

	for (size_t i = 0; i < nip_counter_names_len; i++) {
		const struct nip_counter_name *e = &nip_counter_names[i];
		const uint64_t *v = (const uint64_t *)((const char *)c + e->offset);
		char item[256];
		size_t n = (size_t)snprintf(item, sizeof(item), " %s=", e->name);

		for (size_t j = 0; j < e->n && n < sizeof(item); j++)
			n += (size_t)snprintf(item + n, sizeof(item) - n, "%s%llu", j ? "/" : "",
					      (unsigned long long)v[j]);
		if (n >= sizeof(item))
			n = sizeof(item) - 1;
		if (len && len + n > LINE_MAX_CHARS) {
			DEMI_INFO("catnip: counters:%s", line);
			len = 0;
		}
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s", item);
	}
	if (len)
		DEMI_INFO("catnip: counters:%s", line);
}

/* demi_stats' names, "catnip.<counter>" and "catnip.<array>[i]": built once per process and
 * kept for its life (the API promises names of static storage). */
static const char **stat_names;
static size_t stat_count;
static pthread_once_t stat_once = PTHREAD_ONCE_INIT;

static void stat_names_build(void)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < nip_counter_names_len; i++)
		n += nip_counter_names[i].n;
	stat_names = calloc(n, sizeof(*stat_names));
	if (!stat_names)
		return;
	for (size_t i = 0; i < nip_counter_names_len; i++) {
		const struct nip_counter_name *e = &nip_counter_names[i];

		for (size_t j = 0; j < e->n; j++) {
			char buf[96];
			char *s;

			if (e->n == 1)
				snprintf(buf, sizeof(buf), "catnip.%s", e->name);
			else
				snprintf(buf, sizeof(buf), "catnip.%s[%zu]", e->name, j);
			if (!(s = malloc(strlen(buf) + 1)))
				return; /* stat_count stays at the names built */
			stat_names[k++] = strcpy(s, buf);
			stat_count = k;
		}
	}
}

size_t nip_counters_stats(const struct nip_counters *c, demi_stat_t *out, size_t cap)
{
	size_t k = 0;

	pthread_once(&stat_once, stat_names_build);
	for (size_t i = 0; i < nip_counter_names_len; i++) {
		const struct nip_counter_name *e = &nip_counter_names[i];
		const uint64_t *v = (const uint64_t *)((const char *)c + e->offset);

		for (size_t j = 0; j < e->n && k < stat_count; j++, k++)
			if (k < cap)
				out[k] = (demi_stat_t){stat_names[k], v[j]};
	}
	return k;
}
