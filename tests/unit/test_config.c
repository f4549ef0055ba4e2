/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of lib/config.c: YAML (nested mappings, lists, repeated keys, what is
 * refused), environment overrides of scalars and lists, and the typed getters. Every test
 * starts with none of the environment variables it uses set and unsets them at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "config.h"
#include "log.h"

/* Every variable a test may set; cleared before and after each test. */
/* clang-format off */
static const char *const env_vars[] = {
	"A", "A_B", "B", "C", "D", "L", "M_K", "X", "TOP", "SCALAR", "OTHER", "FLOW_K", "FLOW_M_N",
	"LIBOS", "ABSENT", "MISSING", "NOTHING", "CATNAP_ENGINE", "DEMIKERNEL_LOCAL_IPV4_ADDR",
	"DEMIKERNEL_BACK", "DPDK_EAL_INIT", "DPDK_BLOCK", "DPDK_EMPTY", "DPDK_AFTER", "FLAG",
	"NUM", "MODE", "CONFIG_PATH", "LIST", "NOPE", NULL,
};
/* clang-format on */

static void clear_env(void)
{
	for (int i = 0; env_vars[i]; i++)
		unsetenv(env_vars[i]);
}

static int setup(void **state)
{
	struct demi__config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -1;
	clear_env();
	*state = cfg;
	return 0;
}

static int teardown(void **state)
{
	struct demi__config *cfg = *state;

	demi__config_fini(cfg);
	for (size_t i = 0; i < sizeof(*cfg); i++)
		assert_int_equal(((uint8_t *)cfg)[i], 0);
	free(cfg);
	clear_env();
	return 0;
}

static void load_ok(struct demi__config *cfg, const char *yaml)
{
	assert_int_equal(demi__config_load_string(cfg, yaml, "test"), 0);
}

/* Each YAML text must be refused, on a fresh config each time. */
static void expect_einval(const char *yaml)
{
	struct demi__config cfg = {0};
	int rc = demi__config_load_string(&cfg, yaml, "test");

	if (rc != -EINVAL)
		print_error("accepted (%d): \"%s\"\n", rc, yaml);
	demi__config_fini(&cfg);
	assert_int_equal(rc, -EINVAL);
}

static void expect_list(struct demi__config *cfg, const char *key, const char *const *want,
			size_t nwant)
{
	size_t n = 12345;
	char *const *items = demi__config_get_list(cfg, key, &n);

	assert_int_equal(n, nwant);
	if (nwant)
		assert_non_null(items);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(items[i], want[i]);
}

/* ---- YAML ---- */

static void test_config_top_level_scalars(void **state)
{
	struct demi__config *cfg = *state;

	load_ok(cfg, "a: 1\nb: hello world\nc: \"quoted: yes\"\n");
	assert_string_equal(demi__config_get(cfg, "a"), "1");
	assert_string_equal(demi__config_get(cfg, "b"), "hello world");
	assert_string_equal(demi__config_get(cfg, "c"), "quoted: yes");
	assert_null(demi__config_get(cfg, "d"));
	assert_null(demi__config_get(cfg, ""));
	assert_null(demi__config_get(cfg, "a.b"));
}

static void test_config_nested_maps(void **state)
{
	struct demi__config *cfg = *state;

	load_ok(cfg, "demikernel:\n"
		     "  local_ipv4_addr: 10.0.0.1\n"
		     "  deep:\n"
		     "    deeper:\n"
		     "      x: y\n"
		     "    after: 2\n"
		     "  back: 3\n"
		     "other: z\n"
		     "flow: {k: v, m: {n: o}}\n");
	assert_string_equal(demi__config_get(cfg, "demikernel.local_ipv4_addr"), "10.0.0.1");
	assert_string_equal(demi__config_get(cfg, "demikernel.deep.deeper.x"), "y");
	assert_string_equal(demi__config_get(cfg, "demikernel.deep.after"), "2");
	assert_string_equal(demi__config_get(cfg, "demikernel.back"), "3");
	assert_string_equal(demi__config_get(cfg, "other"), "z");
	assert_string_equal(demi__config_get(cfg, "flow.k"), "v");
	assert_string_equal(demi__config_get(cfg, "flow.m.n"), "o");
	/* A mapping is not a scalar, and keys do not leak between levels. */
	assert_null(demi__config_get(cfg, "demikernel"));
	assert_null(demi__config_get(cfg, "demikernel.deep"));
	assert_null(demi__config_get(cfg, "local_ipv4_addr"));
	assert_null(demi__config_get(cfg, "deep.after"));
	assert_null(demi__config_get(cfg, "demikernel.deeper.x"));
	assert_null(demi__config_get(cfg, "demikernel.deep.back"));
}

/* Sixteen levels of mapping are allowed, seventeen are not. */
static void test_config_depth_limit(void **state)
{
	struct demi__config *cfg = *state;
	char yaml[1024] = "", key[256] = "", *p = yaml;

	for (int i = 1; i <= 16; i++) {
		p += sprintf(p, "%*sk%d:%s", 2 * (i - 1), "", i, i < 16 ? "\n" : " leaf\n");
		sprintf(key + strlen(key), "%sk%d", i > 1 ? "." : "", i);
	}
	load_ok(cfg, yaml);
	assert_string_equal(demi__config_get(cfg, key), "leaf");

	p = yaml;
	for (int i = 1; i <= 17; i++)
		p += sprintf(p, "%*sk%d:%s", 2 * (i - 1), "", i, i < 17 ? "\n" : " leaf\n");
	expect_einval(yaml);
}

static void test_config_lists(void **state)
{
	struct demi__config *cfg = *state;
	const char *const eal[] = {"-l", "0", "--no-pci", "a b"};
	const char *const blk[] = {"x", "y"};
	const char *const one[] = {"3"};
	size_t n = 99;

	load_ok(cfg, "dpdk:\n"
		     "  eal_init: [\"-l\", \"0\", \"--no-pci\", \"a b\"]\n"
		     "  block:\n"
		     "    - x\n"
		     "    - y\n"
		     "  empty: []\n"
		     "  after: 4\n"
		     "top: [3]\n"
		     "scalar: s\n");
	expect_list(cfg, "dpdk.eal_init", eal, 4);
	expect_list(cfg, "dpdk.block", blk, 2);
	expect_list(cfg, "top", one, 1);
	expect_list(cfg, "dpdk.empty", NULL, 0);
	assert_string_equal(demi__config_get(cfg, "dpdk.after"), "4");
	assert_string_equal(demi__config_get(cfg, "scalar"), "s");
	/* A list is not a scalar and a scalar is not a list. */
	assert_null(demi__config_get(cfg, "dpdk.eal_init"));
	assert_null(demi__config_get_list(cfg, "scalar", &n));
	assert_int_equal(n, 0);
	n = 99;
	assert_null(demi__config_get_list(cfg, "missing", &n));
	assert_int_equal(n, 0);
}

/* A key given twice takes its last value, list or scalar. */
static void test_config_repeated_keys(void **state)
{
	struct demi__config *cfg = *state;
	const char *const second[] = {"c", "d", "e"};

	load_ok(cfg, "a: 1\nm:\n  k: old\nl: [a, b]\na: 2\nm:\n  k: new\nl: [c, d, e]\n");
	assert_string_equal(demi__config_get(cfg, "a"), "2");
	assert_string_equal(demi__config_get(cfg, "m.k"), "new");
	expect_list(cfg, "l", second, 3);
}

/* Empty documents and a bare scalar configure nothing but are not errors. */
static void test_config_empty_documents(void **state)
{
	struct demi__config *cfg = *state;

	load_ok(cfg, "");
	load_ok(cfg, "---\n");
	load_ok(cfg, "# only a comment\n");
	load_ok(cfg, "just a scalar\n");
	assert_int_equal(cfg->n, 0);
	load_ok(cfg, "a: 1\n---\nb: 2\n");
	assert_string_equal(demi__config_get(cfg, "a"), "1");
	assert_string_equal(demi__config_get(cfg, "b"), "2");
}

static void test_config_malformed_yaml(void **state)
{
	(void)state;
	expect_einval("a: [1, 2\n");
	expect_einval("a: {b: 1\n");
	expect_einval("a: b: c\n");
	expect_einval("a:\n  - x\n  b: y\n");
	expect_einval("a: 1\n b: 2\n  c: 3\n");
	expect_einval("a: \"unterminated\n");
	expect_einval("\tb: 1\n");
	expect_einval("a: 1\n- b\n");
	expect_einval("[a, b\n");
}

/* Structures the configuration cannot express are refused, not half-read. */
static void test_config_unsupported_structures(void **state)
{
	(void)state;
	expect_einval("- a\n- b\n");	     /* top-level list */
	expect_einval("a: [[1, 2], [3]]\n"); /* list of lists */
	expect_einval("a:\n  - b: 1\n");     /* list of maps */
	expect_einval("? [x, y]\n: v\n");    /* a list as a key */
	expect_einval("? {x: 1}\n: v\n");    /* a map as a key */
}

static void test_config_aliases_rejected(void **state)
{
	(void)state;
	expect_einval("a: &x 1\nb: *x\n");
	expect_einval("base: &b {x: 1}\nd:\n  <<: *b\n");
	expect_einval("l: &l [1]\nm: *l\n");
}

/* ---- environment ---- */

static void test_config_env_overrides_scalar(void **state)
{
	struct demi__config *cfg = *state;

	load_ok(cfg, "catnap:\n  engine: epoll\ndemikernel:\n  local_ipv4_addr: 10.0.0.1\n");
	assert_string_equal(demi__config_get(cfg, "catnap.engine"), "epoll");
	setenv("CATNAP_ENGINE", "io_uring", 1);
	setenv("DEMIKERNEL_LOCAL_IPV4_ADDR", "192.168.1.2", 1);
	assert_string_equal(demi__config_get(cfg, "catnap.engine"), "io_uring");
	assert_string_equal(demi__config_get(cfg, "demikernel.local_ipv4_addr"), "192.168.1.2");
	/* Keys absent from the file too. */
	setenv("A_B", "env only", 1);
	assert_string_equal(demi__config_get(cfg, "a.b"), "env only");
	assert_null(demi__config_get(cfg, "nope"));
	unsetenv("CATNAP_ENGINE");
	assert_string_equal(demi__config_get(cfg, "catnap.engine"), "epoll");
}

/* An environment list is split on spaces; runs of spaces make no empty items. */
static void test_config_env_overrides_list(void **state)
{
	struct demi__config *cfg = *state;
	const char *const file[] = {"-l", "0"};
	const char *const env[] = {"-l", "1", "--in-memory"};
	const char *const one[] = {"solo"};

	load_ok(cfg, "dpdk:\n  eal_init: [\"-l\", \"0\"]\n");
	expect_list(cfg, "dpdk.eal_init", file, 2);
	setenv("DPDK_EAL_INIT", "  -l 1   --in-memory ", 1);
	expect_list(cfg, "dpdk.eal_init", env, 3);
	/* Called again (the previous result's storage is replaced; ASan checks it). */
	expect_list(cfg, "dpdk.eal_init", env, 3);
	setenv("LIST", "solo", 1);
	expect_list(cfg, "list", one, 1);
	setenv("LIST", "", 1);
	expect_list(cfg, "list", NULL, 0);
	setenv("LIST", "a b c d e f g h i j k l m n o p q r s t u v w x y z", 1);
	{
		size_t n;
		char *const *items = demi__config_get_list(cfg, "list", &n);

		assert_int_equal(n, 26);
		for (size_t i = 0; i < n; i++) {
			char want[2] = {(char)('a' + i), 0};

			assert_string_equal(items[i], want);
		}
	}
	unsetenv("DPDK_EAL_INIT");
	expect_list(cfg, "dpdk.eal_init", file, 2);
}

/* The typed getters read the environment too, and validate what they find there. */
static void test_config_env_overrides_typed(void **state)
{
	struct demi__config *cfg = *state;
	bool flag;
	uint64_t num;

	load_ok(cfg, "flag: true\nnum: 5\n");
	assert_int_equal(demi__config_get_bool(cfg, "flag", false, &flag), 0);
	assert_true(flag);
	setenv("FLAG", "off", 1);
	setenv("NUM", "77", 1);
	assert_int_equal(demi__config_get_bool(cfg, "flag", true, &flag), 0);
	assert_false(flag);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 0, 100, &num), 0);
	assert_int_equal(num, 77);
	setenv("FLAG", "maybe", 1);
	setenv("NUM", "1000", 1);
	assert_int_equal(demi__config_get_bool(cfg, "flag", true, &flag), -EINVAL);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 0, 100, &num), -EINVAL);
}

/* ---- typed getters ---- */

static void test_config_get_bool(void **state)
{
	struct demi__config *cfg = *state;
	const char *const yes[] = {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"};
	const char *const no[] = {"0", "false", "FALSE", "no", "No", "off", "OFF"};
	/* clang-format off */
	const char *const bad[] = { "", "2", "truee", "tru", "y", "n", "yes please", " true",
				    "-1", "enabled" };
	/* clang-format on */
	bool out;

	load_ok(cfg, "x: 1\n");
	assert_int_equal(demi__config_get_bool(cfg, "absent", true, &out), 0);
	assert_true(out);
	assert_int_equal(demi__config_get_bool(cfg, "absent", false, &out), 0);
	assert_false(out);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		setenv("FLAG", yes[i], 1);
		out = false;
		assert_int_equal(demi__config_get_bool(cfg, "flag", false, &out), 0);
		assert_true(out);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		setenv("FLAG", no[i], 1);
		out = true;
		assert_int_equal(demi__config_get_bool(cfg, "flag", true, &out), 0);
		assert_false(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("FLAG", bad[i], 1);
		if (demi__config_get_bool(cfg, "flag", false, &out) != -EINVAL)
			fail_msg("\"%s\" accepted as a boolean", bad[i]);
	}
}

static void test_config_get_u64(void **state)
{
	struct demi__config *cfg = *state;
	/* clang-format off */
	const char *const bad[] = { "", "abc", "12abc", "1.5", "-1", "-0", "5 ", "0x",
				    "18446744073709551616", "99999999999999999999999" };
	/* clang-format on */
	uint64_t out;

	load_ok(cfg, "num: 42\n");
	assert_int_equal(demi__config_get_u64(cfg, "num", 7, 0, 100, &out), 0);
	assert_int_equal(out, 42);
	assert_int_equal(demi__config_get_u64(cfg, "absent", 7, 0, 100, &out), 0);
	assert_int_equal(out, 7);
	/* Range bounds are inclusive. */
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 42, 42, &out), 0);
	assert_int_equal(out, 42);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 43, 100, &out), -EINVAL);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 0, 41, &out), -EINVAL);
	setenv("NUM", "0x10", 1);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 0, 100, &out), 0);
	assert_int_equal(out, 16);
	setenv("NUM", "18446744073709551615", 1);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 0, UINT64_MAX, &out), 0);
	assert_int_equal(out, UINT64_MAX);
	assert_int_equal(demi__config_get_u64(cfg, "num", 0, 0, UINT64_MAX - 1, &out), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NUM", bad[i], 1);
		if (demi__config_get_u64(cfg, "num", 0, 0, UINT64_MAX, &out) != -EINVAL)
			fail_msg("\"%s\" accepted as an unsigned integer (got %llu)", bad[i],
				 (unsigned long long)out);
	}
}

/* strtoull skips leading white space and then accepts a minus sign: a negative number must
 * still be refused when white space comes first. */
static void test_config_get_u64_negative_after_space(void **state)
{
	struct demi__config *cfg = *state;
	const char *const bad[] = {" -1", "\t-5", "  -18446744073709551615"};
	uint64_t out;

	load_ok(cfg, "x: 1\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NUM", bad[i], 1);
		if (demi__config_get_u64(cfg, "num", 0, 0, UINT64_MAX, &out) != -EINVAL)
			fail_msg("\"%s\" accepted as an unsigned integer (got %llu)", bad[i],
				 (unsigned long long)out);
	}
}

static void test_config_get_choice(void **state)
{
	struct demi__config *cfg = *state;
	const char *const engines[] = {"epoll", "io_uring", NULL};
	const char *const bad[] = {"", "kqueue", "epol", "epoll ", "io_uring2"};
	int out;

	load_ok(cfg, "mode: io_uring\n");
	assert_int_equal(demi__config_get_choice(cfg, "mode", engines, 0, &out), 0);
	assert_int_equal(out, 1);
	assert_int_equal(demi__config_get_choice(cfg, "absent", engines, 1, &out), 0);
	assert_int_equal(out, 1);
	setenv("MODE", "EPOLL", 1);
	assert_int_equal(demi__config_get_choice(cfg, "mode", engines, 1, &out), 0);
	assert_int_equal(out, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("MODE", bad[i], 1);
		if (demi__config_get_choice(cfg, "mode", engines, 0, &out) != -EINVAL)
			fail_msg("\"%s\" accepted as a choice", bad[i]);
	}
}

/* A refused value with many long choices: the error message is built safely. */
static void test_config_get_choice_long_list(void **state)
{
	struct demi__config *cfg = *state;
	static char names[40][32];
	const char *choices[41];
	int out;

	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "a_rather_long_choice_name_%02d", i);
		choices[i] = names[i];
	}
	choices[40] = NULL;
	load_ok(cfg, "mode: a_rather_long_choice_name_39\n");
	assert_int_equal(demi__config_get_choice(cfg, "mode", choices, 0, &out), 0);
	assert_int_equal(out, 39);
	setenv("MODE", "none of them", 1);
	assert_int_equal(demi__config_get_choice(cfg, "mode", choices, 0, &out), -EINVAL);
}

/* ---- foreach ---- */

struct seen {
	int n;
	char names[8][32];
	char values[8][32];
	int stop_at; /* return 1 at this call (1-based), 0 = never */
};

static int collect(void *arg, const char *name, const char *value)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		snprintf(s->values[s->n], sizeof(s->values[0]), "%s", value);
	}
	s->n++;
	return s->n == s->stop_at ? 17 : 0;
}

static void test_config_foreach(void **state)
{
	struct demi__config *cfg = *state;
	struct seen s = {0};

	load_ok(cfg, "arp_table:\n"
		     "  10.0.0.1: \"52:54:00:12:34:56\"\n"
		     "  10.0.0.2: \"52:54:00:12:34:57\"\n"
		     "arp: {x: 1}\n"
		     "arp_tablex: {y: 2}\n"
		     "other: 3\n");
	assert_int_equal(demi__config_foreach(cfg, "arp_table", collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "10.0.0.1");
	assert_string_equal(s.values[0], "52:54:00:12:34:56");
	assert_string_equal(s.names[1], "10.0.0.2");
	assert_string_equal(s.values[1], "52:54:00:12:34:57");
	/* A prefix of another key is not its parent. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(demi__config_foreach(cfg, "arp", collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "x");
	/* The callback's non-zero value stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(demi__config_foreach(cfg, "arp_table", collect, &s), 17);
	assert_int_equal(s.n, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(demi__config_foreach(cfg, "nothing", collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/* ---- files ---- */

static void test_config_load_file(void **state)
{
	struct demi__config *cfg = *state;
	char path[] = "/tmp/demi-test-config-XXXXXX";
	int fd = mkstemp(path);
	const char yaml[] = "libos: catnap\ncatnap:\n  engine: epoll\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);

	/* No CONFIG_PATH: nothing, no error. */
	assert_int_equal(demi__config_load(cfg), 0);
	assert_int_equal(cfg->n, 0);
	assert_null(cfg->path);
	setenv("CONFIG_PATH", "", 1);
	assert_int_equal(demi__config_load(cfg), 0);
	assert_int_equal(cfg->n, 0);

	setenv("CONFIG_PATH", path, 1);
	assert_int_equal(demi__config_load(cfg), 0);
	assert_string_equal(cfg->path, path);
	assert_string_equal(demi__config_get(cfg, "libos"), "catnap");
	assert_string_equal(demi__config_get(cfg, "catnap.engine"), "epoll");
	demi__config_fini(cfg);

	/* Malformed file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: [1\n", 6), 6);
	close(fd);
	assert_int_equal(demi__config_load(cfg), -EINVAL);
	demi__config_fini(cfg);

	/* Missing file. */
	unlink(path);
	assert_int_equal(demi__config_load(cfg), -EINVAL);
	demi__config_fini(cfg);
	setenv("CONFIG_PATH", "/nonexistent/dir/config.yaml", 1);
	assert_int_equal(demi__config_load(cfg), -EINVAL);
}

/* A key whose variable name would be very long does not overflow anything. */
static void test_config_long_key(void **state)
{
	struct demi__config *cfg = *state;
	char yaml[700], key[600];

	memset(key, 'k', 500);
	key[500] = 0;
	snprintf(yaml, sizeof(yaml), "%s: v\n", key);
	load_ok(cfg, yaml);
	assert_string_equal(demi__config_get(cfg, key), "v");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_top_level_scalars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_nested_maps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_repeated_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_empty_documents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_malformed_yaml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_unsupported_structures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_aliases_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_env_overrides_scalar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_env_overrides_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_env_overrides_typed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_get_bool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_get_u64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_get_u64_negative_after_space, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_get_choice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_get_choice_long_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_load_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_long_key, setup, teardown),
	};

	/* Every refusal is logged; DEMI_LOG=error shows them. */
	if (!getenv("DEMI_LOG"))
		demi__log_level = DEMI__LOG_OFF;

	return cmocka_run_group_tests(tests, NULL, NULL);
}
