/* SPDX-License-Identifier: MIT */
/* Credit accounting of a catmint connection. See credit.h. */
#include "credit.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "frame.h"

void mint_credit_init(struct mint_credit *c, uint32_t peer_depth, uint32_t own_depth)
{
	memset(c, 0, sizeof(*c));
	c->tx = c->tx_max = peer_depth;
	/* Half the depth keeps credit messages rare (depths are >= 4: threshold >= 2). */
	c->threshold = own_depth / 2 >= 2 ? own_depth / 2 : 2;
}

uint32_t mint_credit_send(struct mint_credit *c)
{
	uint32_t n = c->owed < MINT_CREDITS_MAX ? c->owed : MINT_CREDITS_MAX;

	assert(c->tx > 0);
	c->tx--;
	c->owed -= n;
	if (c->owed_ctl > c->owed)
		c->owed_ctl = c->owed;
	return n;
}

int mint_credit_grant(struct mint_credit *c, uint32_t n)
{
	if (n > c->tx_max - c->tx)
		return -EPROTO;
	c->tx += n;
	return 0;
}
