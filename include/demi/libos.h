/* SPDX-License-Identifier: MIT */
/*
 * Queue operations of the demi_* API. Every function returns 0 on success or a positive errno;
 * results come back through the *_out parameters. docs/api.md gives the full semantics.
 *
 * Threads: each thread that calls demi_init gets its own libOS instance (its own queues, tokens
 * and buffers). Queues, tokens and buffers must be used only by the thread that created them.
 */
#ifndef DEMI_LIBOS_H
#define DEMI_LIBOS_H

#include <stddef.h>
#include <sys/socket.h>

#include <demi/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Starts a libOS instance for the calling thread.
 *
 * The libOS comes from the LIBOS environment variable, else from the key `libos` of the YAML
 * file named by CONFIG_PATH, else catnap.
 *
 * @param args Command-line arguments (may have argc 0); may be NULL.
 * @return 0; EEXIST if this thread already called it; EINVAL for a bad configuration
 *         (unknown libOS, unreadable or malformed config file, bad value); ENOTSUP for a libOS
 *         this build left out; ENODEV when its device is missing; ENOMEM.
 */
extern int demi_init(_In_ const struct demi_args *args);

/**
 * @brief Creates a socket queue.
 * @param sockqd_out Receives the new queue descriptor.
 * @param domain AF_INET.
 * @param type SOCK_STREAM or SOCK_DGRAM.
 * @param protocol 0, or the protocol matching type.
 * @return 0; EINVAL (NULL sockqd_out); EAFNOSUPPORT; ENOTSUP (type); EPROTONOSUPPORT;
 *         EMFILE/ENFILE/ENOMEM; EPERM before demi_init.
 */
ATTR_NONNULL(1)
extern int demi_socket(_Out_ int *sockqd_out, _In_ int domain, _In_ int type, _In_ int protocol);

/**
 * @brief Makes a bound stream socket queue accept connections.
 * @param sockqd Socket queue.
 * @param backlog Length of the queue of connections not yet accepted (clamped to [1, SOMAXCONN]).
 * @return 0; EBADF (not a queue); ENOTSUP (not a stream socket); EDESTADDRREQ (not bound);
 *         EINVAL (already connected or listening).
 */
extern int demi_listen(_In_ int sockqd, _In_ int backlog);

/**
 * @brief Gives a socket queue its local address.
 * @param sockqd Socket queue.
 * @param addr A struct sockaddr_in.
 * @param size sizeof(struct sockaddr_in) or more.
 * @return 0; EBADF; EINVAL (NULL addr, short size, already bound); EAFNOSUPPORT; EADDRINUSE;
 *         EADDRNOTAVAIL.
 */
ATTR_NONNULL(2)
extern int demi_bind(_In_ int sockqd, _In_reads_bytes_(size) const struct sockaddr *addr,
		     _In_ socklen_t size);

/**
 * @brief Starts accepting one connection on a listening queue.
 *
 * Completes with DEMI_OPC_ACCEPT and qr_value.ares (new queue, peer address).
 * @param qt_out Receives the token.
 * @param sockqd Listening socket queue.
 * @return 0; EINVAL (NULL qt_out, not listening); EBADF; ENOTSUP (not a stream socket).
 */
ATTR_NONNULL(1)
extern int demi_accept(_Out_ demi_qtoken_t *qt_out, _In_ int sockqd);

/**
 * @brief Starts connecting a socket queue to a remote address.
 *
 * Completes with DEMI_OPC_CONNECT, or DEMI_OPC_FAILED with qr_ret ECONNREFUSED, ETIMEDOUT,
 * ENETUNREACH, ECANCELED (queue closed first)... On a UDP queue it sets the default destination
 * of demi_push and completes at once.
 * @param qt_out Receives the token.
 * @param sockqd Socket queue.
 * @param addr A struct sockaddr_in.
 * @param size sizeof(struct sockaddr_in) or more.
 * @return 0; EINVAL (NULL argument, short size, listening queue); EBADF; EAFNOSUPPORT;
 *         EISCONN (already connected); EALREADY (a connect is in progress).
 */
ATTR_NONNULL(1, 3)
extern int demi_connect(_Out_ demi_qtoken_t *qt_out, _In_ int sockqd,
			_In_reads_bytes_(size) const struct sockaddr *addr, _In_ socklen_t size);

/**
 * @brief Closes a queue. Operations still pending on it complete with DEMI_OPC_FAILED and
 * qr_ret ECANCELED; their tokens must still be waited for (or are released by wait_next_n).
 * @param qd Queue descriptor.
 * @return 0; EBADF (not an open queue).
 */
extern int demi_close(_In_ int qd);

/**
 * @brief Starts sending a scatter-gather array on a connected queue.
 *
 * Any memory may be pushed. Buffers from demi_sgaalloc (or pops) are sent without copying and are
 * kept alive by the library until it no longer needs them, so the application may call
 * demi_sgafree right after this call. Other memory is copied before this call returns when it
 * cannot be handed over at once. All segments form one stream write (TCP) or one datagram (UDP).
 * The push completes with DEMI_OPC_PUSH once the libOS has taken all the data (for catnap: the
 * kernel accepted it); it stays pending while the send buffer is full.
 * @param qt_out Receives the token.
 * @param qd Connected socket queue.
 * @param sga The data; sga_numsegs in [1, DEMI_SGARRAY_MAXSIZE], every segment non-NULL with
 *            a non-zero length.
 * @return 0; EINVAL (NULL argument, zero or too many segments, NULL or empty segment);
 *         EBADF; ENOTCONN (TCP not connected); EDESTADDRREQ (UDP without connect);
 *         EMSGSIZE (UDP datagram over 65507 bytes); EPIPE (local side shut down).
 */
ATTR_NONNULL(1, 3)
extern int demi_push(_Out_ demi_qtoken_t *qt_out, _In_ int qd, _In_ const demi_sgarray_t *sga);

/**
 * @brief Starts sending a datagram to an address (UDP); on a connected TCP queue the address
 * is ignored and it behaves as demi_push.
 * @return As demi_push, plus EINVAL/EAFNOSUPPORT for a bad address.
 */
ATTR_NONNULL(1, 3, 4)
extern int demi_pushto(_Out_ demi_qtoken_t *qt_out, _In_ int sockqd, _In_ const demi_sgarray_t *sga,
		       _In_reads_bytes_(size) const struct sockaddr *dest_addr,
		       _In_ socklen_t size);

/**
 * @brief Starts receiving on a queue.
 *
 * Completes with DEMI_OPC_POP and qr_value.sga: one segment holding the bytes received (any
 * amount for TCP, exactly one datagram for UDP with its sender in sga_addr). The application
 * owns the array and releases it with demi_sgafree. A TCP pop that returns zero bytes means the
 * peer closed its side. Pops on one queue complete in the order they were issued.
 * @param qt_out Receives the token.
 * @param qd Socket queue.
 * @return 0; EINVAL (NULL qt_out, listening queue); EBADF; ENOTCONN (TCP not connected).
 */
ATTR_NONNULL(1)
extern int demi_pop(_Out_ demi_qtoken_t *qt_out, _In_ int qd);

/**
 * @brief Sets a socket option (SOL_SOCKET: SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE,
 * SO_LINGER, SO_RCVBUF, SO_SNDBUF; IPPROTO_TCP: TCP_NODELAY).
 * @return 0; EBADF; EINVAL (NULL optval, short optlen); ENOPROTOOPT (unknown option).
 */
ATTR_NONNULL(4)
extern int demi_setsockopt(_In_ int qd, _In_ int level, _In_ int optname,
			   _In_reads_bytes_(optlen) const void *optval, _In_ socklen_t optlen);

/**
 * @brief Reads a socket option (the options of demi_setsockopt, plus SO_ERROR and SO_TYPE).
 * @return 0 with *optlen set; EBADF; EINVAL; ENOPROTOOPT.
 */
ATTR_NONNULL(4)
extern int demi_getsockopt(_In_ int qd, _In_ int level, _In_ int optname,
			   _Out_writes_to_(optlen, *optlen) void *optval, _In_ socklen_t *optlen);

/**
 * @brief Returns the address of the connected peer of a queue.
 * @return 0 with *addrlen set; EBADF; EINVAL (NULL argument); ENOTCONN.
 */
ATTR_NONNULL(2)
extern int demi_getpeername(_In_ int qd, _Out_writes_to_(addrlen, *addrlen) struct sockaddr *addr,
			    _In_ socklen_t *addrlen);

/**
 * @brief Returns the local address of a queue (with the port chosen by the system for an
 * unbound queue that connected or sent).
 * @return 0 with *addrlen set; EBADF; EINVAL (NULL argument).
 */
ATTR_NONNULL(2)
extern int demi_getsockname(_In_ int qd, _Out_writes_to_(addrlen, *addrlen) struct sockaddr *addr,
			    _In_ socklen_t *addrlen);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_LIBOS_H */
