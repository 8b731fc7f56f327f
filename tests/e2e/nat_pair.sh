#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One pair of the NAT matrix (tests/e2e/test_nat_matrix.sh runs it, several at a time): builds
# its own test bed, runs holepuncherd, a sealed server and client, and writes one result line.
#
#   bash tests/e2e/nat_pair.sh SERVER_KIND CLIENT_KIND RESULT_FILE
#
# Kinds are nat_lib.sh's; CLIENT_KIND "same-router" puts the client on the server's LAN;
# SERVER_KIND "KIND+fwd" gives the server's router a UDP port forward to it (port 7701); "KIND+pmp"
# (either side) makes that router answer NAT-PMP, so the daemon gets a port mapping. Env:
# NATM_DEADLINE (s to connect, default 20), NATM_MB (transfer size, default 2), NATM_DELAY1 and
# NATM_DELAY2 ("OUT[/IN]" ms on the server's and the client's uplink, default none),
# NATM_FORWARD1 (a UDP port the server's router forwards to the server, which listens on it),
# NATM_RELAY (1, default: holepuncherd relays; 0: it does not), NATM_DIRECT_WAIT (s a relayed
# pair is given to find its direct path after the first ping, default 8), NATM_LOGS (N: the
# daemons' last N log lines into the output even when the pair connects).
# RESULT_FILE gets one tab-separated line:
#   server client status path first_ping_s direct_s transfer note
# (note of a connected pair: "endpoint E; sockets S/C", the families of the server's and the
# client's UDP socket: ipv4, ipv6 or ipv4+ipv6)
# path: "direct" (direct from the start), "relayed" (the relay all along), "relayed, then direct",
# a direct one followed by its kind from the status (IPv4, IPv6, LAN);
# direct_s: when the client's path became direct ("-": never within NATM_DIRECT_WAIT).
# status: connected, no-path (nothing crossed within the deadline) or error (the bed or a daemon
# failed: not a statement about the NATs). Times are seconds from the client's start, "-" if never.
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tun_lib.sh
. "$(dirname "$0")/tun_lib.sh"

S_KIND=${1:?server kind} C_KIND=${2:?client kind} RESULT=${3:?result file}
DEADLINE=${NATM_DEADLINE:-20}
if [[ $S_KIND == *+fwd ]]; then NATM_FORWARD1=${NATM_FORWARD1:-7701}; fi
S_SITE=${S_KIND%+fwd}
# "KIND+pmp" (either side): that router answers NAT-PMP (nat_lib.sh nat_pmp), and the daemon
# there asks it for a port mapping, which it offers its peer as a candidate.
S_SITE=${S_SITE%+pmp} C_SITE=${C_KIND%+pmp}
MB=${NATM_MB:-2}

result() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$S_KIND" "$C_KIND" "$@" >"$RESULT"
}

# error MSG: the bed or a daemon failed; show why (this script's output is the pair's log).
error() {
    result error - - - - "$1"
    printf 'nat_pair: %s\n' "$1" >&2
    topo_dump_logs 20
    exit 1
}

e2e_require_root
topo_trap
# shellcheck disable=SC2153 # HP_IP6 comes from nat_lib.sh
T_BED=$EPOCHREALTIME
nat_up || error "test bed: hp"
nat_site 1 "$S_SITE" || error "test bed: server site ($S_SITE)"
if [[ $C_KIND == same-router ]]; then
    nat_join 1 2 || error "test bed: client on the server's LAN"
else
    nat_site 2 "$C_SITE" || error "test bed: client site ($C_SITE)"
fi
nat_ready || error "test bed: a host cannot reach hp"
# NATM_FORWARD1=PORT: the server's router forwards UDP PORT to it, and the server uses that port.
if [[ -n ${NATM_FORWARD1:-} ]]; then
    nat_forward 1 "$NATM_FORWARD1" || error "port forward on the server's router"
fi
if [[ $S_KIND == *+pmp ]]; then nat_pmp 1 || error "NAT-PMP on the server's router"; fi
if [[ $C_KIND == *+pmp ]]; then nat_pmp 2 || error "NAT-PMP on the client's router"; fi
for k in 1 2; do
    d=NATM_DELAY$k
    [[ -n ${!d:-} && -n ${NAT_UPLINK_NS[$k]:-} ]] || continue
    nat_delay "$k" "${!d%%/*}" "${!d#*/}" || error "uplink delay of site $k"
done

T_DAEMONS=$EPOCHREALTIME
cat >"$TOPO_DIR/hpd.json" <<JSON
{"listen": ["$HP_IP:7700", "[$HP_IP6]:7700"], "session_ttl": 60, "max_sessions": 100, "log_level": "$TUN_LOG_LEVEL",
 "relay": {"enabled": $([[ ${NATM_RELAY:-1} == 1 ]] && echo true || echo false)}}
JSON
topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" || error "holepuncherd"
wait_for "grep -q 'listening on' '$TOPO_DIR/hpd.log'" 10 || error "holepuncherd did not listen"

# Each peer reaches the holepuncher over its own underlay's family.
for k in 1 2; do
    hp=$HP_IP
    [[ ${NAT_HOST_IP[$k]} == *:* ]] && hp=[$HP_IP6]
    extra=
    [[ $k == 1 && -n ${NATM_FORWARD1:-} ]] && extra=", \"port\": $NATM_FORWARD1"
    HP_IP=$hp tun_write_peer_config "$k" "$([[ $k == 1 ]] && echo server || echo client)" "$TOPO_DIR/peer$k.json" "$extra"
done
tun_start_peer 1 server || error "server peer did not start"
# Give the server its registration before the client starts, so the clock below is the client's.
wait_for "tun_status 1 | jq -e '.holepuncher.state == \"registered\"'" 10 ||
    printf 'nat_pair: the server did not report "registered" (state: %s)\n' \
        "$(tun_status 1 2>/dev/null | jq -r .holepuncher.state)" >&2

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(now)
# Spawned here rather than by tun_start_peer, whose 0.1 s polls would delay the pinger: the
# pinger starts the moment the client's interface has its address (ping needs the route), and
# then sends one echo request every 0.01 s until the first reply, so the first ping is measured
# to 10 ms; -D stamps the reply with the time.
topo_spawn peer2 "$NS_PEER2" "$TOPO_DIR/peer2.log" "$RUPHIN_BIN/ruphin-tund" -c "$TOPO_DIR/peer2.json" ||
    error "client peer did not start"
for ((i = 0; i < 500; i++)); do
    ip -n "$NS_PEER2" -4 addr show dev rph0 2>/dev/null | grep -q 'inet 10\.77\.0\.2/' && break
    topo_alive peer2 || error "client peer exited: $(tail -n 1 "$TOPO_DIR/peer2.log")"
    sleep 0.01
done
topo_spawn pinger "$NS_PEER2" "$TOPO_DIR/ping.log" ping -n -D -c 1 -i 0.01 -W 1 -w "$DEADLINE" 10.77.0.1 ||
    error "ping did not start"

t_up=- t_ping=- polls=0
end=$(awk -v a="$t0" -v d="$DEADLINE" 'BEGIN { printf "%d", a + d }')
# log_time RE: when the client first logged a line matching the sed RE (to the millisecond).
log_time() {
    local hms stamp
    hms=$(sed -n "s/^\([0-9:.]*\) $1.*/\1/p" "$TOPO_DIR/peer2.log" | head -n 1)
    [[ -n $hms ]] && stamp=$(date -d "$(date -d "@${t0%.*}" +%F) $hms" +%s.%N 2>/dev/null) &&
        since "$t0" "$stamp"
}
# up_in_log: the client logged its peer up ("peer ADDR up ...").
up_in_log() { log_time '.* peer .* up\b'; }
while :; do
    # The log is cheap to read; the status (a ruphinctl run) is asked twice a second, in case the
    # handshake work changes the log line.
    if [[ $t_up == - ]]; then
        if t=$(up_in_log); then
            t_up=$t
        elif ((polls++ % 5 == 0)) && [[ $(tun_peers_up 2) -ge 1 ]]; then
            t_up=$(since "$t0" "$(now)")
        fi
    fi
    if [[ $t_ping == - ]] && ! topo_alive pinger; then
        stamp=$(sed -n 's/^\[\([0-9.]*\)\] .*bytes from.*/\1/p' "$TOPO_DIR/ping.log" | head -n 1)
        [[ -n $stamp ]] && t_ping=$(since "$t0" "$stamp")
        [[ -z $stamp ]] && t_ping=never
    fi
    [[ $t_up != - && $t_ping != - ]] && break
    (($(date +%s) > end)) && break
    sleep 0.2
done
[[ $t_ping == never ]] && t_ping=-

T_WAITED=$EPOCHREALTIME
# phases: where a pair's time goes, in its log (the matrix shows it for the slow ones).
phases() {
    printf 'nat_pair: bed %s s, daemons %s s, connecting %s s%s\n' "$(since "$T_BED" "$T_DAEMONS")" \
        "$(since "$T_DAEMONS" "$t0")" "$(since "$t0" "$T_WAITED")" "${1:-}" >&2
}
st=$(tun_status 2 2>/dev/null)
state=$(jq -r '[.peers[]?.state] | if length == 0 then "no peer" else join(",") end' <<<"$st" 2>/dev/null)
hpstate=$(jq -r '.holepuncher.state // "?"' <<<"$st" 2>/dev/null)
if [[ $t_up == - || $t_ping == - ]]; then
    result no-path - - "$t_up" - "client after ${DEADLINE}s: peer ${state:-?}, holepuncher $hpstate"
    phases
    printf -- '--- what the client shows (ruphinctl status) ---\n'
    "$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer2.sock" status 2>&1
    topo_dump_logs 8
    nat_stop_all
    exit 0
fi
# The path: a pair whose client never logged "path relayed" was direct from the start (up is
# direct up); a relayed one is given NATM_DIRECT_WAIT more seconds to find its direct path.
t_rel=$(log_time '.* peer .* path relayed') || t_rel=
t_direct=-
if [[ -z $t_rel ]]; then
    path=$(jq -r '.peers[0].path // "direct"' <<<"$st")
    [[ $path == direct ]] && t_direct=$t_up
else
    path=relayed
    wend=$(($(date +%s) + ${NATM_DIRECT_WAIT:-8}))
    while (($(date +%s) <= wend)); do
        if t=$(log_time '.* peer .* path direct'); then
            t_direct=$t
            path="relayed, then direct"
            break
        fi
        sleep 0.3
    done
fi
T_WAITED=$EPOCHREALTIME
if r=$(tun_transfer 2 1 "$MB"); then
    read -r _mb secs <<<"$r"
    xfer="${MB} MB ok ${secs}s"
else
    xfer="${MB} MB FAILED"
    topo_dump_logs 8
fi
phases ", transfer $(since "$T_WAITED" "$EPOCHREALTIME") s"
# The path the transfer ended on, if it changed meanwhile (a direct path found late, or lost).
end_path=$(tun_status 2 2>/dev/null | jq -r '.peers[0].path // "?"')
[[ $path == relayed && $end_path == direct ]] && path="relayed, then direct" &&
    t_direct=$(log_time '.* peer .* path direct' || echo "?")
[[ $path == direct && $end_path == relayed ]] && path="direct, then relayed"
# Which direct path the client ended on (status path_kind): IPv4, IPv6 or the LAN.
case $(tun_status 2 2>/dev/null | jq -r '.peers[0].path_kind // ""') in
direct-ipv4) [[ $path == *direct ]] && path+=" (IPv4)" ;;
direct-ipv6) [[ $path == *direct ]] && path+=" (IPv6)" ;;
direct-lan) [[ $path == *direct ]] && path+=" (LAN)" ;;
direct-mapped) [[ $path == *direct ]] && path+=" (port mapping)" ;;
esac
# The underlay families of each daemon's socket (dual stack only with global IPv6 at start).
fams=$(tun_status 1 2>/dev/null | jq -r '.listen_families // "?"')/$(jq -r '.listen_families // "?"' <<<"$st")
result connected "$path" "$t_ping" "$t_direct" "$xfer" "endpoint $(jq -r '.peers[0].endpoint' <<<"$st"); sockets $fams"
# NATM_LOGS=N: the daemons' last N log lines in the pair's log (with NATM_KEEP=1, to look at).
[[ -n ${NATM_LOGS:-} ]] && topo_dump_logs "$NATM_LOGS"
nat_stop_all
exit 0
