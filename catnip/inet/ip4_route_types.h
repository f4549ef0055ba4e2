/* SPDX-License-Identifier: MIT */
/*
 * The layout of a flow's route (ip4_route.h has its job and its calls), apart from them so
 * that stack.h's tcp/tcp.h can embed one in each connection: ip4_route.h's inline check needs
 * the whole struct nip_stack, which stack.h completes only after tcp.h.
 */
#ifndef NIP_IP4_ROUTE_TYPES_H
#define NIP_IP4_ROUTE_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "wire/eth.h"
#include "wire/ip4.h"

struct nip_ip4_route {
	uint8_t eth[NIP_ETH_HLEN]; /* next hop's MAC, ours, IPv4 */
	bool ok;		   /* built (nip_ip4_route_fill succeeded) */
	uint64_t arp_gen;
	uint64_t until;
	struct nip_ip4_tmpl ip;
};

#endif
