/* SPDX-License-Identifier: MIT */
/* Helpers shared by the examples; see common.h. */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "common.h"

volatile sig_atomic_t ex_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	ex_stop = 1;
}

void ex_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocked calls must return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int ex_parse_addr(const char *s, struct sockaddr_in *out)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t iplen;

	if (!colon)
		return -EINVAL;
	iplen = (size_t)(colon - s);
	if (iplen == 0 || iplen >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';

	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &out->sin_addr) != 1)
		return -EINVAL;
	if (ex_parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

const char *ex_addr_str(const struct sockaddr_in *addr, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s:%u", ip, ntohs(addr->sin_port));
	return buf;
}

int ex_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	/* strtoull accepts a sign and wraps "-1" to a huge value: allow digits only. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int ex_bad_arg(const char *prog, const char *opt, const char *arg, const char *what)
{
	fprintf(stderr, "%s: %s: bad value '%s' (expected %s)\n", prog, opt, arg ? arg : "", what);
	return 2;
}

static const struct option long_opts[] = {
	{"server", required_argument, NULL, 's'},   {"client", required_argument, NULL, 'c'},
	{"pingpong", required_argument, NULL, 'P'}, {"count", required_argument, NULL, 'n'},
	{"clients", required_argument, NULL, 'C'},  {"size", required_argument, NULL, 'b'},
	{"requests", required_argument, NULL, 'r'}, {"warmup", required_argument, NULL, 'w'},
	{"window", required_argument, NULL, 'W'},   {"timeout-ms", required_argument, NULL, 't'},
	{"retries", required_argument, NULL, 'R'},  {"proto", required_argument, NULL, 'p'},
	{"mode", required_argument, NULL, 'm'},	    {"ignore", required_argument, NULL, 'I'},
	{"help", no_argument, NULL, 'h'},	    {NULL, 0, NULL, 0},
};

/* The EX_OPT_* flag of each short option code of long_opts. */
static unsigned int opt_flag(int code)
{
	switch (code) {
	case 's':
		return EX_OPT_SERVER;
	case 'c':
		return EX_OPT_CLIENT;
	case 'P':
		return EX_OPT_PINGPONG;
	case 'n':
		return EX_OPT_COUNT;
	case 'C':
		return EX_OPT_CLIENTS;
	case 'b':
		return EX_OPT_SIZE;
	case 'r':
		return EX_OPT_REQUESTS;
	case 'w':
		return EX_OPT_WARMUP;
	case 'W':
		return EX_OPT_WINDOW;
	case 't':
		return EX_OPT_TIMEOUT;
	case 'R':
		return EX_OPT_RETRIES;
	case 'p':
		return EX_OPT_PROTO;
	case 'm':
		return EX_OPT_IO;
	case 'I':
		return EX_OPT_IGNORE;
	default:
		return 0;
	}
}

static int usage_error(const char *prog, const char *usage)
{
	fprintf(stderr, "usage: %s %s", prog, usage);
	return 2;
}

static int set_mode(struct ex_opts *o, enum ex_mode mode, const char *prog, const char *arg)
{
	if (o->mode != EX_MODE_NONE) {
		fprintf(stderr, "%s: choose one of --server, --client, --pingpong\n", prog);
		return 2;
	}
	o->mode = mode;
	if (ex_parse_addr(arg, &o->addr) < 0)
		return ex_bad_arg(prog, "address", arg, "A.B.C.D:PORT");
	return 0;
}

/* Applies one parsed option. Returns 0 or the exit code 2. */
static int apply_opt(struct ex_opts *o, int code, const char *arg, uint64_t max_size,
		     const char *prog)
{
	switch (code) {
	case 's':
		return set_mode(o, EX_MODE_SERVER, prog, arg);
	case 'c':
		return set_mode(o, EX_MODE_CLIENT, prog, arg);
	case 'P':
		return set_mode(o, EX_MODE_PINGPONG, prog, arg);
	case 'n':
		if (ex_parse_u64(arg, 0, UINT64_MAX, &o->count) < 0)
			return ex_bad_arg(prog, "--count", arg, "a number");
		return 0;
	case 'I':
		if (ex_parse_u64(arg, 0, 65536, &o->ignore) < 0)
			return ex_bad_arg(prog, "--ignore", arg, "0 to 65536");
		return 0;
	case 'C':
		if (ex_parse_u64(arg, 1, 65536, &o->clients) < 0)
			return ex_bad_arg(prog, "--clients", arg, "1 to 65536");
		return 0;
	case 'b':
		if (ex_parse_u64(arg, 1, max_size, &o->size) < 0) {
			char what[64];

			snprintf(what, sizeof(what), "1 to %" PRIu64 " bytes", max_size);
			return ex_bad_arg(prog, "--size", arg, what);
		}
		return 0;
	case 'r':
		if (ex_parse_u64(arg, 1, UINT32_MAX, &o->requests) < 0)
			return ex_bad_arg(prog, "--requests", arg, "1 to 2^32-1");
		return 0;
	case 'w':
		if (ex_parse_u64(arg, 0, UINT32_MAX, &o->warmup) < 0)
			return ex_bad_arg(prog, "--warmup", arg, "0 to 2^32-1");
		return 0;
	case 'W':
		if (ex_parse_u64(arg, 1, 4096, &o->window) < 0)
			return ex_bad_arg(prog, "--window", arg, "1 to 4096");
		return 0;
	case 't':
		if (ex_parse_u64(arg, 1, 3600000, &o->timeout_ms) < 0)
			return ex_bad_arg(prog, "--timeout-ms", arg, "1 to 3600000");
		return 0;
	case 'R':
		if (ex_parse_u64(arg, 0, 1000, &o->retries) < 0)
			return ex_bad_arg(prog, "--retries", arg, "0 to 1000");
		return 0;
	case 'p':
		if (strcmp(arg, "tcp") != 0 && strcmp(arg, "udp") != 0)
			return ex_bad_arg(prog, "--proto", arg, "tcp or udp");
		o->proto = arg;
		return 0;
	case 'm':
		if (strcmp(arg, "blocking") != 0 && strcmp(arg, "epoll") != 0)
			return ex_bad_arg(prog, "--mode", arg, "blocking or epoll");
		o->io = arg;
		return 0;
	default:
		return 2;
	}
}

bool ex_opts_parse(int argc, char **argv, unsigned int allowed, uint64_t max_size,
		   const char *usage, struct ex_opts *o, int *exit_code)
{
	const char *prog = argv[0];
	int code, idx = -1;

	*exit_code = 0;
	opterr = 0; /* we print our own message */
	while ((code = getopt_long(argc, argv, "", long_opts, &idx)) != -1) {
		if (code == 'h') {
			printf("usage: %s %s", prog, usage);
			return false;
		}
		if (code == '?' || code == ':') {
			fprintf(stderr, "%s: unknown option or missing value: %s\n", prog,
				argv[optind - 1]);
			*exit_code = usage_error(prog, usage);
			return false;
		}
		if (!(opt_flag(code) & allowed)) {
			fprintf(stderr, "%s: --%s does not apply to this program\n", prog,
				long_opts[idx].name);
			*exit_code = usage_error(prog, usage);
			return false;
		}
		*exit_code = apply_opt(o, code, optarg, max_size, prog);
		if (*exit_code != 0)
			return false;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		*exit_code = usage_error(prog, usage);
		return false;
	}
	if (o->mode == EX_MODE_NONE) {
		fprintf(stderr, "%s: a mode is required\n", prog);
		*exit_code = usage_error(prog, usage);
		return false;
	}
	return true;
}

uint64_t ex_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * EX_NS_PER_S + (uint64_t)ts.tv_nsec;
}

struct timespec ex_timespec(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / EX_NS_PER_S),
		.tv_nsec = (long)(ns % EX_NS_PER_S),
	};

	return ts;
}

/* splitmix64 finalizer: a cheap, well-mixed hash of one 64-bit word. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Word `idx` of message `seed`, already in wire (little endian) byte order. */
static uint64_t pattern_word(uint64_t seed, uint64_t idx)
{
	return htole64(idx == 0 ? seed : mix64(seed ^ (idx * 0xd6e8feb86659fd93ULL)));
}

static uint8_t pattern_byte(uint64_t seed, size_t pos)
{
	uint64_t w = pattern_word(seed, pos / 8);

	return ((const uint8_t *)&w)[pos % 8];
}

void ex_pattern_fill(void *buf, size_t len, uint64_t seed, size_t offset)
{
	uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && (offset + i) % 8 != 0; i++)
		p[i] = pattern_byte(seed, offset + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(seed, (offset + i) / 8);

		memcpy(p + i, &w, 8);
	}
	for (; i < len; i++)
		p[i] = pattern_byte(seed, offset + i);
}

size_t ex_pattern_check(const void *buf, size_t len, uint64_t seed, size_t offset)
{
	const uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && (offset + i) % 8 != 0; i++)
		if (p[i] != pattern_byte(seed, offset + i))
			return i;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(seed, (offset + i) / 8);

		if (memcmp(p + i, &w, 8) != 0)
			break; /* the byte loop below finds which one */
	}
	for (; i < len; i++)
		if (p[i] != pattern_byte(seed, offset + i))
			return i;
	return len;
}

bool ex_pattern_seed(const void *buf, size_t len, uint64_t *seed)
{
	uint64_t w;

	if (len < 8)
		return false;
	memcpy(&w, buf, 8);
	*seed = le64toh(w);
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double percentile_us(const uint64_t *sorted, size_t n, double p)
{
	double rank = p * (double)n;
	size_t idx = (size_t)rank;

	/* rank is 1-based and rounded up: ceil(p * n) - 1 as a 0-based index */
	if ((double)idx < rank)
		idx++;
	if (idx > 0)
		idx--;
	if (idx >= n)
		idx = n - 1;
	return (double)sorted[idx] / (double)EX_NS_PER_US;
}

/* The distribution for plots: "latency_us fraction" at every 0.1% and the tail's last points,
 * into the file named by EX_CDF_FILE (the benchmark scripts set it; unset, nothing). */
static void cdf_write(const uint64_t *sorted, size_t n)
{
	static const double tail[] = {0.9995, 0.9999, 0.99999};
	const char *path = getenv("EX_CDF_FILE");
	FILE *f;

	if (!path || !*path || !(f = fopen(path, "w")))
		return;
	for (int i = 1; i <= 1000; i++)
		fprintf(f, "%.3f %.5f\n", percentile_us(sorted, n, i / 1000.0), i / 1000.0);
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		fprintf(f, "%.3f %.5f\n", percentile_us(sorted, n, tail[i]), tail[i]);
	fclose(f);
}

void ex_latency_compute(uint64_t *samples, size_t n, struct ex_latency *out)
{
	double sum = 0;

	qsort(samples, n, sizeof(*samples), cmp_u64);
	cdf_write(samples, n);
	for (size_t i = 0; i < n; i++)
		sum += (double)samples[i];
	out->p50 = percentile_us(samples, n, 0.50);
	out->p99 = percentile_us(samples, n, 0.99);
	out->p999 = percentile_us(samples, n, 0.999);
	out->max = (double)samples[n - 1] / (double)EX_NS_PER_US;
	out->mean = sum / (double)n / (double)EX_NS_PER_US;
}

void ex_latency_print(const char *proto, size_t size, size_t n, const struct ex_latency *lat)
{
	printf("%s round trips of %zu B: %zu samples\n", proto, size, n);
	printf("  p50 %10.2f us\n  p99 %10.2f us\n  p99.9 %8.2f us\n  max %10.2f us\n"
	       "  mean %9.2f us\n",
	       lat->p50, lat->p99, lat->p999, lat->max, lat->mean);
	printf("RESULT proto=%s size=%zu n=%zu p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f "
	       "mean_us=%.2f\n",
	       proto, size, n, lat->p50, lat->p99, lat->p999, lat->max, lat->mean);
	fflush(stdout);
}

void ex_rate_print(const char *proto, const char *role, size_t size, uint64_t msgs, uint64_t bytes,
		   uint64_t elapsed_ns)
{
	double secs = (double)elapsed_ns / (double)EX_NS_PER_S;
	double mbs = 0, gbits = 0, mps = 0;

	if (secs > 0) {
		mbs = (double)bytes / secs / 1e6;
		gbits = (double)bytes * 8 / secs / 1e9;
		mps = (double)msgs / secs;
	}
	printf("%s %s: %" PRIu64 " messages, %" PRIu64 " bytes in %.3f s: %.1f MB/s, "
	       "%.3f Gbit/s, %.0f msgs/s\n",
	       proto, role, msgs, bytes, secs, mbs, gbits, mps);
	printf("RESULT proto=%s role=%s size=%zu msgs=%" PRIu64 " bytes=%" PRIu64
	       " elapsed_s=%.6f mb_s=%.2f gbit_s=%.3f msgs_s=%.0f\n",
	       proto, role, size, msgs, bytes, secs, mbs, gbits, mps);
	fflush(stdout);
}

void ex_echo_print(const char *proto, const struct ex_echo_stats *st)
{
	double secs = (double)st->elapsed_ns / (double)EX_NS_PER_S;
	double bytes = (double)st->done * (double)st->size;
	double rps = secs > 0 ? (double)st->done / secs : 0;
	double mbs = secs > 0 ? bytes / secs / 1e6 : 0;

	printf("%s echo client: %" PRIu64 " clients x %zu B\n", proto, st->clients, st->size);
	printf("  requests %" PRIu64 "/%" PRIu64 " echoed exactly, %.0f bytes each way\n", st->done,
	       st->expected, bytes);
	printf("  elapsed %.3f s, %.0f req/s, %.1f MB/s each way\n", secs, rps, mbs);
	printf("  errors %" PRIu64 ", lost %" PRIu64 ", retries %" PRIu64 "\n", st->errors,
	       st->lost, st->retries);
	printf("RESULT proto=%s role=echo-client clients=%" PRIu64 " size=%zu requests=%" PRIu64
	       " echoed=%" PRIu64 " bytes=%.0f elapsed_s=%.6f req_s=%.0f mb_s=%.2f errors=%" PRIu64
	       " lost=%" PRIu64 " retries=%" PRIu64 "\n",
	       proto, st->clients, st->size, st->expected, st->done, bytes, secs, rps, mbs,
	       st->errors, st->lost, st->retries);
	fflush(stdout);
}
