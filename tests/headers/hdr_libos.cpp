/* SPDX-License-Identifier: MIT */
/* <demi/libos.h> compiles alone as C++11 and its functions have C linkage (this links). */
#include <demi/libos.h>
#include <demi/libos.h>

int main()
{
	int (*volatile init)(const struct demi_args *) = demi_init;
	int (*volatile sock)(int *, int, int, int) = demi_socket;
	int (*volatile lst)(int, int) = demi_listen;
	int (*volatile bnd)(int, const struct sockaddr *, socklen_t) = demi_bind;
	int (*volatile acc)(demi_qtoken_t *, int) = demi_accept;
	int (*volatile con)(demi_qtoken_t *, int, const struct sockaddr *, socklen_t) =
		demi_connect;
	int (*volatile cls)(int) = demi_close;
	int (*volatile push)(demi_qtoken_t *, int, const demi_sgarray_t *) = demi_push;
	int (*volatile pushto)(demi_qtoken_t *, int, const demi_sgarray_t *,
			       const struct sockaddr *, socklen_t) = demi_pushto;
	int (*volatile pop)(demi_qtoken_t *, int) = demi_pop;
	int (*volatile sso)(int, int, int, const void *, socklen_t) = demi_setsockopt;
	int (*volatile gso)(int, int, int, void *, socklen_t *) = demi_getsockopt;
	int (*volatile gpn)(int, struct sockaddr *, socklen_t *) = demi_getpeername;
	int (*volatile gsn)(int, struct sockaddr *, socklen_t *) = demi_getsockname;

	return init && sock && lst && bnd && acc && con && cls && push && pushto && pop && sso &&
			       gso && gpn && gsn
		       ? 0
		       : 1;
}
