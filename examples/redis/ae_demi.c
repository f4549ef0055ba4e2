/* SPDX-License-Identifier: MIT */
/*
 * ae backend of the libdemikernel port, included by ae.c in place of ae_epoll.c (one scripted
 * edit). It wraps Redis's own epoll backend: kernel descriptors (pipes to a fork child, the
 * module pipe, a unix socket, Sentinel's hiredis links) stay on epoll, and descriptors that
 * stand for demi queues go to the hooks of demi_ae.h. Without hooks (redis-cli,
 * redis-benchmark, or before redis-server sets them) it is exactly the epoll backend.
 */
#include "demi_ae.h"

#define aeApiCreate epollApiCreate
#define aeApiResize epollApiResize
#define aeApiFree epollApiFree
#define aeApiAddEvent epollApiAddEvent
#define aeApiDelEvent epollApiDelEvent
#define aeApiPoll epollApiPoll
#define aeApiName epollApiName
#include "ae_epoll.c"
#undef aeApiCreate
#undef aeApiResize
#undef aeApiFree
#undef aeApiAddEvent
#undef aeApiDelEvent
#undef aeApiPoll
#undef aeApiName

struct aeDemiHooks *aeDemi;
/* Kernel fds with events while the hooks are set (the server has one event loop). */
static int kernel_fds;

int aeDemiKernelFds(void)
{
	return kernel_fds;
}

static int aeApiCreate(aeEventLoop *el)
{
	return epollApiCreate(el);
}

static int aeApiResize(aeEventLoop *el, int setsize)
{
	return epollApiResize(el, setsize);
}

static void aeApiFree(aeEventLoop *el)
{
	epollApiFree(el);
}

static int aeApiAddEvent(aeEventLoop *el, int fd, int mask)
{
	if (aeDemi && aeDemi->owns(fd)) {
		aeDemi->watch(el, fd);
		return 0;
	}
	if (aeDemi && el->events[fd].mask == AE_NONE)
		kernel_fds++;
	return epollApiAddEvent(el, fd, mask);
}

static void aeApiDelEvent(aeEventLoop *el, int fd, int delmask)
{
	/* A queue's interest is read from el->events at each poll: nothing to undo. */
	if (aeDemi && aeDemi->owns(fd))
		return;
	if (aeDemi && el->events[fd].mask != AE_NONE &&
	    (el->events[fd].mask & ~(delmask | AE_BARRIER)) == AE_NONE)
		kernel_fds--;
	epollApiDelEvent(el, fd, delmask);
}

int aeDemiKernelPoll(aeEventLoop *el, int start, int timeout_ms)
{
	aeApiState *state = el->apidata;
	int room = el->setsize - start;

	if (room <= 0)
		return 0;
	int n = epoll_wait(state->epfd, state->events, room, timeout_ms);
	if (n <= 0)
		return 0;
	for (int j = 0; j < n; j++) {
		struct epoll_event *e = state->events + j;
		int mask = 0;

		if (e->events & EPOLLIN)
			mask |= AE_READABLE;
		if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			mask |= AE_WRITABLE;
		if (e->events & (EPOLLERR | EPOLLHUP))
			mask |= AE_READABLE;
		el->fired[start + j].fd = e->data.fd;
		el->fired[start + j].mask = mask;
	}
	return n;
}

static int aeApiPoll(aeEventLoop *el, struct timeval *tvp)
{
	if (aeDemi)
		return aeDemi->poll(el, tvp);
	return epollApiPoll(el, tvp);
}

static char *aeApiName(void)
{
	return aeDemi ? "demikernel+epoll" : epollApiName();
}
