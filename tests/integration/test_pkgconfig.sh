#!/bin/bash
# SPDX-License-Identifier: MIT
# What a user of the installed library does: install into a temporary root, then build one
# program against libdemikernel.so and one against libdemikernel.a with nothing but
# `pkg-config --cflags --libs demikernel` (and --static), and run both on catnap. The static
# one must not need libdemikernel.so at run time. Exit 0 pass, 1 fail.
#   usage: test_pkgconfig.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: test_pkgconfig.sh BUILD_DIR}" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v pkg-config >/dev/null || fail "pkg-config missing (tests/deps.sh installs it)"
meson install -C "$build" --no-rebuild --quiet --destdir "$t/root" >"$t/install.log" 2>&1 ||
	{ cat "$t/install.log"; fail "meson install"; }
pc=$(find "$t/root" -name demikernel.pc | head -1)
[ -n "$pc" ] || fail "no demikernel.pc installed"
libdir=$(dirname "$(dirname "$pc")")
# The .pc names the install prefix; the sysroot points it into the temporary root.
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$t/root
cat >"$t/prog.c" <<'EOC'
#include <stdio.h>
#include <sys/socket.h>
#include <demi/libos.h>
#include <demi/sga.h>

int main(void)
{
	int qd, rc = demi_init(NULL);

	if (rc == 0)
		rc = demi_socket(&qd, AF_INET, SOCK_STREAM, 0);
	if (rc == 0)
		rc = demi_close(qd);
	demi_sgarray_t sga = demi_sgaalloc(64);
	if (rc == 0 && sga.sga_numsegs == 1)
		rc = demi_sgafree(&sga);
	printf("demi calls: %d\n", rc);
	return rc != 0;
}
EOC
# A sanitized build's library needs the sanitizers' runtime in the program too.
san=$(meson introspect --buildoptions "$build" | python3 -c \
	'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))')
cflags=()
[ "$san" != none ] && cflags=("-fsanitize=$san")
# shellcheck disable=SC2046 # pkg-config's output is meant to split
cc "${cflags[@]}" -o "$t/dyn" "$t/prog.c" $(pkg-config --cflags --libs demikernel) ||
	fail "dynamic link with pkg-config --libs demikernel"
LD_LIBRARY_PATH=$libdir LIBOS=catnap "$t/dyn" || fail "the dynamically linked program"
echo "ok   dynamic: $(pkg-config --libs demikernel)"
# Static: the archive alone in the library directory, so -ldemikernel can only mean it.
mkdir "$t/static"
cp -a "$t/root" "$t/static/root"
find "$t/static/root" -name 'libdemikernel.so*' -delete
export PKG_CONFIG_PATH=${PKG_CONFIG_PATH/$t\/root/$t/static/root} PKG_CONFIG_SYSROOT_DIR=$t/static/root
# shellcheck disable=SC2046
cc "${cflags[@]}" -o "$t/stat" "$t/prog.c" $(pkg-config --static --cflags --libs demikernel) \
	2>"$t/link.log" ||
	{ grep -c "undefined reference" "$t/link.log" | sed 's/^/undefined references: /'; head -5 "$t/link.log"; fail "static link with pkg-config --static --libs demikernel"; }
if ldd "$t/stat" | grep -q libdemikernel; then
	fail "the static program still needs libdemikernel.so"
fi
LIBOS=catnap "$t/stat" || fail "the statically linked program"
echo "ok   static: libdemikernel.a, $(pkg-config --static --libs demikernel | wc -w) link words"
