# SPDX-License-Identifier: MIT
#
# Sourced by the scripts that join two catnip processes by net_memif (catnip-memif.sh,
# examples/redis/test-redis-catnip.sh, tests/bench/redis.sh, tests/bench/memcached.sh): the
# catnip configuration of one end, its DPDK file prefix unique to this shell ($$). Tests run
# without hugepages (--no-huge -m 256: nothing to reserve, nothing to give back); benchmarks
# call memif_conf_hugepages first, to run DPDK on 2 MiB hugepages as deployments do.
#
#   memif_conf FILE NAME CORE ROLE IP MAC SOCKET   writes FILE: catnip at IP with MAC on core
#       CORE, memif ROLE (server|client) on the unix socket SOCKET; NAME is the EAL's name and
#       the start of its file prefix.
#   memif_conf_hugepages [PAGES]   makes the following memif_conf files use hugepages
#       (--in-memory: memfd-backed, no hugetlbfs mount needed) when PAGES (default 128: 256 MiB
#       for the two ends) 2 MiB pages are free, reserving the missing ones as root and saying
#       so; else it says why and the files keep --no-huge.
#   memif_conf_release             gives back the pages memif_conf_hugepages reserved (call it
#       at exit).
# memif_conf_nohuge_mb (default 256) is the memory of an end without hugepages.
memif_conf_mem='"--no-huge", "-m", "MB"'
memif_conf_nohuge_mb=256
memif_conf_hp=/sys/kernel/mm/hugepages/hugepages-2048kB
memif_conf_added=0

memif_conf() {
	cat >"$1" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $5
dpdk:
  eal_init: ["$2", "-l", "$3", "--no-pci", "--no-telemetry", ${memif_conf_mem/MB/$memif_conf_nohuge_mb},
             "--file-prefix", "$2$$",
             "--vdev=net_memif0,role=$4,id=0,socket=$7,socket-abstract=no,mac=$6"]
EOY
}

memif_conf_hugepages() {
	local need=${1:-128} free total
	if [ ! -r $memif_conf_hp/free_hugepages ]; then
		echo "hugepages: the kernel has no 2 MiB pages: DPDK runs with --no-huge"
		return
	fi
	free=$(cat $memif_conf_hp/free_hugepages) total=$(cat $memif_conf_hp/nr_hugepages)
	if [ "$free" -lt "$need" ] && [ -w $memif_conf_hp/nr_hugepages ]; then
		echo $((total + need - free)) >$memif_conf_hp/nr_hugepages 2>/dev/null
		memif_conf_added=$(($(cat $memif_conf_hp/nr_hugepages) - total))
		echo "hugepages: $free of $total 2 MiB pages free; reserved $memif_conf_added more" \
			"(given back at exit)"
		free=$(cat $memif_conf_hp/free_hugepages)
	fi
	if [ "$free" -ge "$need" ]; then
		memif_conf_mem='"--in-memory"'
		echo "hugepages: DPDK on 2 MiB hugepages ($free free, --in-memory)"
	else
		echo "hugepages: $free 2 MiB pages free, $need needed, and no more could be reserved:" \
			"DPDK falls back to --no-huge -m $memif_conf_nohuge_mb"
	fi
}

memif_conf_release() {
	[ "$memif_conf_added" -gt 0 ] || return 0
	echo $(($(cat $memif_conf_hp/nr_hugepages) - memif_conf_added)) >$memif_conf_hp/nr_hugepages
	echo "hugepages: gave back the $memif_conf_added pages reserved"
	memif_conf_added=0
}
