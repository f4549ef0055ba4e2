/* SPDX-License-Identifier: MIT */
/*
 * LIBOS=catmint on a machine without an RDMA device: demi_init fails with ENODEV and a clear
 * message, nothing crashes, and the thread can still start another libOS. Skipped (77) where
 * an RDMA device exists (inside the soft-RoCE guest, for instance) or catmint is not built.
 */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"

int main(void)
{
	struct demi_args args = {0, NULL, NULL};
	int rc;

	setenv("LIBOS", "catmint", 1);
	rc = demi_init(&args);
	if (rc == ENOTSUP)
		h_skip("catmint is not built into this library");
	if (rc == 0)
		h_skip("this machine has an RDMA device: nothing to check here");
	CHECKF(rc == ENODEV, "demi_init without an RDMA device returned %d (%s), expected ENODEV",
	       rc, h_errname(rc));
	/* Nothing was left behind: the thread can still start a libOS. */
	setenv("LIBOS", "catnap", 1);
	rc = demi_init(&args);
	CHECKF(rc == 0 || rc == ENOTSUP, "demi_init(catnap) after the failure: %s", h_errname(rc));
	return H_EXIT_PASS;
}
