/* SPDX-License-Identifier: MIT */
/*
 * TCP segment headers (RFC 9293 section 3.1) and the options this stack speaks: MSS
 * (RFC 9293 3.2), window scale and timestamps (RFC 7323), SACK-permitted and SACK blocks
 * (RFC 2018). Parsing validates every length before reading (an option whose length runs past
 * the header, a zero or one length for a multi-byte option, a known option of the wrong size
 * are errors: NIP_TCP_BAD_OPT); unknown options with a sane length are skipped.
 */
#ifndef NIP_WIRE_TCP_H
#define NIP_WIRE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIP_TCP_HLEN 20 /* header without options */
#define NIP_TCP_MAX_HLEN 60
#define NIP_TCP_MAX_SACK 4 /* blocks one header can carry (3 with timestamps) */

enum {
	NIP_TCP_FIN = 0x01,
	NIP_TCP_SYN = 0x02,
	NIP_TCP_RST = 0x04,
	NIP_TCP_PSH = 0x08,
	NIP_TCP_ACK = 0x10,
	NIP_TCP_URG = 0x20,
	NIP_TCP_ECE = 0x40,
	NIP_TCP_CWR = 0x80,
};

/* Option kinds (IANA). */
enum {
	NIP_TCPOPT_EOL = 0,
	NIP_TCPOPT_NOP = 1,
	NIP_TCPOPT_MSS = 2,
	NIP_TCPOPT_WSCALE = 3,
	NIP_TCPOPT_SACK_OK = 4,
	NIP_TCPOPT_SACK = 5,
	NIP_TCPOPT_TS = 8,
};

struct nip_tcp_sack_block {
	uint32_t start, end; /* [start, end) in sequence space, host order */
};

/* Options of one segment, host order. A field is meaningful only when its has_ flag is set. */
struct nip_tcp_opts {
	bool has_mss, has_wscale, sack_ok, has_ts;
	uint16_t mss;
	uint8_t wscale; /* as sent; the receiver clamps to 14 (RFC 7323 2.3) */
	uint8_t nsack;	/* SACK blocks present (0..NIP_TCP_MAX_SACK) */
	uint32_t tsval, tsecr;
	struct nip_tcp_sack_block sack[NIP_TCP_MAX_SACK];
};

/* A parsed segment, host order; payload points into the parsed bytes. */
struct nip_tcp_seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win; /* as on the wire, not yet scaled */
	uint16_t urg;
	uint8_t hlen; /* header bytes including options */
	struct nip_tcp_opts opt;
	const uint8_t *payload;
	size_t payload_len;
};

enum nip_tcp_err {
	NIP_TCP_OK = 0,
	NIP_TCP_SHORT,	 /* fewer than 20 bytes */
	NIP_TCP_BAD_OFF, /* data offset below 5 or past the segment */
	NIP_TCP_BAD_CSUM,
	NIP_TCP_BAD_OPT, /* malformed option list */
	NIP_TCP_NERR,
};

/*
 * Parses the segment of len bytes (the IP payload) from src to dst (network order), verifying
 * the checksum (pseudo-header, header and payload) unless check_csum is false.
 */
enum nip_tcp_err nip_tcp_parse(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst,
			       bool check_csum, struct nip_tcp_seg *out);

/* Bytes the options of o take on the wire, padded to a multiple of 4 (at most 40). Options
 * that do not fit are left out: SACK blocks are cut to what fits. */
size_t nip_tcp_opts_len(const struct nip_tcp_opts *o);

/*
 * Writes the header with its options at hdr (room for NIP_TCP_MAX_HLEN bytes) for
 * payload_len bytes of payload that follow the header in memory, and the checksum over
 * pseudo-header, header and payload (or, with csum_offload, the folded pseudo-header sum the
 * device expects, as nip_udp_emit). Fields of seg used: sport, dport, seq, ack, flags, win,
 * urg, opt. Returns the header length (20 + nip_tcp_opts_len(&seg->opt)).
 */
size_t nip_tcp_emit(uint8_t *hdr, const struct nip_tcp_seg *seg, uint32_t src, uint32_t dst,
		    size_t payload_len, bool csum_offload);

/* What stays the same in every segment of a connection, prebuilt once (nip_tcp_tmpl_init):
 * the ports as stored in the header, and the checksum's running sum of the pseudo-header's
 * addresses and protocol. */
struct nip_tcp_tmpl {
	uint32_t ports;
	uint32_t pseudo;
};

/* Fills t for segments from sport to dport (host order), src to dst (network order). */
void nip_tcp_tmpl_init(struct nip_tcp_tmpl *t, uint16_t sport, uint16_t dport, uint32_t src,
		       uint32_t dst);

/* The fields that change from segment to segment, host order. */
struct nip_tcp_hdr_vars {
	uint32_t seq, ack, tsval, tsecr;
	uint16_t win;
	uint8_t flags;
	bool has_ts; /* NOP NOP TS(tsval, tsecr), the only option */
};

/* The header length nip_tcp_emit_tmpl writes: 20, or 32 with NOP NOP TS. */
#define NIP_TCP_TS_ONLY_LEN 12
static inline size_t nip_tcp_tmpl_hlen(bool has_ts)
{
	return has_ts ? NIP_TCP_HLEN + NIP_TCP_TS_ONLY_LEN : NIP_TCP_HLEN;
}

/*
 * nip_tcp_emit for a segment whose only option is a timestamp, or none (nearly every segment
 * after the handshake), from the connection's template: the same bytes, written as words with
 * no option list to lay out. The payload_len bytes at payload (after the header, or elsewhere
 * when the frame chains them) are summed unless csum_offload.
 * Returns the header length (20, or 32 with a timestamp).
 */
size_t nip_tcp_emit_tmpl(uint8_t *hdr, const struct nip_tcp_tmpl *t,
			 const struct nip_tcp_hdr_vars *v, const uint8_t *payload,
			 size_t payload_len, bool csum_offload);

#endif
