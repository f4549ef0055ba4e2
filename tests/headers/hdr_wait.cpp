/* SPDX-License-Identifier: MIT */
/* <demi/wait.h> compiles alone as C++11 and its functions have C linkage (this links). */
#include <demi/wait.h>
#include <demi/wait.h>

int main()
{
	int (*volatile wait)(demi_qresult_t *, demi_qtoken_t, const struct timespec *) = demi_wait;
	int (*volatile any)(demi_qresult_t *, int *, const demi_qtoken_t[], int,
			    const struct timespec *) = demi_wait_any;
	int (*volatile next)(demi_qresult_t *, int, int *, const struct timespec *) =
		demi_wait_next_n;
	struct timespec ts = {0, 0};

	return wait && any && next && ts.tv_sec == 0 ? 0 : 1;
}
