/* SPDX-License-Identifier: MIT */
/*
 * What Redis's own files (server.c, networking.c, connection.c) call of the libdemikernel glue
 * (demi_conn.c) through the port's scripted edits (redis.edits). redis-server only.
 */
#ifndef DEMI_CONN_H
#define DEMI_CONN_H

#include "connection.h"

extern ConnectionType CT_Demi;

/* From initServer, once the event loop exists: refuses what the port cannot do, starts the
 * libOS (LIBOS, CONFIG_PATH) and takes over the event loop's queue descriptors. Exits on error. */
void demiRedisInit(void);
/* Whether the libOS runs in this process (false in a fork child: it never touches the libOS). */
int demiActive(void);
/* fd is the placeholder of one of our queues. */
int demiOwnsFd(int fd);
/* anetTcpServer on a demi queue: a listening queue, returned as its placeholder fd. */
int demiTcpServer(char *err, int port, char *bindaddr, int backlog, int optional);
/* anetTcpAccept on a listening queue (falls back to anetTcpAccept for a kernel fd). */
int demiTcpAccept(char *err, int lfd, char *ip, size_t ip_len, int *port);
/* close(2) of a listener: closes the queue too, except in a fork child. */
void demiCloseFd(int fd);
/* A connection for a queue demiTcpAccept returned. */
connection *demiConnCreateAccepted(int fd);
/* connKeepAlive for a demi connection. */
int demiConnKeepAlive(connection *conn, int interval);

#endif /* DEMI_CONN_H */
