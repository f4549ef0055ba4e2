/* SPDX-License-Identifier: MIT */
/* Queue descriptor table: small non-negative ints naming queues, reused oldest first. */
#include <errno.h>
#include <stdlib.h>

#include "libos.h"

#define MAX_QDS (1 << 20)

static int grow(struct demi__libos *los)
{
	int old = los->nqds, n = old ? old * 2 : 256;
	struct demi__queue **qds;
	int *ring;

	if (n > MAX_QDS)
		return -EMFILE;
	qds = realloc(los->qds, (size_t)n * sizeof(*qds));
	if (!qds)
		return -ENOMEM;
	los->qds = qds;
	ring = malloc((size_t)n * sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	/* Unroll the old ring into the new one, then add the new qds at its tail. */
	for (int i = 0; i < los->qd_free_count; i++)
		ring[i] = los->qd_free_ring[(los->qd_free_head + i) % old];
	for (int qd = old; qd < n; qd++) {
		qds[qd] = NULL;
		ring[los->qd_free_count++] = qd;
	}
	free(los->qd_free_ring);
	los->qd_free_ring = ring;
	los->qd_free_head = 0;
	los->nqds = n;
	return 0;
}

int demi__qd_alloc(struct demi__libos *los, struct demi__queue *q)
{
	int qd;

	if (los->qd_free_count == 0) {
		int rc = grow(los);
		if (rc < 0)
			return rc;
	}
	qd = los->qd_free_ring[los->qd_free_head];
	los->qd_free_head = (los->qd_free_head + 1) % los->nqds;
	los->qd_free_count--;
	los->qds[qd] = q;
	q->qd = qd;
	q->los = los;
	los->queues_open++;
	return 0;
}

void demi__qd_free(struct demi__libos *los, struct demi__queue *q)
{
	int qd = q->qd;

	if (qd < 0 || qd >= los->nqds || los->qds[qd] != q)
		return;
	los->qds[qd] = NULL;
	los->qd_free_ring[(los->qd_free_head + los->qd_free_count) % los->nqds] = qd;
	los->qd_free_count++;
	los->queues_open--;
	q->qd = -1;
}

struct demi__queue *demi__qd_get(struct demi__libos *los, int qd)
{
	return qd >= 0 && qd < los->nqds ? los->qds[qd] : NULL;
}
