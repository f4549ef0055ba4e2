/* SPDX-License-Identifier: MIT */
/*
 * Source compatibility with Microsoft Demikernel's C API: a push/pop program written the way
 * Demikernel's C examples are (POSIX feature macro first, the same three demi includes,
 * struct demi_args from main's arguments, `= {0}` results, demi_pushto on a connected TCP
 * queue, qr_value.ares / qr_value.sga), built against the installed-style headers and linked
 * with the shared library only.
 *
 * A server process (forked before any demi_init) accepts one TCP connection and pops until it
 * has every byte; the client pushes MAX_MSGS messages of DATA_SIZE bytes, then one UDP
 * datagram goes the same way. The server checks every byte and exits 0.
 */
#define _POSIX_C_SOURCE 200809L

#ifdef __linux__
#include <arpa/inet.h>
#endif

#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA_SIZE 64
#define MAX_MSGS 1024

/* Like assert(), but also in release builds: the checked calls have side effects. */
#define ensure(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			exit(EXIT_FAILURE);                                                        \
		}                                                                                  \
	} while (0)

static const struct timespec wait_limit = {10, 0};

static unsigned char msg_byte(size_t i)
{
	return (unsigned char)(i * 31 + 7);
}

static int accept_get_newsockqd(int sockqd)
{
	demi_qtoken_t tok = -1;
	demi_qresult_t res = {0};

	ensure(demi_accept(&tok, sockqd) == 0);
	ensure(demi_wait(&res, tok, &wait_limit) == 0);
	ensure(res.qr_opcode == DEMI_OPC_ACCEPT);
	return res.qr_value.ares.qd;
}

static size_t pop_and_check(int sockqd, size_t offset)
{
	demi_qresult_t res = {0};
	demi_qtoken_t tok = -1;
	size_t recv_bytes;
	unsigned char *p;

	ensure(demi_pop(&tok, sockqd) == 0);
	ensure(demi_wait(&res, tok, &wait_limit) == 0);
	ensure(res.qr_opcode == DEMI_OPC_POP);
	ensure(res.qr_value.sga.sga_numsegs == 1);
	recv_bytes = res.qr_value.sga.sga_segs[0].sgaseg_len;
	p = res.qr_value.sga.sga_segs[0].sgaseg_buf;
	for (size_t i = 0; i < recv_bytes; i++)
		ensure(p[i] == msg_byte((offset + i) % DATA_SIZE));
	ensure(demi_sgafree(&res.qr_value.sga) == 0);
	return recv_bytes;
}

static int run_server(int argc, char *const argv[], int port_pipe)
{
	struct demi_args args = {.argc = argc, .argv = argv, .callback = NULL};
	struct sockaddr_in addr = {0};
	socklen_t addrlen = sizeof(addr);
	size_t recv_bytes = 0;
	demi_qresult_t res = {0};
	demi_qtoken_t tok = -1;
	int sockqd = -1, udpqd = -1, qd;
	unsigned short ports[2];

	ensure(demi_init(&args) == 0);
	addr.sin_family = AF_INET;
	ensure(inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr) == 1);
	ensure(demi_socket(&sockqd, AF_INET, SOCK_STREAM, 0) == 0);
	ensure(demi_bind(sockqd, (const struct sockaddr *)&addr, sizeof(struct sockaddr_in)) == 0);
	ensure(demi_listen(sockqd, 16) == 0);
	ensure(demi_getsockname(sockqd, (struct sockaddr *)&addr, &addrlen) == 0);
	ports[0] = addr.sin_port;
	ensure(demi_socket(&udpqd, AF_INET, SOCK_DGRAM, 0) == 0);
	addr.sin_port = 0;
	ensure(demi_bind(udpqd, (const struct sockaddr *)&addr, sizeof(struct sockaddr_in)) == 0);
	addrlen = sizeof(addr);
	ensure(demi_getsockname(udpqd, (struct sockaddr *)&addr, &addrlen) == 0);
	ports[1] = addr.sin_port;
	ensure(write(port_pipe, ports, sizeof(ports)) == (ssize_t)sizeof(ports));

	qd = accept_get_newsockqd(sockqd);
	while (recv_bytes < (size_t)DATA_SIZE * MAX_MSGS)
		recv_bytes += pop_and_check(qd, recv_bytes);
	ensure(recv_bytes == (size_t)DATA_SIZE * MAX_MSGS);

	ensure(demi_pop(&tok, udpqd) == 0);
	ensure(demi_wait(&res, tok, &wait_limit) == 0);
	ensure(res.qr_opcode == DEMI_OPC_POP);
	ensure(res.qr_value.sga.sga_segs[0].sgaseg_len == DATA_SIZE);
	ensure(res.qr_value.sga.sga_addr.sin_family == AF_INET);
	ensure(demi_sgafree(&res.qr_value.sga) == 0);

	ensure(demi_close(qd) == 0);
	ensure(demi_close(udpqd) == 0);
	ensure(demi_close(sockqd) == 0);
	fprintf(stdout, "pop: total bytes received: (%zu)\n", recv_bytes);
	return EXIT_SUCCESS;
}

static size_t push_get_sent_nbytes(const struct sockaddr_in *const addr, const int sockqd)
{
	demi_qtoken_t tok = -1;
	demi_qresult_t res = {0};
	demi_sgarray_t sga = demi_sgaalloc(DATA_SIZE);
	size_t sent_bytes = 0;
	unsigned char *p;

	ensure(sga.sga_numsegs == 1);
	p = sga.sga_segs[0].sgaseg_buf;
	for (size_t i = 0; i < DATA_SIZE; i++)
		p[i] = msg_byte(i);
	ensure(demi_pushto(&tok, sockqd, &sga, (const struct sockaddr *)addr,
			   sizeof(struct sockaddr_in)) == 0);
	ensure(demi_wait(&res, tok, &wait_limit) == 0);
	ensure(res.qr_opcode == DEMI_OPC_PUSH);
	sent_bytes = sga.sga_segs[0].sgaseg_len;
	ensure(demi_sgafree(&sga) == 0);
	return sent_bytes;
}

static int run_client(int argc, char *const argv[], const unsigned short ports[2])
{
	struct demi_args args = {.argc = argc, .argv = argv, .callback = NULL};
	struct sockaddr_in addr = {0};
	demi_qtoken_t tok = -1;
	demi_qresult_t res = {0};
	size_t sent_bytes = 0;
	int sockqd = -1;

	ensure(demi_init(&args) == 0);
	addr.sin_family = AF_INET;
	addr.sin_port = ports[0];
	ensure(inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr) == 1);

	ensure(demi_socket(&sockqd, AF_INET, SOCK_STREAM, 0) == 0);
	ensure(demi_connect(&tok, sockqd, (const struct sockaddr *)&addr,
			    sizeof(struct sockaddr_in)) == 0);
	ensure(demi_wait(&res, tok, &wait_limit) == 0);
	ensure(res.qr_opcode == DEMI_OPC_CONNECT);
	while (sent_bytes < (size_t)DATA_SIZE * MAX_MSGS)
		sent_bytes += push_get_sent_nbytes(&addr, sockqd);
	fprintf(stdout, "push: total bytes sent: (%zu)\n", sent_bytes);
	ensure(demi_close(sockqd) == 0);

	ensure(demi_socket(&sockqd, AF_INET, SOCK_DGRAM, 0) == 0);
	addr.sin_port = ports[1];
	ensure(push_get_sent_nbytes(&addr, sockqd) == DATA_SIZE);
	ensure(demi_close(sockqd) == 0);
	return EXIT_SUCCESS;
}

int main(int argc, char *argv[])
{
	unsigned short ports[2];
	struct pollfd pfd;
	int fds[2], status = 0;
	pid_t pid;

	alarm(60); /* the default action ends a stuck run */
	ensure(pipe(fds) == 0);
	pid = fork();
	ensure(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		exit(run_server(argc, argv, fds[1]));
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	ensure(poll(&pfd, 1, 10000) == 1);
	ensure(read(fds[0], ports, sizeof(ports)) == (ssize_t)sizeof(ports));
	close(fds[0]);

	ensure(run_client(argc, argv, ports) == EXIT_SUCCESS);
	ensure(waitpid(pid, &status, 0) == pid);
	ensure(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fprintf(stdout, "PASS: Demikernel-style push/pop\n");
	return EXIT_SUCCESS;
}
