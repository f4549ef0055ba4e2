/* SPDX-License-Identifier: MIT */
/*
 * <demi/types.h> compiles alone as C++11, and C++ sees the same layout as C (Demikernel's,
 * when DEMI_SGARRAY_MAXSIZE is 1).
 */
#include <demi/types.h>
#include <demi/types.h>

#define CHECK_EQ(a, b) ((a) == (b) ? 0 : 1)

int main()
{
	demi_qresult_t qr = demi_qresult_t();
	int bad = 0;

	qr.qr_opcode = DEMI_OPC_POP;
	bad += CHECK_EQ(sizeof(demi_qtoken_t), 8u);
	bad += CHECK_EQ(sizeof(demi_sgaseg_t), 12u);
	bad += CHECK_EQ(sizeof(demi_accept_result_t), 20u);
	bad += CHECK_EQ(sizeof(struct demi_args), 20u);
	bad += CHECK_EQ(offsetof(demi_qresult_t, qr_opcode), 0u);
	bad += CHECK_EQ(offsetof(demi_qresult_t, qr_qd), 4u);
	bad += CHECK_EQ(offsetof(demi_qresult_t, qr_qt), 8u);
	bad += CHECK_EQ(offsetof(demi_qresult_t, qr_ret), 16u);
	bad += CHECK_EQ(offsetof(demi_qresult_t, qr_value), 24u);
	bad += CHECK_EQ(sizeof(demi_sgarray_t), 8u + 4u + 12u * DEMI_SGARRAY_MAXSIZE + 16u);
	bad += CHECK_EQ(static_cast<int>(qr.qr_opcode), 2);
	return bad == 0 ? 0 : 1;
}
