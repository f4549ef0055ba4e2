/* SPDX-License-Identifier: MIT */
/* <demi/types.h> compiles alone as strict C11, with no feature-test macro. */
#undef _GNU_SOURCE
#include <demi/types.h>
#include <demi/types.h> /* the include guard works */

int main(void)
{
	demi_qresult_t qr = {0};
	demi_sgarray_t sga = {0};
	demi_accept_result_t ares = {0};
	struct demi_args args = {0, NULL, NULL};
	demi_callback_t cb = NULL;
	demi_opcode_t opc = DEMI_OPC_FAILED;
	demi_qtoken_t qt = (demi_qtoken_t)-1;

	qr.qr_opcode = opc;
	qr.qr_qt = qt;
	qr.qr_value.sga = sga;
	qr.qr_value.ares = ares;
	sga.sga_addr.sin_family = AF_INET;
	sga.sga_segs[DEMI_SGARRAY_MAXSIZE - 1].sgaseg_len = 1;
	args.callback = cb;
	return qr.qr_ret == 0 && args.argc == 0 && sga.sga_numsegs == 0 ? 0 : 1;
}
