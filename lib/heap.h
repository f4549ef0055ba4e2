/* SPDX-License-Identifier: MIT */
/*
 * One binary min-heap for everything kept by a 64-bit key: the runtime's timers
 * (lib/runtime/timer.c, by deadline) and catnip's TCP connections (catnip/inet/tcp/tcp_timer.c,
 * by their earliest timer). Intrusive: the heap is an array of pointers to the objects
 * themselves, and each object holds its key and its slot, so an object is removed or re-keyed
 * in O(log n) without a search, and nothing is allocated per object (the array grows by
 * doubling and never shrinks before fini).
 *
 * DEMI__HEAP_DEFINE(name, owner, elem, key, idx) writes the functions for one user, typed for
 * it (no casts, no comparison callback on the fast path):
 *   owner  the struct holding the array: members `elem **heap; uint32_t heap_len, heap_cap;`
 *   elem   the object type, with members `uint64_t key` and `uint32_t idx` (any names)
 * Slots are 1-based: heap[1] holds the least key; idx 0 means "not in the heap", so a zeroed
 * object is outside. Functions (static inline; a user calls the ones it needs):
 *   int  name_insert(owner *o, elem *e)  e not in the heap, e->key set; 0 or -ENOMEM
 *   void name_remove(owner *o, elem *e)  does nothing when e is not in the heap
 *   void name_update(owner *o, elem *e)  after e->key changed while e is in the heap
 *   elem *name_min(const owner *o)       the least key's object, NULL when empty
 *   void name_fini(owner *o)             frees the array (the objects are the user's)
 * Equal keys come out in no particular order.
 */
#ifndef DEMI__HEAP_H
#define DEMI__HEAP_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define DEMI__HEAP_FIRST_CAP 64u

#define DEMI__HEAP_DEFINE(name, owner_t, elem_t, key, idx)                                         \
	static inline void name##_place(owner_t *o, uint32_t i, elem_t *e)                         \
	{                                                                                          \
		o->heap[i] = e;                                                                    \
		e->idx = i;                                                                        \
	}                                                                                          \
                                                                                                   \
	static inline void name##_up(owner_t *o, uint32_t i)                                       \
	{                                                                                          \
		elem_t *e = o->heap[i];                                                            \
                                                                                                   \
		while (i > 1 && o->heap[i / 2]->key > e->key) {                                    \
			name##_place(o, i, o->heap[i / 2]);                                        \
			i /= 2;                                                                    \
		}                                                                                  \
		name##_place(o, i, e);                                                             \
	}                                                                                          \
                                                                                                   \
	static inline void name##_down(owner_t *o, uint32_t i)                                     \
	{                                                                                          \
		elem_t *e = o->heap[i];                                                            \
                                                                                                   \
		for (;;) {                                                                         \
			uint32_t c = 2 * i;                                                        \
                                                                                                   \
			if (c > o->heap_len)                                                       \
				break;                                                             \
			if (c < o->heap_len && o->heap[c + 1]->key < o->heap[c]->key)              \
				c++;                                                               \
			if (!(o->heap[c]->key < e->key))                                           \
				break;                                                             \
			name##_place(o, i, o->heap[c]);                                            \
			i = c;                                                                     \
		}                                                                                  \
		name##_place(o, i, e);                                                             \
	}                                                                                          \
                                                                                                   \
	static inline void name##_update(owner_t *o, elem_t *e)                                    \
	{                                                                                          \
		name##_up(o, e->idx);                                                              \
		name##_down(o, e->idx);                                                            \
	}                                                                                          \
                                                                                                   \
	static inline void name##_remove(owner_t *o, elem_t *e)                                    \
	{                                                                                          \
		uint32_t i = e->idx;                                                               \
		elem_t *last;                                                                      \
                                                                                                   \
		if (!i)                                                                            \
			return;                                                                    \
		e->idx = 0;                                                                        \
		last = o->heap[o->heap_len--];                                                     \
		if (last == e)                                                                     \
			return;                                                                    \
		/* The last object fills the hole; it may belong above or below it. */             \
		name##_place(o, i, last);                                                          \
		name##_update(o, last);                                                            \
	}                                                                                          \
                                                                                                   \
	static inline int name##_insert(owner_t *o, elem_t *e)                                     \
	{                                                                                          \
		if (o->heap_len + 1 >= o->heap_cap) {                                              \
			uint32_t cap = o->heap_cap ? 2 * o->heap_cap : DEMI__HEAP_FIRST_CAP;       \
			elem_t **h = realloc(o->heap, cap * sizeof(*h));                           \
                                                                                                   \
			if (!h)                                                                    \
				return -ENOMEM;                                                    \
			o->heap = h;                                                               \
			o->heap_cap = cap;                                                         \
		}                                                                                  \
		o->heap[++o->heap_len] = e;                                                        \
		name##_up(o, o->heap_len);                                                         \
		return 0;                                                                          \
	}                                                                                          \
                                                                                                   \
	static inline elem_t *name##_min(const owner_t *o)                                         \
	{                                                                                          \
		return o->heap_len ? o->heap[1] : NULL;                                            \
	}                                                                                          \
                                                                                                   \
	static inline void name##_fini(owner_t *o)                                                 \
	{                                                                                          \
		free(o->heap);                                                                     \
		o->heap = NULL;                                                                    \
		o->heap_len = o->heap_cap = 0;                                                     \
	}

#endif
