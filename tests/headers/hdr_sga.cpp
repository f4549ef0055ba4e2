/* SPDX-License-Identifier: MIT */
/* <demi/sga.h> compiles alone as C++11 and its functions have C linkage (this links). */
#include <demi/sga.h>
#include <demi/sga.h>

int main()
{
	demi_sgarray_t (*volatile alloc)(size_t) = demi_sgaalloc;
	int (*volatile release)(demi_sgarray_t *) = demi_sgafree;

	return alloc && release ? 0 : 1;
}
