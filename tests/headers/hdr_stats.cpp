/* SPDX-License-Identifier: MIT */
/* <demi/stats.h> compiles alone as C++11 and its functions link with C linkage. */
#include <demi/stats.h>
#include <demi/stats.h>

int main()
{
	int (*volatile all)(demi_stat_t *, size_t, size_t *) = demi_stats;
	int (*volatile one)(const char *, uint64_t *) = demi_stat;
	demi_stat_t s = {"x", 1};

	return all && one && s.value == 1 ? 0 : 1;
}
