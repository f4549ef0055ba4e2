/* SPDX-License-Identifier: MIT */
/*
 * The buffer header shared by every libOS, and the pool that hands buffers out.
 *
 * Memory comes in slabs: 2 MiB-aligned regions (a multiple of 2 MiB long) cut into buffers of
 * one size class (powers of two from 2 KiB to 4 MiB). Headers live apart from the data, in an
 * array owned by the slab, so any address inside a slab maps to its buffer in O(1)
 * (demi__pool_lookup): that is how a push recognises pool memory (zero-copy) from foreign memory
 * (copied). Requests larger than the largest class get a slab of their own, freed on the last
 * put. Slabs are never returned to the system before demi__pool_fini, so a steady state
 * allocates nothing.
 *
 * Slab memory sits on 2 MiB hugepages when the machine has free ones (one TLB entry per slab
 * instead of 512, the memory DPDK and RDMA deployments use), else on ordinary pages.
 *
 * Slabs are the unit a device registers (RDMA memory regions, DPDK external memory): a libOS
 * sets a slab hook and sees every slab, present and future.
 *
 * Not thread-safe: one pool per libOS instance, one libOS per thread.
 */
#ifndef DEMI__BUF_H
#define DEMI__BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../map.h"

#define DEMI__SLAB_SHIFT 21 /* 2 MiB */
#define DEMI__SLAB_BYTES ((size_t)1 << DEMI__SLAB_SHIFT)
#define DEMI__BUF_MIN_SHIFT 11 /* smallest class: 2 KiB */
#define DEMI__BUF_NCLASSES 12  /* 2 KiB .. 4 MiB */
#define DEMI__BUF_LARGE 0xff   /* class of a buffer with a slab of its own */
/* Room left in front of the data of every fresh buffer for protocol headers to be prepended
 * without a copy (Ethernet 14 + IPv4 60 + TCP 60 = 134, rounded to a cache line multiple). */
#define DEMI__BUF_HEADROOM 192
/* The largest size a single buffer may have. */
#define DEMI__BUF_MAX_BYTES ((size_t)UINT32_MAX - DEMI__BUF_HEADROOM)

struct demi__pool;
struct demi__slab;

/*
 * Invariants:
 * - refcnt > 0 exactly while the buffer is handed out; a buffer with refcnt 0 is on its class's
 *   free list (or, for a large buffer, freed).
 * - off + len <= cap; the data are [base + off, base + off + len).
 * - app_owned is set while the application holds the array that names this buffer (from
 *   demi_sgaalloc or a pop); that hold accounts for one of the references.
 * - gen changes on every allocation, so a stale handle to a recycled buffer is detected.
 * - dev is a property of the memory, not of one allocation: demi__pool_get leaves it alone.
 */
struct demi__buf {
	uint8_t *base; /* first byte of the buffer's memory (headroom included) */
	uint32_t cap;  /* bytes at base */
	uint32_t off;  /* start of the data, from base */
	uint32_t len;  /* bytes of data */
	uint32_t refcnt;
	uint16_t gen;
	uint8_t cls; /* size class, or DEMI__BUF_LARGE */
	uint8_t app_owned;
	uint32_t index; /* position in the slab */
	struct demi__slab *slab;
	/* One list at a time: the pool's free list while free, the holder's own list (e.g. a
	 * socket's received data) while handed out. */
	struct demi__buf *next;
	uint64_t priv; /* for the libOS that holds the buffer (e.g. an mbuf or an lkey) */
	/* For the device the pool's memory is registered with: its own descriptor of this
	 * buffer's memory (catnip's DPDK device: an mbuf whose data room is the buffer, so a
	 * frame goes out with no descriptor to allocate), or NULL. 64 bytes in all: one line. */
	void *dev;
};

struct demi__slab {
	uint8_t *mem;	 /* DEMI__SLAB_BYTES-aligned */
	size_t bytes;	 /* multiple of DEMI__SLAB_BYTES */
	uint32_t stride; /* bytes per buffer */
	uint32_t nbufs;
	uint32_t id; /* index in pool->slabs, > 0 */
	uint8_t cls;
	bool huge; /* mem is a MAP_HUGETLB mapping (else aligned_alloc's) */
	struct demi__pool *pool;
	uint64_t priv;		 /* for the libOS that registered the slab (e.g. an RDMA MR) */
	struct demi__buf bufs[]; /* nbufs headers */
};

/* Called for each slab when it is added (added = true) or removed; returns 0 or -errno (an
 * error on add makes the allocation fail). */
typedef int (*demi__slab_hook_fn)(void *arg, struct demi__slab *slab, bool added);

struct demi__pool_stats {
	uint64_t bufs_in_use;
	uint64_t bytes_reserved; /* memory held by slabs */
	uint64_t slabs;
	uint64_t allocs;      /* total successful demi__pool_get */
	uint64_t slab_allocs; /* slabs obtained from the system */
	uint64_t huge_slabs;  /* of the slabs held, those on hugepages */
	uint64_t failed;      /* demi__pool_get that returned NULL */
};

struct demi__pool {
	struct demi__buf *free[DEMI__BUF_NCLASSES];
	struct demi__slab **slabs; /* by id; NULL for a free id */
	uint32_t nslabs;	   /* used length of slabs[] (ids 1..nslabs-1) */
	uint32_t slabs_cap;
	uint32_t free_id_hint;
	struct demi__map chunks; /* 2 MiB chunk number -> slab */
	size_t max_bytes;	 /* limit of bytes_reserved; 0 = none */
	bool no_huge;		 /* never try hugepages (demikernel.pool_hugepages: false; tests) */
	int8_t last_huge;	 /* what the last slab got, -1 before the first: logged on change */
	uint16_t gen_seed;	 /* first generation of the next slab's buffers */
	demi__slab_hook_fn hook;
	void *hook_arg;
	struct demi__pool_stats stats;
};

int demi__pool_init(struct demi__pool *pool, size_t max_bytes);
/* Frees every slab; buffers still handed out are reported by the caller's leak checks. */
void demi__pool_fini(struct demi__pool *pool);
/* Installs hook and calls it for every existing slab. Returns 0 or the hook's error. */
int demi__pool_set_slab_hook(struct demi__pool *pool, demi__slab_hook_fn hook, void *arg);

/* A buffer with room for size bytes after the headroom: off = DEMI__BUF_HEADROOM,
 * len = size, refcnt 1. NULL when size is too large or memory is exhausted. */
struct demi__buf *demi__pool_get(struct demi__pool *pool, size_t size);
/* The buffer whose memory holds addr, handed out or not; NULL if addr is not pool memory. */
struct demi__buf *demi__pool_lookup(const struct demi__pool *pool, const void *addr);

static inline void demi__buf_ref(struct demi__buf *b)
{
	b->refcnt++;
}

void demi__buf_release(struct demi__buf *b);

/* Drops one reference; the buffer returns to the pool with the last one. */
static inline void demi__buf_put(struct demi__buf *b)
{
	if (--b->refcnt == 0)
		demi__buf_release(b);
}

static inline uint8_t *demi__buf_data(const struct demi__buf *b)
{
	return b->base + b->off;
}

/* Bytes of room after the data. */
static inline uint32_t demi__buf_tailroom(const struct demi__buf *b)
{
	return b->cap - b->off - b->len;
}

/*
 * A FIFO of buffers linked through their next field, one reference held per buffer: what a
 * socket keeps of received data until the application pops it (every libOS has one).
 */
struct demi__buf_fifo {
	struct demi__buf *head, *tail;
	uint32_t count;
};

static inline void demi__buf_fifo_push(struct demi__buf_fifo *f, struct demi__buf *b)
{
	b->next = NULL;
	if (f->tail)
		f->tail->next = b;
	else
		f->head = b;
	f->tail = b;
	f->count++;
}

/* The oldest buffer (the caller takes its reference), or NULL. */
static inline struct demi__buf *demi__buf_fifo_pop(struct demi__buf_fifo *f)
{
	struct demi__buf *b = f->head;

	if (!b)
		return NULL;
	f->head = b->next;
	if (!f->head)
		f->tail = NULL;
	b->next = NULL;
	f->count--;
	return b;
}

/* Drops every buffer still queued. */
static inline void demi__buf_fifo_clear(struct demi__buf_fifo *f)
{
	struct demi__buf *b;

	while ((b = demi__buf_fifo_pop(f)))
		demi__buf_put(b);
}

/* An opaque, checkable handle for the application (demi_sgarray_t.sga_buf): slab id, index and
 * generation, never a raw pointer, so a forged or stale handle is refused, not dereferenced. */
uint64_t demi__buf_handle(const struct demi__buf *b);
struct demi__buf *demi__pool_from_handle(const struct demi__pool *pool, uint64_t handle);

#endif
