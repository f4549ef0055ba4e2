/* SPDX-License-Identifier: MIT */
/*
 * Packet capture for catnip: a link wrapper that writes every frame received from and sent to
 * the wrapped link into a pcap file (nanosecond timestamps, Ethernet), readable by tcpdump,
 * tshark and Wireshark, the tools that cannot see a kernel-bypassed port. Like the fault
 * wrapper it is off unless configured, and then the link is not wrapped at all: no cost.
 *
 * Configuration (lib/config.h; the environment overrides each in upper case, '_' for '.'):
 *   catnip.pcap.path     the file to write (created or truncated); unset: no capture
 *   catnip.pcap.max_mb   stop writing once the file holds this many MiB (default 64): the
 *                        capture keeps the first frames, counts the rest as not captured and
 *                        says so at exit
 * Frames are written as they leave the stack (sent) or reach it (received): a frame the device
 * refuses is written once, when it is finally taken. The wrapper goes closest to the device
 * (under the fault wrapper), so the file shows what was on the wire.
 */
#ifndef NIP_PCAP_LINK_H
#define NIP_PCAP_LINK_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "link.h"

#define NIP_PCAP_HELD 64 /* frames refused by the device and already written, at most */

struct nip_pcap_link {
	struct nip_link link; /* what the stack (or the fault wrapper) uses */
	struct nip_link *inner;
	FILE *f;
	uint64_t bytes, max_bytes;
	uint64_t captured, missed; /* frames written; frames past max_bytes or lost to an error */
	/* Frames written and then refused by the device: the caller offers them again first. */
	struct demi__buf *refused[NIP_PCAP_HELD];
	uint32_t nrefused;
};

/**
 * @brief Wraps inner in a capture from the catnip.pcap.* keys (above).
 * @param out *out is the wrapper (use &(*out)->link), or NULL when catnip.pcap.path is unset
 * @return 0, -EINVAL for a bad value, -errno when the file cannot be created (both logged)
 */
int nip_pcap_link_from_config(struct nip_pcap_link **out, struct demi__config *cfg,
			      struct nip_link *inner);
/* Flushes and closes the file (logging what was captured) and frees the wrapper (NULL: nothing). */
void nip_pcap_link_destroy(struct nip_pcap_link *p);

#endif
