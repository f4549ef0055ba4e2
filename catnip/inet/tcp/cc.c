/* SPDX-License-Identifier: MIT */
/* The congestion control algorithms by name, and the parts they share (cc.h). */
#include "cc.h"

#include <stddef.h>
#include <string.h>

#include "tcp_seq.h"

static const struct nip_tcp_cc_ops *const algorithms[] = {
	&nip_cc_newreno,
	&nip_cc_cubic,
};

const struct nip_tcp_cc_ops *nip_tcp_cc_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
		if (strcmp(algorithms[i]->name, name) == 0)
			return algorithms[i];
	return NULL;
}

uint32_t nip_tcp_cc_slow_start(struct nip_tcp_cc *cc, uint32_t acked)
{
	uint32_t inc, room;

	if (cc->cwnd >= cc->ssthresh)
		return acked;
	inc = nip_min32(acked, (uint64_t)2 * cc->mss);
	room = nip_min32(cc->ssthresh, NIP_CC_CWND_MAX) - cc->cwnd;
	if (inc < room || cc->ssthresh >= NIP_CC_CWND_MAX) {
		cc->cwnd = nip_min32((uint64_t)cc->cwnd + inc, NIP_CC_CWND_MAX);
		return 0;
	}
	/* Reaching ssthresh: the rest of this ACK is congestion avoidance's. */
	cc->cwnd += room;
	return acked - room;
}

void nip_tcp_cc_exit_recovery(struct nip_tcp_cc *cc, uint64_t now)
{
	(void)now;
	cc->cwnd = cc->ssthresh;
	cc->bytes_acked = 0;
}
