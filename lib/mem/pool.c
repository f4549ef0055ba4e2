/* SPDX-License-Identifier: MIT */
/* The buffer pool: size classes, slabs and the address -> buffer map. See buf.h. */
#include "buf.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../log.h"

static size_t class_bytes(unsigned cls)
{
	return (size_t)1 << (DEMI__BUF_MIN_SHIFT + cls);
}

/* The smallest class whose buffers hold size bytes after the headroom, or -1. */
static int class_for(size_t size)
{
	for (unsigned c = 0; c < DEMI__BUF_NCLASSES; c++)
		if (size + DEMI__BUF_HEADROOM <= class_bytes(c))
			return (int)c;
	return -1;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/* ---- slabs ---- */

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26) /* log2(2 MiB) << MAP_HUGE_SHIFT */
#endif

/* Slab memory: 2 MiB hugepages first (a MAP_HUGETLB mapping is aligned to its page size, and
 * fails at once, rather than faulting later, when the machine has too few free), else
 * aligned_alloc. The choice is logged when it changes: the first slab, and hugepages running
 * out or coming back. */
static uint8_t *slab_mem_alloc(struct demi__pool *p, size_t bytes, bool *huge)
{
	void *m = MAP_FAILED;

	if (!p->no_huge)
		m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
	*huge = m != MAP_FAILED;
	/* A forked child (Redis's BGSAVE) does not inherit hugepage slabs: without this, every
	 * slab page the parent writes after the fork is copied whole (2 MiB) on its write fault,
	 * and a child touching one after the machine ran out of hugepages would get SIGBUS. No
	 * child may use the pool's memory (a libOS instance belongs to the process that made it).
	 */
	if (*huge && madvise(m, bytes, MADV_DONTFORK) != 0)
		DEMI_WARN("pool: madvise(MADV_DONTFORK) of a hugepage slab: %s", strerror(errno));
	if (!*huge)
		m = aligned_alloc(DEMI__SLAB_BYTES, bytes);
	if (m && p->last_huge != *huge) {
		if (*huge)
			DEMI_INFO("pool: slabs on 2 MiB hugepages");
		else
			DEMI_INFO("pool: slabs on ordinary pages%s",
				  p->no_huge ? "" : " (no free 2 MiB hugepages)");
		p->last_huge = *huge;
	}
	return m;
}

static void slab_mem_free(uint8_t *mem, size_t bytes, bool huge)
{
	if (huge)
		munmap(mem, bytes);
	else
		free(mem);
}

static int slab_id_alloc(struct demi__pool *p, uint32_t *id_out)
{
	for (uint32_t id = p->free_id_hint; id < p->nslabs; id++) {
		if (!p->slabs[id]) {
			*id_out = id;
			p->free_id_hint = id + 1;
			return 0;
		}
	}
	if (p->nslabs == p->slabs_cap) {
		uint32_t cap = p->slabs_cap ? p->slabs_cap * 2 : 64;
		struct demi__slab **s;

		if (cap >= (1u << 24))
			return -ENOMEM; /* the handle has 24 bits of slab id */
		s = realloc(p->slabs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		p->slabs = s;
		p->slabs_cap = cap;
	}
	*id_out = p->nslabs++;
	p->slabs[*id_out] = NULL; /* reserved, not yet live: a failed creation leaves it free */
	p->free_id_hint = p->nslabs;
	return 0;
}

static void slab_destroy(struct demi__pool *p, struct demi__slab *s, bool notify)
{
	if (p->hook && notify)
		p->hook(p->hook_arg, s, false);
	for (size_t off = 0; off < s->bytes; off += DEMI__SLAB_BYTES)
		demi__map_del(&p->chunks, ((uintptr_t)s->mem + off) >> DEMI__SLAB_SHIFT);
	p->slabs[s->id] = NULL;
	if (s->id < p->free_id_hint)
		p->free_id_hint = s->id;
	p->stats.bytes_reserved -= s->bytes;
	p->stats.slabs--;
	p->stats.huge_slabs -= s->huge;
	slab_mem_free(s->mem, s->bytes, s->huge);
	free(s);
}

/* A new slab of nbufs buffers of stride bytes (cls DEMI__BUF_LARGE for a single large one). */
static struct demi__slab *slab_create(struct demi__pool *p, uint8_t cls, size_t stride,
				      uint32_t nbufs)
{
	size_t bytes = round_up(stride * nbufs, DEMI__SLAB_BYTES);
	struct demi__slab *s;
	uint32_t id;

	if (p->max_bytes && p->stats.bytes_reserved + bytes > p->max_bytes) {
		DEMI_WARN("buffer pool limit of %zu bytes reached", p->max_bytes);
		return NULL;
	}
	if (slab_id_alloc(p, &id) < 0)
		return NULL;
	s = calloc(1, sizeof(*s) + nbufs * sizeof(s->bufs[0]));
	if (!s)
		return NULL;
	s->mem = slab_mem_alloc(p, bytes, &s->huge);
	if (!s->mem) {
		free(s);
		return NULL;
	}
	s->bytes = bytes;
	s->stride = (uint32_t)(stride > UINT32_MAX ? UINT32_MAX : stride);
	s->nbufs = nbufs;
	s->id = id;
	s->cls = cls;
	s->pool = p;
	/* Buffers of a new slab start from a pool-wide generation, so a handle to a freed slab
	 * does not match a new slab that got the same id. */
	p->gen_seed += 0x101;
	for (uint32_t i = 0; i < nbufs; i++) {
		struct demi__buf *b = &s->bufs[i];
		b->gen = p->gen_seed;
		b->base = s->mem + (size_t)i * stride;
		b->cap = (uint32_t)(stride > UINT32_MAX ? UINT32_MAX : stride);
		b->index = i;
		b->cls = cls;
		b->slab = s;
	}
	p->slabs[id] = s;
	p->stats.bytes_reserved += bytes;
	p->stats.slabs++;
	p->stats.slab_allocs++;
	p->stats.huge_slabs += s->huge;
	for (size_t off = 0; off < bytes; off += DEMI__SLAB_BYTES) {
		if (demi__map_put(&p->chunks, ((uintptr_t)s->mem + off) >> DEMI__SLAB_SHIFT, s) <
		    0) {
			/* Undo the chunks inserted so far, then the rest of the slab. */
			for (size_t o = 0; o < off; o += DEMI__SLAB_BYTES)
				demi__map_del(&p->chunks,
					      ((uintptr_t)s->mem + o) >> DEMI__SLAB_SHIFT);
			p->slabs[id] = NULL;
			p->stats.bytes_reserved -= bytes;
			p->stats.slabs--;
			p->stats.huge_slabs -= s->huge;
			slab_mem_free(s->mem, bytes, s->huge);
			free(s);
			return NULL;
		}
	}
	if (p->hook && p->hook(p->hook_arg, s, true) < 0) {
		slab_destroy(p, s,
			     false); /* the hook refused it: it hears nothing of its removal */
		return NULL;
	}
	return s;
}

static int class_refill(struct demi__pool *p, unsigned cls)
{
	size_t stride = class_bytes(cls);
	uint32_t n = stride >= DEMI__SLAB_BYTES ? 1 : (uint32_t)(DEMI__SLAB_BYTES / stride);
	struct demi__slab *s = slab_create(p, (uint8_t)cls, stride, n);

	if (!s)
		return -ENOMEM;
	/* Push in reverse so the first buffers come out first (nicer for caches and tests). */
	for (uint32_t i = n; i-- > 0;) {
		s->bufs[i].next = p->free[cls];
		p->free[cls] = &s->bufs[i];
	}
	return 0;
}

int demi__pool_init(struct demi__pool *pool, size_t max_bytes)
{
	memset(pool, 0, sizeof(*pool));
	pool->max_bytes = max_bytes;
	pool->last_huge = -1;
	pool->nslabs = 1; /* id 0 is never used: a handle is never 0 */
	pool->free_id_hint = 1;
	pool->slabs_cap = 64;
	pool->slabs = calloc(pool->slabs_cap, sizeof(*pool->slabs));
	return pool->slabs ? 0 : -ENOMEM;
}

void demi__pool_fini(struct demi__pool *pool)
{
	for (uint32_t id = 1; id < pool->nslabs; id++)
		if (pool->slabs[id])
			slab_destroy(pool, pool->slabs[id], true);
	free(pool->slabs);
	demi__map_fini(&pool->chunks);
	memset(pool, 0, sizeof(*pool));
}

int demi__pool_set_slab_hook(struct demi__pool *pool, demi__slab_hook_fn hook, void *arg)
{
	pool->hook = NULL;
	for (uint32_t id = 1; hook && id < pool->nslabs; id++) {
		int rc;

		if (!pool->slabs[id] || (rc = hook(arg, pool->slabs[id], true)) == 0)
			continue;
		/* Take back the registrations made so far: all or nothing. */
		while (--id > 0)
			if (pool->slabs[id])
				hook(arg, pool->slabs[id], false);
		return rc;
	}
	pool->hook = hook;
	pool->hook_arg = arg;
	return 0;
}

struct demi__buf *demi__pool_get(struct demi__pool *pool, size_t size)
{
	struct demi__buf *b;
	int cls;

	if (size > DEMI__BUF_MAX_BYTES)
		goto fail; /* also keeps size + headroom from wrapping below */
	cls = class_for(size);
	if (cls >= 0) {
		if (!pool->free[cls] && class_refill(pool, (unsigned)cls) < 0)
			goto fail;
		b = pool->free[cls];
		pool->free[cls] = b->next;
	} else {
		struct demi__slab *s =
			slab_create(pool, DEMI__BUF_LARGE, size + DEMI__BUF_HEADROOM, 1);
		if (!s)
			goto fail;
		b = &s->bufs[0];
	}
	b->next = NULL;
	b->off = DEMI__BUF_HEADROOM;
	b->len = (uint32_t)size;
	b->refcnt = 1;
	b->gen++;
	b->app_owned = 0;
	b->priv = 0;
	pool->stats.bufs_in_use++;
	pool->stats.allocs++;
	return b;
fail:
	pool->stats.failed++;
	return NULL;
}

void demi__buf_release(struct demi__buf *b)
{
	struct demi__slab *s = b->slab;
	struct demi__pool *p = s->pool;

	assert(b->refcnt == 0);
	p->stats.bufs_in_use--;
	b->app_owned = 0;
	if (b->cls == DEMI__BUF_LARGE) {
		slab_destroy(p, s, true);
		return;
	}
	b->next = p->free[b->cls];
	p->free[b->cls] = b;
}

struct demi__buf *demi__pool_lookup(const struct demi__pool *pool, const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	struct demi__slab *s = demi__map_get(&pool->chunks, a >> DEMI__SLAB_SHIFT);
	size_t i;

	if (!s)
		return NULL;
	i = (a - (uintptr_t)s->mem) / s->stride;
	return i < s->nbufs ? &s->bufs[i] : NULL;
}

uint64_t demi__buf_handle(const struct demi__buf *b)
{
	return ((uint64_t)b->gen << 48) | ((uint64_t)b->slab->id << 24) | b->index;
}

struct demi__buf *demi__pool_from_handle(const struct demi__pool *pool, uint64_t handle)
{
	uint32_t id = (uint32_t)(handle >> 24) & 0xffffff, index = (uint32_t)handle & 0xffffff;
	uint16_t gen = (uint16_t)(handle >> 48);
	struct demi__slab *s;
	struct demi__buf *b;

	if (id == 0 || id >= pool->nslabs || !(s = pool->slabs[id]) || index >= s->nbufs)
		return NULL;
	b = &s->bufs[index];
	return b->gen == gen && b->refcnt > 0 ? b : NULL;
}
