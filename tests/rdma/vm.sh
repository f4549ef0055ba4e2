#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A throw-away RDMA machine for catmint's tests: boots Debian's own kernel (which has soft-RoCE,
# rdma_rxe) under qemu, with a soft-RoCE device on a dummy network interface, runs one command
# inside and exits with its status.
#
#   vm.sh SHARED_DIR COMMAND [ARGS...]
#       SHARED_DIR  host directory mounted read-write at the same path in the guest (a build
#                   directory: binaries, logs); COMMAND runs there. The rest of the host's root
#                   filesystem is mounted read-only, so host-built programs run unchanged.
#   vm.sh --check   only say whether a guest can be booted here (exit 0 or 77 with the reason).
#
# Exit: the command's status; 77 (with the reason on stderr) when no guest can run here (no
# qemu, no kernel package to download, ...); 125 when the guest died without reporting.
#
# Inside the guest: rxe0 on netdev rdma0, address 192.0.2.1/24, exported to COMMAND as
# RDMA_DEV and RDMA_IP; /tmp and /run are private tmpfs; the command runs as root.
#
# How (call order): 1. find the kernel package linux-image-amd64 depends on, download it once
# (apt-get download, no installation) into the cache; 2. unpack its kernel as an ELF vmlinux
# (qemu boots that directly through PVH: no BIOS, no decompression, ~2 s saved under emulation)
# and build a busybox initramfs holding the modules soft-RoCE and 9p need, resolved with
# modprobe --show-depends against the package's own modules.dep; 3. run qemu (KVM when the CPU
# offers it, else TCG), the initramfs's init mounts the host over 9p, chroots into it, creates
# the device and runs the command; the status comes back in a file of SHARED_DIR (and as a line
# on the console, for the log).
#
# ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS and DEMI_LOG are passed on to COMMAND.
# Environment: DEMI_VM_CACHE (cache directory), DEMI_VM_TIMEOUT (seconds, default 900),
# DEMI_VM_SMP (vCPUs, default 2), DEMI_VM_MEM (MiB, default 1024), DEMI_VM_KPKG (kernel
# package, e.g. linux-image-6.1.0-26-amd64), DEMI_VM_ACCEL (qemu -accel argument).
set -euo pipefail

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

check_only=0
if [ "${1:-}" = --check ]; then
	check_only=1
else
	[ $# -ge 2 ] || { echo "usage: $0 SHARED_DIR COMMAND [ARGS...] | --check" >&2; exit 2; }
	shared=$(realpath "$1")
	shift
	[ -d "$shared" ] || { echo "$0: $shared is not a directory" >&2; exit 2; }
fi

[ "$(uname -m)" = x86_64 ] || skip "the RDMA guest needs an x86_64 host (this is $(uname -m))"
for tool in qemu-system-x86_64 busybox cpio gzip xz dpkg-deb modprobe depmod apt-cache; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip "$tool not found (tests/deps.sh installs qemu-system-x86, busybox-static, cpio," \
			"xz-utils and kmod)"
done
busybox=$(command -v busybox)
ldd_out=$(LC_ALL=C ldd "$busybox" 2>&1 || true)
[[ $ldd_out == *"not a dynamic"* ]] ||
	skip "$busybox is not statically linked (install busybox-static)"

if [ -n "${DEMI_VM_CACHE:-}" ]; then
	cache=$DEMI_VM_CACHE
elif [ "$(id -u)" = 0 ]; then
	cache=/var/cache/libdemikernel/rdma-vm
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/libdemikernel/rdma-vm
fi
kpkg=${DEMI_VM_KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')}
[ -n "$kpkg" ] || skip "apt knows no linux-image-amd64 package (not Debian, or no apt lists)"
kver=${kpkg#linux-image-}
kdir=$cache/$kver

# Step 1 and 2, once per kernel version; a lock keeps parallel runs from building it twice.
build_kernel() {
	local tmp root init mods
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	root=$tmp/root
	init=$tmp/initramfs
	(cd "$tmp" && apt-get download -qq "$kpkg" >/dev/null 2>&1) ||
		{ rm -rf "$tmp"; return 1; }
	dpkg-deb -x "$tmp"/"$kpkg"_*.deb "$root"
	rm -f "$tmp"/*.deb
	depmod -b "$root" "$kver"
	# The bzImage holds an xz-compressed ELF: unpack it for a PVH boot (plain bzImage if not).
	local off
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$root/boot/vmlinuz-$kver" | head -1 | cut -d: -f1)
	if [ -n "$off" ]; then
		tail -c +$((off + 1)) "$root/boot/vmlinuz-$kver" | xz -dcq >"$tmp/vmlinux" 2>/dev/null || true
	fi
	head -c 4 "$tmp/vmlinux" 2>/dev/null | grep -q ELF || cp "$root/boot/vmlinuz-$kver" "$tmp/vmlinux"

	mkdir -p "$init"/{bin,sbin,dev,proc,sys,newroot,etc}
	cp "$busybox" "$init/bin/busybox"
	mods="virtio_pci 9pnet_virtio 9p dummy crc32_generic rdma_rxe rdma_ucm ib_uverbs"
	for m in $mods; do
		modprobe -d "$root" -S "$kver" --show-depends "$m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$tmp/insmod.list"
	local f rel
	: >"$init/etc/modules"
	while read -r f; do
		rel=${f#"$root"/}
		mkdir -p "$init/${rel%/*}"
		cp "$f" "$init/$rel"
		echo "/$rel" >>"$init/etc/modules"
	done <"$tmp/insmod.list"
	cat >"$init/init" <<'EOF'
#!/bin/busybox sh
# PID 1 of the RDMA guest (tests/rdma/vm.sh): modules, host root over 9p, soft-RoCE, command.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Modules in dependency order, as modprobe --show-depends listed them on the host.
while read -r m; do insmod "$m" 2>/dev/null; done </etc/modules
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" hostroot /newroot || { echo "DEMI-VM: no 9p root"; poweroff -f; }
for d in proc sys dev; do mount --move /$d /newroot/$d; done
mount -t tmpfs tmpfs /newroot/tmp
mount -t tmpfs tmpfs /newroot/run
shared=$(sed -n 's/.*demi_shared=\([^ ]*\).*/\1/p' /newroot/proc/cmdline)
mkdir -p "/newroot$shared" 2>/dev/null
mount -t 9p -o "$opts" shared "/newroot$shared" || { echo "DEMI-VM: no shared dir"; poweroff -f; }
chroot /newroot /bin/sh -c '
	ip link set lo up && ip link add rdma0 type dummy &&
	ip addr add 192.0.2.1/24 dev rdma0 && ip link set rdma0 up &&
	rdma link add rxe0 type rxe netdev rdma0' || echo "DEMI-VM: soft-RoCE setup failed"
chroot /newroot /usr/bin/env -i HOME=/tmp TMPDIR=/tmp PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	RDMA_DEV=rxe0 RDMA_IP=192.0.2.1 /bin/bash "$shared/.vm/run.sh"
echo "DEMI-VM-EXIT=$?"
sync
umount "/newroot$shared"
poweroff -f
EOF
	chmod +x "$init/init"
	(cd "$init" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initramfs.gz"
	rm -rf "$root" "$init"
	rm -rf "$kdir"
	mv "$tmp" "$kdir"
}

mkdir -p "$cache" 2>/dev/null || skip "cannot create the cache directory $cache"
if [ ! -s "$kdir/initramfs.gz" ] || [ ! -s "$kdir/vmlinux" ]; then
	exec 9>"$cache/.lock"
	flock 9
	if [ ! -s "$kdir/initramfs.gz" ]; then
		echo "vm.sh: preparing kernel $kver in $cache (downloads once)" >&2
		build_kernel || skip "cannot download $kpkg (apt-get download failed: offline?)"
	fi
	flock -u 9
fi
[ $check_only = 1 ] && exit 0

# KVM only with hardware virtualisation: a /dev/kvm without vmx/svm cannot boot this kernel.
if [ -n "${DEMI_VM_ACCEL:-}" ]; then
	accel=(-accel "$DEMI_VM_ACCEL")
elif [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	accel=(-accel kvm -cpu host)
else
	accel=(-accel tcg,thread=multi -cpu max)
fi

# The command, quoted, as a script in the shared directory: no limits of a kernel command line.
mkdir -p "$shared/.vm"
rcfile=$shared/.vm/rc
rm -f "$rcfile"
{
	# Sanitizer and log settings follow the command into the guest (which starts from env -i).
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS DEMI_LOG; do
		[ -n "${!v:-}" ] && echo "export $v=$(printf %q "${!v}")"
	done
	echo "cd $(printf %q "$shared") || exit 125"
	printf '%q ' "$@"
	echo
	echo "rc=\$?; echo \$rc > $(printf %q "$rcfile"); exit \$rc"
} >"$shared/.vm/run.sh"

log=$shared/.vm/console.log
set +e
timeout "${DEMI_VM_TIMEOUT:-900}" qemu-system-x86_64 "${accel[@]}" \
	-smp "${DEMI_VM_SMP:-2}" -m "${DEMI_VM_MEM:-1024}" \
	-display none -serial stdio -monitor none -no-reboot -nic none \
	-kernel "$kdir/vmlinux" -initrd "$kdir/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 tsc=reliable ${DEMI_VM_APPEND:-} demi_shared=$shared" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$shared,mount_tag=shared,security_model=none" \
	</dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log"
qrc=${PIPESTATUS[0]}
set -e
if [ -s "$rcfile" ]; then
	exit "$(cat "$rcfile")"
fi
[ "$qrc" = 124 ] && echo "vm.sh: the guest timed out after ${DEMI_VM_TIMEOUT:-900} s" >&2
echo "vm.sh: the guest ended without a status (qemu exit $qrc); console in $log" >&2
exit 125
