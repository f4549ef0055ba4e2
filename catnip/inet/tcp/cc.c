/* SPDX-License-Identifier: MIT */
/* The congestion control algorithms by name (cc.h). */
#include "cc.h"

#include <stddef.h>
#include <string.h>

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
