/* SPDX-License-Identifier: MIT */
/* The integer -> pointer map; see map.h. */
#include "map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(uintptr_t key, size_t cap)
{
	return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static int grow(struct demi__map *m)
{
	size_t old_cap = m->cap, cap = old_cap ? old_cap * 2 : 64;
	uintptr_t *old_keys = m->keys, *keys = calloc(cap, sizeof(*keys));
	void **old_vals = m->vals, **vals = calloc(cap, sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	m->used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old_keys[i])
			demi__map_put(m, old_keys[i], old_vals[i]); /* room: cannot fail */
	free(old_keys);
	free(old_vals);
	return 0;
}

int demi__map_put(struct demi__map *m, uintptr_t key, void *val)
{
	size_t i;

	if ((m->used + 1) * 2 > m->cap) {
		int rc = grow(m);

		if (rc < 0)
			return rc;
	}
	for (i = slot_of(key, m->cap); m->keys[i] && m->keys[i] != key; i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->used++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

void *demi__map_get(const struct demi__map *m, uintptr_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->vals[i];
	return NULL;
}

void demi__map_del(struct demi__map *m, uintptr_t key)
{
	size_t mask = m->cap - 1, i;

	if (!m->cap)
		return;
	for (i = slot_of(key, m->cap); m->keys[i] != key; i = (i + 1) & mask)
		if (!m->keys[i])
			return;
	for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = slot_of(m->keys[j], m->cap);

		/* Move j back into the hole at i unless its home lies in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->used--;
}

void demi__map_fini(struct demi__map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
