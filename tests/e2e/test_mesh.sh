#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The mesh with 8 members (issue #15): a server and 7 clients behind mixed NAT kinds (one
# symmetric, two behind the same router, carrier-grade, conntrack race, public), sealed, mesh on
# (the default). Every pair pings over the overlay; every client pair whose NATs allow it ends on
# a direct path (the clients' status); a sha256-checked transfer between two clients runs while
# the server daemon is stopped (the mesh outlives its server).
# Env: MESH_DEADLINE (s for all pairs to ping, 40), MESH_DIRECT_WAIT (s for the direct paths, 30).
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd ip nft ping socat sha256sum jq conntrack
topo_trap

DEADLINE=${MESH_DEADLINE:-40}
DIRECT_WAIT=${MESH_DIRECT_WAIT:-30}
N=8
# Member K's site: K is its overlay address 10.77.0.K and its namespace peerK. Peer 1 is the
# server. Peer 6 sits on peer 5's LAN (one router: LAN candidates). Site 4 is carrier-grade,
# whose outer router is nat8 (nat_lib.sh), so site 8 is a public host (no router).
declare -A KIND=([1]=port-restricted [2]=symmetric [3]=public [4]=carrier [5]=port-restricted
    [6]=same-router [7]=conntrack-race [8]=public)

# can_direct A B: whether members A and B (clients) can have a direct path, by their NATs: the
# pairs test_nat_matrix.sh lists as RELAYED_LIKELY cannot (a symmetric NAT against one that
# filters by endpoint, the conntrack race against a filtering NAT).
can_direct() {
    local a=${KIND[$1]} b=${KIND[$2]}
    [[ $a == same-router ]] && a="port-restricted"
    [[ $b == same-router ]] && b="port-restricted"
    local p="$a:$b" q="$b:$a"
    case " $p $q " in
    *" symmetric:port-restricted "* | *" symmetric:carrier "* | *" symmetric:conntrack-race "* | \
        *" symmetric:symmetric "* | *" conntrack-race:port-restricted "* | \
        *" conntrack-race:carrier "* | *" conntrack-race:conntrack-race "*) return 1 ;;
    esac
    return 0
}

T0=$SECONDS
nat_up || e2e_die "test bed: hp"
for k in 1 2 3 4 5 7 8; do nat_site "$k" "${KIND[$k]}" || e2e_die "test bed: site $k (${KIND[$k]})"; done
nat_join 5 6 || e2e_die "test bed: peer6 on peer5's LAN"
nat_ready || e2e_die "test bed: a host cannot reach hp"
e2e_pass "test bed: 8 hosts ($(for k in $(seq 1 $N); do printf '%s ' "${KIND[$k]}"; done)) in $((SECONDS - T0)) s"

tun_start_hpd_relay || e2e_die "holepuncherd"
tun_start_peer 1 server || e2e_die "server did not start"
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 || e2e_die "server did not register"
for k in $(seq 2 $N); do tun_start_peer "$k" client || e2e_die "client $k did not start"; done
T_START=$EPOCHREALTIME

# ---- every pair pings (one direction each; 28 pairs), all in parallel
# shellcheck disable=SC2317 # called through wait_for
all_ping() {
    local a b p pids=()
    for ((a = 1; a <= N; a++)); do
        for ((b = a + 1; b <= N; b++)); do
            [[ -e $TOPO_DIR/ok.$a.$b ]] && continue
            (tun_ping "$a" "10.77.0.$b" 1 && : >"$TOPO_DIR/ok.$a.$b") &
            pids+=($!)
        done
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    for ((a = 1; a <= N; a++)); do
        for ((b = a + 1; b <= N; b++)); do [[ -e $TOPO_DIR/ok.$a.$b ]] || return 1; done
    done
}
if wait_for all_ping "$DEADLINE"; then
    e2e_pass "all 28 pairs ping, $(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after the last start"
else
    for ((a = 1; a <= N; a++)); do
        for ((b = a + 1; b <= N; b++)); do
            [[ -e $TOPO_DIR/ok.$a.$b ]] || e2e_fail "no ping $a -> $b (${KIND[$a]} -> ${KIND[$b]}) in $DEADLINE s"
        done
    done
fi

# mesh_path A B: "PATH PATH_KIND" of client A's peer that is member (or server) B, 10.77.0.B
# ("direct direct-ipv4", "direct direct-lan", "via-server via-server", ...), "none" without one.
mesh_path() {
    tun_status "$1" 2>/dev/null | jq -r --arg ip "10.77.0.$2" '
        [.peers[] | select(.overlay == $ip) | "\(.path) \(.path_kind)"] | .[0] // "none"'
}
is_direct() { [[ $(mesh_path "$1" "$2") == "direct "* ]]; }

# ---- the pairs that can be direct are, seen from both ends
want=()
for ((a = 2; a <= N; a++)); do
    for ((b = a + 1; b <= N; b++)); do can_direct "$a" "$b" && want+=("$a:$b"); done
done
# shellcheck disable=SC2317 # called through wait_for
all_direct() {
    local p
    for p in "${want[@]}"; do
        is_direct "${p%:*}" "${p#*:}" && is_direct "${p#*:}" "${p%:*}" || return 1
    done
}
if wait_for all_direct "$DIRECT_WAIT"; then
    e2e_pass "all ${#want[@]} client pairs that can be direct are, $(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after the last start"
else
    for p in "${want[@]}"; do
        a=${p%:*} b=${p#*:}
        if ! is_direct "$a" "$b" || ! is_direct "$b" "$a"; then
            e2e_fail "$a -> $b (${KIND[$a]} -> ${KIND[$b]}): paths $(mesh_path "$a" "$b") / $(mesh_path "$b" "$a"), want direct"
        fi
    done
fi
e2e_check "peer5 and peer6 (one router) talk on their LAN ($(mesh_path 5 6))" test "$(mesh_path 5 6)" = "direct direct-lan"

# ---- the server stops; two clients on a direct path move 4 MiB, checked with sha256
topo_kill peer1
e2e_check "the server daemon stopped" bash -c "! ip -n $(topo_ns peer 1) link show rph0 >/dev/null 2>&1"
if out=$(tun_transfer 3 5 4); then
    e2e_pass "4 MiB public -> port-restricted client with the server stopped, sha256 ok ($out s)"
else
    e2e_fail "transfer peer3 -> peer5 with the server stopped"
fi
e2e_check "... on the direct path ($(mesh_path 3 5))" is_direct 3 5
e2e_info "test ran in $((SECONDS - T0)) s"
((E2E_FAILURES > 0)) && topo_dump_logs 15
e2e_finish
