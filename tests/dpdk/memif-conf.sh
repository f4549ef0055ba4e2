# SPDX-License-Identifier: MIT
#
# Sourced by the scripts that join two catnip processes by net_memif (catnip-memif.sh,
# examples/redis/test-redis-catnip.sh, tests/bench/redis.sh): the catnip configuration of one
# end, without hugepages (--no-huge), its DPDK file prefix unique to this shell ($$).
#
#   memif_conf FILE NAME CORE ROLE IP MAC SOCKET   writes FILE: catnip at IP with MAC on core
#       CORE, memif ROLE (server|client) on the unix socket SOCKET; NAME is the EAL's name and
#       the start of its file prefix.
memif_conf() {
	cat >"$1" <<EOY
libos: catnip
demikernel:
  local_ipv4_addr: $5
dpdk:
  eal_init: ["$2", "-l", "$3", "--no-pci", "--no-telemetry", "--no-huge", "-m", "256",
             "--file-prefix", "$2$$",
             "--vdev=net_memif0,role=$4,id=0,socket=$7,socket-abstract=no,mac=$6"]
EOY
}
