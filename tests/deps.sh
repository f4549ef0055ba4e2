#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what building and testing libdemikernel needs on Debian 12, as root. Packages
# already present are not touched, so a second run costs a second.
set -euo pipefail
pkgs=(gcc g++ meson ninja-build pkg-config libyaml-dev libcmocka-dev liburing-dev
      libclang-rt-14-dev util-linux iproute2 python3 libdpdk-dev ethtool nftables bc iperf3 clang-format
      rdma-core libibverbs-dev librdmacm-dev ibverbs-utils rdmacm-utils perftest
      qemu-system-x86 busybox-static cpio kmod xz-utils
      redis-server redis-tools tcl memcached libmemcached-tools libevent-dev libjemalloc-dev tshark
      python3-scapy)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${missing[*]}; run as root (or install them) first" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
