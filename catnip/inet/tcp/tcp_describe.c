/* SPDX-License-Identifier: MIT */
/*
 * One line of text with a connection's control block, for the log when something went
 * wrong with it (an abort, a reset, a stall): without it, a connection that stopped making
 * progress among a hundred others leaves nothing to reason from. The stack does no I/O, so
 * it only formats; catnip decides when to log.
 */
#include <inttypes.h>
#include <stdio.h>

#include "tcp_priv.h"

/* Milliseconds from now until a deadline, -1 when the timer is not armed. */
static long long ms_until(uint64_t deadline, uint64_t now)
{
	if (!deadline)
		return -1;
	return deadline > now ? (long long)((deadline - now) / 1000000) : 0;
}

int nip_tcp_describe(const struct nip_tcp_conn *c, uint64_t now, char *buf, size_t len)
{
	const uint8_t *ip = (const uint8_t *)&c->remote_ip; /* network order */

	return snprintf(
		buf, len,
		"%u.%u.%u.%u:%u<-%u %s err %d | snd una+%u nxt+%u max+%u wnd %u queued %u%s | cwnd %u "
		"ssthresh %u recovery %d dupacks %u sacked %u/%u | srtt %" PRIu64 "us rto %" PRIu64
		"us retries %u | timers ms rto %lld persist %lld delack %lld pto %lld | rcv nxt+%u "
		"adv+%u queued %u ooo %u/%u%s",
		ip[0], ip[1], ip[2], ip[3], c->remote_port, c->local_port,
		nip_tcp_state_name(c->state), c->err, c->snd_una - c->iss, c->snd_nxt - c->iss,
		c->snd_max - c->iss, c->snd_wnd, c->sq_bytes,
		c->fin_queued ? (c->fin_sent ? " fin-sent" : " fin-queued") : "", c->cc.cwnd,
		c->cc.ssthresh, c->in_recovery, c->dupacks, c->sb.sacked, (unsigned)c->sb.n,
		c->srtt / 1000, c->rto / 1000, c->retries, ms_until(c->timer[NIP_TCPT_RTO], now),
		ms_until(c->timer[NIP_TCPT_PERSIST], now), ms_until(c->timer[NIP_TCPT_DELACK], now),
		ms_until(c->timer[NIP_TCPT_PTO], now), c->rcv_nxt - c->irs, c->rcv_adv - c->irs,
		c->rq_bytes, c->reass.bytes, c->reass.nsegs, c->fin_rcvd ? " fin-rcvd" : "");
}
