/* SPDX-License-Identifier: MIT */
/*
 * The sender's SACK scoreboard (RFC 6675 section 2 and 4): the ranges above snd_una the peer
 * reported holding (RFC 2018), merged and sorted, and the questions loss recovery asks of
 * them. A hole (a range not SACKed below the highest SACKed byte) counts as lost when more
 * than (DupThresh - 1) * SMSS bytes are SACKed above it (IsLost, DupThresh = 3).
 *
 * A delivered tail loss probe marks every hole below it lost at once (lost_below), as RACK's
 * time rule would (RFC 8985 6.2: sent more than a round trip before a delivered segment).
 *
 * Bounded: at most NIP_TCP_SCOREBOARD ranges; when full, the highest range is forgotten
 * (the peer repeats it; the lowest holes matter most to recovery).
 *
 * Call order (tcp_input.c, tcp_output.c, tcp_timer.c): update with each ACK's SACK blocks,
 * advance when snd_una moves, next_lost and lost_bytes while in recovery, clear on a timeout
 * (RFC 6675 5.1: the peer may have reneged).
 */
#include "tcp_priv.h"
#include "tcp_seq.h"

void nip_tcp_sb_clear(struct nip_tcp_scoreboard *sb)
{
	sb->n = 0;
	sb->sacked = 0;
	sb->lost_below_set = false;
}

static void recount(struct nip_tcp_scoreboard *sb)
{
	sb->sacked = 0;
	for (int i = 0; i < sb->n; i++)
		sb->sacked += sb->r[i].end - sb->r[i].start;
}

static void insert(struct nip_tcp_scoreboard *sb, uint32_t start, uint32_t end)
{
	int i = 0, j;

	/* First range that ends at or after start: it or later ones may merge. */
	while (i < sb->n && nip_seq_lt(sb->r[i].end, start))
		i++;
	j = i;
	while (j < sb->n && nip_seq_leq(sb->r[j].start, end)) {
		start = nip_seq_min(start, sb->r[j].start);
		end = nip_seq_max(end, sb->r[j].end);
		j++;
	}
	if (j > i) {
		/* Ranges i..j-1 merge into one. */
		sb->r[i].start = start;
		sb->r[i].end = end;
		for (int k = j; k < sb->n; k++)
			sb->r[i + 1 + k - j] = sb->r[k];
		sb->n = (uint8_t)(sb->n - (j - i - 1));
		return;
	}
	if (sb->n == NIP_TCP_SCOREBOARD) {
		if (i == sb->n)
			return; /* above everything held: forget it */
		sb->n--;	/* forget the highest */
	}
	for (int k = sb->n; k > i; k--)
		sb->r[k] = sb->r[k - 1];
	sb->r[i].start = start;
	sb->r[i].end = end;
	sb->n++;
}

void nip_tcp_sb_update(struct nip_tcp_scoreboard *sb, const struct nip_tcp_sack_block *blk, int n,
		       uint32_t snd_una, uint32_t snd_max)
{
	for (int i = 0; i < n; i++) {
		uint32_t start = blk[i].start, end = blk[i].end;

		/* Blocks must lie in (snd_una, snd_max]; D-SACKs (RFC 2883) and nonsense are
		 * ignored. */
		if (!nip_seq_lt(start, end) || nip_seq_gt(end, snd_max) ||
		    nip_seq_leq(end, snd_una) || end - start > (1u << 30))
			continue;
		if (nip_seq_lt(start, snd_una))
			start = snd_una;
		insert(sb, start, end);
	}
	recount(sb);
}

void nip_tcp_sb_advance(struct nip_tcp_scoreboard *sb, uint32_t snd_una)
{
	int i = 0, k = 0;

	while (i < sb->n && nip_seq_leq(sb->r[i].end, snd_una))
		i++;
	for (; i < sb->n; i++, k++) {
		sb->r[k] = sb->r[i];
		if (nip_seq_lt(sb->r[k].start, snd_una))
			sb->r[k].start = snd_una;
	}
	sb->n = (uint8_t)k;
	recount(sb);
	if (sb->lost_below_set && nip_seq_leq(sb->lost_below, snd_una))
		sb->lost_below_set = false;
}

bool nip_tcp_sb_sacked(const struct nip_tcp_scoreboard *sb, uint32_t seq)
{
	for (int i = 0; i < sb->n; i++)
		if (nip_seq_leq(sb->r[i].start, seq) && nip_seq_lt(seq, sb->r[i].end))
			return true;
	return false;
}

/* Whether the hole starting at hs is lost by the probe's rule. */
static bool below_probe(const struct nip_tcp_scoreboard *sb, uint32_t hs)
{
	return sb->lost_below_set && nip_seq_lt(hs, sb->lost_below);
}

/* Hole i is [i ? r[i-1].end : snd_una, r[i].start); above it lie r[i..n-1]. */
bool nip_tcp_sb_next_lost(const struct nip_tcp_scoreboard *sb, uint32_t snd_una, uint32_t from,
			  uint32_t mss, uint32_t *start, uint32_t *len)
{
	uint32_t above = sb->sacked;

	for (int i = 0; i < sb->n; i++) {
		uint32_t hs = i ? sb->r[i - 1].end : snd_una, he = sb->r[i].start;

		if (above <= 2 * mss && !below_probe(sb, hs))
			return false; /* less SACKed above every later hole too */
		if (nip_seq_lt(hs, he) && nip_seq_lt(from, he)) {
			hs = nip_seq_max(hs, from);
			*start = hs;
			*len = he - hs;
			return true;
		}
		above -= sb->r[i].end - sb->r[i].start;
	}
	return false;
}

uint32_t nip_tcp_sb_lost_bytes(const struct nip_tcp_scoreboard *sb, uint32_t snd_una, uint32_t from,
			       uint32_t mss)
{
	uint32_t above = sb->sacked, lost = 0;

	for (int i = 0; i < sb->n; i++) {
		uint32_t hs = i ? sb->r[i - 1].end : snd_una, he = sb->r[i].start;

		if (above <= 2 * mss && !below_probe(sb, hs))
			break;
		hs = nip_seq_max(hs, from);
		if (nip_seq_lt(hs, he))
			lost += he - hs;
		above -= sb->r[i].end - sb->r[i].start;
	}
	return lost;
}
