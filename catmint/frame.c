/* SPDX-License-Identifier: MIT */
/* catmint's immediate data, hello and fragment rules. See frame.h. */
#include "frame.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

uint32_t mint_imm_encode(enum mint_kind kind, uint32_t credits, uint32_t aux)
{
	assert(credits <= MINT_CREDITS_MAX && aux <= 0xffffu);
	return ((uint32_t)kind << 30) | (credits << 16) | aux;
}

int mint_imm_decode(uint32_t imm, struct mint_imm *out)
{
	out->kind = (uint8_t)(imm >> 30);
	out->credits = (uint16_t)((imm >> 16) & MINT_CREDITS_MAX);
	out->aux = (uint16_t)imm;
	switch (out->kind) {
	case MINT_KIND_MSG:
	case MINT_KIND_CREDIT:
		return out->aux == 0 ? 0 : -EPROTO;
	case MINT_KIND_FIRST:
		return out->aux >= 2 ? 0 : -EPROTO;
	default: /* MORE: any index */
		return 0;
	}
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

int mint_hello_emit(uint8_t *p, size_t len, const struct mint_hello *h)
{
	if (len < MINT_HELLO_BYTES)
		return -ENOSPC;
	put_be32(p, MINT_HELLO_MAGIC);
	p[4] = MINT_HELLO_VERSION;
	p[5] = 0;
	p[6] = p[7] = 0;
	put_be32(p + 8, h->credits);
	put_be32(p + 12, h->frag_bytes);
	return (int)MINT_HELLO_BYTES;
}

int mint_hello_parse(const uint8_t *p, size_t len, struct mint_hello *h)
{
	if (!p || len < MINT_HELLO_BYTES || get_be32(p) != MINT_HELLO_MAGIC ||
	    p[4] != MINT_HELLO_VERSION)
		return -EPROTO;
	h->credits = get_be32(p + 8);
	h->frag_bytes = get_be32(p + 12);
	/* Credit accounting needs a few receives (credit.h). */
	if (h->credits < MINT_DEPTH_MIN || h->credits > MINT_CREDITS_MAX ||
	    h->frag_bytes < MINT_FRAG_MIN)
		return -EPROTO;
	return 0;
}

uint32_t mint_frag_count(uint64_t len, uint32_t frag_bytes)
{
	uint64_t n;

	if (len == 0 || frag_bytes == 0)
		return 0;
	if (len <= frag_bytes)
		return 1; /* the common case, without a division */
	n = (len + frag_bytes - 1) / frag_bytes;
	return n > MINT_FRAGS_MAX ? 0 : (uint32_t)n;
}

int64_t mint_reasm_feed(struct mint_reasm *r, const struct mint_imm *imm, uint32_t frag_len,
			uint32_t frag_bytes)
{
	uint64_t off;
	bool last;

	if (frag_len == 0 || frag_len > frag_bytes)
		return -EPROTO;
	if (imm->kind == MINT_KIND_FIRST) {
		if (r->nfrags)
			return -EPROTO;
		/* Every fragment but the last is full. */
		if (frag_len != frag_bytes)
			return -EPROTO;
		r->nfrags = imm->aux;
		r->got = 1;
		r->len = frag_len;
		return 0;
	}
	if (imm->kind != MINT_KIND_MORE || !r->nfrags || r->got == r->nfrags ||
	    imm->aux != (r->got & 0xffffu))
		return -EPROTO;
	last = r->got + 1 == r->nfrags;
	if (!last && frag_len != frag_bytes)
		return -EPROTO;
	off = r->len;
	r->got++;
	r->len += frag_len;
	return (int64_t)off;
}
