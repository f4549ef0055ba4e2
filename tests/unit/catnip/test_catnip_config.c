/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/catnip_config.c, the libOS's configuration keys: without keys the
 * stack's defaults stand; each kind of key (count, milliseconds, seconds, switch) lands in its
 * field with its unit; out-of-range values, an RTO floor above the ceiling, a missing address
 * and an unknown congestion control are refused with a message naming the key; the
 * congestion control is found by name (in any case); the ARP table is read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "unit.h"

#include "catnip.h"
#include "dev/test_link.h"
#include "log_capture.h"
#include "tcp/cc.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define ADDR "demikernel:\n  local_ipv4_addr: 10.1.2.3\n"

/* Environment variables override the file: none may leak in from the caller. */
static int setup(void **state)
{
	static const char *const env[] = {
		"DEMIKERNEL_LOCAL_IPV4_ADDR",
		"INETSTACK_CONFIG_TCP_CONGESTION_CONTROL",
		"INETSTACK_CONFIG_TCP_DELAYED_ACK_MS",
		"INETSTACK_CONFIG_TCP_RCVBUF",
		"INETSTACK_CONFIG_TCP_SACK",
		"INETSTACK_CONFIG_TCP_KEEPALIVE_IDLE_S",
		"INETSTACK_CONFIG_TCP_RTO_MIN_MS",
		"INETSTACK_CONFIG_TCP_RTO_MAX_MS",
		"INETSTACK_CONFIG_ARP_REQUEST_TIMEOUT_MS",
		"INETSTACK_CONFIG_ARP_CACHE_TTL",
		"INETSTACK_CONFIG_UDP_RX_QUEUE_MAX",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		unsetenv(env[i]);
	return 0;
}

/* Reads yaml into *sc; returns nip_config_read's result, the log in *log if asked. */
static int read_yaml(const char *yaml, struct nip_stack_config *sc, char **log)
{
	struct demi__config cfg = {0};
	struct log_capture cap;
	int rc;

	assert_int_equal(demi__config_load_string(&cfg, yaml, "test"), 0);
	log_capture_begin(&cap, DEMI__LOG_ERROR);
	rc = nip_config_read(&cfg, sc);
	log_capture_end(&cap);
	if (log)
		*log = cap.text;
	else
		log_capture_free(&cap);
	demi__config_fini(&cfg);
	return rc;
}

/* Refused with -EINVAL and a message containing want. */
static void assert_refused(const char *yaml, const char *want)
{
	struct nip_stack_config sc;
	char *log;

	assert_int_equal(read_yaml(yaml, &sc, &log), -EINVAL);
	if (!strstr(log, want))
		fail_msg("refusal of \"%s\" logged \"%s\", not \"%s\"", yaml, log, want);
	free(log);
}

static void test_config_defaults(void **state)
{
	struct nip_stack_config sc, def;

	(void)state;
	assert_int_equal(read_yaml(ADDR, &sc, NULL), 0);
	nip_stack_config_default(&def);
	assert_int_equal(sc.ip, inet_addr("10.1.2.3"));
	/* Everything but the address and the random ISN secret is the stack's default. */
	def.ip = sc.ip;
	memcpy(def.tcp.isn_secret, sc.tcp.isn_secret, sizeof(def.tcp.isn_secret));
	assert_memory_equal(&sc, &def, sizeof(sc));
	assert_ptr_equal(sc.tcp.cc, &nip_cc_newreno);
	assert_true(sc.tcp.syncookies);
}

static void test_config_units(void **state)
{
	struct nip_stack_config sc;

	(void)state;
	assert_int_equal(read_yaml(ADDR "inetstack_config:\n"
					"  arp_request_retries: 7\n"
					"  arp_request_timeout_ms: 300\n"
					"  arp_cache_ttl: 40\n"
					"  udp_rx_queue_max: 77\n"
					"  tcp_rcvbuf: 8192\n"
					"  tcp_sndbuf_max: 0\n"
					"  tcp_sack: false\n"
					"  tcp_nodelay: no\n"
					"  tcp_delayed_ack_ms: 0\n"
					"  tcp_msl_ms: 1000\n"
					"  tcp_rto_min_ms: 5000\n"
					"  tcp_rto_max_ms: 9000\n"
					"  tcp_retries: 3\n"
					"  tcp_keepalive_idle_s: 60\n"
					"  tcp_keepalive_intvl_s: 2\n"
					"  tcp_keepalive_probes: 4\n"
					"  tcp_syn_backlog: 16\n"
					"  tcp_syncookies: false\n"
					"  tcp_mem_pressure_pct: 40\n"
					"  tcp_mem_critical_pct: 70\n",
				   &sc, NULL),
			 0);
	assert_int_equal(sc.arp_retries, 7);
	assert_int_equal(sc.arp_retry_ns, 300 * MS);
	assert_int_equal(sc.arp_ttl_ns, 40 * SEC);
	assert_int_equal(sc.udp_rx_queue_max, 77);
	assert_int_equal(sc.tcp.rcvbuf, 8192);
	assert_int_equal(sc.tcp.sndbuf_max, 0);
	assert_false(sc.tcp.sack);
	assert_false(sc.tcp.nodelay);
	assert_true(sc.tcp.wscale); /* untouched */
	assert_int_equal(sc.tcp.delack, 0);
	assert_int_equal(sc.tcp.msl, 1000 * MS);
	assert_int_equal(sc.tcp.rto_min, 5000 * MS);
	assert_int_equal(sc.tcp.rto_max, 9000 * MS);
	/* The initial RTO is raised to the floor. */
	assert_int_equal(sc.tcp.rto_init, 5000 * MS);
	assert_int_equal(sc.tcp.max_retries, 3);
	assert_int_equal(sc.tcp.keepalive_idle, 60 * SEC);
	assert_int_equal(sc.tcp.keepalive_intvl, 2 * SEC);
	assert_int_equal(sc.tcp.keepalive_probes, 4);
	assert_int_equal(sc.tcp.syn_backlog, 16);
	assert_false(sc.tcp.syncookies);
	assert_int_equal(sc.tcp.mem_pressure_pct, 40);
	assert_int_equal(sc.tcp.mem_critical_pct, 70);
}

static void test_config_refuses_bad_values(void **state)
{
	(void)state;
	assert_refused("inetstack_config:\n  tcp_rcvbuf: 8192\n", "local_ipv4_addr");
	assert_refused("demikernel:\n  local_ipv4_addr: 10.1.2\n", "local_ipv4_addr");
	assert_refused(ADDR "inetstack_config:\n  tcp_rcvbuf: 100\n", "tcp_rcvbuf");
	assert_refused(ADDR "inetstack_config:\n  tcp_delayed_ack_ms: 501\n", "tcp_delayed_ack_ms");
	assert_refused(ADDR "inetstack_config:\n  arp_request_retries: 0\n", "arp_request_retries");
	assert_refused(ADDR "inetstack_config:\n  tcp_timestamps: maybe\n", "tcp_timestamps");
	assert_refused(ADDR "inetstack_config:\n  tcp_mem_critical_pct: 101\n",
		       "tcp_mem_critical_pct");
	assert_refused(ADDR "inetstack_config:\n  tcp_rto_min_ms: 500\n  tcp_rto_max_ms: 400\n",
		       "tcp_rto_min_ms");
}

static void test_config_cc_by_name(void **state)
{
	struct nip_stack_config sc;

	(void)state;
	assert_int_equal(
		read_yaml(ADDR "inetstack_config:\n  tcp_congestion_control: cubic\n", &sc, NULL),
		0);
	assert_ptr_equal(sc.tcp.cc, &nip_cc_cubic);
	assert_int_equal(
		read_yaml(ADDR "inetstack_config:\n  tcp_congestion_control: NewReno\n", &sc, NULL),
		0);
	assert_ptr_equal(sc.tcp.cc, &nip_cc_newreno);
	assert_refused(ADDR "inetstack_config:\n  tcp_congestion_control: vegas\n",
		       "tcp_congestion_control=\"vegas\" is no congestion control algorithm");
	assert_refused(ADDR "inetstack_config:\n  tcp_congestion_control: cubiccubiccubiccubic\n",
		       "cubiccubiccubiccubic");
	assert_refused(ADDR "inetstack_config:\n  tcp_congestion_control: \"\"\n",
		       "tcp_congestion_control");
}

static void test_config_arp_table(void **state)
{
	struct demi__config cfg = {0};
	struct nip_stack_config sc;
	struct nip_stack s;
	struct demi__pool pool;
	struct nip_test_wire wire;
	uint64_t now = 0;
	uint8_t mac[6];

	(void)state;
	assert_int_equal(demi__pool_init(&pool, 0), 0);
	nip_test_wire_init(&wire, &pool, &now, 1500, 42);
	nip_stack_config_default(&sc);
	assert_int_equal(nip_stack_init(&s, nip_test_link(&wire, 0), &sc), 0);
	assert_int_equal(demi__config_load_string(&cfg,
						  "inetstack_config:\n  arp_table:\n"
						  "    \"02:00:00:00:00:09\": 10.1.2.9\n",
						  "test"),
			 0);
	assert_int_equal(nip_config_arp_table(&cfg, &s), 0);
	assert_true(nip_arp_lookup(&s, inet_addr("10.1.2.9"), mac));
	assert_int_equal(mac[5], 9);
	demi__config_fini(&cfg);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(demi__config_load_string(&cfg,
						  "inetstack_config:\n  arp_table:\n"
						  "    \"02:00:00:00:00\": 10.1.2.9\n",
						  "test"),
			 0);
	assert_int_equal(nip_config_arp_table(&cfg, &s), -EINVAL);
	demi__config_fini(&cfg);
	nip_stack_fini(&s);
	nip_test_wire_fini(&wire);
	assert_int_equal(pool.stats.bufs_in_use, 0);
	demi__pool_fini(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_defaults, setup),
		cmocka_unit_test_setup(test_config_units, setup),
		cmocka_unit_test_setup(test_config_refuses_bad_values, setup),
		cmocka_unit_test_setup(test_config_cc_by_name, setup),
		cmocka_unit_test_setup(test_config_arp_table, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
