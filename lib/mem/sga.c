/* SPDX-License-Identifier: MIT */
/* Between the application's scatter-gather arrays and pool buffers. */
#include <errno.h>
#include <string.h>

#include "../libos.h"

void demi__sga_from_buf(demi_sgarray_t *sga, struct demi__buf *b)
{
	/* No field cleared here and then written (a pop's result on the way to the
	 * application): each is stored once by this function. */
	b->app_owned = 1;
	sga->sga_buf = (void *)(uintptr_t)demi__buf_handle(b);
	sga->sga_numsegs = 1;
	sga->sga_segs[0].sgaseg_buf = demi__buf_data(b);
	sga->sga_segs[0].sgaseg_len = b->len;
	memset(&sga->sga_segs[1], 0, sizeof(sga->sga_segs) - sizeof(sga->sga_segs[0]));
	memset(&sga->sga_addr, 0, sizeof(sga->sga_addr));
}

void demi__push_req_put(struct demi__push_req *req)
{
	for (uint32_t i = 0; i < req->nsegs; i++) {
		if (req->segs[i].buf)
			demi__buf_put(req->segs[i].buf);
		req->segs[i].buf = NULL;
	}
	req->nsegs = 0;
}

int demi__push_req_own(struct demi__pool *pool, struct demi__push_req *req, uint64_t skip)
{
	for (uint32_t i = 0; i < req->nsegs; i++) {
		struct demi__seg *s = &req->segs[i];
		uint32_t start = 0;

		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		start = (uint32_t)skip;
		skip = 0;
		if (s->buf)
			continue;
		/* Bytes before `start` were consumed already; copy only the rest but keep
		 * the segment's offsets so the caller's accounting stays the same. */
		struct demi__buf *b = demi__pool_get(pool, s->len);
		if (!b)
			return -ENOMEM;
		memcpy(demi__buf_data(b) + start, s->data + start, s->len - start);
		s->buf = b;
		s->data = demi__buf_data(b);
	}
	return 0;
}
