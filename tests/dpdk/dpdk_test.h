/* SPDX-License-Identifier: MIT */
/*
 * Shared bits of the DPDK device tests: result codes (0 pass, 1 fail, 77 skip with the reason
 * printed), the EAL memory flags, and a configuration built from YAML text.
 *
 * Environment knobs: NIP_DPDK_TEST_MEM=inmem|nohuge picks --in-memory (hugepages) or
 * --no-huge -m 256 (default: --in-memory when enough 2 MiB hugepages are free);
 * NIP_DPDK_TEST_REGISTER=1 sets dpdk.register_memory (every pool slab registered with
 * rte_extmem_register).
 */
#ifndef NIP_DPDK_TEST_H
#define NIP_DPDK_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

static inline uint64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Free 2 MiB hugepages, or 0 when unknown. */
static inline long t_free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long n = 0;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

/* --in-memory when there are hugepages to spare (each process takes a few dozen MiB),
 * else --no-huge; NIP_DPDK_TEST_MEM=inmem|nohuge forces one. */
static inline const char *t_eal_mem(void)
{
	const char *m = getenv("NIP_DPDK_TEST_MEM");
	bool huge = m ? !strcmp(m, "inmem") : t_free_hugepages() >= 48;

	return huge ? "\"--in-memory\"" : "\"--no-huge\", \"-m\", \"256\"";
}

static inline const char *t_register(void)
{
	const char *r = getenv("NIP_DPDK_TEST_REGISTER");

	return r && !strcmp(r, "1") ? "true" : "false";
}

/* --no-huge keeps the EAL's runtime files (--in-memory refuses to go with it): remove those of
 * process pid, under /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk. */
static inline void t_eal_files_remove(int pid)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/dpdk/nip%d 2>/dev/null",
		 geteuid() == 0 ? "/var/run"
		 : xdg && *xdg	? xdg
				: "/tmp",
		 pid);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s failed\n", cmd);
}

/* A configuration whose dpdk.eal_init runs on core `core` with the given --vdev and a file
 * prefix of its own (two processes at once, and --no-huge keeps files). The environment must
 * not override the test's own keys. */
static inline int t_config(struct demi__config *cfg, int core, const char *vdev,
			   unsigned link_timeout_ms)
{
	char yaml[1024];

	unsetenv("DPDK_EAL_INIT");
	unsetenv("DPDK_PORT_ID");
	unsetenv("DPDK_LINK_TIMEOUT_MS");
	unsetenv("DPDK_RX_BUFS");
	unsetenv("DPDK_REGISTER_MEMORY");
	snprintf(yaml, sizeof(yaml),
		 "dpdk:\n"
		 "  eal_init: [\"nip_test\", \"-l\", \"%d\", \"--no-pci\", \"--no-telemetry\", %s,"
		 " \"--file-prefix=nip%d\", \"--log-level=lib.eal:error\", \"--vdev=%s\"]\n"
		 "  port_id: 0\n"
		 "  link_timeout_ms: %u\n"
		 "  register_memory: %s\n",
		 core, t_eal_mem(), (int)getpid(), vdev, link_timeout_ms, t_register());
	memset(cfg, 0, sizeof(*cfg));
	return demi__config_load_string(cfg, yaml, "test");
}

#endif
