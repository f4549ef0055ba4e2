/* SPDX-License-Identifier: MIT */
/*
 * The public structs have Microsoft Demikernel's exact layout (packed): applications and
 * language bindings built against Demikernel's headers see the same bytes. The sizes that
 * depend on DEMI_SGARRAY_MAXSIZE are checked against Demikernel's numbers when it is 1 and
 * against the same formula otherwise. Opcode values are Demikernel's too.
 */
#include <stddef.h>
#include <stdio.h>

#include <demi/types.h>

static int failures;

static void expect(const char *what, size_t got, size_t want)
{
	if (got == want) {
		printf("  ok   %-40s %zu\n", what, got);
		return;
	}
	printf("  FAIL %-40s %zu, expected %zu\n", what, got, want);
	failures++;
}

#define SIZE(t, want) expect("sizeof(" #t ")", sizeof(t), want)
#define OFF(t, m, want) expect("offsetof(" #t ", " #m ")", offsetof(t, m), want)

int main(void)
{
	SIZE(demi_qtoken_t, 8);
	SIZE(enum demi_opcode, 4);
	SIZE(demi_sgaseg_t, 12);
	OFF(demi_sgaseg_t, sgaseg_buf, 0);
	OFF(demi_sgaseg_t, sgaseg_len, 8);

	OFF(demi_sgarray_t, sga_buf, 0);
	OFF(demi_sgarray_t, sga_numsegs, 8);
	OFF(demi_sgarray_t, sga_segs, 12);
	OFF(demi_sgarray_t, sga_addr, 12 + 12 * DEMI_SGARRAY_MAXSIZE);
	SIZE(demi_sgarray_t, 8 + 4 + 12 * DEMI_SGARRAY_MAXSIZE + 16);

	SIZE(demi_accept_result_t, 20);
	OFF(demi_accept_result_t, qd, 0);
	OFF(demi_accept_result_t, addr, 4);

	OFF(demi_qresult_t, qr_opcode, 0);
	OFF(demi_qresult_t, qr_qd, 4);
	OFF(demi_qresult_t, qr_qt, 8);
	OFF(demi_qresult_t, qr_ret, 16);
	OFF(demi_qresult_t, qr_value, 24);
	SIZE(((demi_qresult_t *)0)->qr_ret, 8);
	SIZE(((demi_qresult_t *)0)->qr_value, sizeof(demi_sgarray_t));
	SIZE(demi_qresult_t, 24 + sizeof(demi_sgarray_t));

	SIZE(struct demi_args, 20);
	OFF(struct demi_args, argc, 0);
	OFF(struct demi_args, argv, 4);
	OFF(struct demi_args, callback, 12);

	expect("DEMI_OPC_INVALID", DEMI_OPC_INVALID, 0);
	expect("DEMI_OPC_PUSH", DEMI_OPC_PUSH, 1);
	expect("DEMI_OPC_POP", DEMI_OPC_POP, 2);
	expect("DEMI_OPC_ACCEPT", DEMI_OPC_ACCEPT, 3);
	expect("DEMI_OPC_CONNECT", DEMI_OPC_CONNECT, 4);
	expect("DEMI_OPC_CLOSE", DEMI_OPC_CLOSE, 5);
	expect("DEMI_OPC_FAILED", DEMI_OPC_FAILED, 6);

	if (DEMI_SGARRAY_MAXSIZE == 1) {
		/* Demikernel's numbers, spelled out. */
		expect("Demikernel sizeof(demi_sgarray_t)", sizeof(demi_sgarray_t), 40);
		expect("Demikernel sizeof(demi_qresult_t)", sizeof(demi_qresult_t), 64);
	} else {
		printf("  note DEMI_SGARRAY_MAXSIZE is %d: not Demikernel's layout by design\n",
		       DEMI_SGARRAY_MAXSIZE);
	}
	if (failures) {
		printf("%d layout checks failed\n", failures);
		return 1;
	}
	printf("PASS: layout\n");
	return 0;
}
