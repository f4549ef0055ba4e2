/* SPDX-License-Identifier: MIT */
/*
 * The sender's SACK scoreboard (RFC 6675 section 2 and 4): the ranges above snd_una the peer
 * reported holding (RFC 2018), merged and sorted. Bounded: at most NIP_TCP_SCOREBOARD ranges;
 * when full, the highest range is forgotten (the peer repeats it; the lowest holes matter
 * most). Its SACKed bytes count in the pipe (tcp_output.c); which segments are lost is RACK's
 * decision (tcp_rack.c), which reads the scoreboard.
 *
 * Call order: for each ACK with SACK blocks, tcp_input.c calls nip_tcp_sb_update, then, once
 * snd_una moved, nip_tcp_sb_advance; a retransmission timeout clears it (nip_tcp_sb_clear,
 * RFC 6675 5.1: the peer may have reneged).
 */
#include "stack.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

void nip_tcp_sb_clear(struct nip_tcp_scoreboard *sb)
{
	sb->n = 0;
	sb->sacked = 0;
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
}
