/* SPDX-License-Identifier: MIT */
/*
 * The seam between Redis's event loop (ae.c, anet.c: linked into redis-server, redis-cli and
 * redis-benchmark) and the libdemikernel glue (demi_conn.c: linked into redis-server only).
 *
 * ae_demi.c keeps Redis's epoll backend for kernel descriptors and defines aeDemi, NULL by
 * default: redis-cli and redis-benchmark never set it and run on plain epoll, with no reference
 * to libdemikernel. redis-server's glue sets it at start; from then on every descriptor it owns
 * (a queue's placeholder kernel fd, see demi_conn.c) is handled by these hooks instead of epoll.
 */
#ifndef DEMI_AE_H
#define DEMI_AE_H

#include <stddef.h>
#include <sys/time.h>

struct aeEventLoop;

struct aeDemiHooks {
	/* fd is the placeholder of a demi queue (not a descriptor epoll may see). */
	int (*owns)(int fd);
	/* Redis registered interest in fd: look at it in the next poll. */
	void (*watch)(struct aeEventLoop *el, int fd);
	/* The whole poll: queues, and kernel fds through aeDemiKernelPoll. */
	int (*poll)(struct aeEventLoop *el, struct timeval *tvp);
	/* anetFdToString for a queue. */
	int (*fd_to_string)(int fd, char *ip, size_t ip_len, int *port, int fd_to_str_type);
};

extern struct aeDemiHooks *aeDemi;

/* Polls the kernel fds registered with epoll (timeout in ms, 0: do not wait) and appends what
 * fired to el->fired from index start. Returns how many it appended. */
int aeDemiKernelPoll(struct aeEventLoop *el, int start, int timeout_ms);
/* How many kernel fds have events registered. */
int aeDemiKernelFds(void);

#endif /* DEMI_AE_H */
