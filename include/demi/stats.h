/* SPDX-License-Identifier: MIT */
/**
 * @file
 * Counters of the calling thread's libOS, read while the program runs (an extension of
 * libdemikernel: Demikernel's API has no such call). Every libOS reports the library's own
 * counters ("bufs_in_use", "tasks_in_use", "queues_open", "pool_bytes"); catnip adds its
 * stack's and device's, named "catnip.<counter>" (docs/counters.md lists them all, with what
 * each counts). Names and their order stay the same for the life of the process, so a monitor
 * can read the array once and index it afterwards.
 *
 * Setting DEMIKERNEL_STATS_SIGNAL (or the config key demikernel.stats_signal) to a signal name
 * (USR1, USR2) makes the library dump every counter to stderr, one "name=value" line per
 * counter, at the next demi_wait* of each thread after the signal arrives.
 */
#ifndef DEMI_STATS_H
#define DEMI_STATS_H

#include <stddef.h>
#include <stdint.h>

#include <demi/cc.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One counter: its name (static storage, valid for the life of the process) and value. */
typedef struct demi_stat {
	const char *name;
	uint64_t value;
} demi_stat_t;

/**
 * @brief Reads the counters of the calling thread's libOS.
 * @param out    array of cap entries to fill (may be NULL when cap is 0)
 * @param cap    entries in out
 * @param n_out  how many counters there are; more than cap means only cap were written: call
 *               again with a larger array
 * @return 0; EINVAL (n_out NULL, or out NULL with cap > 0); EPERM (no libOS on this thread)
 */
ATTR_NONNULL(3)
int demi_stats(_Out_writes_to_(cap, *n_out) demi_stat_t *out, size_t cap, _Out_ size_t *n_out);

/**
 * @brief Reads one counter of the calling thread's libOS by name.
 * @return 0; ENOENT (no such counter); EINVAL (NULL argument); EPERM (no libOS on this thread)
 */
ATTR_NONNULL(1, 2)
int demi_stat(_In_z_ const char *name, _Out_ uint64_t *value_out);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_STATS_H */
