/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the buffer pool (lib/mem/pool.c): size classes, headroom, reference
 * counts, the address -> buffer map, handles, large buffers, the memory limit and the slab hook.
 *
 * Lookups are checked against a reference that scans every slab linearly, so the chunk map is
 * never its own oracle. The program is linked with -Wl,--wrap=aligned_alloc,--wrap=realloc,
 * --wrap=mmap64: aligned_alloc can be made to fail (slab memory exhausted), realloc fills the
 * memory it adds with a non-zero pattern, so code that reads array slots it never wrote sees
 * garbage on every run instead of whatever the allocator happened to leave there, and a
 * hugepage mapping fails as on a machine without free hugepages unless a test allows it (the
 * machine's hugepages belong to the DPDK tests; the churn test would take them all).
 */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "log.h"
#include "mem/buf.h"

#define MIB ((size_t)1 << 20)
#define HR DEMI__BUF_HEADROOM
/* The smallest request that does not fit the largest class. */
#define LARGE_MIN ((((size_t)1 << (DEMI__BUF_MIN_SHIFT + DEMI__BUF_NCLASSES - 1))) - HR + 1)

/* ---- allocation wrappers (see the file comment) ---- */

void *__real_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);

static int aligned_alloc_failures; /* how many of the next calls fail */

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	if (aligned_alloc_failures > 0) {
		aligned_alloc_failures--;
		return NULL;
	}
	return __real_aligned_alloc(align, size);
}

static bool hugepages_allowed; /* MAP_HUGETLB mappings reach the kernel */
static unsigned hugepage_tries;

/* mmap64: the name glibc gives mmap under _FILE_OFFSET_BITS=64, as meson builds. */
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (flags & MAP_HUGETLB) {
		hugepage_tries++;
		if (!hugepages_allowed) {
			errno = ENOMEM;
			return MAP_FAILED;
		}
	}
	return __real_mmap64(addr, len, prot, flags, fd, off);
}

void *__wrap_realloc(void *p, size_t size)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q = malloc(size ? size : 1);

	if (!q)
		return NULL;
	memset(q, 0xa5, size);
	if (p) {
		memcpy(q, p, old < size ? old : size);
		free(p);
	}
	return q;
}

/* ---- helpers ---- */

static size_t class_cap(unsigned cls)
{
	return (size_t)1 << (DEMI__BUF_MIN_SHIFT + cls);
}

/* The buffer holding addr found by scanning every slab: the oracle for demi__pool_lookup. */
static struct demi__buf *ref_lookup(const struct demi__pool *p, const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	for (uint32_t id = 1; id < p->nslabs; id++) {
		struct demi__slab *s = p->slabs[id];
		uintptr_t mem;

		if (!s)
			continue;
		mem = (uintptr_t)s->mem;
		if (a < mem || a - mem >= s->bytes)
			continue;
		if ((a - mem) / s->stride >= s->nbufs)
			return NULL;
		return &s->bufs[(a - mem) / s->stride];
	}
	return NULL;
}

/* Every byte range of the slab maps to the right buffer: first, middle and last byte of every
 * buffer, and nothing for the tail of the slab that no buffer covers. */
static void check_slab_lookups(const struct demi__pool *p, struct demi__slab *s)
{
	for (uint32_t i = 0; i < s->nbufs; i++) {
		struct demi__buf *b = &s->bufs[i];

		assert_ptr_equal(b->base, s->mem + (size_t)i * s->stride);
		assert_ptr_equal(demi__pool_lookup(p, b->base), b);
		assert_ptr_equal(demi__pool_lookup(p, b->base + b->cap / 2), b);
		assert_ptr_equal(demi__pool_lookup(p, b->base + b->cap - 1), b);
	}
	if ((size_t)s->nbufs * s->stride < s->bytes) {
		assert_null(demi__pool_lookup(p, s->mem + (size_t)s->nbufs * s->stride));
		assert_null(demi__pool_lookup(p, s->mem + s->bytes - 1));
	}
}

/* The map holds exactly the chunks of the live slabs, each pointing at its slab. */
static void check_map(const struct demi__pool *p)
{
	size_t chunks = 0;

	for (uint32_t id = 1; id < p->nslabs; id++) {
		struct demi__slab *s = p->slabs[id];

		if (!s)
			continue;
		assert_int_equal(s->id, id);
		assert_int_equal((uintptr_t)s->mem % DEMI__SLAB_BYTES, 0);
		assert_int_equal(s->bytes % DEMI__SLAB_BYTES, 0);
		for (size_t off = 0; off < s->bytes; off += DEMI__SLAB_BYTES) {
			assert_ptr_equal(demi__pool_lookup(p, s->mem + off),
					 ref_lookup(p, s->mem + off));
			assert_ptr_equal(demi__pool_lookup(p, s->mem + off + DEMI__SLAB_BYTES - 1),
					 ref_lookup(p, s->mem + off + DEMI__SLAB_BYTES - 1));
			chunks++;
		}
	}
	assert_int_equal(p->chunks.used, chunks);
	for (size_t i = 0; i < p->chunks.cap; i++) {
		struct demi__slab *s = p->chunks.vals[i];
		uintptr_t chunk_addr;

		if (!p->chunks.keys[i]) {
			assert_null(s);
			continue;
		}
		assert_non_null(s);
		assert_ptr_equal(p->slabs[s->id], s);
		chunk_addr = p->chunks.keys[i] << DEMI__SLAB_SHIFT;
		assert_true(chunk_addr >= (uintptr_t)s->mem);
		assert_true(chunk_addr - (uintptr_t)s->mem < s->bytes);
	}
}

static int setup(void **state)
{
	struct demi__pool *p = malloc(sizeof(*p));

	if (!p || demi__pool_init(p, 0) < 0)
		return -1;
	aligned_alloc_failures = 0;
	hugepages_allowed = false;
	hugepage_tries = 0;
	*state = p;
	return 0;
}

/* No buffer may leak out of a test. */
static int teardown(void **state)
{
	struct demi__pool *p = *state;

	aligned_alloc_failures = 0;
	assert_int_equal(p->stats.bufs_in_use, 0);
	demi__pool_fini(p);
	free(p);
	return 0;
}

/* ---- size classes ---- */

static void test_pool_get_fresh_buffer(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 100);

	assert_non_null(b);
	assert_int_equal(b->off, HR);
	assert_int_equal(b->len, 100);
	assert_int_equal(b->refcnt, 1);
	assert_int_equal(b->app_owned, 0);
	assert_int_equal(b->priv, 0);
	assert_null(b->next);
	assert_ptr_equal(demi__buf_data(b), b->base + HR);
	assert_int_equal(demi__buf_tailroom(b), class_cap(0) - HR - 100);
	assert_ptr_equal(b->slab->pool, p);
	assert_int_equal(p->stats.bufs_in_use, 1);
	assert_int_equal(p->stats.allocs, 1);
	assert_int_equal(p->stats.slabs, 1);
	assert_int_equal(p->stats.slab_allocs, 1);
	assert_int_equal(p->stats.bytes_reserved, DEMI__SLAB_BYTES);
	/* Dirty the fields a fresh buffer must have reset, then get it back. */
	b->app_owned = 1;
	b->priv = 77;
	b->off = 5;
	demi__buf_put(b);
	assert_int_equal(p->stats.bufs_in_use, 0);
	b = demi__pool_get(p, 10);
	assert_non_null(b);
	assert_int_equal(b->off, HR);
	assert_int_equal(b->len, 10);
	assert_int_equal(b->app_owned, 0);
	assert_int_equal(b->priv, 0);
	demi__buf_put(b);
}

static void test_pool_get_zero_size(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 0);

	assert_non_null(b);
	assert_int_equal(b->cls, 0);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->off, HR);
	demi__buf_put(b);
}

/* For every class: capacity - headroom fits the class exactly, one more byte moves up. */
static void test_pool_get_class_boundaries(void **state)
{
	struct demi__pool *p = *state;

	for (unsigned c = 0; c < DEMI__BUF_NCLASSES; c++) {
		size_t cap = class_cap(c), exact = cap - HR;
		struct demi__buf *b = demi__pool_get(p, exact);
		struct demi__buf *up = demi__pool_get(p, exact + 1);

		assert_non_null(b);
		assert_int_equal(b->cls, c);
		assert_int_equal(b->cap, cap);
		assert_int_equal(b->len, exact);
		assert_int_equal(demi__buf_tailroom(b), 0);
		assert_int_equal(
			(uintptr_t)b->base % (cap < DEMI__SLAB_BYTES ? cap : DEMI__SLAB_BYTES), 0);
		/* The whole data area is usable (ASan catches an overrun). */
		demi__buf_data(b)[0] = 1;
		demi__buf_data(b)[exact - 1] = 2;

		assert_non_null(up);
		if (c + 1 < DEMI__BUF_NCLASSES) {
			assert_int_equal(up->cls, c + 1);
			assert_int_equal(up->cap, class_cap(c + 1));
		} else {
			assert_int_equal(up->cls, DEMI__BUF_LARGE);
			assert_int_equal(up->cap, exact + 1 + HR);
		}
		assert_int_equal(up->len, exact + 1);
		demi__buf_data(up)[exact] = 3;
		demi__buf_put(b);
		demi__buf_put(up);
	}
	assert_int_equal(p->stats.failed, 0);
}

/* A slab of a class smaller than 2 MiB holds 2 MiB / class size buffers; the next one needs a
 * new slab. */
static void test_pool_get_fills_slab_then_adds_one(void **state)
{
	struct demi__pool *p = *state;
	const uint32_t per_slab = DEMI__SLAB_BYTES / class_cap(0);
	struct demi__buf **bufs = calloc(per_slab + 1, sizeof(*bufs));

	assert_non_null(bufs);
	for (uint32_t i = 0; i < per_slab; i++) {
		bufs[i] = demi__pool_get(p, 1);
		assert_non_null(bufs[i]);
		assert_ptr_equal(bufs[i]->slab, bufs[0]->slab);
	}
	assert_int_equal(bufs[0]->slab->nbufs, per_slab);
	assert_int_equal(p->stats.slabs, 1);
	bufs[per_slab] = demi__pool_get(p, 1);
	assert_non_null(bufs[per_slab]);
	assert_ptr_not_equal(bufs[per_slab]->slab, bufs[0]->slab);
	assert_int_equal(p->stats.slabs, 2);
	assert_int_equal(p->stats.bytes_reserved, 2 * DEMI__SLAB_BYTES);
	assert_int_equal(p->stats.bufs_in_use, per_slab + 1);
	for (uint32_t i = 0; i <= per_slab; i++)
		demi__buf_put(bufs[i]);
	free(bufs);
	/* Slabs of classes are kept for reuse. */
	assert_int_equal(p->stats.slabs, 2);
}

/* Requests no buffer can hold fail, including sizes for which size + headroom wraps. */
static void test_pool_get_too_large_fails(void **state)
{
	struct demi__pool *p = *state;
	const size_t sizes[] = {DEMI__BUF_MAX_BYTES + 1, (size_t)UINT32_MAX, SIZE_MAX - HR,
				SIZE_MAX - 1, SIZE_MAX};
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned got = 0;

	for (size_t i = 0; i < n; i++) {
		struct demi__buf *b = demi__pool_get(p, sizes[i]);

		if (b) {
			print_error("demi__pool_get(%zu) returned class %u, cap %u, len %u\n",
				    sizes[i], b->cls, b->cap, b->len);
			demi__buf_put(b);
			got++;
		}
	}
	assert_int_equal(got, 0);
	assert_int_equal(p->stats.failed, n);
	assert_int_equal(p->stats.allocs, 0);
}

/* get/put cycles in a steady state take no new slab. */
static void test_pool_steady_state_allocates_no_slab(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *held[16];

	for (unsigned i = 0; i < 16; i++)
		held[i] = demi__pool_get(p, (size_t)100 << (i % 8));
	for (unsigned i = 0; i < 16; i++)
		demi__buf_put(held[i]);
	uint64_t slabs = p->stats.slab_allocs;

	for (unsigned round = 0; round < 10000; round++) {
		struct demi__buf *b = demi__pool_get(p, (size_t)100 << (round % 8));

		assert_non_null(b);
		demi__buf_put(b);
	}
	assert_int_equal(p->stats.slab_allocs, slabs);
	assert_int_equal(p->stats.allocs, 16 + 10000);
}

/* ---- reference counts ---- */

static void test_pool_ref_put_counts(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 1000), *again;

	assert_non_null(b);
	demi__buf_ref(b);
	demi__buf_ref(b);
	assert_int_equal(b->refcnt, 3);
	demi__buf_put(b);
	demi__buf_put(b);
	assert_int_equal(b->refcnt, 1);
	assert_int_equal(p->stats.bufs_in_use, 1);
	/* Still handed out: a get must not return it. */
	again = demi__pool_get(p, 1000);
	assert_ptr_not_equal(again, b);
	demi__buf_put(again);
	demi__buf_put(b);
	assert_int_equal(b->refcnt, 0);
	assert_int_equal(p->stats.bufs_in_use, 0);
	/* Back on the free list, on top. */
	again = demi__pool_get(p, 1000);
	assert_ptr_equal(again, b);
	demi__buf_put(again);
}

static void test_pool_large_ref_keeps_slab(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, LARGE_MIN);
	uint8_t *data;

	assert_non_null(b);
	data = demi__buf_data(b);
	demi__buf_ref(b);
	demi__buf_put(b);
	assert_int_equal(p->stats.slabs, 1);
	assert_ptr_equal(demi__pool_lookup(p, data), b);
	data[LARGE_MIN - 1] = 1; /* still mapped: ASan would catch a use after free */
	demi__buf_put(b);
	assert_int_equal(p->stats.slabs, 0);
	assert_null(demi__pool_lookup(p, data));
}

/* ---- address lookup ---- */

/* First, middle and last byte of every buffer of a slab of every class. */
static void test_pool_lookup_every_buffer_of_every_class(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *held[DEMI__BUF_NCLASSES];

	for (unsigned c = 0; c < DEMI__BUF_NCLASSES; c++) {
		held[c] = demi__pool_get(p, class_cap(c) - HR);
		assert_non_null(held[c]);
	}
	for (unsigned c = 0; c < DEMI__BUF_NCLASSES; c++) {
		struct demi__slab *s = held[c]->slab;

		assert_int_equal(s->nbufs, class_cap(c) >= DEMI__SLAB_BYTES
						   ? 1
						   : DEMI__SLAB_BYTES / class_cap(c));
		/* Buffers not handed out are found too. */
		check_slab_lookups(p, s);
	}
	check_map(p);
	for (unsigned c = 0; c < DEMI__BUF_NCLASSES; c++)
		demi__buf_put(held[c]);
}

static int static_object;

/* Memory that is not a slab's: the stack, static storage, malloc, odd pointers. */
static void test_pool_lookup_foreign_memory(void **state)
{
	struct demi__pool *p = *state;
	int on_stack = 0;
	char *small = malloc(64), *big = malloc(8 * MIB), *aligned;
	struct demi__buf *b;

	assert_non_null(small);
	assert_non_null(big);
	/* An empty pool (no map yet) knows no address. */
	assert_null(demi__pool_lookup(p, &on_stack));
	assert_null(demi__pool_lookup(p, NULL));
	b = demi__pool_get(p, 100);
	assert_non_null(b);
	aligned = __real_aligned_alloc(DEMI__SLAB_BYTES, DEMI__SLAB_BYTES);
	assert_non_null(aligned);

	/* clang-format off */
	const void *foreign[] = {
		&on_stack, &static_object, small, small + 63, big, big + 4 * MIB,
		big + 8 * MIB - 1, aligned, aligned + DEMI__SLAB_BYTES - 1, NULL, (void *)1,
		(void *)(uintptr_t)-1, (void *)((uintptr_t)-1 << DEMI__SLAB_SHIFT),
		(void *)(uintptr_t)DEMI__SLAB_BYTES,
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		assert_null(demi__pool_lookup(p, foreign[i]));
	/* Just outside the slab: not the slab's. */
	assert_ptr_equal(demi__pool_lookup(p, b->slab->mem - 1), ref_lookup(p, b->slab->mem - 1));
	assert_ptr_equal(demi__pool_lookup(p, b->slab->mem + b->slab->bytes),
			 ref_lookup(p, b->slab->mem + b->slab->bytes));
	demi__buf_put(b);
	free(aligned);
	free(small);
	free(big);
}

/* ---- handles ---- */

static void test_pool_handle_round_trip(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *bufs[DEMI__BUF_NCLASSES + 1];

	for (unsigned c = 0; c < DEMI__BUF_NCLASSES; c++)
		bufs[c] = demi__pool_get(p, class_cap(c) / 2);
	bufs[DEMI__BUF_NCLASSES] = demi__pool_get(p, LARGE_MIN);
	for (unsigned i = 0; i <= DEMI__BUF_NCLASSES; i++) {
		uint64_t h;

		assert_non_null(bufs[i]);
		h = demi__buf_handle(bufs[i]);
		assert_int_not_equal(h, 0);
		assert_int_not_equal(h, (uint64_t)(uintptr_t)bufs[i]);
		assert_ptr_equal(demi__pool_from_handle(p, h), bufs[i]);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(h, demi__buf_handle(bufs[j]));
	}
	for (unsigned i = 0; i <= DEMI__BUF_NCLASSES; i++)
		demi__buf_put(bufs[i]);
}

/* A handle dies with its buffer, and stays dead when the buffer is handed out again. */
static void test_pool_handle_stale_after_free_and_realloc(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 300), *b2;
	uint64_t h1 = demi__buf_handle(b), h2;

	demi__buf_put(b);
	assert_null(demi__pool_from_handle(p, h1));
	b2 = demi__pool_get(p, 300);
	assert_ptr_equal(b2, b); /* same header, recycled */
	h2 = demi__buf_handle(b2);
	assert_int_not_equal(h1, h2);
	assert_null(demi__pool_from_handle(p, h1));
	assert_ptr_equal(demi__pool_from_handle(p, h2), b2);
	demi__buf_put(b2);
	assert_null(demi__pool_from_handle(p, h2));
}

/* The same for large buffers, whose slab (and slab id) is recycled instead of the header. */
static void test_pool_handle_stale_after_large_realloc(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, LARGE_MIN), *b2, *found;
	uint64_t h1, h2;

	assert_non_null(b);
	h1 = demi__buf_handle(b);
	demi__buf_put(b);
	assert_null(demi__pool_from_handle(p, h1));
	b2 = demi__pool_get(p, LARGE_MIN);
	assert_non_null(b2);
	h2 = demi__buf_handle(b2);
	found = demi__pool_from_handle(p, h1);
	demi__buf_put(b2);
	if (found)
		print_error("stale handle %#llx names the new large buffer (handle %#llx)\n",
			    (unsigned long long)h1, (unsigned long long)h2);
	assert_int_not_equal(h1, h2);
	assert_null(found);
}

/* Forged handles: whatever the 64 bits, the result is NULL or the live buffer whose handle is
 * exactly that value; nothing crashes (ASan checks the reads). */
static void test_pool_handle_forged(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *live[8], *freed, *r;
	struct unit_rng rng;
	uint64_t freed_large;
	uint32_t nslabs;

	unit_rng_seed(&rng, 0xdecafbad);
	for (unsigned i = 0; i < 8; i++)
		live[i] = demi__pool_get(p, (size_t)1000 << i);
	freed = demi__pool_get(p, LARGE_MIN);
	freed_large = demi__buf_handle(freed);
	demi__buf_put(freed);
	nslabs = p->nslabs;

	assert_null(demi__pool_from_handle(p, 0));
	assert_null(demi__pool_from_handle(p, UINT64_MAX));
	assert_null(demi__pool_from_handle(p, freed_large));
	for (unsigned i = 0; i < 8; i++) {
		uint64_t h = demi__buf_handle(live[i]);
		struct demi__slab *s = live[i]->slab;

		assert_null(demi__pool_from_handle(p, h ^ (1ull << 48))); /* generation */
		assert_null(demi__pool_from_handle(p, h & ~(0xffffull << 48)));
		assert_null(demi__pool_from_handle(p, h & ~(0xffffffull << 24))); /* id 0 */
		assert_null(demi__pool_from_handle(p, (h & ~(0xffffffull << 24)) |
							      ((uint64_t)nslabs << 24)));
		assert_null(demi__pool_from_handle(p, (h & ~(0xffffffull << 24)) |
							      (0xffffffull << 24)));
		assert_null(demi__pool_from_handle(p, (h & ~0xffffffull) | s->nbufs));
		assert_null(demi__pool_from_handle(p, h | 0xffffff));
	}
	for (unsigned i = 0; i < 200000; i++) {
		uint64_t v = unit_rng_next(&rng);

		/* Half of them with a slab id that exists, to reach the index/generation checks. */
		if (i & 1)
			v = (v & ~(0xffffffull << 24)) | ((v >> 24) % nslabs) << 24;
		r = demi__pool_from_handle(p, v);
		if (r) {
			assert_int_equal(demi__buf_handle(r), v);
			assert_true(r->refcnt > 0);
		}
	}
	for (unsigned i = 0; i < 8; i++)
		demi__buf_put(live[i]);
}

/* ---- large buffers ---- */

static void test_pool_large_buffer_own_slab(void **state)
{
	struct demi__pool *p = *state;
	const size_t size = 9 * MIB + 12345;
	struct demi__buf *b = demi__pool_get(p, size);
	struct demi__slab *s;
	uint8_t *mem;
	size_t bytes;

	assert_non_null(b);
	s = b->slab;
	mem = s->mem;
	bytes = s->bytes;
	assert_int_equal(b->cls, DEMI__BUF_LARGE);
	assert_int_equal(s->cls, DEMI__BUF_LARGE);
	assert_int_equal(s->nbufs, 1);
	assert_int_equal(b->cap, size + HR);
	assert_int_equal(b->len, size);
	assert_int_equal(bytes, 10 * MIB);
	assert_int_equal(p->stats.bytes_reserved, bytes);
	assert_int_equal(p->stats.slabs, 1);
	demi__buf_data(b)[size - 1] = 7;
	check_slab_lookups(p, s);
	for (size_t off = 0; off < bytes; off += DEMI__SLAB_BYTES)
		assert_ptr_equal(demi__pool_lookup(p, mem + off), off < b->cap ? b : NULL);
	check_map(p);
	assert_int_equal(p->chunks.used, bytes / DEMI__SLAB_BYTES);

	demi__buf_put(b);
	assert_int_equal(p->stats.slabs, 0);
	assert_int_equal(p->stats.bytes_reserved, 0);
	assert_int_equal(p->chunks.used, 0);
	for (size_t off = 0; off < bytes; off += DEMI__SLAB_BYTES) {
		assert_null(demi__pool_lookup(p, mem + off));
		assert_null(demi__pool_lookup(p, mem + off + DEMI__SLAB_BYTES - 1));
	}
	check_map(p);
}

/*
 * Hundreds of large buffers of random sizes allocated and freed in random order, beside a few
 * class slabs: the chunk map (insertions, growth, backward-shift deletions, address reuse by
 * the allocator) must keep mapping every chunk of every live slab and nothing else.
 */
static void test_pool_large_random_churn_keeps_map_exact(void **state)
{
	struct demi__pool *p = *state;
	enum { MAX_LIVE = 80, OPS = 800 };
	struct demi__buf *live[MAX_LIVE] = {0}, *small[4];
	struct {
		uint8_t *mem;
		size_t bytes;
	} gone[32] = {0};
	unsigned nlive = 0, ngone = 0, max_seen = 0;
	struct unit_rng rng;

	unit_rng_seed(&rng, 12345);
	for (unsigned i = 0; i < 4; i++)
		small[i] = demi__pool_get(p, (size_t)3000 << (2 * i));
	for (unsigned op = 0; op < OPS; op++) {
		bool alloc = nlive == 0 || (nlive < MAX_LIVE && unit_rng_below(&rng, 100) < 55);

		if (alloc) {
			size_t size = LARGE_MIN + unit_rng_below(&rng, 8 * MIB);
			struct demi__buf *b = demi__pool_get(p, size);

			assert_non_null(b);
			assert_int_equal(b->cls, DEMI__BUF_LARGE);
			b->base[0] = (uint8_t)op;
			b->base[b->cap - 1] = (uint8_t)op;
			live[nlive++] = b;
		} else {
			unsigned i = (unsigned)unit_rng_below(&rng, nlive);
			struct demi__buf *b = live[i];

			gone[ngone % 32].mem = b->slab->mem;
			gone[ngone % 32].bytes = b->slab->bytes;
			ngone++;
			demi__buf_put(b);
			live[i] = live[--nlive];
		}
		if (nlive > max_seen)
			max_seen = nlive;
		/* Every live large buffer: each chunk and both ends. */
		for (unsigned i = 0; i < nlive; i++) {
			struct demi__buf *b = live[i];

			assert_ptr_equal(demi__pool_lookup(p, b->base), b);
			assert_ptr_equal(demi__pool_lookup(p, b->base + b->cap - 1), b);
			for (size_t off = 0; off < b->cap; off += DEMI__SLAB_BYTES)
				assert_ptr_equal(demi__pool_lookup(p, b->base + off), b);
			assert_ptr_equal(demi__pool_from_handle(p, demi__buf_handle(b)), b);
		}
		/* Recently freed slabs: unknown unless a new slab took the address. */
		for (unsigned g = 0; g < 32 && g < ngone; g++)
			for (size_t off = 0; off < gone[g].bytes; off += DEMI__SLAB_BYTES)
				assert_ptr_equal(demi__pool_lookup(p, gone[g].mem + off),
						 ref_lookup(p, gone[g].mem + off));
		if (op % 50 == 0)
			check_map(p);
	}
	assert_true(max_seen > 40);
	assert_true(ngone > 300);
	check_map(p);
	while (nlive)
		demi__buf_put(live[--nlive]);
	for (unsigned i = 0; i < 4; i++)
		demi__buf_put(small[i]);
	check_map(p);
	assert_int_equal(p->stats.slabs, 4);
	assert_int_equal(p->chunks.used, 4);
}

/* ---- memory limit ---- */

static void test_pool_max_bytes_limits_slabs(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *a, *b, *c;

	demi__pool_fini(p);
	assert_int_equal(demi__pool_init(p, 2 * DEMI__SLAB_BYTES), 0);
	a = demi__pool_get(p, 100);  /* class 0 slab */
	b = demi__pool_get(p, 3000); /* class 1 slab: limit reached */
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(p->stats.bytes_reserved, 2 * DEMI__SLAB_BYTES);
	assert_null(demi__pool_get(p, 5000)); /* would need a class 2 slab */
	assert_int_equal(p->stats.failed, 1);
	assert_null(demi__pool_get(p, LARGE_MIN));
	assert_int_equal(p->stats.failed, 2);
	assert_int_equal(p->stats.bytes_reserved, 2 * DEMI__SLAB_BYTES);
	assert_int_equal(p->stats.slabs, 2);
	assert_int_equal(p->stats.bufs_in_use, 2);
	/* Existing slabs still serve. */
	c = demi__pool_get(p, 200);
	assert_non_null(c);
	assert_ptr_equal(c->slab, a->slab);
	demi__buf_put(a);
	demi__buf_put(b);
	demi__buf_put(c);
	/* Class slabs are kept, so the limit still holds. */
	assert_null(demi__pool_get(p, 5000));
	assert_int_equal(p->stats.failed, 3);
	assert_int_equal(p->stats.allocs, 3);
}

static void test_pool_max_bytes_large_released(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *a, *b;

	demi__pool_fini(p);
	/* Not a multiple of the slab size: the limit is on bytes, slabs are whole. */
	assert_int_equal(demi__pool_init(p, 7 * MIB), 0);
	a = demi__pool_get(p, 5 * MIB); /* 6 MiB slab */
	assert_non_null(a);
	assert_null(demi__pool_get(p, 5 * MIB));
	assert_null(demi__pool_get(p, 100)); /* 2 MiB more would pass 7 MiB */
	assert_int_equal(p->stats.failed, 2);
	demi__buf_put(a);
	assert_int_equal(p->stats.bytes_reserved, 0);
	b = demi__pool_get(p, 5 * MIB);
	assert_non_null(b);
	demi__buf_put(b);
	assert_int_equal(p->stats.failed, 2);
}

/* ---- slab hook ---- */

struct hook_log {
	int added, removed;
	int refuse; /* refuse this many adds */
	int err;
	struct demi__pool *pool;
};

static int hook_record(void *arg, struct demi__slab *s, bool added)
{
	struct hook_log *log = arg;

	assert_non_null(s);
	assert_ptr_equal(s->pool, log->pool);
	assert_int_equal((uintptr_t)s->mem % DEMI__SLAB_BYTES, 0);
	assert_int_equal(s->bytes % DEMI__SLAB_BYTES, 0);
	if (added) {
		if (log->refuse > 0) {
			log->refuse--;
			return log->err;
		}
		assert_int_equal(s->priv, 0);
		s->priv = 0x51ab;
		log->added++;
	} else {
		assert_int_equal(s->priv, 0x51ab);
		log->removed++;
	}
	return 0;
}

/* A slab hook that names, in every buffer's dev, a descriptor of its own (as catnip's DPDK
 * device does with an mbuf per 2 KiB buffer). */
static int hook_dev(void *arg, struct demi__slab *s, bool added)
{
	(void)arg;
	for (uint32_t i = 0; i < s->nbufs; i++)
		s->bufs[i].dev = added ? &s->bufs[i] : NULL;
	return 0;
}

/* dev belongs to the memory, not to one allocation: a device that set it at the slab's
 * arrival finds it on every buffer handed out later, after any number of get/put cycles. */
static void test_pool_get_keeps_dev(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *a = demi__pool_get(p, 100), *b;

	assert_null(a->dev); /* no hook yet */
	assert_int_equal(demi__pool_set_slab_hook(p, hook_dev, NULL), 0);
	assert_ptr_equal(a->dev, a);
	demi__buf_put(a);
	for (int i = 0; i < 3; i++) {
		b = demi__pool_get(p, 100);
		assert_ptr_equal(b->dev, b);
		b->len = 7; /* an allocation's own fields are reset, not dev */
		demi__buf_put(b);
	}
	demi__pool_set_slab_hook(p, NULL, NULL);
}

static void test_pool_slab_hook_sees_existing_and_new_slabs(void **state)
{
	struct demi__pool *p = *state;
	struct hook_log log = {.pool = p};
	struct demi__buf *a = demi__pool_get(p, 100), *b = demi__pool_get(p, 20000), *c, *big;

	assert_int_equal(demi__pool_set_slab_hook(p, hook_record, &log), 0);
	assert_int_equal(log.added, 2);
	assert_int_equal(a->slab->priv, 0x51ab);
	assert_int_equal(b->slab->priv, 0x51ab);
	c = demi__pool_get(p, 200000);
	assert_non_null(c);
	assert_int_equal(log.added, 3);
	assert_int_equal(c->slab->priv, 0x51ab);
	big = demi__pool_get(p, LARGE_MIN);
	assert_non_null(big);
	assert_int_equal(log.added, 4);
	demi__buf_put(big);
	assert_int_equal(log.removed, 1);
	/* A buffer from an existing slab does not call the hook. */
	demi__buf_put(a);
	a = demi__pool_get(p, 100);
	assert_int_equal(log.added, 4);
	demi__buf_put(a);
	demi__buf_put(b);
	demi__buf_put(c);
	/* fini reports the removal of every remaining slab. */
	demi__pool_fini(p);
	assert_int_equal(log.removed, 4);
	assert_int_equal(demi__pool_init(p, 0), 0);
}

static void test_pool_slab_hook_refusal_fails_get(void **state)
{
	struct demi__pool *p = *state;
	struct hook_log log = {.pool = p, .err = -EIO};

	/* Refusing a new class slab: the get fails, the slab is gone, the map unchanged. */
	assert_int_equal(demi__pool_set_slab_hook(p, hook_record, &log), 0);
	log.refuse = 1;
	assert_null(demi__pool_get(p, 100));
	assert_int_equal(p->stats.failed, 1);
	assert_int_equal(p->stats.allocs, 0);
	assert_int_equal(p->stats.slabs, 0);
	assert_int_equal(p->stats.bytes_reserved, 0);
	assert_int_equal(p->chunks.used, 0);
	assert_int_equal(log.removed, 0); /* not told of the removal of a slab it refused */
	check_map(p);

	/* The same for a large buffer's slab (the hook is set again, whatever the pool did). */
	assert_int_equal(demi__pool_set_slab_hook(p, hook_record, &log), 0);
	log.refuse = 1;
	assert_null(demi__pool_get(p, LARGE_MIN));
	assert_int_equal(p->stats.failed, 2);
	assert_int_equal(p->stats.slabs, 0);
	assert_int_equal(p->stats.bytes_reserved, 0);
	assert_int_equal(log.removed, 0);
	check_map(p);
	assert_int_equal(demi__pool_set_slab_hook(p, NULL, NULL), 0);
}

/* Refusing an existing slab when the hook is set: set_slab_hook returns the hook's error. */
static void test_pool_slab_hook_set_refused(void **state)
{
	struct demi__pool *p = *state;
	struct hook_log log = {.pool = p, .err = -EIO, .refuse = 1};
	struct demi__buf *a = demi__pool_get(p, 100);

	assert_non_null(a);
	assert_int_equal(demi__pool_set_slab_hook(p, hook_record, &log), -EIO);
	assert_int_equal(log.added, 0);
	demi__pool_set_slab_hook(p, NULL, NULL);
	demi__buf_put(a);
}

/* A refusal is about one slab: the hook stays installed for the slabs that follow and is told
 * of the removal of the slabs it accepted. */
static void test_pool_slab_hook_kept_after_refusal(void **state)
{
	struct demi__pool *p = *state;
	struct hook_log log = {.pool = p, .err = -ENOMEM};
	struct demi__buf *big, *b;

	assert_int_equal(demi__pool_set_slab_hook(p, hook_record, &log), 0);
	big = demi__pool_get(p, LARGE_MIN);
	assert_non_null(big);
	assert_int_equal(log.added, 1);
	log.refuse = 1;
	assert_null(demi__pool_get(p, 100));
	b = demi__pool_get(p, 100);
	assert_non_null(b);
	demi__buf_put(b);
	demi__buf_put(big);
	if (!p->hook)
		print_error("the slab hook was uninstalled by one refusal\n");
	demi__pool_set_slab_hook(p, NULL, NULL); /* log dies with this frame */
	assert_int_equal(log.added, 2);		 /* the class-0 slab after the refusal */
	assert_int_equal(log.removed, 1);	 /* the large slab accepted before it */
}

/* ---- running out of memory ---- */

/* When the system has no memory for a slab, get fails and the pool stays consistent: no
 * half-registered slab id, no map entry, and fini still works. */
static void test_pool_get_survives_slab_alloc_failure(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *held[80];
	unsigned n = 0;
	bool bad_slot = false;

	aligned_alloc_failures = 1;
	assert_null(demi__pool_get(p, 100));
	assert_int_equal(p->stats.failed, 1);
	assert_int_equal(p->stats.slabs, 0);
	assert_int_equal(p->stats.bytes_reserved, 0);
	assert_int_equal(p->chunks.used, 0);

	/* Enough slabs for the id table to grow beyond its first allocation. */
	while (p->nslabs < 70) {
		assert_true(n < 80);
		held[n] = demi__pool_get(p, LARGE_MIN);
		assert_non_null(held[n]);
		n++;
	}
	assert_true(p->slabs_cap > 64);
	aligned_alloc_failures = 1;
	assert_null(demi__pool_get(p, LARGE_MIN));
	assert_int_equal(p->stats.failed, 2);
	assert_int_equal(p->stats.slabs, n);
	/* Every id below nslabs is free (NULL) or one of ours (checked before anything reads
	 * through the table). */
	for (uint32_t id = 1; id < p->nslabs; id++) {
		bool ours = p->slabs[id] == NULL;

		for (unsigned i = 0; i < n && !ours; i++)
			ours = p->slabs[id] == held[i]->slab;
		if (!ours) {
			print_error("slab id %u holds %p after a failed slab allocation\n", id,
				    (void *)p->slabs[id]);
			p->slabs[id] = NULL; /* so that the rest of the test and fini survive */
			bad_slot = true;
		}
	}
	check_map(p);
	for (uint32_t id = 1; id < p->nslabs; id++) {
		uint64_t h = (1ull << 48) | ((uint64_t)id << 24);
		struct demi__buf *r = demi__pool_from_handle(p, h);

		if (r)
			assert_int_equal(demi__buf_handle(r), h);
	}
	aligned_alloc_failures = 0;
	held[n] = demi__pool_get(p, 100);
	assert_non_null(held[n]);
	n++;
	while (n)
		demi__buf_put(held[--n]);
	assert_false(bad_slot);
}

/* ---- slab memory: hugepages or ordinary pages ---- */

/* Fills a buffer's slab and checks the pool still finds the buffer by any address in it. */
static void use_slab(struct demi__pool *p, struct demi__buf *b)
{
	struct demi__slab *s = b->slab;

	assert_int_equal((uintptr_t)s->mem % DEMI__SLAB_BYTES, 0);
	memset(s->mem, 0x5a, s->bytes);
	assert_ptr_equal(demi__pool_lookup(p, s->mem + (size_t)s->stride * s->nbufs - 1),
			 &s->bufs[s->nbufs - 1]);
	assert_ptr_equal(demi__pool_lookup(p, b->base + b->off), b);
}

/* The machine's free 2 MiB hugepages (0 when it has none or cannot say). */
static unsigned long free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	unsigned long n = 0;

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

/* Lets the pool map hugepages, or skips the test: two slabs' worth are needed, with room for a
 * DPDK test taking some meanwhile. */
static void need_hugepages(void)
{
	if (free_hugepages() < 8) {
		fprintf(stderr, "fewer than 8 free 2 MiB hugepages on this machine\n");
		skip();
	}
	hugepages_allowed = true;
}

static void test_pool_slab_on_hugepages(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *small, *large;

	need_hugepages();
	small = demi__pool_get(p, 100);
	assert_non_null(small);
	assert_true(small->slab->huge);
	large = demi__pool_get(p, LARGE_MIN); /* a slab of its own, unmapped on its put */
	assert_non_null(large);
	assert_true(large->slab->huge);
	assert_int_equal(p->stats.huge_slabs, 2);
	use_slab(p, small);
	use_slab(p, large);
	demi__buf_put(large);
	assert_int_equal(p->stats.huge_slabs, 1);
	demi__buf_put(small);
}

/* A forked child does not get hugepage slabs (MADV_DONTFORK): the parent's later writes copy
 * nothing, and no child can take a hugepage it may not get. The child asks the kernel whether
 * the slab's first page is mapped (msync fails with ENOMEM on an unmapped range). */
static void test_pool_hugepage_slab_not_inherited(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b;
	int status;

	need_hugepages();
	b = demi__pool_get(p, 100);
	assert_non_null(b);
	assert_true(b->slab->huge);
	memset(b->slab->mem, 0x5a, 4096);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(msync(b->slab->mem, 4096, MS_ASYNC) == -1 && errno == ENOMEM ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	demi__buf_put(b);
}

/* Hugepages refused (none free): the same slabs from aligned_alloc. */
static void test_pool_slab_without_hugepages(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b = demi__pool_get(p, 100);

	assert_non_null(b);
	assert_true(hugepage_tries > 0);
	assert_false(b->slab->huge);
	assert_int_equal(p->stats.huge_slabs, 0);
	use_slab(p, b);
	demi__buf_put(b);
}

/* A pool told not to use hugepages never asks for them. */
static void test_pool_slab_hugepages_off(void **state)
{
	struct demi__pool *p = *state;
	struct demi__buf *b;

	hugepages_allowed = true;
	p->no_huge = true;
	b = demi__pool_get(p, 100);
	assert_non_null(b);
	assert_int_equal(hugepage_tries, 0);
	assert_false(b->slab->huge);
	demi__buf_put(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_get_fresh_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_get_zero_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_get_class_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_get_fills_slab_then_adds_one, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_get_too_large_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_steady_state_allocates_no_slab, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_ref_put_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_large_ref_keeps_slab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_lookup_every_buffer_of_every_class, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_lookup_foreign_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_handle_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_handle_stale_after_free_and_realloc,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_handle_stale_after_large_realloc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_handle_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_large_buffer_own_slab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_large_random_churn_keeps_map_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_max_bytes_limits_slabs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_max_bytes_large_released, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_get_keeps_dev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_hook_sees_existing_and_new_slabs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_hook_refusal_fails_get, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_hook_set_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_hook_kept_after_refusal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_get_survives_slab_alloc_failure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_on_hugepages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_hugepage_slab_not_inherited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_without_hugepages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_slab_hugepages_off, setup, teardown),
	};

	/* The limit tests make the pool warn; DEMI_LOG=warn shows it. */
	if (!getenv("DEMI_LOG"))
		demi__log_level = DEMI__LOG_OFF;

	return cmocka_run_group_tests(tests, NULL, NULL);
}
