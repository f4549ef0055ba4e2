/* SPDX-License-Identifier: MIT */
/*
 * Waiting for operations. While it waits, the calling thread runs the libOS: every pending
 * operation of the thread makes progress, not only those waited for. A result is kept until it
 * is taken by one demi_wait* call, so nothing is lost by waiting on another token first.
 *
 * Timeouts: NULL waits without limit; {0, 0} makes one pass over the libOS and returns;
 * otherwise ETIMEDOUT after the interval. When nothing is ready the thread sleeps in the kernel
 * (unless the libOS is configured to busy-poll).
 */
#ifndef DEMI_WAIT_H
#define DEMI_WAIT_H

#include <time.h>

#include <demi/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Waits for one operation.
 * @param qr_out Receives the result.
 * @param qt Token of the operation.
 * @param timeout Interval, or NULL for no limit.
 * @return 0 (the token is then released); ETIMEDOUT (the token stays valid); EINVAL (NULL
 *         qr_out, unknown token, bad timespec).
 */
ATTR_NONNULL(1)
extern int demi_wait(_Out_ demi_qresult_t *qr_out, _In_ demi_qtoken_t qt,
		     _In_opt_ const struct timespec *timeout);

/**
 * @brief Waits for the first of several operations; when several are complete the one with the
 * lowest index is returned.
 * @param qr_out Receives the result.
 * @param ready_offset Receives the index in qts of the completed operation.
 * @param qts Tokens.
 * @param num_qts Number of tokens, 1 or more.
 * @param timeout Interval, or NULL for no limit.
 * @return 0; ETIMEDOUT; EINVAL (NULL argument, num_qts < 1, an unknown token, bad timespec).
 */
ATTR_NONNULL(1, 2, 3)
extern int demi_wait_any(_Out_ demi_qresult_t *qr_out, _Out_ int *ready_offset,
			 _In_reads_(num_qts) const demi_qtoken_t qts[], _In_ int num_qts,
			 _In_opt_ const struct timespec *timeout);

/**
 * @brief Waits until at least one operation of this thread has completed, then returns the
 * results of up to num_qrs completed operations, oldest completion first. Their tokens are
 * released.
 * @param qr_out Receives the results.
 * @param num_qrs Capacity of qr_out, 1 or more.
 * @param num_qrs_out Receives how many results were written.
 * @param timeout Interval, or NULL for no limit.
 * @return 0; ETIMEDOUT (with *num_qrs_out 0); EINVAL.
 */
ATTR_NONNULL(1, 3)
extern int demi_wait_next_n(_Out_writes_to_(num_qrs, *num_qrs_out) demi_qresult_t *qr_out,
			    _In_ int num_qrs, _Out_ int *num_qrs_out,
			    _In_opt_ const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_WAIT_H */
