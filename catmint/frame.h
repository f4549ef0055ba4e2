/* SPDX-License-Identifier: MIT */
/*
 * catmint's wire formats: what travels in a SEND's 32-bit immediate data, the hello exchanged
 * in the rdma_cm private data when a connection is set up, and the rules that split a message
 * into fragments and put it back together. Pure functions on integers and byte buffers: no
 * verbs, no lib/ state, so the unit tests drive them directly (tests/unit/catmint/).
 *
 * Framing. One demi_push is one message; one demi_pop returns one message. A message that fits
 * in one of the peer's receive buffers (the hello's frag_bytes) goes as one SEND (kind MSG) and
 * is handed to the pop in the very buffer the device wrote: no copy. A larger message is split
 * into n fragments (2 <= n <= MINT_FRAGS_MAX): every fragment but the last carries exactly
 * frag_bytes, the first says n, each later one its index (mod 2^16) so that a lost or
 * reordered fragment is caught; the receiver copies the fragments into one pool buffer of
 * n * frag_bytes and the pop returns that (one copy). Larger messages than
 * MINT_FRAGS_MAX * frag_bytes are refused with EMSGSIZE at demi_push.
 *
 * Immediate data (network byte order on the wire, host order here):
 *   bits 31..30  kind: MSG, FIRST, MORE, CREDIT (no payload: only returns credits)
 *   bits 29..16  credits: receive buffers the sender reposted since it last said so
 *   bits 15..0   FIRST: fragment count; MORE: fragment index & 0xffff; MSG, CREDIT: 0
 *
 * The peer is not trusted: every decode and every reassembly step checks its input and says
 * -EPROTO, which ends the connection.
 */
#ifndef MINT_FRAME_H
#define MINT_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum mint_kind {
	MINT_KIND_MSG = 0,
	MINT_KIND_FIRST = 1,
	MINT_KIND_MORE = 2,
	MINT_KIND_CREDIT = 3,
};

#define MINT_CREDITS_MAX 16383u /* 14 bits */
#define MINT_FRAGS_MAX 65535u	/* 16 bits */
/* Smallest receive buffer a peer may announce: smaller would make fragments pointless. */
#define MINT_FRAG_MIN 64u
/* Smallest receive depth a peer may announce (see credit.h). */
#define MINT_DEPTH_MIN 4u

struct mint_imm {
	uint8_t kind;
	uint16_t credits;
	uint16_t aux; /* FIRST: fragment count; MORE: fragment index & 0xffff */
};

/* The immediate value in host order; credits and aux must be in range (asserted). */
uint32_t mint_imm_encode(enum mint_kind kind, uint32_t credits, uint32_t aux);
/* 0, or -EPROTO when the value breaks the rules above (e.g. FIRST with fewer than 2). */
int mint_imm_decode(uint32_t imm, struct mint_imm *out);

/*
 * The hello: each side's receive depth (the credits the other side starts with) and the bytes
 * one of its receive buffers holds (the most bytes one fragment may carry). 16 bytes:
 * magic "DMNT", version, flags (0), reserved (0), credits (be32), frag_bytes (be32).
 */
#define MINT_HELLO_BYTES 16u
#define MINT_HELLO_MAGIC 0x444d4e54u /* "DMNT" */
#define MINT_HELLO_VERSION 1u

struct mint_hello {
	uint32_t credits;
	uint32_t frag_bytes;
};

/* Writes the hello into p. Returns MINT_HELLO_BYTES, or -ENOSPC if len is too short. */
int mint_hello_emit(uint8_t *p, size_t len, const struct mint_hello *h);
/* Parses a hello; the private data of rdma_cm may be padded beyond it. 0 or -EPROTO. */
int mint_hello_parse(const uint8_t *p, size_t len, struct mint_hello *h);

/* Fragments of a message of len bytes (len >= 1) over receive buffers of frag_bytes; 0 when
 * the message is too large (EMSGSIZE). */
uint32_t mint_frag_count(uint64_t len, uint32_t frag_bytes);

/* Bytes of fragment `index` (0-based) of a message of len bytes split in frags of frag_bytes. */
static inline uint32_t mint_frag_len(uint64_t len, uint32_t frag_bytes, uint32_t index)
{
	uint64_t off = (uint64_t)index * frag_bytes;
	uint64_t left = len - off;

	return (uint32_t)(left < frag_bytes ? left : frag_bytes);
}

/* The receiving side of a fragmented message. */
struct mint_reasm {
	uint32_t nfrags; /* 0: no message being reassembled */
	uint32_t got;	 /* fragments received so far */
	uint64_t len;	 /* bytes received so far */
};

/* Bytes of the buffer a FIRST fragment asks the receiver to allocate. */
static inline uint64_t mint_reasm_bytes(const struct mint_reasm *r, uint32_t frag_bytes)
{
	return (uint64_t)r->nfrags * frag_bytes;
}

/*
 * Feeds one received data fragment (kind FIRST or MORE; MSG is not a fragment) of frag_len
 * bytes, where our receive buffers hold frag_bytes. Returns the byte offset at which the
 * fragment's payload goes in the reassembly buffer, or -EPROTO (a FIRST while a message is
 * open, a MORE with none open or with the wrong index, a non-final fragment that is not full,
 * an empty or oversized fragment). mint_reasm_done() then says whether the message is whole.
 */
int64_t mint_reasm_feed(struct mint_reasm *r, const struct mint_imm *imm, uint32_t frag_len,
			uint32_t frag_bytes);

static inline int mint_reasm_open(const struct mint_reasm *r)
{
	return r->nfrags != 0;
}

static inline int mint_reasm_done(const struct mint_reasm *r)
{
	return r->nfrags != 0 && r->got == r->nfrags;
}

/* Forgets the message (after it was delivered, or when the connection ends). */
static inline void mint_reasm_reset(struct mint_reasm *r)
{
	r->nfrags = r->got = 0;
	r->len = 0;
}

#endif
