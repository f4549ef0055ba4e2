/* SPDX-License-Identifier: MIT */
/*
 * A map from nonzero integer keys to pointers: open addressing with linear probing (Fibonacci
 * hashing spreads consecutive keys), removal by backward shift so that lookups never meet
 * tombstones, growth by doubling at half load. Shared by the pool (2 MiB chunk -> slab) and
 * catmint (qp_num + 1 -> queue). Not thread safe: one runtime owns each map.
 */
#ifndef DEMI_MAP_H
#define DEMI_MAP_H

#include <stddef.h>
#include <stdint.h>

struct demi__map {
	uintptr_t *keys; /* 0 = empty slot */
	void **vals;
	size_t cap; /* power of two, or 0 before the first put */
	size_t used;
};

/* Sets key (nonzero) to val, replacing an existing value. 0 or -ENOMEM (map unchanged). */
int demi__map_put(struct demi__map *m, uintptr_t key, void *val);
/* The value of key, or NULL. */
void *demi__map_get(const struct demi__map *m, uintptr_t key);
/* Removes key if present. */
void demi__map_del(struct demi__map *m, uintptr_t key);
void demi__map_fini(struct demi__map *m);

#endif
