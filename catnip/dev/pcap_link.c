/* SPDX-License-Identifier: MIT */
/*
 * Packet capture as a link wrapper; see pcap_link.h. The file format is libpcap's with
 * nanosecond timestamps (magic 0xa1b23c4d, version 2.4, link type 1 = Ethernet), in host byte
 * order as the format allows. Writes go through stdio's buffer: one fwrite per frame part, a
 * system call only when the buffer fills.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pcap_link.h"

#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_SNAPLEN 65535u
#define PCAP_LINKTYPE_ETHERNET 1u

struct pcap_file_header {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec_header {
	uint32_t ts_sec, ts_nsec, incl_len, orig_len;
};

/* One frame (its own bytes, then a chained payload range) with the time now. */
static void write_frame(struct nip_pcap_link *p, const struct demi__buf *b)
{
	uint32_t ext = nip_frame_ext_len(b), len = b->len + ext;
	struct pcap_rec_header h = {.incl_len = len, .orig_len = len};
	struct timespec ts;

	if (!p->f || p->bytes + sizeof(h) + len > p->max_bytes) {
		p->missed++;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	h.ts_sec = (uint32_t)ts.tv_sec;
	h.ts_nsec = (uint32_t)ts.tv_nsec;
	if (fwrite(&h, sizeof(h), 1, p->f) != 1 ||
	    fwrite(demi__buf_data((struct demi__buf *)b), 1, b->len, p->f) != b->len ||
	    (ext && fwrite(nip_frame_ext_data(b), 1, ext, p->f) != ext)) {
		DEMI_ERR("catnip: pcap: write failed: %s; capture stopped", strerror(errno));
		fclose(p->f);
		p->f = NULL;
		p->missed++;
		return;
	}
	p->bytes += sizeof(h) + len;
	p->captured++;
}

static int pcap_rx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_pcap_link *p = dev;
	int got = p->inner->ops->rx_burst(p->inner->dev, bufs, n);

	for (int i = 0; i < got; i++)
		write_frame(p, bufs[i]);
	return got;
}

/* Frames are written before the device takes them (it may free them at once); those it
 * refuses come back first in the caller's next burst, and are not written twice. */
static int pcap_tx_burst(void *dev, struct demi__buf **bufs, int n)
{
	struct nip_pcap_link *p = dev;
	int i = 0, took;

	while (i < n && (uint32_t)i < p->nrefused && bufs[i] == p->refused[i])
		i++;
	for (int j = i; j < n; j++)
		write_frame(p, bufs[j]);
	took = p->inner->ops->tx_burst(p->inner->dev, bufs, n);
	p->nrefused = 0;
	for (int j = took; j < n && p->nrefused < NIP_PCAP_HELD; j++)
		p->refused[p->nrefused++] = bufs[j];
	return took;
}

static struct demi__buf *pcap_alloc(void *dev, size_t size)
{
	struct nip_pcap_link *p = dev;

	return p->inner->ops->alloc(p->inner->dev, size);
}

static const struct nip_link_ops pcap_link_ops = {
	.rx_burst = pcap_rx_burst,
	.tx_burst = pcap_tx_burst,
	.alloc = pcap_alloc,
};

int nip_pcap_link_from_config(struct nip_pcap_link **out, struct demi__config *cfg,
			      struct nip_link *inner)
{
	const struct pcap_file_header fh = {
		.magic = PCAP_MAGIC_NS,
		.version_major = 2,
		.version_minor = 4,
		.snaplen = PCAP_SNAPLEN,
		.linktype = PCAP_LINKTYPE_ETHERNET,
	};
	struct nip_pcap_link *p;
	const char *path;
	uint64_t max_mb;
	int rc;

	*out = NULL;
	if ((rc = demi__config_get_str(cfg, "catnip.pcap.path", "", &path)) < 0 ||
	    (rc = demi__config_get_u64(cfg, "catnip.pcap.max_mb", 64, 1, 1u << 20, &max_mb)) < 0)
		return rc;
	if (!*path)
		return 0;
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	if (!(p->f = fopen(path, "wb"))) {
		rc = -errno;
		DEMI_ERR("catnip: pcap: cannot create %s: %s", path, strerror(errno));
		free(p);
		return rc;
	}
	if (fwrite(&fh, sizeof(fh), 1, p->f) != 1) {
		rc = -errno;
		DEMI_ERR("catnip: pcap: cannot write %s: %s", path, strerror(errno));
		fclose(p->f);
		free(p);
		return rc ? rc : -EIO;
	}
	p->bytes = sizeof(fh);
	p->max_bytes = max_mb << 20;
	p->link = *inner;
	p->link.ops = &pcap_link_ops;
	p->link.dev = p;
	p->inner = inner;
	*out = p;
	DEMI_INFO("catnip: capturing every frame into %s (at most %llu MiB)", path,
		  (unsigned long long)max_mb);
	return 0;
}

void nip_pcap_link_destroy(struct nip_pcap_link *p)
{
	if (!p)
		return;
	DEMI_INFO("catnip: pcap: %llu frames captured (%llu bytes), %llu not captured%s",
		  (unsigned long long)p->captured, (unsigned long long)p->bytes,
		  (unsigned long long)p->missed, p->missed ? " (file full or write error)" : "");
	if (p->f && fclose(p->f) != 0)
		DEMI_ERR("catnip: pcap: closing the file failed: %s", strerror(errno));
	free(p);
}
