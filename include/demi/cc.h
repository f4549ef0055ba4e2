/* SPDX-License-Identifier: MIT */
/*
 * Annotation macros used by the public headers. Demikernel's headers carry Microsoft SAL
 * annotations (_In_, _Out_, ...) and a few attribute macros; applications written against them
 * may use the same names, so we define them here as no-ops (or GCC attributes) when the compiler
 * has no SAL of its own.
 */
#ifndef DEMI_CC_H
#define DEMI_CC_H

#ifdef _MSC_VER
#include <sal.h>
#else
#ifndef _In_
#define _In_
#endif
#ifndef _In_z_
#define _In_z_
#endif
#ifndef _In_opt_
#define _In_opt_
#endif
#ifndef _In_reads_
#define _In_reads_(s)
#endif
#ifndef _In_reads_bytes_
#define _In_reads_bytes_(b)
#endif
#ifndef _Out_
#define _Out_
#endif
#ifndef _Out_writes_to_
#define _Out_writes_to_(s, c)
#endif
#ifndef _Deref_pre_z_
#define _Deref_pre_z_
#endif
#endif

#if defined(__GNUC__) && !defined(DEMI_BUILDING_LIBRARY)
/* One-based argument positions that must not be NULL. The library itself is built without
 * them: it checks for NULL and answers EINVAL, and the attribute would let the compiler drop
 * those checks. */
#define ATTR_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define ATTR_NODISCARD __attribute__((warn_unused_result))
#else
#define ATTR_NONNULL(...)
#define ATTR_NODISCARD
#endif

#endif /* DEMI_CC_H */
