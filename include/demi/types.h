/* SPDX-License-Identifier: MIT */
/*
 * Types of the demi_* API. Names, members, order and packing are those of Microsoft Demikernel's
 * C API, so programs written against it compile here unchanged.
 */
#ifndef DEMI_TYPES_H
#define DEMI_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <demi/cc.h>
#include <demi/config.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Identifies one asynchronous operation (push, pop, accept, connect) until it is waited
 * for. A token is valid from the call that returned it until a demi_wait* call returns its
 * result; after that it is unknown (EINVAL).
 */
typedef uint64_t demi_qtoken_t;

/** @brief One contiguous piece of a scatter-gather array. */
typedef struct __attribute__((__packed__)) demi_sgaseg {
	void *sgaseg_buf;    /**< First byte of the segment's data. */
	uint32_t sgaseg_len; /**< Number of bytes in the segment. */
} demi_sgaseg_t;

/**
 * @brief A scatter-gather array: the unit of data of push and pop.
 *
 * sga_buf is owned by the library (it identifies the buffers of an array that came from
 * demi_sgaalloc or a pop); applications must not change it. sga_addr carries the sender of a
 * datagram returned by pop on a UDP queue.
 */
typedef struct __attribute__((__packed__)) demi_sgarray {
	void *sga_buf;				      /**< Library handle; do not modify. */
	uint32_t sga_numsegs;			      /**< Number of valid entries in sga_segs. */
	demi_sgaseg_t sga_segs[DEMI_SGARRAY_MAXSIZE]; /**< The segments. */
	struct sockaddr_in sga_addr;		      /**< Sender of a popped datagram. */
} demi_sgarray_t;

/** @brief What a completed operation was. */
typedef enum demi_opcode {
	DEMI_OPC_INVALID = 0, /**< Not an operation. */
	DEMI_OPC_PUSH,	      /**< demi_push or demi_pushto completed. */
	DEMI_OPC_POP,	      /**< demi_pop completed; qr_value.sga holds the data. */
	DEMI_OPC_ACCEPT,      /**< demi_accept completed; qr_value.ares holds the new queue. */
	DEMI_OPC_CONNECT,     /**< demi_connect completed. */
	DEMI_OPC_CLOSE,	      /**< An asynchronous close completed. */
	DEMI_OPC_FAILED,      /**< The operation failed; qr_ret holds a positive errno. */
} demi_opcode_t;

/** @brief Result of an accept: the new connection's queue and its peer. */
typedef struct __attribute__((__packed__)) demi_accept_result {
	int32_t qd;		 /**< Queue descriptor of the accepted connection. */
	struct sockaddr_in addr; /**< Address of the remote end. */
} demi_accept_result_t;

/** @brief Result of a completed operation, filled by demi_wait*. */
typedef struct __attribute__((__packed__)) demi_qresult {
	enum demi_opcode qr_opcode; /**< What completed (DEMI_OPC_FAILED on error). */
	int32_t qr_qd;		    /**< Queue the operation ran on. */
	demi_qtoken_t qr_qt;	    /**< Token of the operation. */
	int64_t qr_ret;		    /**< 0 on success, a positive errno with DEMI_OPC_FAILED. */
	union {
		demi_sgarray_t sga;	   /**< Data of a pop; the pushed array for a push. */
		demi_accept_result_t ares; /**< Result of an accept. */
	} qr_value;
} demi_qresult_t;

/** @brief Optional callback (kept for source compatibility; not called by this library). */
typedef void (*demi_callback_t)(const char *, uint32_t, uint64_t);

/** @brief Arguments of demi_init. */
struct __attribute__((__packed__)) demi_args {
	int argc;		  /**< Number of command-line arguments (may be 0). */
	char *const *argv;	  /**< Command-line arguments (may be NULL). */
	demi_callback_t callback; /**< Ignored; may be NULL. */
};

#ifdef __cplusplus
}
#endif

#endif /* DEMI_TYPES_H */
