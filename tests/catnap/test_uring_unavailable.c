/* SPDX-License-Identifier: MIT */
/*
 * catnap with CATNAP_ENGINE=io_uring on a system where io_uring is forbidden (here: a seccomp
 * filter makes io_uring_setup fail with EPERM, as the kernel.io_uring_disabled sysctl or a
 * container's profile would): demi_init must fail with a clear error, not crash; with
 * CATNAP_FALLBACK_TO_EPOLL=1 it must come up on epoll and carry traffic.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

static int forbid_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* A UDP datagram to ourselves: proves the libOS that came up carries traffic. */
static int udp_self_echo(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct timespec to = {5, 0};
	demi_qtoken_t qt;
	demi_qresult_t r;
	char msg[] = "fallback works";
	demi_sgarray_t sga = {0};
	int qd;

	if (demi_socket(&qd, AF_INET, SOCK_DGRAM, 0) || demi_bind(qd, (void *)&a, sizeof(a)) ||
	    demi_getsockname(qd, (void *)&a, &len))
		return 1;
	sga.sga_numsegs = 1;
	sga.sga_segs[0].sgaseg_buf = msg;
	sga.sga_segs[0].sgaseg_len = sizeof(msg);
	if (demi_pushto(&qt, qd, &sga, (void *)&a, sizeof(a)) || demi_wait(&r, qt, &to) ||
	    r.qr_opcode != DEMI_OPC_PUSH)
		return 1;
	if (demi_pop(&qt, qd) || demi_wait(&r, qt, &to) || r.qr_opcode != DEMI_OPC_POP ||
	    r.qr_value.sga.sga_segs[0].sgaseg_len != sizeof(msg) ||
	    memcmp(r.qr_value.sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg)))
		return 1;
	demi_sgafree(&r.qr_value.sga);
	return demi_close(qd) ? 1 : 0;
}

static int child(bool fallback)
{
	int rc;

	if (forbid_io_uring() < 0) {
		printf("SKIP: cannot install a seccomp filter: %s\n", strerror(errno));
		return 77;
	}
	setenv("LIBOS", "catnap", 1);
	setenv("CATNAP_ENGINE", "io_uring", 1);
	if (fallback)
		setenv("CATNAP_FALLBACK_TO_EPOLL", "1", 1);
	rc = demi_init(NULL);
	if (!fallback) {
		if (rc == 0) {
			printf("FAIL: demi_init succeeded with io_uring forbidden and no fallback\n");
			return 1;
		}
		printf("ok: demi_init refused: %s\n", strerror(rc));
		return 0;
	}
	if (rc != 0) {
		printf("FAIL: demi_init with fallback: %s\n", strerror(rc));
		return 1;
	}
	if (udp_self_echo()) {
		printf("FAIL: traffic on the fallback engine\n");
		return 1;
	}
	printf("ok: fell back to epoll and carried a datagram\n");
	return 0;
}

static int run(bool fallback)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (pid == 0) {
		int rc = child(fallback);
		fflush(stdout);
		_exit(rc);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
		printf("FAIL: child died (signal %d)\n",
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return 1;
	}
	return WEXITSTATUS(status);
}

int main(void)
{
	int a = run(false), b;

	if (a == 77)
		return 77;
	b = run(true);
	return a || b ? 1 : 0;
}
