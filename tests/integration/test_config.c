/* SPDX-License-Identifier: MIT */
/*
 * demi_init and the configuration file named by CONFIG_PATH. Each case runs demi_init in a
 * fresh thread (a libOS is per thread): a valid file selecting catnap works; a malformed file,
 * a missing file, a directory, binary junk, an unknown libOS and bad values fail with EINVAL,
 * without crashing, without leaking descriptors, and leave the thread uninitialised (EPERM)
 * so that a later demi_init with a good configuration succeeds. LIBOS overrides the file.
 * Cases for a libOS this build lacks (catnip without DPDK) are skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "helpers.h"
#include "libos.h"

static char dir[64];

struct init_case {
	const char *name;
	const char *content; /* NULL: no file at that path */
	bool is_dir;
	const char *libos_env; /* LIBOS during demi_init, or NULL to unset it */
	int want;
	bool retry;	   /* after a failure, retry with a good file in the same thread */
	const char *needs; /* the libOS the case is about, when not catnap */
	const char *says;  /* what demi_init's error message must contain, if anything */
};

static const struct init_case cases[] = {
	{"malformed yaml", "libos: [catnap\n  - : : {\n", false, NULL, EINVAL, true},
	{"unbalanced quotes", "libos: \"catnap\n", false, NULL, EINVAL, false},
	{"tab indentation", "catnap:\n\tengine: epoll\n", false, NULL, EINVAL, false},
	{"missing file", NULL, false, NULL, EINVAL, true},
	{"a directory", NULL, true, NULL, EINVAL, false},
	{"binary junk", "\x01\x02\xff\xfe\x00\x7f", false, NULL, EINVAL, false},
	{"unknown libos", "libos: bogus\n", false, NULL, EINVAL, true},
	{"libos not a scalar", "libos:\n  - catnap\n  - catnip\n", false, NULL, EINVAL, false},
	{"bad boolean", "libos: catnap\ndemikernel:\n  busy_poll: maybe\n", false, NULL, EINVAL,
	 false},
	{"bad catnap engine", "libos: catnap\ncatnap:\n  engine: nonsense\n", false, NULL, EINVAL,
	 false},
	/* Refused while reading the configuration, before the device is touched. */
	{"bad catnip cc",
	 "libos: catnip\ndemikernel:\n  local_ipv4_addr: 10.9.9.9\n"
	 "inetstack_config:\n  tcp_congestion_control: vegas\n",
	 false, NULL, EINVAL, true, "catnip",
	 "tcp_congestion_control=\"vegas\" is no congestion control algorithm"},
};

struct result {
	int init_rc;
	int after_rc; /* demi_socket right after the failed init */
	int retry_rc;
	bool said; /* the error message contained the case's says */
};

static char good_path[128];

static void write_file(const char *path, const char *content, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECKF(f != NULL, "fopen %s", path);
	CHECK(fwrite(content, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

/* demi_init, with what it logs on stderr checked for c->says. */
static int init_logged(const struct init_case *c, struct result *r)
{
	struct demi_args args = {0, NULL, NULL};
	char log[4096];
	FILE *f;
	int rc, saved;
	size_t n;

	if (!c->says)
		return demi_init(&args);
	fflush(stderr);
	CHECK((f = tmpfile()) != NULL);
	CHECK((saved = dup(STDERR_FILENO)) >= 0);
	CHECK(dup2(fileno(f), STDERR_FILENO) >= 0);
	rc = demi_init(&args);
	fflush(stderr);
	CHECK(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	log[n] = '\0';
	fclose(f);
	fputs(log, stderr);
	r->said = strstr(log, c->says) != NULL;
	return rc;
}

static void *init_thread(void *arg)
{
	const struct init_case *c = arg;
	struct demi_args args = {0, NULL, NULL};
	static struct result r;
	int qd;

	memset(&r, 0, sizeof(r));
	r.init_rc = init_logged(c, &r);
	if (r.init_rc != 0 && c->retry) {
		r.after_rc = demi_socket(&qd, AF_INET, SOCK_STREAM, 0);
		setenv("CONFIG_PATH", good_path, 1);
		r.retry_rc = demi_init(&args);
		if (r.retry_rc == 0) {
			h_baseline();
			CHECK_OK(demi_socket(&qd, AF_INET, SOCK_STREAM, 0));
			CHECK_OK(demi_close(qd));
		}
	}
	if (r.init_rc == 0) {
		/* The libOS works. */
		struct sockaddr_in addr;

		h_baseline();
		qd = h_udp_bind(&addr);
		CHECK_OK(demi_close(qd));
		h_check_no_leaks("after init");
	}
	return &r;
}

/* Runs demi_init in a new thread with CONFIG_PATH = path. */
static struct result run(const struct init_case *c, const char *path)
{
	struct result *r;
	pthread_t t;
	int rc;

	setenv("CONFIG_PATH", path, 1);
	if (c->libos_env)
		setenv("LIBOS", c->libos_env, 1);
	else
		unsetenv("LIBOS");
	t = h_thread_start(init_thread, (void *)c);
	rc = pthread_join(t, (void **)&r);
	CHECK(rc == 0);
	return *r;
}

int main(void)
{
	static const struct init_case good = {
		"libos: catnap", "libos: catnap\n", false, NULL, 0, false};
	static const struct init_case env_wins = {
		"LIBOS=catnap overrides the file", "libos: bogus\n", false, "catnap", 0, false};
	char path[128];
	struct result r;
	int failures = 0, fds0;

	h_watchdog(60);
	/* Environment variables override keys of the file: the cases below test the file. */
	unsetenv("CATNAP_ENGINE");
	unsetenv("DEMIKERNEL_BUSY_POLL");
	unsetenv("DEMIKERNEL_LOCAL_IPV4_ADDR");
	unsetenv("INETSTACK_CONFIG_TCP_CONGESTION_CONTROL");
	snprintf(dir, sizeof(dir), "/tmp/demi-config-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(good_path, sizeof(good_path), "%s/good.yaml", dir);
	write_file(good_path, good.content, strlen(good.content));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct init_case *c = &cases[i];
		bool known;

		if (c->needs && !demi__libos_find(c->needs, &known)) {
			printf("  skip %-24s %s is not in this build\n", c->name, c->needs);
			continue;
		}
		snprintf(path, sizeof(path), "%s/case%zu.yaml", dir, i);
		if (c->is_dir)
			CHECK(mkdir(path, 0700) == 0);
		else if (c->content)
			write_file(path, c->content,
				   c->content[0] == '\x01' ? 6 : strlen(c->content));
		fds0 = h_count_fds();
		r = run(c, path);
		/* A failed demi_init leaves no descriptor behind (a retry's libOS may). */
		if (r.init_rc != 0 && !c->retry && h_count_fds() != fds0) {
			printf("  FAIL %-24s %d descriptors open after the failed demi_init, %d "
			       "before\n",
			       c->name, h_count_fds(), fds0);
			failures++;
		}
		if (r.init_rc != c->want) {
			printf("  FAIL %-24s demi_init returned %d (%s), expected %d (%s)\n",
			       c->name, r.init_rc, h_errname(r.init_rc), c->want,
			       h_errname(c->want));
			failures++;
		} else if (c->says && !r.said) {
			printf("  FAIL %-24s demi_init did not log \"%s\"\n", c->name, c->says);
			failures++;
		} else {
			printf("  ok   %-24s %s\n", c->name, h_errname(r.init_rc));
		}
		if (r.init_rc != 0 && c->retry) {
			if (r.after_rc != EPERM) {
				printf("  FAIL %-24s demi_socket after a failed demi_init: %d "
				       "(%s), expected EPERM\n",
				       c->name, r.after_rc, h_errname(r.after_rc));
				failures++;
			}
			if (r.retry_rc != 0) {
				printf("  FAIL %-24s demi_init with a good file after a failed "
				       "one: %d (%s)\n",
				       c->name, r.retry_rc, h_errname(r.retry_rc));
				failures++;
			}
		}
		if (c->is_dir)
			rmdir(path);
		else if (c->content)
			unlink(path);
	}
	r = run(&good, good_path);
	if (r.init_rc != 0) {
		printf("  FAIL %-24s demi_init returned %d (%s)\n", good.name, r.init_rc,
		       h_errname(r.init_rc));
		failures++;
	} else {
		printf("  ok   %-24s 0\n", good.name);
	}
	snprintf(path, sizeof(path), "%s/bogus.yaml", dir);
	write_file(path, env_wins.content, strlen(env_wins.content));
	r = run(&env_wins, path);
	if (r.init_rc != 0) {
		printf("  FAIL %-24s demi_init returned %d (%s)\n", env_wins.name, r.init_rc,
		       h_errname(r.init_rc));
		failures++;
	} else {
		printf("  ok   %-24s 0\n", env_wins.name);
	}
	unlink(path);
	unlink(good_path);
	rmdir(dir);

	if (failures) {
		printf("%d configuration checks failed\n", failures);
		return H_EXIT_FAIL;
	}
	printf("PASS: configuration\n");
	return H_EXIT_PASS;
}
