#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# NAT test bed for e2e tests, the demo and benchmarks: netns hosts behind Linux NATs, plus assertions.
#
# Source it, then:
#
#   . "$(dirname "$0")/lib.sh"
#   e2e_require_root
#   topo_trap                      # tear down on EXIT/INT/TERM, whatever happens
#   topo_up 2                      # hp + nat1/peer1 + nat2/peer2
#   topo_spawn hpd "$NS_HP" "$TOPO_DIR/hpd.log" "$RUPHIN_BIN/holepuncherd" ...
#   if wait_for "topo_run $NS_PEER1 ping -c1 -W1 $HP_IP" 5; then e2e_pass "ping"; else e2e_fail "ping"; fi
#   e2e_finish                     # prints the summary, exits 0 or 1
#
# Topology (N = 2 or 3):
#
#   NS_HP   eth0 203.0.113.10/24 ----+
#                                    |  bridge br0 in NS_PUB (the "internet")
#   NS_NATk wan  203.0.113.k/24  ----+
#           lan  192.168.10k.1/24 ---- NS_PEERk eth0 192.168.10k.2/24, default via .1
#
# Each NAT: masquerade on wan (Linux keeps the source port when it is free, so
# the mapping is endpoint independent), forward filter that only lets
# established/related traffic in from wan, and an input rule dropping new UDP
# on wan, as home routers do: without it an early punch packet creates a
# conntrack entry on the NAT itself, the peer's own outgoing packet then clashes
# with it and gets a different source port, and punching fails.

# Not `set -e` here: the caller chooses. Every function copes with -e/-u/pipefail.
# The variables below are for the tests that source this file.
# shellcheck disable=SC2034

TOPO_PREFIX=${TOPO_PREFIX:-rph$$}
TOPO_N=0
TOPO_DIR= # made by topo_up (or the first topo_spawn): logs, process records
TOPO_HP_IF=eth0
TOPO_PEER_IF=eth0
TOPO_NAT_WAN_IF=wan
TOPO_NAT_LAN_IF=lan
PUB_NET=203.0.113.0/24
HP_IP=203.0.113.10
NS_HP=${TOPO_PREFIX}hp
NS_PUB=${TOPO_PREFIX}pub
E2E_PASSES=0
E2E_FAILURES=0
E2E_NAME=${E2E_NAME:-$(basename -- "${0:-e2e}" .sh)}

# The repo root and the binaries under test (scripts/test.sh sets RUPHIN_BIN).
E2E_REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
RUPHIN_BIN=${RUPHIN_BIN:-$E2E_REPO/build/bin}
case $RUPHIN_BIN in /*) ;; *) RUPHIN_BIN=$PWD/$RUPHIN_BIN ;; esac
# TOPO_PREFIX and TOPO_DIR are not exported: a script started from a test that
# sources this file again gets its own namespaces and never tears down ours.
export RUPHIN_BIN

for _k in 1 2 3; do
    printf -v "NS_NAT$_k" '%snat%s' "$TOPO_PREFIX" "$_k"
    printf -v "NS_PEER$_k" '%speer%s' "$TOPO_PREFIX" "$_k"
    printf -v "NAT${_k}_IP" '203.0.113.%s' "$_k"
    printf -v "NAT${_k}_LAN_IP" '192.168.10%s.1' "$_k"
    printf -v "PEER${_k}_IP" '192.168.10%s.2' "$_k"
    printf -v "LAN${_k}_NET" '192.168.10%s.0/24' "$_k"
done
unset _k

# ---------------------------------------------------------------- assertions

# Result lines go to the test's stdout as it was when this file was sourced, so
# they show even when printed under a redirection (e2e_check ... >/dev/null, a trap).
exec {E2E_OUT}>&1

e2e_pass() {
    E2E_PASSES=$((E2E_PASSES + 1))
    printf 'PASS: %s\n' "$*" >&"$E2E_OUT"
}

e2e_fail() {
    E2E_FAILURES=$((E2E_FAILURES + 1))
    printf 'FAIL: %s\n' "$*" >&"$E2E_OUT"
}

# e2e_check MSG CMD...: run CMD, pass or fail with MSG.
e2e_check() {
    local msg=$1
    shift
    if "$@"; then e2e_pass "$msg"; else e2e_fail "$msg"; fi
}

# e2e_die MSG: fail and stop the test (the EXIT trap tears down).
e2e_die() {
    e2e_fail "$*"
    exit 1
}

e2e_info() { printf '  .. %s\n' "$*" >&"$E2E_OUT"; }

# e2e_finish: one summary line, exit 0 if everything passed (and something ran).
e2e_finish() {
    printf '%s: %d checks passed, %d failed\n' "$E2E_NAME" "$E2E_PASSES" "$E2E_FAILURES"
    if ((E2E_FAILURES == 0 && E2E_PASSES > 0)); then exit 0; fi
    exit 1
}

e2e_require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        e2e_fail "$E2E_NAME: needs root (network namespaces, nftables); run as root"
        exit 1
    fi
}

# e2e_require_cmd CMD...: fail clearly when a tool is missing (scripts/deps.sh --test installs them).
e2e_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || e2e_die "missing tool '$c' (run scripts/deps.sh --test)"
    done
}

# e2e_require_bin NAME...: fail the test clearly unless $RUPHIN_BIN/NAME is built.
e2e_require_bin() {
    local b
    for b in "$@"; do
        [[ -x $RUPHIN_BIN/$b ]] || e2e_die "binary $RUPHIN_BIN/$b not found (build first, or set RUPHIN_BIN)"
    done
}

# wait_for CMD [TIMEOUT_S]: poll CMD (a string, eval'd, so functions work) every
# 0.1 s until it succeeds or TIMEOUT_S (default 10) passes. CMD must itself be quick.
wait_for() {
    local cmd=$1 timeout=${2:-10} deadline
    deadline=$((SECONDS + timeout))
    local i max=$((timeout * 10 + 1))
    for ((i = 0; i < max; i++)); do
        if eval "$cmd" >/dev/null 2>&1; then return 0; fi
        ((SECONDS >= deadline)) && break
        sleep 0.1
    done
    eval "$cmd" >/dev/null 2>&1
}

# ---------------------------------------------------------------- namespaces

topo__err() { printf 'topo: %s\n' "$*" >&2; }

# topo__do CMD...: run CMD, report it by name if it fails.
topo__do() {
    "$@" || {
        topo__err "failed: $*"
        return 1
    }
}

topo__dir() {
    if [[ -z $TOPO_DIR || ! -d $TOPO_DIR ]]; then
        TOPO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rph-e2e.XXXXXX") || return 1
        mkdir -p "$TOPO_DIR/procs"
        TOPO__OWN_DIR=1
    fi
}

# topo_ns ROLE [K]: the namespace name of hp, pub, nat K or peer K.
topo_ns() {
    case $1 in
    hp) printf '%s\n' "$NS_HP" ;;
    pub) printf '%s\n' "$NS_PUB" ;;
    nat | peer) printf '%s%s%s\n' "$TOPO_PREFIX" "$1" "$2" ;;
    *) topo__err "topo_ns: unknown role '$1'" && return 1 ;;
    esac
}

# topo_run NS CMD...: run CMD inside namespace NS.
topo_run() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# The namespaces of this run that exist right now.
topo__list() {
    ip netns list 2>/dev/null | awk -v p="$TOPO_PREFIX" '
        { n = $1; if (index(n, p) == 1 && substr(n, length(p) + 1) ~ /^(hp|pub|nat[0-9]+|peer[0-9]+)$/) print n }'
}

# Namespaces left by earlier runs whose script is gone (killed with -9, power
# cut...). Only empty ones are removed: processes in them are not ours to kill.
topo_reap_stale() {
    local ns pid
    while read -r ns; do
        [[ $ns =~ ^rph([0-9]+)(hp|pub|nat[0-9]+|peer[0-9]+)$ ]] || continue
        pid=${BASH_REMATCH[1]}
        [[ $pid == "$$" ]] && continue
        kill -0 "$pid" 2>/dev/null && continue
        [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] || continue
        ip netns del "$ns" 2>/dev/null && topo__err "removed stale namespace $ns"
    done < <(ip netns list 2>/dev/null | awk '{print $1}')
    return 0
}

topo__addns() {
    local ns=$1
    topo__do ip netns add "$ns" || return 1
    topo__do ip -n "$ns" link set lo up
}

# topo__veth NS_A IF_A NS_B IF_B: a veth pair made directly inside the two
# namespaces, so nothing of ours ever appears in the root namespace.
topo__veth() {
    topo__do ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" || return 1
    topo__do ip -n "$1" link set "$2" up || return 1
    topo__do ip -n "$3" link set "$4" up
}

# The NAT's ruleset. MODE: home (default), clash (no input drop: shows the
# conntrack clash that breaks simultaneous open), symmetric (random source
# port per destination: punching is expected to fail).
topo__nat_rules() {
    local mode=$1 masq=masquerade drop_rule
    drop_rule="iifname \"$TOPO_NAT_WAN_IF\" meta l4proto udp ct state new counter drop comment \"unsolicited udp\""
    case $mode in
    home) ;;
    clash) drop_rule='' ;;
    symmetric) masq='masquerade fully-random' ;;
    *)
        topo__err "unknown NAT mode '$mode' (home, clash, symmetric)"
        return 1
        ;;
    esac
    cat <<EOF
table inet rph {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$TOPO_NAT_WAN_IF" $masq
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "$TOPO_NAT_LAN_IF" oifname "$TOPO_NAT_WAN_IF" accept
        iifname "$TOPO_NAT_WAN_IF" counter drop comment "unsolicited inbound"
    }
    chain input {
        type filter hook input priority filter; policy accept;
        $drop_rule
    }
}
EOF
}

# topo_nat_mode K MODE: (re)load NAT K's rules and forget its conntrack state.
topo_nat_mode() {
    local ns rules
    ns=$(topo_ns nat "$1") || return 1
    rules=$(topo__nat_rules "$2") || return 1
    topo__do ip netns exec "$ns" nft flush ruleset || return 1
    printf '%s\n' "$rules" | topo__do ip netns exec "$ns" nft -f - || return 1
    ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
}

# topo_up [N]: build hp, the public bridge and N (1..3, default 2) NAT+peer pairs.
topo_up() {
    local n=${1:-2} k nat peer
    if ! [[ $n =~ ^[1-3]$ ]]; then
        topo__err "topo_up: N must be 1, 2 or 3, got '$n'"
        return 1
    fi
    if [[ $(id -u) -ne 0 ]]; then
        topo__err "topo_up: needs root"
        return 1
    fi
    if [[ -n $(topo__list) ]]; then
        topo__err "topo_up: namespaces with prefix $TOPO_PREFIX already exist (topo_down first)"
        return 1
    fi
    topo__dir || return 1
    [[ ${TOPO_REAP_STALE:-1} == 1 ]] && topo_reap_stale
    TOPO_N=$n

    topo__addns "$NS_PUB" || return 1
    topo__do ip -n "$NS_PUB" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
    topo__do ip -n "$NS_PUB" link set br0 up || return 1

    topo__addns "$NS_HP" || return 1
    topo__veth "$NS_HP" "$TOPO_HP_IF" "$NS_PUB" php || return 1
    topo__do ip -n "$NS_PUB" link set php master br0 || return 1
    topo__do ip -n "$NS_HP" addr add "$HP_IP/24" dev "$TOPO_HP_IF" || return 1

    for ((k = 1; k <= n; k++)); do
        nat=$(topo_ns nat "$k")
        peer=$(topo_ns peer "$k")
        topo__addns "$nat" || return 1
        topo__addns "$peer" || return 1
        topo__veth "$nat" "$TOPO_NAT_WAN_IF" "$NS_PUB" "p$k" || return 1
        topo__do ip -n "$NS_PUB" link set "p$k" master br0 || return 1
        topo__do ip -n "$nat" addr add "203.0.113.$k/24" dev "$TOPO_NAT_WAN_IF" || return 1
        topo__veth "$nat" "$TOPO_NAT_LAN_IF" "$peer" "$TOPO_PEER_IF" || return 1
        topo__do ip -n "$nat" addr add "192.168.10$k.1/24" dev "$TOPO_NAT_LAN_IF" || return 1
        topo__do ip -n "$peer" addr add "192.168.10$k.2/24" dev "$TOPO_PEER_IF" || return 1
        topo__do ip -n "$peer" route add default via "192.168.10$k.1" || return 1
        topo__do ip netns exec "$nat" sysctl -qw net.ipv4.ip_forward=1 || return 1
        topo_nat_mode "$k" home || return 1
    done

    # Links come up asynchronously; wait until every hop answers (bounded).
    for ((k = 1; k <= n; k++)); do
        nat=$(topo_ns nat "$k")
        peer=$(topo_ns peer "$k")
        wait_for "ip netns exec $peer ping -c1 -W1 -q 192.168.10$k.1" 5 ||
            { topo__err "topo_up: peer$k cannot reach nat$k"; return 1; }
        wait_for "ip netns exec $NS_HP ping -c1 -W1 -q 203.0.113.$k" 5 ||
            { topo__err "topo_up: hp cannot reach nat$k"; return 1; }
    done
    return 0
}

# ---------------------------------------------------------------- processes

# /proc start time of PID, so a recycled PID is never mistaken for ours.
topo__starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086 # split the fields on purpose
    set -- $stat
    printf '%s\n' "${20}"
}

# True while PID runs (a zombie we have not reaped counts as gone).
topo__running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# topo_spawn NAME NS LOGFILE CMD...: start CMD in NS in the background, stdout and
# stderr to LOGFILE, and remember it as NAME. Call it from the test's main shell
# (not inside $(...)), so topo_wait can collect the exit status.
topo_spawn() {
    local name=$1 ns=$2 log=$3 pid st
    shift 3
    topo__dir || return 1
    if topo_alive "$name"; then
        topo__err "topo_spawn: '$name' already running (topo_kill it first)"
        return 1
    fi
    ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    st=$(topo__starttime "$pid") || st=0
    printf '%s %s %s %s\n' "$pid" "$st" "$ns" "$log" >"$TOPO_DIR/procs/$name"
    TOPO_PID=$pid
}

# topo_pid NAME: print NAME's PID.
topo_pid() {
    local pid _rest
    read -r pid _rest 2>/dev/null <"$TOPO_DIR/procs/$1" || return 1
    printf '%s\n' "$pid"
}

# topo_alive NAME: true while NAME runs.
topo_alive() {
    local pid st _rest
    read -r pid st _rest 2>/dev/null <"$TOPO_DIR/procs/$1" || return 1
    topo__running "$pid" && [[ $(topo__starttime "$pid") == "$st" ]]
}

# topo_log NAME: print NAME's log file path.
topo_log() {
    local _pid _st _ns log
    read -r _pid _st _ns log 2>/dev/null <"$TOPO_DIR/procs/$1" || return 1
    printf '%s\n' "$log"
}

# topo_wait NAME [TIMEOUT_S]: wait (bounded, default 10 s) for NAME to exit;
# returns its exit status, or 124 if it is still running. NAME stays listed
# (its log is shown if the test fails) until topo_kill or topo_down.
topo_wait() {
    local name=$1 timeout=${2:-10} pid rc=0 i
    pid=$(topo_pid "$name") || return 1
    for ((i = 0; i < timeout * 10; i++)); do
        topo_alive "$name" || break
        sleep 0.1
    done
    topo_alive "$name" && return 124
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# topo__stop PID STARTTIME: TERM, up to 3 s grace, then KILL; only if it is still ours.
topo__stop() {
    local pid=$1 st=$2 i
    [[ $(topo__starttime "$pid") == "$st" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        topo__running "$pid" || break
        sleep 0.1
    done
    if topo__running "$pid" && [[ $(topo__starttime "$pid") == "$st" ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# topo_kill NAME: stop NAME (if it still runs) and forget it.
topo_kill() {
    local f=$TOPO_DIR/procs/$1 pid st _rest
    [[ -n $TOPO_DIR && -e $f ]] || return 0
    read -r pid st _rest <"$f" || true
    [[ -n $pid ]] && topo__stop "$pid" "$st"
    rm -f "$f"
}

# topo_dump_logs [LINES]: the tail of every spawned process's log.
topo_dump_logs() {
    local lines=${1:-30} f name _pid _st _ns log
    [[ -n $TOPO_DIR && -d $TOPO_DIR/procs ]] || return 0
    for f in "$TOPO_DIR"/procs/*; do
        [[ -e $f ]] || continue
        name=${f##*/}
        read -r _pid _st _ns log <"$f" || continue
        [[ -s $log ]] || continue
        printf -- '--- %s (%s), last %s lines ---\n' "$name" "$log" "$lines"
        tail -n "$lines" -- "$log"
    done
}

# ---------------------------------------------------------------- teardown

# topo_down: stop our processes, remove our namespaces. Idempotent; safe at any point.
topo_down() {
    local f ns pid st pids _rest i
    if [[ -n $TOPO_DIR && -d $TOPO_DIR/procs ]]; then
        ((E2E_FAILURES > 0)) && [[ ${TOPO_DUMP_LOGS:-1} == 1 ]] && topo_dump_logs 30
        for f in "$TOPO_DIR"/procs/*; do
            [[ -e $f ]] || continue
            read -r pid st _rest <"$f" || true
            [[ -n $pid ]] && topo__stop "$pid" "$st"
            rm -f "$f"
        done
    fi
    # Anything else still inside our namespaces was started by this test
    # (children of spawned processes, `topo_run ... &`): stop it by PID.
    for ns in $(topo__list); do
        pids=$(ip netns pids "$ns" 2>/dev/null | grep -vx -e "$$" -e "${BASHPID:-$$}") || true
        if [[ -n $pids ]]; then
            # shellcheck disable=SC2086 # one PID per word
            kill -TERM $pids 2>/dev/null || true
            for ((i = 0; i < 20; i++)); do
                [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
                sleep 0.1
            done
            pids=$(ip netns pids "$ns" 2>/dev/null | grep -vx -e "$$" -e "${BASHPID:-$$}") || true
            # shellcheck disable=SC2086
            [[ -n $pids ]] && { kill -KILL $pids 2>/dev/null || true; }
        fi
    done
    for ns in $(topo__list); do
        ip netns del "$ns" 2>/dev/null || topo__err "could not delete namespace $ns"
    done
    if [[ ${TOPO__OWN_DIR:-0} == 1 && ${TOPO_KEEP_LOGS:-0} != 1 && -n $TOPO_DIR ]]; then
        rm -rf -- "$TOPO_DIR"
        TOPO_DIR=
        TOPO__OWN_DIR=0
    elif [[ -n $TOPO_DIR && -d $TOPO_DIR ]]; then
        topo__err "logs kept in $TOPO_DIR"
    fi
    TOPO_N=0
    return 0
}

topo__on_exit() {
    local rc=$?
    # A second Ctrl-C must not cut the teardown short (it is bounded: a few seconds).
    trap '' INT TERM HUP
    trap - EXIT
    topo_down
    # A test that recorded a failure never exits 0, even if it forgot e2e_finish.
    ((rc == 0 && E2E_FAILURES > 0)) && rc=1
    exit "$rc"
}

topo__on_signal() {
    e2e_fail "$E2E_NAME: interrupted by SIG$1"
    exit "$2"
}

# topo_trap: tear everything down on exit, Ctrl-C or kill, whatever the test was doing.
topo_trap() {
    trap topo__on_exit EXIT
    trap 'topo__on_signal INT 130' INT
    trap 'topo__on_signal TERM 143' TERM
    trap 'topo__on_signal HUP 129' HUP
}
