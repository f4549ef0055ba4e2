/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/inet/wire/tcp.c, TCP headers (RFC 9293 section 3.1) and options (MSS,
 * RFC 7323 window scale and timestamps, RFC 2018 SACK): two segments written by hand (a SYN
 * with the usual options, a data segment with timestamps and a SACK block), emit/parse round
 * trips over random headers and option sets, the option layout and its 40-byte limit, every
 * truncation, every malformed option case, the checksum over the pseudo-header (wrong bits,
 * wrong addresses, a computed zero) and the offload convention; the one-compare reading of
 * the timestamps-only layout against the option loop; the per-connection template writer
 * against the general one.
 */
#include <string.h>

#include "wire_test.h"

#include "inet/wire/tcp.h"

/* 192.168.1.100:40000 -> 192.168.1.1:80, SYN seq 0x12345678 win 64240, options
 * MSS 1460, SACK_OK, TS 0x01020304/0, NOP, WS 7 (as Linux sends them). */
static const uint8_t syn[40] = {
	0x9c, 0x40,			    /* source port 40000 */
	0x00, 0x50,			    /* destination port 80 */
	0x12, 0x34, 0x56, 0x78,		    /* sequence number */
	0x00, 0x00, 0x00, 0x00,		    /* acknowledgment number */
	0xa0, 0x02,			    /* data offset 10 (40 bytes), SYN */
	0xfa, 0xf0,			    /* window 64240 */
	0xc0, 0x16,			    /* checksum */
	0x00, 0x00,			    /* urgent pointer */
	0x02, 0x04, 0x05, 0xb4,		    /* MSS 1460 */
	0x04, 0x02,			    /* SACK permitted */
	0x08, 0x0a, 0x01, 0x02, 0x03, 0x04, /* TS, TSval */
	0x00, 0x00, 0x00, 0x00,		    /* TSecr */
	0x01,				    /* NOP */
	0x03, 0x03, 0x07,		    /* window scale 7 */
};

/* 192.168.1.1:80 -> 192.168.1.100:40000, PSH|ACK seq 0x9abcde00 ack 0x12345679 win 502,
 * NOP NOP TS 0x1000/0x01020304, NOP NOP SACK [0x9abcdef0, 0x9abcdf00), "hello, demikernel".
 * (Its checksum is over the pseudo-header 192.168.1.100 -> 192.168.1.1, the addresses used
 * everywhere below.) */
static const uint8_t data_seg[61] = {
	0x00, 0x50, 0x9c, 0x40,				/* ports */
	0x9a, 0xbc, 0xde, 0x00,				/* sequence number */
	0x12, 0x34, 0x56, 0x79,				/* acknowledgment number */
	0xb0, 0x18,					/* data offset 11 (44 bytes), PSH|ACK */
	0x01, 0xf6,					/* window 502 */
	0xc2, 0x61,					/* checksum */
	0x00, 0x00,					/* urgent pointer */
	0x01, 0x01, 0x08, 0x0a,				/* NOP NOP TS */
	0x00, 0x00, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04, /* TSval TSecr */
	0x01, 0x01, 0x05, 0x0a,				/* NOP NOP SACK */
	0x9a, 0xbc, 0xde, 0xf0, 0x9a, 0xbc, 0xdf, 0x00, /* one block */
	'h',  'e',  'l',  'l',	'o',  ',',  ' ',  'd',	'e', 'm', 'i', 'k', 'e', 'r', 'n', 'e', 'l',
};
#define DATA_HLEN 44
#define SRC ip4_addr(192, 168, 1, 100)
#define DST ip4_addr(192, 168, 1, 1)

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The reference checksum: pseudo-header (RFC 9293 3.1) then the segment with a zero
 * checksum field. */
static uint16_t ref_tcp_csum(uint32_t src, uint32_t dst, const uint8_t *s, size_t len)
{
	static uint8_t buf[12 + 4096];

	assert_true(len <= 4096);
	memcpy(buf, &src, 4);
	memcpy(buf + 4, &dst, 4);
	buf[8] = 0;
	buf[9] = 6;
	put_be16(buf + 10, (uint16_t)len);
	memcpy(buf + 12, s, len);
	put_be16(buf + 12 + 16, 0);
	return ref_csum(buf, 12 + len);
}

/* Writes the right checksum into a segment edited by hand. */
static void fix_csum(uint8_t *s, size_t len)
{
	put_be16(s + 16, ref_tcp_csum(SRC, DST, s, len));
}

static void test_tcp_known_segments_checksum(void **state)
{
	(void)state;
	assert_int_equal(ref_tcp_csum(SRC, DST, syn, sizeof(syn)), 0xc016);
	assert_int_equal(ref_tcp_csum(SRC, DST, data_seg, sizeof(data_seg)), 0xc261);
}

static void test_tcp_parse_known_syn(void **state)
{
	uint8_t *s = exact_copy(syn, sizeof(syn));
	struct nip_tcp_seg t;

	(void)state;
	assert_int_equal(nip_tcp_parse(s, sizeof(syn), SRC, DST, true, &t), NIP_TCP_OK);
	assert_int_equal(t.sport, 40000);
	assert_int_equal(t.dport, 80);
	assert_int_equal(t.seq, 0x12345678);
	assert_int_equal(t.ack, 0);
	assert_int_equal(t.flags, NIP_TCP_SYN);
	assert_int_equal(t.win, 64240);
	assert_int_equal(t.urg, 0);
	assert_int_equal(t.hlen, 40);
	assert_true(t.opt.has_mss);
	assert_int_equal(t.opt.mss, 1460);
	assert_true(t.opt.sack_ok);
	assert_true(t.opt.has_ts);
	assert_int_equal(t.opt.tsval, 0x01020304);
	assert_int_equal(t.opt.tsecr, 0);
	assert_true(t.opt.has_wscale);
	assert_int_equal(t.opt.wscale, 7);
	assert_int_equal(t.opt.nsack, 0);
	assert_ptr_equal(t.payload, s + 40);
	assert_int_equal(t.payload_len, 0);
	/* The pseudo-header counts: other addresses, other sum. */
	assert_int_equal(nip_tcp_parse(s, sizeof(syn), DST, SRC + 1, true, &t), NIP_TCP_BAD_CSUM);
	assert_int_equal(nip_tcp_parse(s, sizeof(syn), DST, SRC + 1, false, &t), NIP_TCP_OK);
	free(s);
}

static void test_tcp_parse_known_data(void **state)
{
	uint8_t *s = exact_copy(data_seg, sizeof(data_seg));
	struct nip_tcp_seg t;

	(void)state;
	assert_int_equal(nip_tcp_parse(s, sizeof(data_seg), SRC, DST, true, &t), NIP_TCP_OK);
	assert_int_equal(t.sport, 80);
	assert_int_equal(t.dport, 40000);
	assert_int_equal(t.seq, 0x9abcde00);
	assert_int_equal(t.ack, 0x12345679);
	assert_int_equal(t.flags, NIP_TCP_PSH | NIP_TCP_ACK);
	assert_int_equal(t.win, 502);
	assert_int_equal(t.hlen, DATA_HLEN);
	assert_false(t.opt.has_mss);
	assert_false(t.opt.sack_ok);
	assert_false(t.opt.has_wscale);
	assert_true(t.opt.has_ts);
	assert_int_equal(t.opt.tsval, 0x1000);
	assert_int_equal(t.opt.tsecr, 0x01020304);
	assert_int_equal(t.opt.nsack, 1);
	assert_int_equal(t.opt.sack[0].start, 0x9abcdef0);
	assert_int_equal(t.opt.sack[0].end, 0x9abcdf00);
	assert_ptr_equal(t.payload, s + DATA_HLEN);
	assert_int_equal(t.payload_len, 17);
	assert_memory_equal(t.payload, "hello, demikernel", 17);
	free(s);
}

static void test_tcp_emit_writes_known_segments(void **state)
{
	struct nip_tcp_seg t = {
		.sport = 40000, .dport = 80, .seq = 0x12345678, .flags = NIP_TCP_SYN, .win = 64240};
	uint8_t buf[sizeof(data_seg) + 1];

	(void)state;
	t.opt.has_mss = true;
	t.opt.mss = 1460;
	t.opt.sack_ok = true;
	t.opt.has_ts = true;
	t.opt.tsval = 0x01020304;
	t.opt.has_wscale = true;
	t.opt.wscale = 7;
	assert_int_equal(nip_tcp_opts_len(&t.opt), 20);
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(nip_tcp_emit(buf, &t, SRC, DST, 0, false), sizeof(syn));
	assert_memory_equal(buf, syn, sizeof(syn));
	assert_int_equal(buf[sizeof(syn)], 0xa5);

	memset(&t, 0, sizeof(t));
	t.sport = 80;
	t.dport = 40000;
	t.seq = 0x9abcde00;
	t.ack = 0x12345679;
	t.flags = NIP_TCP_PSH | NIP_TCP_ACK;
	t.win = 502;
	t.opt.has_ts = true;
	t.opt.tsval = 0x1000;
	t.opt.tsecr = 0x01020304;
	t.opt.nsack = 1;
	t.opt.sack[0].start = 0x9abcdef0;
	t.opt.sack[0].end = 0x9abcdf00;
	memset(buf, 0xa5, sizeof(buf));
	memcpy(buf + DATA_HLEN, data_seg + DATA_HLEN, sizeof(data_seg) - DATA_HLEN);
	assert_int_equal(nip_tcp_emit(buf, &t, SRC, DST, 17, false), DATA_HLEN);
	assert_memory_equal(buf, data_seg, sizeof(data_seg));
	assert_int_equal(buf[sizeof(data_seg)], 0xa5);
}

/* Option lengths: the aligned layout and the 40-byte limit, SACK blocks cut to fit. */
static void test_tcp_opts_len_layout(void **state)
{
	static const struct {
		bool mss, ws, sack_ok, ts;
		uint8_t nsack;
		size_t len;
		uint8_t fit; /* SACK blocks written */
	} cases[] = {
		{false, false, false, false, 0, 0, 0},
		{true, false, false, false, 0, 4, 0},
		{false, true, false, false, 0, 4, 0},
		{false, false, true, false, 0, 4, 0},
		{false, false, false, true, 0, 12, 0},
		{false, false, true, true, 0, 12, 0},
		{true, true, true, true, 0, 20, 0},
		{false, false, false, false, 1, 12, 1},
		{false, false, false, false, 4, 36, 4},
		{false, false, false, true, 1, 24, 1},
		{false, false, false, true, 3, 40, 3},
		{false, false, false, true, 4, 40, 3},
		{true, true, true, true, 4, 40, 2},
		{true, true, false, false, 4, 36, 3},
		{true, false, true, true, 4, 36, 2},
		{false, false, false, false, 255, 36, 4}, /* nsack past the array: 4 at most */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nip_tcp_seg t = {0}, p;
		uint8_t buf[NIP_TCP_MAX_HLEN];
		size_t hlen;

		t.opt.has_mss = cases[i].mss;
		t.opt.mss = 1000;
		t.opt.has_wscale = cases[i].ws;
		t.opt.wscale = 14;
		t.opt.sack_ok = cases[i].sack_ok;
		t.opt.has_ts = cases[i].ts;
		t.opt.tsval = 1;
		t.opt.tsecr = 2;
		t.opt.nsack = cases[i].nsack;
		for (int k = 0; k < NIP_TCP_MAX_SACK; k++) {
			t.opt.sack[k].start = 100u * (uint32_t)k;
			t.opt.sack[k].end = 100u * (uint32_t)k + 50;
		}
		assert_int_equal(nip_tcp_opts_len(&t.opt), cases[i].len);
		hlen = nip_tcp_emit(buf, &t, SRC, DST, 0, false);
		assert_int_equal(hlen, NIP_TCP_HLEN + cases[i].len);
		assert_int_equal(buf[12] >> 4, hlen / 4);
		assert_int_equal(nip_tcp_parse(buf, hlen, SRC, DST, true, &p), NIP_TCP_OK);
		assert_int_equal(p.opt.has_mss, cases[i].mss);
		assert_int_equal(p.opt.has_wscale, cases[i].ws);
		assert_int_equal(p.opt.sack_ok, cases[i].sack_ok);
		assert_int_equal(p.opt.has_ts, cases[i].ts);
		assert_int_equal(p.opt.nsack, cases[i].fit);
		for (int k = 0; k < cases[i].fit; k++) {
			assert_int_equal(p.opt.sack[k].start, 100u * (uint32_t)k);
			assert_int_equal(p.opt.sack[k].end, 100u * (uint32_t)k + 50);
		}
		/* No EOL: the options fill the header to its end. */
		if (hlen > NIP_TCP_HLEN)
			assert_int_not_equal(buf[NIP_TCP_HLEN], NIP_TCPOPT_EOL);
	}
}

/* Random ports, sequence numbers, flags and window. */
static void random_fields(struct unit_rng *r, struct nip_tcp_seg *t)
{
	t->sport = (uint16_t)unit_rng_next(r);
	t->dport = (uint16_t)unit_rng_next(r);
	t->seq = (uint32_t)unit_rng_next(r);
	t->ack = (uint32_t)unit_rng_next(r);
	t->flags = (uint8_t)unit_rng_next(r);
	t->win = (uint16_t)unit_rng_next(r);
}

/* Random headers, option sets and payloads of every length 0..300. */
static void test_tcp_emit_parse_round_trip(void **state)
{
	struct unit_rng r;
	static uint8_t buf[NIP_TCP_MAX_HLEN + 300];

	(void)state;
	unit_rng_seed(&r, 9293);
	for (size_t plen = 0; plen <= 300; plen++) {
		uint32_t src = (uint32_t)unit_rng_next(&r), dst = (uint32_t)unit_rng_next(&r);
		struct nip_tcp_seg t = {0}, p;
		size_t hlen, len, fit;
		uint16_t want;
		uint8_t *d;

		random_fields(&r, &t);
		t.urg = (uint16_t)unit_rng_next(&r);
		t.opt.has_mss = unit_rng_below(&r, 2);
		t.opt.mss = (uint16_t)unit_rng_next(&r);
		t.opt.has_wscale = unit_rng_below(&r, 2);
		t.opt.wscale = (uint8_t)unit_rng_next(&r);
		t.opt.sack_ok = unit_rng_below(&r, 2);
		t.opt.has_ts = unit_rng_below(&r, 2);
		t.opt.tsval = (uint32_t)unit_rng_next(&r);
		t.opt.tsecr = (uint32_t)unit_rng_next(&r);
		t.opt.nsack = (uint8_t)unit_rng_below(&r, NIP_TCP_MAX_SACK + 1);
		for (int k = 0; k < NIP_TCP_MAX_SACK; k++) {
			t.opt.sack[k].start = (uint32_t)unit_rng_next(&r);
			t.opt.sack[k].end = (uint32_t)unit_rng_next(&r);
		}
		hlen = NIP_TCP_HLEN + nip_tcp_opts_len(&t.opt);
		assert_true(hlen <= NIP_TCP_MAX_HLEN && hlen % 4 == 0);
		fill_random(&r, buf + hlen, plen);
		assert_int_equal(nip_tcp_emit(buf, &t, src, dst, plen, false), hlen);
		len = hlen + plen;
		want = ref_tcp_csum(src, dst, buf, len);
		assert_int_equal(get_be16(buf + 16), want);
		d = exact_copy(buf, len);
		assert_int_equal(nip_tcp_parse(d, len, src, dst, true, &p), NIP_TCP_OK);
		assert_int_equal(p.sport, t.sport);
		assert_int_equal(p.dport, t.dport);
		assert_int_equal(p.seq, t.seq);
		assert_int_equal(p.ack, t.ack);
		assert_int_equal(p.flags, t.flags);
		assert_int_equal(p.win, t.win);
		assert_int_equal(p.urg, t.urg);
		assert_int_equal(p.hlen, hlen);
		assert_ptr_equal(p.payload, d + hlen);
		assert_int_equal(p.payload_len, plen);
		assert_int_equal(p.opt.has_mss, t.opt.has_mss);
		if (t.opt.has_mss)
			assert_int_equal(p.opt.mss, t.opt.mss);
		assert_int_equal(p.opt.has_wscale, t.opt.has_wscale);
		if (t.opt.has_wscale)
			assert_int_equal(p.opt.wscale, t.opt.wscale);
		assert_int_equal(p.opt.sack_ok, t.opt.sack_ok);
		assert_int_equal(p.opt.has_ts, t.opt.has_ts);
		if (t.opt.has_ts) {
			assert_int_equal(p.opt.tsval, t.opt.tsval);
			assert_int_equal(p.opt.tsecr, t.opt.tsecr);
		}
		fit = p.opt.nsack;
		assert_true(fit <= t.opt.nsack);
		if (fit < t.opt.nsack)
			assert_true(hlen + 8 > NIP_TCP_MAX_HLEN); /* cut only when full */
		for (size_t k = 0; k < fit; k++) {
			assert_int_equal(p.opt.sack[k].start, t.opt.sack[k].start);
			assert_int_equal(p.opt.sack[k].end, t.opt.sack[k].end);
		}
		free(d);
	}
}

/*
 * The template writer gives the bytes nip_tcp_emit gives for the same segment (random ports,
 * addresses, fields, payloads of 0..300 bytes, with and without timestamps and offload), and
 * sums a payload that lies elsewhere (a chained frame) as if it followed the header.
 */
static void test_tcp_emit_tmpl_matches_emit(void **state)
{
	struct unit_rng r;
	static uint8_t want[NIP_TCP_MAX_HLEN + 300], got[NIP_TCP_MAX_HLEN + 300];
	static uint8_t apart[300];

	(void)state;
	unit_rng_seed(&r, 7323);
	for (size_t i = 0; i < 4 * 301; i++) {
		size_t plen = i / 4;
		bool ts = i & 1, offload = i & 2;
		uint32_t src = (uint32_t)unit_rng_next(&r), dst = (uint32_t)unit_rng_next(&r);
		struct nip_tcp_seg t = {0};
		struct nip_tcp_tmpl tm;
		struct nip_tcp_hdr_vars v;
		size_t hlen;

		random_fields(&r, &t);
		t.opt.has_ts = ts;
		t.opt.tsval = (uint32_t)unit_rng_next(&r);
		t.opt.tsecr = (uint32_t)unit_rng_next(&r);
		v = (struct nip_tcp_hdr_vars){
			.seq = t.seq,
			.ack = t.ack,
			.tsval = t.opt.tsval,
			.tsecr = t.opt.tsecr,
			.win = t.win,
			.flags = t.flags,
			.has_ts = ts,
		};
		hlen = NIP_TCP_HLEN + (ts ? 12 : 0);
		fill_random(&r, want + hlen, plen);
		memcpy(got + hlen, want + hlen, plen);
		memcpy(apart, want + hlen, plen);
		memset(got, 0xa5, hlen); /* every header byte must be written */
		assert_int_equal(nip_tcp_emit(want, &t, src, dst, plen, offload), hlen);
		nip_tcp_tmpl_init(&tm, t.sport, t.dport, src, dst);
		assert_int_equal(nip_tcp_emit_tmpl(got, &tm, &v, got + hlen, plen, offload), hlen);
		assert_memory_equal(got, want, hlen + plen);
		memset(got, 0x5a, hlen);
		assert_int_equal(nip_tcp_emit_tmpl(got, &tm, &v, apart, plen, offload), hlen);
		assert_memory_equal(got, want, hlen);
	}
}

/* Every truncation: below 20 bytes SHORT, below the header length BAD_OFF, into the payload
 * a checksum failure (and a shorter payload when not checked). */
static void test_tcp_parse_refuses_every_truncation(void **state)
{
	static const struct {
		const uint8_t *p;
		size_t len, hlen;
	} segs[] = {{syn, sizeof(syn), 40}, {data_seg, sizeof(data_seg), DATA_HLEN}};

	(void)state;
	for (size_t s = 0; s < 2; s++) {
		for (size_t n = 0; n < segs[s].len; n++) {
			uint8_t *d = exact_copy(segs[s].p, n);
			struct nip_tcp_seg t;
			enum nip_tcp_err want = n < NIP_TCP_HLEN   ? NIP_TCP_SHORT
						: n < segs[s].hlen ? NIP_TCP_BAD_OFF
								   : NIP_TCP_BAD_CSUM;

			assert_int_equal(nip_tcp_parse(d, n, SRC, DST, true, &t), want);
			if (want == NIP_TCP_BAD_CSUM) {
				assert_int_equal(nip_tcp_parse(d, n, SRC, DST, false, &t),
						 NIP_TCP_OK);
				assert_int_equal(t.payload_len, n - segs[s].hlen);
			} else {
				assert_int_equal(nip_tcp_parse(d, n, SRC, DST, false, &t), want);
			}
			free(d);
		}
	}
}

/* Data offset below 5 words or past the segment. */
static void test_tcp_parse_refuses_bad_offset(void **state)
{
	uint8_t d[sizeof(syn)];
	struct nip_tcp_seg t;

	(void)state;
	for (int off = 0; off < 16; off++) {
		enum nip_tcp_err rc;

		memcpy(d, syn, sizeof(d));
		d[12] = (uint8_t)(off << 4);
		fix_csum(d, sizeof(d));
		rc = nip_tcp_parse(d, sizeof(d), SRC, DST, true, &t);
		if (off < 5 || off > 10) {
			assert_int_equal(rc, NIP_TCP_BAD_OFF);
			assert_int_equal(nip_tcp_parse(d, sizeof(d), SRC, DST, false, &t),
					 NIP_TCP_BAD_OFF);
		} else {
			/* Shorter headers cut the options somewhere: valid or BAD_OPT, and a
			 * valid one has the rest as payload. */
			assert_true(rc == NIP_TCP_OK || rc == NIP_TCP_BAD_OPT);
			if (rc == NIP_TCP_OK) {
				assert_int_equal(t.hlen, off * 4);
				assert_int_equal(t.payload_len, sizeof(d) - (size_t)off * 4);
			}
		}
	}
	/* Offsets 5..9 of the SYN: 20, no options; 24, MSS; 28 and 32 cut the timestamps
	 * (BAD_OPT); 36 holds them and leaves NOP + window scale as payload. */
	{
		static const enum nip_tcp_err want[] = {NIP_TCP_OK, NIP_TCP_OK, NIP_TCP_BAD_OPT,
							NIP_TCP_BAD_OPT, NIP_TCP_OK};

		for (int off = 5; off < 10; off++) {
			memcpy(d, syn, sizeof(d));
			d[12] = (uint8_t)(off << 4);
			fix_csum(d, sizeof(d));
			assert_int_equal(nip_tcp_parse(d, sizeof(d), SRC, DST, true, &t),
					 want[off - 5]);
		}
	}
}

/* Any flipped bit fails the checksum (or, in the data offset, the offset check); unchecked,
 * flips outside the data offset and options parse. */
static void test_tcp_parse_refuses_wrong_checksum(void **state)
{
	(void)state;
	for (size_t bit = 0; bit < sizeof(data_seg) * 8; bit++) {
		size_t byte = bit / 8;
		uint8_t d[sizeof(data_seg)];
		struct nip_tcp_seg t;
		enum nip_tcp_err rc;

		memcpy(d, data_seg, sizeof(d));
		d[byte] ^= (uint8_t)(1u << (bit % 8));
		rc = nip_tcp_parse(d, sizeof(d), SRC, DST, true, &t);
		if (byte == 12 && bit % 8 >= 4) {
			assert_int_not_equal(rc, NIP_TCP_OK);
			continue;
		}
		assert_int_equal(rc, NIP_TCP_BAD_CSUM);
		if (byte < NIP_TCP_HLEN || byte >= DATA_HLEN)
			assert_int_equal(nip_tcp_parse(d, sizeof(d), SRC, DST, false, &t),
					 NIP_TCP_OK);
	}
}

/* TCP has no "no checksum" value: a computed zero is sent as zero and verifies; a peer that
 * sends all ones instead (the other one's complement zero) verifies too. */
static void test_tcp_emit_zero_checksum(void **state)
{
	struct nip_tcp_seg t = {.sport = 1000, .dport = 2000, .seq = 1, .flags = NIP_TCP_ACK};
	uint8_t buf[NIP_TCP_HLEN + 2] = {0};
	struct nip_tcp_seg p;
	uint16_t rest;

	(void)state;
	nip_tcp_emit(buf, &t, SRC, DST, 2, false);
	put_be16(buf + 16, 0);
	rest = (uint16_t)~ref_tcp_csum(SRC, DST, buf, sizeof(buf));
	put_be16(buf + NIP_TCP_HLEN, (uint16_t)(0xffff - rest));
	assert_int_equal(ref_tcp_csum(SRC, DST, buf, sizeof(buf)), 0);
	assert_int_equal(nip_tcp_emit(buf, &t, SRC, DST, 2, false), NIP_TCP_HLEN);
	assert_int_equal(get_be16(buf + 16), 0);
	assert_int_equal(nip_tcp_parse(buf, sizeof(buf), SRC, DST, true, &p), NIP_TCP_OK);
	put_be16(buf + 16, 0xffff);
	assert_int_equal(nip_tcp_parse(buf, sizeof(buf), SRC, DST, true, &p), NIP_TCP_OK);
}

/*
 * With offload the checksum field holds the folded pseudo-header sum, not complemented
 * (DPDK rte_ipv4_phdr_cksum); the device sums header and payload over it and complements,
 * which must give the full checksum.
 */
static void test_tcp_emit_offload_stores_pseudo_sum(void **state)
{
	struct nip_tcp_seg t;
	uint8_t buf[sizeof(data_seg)], ph[12];
	uint8_t *d = exact_copy(data_seg, sizeof(data_seg));

	(void)state;
	assert_int_equal(nip_tcp_parse(d, sizeof(data_seg), SRC, DST, true, &t), NIP_TCP_OK);
	memcpy(buf, data_seg, sizeof(buf));
	memset(buf, 0, DATA_HLEN);
	assert_int_equal(nip_tcp_emit(buf, &t, SRC, DST, 17, true), DATA_HLEN);
	memcpy(ph, (const uint8_t[]){192, 168, 1, 100, 192, 168, 1, 1, 0, 6, 0, 61}, 12);
	assert_int_equal(get_be16(buf + 16), ref_sum(ph, sizeof(ph)));
	assert_memory_equal(buf, data_seg, 16);
	assert_memory_equal(buf + 18, data_seg + 18, sizeof(data_seg) - 18);
	/* What the device does. */
	put_be16(buf + 16, ref_csum(buf, sizeof(buf)));
	assert_memory_equal(buf, data_seg, sizeof(data_seg));
	free(d);
}

/* A segment with the given option bytes (n, a multiple of 4), the right checksum, exactly
 * sized; parsed checked. */
static enum nip_tcp_err parse_opts(const uint8_t *opts, size_t n, struct nip_tcp_seg *t)
{
	uint8_t s[NIP_TCP_MAX_HLEN + 4] = {0};
	enum nip_tcp_err rc;
	uint8_t *d;

	assert_true(n % 4 == 0 && n <= 40);
	put_be16(s, 1234);
	put_be16(s + 2, 80);
	s[12] = (uint8_t)((NIP_TCP_HLEN + n) / 4 << 4);
	s[13] = NIP_TCP_ACK;
	memcpy(s + NIP_TCP_HLEN, opts, n);
	memcpy(s + NIP_TCP_HLEN + n, "data", 4);
	fix_csum(s, NIP_TCP_HLEN + n + 4);
	d = exact_copy(s, NIP_TCP_HLEN + n + 4);
	rc = nip_tcp_parse(d, NIP_TCP_HLEN + n + 4, SRC, DST, true, t);
	if (rc == NIP_TCP_OK) {
		assert_int_equal(t->hlen, NIP_TCP_HLEN + n);
		assert_int_equal(t->payload_len, 4);
		assert_memory_equal(t->payload, "data", 4);
	}
	free(d);
	return rc;
}

#define OPTS(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static void test_tcp_parse_malformed_options(void **state)
{
	struct nip_tcp_seg t;

	(void)state;
	/* A kind with no room for its length byte. */
	assert_int_equal(parse_opts(OPTS(1, 1, 1, 2), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(1, 1, 1, 0xfe), &t), NIP_TCP_BAD_OPT);
	/* Length 0 or 1, known and unknown kinds. */
	for (uint8_t kind = 2; kind != 0; kind++) {
		assert_int_equal(parse_opts(OPTS(kind, 0, 0, 0), &t), NIP_TCP_BAD_OPT);
		assert_int_equal(parse_opts(OPTS(1, kind, 1, 0), &t), NIP_TCP_BAD_OPT);
	}
	/* Lengths that run past the header. */
	assert_int_equal(parse_opts(OPTS(1, 2, 4, 5), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(1, 1, 0xfe, 3), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(8, 10, 0, 0, 0, 0, 0, 0), &t), NIP_TCP_BAD_OPT);
	{
		uint8_t o[40] = {5, 42}; /* 5 blocks would not fit a header */

		assert_int_equal(parse_opts(o, sizeof(o), &t), NIP_TCP_BAD_OPT);
	}
	assert_int_equal(parse_opts(OPTS(1, 1, 1, 0xfe, 255, 0, 0, 0), &t), NIP_TCP_BAD_OPT);
	/* Known options of the wrong length. */
	assert_int_equal(parse_opts(OPTS(2, 3, 5, 0), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(2, 5, 5, 0xb4, 0, 0, 0, 0), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(3, 2, 1, 1), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(3, 4, 7, 0), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(4, 3, 0, 0), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(4, 4, 0, 0), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), &t), NIP_TCP_BAD_OPT);
	assert_int_equal(parse_opts(OPTS(8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), &t),
			 NIP_TCP_BAD_OPT);
	/* SACK: 2 + 8n with n in 1..4, nothing else. */
	for (int l = 2; l <= 38; l++) {
		uint8_t o[40] = {5, (uint8_t)l};
		enum nip_tcp_err want = (l - 2) % 8 == 0 && l >= 10 ? NIP_TCP_OK : NIP_TCP_BAD_OPT;

		assert_int_equal(parse_opts(o, 40, &t), want);
		if (want == NIP_TCP_OK)
			assert_int_equal(t.opt.nsack, (l - 2) / 8);
	}
	/* A good option then a bad one: the whole list is refused. */
	assert_int_equal(parse_opts(OPTS(2, 4, 5, 0xb4, 3, 2, 0, 0), &t), NIP_TCP_BAD_OPT);
}

static void test_tcp_parse_option_list_rules(void **state)
{
	struct nip_tcp_seg t;

	(void)state;
	/* EOL ends the list: what follows (however malformed) is padding. */
	assert_int_equal(parse_opts(OPTS(0, 2, 0, 0), &t), NIP_TCP_OK);
	assert_false(t.opt.has_mss);
	assert_int_equal(parse_opts(OPTS(2, 4, 5, 0xb4, 0, 0xff, 1, 0), &t), NIP_TCP_OK);
	assert_true(t.opt.has_mss);
	assert_int_equal(t.opt.mss, 1460);
	/* NOPs are skipped anywhere. */
	assert_int_equal(parse_opts(OPTS(1, 1, 1, 1), &t), NIP_TCP_OK);
	assert_int_equal(parse_opts(OPTS(1, 3, 3, 14, 1, 1, 1, 1), &t), NIP_TCP_OK);
	assert_true(t.opt.has_wscale);
	assert_int_equal(t.opt.wscale, 14);
	/* Unknown options are skipped by their length, even one that ends the header. */
	assert_int_equal(parse_opts(OPTS(0xfe, 4, 0xaa, 0xbb, 2, 4, 0x23, 0x28), &t), NIP_TCP_OK);
	assert_int_equal(t.opt.mss, 9000);
	assert_int_equal(parse_opts(OPTS(30, 2, 1, 1, 6, 6, 0, 0, 0, 0, 7, 2), &t), NIP_TCP_OK);
	assert_int_equal(parse_opts(OPTS(2, 4, 1, 0, 0xfe, 4, 0, 0), &t), NIP_TCP_OK);
	assert_int_equal(t.opt.mss, 256);
	/* An option that ends exactly at the end of the header. */
	assert_int_equal(parse_opts(OPTS(4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2), &t), NIP_TCP_OK);
	assert_true(t.opt.sack_ok);
	assert_true(t.opt.has_ts);
	assert_int_equal(t.opt.tsval, 1);
	assert_int_equal(t.opt.tsecr, 2);
	/* Four SACK blocks (36 bytes), host order. */
	{
		uint8_t o[36] = {1, 1, 5, 34};

		for (int k = 0; k < 8; k++) {
			o[4 + 4 * k] = 0xf0;
			o[7 + 4 * k] = (uint8_t)k;
		}
		assert_int_equal(parse_opts(o, sizeof(o), &t), NIP_TCP_OK);
		assert_int_equal(t.opt.nsack, 4);
		for (int k = 0; k < 4; k++) {
			assert_int_equal(t.opt.sack[k].start, 0xf0000000u | (uint32_t)(2 * k));
			assert_int_equal(t.opt.sack[k].end, 0xf0000000u | (uint32_t)(2 * k + 1));
		}
		assert_int_equal(get_be32(o + 4), 0xf0000000u);
	}
	/* No options: nothing set. */
	assert_int_equal(parse_opts((const uint8_t[]){0}, 0, &t), NIP_TCP_OK);
	assert_false(t.opt.has_mss || t.opt.has_wscale || t.opt.sack_ok || t.opt.has_ts);
	assert_int_equal(t.opt.nsack, 0);
}

/* A segment longer than any IPv4 payload cannot be checked (16-bit pseudo-header length). */
static void test_tcp_parse_oversized(void **state)
{
	size_t len = 65536 + NIP_TCP_HLEN;
	uint8_t *d = calloc(1, len);
	struct nip_tcp_seg t;

	(void)state;
	assert_non_null(d);
	d[12] = 5 << 4;
	assert_int_equal(nip_tcp_parse(d, len, SRC, DST, true, &t), NIP_TCP_BAD_CSUM);
	assert_int_equal(nip_tcp_parse(d, len, SRC, DST, false, &t), NIP_TCP_OK);
	assert_int_equal(t.payload_len, 65536);
	free(d);
}

/* A 32-byte header of ACK seq 1 ack 2 whose 12 option bytes are opts. */
static void ts_header(uint8_t seg[32], const uint8_t opts[12])
{
	memset(seg, 0, 32);
	seg[1] = 80;
	seg[3] = 81;
	seg[7] = 1;
	seg[11] = 2;
	seg[12] = 8 << 4; /* data offset 8: 32 bytes */
	seg[13] = NIP_TCP_ACK;
	memcpy(seg + NIP_TCP_HLEN, opts, 12);
}

/* NOP NOP TS, the layout of nearly every segment with timestamps, is read with one compare
 * (wire/tcp.c): it must give what the option loop gives for the same options in another
 * order, and any other option bytes, however close, must go to the loop and its checks. */
static void test_tcp_parse_timestamps_only_layout(void **state)
{
	static const uint8_t fast[12] = {1,    1,    8,	   10,	 0x11, 0x22,
					 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	static const uint8_t loop[12] = {8,    10,   0x11, 0x22, 0x33, 0x44,
					 0x55, 0x66, 0x77, 0x88, 1,    1};
	/* Near misses: a TS length of 11 runs past the header, 9 is not TS's length, an MSS
	 * option where TS should be (length 10 is not MSS's), an EOL first (no options). */
	static const uint8_t bad11[12] = {1, 1, 8, 11, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t bad9[12] = {1, 1, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t mss10[12] = {1, 1, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t eol[12] = {0, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	uint8_t seg[32 + 4];
	struct nip_tcp_seg a, b;

	(void)state;
	ts_header(seg, fast);
	memcpy(seg + 32, "data", 4);
	assert_int_equal(nip_tcp_parse(seg, sizeof(seg), SRC, DST, false, &a), NIP_TCP_OK);
	ts_header(seg, loop);
	assert_int_equal(nip_tcp_parse(seg, sizeof(seg), SRC, DST, false, &b), NIP_TCP_OK);
	assert_true(a.opt.has_ts && b.opt.has_ts);
	assert_int_equal(a.opt.tsval, 0x11223344u);
	assert_int_equal(a.opt.tsecr, 0x55667788u);
	assert_memory_equal(&a.opt, &b.opt, sizeof(a.opt));
	assert_int_equal(a.hlen, 32);
	assert_int_equal(a.payload_len, 4);
	assert_int_equal(a.seq, 1);
	assert_int_equal(a.ack, 2);
	ts_header(seg, bad11);
	assert_int_equal(nip_tcp_parse(seg, 32, SRC, DST, false, &a), NIP_TCP_BAD_OPT);
	ts_header(seg, bad9);
	assert_int_equal(nip_tcp_parse(seg, 32, SRC, DST, false, &a), NIP_TCP_BAD_OPT);
	ts_header(seg, mss10);
	assert_int_equal(nip_tcp_parse(seg, 32, SRC, DST, false, &a), NIP_TCP_BAD_OPT);
	ts_header(seg, eol);
	assert_int_equal(nip_tcp_parse(seg, 32, SRC, DST, false, &a), NIP_TCP_OK);
	assert_false(a.opt.has_ts);
	/* The right bytes in a header of another length are options like any others. */
	ts_header(seg, fast);
	seg[12] = 9 << 4;
	memset(seg + 32, 1, 4); /* four NOPs */
	assert_int_equal(nip_tcp_parse(seg, sizeof(seg), SRC, DST, false, &a), NIP_TCP_OK);
	assert_true(a.opt.has_ts);
	assert_int_equal(a.opt.tsval, 0x11223344u);
	assert_int_equal(a.hlen, 36);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_known_segments_checksum),
		cmocka_unit_test(test_tcp_parse_known_syn),
		cmocka_unit_test(test_tcp_parse_known_data),
		cmocka_unit_test(test_tcp_emit_writes_known_segments),
		cmocka_unit_test(test_tcp_opts_len_layout),
		cmocka_unit_test(test_tcp_emit_parse_round_trip),
		cmocka_unit_test(test_tcp_emit_tmpl_matches_emit),
		cmocka_unit_test(test_tcp_parse_refuses_every_truncation),
		cmocka_unit_test(test_tcp_parse_refuses_bad_offset),
		cmocka_unit_test(test_tcp_parse_refuses_wrong_checksum),
		cmocka_unit_test(test_tcp_emit_zero_checksum),
		cmocka_unit_test(test_tcp_emit_offload_stores_pseudo_sum),
		cmocka_unit_test(test_tcp_parse_malformed_options),
		cmocka_unit_test(test_tcp_parse_option_list_rules),
		cmocka_unit_test(test_tcp_parse_oversized),
		cmocka_unit_test(test_tcp_parse_timestamps_only_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
