/* SPDX-License-Identifier: MIT */
/*
 * <demi/cc.h> compiles alone as strict C11, with no feature-test macro, and its annotation
 * macros can be used the way Demikernel's headers use them.
 */
#undef _GNU_SOURCE
#include <demi/cc.h>
#include <demi/cc.h>

ATTR_NONNULL(1, 2)
static int annotated(_In_ const int *in, _Out_ int *out, _In_opt_ const char *opt,
		     _In_reads_(n) const int *arr, _In_reads_bytes_(n) const void *bytes,
		     _Out_writes_to_(n, *cnt) int *w, _In_z_ const char *z, _Deref_pre_z_ int n,
		     int *cnt)
{
	*out = *in + (opt != 0) + (arr != 0) + (bytes != 0) + (w != 0) + (z != 0) + n;
	*cnt = 0;
	return 0;
}

ATTR_NODISCARD static int must_use(void)
{
	return 0;
}

int main(void)
{
	int in = 1, out = 0, cnt = 0;

	if (annotated(&in, &out, 0, 0, 0, 0, "z", 0, &cnt) != 0)
		return 1;
	return must_use() == 0 && out == 2 ? 0 : 1;
}
