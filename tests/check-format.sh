#!/bin/bash
# SPDX-License-Identifier: MIT
# Every C source and header the project tracks must be as clang-format (.clang-format: kernel
# style, tabs, 100 columns) writes it. Lists the files that are not and exits 1; 77 (skip)
# without clang-format or outside a git checkout.
#   usage: check-format.sh SOURCE_DIR
set -u
cd "$1" || exit 1
command -v clang-format >/dev/null || { echo "SKIP: no clang-format"; exit 77; }
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "SKIP: not a git checkout"; exit 77; }
bad=0
while IFS= read -r f; do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done < <(git ls-files '*.c' '*.h' '*.cpp')
exit $bad
