#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job in one command (as root): build, then on this machine start holepuncherd on a
# simulated public network and two ruphin-tund peers behind two simulated NATs, ping across
# the tunnel, move some data, show both sides' status, and clean up.
set -u
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
if [[ $(id -u) -ne 0 ]]; then
    echo "demo: run as root (it creates network namespaces and TUN devices)" >&2
    exit 1
fi

if [[ -t 1 ]]; then
    step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    step() { printf '\n== %s\n' "$*"; }
fi

step "Installing what is missing and building"
bash scripts/deps.sh || exit 1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRUPHIN_TESTS=OFF >build-demo.log 2>&1 &&
    cmake --build build -j2 >>build-demo.log 2>&1 || { cat build-demo.log; exit 1; }
rm -f build-demo.log
echo "built: build/bin/holepuncherd, build/bin/ruphin-tund, build/bin/ruphinctl"

export RUPHIN_BIN=$PWD/build/bin
. tests/e2e/lib.sh
. tests/e2e/tun_lib.sh
TUN_KEEPALIVE=10 TUN_PEER_TIMEOUT=30
topo_trap
step "Building the network: a public segment 203.0.113.0/24 and two home NATs"
topo_up 2 || e2e_die "could not build the test network"
cat <<TXT
  holepuncherd     203.0.113.10  (public)
  NAT 1            203.0.113.1   <- peer 1 (192.168.101.2): ruphin-tund server, overlay 10.77.0.1
  NAT 2            203.0.113.2   <- peer 2 (192.168.102.2): ruphin-tund client, overlay 10.77.0.2
  Each NAT masquerades and drops unsolicited inbound UDP, like a home router.
TXT

step "Starting holepuncherd and the two peers"
tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "the server peer did not start"
t0=$(date +%s%N)
tun_start_peer 2 client || e2e_die "the client peer did not start"
tun_wait_up 2 1 10 || e2e_die "the peers did not connect"
wait_for "topo_run $NS_PEER2 ping -c1 -W1 10.77.0.1 >/dev/null" 5 || e2e_die "no ping across"
t1=$(date +%s%N)
show() { sed -E 's/^[0-9:.]+ //' "$1" | grep -vE 'sealing is off' | sed "s/^/  $2 /"; }
show "$TOPO_DIR/hpd.log" "[holepuncherd]"
show "$TOPO_DIR/peer1.log" "[peer 1]"
show "$TOPO_DIR/peer2.log" "[peer 2]"
printf '  client start -> first ping answered across both NATs: %d ms\n' $(((t1 - t0) / 1000000))

step "Ping across the tunnel (peer 2 -> 10.77.0.1, peer 1 -> fd77::2)"
topo_run "$NS_PEER2" ping -c 5 -i 0.2 10.77.0.1 | tail -2 | sed 's/^/  /'
topo_run "$NS_PEER1" ping -c 3 -i 0.2 fd77::2 | tail -2 | sed 's/^/  /'

step "Moving 20 MB over TCP through the tunnel (peer 2 -> peer 1), checked with sha256"
if r=$(tun_transfer 2 1 20); then
    read -r mb secs <<<"$r"
    awk -v m="$mb" -v s="$secs" 'BEGIN { printf "  %d MB in %.2f s = %.0f Mbit/s, sha256 identical at both ends\n", m, s, m * 8 * 1.048576 / s }'
else
    e2e_die "the transfer failed"
fi

step "ruphinctl status on peer 1 (server)"
"$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer1.sock" status | sed 's/^/  /'
step "ruphinctl status on peer 2 (client)"
"$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer2.sock" status | sed 's/^/  /'

step "Cleaning up"
topo_down
echo "  stopped the daemons, removed the namespaces. The demo worked."
trap - EXIT
exit 0
