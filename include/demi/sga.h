/* SPDX-License-Identifier: MIT */
/* Scatter-gather arrays: buffers from the libOS's pool. */
#ifndef DEMI_SGA_H
#define DEMI_SGA_H

#include <stddef.h>

#include <demi/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Allocates a one-segment scatter-gather array of `size` bytes from the libOS's buffer
 * pool. Pushing it sends without a copy.
 * @param size Bytes wanted, 1 to 4 GiB - 1.
 * @return The array; on failure (size 0 or too large, no memory, no demi_init) an array with
 *         sga_numsegs 0 and NULL pointers.
 */
ATTR_NODISCARD
extern demi_sgarray_t demi_sgaalloc(_In_ size_t size);

/**
 * @brief Releases a scatter-gather array returned by demi_sgaalloc or by a pop. Buffers still
 * used by a pending push stay alive until the push no longer needs them.
 * @param sga The array; its sga_buf must be as the library returned it.
 * @return 0 (also for the empty array of an end-of-stream pop); EINVAL (NULL, not an array of
 *         this library, or already freed).
 */
extern int demi_sgafree(_In_ demi_sgarray_t *sga);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_SGA_H */
