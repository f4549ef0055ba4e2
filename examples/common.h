/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the examples: argument parsing, the clock, the request pattern, latency
 * statistics and signals. Nothing here calls libdemikernel, so the Linux-sockets baseline
 * (linux-echo) uses the very same code and its numbers stay comparable.
 */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#define EX_NS_PER_US 1000ULL
#define EX_NS_PER_MS 1000000ULL
#define EX_NS_PER_S 1000000000ULL

/* Largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP). */
#define EX_UDP_MAX 65507U

/* Set to 1 by SIGINT or SIGTERM once ex_signals_init() ran. */
extern volatile sig_atomic_t ex_stop;

/*
 * Ignores SIGPIPE (a peer that goes away must give an error, not kill us) and makes SIGINT and
 * SIGTERM set ex_stop. The handlers are installed without SA_RESTART so that a thread blocked in
 * a system call sees EINTR and can look at ex_stop.
 */
void ex_signals_init(void);

/* Parses "A.B.C.D:PORT" (port 1-65535). Returns 0 or -EINVAL. */
int ex_parse_addr(const char *s, struct sockaddr_in *out);

/* Formats an address as "A.B.C.D:PORT" into buf (at least 22 bytes); returns buf. */
const char *ex_addr_str(const struct sockaddr_in *addr, char *buf, size_t len);

/*
 * Parses an unsigned decimal number with an optional binary suffix k, m or g (so "4k" is 4096 and
 * "1m" is 1048576) and checks it lies in [min, max]. Returns 0 or -EINVAL.
 */
int ex_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Prints "PROG: OPTION: bad value 'ARG' (expected WHAT)" and returns 2, the usage exit code. */
int ex_bad_arg(const char *prog, const char *opt, const char *arg, const char *what);

/* What a program was asked to do. */
enum ex_mode { EX_MODE_NONE, EX_MODE_SERVER, EX_MODE_CLIENT, EX_MODE_PINGPONG };

/* Options of the examples. Each program fills in its defaults before ex_opts_parse. */
struct ex_opts {
	enum ex_mode mode;
	struct sockaddr_in addr; /* of --server, --client or --pingpong */
	uint64_t count;		 /* --count: connections or datagrams to serve, 0 = no limit */
	uint64_t ignore;	 /* --ignore: connections accepted first and never read */
	uint64_t clients;	 /* --clients: concurrent connections or sockets */
	uint64_t size;		 /* --size: bytes per request or message */
	uint64_t requests;	 /* --requests: per client */
	uint64_t warmup;	 /* --warmup: untimed requests first */
	uint64_t window;	 /* --window: outstanding pushes */
	uint64_t timeout_ms;	 /* --timeout-ms: idle (TCP) or per-datagram (UDP) timeout */
	uint64_t retries;	 /* --retries: UDP resends before a request counts as lost */
	const char *proto;	 /* --proto tcp|udp */
	const char *io;		 /* --mode blocking|epoll */
};

/* Options a program accepts, for ex_opts_parse. */
enum {
	EX_OPT_SERVER = 1u << 0,
	EX_OPT_CLIENT = 1u << 1,
	EX_OPT_PINGPONG = 1u << 2,
	EX_OPT_COUNT = 1u << 3,
	EX_OPT_CLIENTS = 1u << 4,
	EX_OPT_SIZE = 1u << 5,
	EX_OPT_REQUESTS = 1u << 6,
	EX_OPT_WARMUP = 1u << 7,
	EX_OPT_WINDOW = 1u << 8,
	EX_OPT_TIMEOUT = 1u << 9,
	EX_OPT_RETRIES = 1u << 10,
	EX_OPT_PROTO = 1u << 11,
	EX_OPT_IO = 1u << 12,
	EX_OPT_IGNORE = 1u << 13,
};

/*
 * Parses the command line, accepting only the options in `allowed`; a mode (--server, --client
 * or --pingpong) is required and max_size bounds --size. Returns true to go on; false when the
 * program must exit with *exit_code: 0 after --help (usage on stdout), 2 for a bad command line
 * (message and usage on stderr).
 */
bool ex_opts_parse(int argc, char **argv, unsigned int allowed, uint64_t max_size,
		   const char *usage, struct ex_opts *o, int *exit_code);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ex_now_ns(void);

/* A relative timeout of ns nanoseconds. */
struct timespec ex_timespec(uint64_t ns);

/*
 * The request pattern. Message `seed` is a deterministic byte sequence: its first 8 bytes are the
 * seed itself (little endian) so that a receiver can tell which request a datagram answers, and
 * every later 8-byte word is a hash of (seed, word index), so a lost, duplicated or shifted range
 * of a stream shows as a mismatch. Bytes are defined by their offset in the message, which lets a
 * TCP receiver check each piece as it arrives.
 */
void ex_pattern_fill(void *buf, size_t len, uint64_t seed, size_t offset);

/* Returns the index in buf of the first byte that differs from the pattern, or len if none. */
size_t ex_pattern_check(const void *buf, size_t len, uint64_t seed, size_t offset);

/* Reads the seed a message starts with; false if it is shorter than 8 bytes. */
bool ex_pattern_seed(const void *buf, size_t len, uint64_t *seed);

/* Seed of request `req` of client `client`: unique per request, so a stale echo is detected. */
static inline uint64_t ex_seed(uint32_t client, uint32_t req)
{
	return ((uint64_t)(client + 1) << 32) | req;
}

/* Latency statistics in microseconds. */
struct ex_latency {
	double p50;
	double p99;
	double p999;
	double max;
	double mean;
};

/* Sorts samples (nanoseconds) in place and computes nearest-rank percentiles; n must be > 0. */
void ex_latency_compute(uint64_t *samples, size_t n, struct ex_latency *out);

/*
 * Prints the human-readable summary and then the machine-readable line
 * "RESULT proto=P size=B n=N p50_us=.. p99_us=.. p999_us=.. max_us=.. mean_us=..".
 */
void ex_latency_print(const char *proto, size_t size, size_t n, const struct ex_latency *lat);

/* Prints a throughput summary and its RESULT line for `role` (client or server). */
void ex_rate_print(const char *proto, const char *role, size_t size, uint64_t msgs, uint64_t bytes,
		   uint64_t elapsed_ns);

/* Outcome of an echo client run. */
struct ex_echo_stats {
	uint64_t clients;  /* connections (TCP) or sockets (UDP) */
	size_t size;	   /* bytes per request */
	uint64_t expected; /* requests that should have been echoed */
	uint64_t done;	   /* requests echoed exactly */
	uint64_t errors;   /* failed operations, mismatches, aborted connections */
	uint64_t lost;	   /* UDP: requests without an echo after every retry */
	uint64_t retries;  /* UDP: requests sent again after a timeout */
	uint64_t elapsed_ns;
};

/* Prints an echo client's summary and its RESULT line. */
void ex_echo_print(const char *proto, const struct ex_echo_stats *st);

#endif /* EX_COMMON_H */
