/* SPDX-License-Identifier: MIT */
/* <demi/sga.h> compiles alone as strict C11, with no feature-test macro, and links. */
#undef _GNU_SOURCE
#include <demi/sga.h>
#include <demi/sga.h>

int main(void)
{
	demi_sgarray_t (*volatile alloc)(size_t) = demi_sgaalloc;
	int (*volatile release)(demi_sgarray_t *) = demi_sgafree;

	return alloc && release ? 0 : 1;
}
