/* SPDX-License-Identifier: MIT */
/*
 * Credit-based flow control of one catmint connection: a SEND is only posted when the peer
 * has a receive buffer posted for it, so the peer's device never answers "receiver not ready"
 * (RNR) and no message waits in retransmission.
 *
 * Each side starts with as many credits as the other posted receives (the hello's credits).
 * Every SEND, data or credit-only, uses one. The receiver "owes" a credit each time it reposts
 * a receive buffer: at once for a buffer whose contents it copied (fragments, credit
 * messages), only when the application pops the message for a buffer it hands over. So the
 * messages received and not popped never exceed the receive depth: a slow receiver stops the
 * sender (its pushes stay pending) instead of filling memory. Owed credits ride back in the
 * immediate data of every data SEND; when there is no data to carry them and half the receive
 * depth is owed (or the peer is about to run dry), a CREDIT message (no payload) carries them.
 *
 * Deadlock freedom: data never uses the last credit; it is kept for a credit message. A side
 * stuck with one credit left knows of at most one receive of the other side; once its
 * messages in flight have arrived, the other side sees the same (posted < owed + 2): if it
 * owes any credit for data it sends a credit message, for which it always has its reserved
 * credit; if not, its receives are held by messages the application has not popped (the
 * back-pressure this is for), or by at most threshold - 1 credits of credit messages.
 * Receive depths are at least 4, so that threshold >= 2.
 *
 * Pure bookkeeping, unit-tested in tests/unit/catmint/test_credit.c.
 */
#ifndef MINT_CREDIT_H
#define MINT_CREDIT_H

#include <stdbool.h>
#include <stdint.h>

struct mint_credit {
	uint32_t tx;	 /* SENDs we may still post: receives the peer posted and we did not use */
	uint32_t tx_max; /* the peer's receive depth: tx never exceeds it */
	uint32_t owed;	 /* receives we reposted and did not announce yet */
	uint32_t owed_ctl;  /* of those, receives of credit-only messages */
	uint32_t threshold; /* owed from which a credit-only message is worth sending */
	uint64_t updates;   /* credit-only messages sent (statistics) */
	uint64_t stalls;    /* times data waited for credits (statistics) */
};

/* peer_depth: the peer's receive depth (its hello); own_depth: ours. */
void mint_credit_init(struct mint_credit *c, uint32_t peer_depth, uint32_t own_depth);

/* A data SEND may be posted (one credit is always kept back for credit messages). */
static inline bool mint_credit_data_ok(const struct mint_credit *c)
{
	return c->tx > 1;
}

/*
 * A credit-only message is due and can be posted. Credits owed for data (messages popped,
 * fragments copied) are sent once half the receive depth is owed, or at once when the peer
 * may be blocked: it knows of fewer than two of the `posted` receives we have posted, so it
 * cannot send data (this matters when messages wait unpopped: they hold receives, and the few
 * credits owed would never reach the threshold). Credits owed only for credit messages wait
 * for the threshold: returning each at once would have two idle peers trade credit messages
 * forever; with the threshold, each side answers at most one in `threshold` (>= 2) of them.
 */
static inline bool mint_credit_update_due(const struct mint_credit *c, uint32_t posted)
{
	if (c->tx < 1 || c->owed == 0)
		return false;
	if (c->owed == c->owed_ctl)
		return c->owed >= c->threshold;
	return c->owed >= c->threshold || posted < c->owed + 2;
}

/* Uses one credit for a SEND about to be posted and returns the credits it carries back
 * (all owed credits, up to what the immediate data holds). */
uint32_t mint_credit_send(struct mint_credit *c);

/* The peer returned n credits. 0, or -EPROTO if that would exceed its receive depth. */
int mint_credit_grant(struct mint_credit *c, uint32_t n);

/* We reposted n receive buffers: n more credits to return. */
static inline void mint_credit_owe(struct mint_credit *c, uint32_t n)
{
	c->owed += n;
}

/* We reposted the receive buffer of a credit-only message. */
static inline void mint_credit_owe_ctl(struct mint_credit *c)
{
	c->owed++;
	c->owed_ctl++;
}

#endif
