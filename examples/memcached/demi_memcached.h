/* SPDX-License-Identifier: MIT */
/*
 * memcached on libdemikernel: what memcached's own files see of the port. One scripted edit
 * includes this header at the end of memcached.h, so every file of memcached sees it; the
 * other edits call these functions where memcached used the socket calls (docs/memcached.md).
 *
 * event_add/event_del become the port's: on a descriptor that stands for a demi queue they
 * record what memcached waits for (the worker's loop fires it); on any other descriptor they
 * are libevent's own.
 */
#ifndef DEMI_MEMCACHED_H
#define DEMI_MEMCACHED_H

#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <event.h>

int mcd_event_add(struct event *ev, const struct timeval *tv);
int mcd_event_del(struct event *ev);
#define event_add(ev, tv) mcd_event_add(ev, tv)
#define event_del(ev) mcd_event_del(ev)

/* main(): refuses what the port cannot carry, sizes the descriptor table (after conn_init). */
void mcd_init(int max_fds);
/* main(): the open-files limit for maxconns connections (each may hold two descriptors). */
rlim_t mcd_nofile(int maxconns);
/* main(), in place of server_sockets() for TCP: the workers listen; writes the port file. */
int mcd_server_sockets(int port, int transport, FILE *portnumber_file);

/* Worker thread: its libOS instance and listening queue, then its loop (replaces
 * event_base_loop). The argument is the worker's LIBEVENT_THREAD. */
void mcd_worker_start(void *thread);
void mcd_worker_loop(void *thread);

/* Connection I/O and socket calls on a descriptor memcached holds (kernel ones pass through). */
ssize_t mcd_read(int fd, void *buf, size_t count);
ssize_t mcd_sendmsg(int fd, struct msghdr *msg, int flags);
ssize_t mcd_write(int fd, const void *buf, size_t count);
int mcd_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int mcd_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
void mcd_close(int fd);
/* Whether fd stands for a demi queue (features the port cannot carry refuse on it). */
int mcd_owns(int fd);

#endif /* DEMI_MEMCACHED_H */
