#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The meson test that runs catmint on a real RDMA device: boots the soft-RoCE guest ONCE
# (vm.sh) and runs guest.sh in it, which runs every device test and the examples.
#   run-vm-tests.sh BUILD_DIR [SANITIZERS]
# Exit 0 pass, 1 fail, 77 skip with the reason: no catmint in this build, or no way to boot the
# guest here (no qemu, no kernel package to download).
#
# Sanitizer builds (SANITIZERS = meson's b_sanitize, not "none") run it too: the sanitized
# binaries run unchanged in the guest (same root filesystem), ASAN_OPTIONS / UBSAN_OPTIONS /
# LSAN_OPTIONS travel with the command (vm.sh), and LeakSanitizer then checks catmint on the
# real device path. Under full emulation (no KVM) it takes about 30 s, as the plain run does;
# DEMI_VM_SKIP_SANITIZED=1 skips it (77) where that is too slow.
set -u
here=$(dirname "$(realpath "$0")")
build=$(realpath "$1")
sanitize=${2:-none}

if [ "$sanitize" != none ] && [ -n "${DEMI_VM_SKIP_SANITIZED:-}" ]; then
	echo "SKIP: sanitizer build ($sanitize) and DEMI_VM_SKIP_SANITIZED is set"
	exit 77
fi
[ -x "$build/tests/rdma/test_mint_echo" ] || { echo "SKIP: catmint is not built"; exit 77; }
bash "$here/vm.sh" --check || exit $?
# The guest sees the build directory at the same path (the source may be where the guest has a
# private tmpfs, e.g. under /tmp): the script travels with the build.
mkdir -p "$build/.vm"
cp "$here/guest.sh" "$build/.vm/guest.sh"
bash "$here/vm.sh" "$build" bash "$build/.vm/guest.sh" "$build"
