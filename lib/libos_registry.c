/* SPDX-License-Identifier: MIT */
/* The libOSes this build has. A libOS left out by the build is known but not available. */
#include <string.h>

#include "libos.h"

#ifdef DEMI_HAVE_CATNAP
extern const struct demi__libos_ops nap_libos_ops;
#endif
#ifdef DEMI_HAVE_CATNIP
extern const struct demi__libos_ops nip_libos_ops;
#endif
#ifdef DEMI_HAVE_CATMINT
extern const struct demi__libos_ops mint_libos_ops;
#endif

static const char *const known_names[] = {"catnap", "catnip", "catmint", NULL};

static const struct demi__libos_ops *const built[] = {
#ifdef DEMI_HAVE_CATNAP
	&nap_libos_ops,
#endif
#ifdef DEMI_HAVE_CATNIP
	&nip_libos_ops,
#endif
#ifdef DEMI_HAVE_CATMINT
	&mint_libos_ops,
#endif
	NULL,
};

const struct demi__libos_ops *demi__libos_find(const char *name, bool *known)
{
	*known = false;
	for (int i = 0; known_names[i]; i++)
		if (!strcmp(name, known_names[i]))
			*known = true;
	for (int i = 0; built[i]; i++)
		if (!strcmp(name, built[i]->name))
			return built[i];
	return NULL;
}
