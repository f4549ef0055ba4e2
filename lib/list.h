/* SPDX-License-Identifier: MIT */
/* Intrusive circular doubly-linked list: O(1) insert/remove with no allocation. */
#ifndef DEMI__LIST_H
#define DEMI__LIST_H

#include <stdbool.h>
#include <stddef.h>

struct demi__list {
	struct demi__list *prev, *next;
};

#define demi__container_of(ptr, type, member)                                                      \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void demi__list_init(struct demi__list *l)
{
	l->prev = l->next = l;
}

static inline bool demi__list_empty(const struct demi__list *l)
{
	return l->next == l;
}

/* A node that is not on any list points to itself (after init or remove). */
static inline bool demi__list_linked(const struct demi__list *n)
{
	return n->next != n;
}

static inline void demi__list_push_back(struct demi__list *l, struct demi__list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

static inline void demi__list_remove(struct demi__list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static inline struct demi__list *demi__list_front(const struct demi__list *l)
{
	return demi__list_empty(l) ? NULL : l->next;
}

#endif
