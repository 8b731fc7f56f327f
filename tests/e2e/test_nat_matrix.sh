#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The NAT matrix: every pair of NAT kinds (server x client), two machines behind one router and an
# IPv6 underlay, each sealed on its own test bed (tests/e2e/nat_pair.sh, a few at a time); prints
# what connects, the path, the time to the first ping and to direct, and a sha256-checked transfer.
# Env: NATM_JOBS (pairs at a time, 5), NATM_DEADLINE (s to connect, 15), NATM_MB (transfer, 2),
# NATM_ONLY="SERVER:CLIENT ..." (only those pairs), NATM_DELAY1 / NATM_DELAY2 ("OUT[/IN]" ms on
# the server's / client's uplink, through nfq_delay), NATM_KEEP=1 (keep every pair's log).
# NATM_RELAY=0 (holepuncherd without the relay: the pairs that need it may fail), NATM_DIRECT_WAIT
# (s a relayed pair gets to find its direct path, 8), NATM_MUST_DIRECT="SERVER:CLIENT ..." (more
# pairs that fail unless they end direct: test_nat_latency.sh's conntrack-race pairs).
set -u

# Every pair must connect: holepuncherd relays (nat_pair.sh turns the relay on, NATM_RELAY=0
# turns it off to see which pairs connect without it). The lists of pairs allowed to fail are
# empty since the relay (issue 13); they stay for a run without it.
RACE_TODAY=()
NO_PATH_TODAY=()
# The pairs that cannot be direct (a symmetric NAT against a port-restricted or symmetric one,
# the conntrack race): relayed, and given NATM_DIRECT_WAIT to find direct. They
# start first, so no long one is left for the end.
RELAYED_LIKELY=(
    port-restricted:symmetric+same-router port-restricted:conntrack-race port-restricted:symmetric
    conntrack-race:conntrack-race conntrack-race:symmetric
    symmetric:port-restricted symmetric:conntrack-race symmetric:symmetric symmetric:carrier
    carrier:conntrack-race carrier:symmetric symmetric+v6:symmetric symmetric+v6:symmetric+v6
)
# The pairs that must end up direct (issue 14): today's punching, a symmetric NAT against a
# public address (the client probes the port the server's punch came from; a server answers the
# endpoint an init really came from), two hosts behind one router (LAN candidates).
MUST_BE_DIRECT=(port-restricted:port-restricted symmetric:public public:symmetric
    port-restricted:same-router port-restricted+v6:port-restricted+v6
    symmetric+pmp:symmetric symmetric:symmetric+pmp port-restricted:symmetric+pmp)
# The pairs that must end up direct over IPv6: IPv4 would be relayed, and both hosts also have
# IPv6 behind stateful firewalls (IPv6 candidates: probes from both sides open both firewalls).
MUST_BE_DIRECT6=(symmetric+v6:symmetric+v6)
[[ -n ${NATM_MUST_DIRECT:-} ]] && read -r -a _more <<<"$NATM_MUST_DIRECT" && MUST_BE_DIRECT+=("${_more[@]}")
if [[ ${NATM_RELAY:-1} != 1 ]]; then
    # Two hosts behind one router find their LAN path through candidates they send in the
    # session, which starts through the relay: without it they have none.
    NO_PATH_TODAY=("${RELAYED_LIKELY[@]}" port-restricted:same-router)
    RACE_TODAY=(conntrack-race:port-restricted conntrack-race:public conntrack-race:carrier
        public:conntrack-race port-restricted+fwd:conntrack-race)
fi

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nat_lib.sh
. "$(dirname "$0")/nat_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl nfq_delay natpmp_responder
e2e_require_cmd ip nft iptables ping socat sha256sum jq conntrack

# pair_kind KIND: a kind as the table names it.
pair_kind() {
    case $1 in
    symmetric+same-router) echo "symmetric + one on the same router (3 members)" ;;
    *+fwd) echo "${1%+fwd} + UDP port forward" ;;
    *+pmp) echo "${1%+pmp} + NAT-PMP" ;;
    *+v6) echo "${1%+v6} + IPv6 behind a stateful firewall" ;;
    *) echo "$1" ;;
    esac
}

# want_sock KIND: the families a daemon's UDP socket must take at a site of KIND (dual-stack
# pairs only): both with IPv6 on the host, else IPv4 alone.
want_sock() { [[ $1 == *+v6 ]] && echo ipv4+ipv6 || echo ipv4; }

JOBS=${NATM_JOBS:-5}        # pairs at a time (each is mostly waiting: the 15 s deadline)
export NATM_DEADLINE=${NATM_DEADLINE:-15}
export NATM_MB=${NATM_MB:-2}
RELAY_NOTE="no path (needs the relay: NATM_RELAY=0)"

PAIRS=()
for s in "${NAT_KINDS[@]}"; do
    [[ $s == ipv6 || $s == *+v6 ]] && continue
    for c in "${NAT_KINDS[@]}"; do
        [[ $c == ipv6 || $c == *+v6 ]] || PAIRS+=("$s:$c")
    done
done
PAIRS+=(port-restricted:same-router ipv6:ipv6)
# What a user can do today: a UDP port forward on the server's router ("+fwd", nat_lib.sh's
# nat_forward; the server listens on that port) connects the hardest pairs above.
PAIRS+=(symmetric+fwd:symmetric port-restricted+fwd:conntrack-race)
# A router that answers NAT-PMP ("+pmp", nat_lib.sh's nat_pmp): the daemon behind it gets a
# port mapping by itself and offers it to its peer, which reaches it there even through a
# symmetric NAT.
PAIRS+=(symmetric+pmp:symmetric symmetric:symmetric+pmp port-restricted:symmetric+pmp)
# Three members of mixed kinds on one LAN (nat_lan3.sh): a server behind a port-restricted NAT,
# one client behind a symmetric NAT, one on the server's LAN; the clients ping and transfer to
# each other through the server.
PAIRS+=(port-restricted:symmetric+same-router)
# Dual stack ("+v6", nat_lib.sh): IPv4 behind the NAT, IPv6 behind a stateful firewall, the
# holepuncher reached over IPv4. Two symmetric NATs go direct over IPv6 (IPv6 candidates); with
# IPv6 on one side only they stay relayed.
PAIRS+=(symmetric+v6:symmetric+v6 port-restricted+v6:port-restricted+v6 symmetric+v6:symmetric)
# NATM_ONLY="a:b c:d" runs only those pairs (to look at one closely).
[[ -n ${NATM_ONLY:-} ]] && read -r -a PAIRS <<<"$NATM_ONLY"

declare -A no_path_today=() relayed_likely=() must_be_direct=() must_be_direct6=()
[[ ${NATM_RELAY:-1} == 1 ]] && for p in "${MUST_BE_DIRECT[@]}"; do must_be_direct[$p]=1; done
[[ ${NATM_RELAY:-1} == 1 ]] && for p in "${MUST_BE_DIRECT6[@]}"; do must_be_direct6[$p]=1; done
for p in "${NO_PATH_TODAY[@]}"; do no_path_today[$p]=1; done
for p in "${RELAYED_LIKELY[@]}"; do relayed_likely[$p]=1; done
declare -A race_today=()
for p in "${RACE_TODAY[@]}"; do race_today[$p]=1; done

OUT=$(mktemp -d "${TMPDIR:-/tmp}/rph-natm.XXXXXX") || e2e_die "mktemp"
declare -A running=() # PID -> pair index
declare -A began=()   # pair index -> when it started (s)

# Each pair tears its own namespaces down on TERM; wait for them before leaving.
# shellcheck disable=SC2317 # the EXIT trap
matrix_stop() {
    local rc=$? pid
    trap '' INT TERM HUP
    trap - EXIT
    for pid in "${!running[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${!running[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ ${NATM_KEEP:-0} == 1 ]]; then echo "pair logs kept in $OUT"; else rm -rf -- "$OUT"; fi
    ((rc == 0 && E2E_FAILURES > 0)) && rc=1
    exit "$rc"
}
trap matrix_stop EXIT
trap 'e2e_fail "interrupted by SIGINT"; exit 130' INT
trap 'e2e_fail "interrupted by SIGTERM"; exit 143' TERM
trap 'e2e_fail "interrupted by SIGHUP"; exit 129' HUP

# A pair holds a slot until it has written its result; its teardown (a few seconds, longer under
# load) then overlaps the next pair's setup. busy: BUSY = how many pairs are still measuring;
# reaps the ones that have exited, and records how long each took to its result.
declare -A took=() # pair index -> seconds from start to result
busy() {
    local pid i n=0
    for pid in "${!running[@]}"; do
        i=${running[$pid]}
        [[ -z ${took[$i]:-} && -s $OUT/$i.res ]] && took[$i]=$((SECONDS - began[$i]))
        if ! topo__running "$pid"; then
            wait "$pid" 2>/dev/null || true
            unset "running[$pid]"
            [[ -z ${took[$i]:-} ]] && took[$i]=$((SECONDS - began[$i]))
            continue
        fi
        [[ -z ${took[$i]:-} ]] && n=$((n + 1))
    done
    BUSY=$n
}

# The pairs expected to take longest (relayed, waiting for a direct path) start first.
ORDER=()
for i in "${!PAIRS[@]}"; do [[ -n ${relayed_likely[${PAIRS[i]}]:-} ]] && ORDER+=("$i"); done
for i in "${!PAIRS[@]}"; do [[ -z ${relayed_likely[${PAIRS[i]}]:-} ]] && ORDER+=("$i"); done

e2e_info "${#PAIRS[@]} pairs, $JOBS at a time, ${NATM_DEADLINE} s to connect, ${NATM_MB} MB transfers"
start=$SECONDS
for i in "${ORDER[@]}"; do
    while busy && ((BUSY >= JOBS)); do sleep 0.2; done
    if [[ ${PAIRS[i]} == *:symmetric+same-router ]]; then
        bash "$(dirname "$0")/nat_lan3.sh" "$OUT/$i.res" >"$OUT/$i.log" 2>&1 </dev/null &
    else
        bash "$(dirname "$0")/nat_pair.sh" "${PAIRS[i]%%:*}" "${PAIRS[i]#*:}" "$OUT/$i.res" >"$OUT/$i.log" 2>&1 </dev/null &
    fi
    running[$!]=$i
    began[$i]=$SECONDS
done
while busy && ((${#running[@]} > 0)); do sleep 0.2; done
e2e_info "matrix ran in $((SECONDS - start)) s"

rows=()
for i in "${!PAIRS[@]}"; do
    pair=${PAIRS[i]}
    line=
    [[ -s $OUT/$i.res ]] && IFS= read -r line <"$OUT/$i.res"
    IFS=$'\t' read -r s c status path t_ping t_up xfer note <<<"$line"
    s=${pair%%:*} c=${pair#*:}
    status=${status:-error}
    label="$s -> $c (${took[$i]:-?} s)"
    case $status in
    connected)
        if [[ -n ${must_be_direct[$pair]:-} && $path != *direct && $path != *"direct ("* ]]; then
            e2e_fail "$label: ended $path, not direct (MUST_BE_DIRECT)"
        elif [[ -n ${must_be_direct6[$pair]:-} && $path != *"direct (IPv6)" ]]; then
            e2e_fail "$label: ended $path, not direct over IPv6 (MUST_BE_DIRECT6)"
        elif [[ $pair == *+v6* && $note != *"sockets $(want_sock "$s")/$(want_sock "$c")" ]]; then
            e2e_fail "$label: UDP sockets ${note##*sockets } (want $(want_sock "$s")/$(want_sock "$c"): dual stack exactly where the host has IPv6)"
        elif [[ $xfer == *ok* ]]; then
            e2e_pass "$label: $path, first ping ${t_ping} s, direct after ${t_up} s, $xfer$([[ $pair == *+v6* ]] && echo "; sockets ${note##*sockets }")"
        else
            e2e_fail "$label: connected but the transfer failed ($xfer)"
        fi
        [[ -n ${no_path_today[$pair]:-} ]] && e2e_info "NOTE: $label connects although NO_PATH_TODAY lists it"
        ;;
    no-path)
        if [[ -n ${no_path_today[$pair]:-} ]]; then
            e2e_pass "$label: $RELAY_NOTE, as expected today ($note)"
            path=$RELAY_NOTE
        elif [[ -n ${race_today[$pair]:-} ]]; then
            e2e_pass "$label: lost the conntrack race this run, no path (RACE_TODAY; $note)"
            path="no path this run (conntrack race; the relay, issue 13)"
        else
            e2e_fail "$label: no path within ${NATM_DEADLINE} s ($note)"
            path="NO PATH (unexpected)"
        fi
        ;;
    *)
        e2e_fail "$label: the pair did not run (${note:-no result})"
        path="error: ${note:-no result}"
        ;;
    esac
    if [[ $status != connected || $xfer != *ok* ]] &&
        { [[ -z ${no_path_today[$pair]:-}${race_today[$pair]:-} ]] || [[ $status == error ]]; }; then
        printf -- '--- pair %s: its log ---\n' "$label"
        tail -n 40 "$OUT/$i.log"
    fi
    [[ $status == connected ]] || t_ping=- t_up=- xfer=-
    rows+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$(pair_kind "$s")" "$(pair_kind "$c")" "$path" \
        "$([[ $t_ping == - ]] && echo - || echo "$t_ping s")" "$(case $t_up in -) echo "never (${NATM_DIRECT_WAIT:-8} s)" ;; [0-9]*) echo "$t_up s" ;; *) echo "$t_up" ;; esac)" "$xfer")")
done

echo
echo "NAT matrix ($(date -u '+%F %H:%M UTC'); deadline ${NATM_DEADLINE} s, times from the client's start):"
echo
echo "| server NAT | client NAT | path | first ping | direct after | ${NATM_MB} MB transfer |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
e2e_finish
