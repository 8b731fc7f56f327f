#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The NAT-kinds test bed: hp on the public segment and sites behind every kind of NAT, with an
# optional delay on each site's uplink (tests/tools/nfq_delay). Builds on lib.sh's namespaces.
#
#   . tests/e2e/lib.sh; . tests/e2e/nat_lib.sh
#   topo_trap
#   nat_up                          # NS_PUB (bridge br0) + NS_HP (203.0.113.10, 2001:db8::10)
#   nat_site 1 symmetric            # peer1 behind nat1, masquerading at random ports
#   nat_site 2 carrier              # peer2 behind nat2 (home) behind nat6 (carrier, 100.64.2.0/24)
#   nat_join 1 3                    # peer3 on nat1's LAN too (two machines behind one router)
#   nat_ready                       # wait until every host reaches hp
#   nat_delay 2 30 5                # 30 ms added out of site 2's uplink, 5 ms into it
#
# Site K (1..9) of each kind; peerK is always the host, namespaces keep lib.sh's names so
# topo_down and topo_reap_stale find them:
#   port-restricted  natK wan 203.0.113.K, LAN 192.168.10K.0/24, masquerade keeping ports,
#                    new inbound UDP dropped (lib.sh's "home" rules; today's test bed)
#   conntrack-race   the same without the inbound drop (lib.sh's "clash")
#   symmetric        the same, masquerading at a random port per mapping (lib.sh's "symmetric")
#   public           peerK itself on the public segment, 203.0.113.(20+K), no NAT, no firewall
#   carrier          natK (home, port-restricted) with wan 100.64.K.2 behind nat(K+4) (carrier,
#                    port-restricted) with wan 203.0.113.(K+4) and LAN 100.64.K.0/24 (so no
#                    router site K+4 on the same bed)
#   ipv6             natK a stateful IPv6 firewall (replies in, new inbound dropped), wan
#                    2001:db8::K, LAN 2001:db8:K::/64; peerK has IPv6 only (2001:db8:K::2)
#   KIND+v6          dual stack (KIND port-restricted, conntrack-race or symmetric): natK is that
#                    IPv4 NAT and also the stateful IPv6 firewall of "ipv6" (wan 2001:db8::K, LAN
#                    2001:db8:K::/64); peerK has both, 192.168.10K.2 and 2001:db8:K::2, and
#                    reaches hp over IPv4 (NAT_HOST_IP; NAT_HOST_IP6 has its IPv6 address)
# The LAN of a router is a bridge ("lan"), so nat_join can put more hosts on it (192.168.10K.(10+J)).
# Linux routers do not hairpin, so hosts behind one router reach each other only on the LAN.
# shellcheck disable=SC2034 # variables for the scripts that source this file
# shellcheck disable=SC2153 # HP_IP, NS_* and TOPO_* come from lib.sh

NAT_KINDS=(port-restricted conntrack-race symmetric public carrier ipv6
    port-restricted+v6 conntrack-race+v6 symmetric+v6)
HP_IP6=2001:db8::10
declare -A NAT_SITE_KIND=() # K -> kind
declare -A NAT_UPLINK_NS=() # K -> the namespace whose interface faces the public segment
declare -A NAT_UPLINK_IF=() # K -> that interface
declare -A NAT_HOST_IP=()   # peer K -> its own underlay address
declare -A NAT_HOST_IP6=()  # peer K of a dual-stack site -> its IPv6 address

# nat_up: the public bridge and hp (IPv4 and IPv6). Call once, instead of topo_up.
nat_up() {
    if [[ $(id -u) -ne 0 ]]; then
        topo__err "nat_up: needs root"
        return 1
    fi
    if [[ -n $(topo__list) ]]; then
        topo__err "nat_up: namespaces with prefix $TOPO_PREFIX already exist (topo_down first)"
        return 1
    fi
    topo__dir || return 1
    [[ ${TOPO_REAP_STALE:-1} == 1 ]] && topo_reap_stale
    topo__addns "$NS_PUB" || return 1
    topo__do ip -n "$NS_PUB" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
    topo__do ip -n "$NS_PUB" link set br0 up || return 1
    topo__addns "$NS_HP" || return 1
    topo__veth "$NS_HP" "$TOPO_HP_IF" "$NS_PUB" php || return 1
    topo__do ip -n "$NS_PUB" link set php master br0 || return 1
    topo__do ip -n "$NS_HP" addr add "$HP_IP/24" dev "$TOPO_HP_IF" || return 1
    topo__do ip -n "$NS_HP" addr add "$HP_IP6/64" dev "$TOPO_HP_IF" nodad
}

# nat_down: topo_down, and forget the sites (nat_up may build another bed after it).
nat_down() {
    topo_down
    NAT_SITE_KIND=() NAT_UPLINK_NS=() NAT_UPLINK_IF=() NAT_HOST_IP=() NAT_HOST_IP6=()
}

# nat_stop_all: TERM every process topo_spawn started, all at once, and wait (up to 5 s) until they
# are gone, so topo_down does not stop them one after the other (each sanitizer build takes a
# moment to exit). topo_down still stops stragglers and removes the namespaces.
nat_stop_all() {
    local f pid st _rest pids=() i alive
    [[ -n $TOPO_DIR && -d $TOPO_DIR/procs ]] || return 0
    for f in "$TOPO_DIR"/procs/*; do
        [[ -e $f ]] || continue
        read -r pid st _rest <"$f" || continue
        [[ $(topo__starttime "$pid") == "$st" ]] || continue
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    done
    for ((i = 0; i < 50; i++)); do
        alive=0
        for pid in "${pids[@]}"; do topo__running "$pid" && alive=1 && break; done
        ((alive)) || return 0
        sleep 0.1
    done
}

# nat__addr NS IF ADDR: add ADDR to IF; an IPv6 one usable at once (no duplicate detection).
nat__addr() {
    if [[ $3 == *:* ]]; then
        topo__do ip -n "$1" addr add "$3" dev "$2" nodad
    else
        topo__do ip -n "$1" addr add "$3" dev "$2"
    fi
}

# nat__router_lan NS LAN_ADDR: router NS's LAN, a bridge, and forwarding on.
nat__router_lan() {
    local ns=$1 lan_addr=$2
    topo__do ip -n "$ns" link add "$TOPO_NAT_LAN_IF" type bridge stp_state 0 forward_delay 0 || return 1
    topo__do ip -n "$ns" link set "$TOPO_NAT_LAN_IF" up || return 1
    nat__addr "$ns" "$TOPO_NAT_LAN_IF" "$lan_addr" || return 1
    topo__do ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
    # Hosts on one LAN talk through the bridge, not through the router's firewall (br_netfilter
    # would pass bridged frames through the forward chain, whose policy is drop).
    topo__do ip netns exec "$ns" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
        net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
}

# nat__host_on_lan ROUTER_NS PEER_NS ADDR GW: a new host namespace on the router's LAN bridge.
nat__host_on_lan() {
    local rns=$1 pns=$2 addr=$3 gw=$4 port
    port=l${pns: -1}
    topo__addns "$pns" || return 1
    topo__veth "$rns" "$port" "$pns" "$TOPO_PEER_IF" || return 1
    topo__do ip -n "$rns" link set "$port" master "$TOPO_NAT_LAN_IF" || return 1
    nat__addr "$pns" "$TOPO_PEER_IF" "$addr" || return 1
    topo__do ip -n "$pns" route add default via "$gw"
}

# nat__on_pub NS IF PORT ADDR...: NS's interface IF on the public bridge, bridge port PORT.
nat__on_pub() {
    local ns=$1 ifname=$2 port=$3 a
    shift 3
    topo__veth "$ns" "$ifname" "$NS_PUB" "$port" || return 1
    topo__do ip -n "$NS_PUB" link set "$port" master br0 || return 1
    for a in "$@"; do nat__addr "$ns" "$ifname" "$a" || return 1; done
}

# The IPv6 firewall: the same shape as lib.sh's NAT rules, without translation.
nat__fw6_rules() {
    cat <<EOF
table inet rph {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "$TOPO_NAT_LAN_IF" oifname "$TOPO_NAT_WAN_IF" accept
        iifname "$TOPO_NAT_WAN_IF" counter drop comment "unsolicited inbound"
    }
}
EOF
}

# nat_site K KIND: build site K (1..9) of KIND (one of NAT_KINDS) with host peerK.
nat_site() {
    local k=$1 kind=$2 nat peer cgn other
    [[ $k =~ ^[1-9]$ ]] || { topo__err "nat_site: K must be 1..9, got '$k'"; return 1; }
    nat=$(topo_ns nat "$k")
    peer=$(topo_ns peer "$k")
    case $kind in
    port-restricted | conntrack-race | symmetric)
        topo__addns "$nat" || return 1
        nat__on_pub "$nat" "$TOPO_NAT_WAN_IF" "p$k" "203.0.113.$k/24" || return 1
        nat__router_lan "$nat" "192.168.10$k.1/24" || return 1
        nat__host_on_lan "$nat" "$peer" "192.168.10$k.2/24" "192.168.10$k.1" || return 1
        case $kind in
        port-restricted) topo_nat_mode "$k" home ;;
        conntrack-race) topo_nat_mode "$k" clash ;;
        symmetric) topo_nat_mode "$k" symmetric ;;
        esac || return 1
        NAT_UPLINK_NS[$k]=$nat NAT_UPLINK_IF[$k]=$TOPO_NAT_WAN_IF NAT_HOST_IP[$k]=192.168.10$k.2
        ;;
    public)
        topo__addns "$peer" || return 1
        nat__on_pub "$peer" "$TOPO_PEER_IF" "h$k" "203.0.113.2$k/24" || return 1
        NAT_UPLINK_NS[$k]=$peer NAT_UPLINK_IF[$k]=$TOPO_PEER_IF NAT_HOST_IP[$k]=203.0.113.2$k
        ;;
    carrier)
        cgn=$(topo_ns nat $((k + 4)))
        topo__addns "$cgn" || return 1
        nat__on_pub "$cgn" "$TOPO_NAT_WAN_IF" "p$((k + 4))" "203.0.113.$((k + 4))/24" || return 1
        nat__router_lan "$cgn" "100.64.$k.1/24" || return 1
        topo__addns "$nat" || return 1
        topo__veth "$nat" "$TOPO_NAT_WAN_IF" "$cgn" "l$k" || return 1
        topo__do ip -n "$cgn" link set "l$k" master "$TOPO_NAT_LAN_IF" || return 1
        topo__do ip -n "$nat" addr add "100.64.$k.2/24" dev "$TOPO_NAT_WAN_IF" || return 1
        topo__do ip -n "$nat" route add default via "100.64.$k.1" || return 1
        nat__router_lan "$nat" "192.168.10$k.1/24" || return 1
        nat__host_on_lan "$nat" "$peer" "192.168.10$k.2/24" "192.168.10$k.1" || return 1
        topo_nat_mode "$k" home || return 1
        topo_nat_mode $((k + 4)) home || return 1
        NAT_UPLINK_NS[$k]=$cgn NAT_UPLINK_IF[$k]=$TOPO_NAT_WAN_IF NAT_HOST_IP[$k]=192.168.10$k.2
        ;;
    ipv6)
        topo__addns "$nat" || return 1
        nat__on_pub "$nat" "$TOPO_NAT_WAN_IF" "p$k" "2001:db8::$k/64" || return 1
        nat__router_lan "$nat" "2001:db8:$k::1/64" || return 1
        nat__host_on_lan "$nat" "$peer" "2001:db8:$k::2/64" "2001:db8:$k::1" || return 1
        nat__fw6_rules | topo__do ip netns exec "$nat" nft -f - || return 1
        # The public segment routes each site's prefix to its router, as the internet would.
        topo__do ip -n "$NS_HP" -6 route add "2001:db8:$k::/64" via "2001:db8::$k" || return 1
        nat__routes6 "$k" || return 1
        NAT_UPLINK_NS[$k]=$nat NAT_UPLINK_IF[$k]=$TOPO_NAT_WAN_IF NAT_HOST_IP[$k]=2001:db8:$k::2
        ;;
    port-restricted+v6 | conntrack-race+v6 | symmetric+v6)
        nat_site "$k" "${kind%+v6}" || return 1
        # The same router, LAN and host get IPv6 too. lib.sh's NAT table is "inet": its forward
        # chain already is the stateful firewall for IPv6 (replies in, new inbound dropped),
        # but its masquerade would translate IPv6 too; IPv6 leaves untranslated, as from a
        # home router with a delegated prefix.
        topo__do ip netns exec "$nat" nft insert rule inet rph postrouting meta nfproto ipv6 accept || return 1
        nat__addr "$nat" "$TOPO_NAT_WAN_IF" "2001:db8::$k/64" || return 1
        nat__addr "$nat" "$TOPO_NAT_LAN_IF" "2001:db8:$k::1/64" || return 1
        nat__addr "$peer" "$TOPO_PEER_IF" "2001:db8:$k::2/64" || return 1
        topo__do ip -n "$peer" -6 route add default via "2001:db8:$k::1" || return 1
        topo__do ip -n "$NS_HP" -6 route add "2001:db8:$k::/64" via "2001:db8::$k" || return 1
        nat__routes6 "$k" || return 1
        NAT_HOST_IP6[$k]=2001:db8:$k::2
        ;;
    *)
        topo__err "nat_site: unknown kind '$kind' (${NAT_KINDS[*]})"
        return 1
        ;;
    esac
    NAT_SITE_KIND[$k]=$kind
}

# nat__routes6 K: routes between site K's IPv6 prefix and those of the other IPv6 sites built so
# far (only or dual stack), as the internet would route them.
nat__routes6() {
    local k=$1 other nat
    nat=$(topo_ns nat "$k")
    for other in "${!NAT_SITE_KIND[@]}"; do
        [[ $other != "$k" ]] || continue
        [[ ${NAT_SITE_KIND[$other]} == ipv6 || ${NAT_SITE_KIND[$other]} == *+v6 ]] || continue
        topo__do ip -n "$nat" -6 route add "2001:db8:$other::/64" via "2001:db8::$other" || return 1
        topo__do ip -n "$(topo_ns nat "$other")" -6 route add "2001:db8:$k::/64" via "2001:db8::$k" || return 1
    done
}

# nat_ready: wait (bounded) until every host built so far reaches hp over its underlay's family;
# links come up asynchronously. Call it once the sites are built.
nat_ready() {
    local k hp
    for k in "${!NAT_HOST_IP[@]}"; do
        hp=$HP_IP
        [[ ${NAT_HOST_IP[$k]} == *:* ]] && hp=$HP_IP6
        wait_for "ip netns exec $(topo_ns peer "$k") ping -c1 -W0.3 -q $hp" 5 ||
            { topo__err "nat_ready: peer$k (${NAT_HOST_IP[$k]}) cannot reach hp ($hp)"; return 1; }
    done
    for k in "${!NAT_HOST_IP6[@]}"; do
        wait_for "ip netns exec $(topo_ns peer "$k") ping -c1 -W0.3 -q $HP_IP6" 5 ||
            { topo__err "nat_ready: peer$k (${NAT_HOST_IP6[$k]}) cannot reach hp over IPv6"; return 1; }
    done
}

# nat_join K J: host peerJ (J 1..9) on site K's LAN (an IPv4 NAT kind with a router),
# 192.168.10K.(10+J).
nat_join() {
    local k=$1 j=$2
    case ${NAT_SITE_KIND[$k]:-} in
    port-restricted | conntrack-race | symmetric | carrier) ;;
    *) topo__err "nat_join: site $k has no IPv4 router (kind '${NAT_SITE_KIND[$k]:-none}')"; return 1 ;;
    esac
    nat__host_on_lan "$(topo_ns nat "$k")" "$(topo_ns peer "$j")" "192.168.10$k.1$j/24" "192.168.10$k.1" || return 1
    NAT_HOST_IP[$j]=192.168.10$k.1$j
}

# nat_forward K PORT: a UDP port forward on site K's router, as home routers offer it: inbound
# PORT goes to peerK:PORT, and what peerK sends from PORT leaves from PORT (a static mapping, even
# on a symmetric NAT). Only for a site with one router (port-restricted, conntrack-race, symmetric).
nat_forward() {
    local k=$1 port=$2 ns wan host
    case ${NAT_SITE_KIND[$k]:-} in
    port-restricted | conntrack-race | symmetric) ;;
    *) topo__err "nat_forward: site $k is not behind one router (kind '${NAT_SITE_KIND[$k]:-none}')"; return 1 ;;
    esac
    ns=$(topo_ns nat "$k")
    wan=203.0.113.$k
    host=${NAT_HOST_IP[$k]}
    topo__do ip netns exec "$ns" nft -f - <<RULES || return 1
table ip rphfwd {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "$TOPO_NAT_WAN_IF" udp dport $port dnat to $host:$port
    }
    chain post {
        type nat hook postrouting priority srcnat - 1; policy accept;
        oifname "$TOPO_NAT_WAN_IF" ip saddr $host udp sport $port snat to $wan:$port
    }
}
RULES
    # The NAT's forward chain drops new inbound: let the forwarded port through first.
    topo__do ip netns exec "$ns" nft insert rule inet rph forward ct status dnat accept
}

# nat_pmp K: site K's router answers NAT-PMP on its LAN address (tests/tools/natpmp_responder,
# spawned as "pmpK"): each mapping it grants is an nft map element, inbound DNAT to the host's
# port and outbound SNAT of that host port to the mapped one (the mapping holds both ways, also
# behind a symmetric NAT). Call it after the site's NAT rules are final.
nat_pmp() {
    local k=$1 ns wan
    case ${NAT_SITE_KIND[$k]:-} in
    port-restricted | conntrack-race | symmetric) ;;
    *) topo__err "nat_pmp: site $k is not behind one router (kind '${NAT_SITE_KIND[$k]:-none}')"; return 1 ;;
    esac
    ns=$(topo_ns nat "$k")
    wan=203.0.113.$k
    topo__do ip netns exec "$ns" nft -f - <<RULES || return 1
table ip pmp {
    map in4 { typeof udp dport : ip daddr . udp dport; }
    map out4 { typeof ip saddr . udp sport : ip saddr . udp sport; }
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "$TOPO_NAT_WAN_IF" dnat ip to udp dport map @in4
    }
    chain post {
        type nat hook postrouting priority srcnat - 1; policy accept;
        oifname "$TOPO_NAT_WAN_IF" snat ip to ip saddr . udp sport map @out4
    }
}
RULES
    topo__do ip netns exec "$ns" nft insert rule inet rph forward ct status dnat accept || return 1
    topo_spawn "pmp$k" "$ns" "$TOPO_DIR/pmp$k.log" "$RUPHIN_BIN/natpmp_responder" \
        --lan "192.168.10$k.1" --wan "$wan" --table pmp ${NAT_PMP_ARGS:-} || return 1
    wait_for "grep -q 'listening on' '$TOPO_DIR/pmp$k.log'" 5
}

# nat_delay K OUT_MS [IN_MS]: hold every packet leaving (OUT_MS) and entering (IN_MS, default
# OUT_MS) site K through its uplink for that long, with one nfq_delay per direction in the
# uplink namespace. Call it after the site's NAT rules are final (topo_nat_mode flushes the
# whole ruleset, these rules included).
nat_delay() {
    local k=$1 out=$2 in=${3:-$2} ns ifname log dir q ms
    [[ $out =~ ^[0-9]+$ && $in =~ ^[0-9]+$ ]] || { topo__err "nat_delay: delays are whole ms, got '$out' '$in'"; return 1; }
    ns=${NAT_UPLINK_NS[$k]:-}
    ifname=${NAT_UPLINK_IF[$k]:-}
    [[ -n $ns ]] || { topo__err "nat_delay: no site $k"; return 1; }
    [[ -x $RUPHIN_BIN/nfq_delay ]] || { topo__err "nat_delay: $RUPHIN_BIN/nfq_delay not built (libnetfilter-queue-dev)"; return 1; }
    for dir in out in; do
        if [[ $dir == out ]]; then q=1 ms=$out; else q=2 ms=$in; fi
        ((ms > 0)) || continue
        log=$TOPO_DIR/delay${k}_$dir.log
        # Real-time (FIFO) priority: a router's delay line is its own hardware, which the test's
        # own load (the daemons, ASan builds, parallel pairs) does not slow down. At normal
        # priority a busy 2-core machine delayed its releases by tens of milliseconds, as much
        # as the timing under test. nfq_delay sleeps between releases, so it takes little CPU.
        topo_spawn "delay${k}_$dir" "$ns" "$log" chrt -f 10 "$RUPHIN_BIN/nfq_delay" -q "$q" -d "$ms" || return 1
        wait_for "grep -q ready '$log'" 5 || { topo__err "nat_delay: nfq_delay did not start: $(cat "$log")"; return 1; }
    done
    # With iptables' NFQUEUE target: this kernel has no nft `queue` expression (NFT_QUEUE), but
    # has xt_NFQUEUE, which iptables-nft reaches through nft_compat. The raw table runs before
    # conntrack, so a router's NAT mapping is made when the held packet really leaves; out is what
    # a router forwards from its LAN, or what a public host sends; in, what arrives on the uplink.
    # Neighbour discovery is never held: only traffic is delayed, as on a long link.
    local ipt spec
    for ipt in iptables ip6tables; do
        if [[ $ipt == ip6tables ]]; then
            for spec in neighbour-solicitation neighbour-advertisement router-solicitation router-advertisement; do
                topo__do ip netns exec "$ns" ip6tables -t raw -A PREROUTING -p icmpv6 --icmpv6-type "$spec" -j ACCEPT || return 1
                topo__do ip netns exec "$ns" ip6tables -t raw -A OUTPUT -p icmpv6 --icmpv6-type "$spec" -j ACCEPT || return 1
            done
        fi
        if ((in > 0)); then
            topo__do ip netns exec "$ns" "$ipt" -t raw -A PREROUTING -i "$ifname" -j NFQUEUE --queue-num 2 || return 1
        fi
        ((out > 0)) || continue
        if [[ $ns == "$(topo_ns peer "$k")" ]]; then
            topo__do ip netns exec "$ns" "$ipt" -t raw -A OUTPUT -o "$ifname" -j NFQUEUE --queue-num 1 || return 1
        else
            topo__do ip netns exec "$ns" "$ipt" -t raw -A PREROUTING ! -i "$ifname" -m addrtype ! --dst-type LOCAL \
                -j NFQUEUE --queue-num 1 || return 1
        fi
    done
}
