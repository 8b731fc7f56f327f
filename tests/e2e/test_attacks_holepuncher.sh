#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Attacks on holepuncherd with spoofed sources: it cannot be turned against anyone.
#
# The spoofer (rph_attack hpx spoof) sends frames from the public bridge straight to
# holepuncherd's interface, with any source address. The victim is NAT 3's public address: an
# nft counter in its namespace (before any rule that drops) measures the IPv4 bytes sent toward
# it, headers included, as is the request (20 + 8 + payload).
#
#   A plaintext: one spoofed Join      -> bytes toward the victim <= 3x the Join's
#                300 spoofed Joins     -> the server's table still takes a real client
#   B sealed: spoofed Registers/Joins  -> nothing registered, victim gets <= 3x, no signature
#                                         checked; real peers still connect through cookies
#   C churned spoofed sources          -> a real source gets no more than its rate
#   D log flood                        -> a bounded number of lines, the rest counted
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl rph_attack
e2e_require_cmd jq nft
topo_trap
topo_up 3 || e2e_die "test bed"

ATK=$RUPHIN_BIN/rph_attack
HP=$HP_IP:7700
VICTIM=$NAT3_IP
hpd_log=$TOPO_DIR/hpd.log
HP_MAC=$(ip -n "$NS_HP" link show "$TOPO_HP_IF" | awk '/link\/ether/ { print $2 }')
[[ -n $HP_MAC ]] || e2e_die "no MAC address on holepuncherd's interface"

kv() { grep -o "\b$1=[0-9.]*" <<<"$2" | head -1 | cut -d= -f2; }
spoof() { topo_run "$NS_PUB" "$ATK" hpx spoof -i php -M "$HP_MAC" -a "$HP" "$@"; }

# Victim counters: IPv4 bytes toward VICTIM:PORT, counted before NAT 3's own rules.
victim_watch() {
    topo_run "$NS_NAT3" nft -f - <<EOF
table ip hpx
delete table ip hpx
table ip hpx {
    chain pre {
        type filter hook prerouting priority -400; policy accept;
        ip daddr $VICTIM udp dport $1 counter
    }
}
EOF
}
victim_bytes() {
    topo_run "$NS_NAT3" nft list table ip hpx | awk '/counter/ { for (i = 1; i < NF; i++)
        if ($i == "bytes") print $(i + 1) }'
}

start_hpd() {
    cat >"$TOPO_DIR/hpd.json" <<JSON
{"listen": ["$HP"], "session_ttl": 60, "max_sessions": 100000, "log_level": "info",
 "max_sessions_per_source": 32}
JSON
    topo_spawn hpd "$NS_HP" "$hpd_log" "$RUPHIN_BIN/holepuncherd" -c "$TOPO_DIR/hpd.json" || return 1
    wait_for "grep -q 'listening on' '$hpd_log'" 5
}
# peer K ROLE SEAL: (re)start ruphin-tund K with a fresh config, sealed (1) or not (0).
peer() {
    topo_kill "peer$1"
    rm -f "$TOPO_DIR/peer$1.json"
    TUN_SEAL=$3 tun_start_peer "$1" "$2"
}
lines() { wc -l <"$hpd_log"; }

start_hpd || e2e_die "holepuncherd did not start"

# ---------------------------------------------------------------- A: plaintext amplification

peer 1 server 0 || e2e_die "plaintext server did not start"
wait_for "grep -q 'registered by $NAT1_IP:' '$hpd_log'" 10 || e2e_die "the server never registered"
victim_watch 9999 || e2e_die "nft counter in the victim's namespace"
out=$(spoof -m join -S "$TUN_SESSION" -s "$VICTIM:9999" -n 1)
join_bytes=$(kv bytes "$out")
wait_for "grep -q 'joined by $VICTIM:9999' '$hpd_log'" 5 || e2e_fail "the spoofed Join never arrived"
# Everything the server would ever send comes within its punch window (10 s).
sleep 11
got=$(victim_bytes)
e2e_info "A: a spoofed $join_bytes-byte plaintext Join brought the victim $got bytes (was 839)"
e2e_check "A: the victim got the PeerInfo and punches, at most 3x the Join ($got <= 3 x $join_bytes)" \
    test "${got:-0}" -gt 38 -a "${got:-999999}" -le $((3 * join_bytes))

# 300 spoofed Joins from 300 addresses filled all 256 slots of the server's table.
out=$(spoof -m join -S "$TUN_SESSION" -N 10.1.0.0/16 -n 300 -r 300)
e2e_info "A: $(kv sent "$out") Joins of the session spoofed from 10.1.0.0/16"
sleep 0.5
peer 2 client 0 || e2e_die "plaintext client did not start"
# Within 5 s: the spoofed remotes would only have left the table after 10 s.
if tun_wait_up 2 1 5 && tun_wait_up 1 1 5; then
    e2e_pass "A: after 300 spoofed Joins a real client still gets a slot and connects"
else
    e2e_fail "A: the real client could not connect after 300 spoofed Joins: $(tun_status 1 | jq -c .peers)"
fi
topo_kill peer2
topo_kill peer1

# ---------------------------------------------------------------- B: sealed, spoofed

victim_watch 9998 || e2e_die "nft counter"
sent_bytes=0
for m in sealed-register sealed-join; do
    for c in "" -c; do
        out=$(spoof -m "$m" $c -s "$VICTIM:9998" -n 500 -r 1000)
        sent_bytes=$((sent_bytes + $(kv bytes "$out")))
    done
done
sleep 1
got=$(victim_bytes)
e2e_info "B: 2000 spoofed sealed Registers/Joins ($sent_bytes bytes, self-made keys, half with a" \
    "guessed cookie) brought the victim $got bytes"
e2e_check "B: the victim got at most 3x the bytes ($got <= 3 x $sent_bytes)" \
    test "${got:-999999}" -le $((3 * sent_bytes))
e2e_check "B: and no more than one small HpCookie per request ($got <= 2000 x 56)" \
    test "${got:-999999}" -le $((2000 * 56))
e2e_check "B: nothing was registered or joined from the spoofed address" \
    test "$(grep -c -e "registered by $VICTIM:9998" -e "joined by $VICTIM:9998" "$hpd_log")" -eq 0
peer 1 server 1 || e2e_die "sealed server did not start"
peer 2 client 1 || e2e_die "sealed client did not start"
if tun_wait_up 2 1 10 && tun_wait_up 1 1 5; then
    e2e_pass "B: sealed peers still register and join (through the cookie exchange)"
else
    e2e_fail "B: sealed peers did not connect"
fi
e2e_check "B: client 2 -> server through the sealed tunnel" tun_ping 2 10.77.0.1

# ---------------------------------------------------------------- C: churned spoofed sources

# Peer 3's host joins at 500/s from its real address (through NAT 3) while 8,192 spoofed
# sources interleave their Joins: it gets at most its rate (20/s, burst 40).
topo_spawn churn "$NS_PUB" "$TOPO_DIR/churn.log" \
    "$ATK" hpx spoof -i php -M "$HP_MAC" -a "$HP" -m join -S "?" -N 10.0.0.0/19 -n 24000 -r 6000
l0=$(lines)
out=$(topo_run "$NS_PEER3" "$ATK" hpx real -a "$HP" -S nosuch -n 2000 -r 500 -w 0.5)
topo_wait churn 15 >/dev/null
answers=$(kv answers "$out") secs=$(kv seconds "$out")
bound=$(awk -v s="$secs" 'BEGIN { printf "%d", 40 + 20 * (s + 1) }')
e2e_info "C: $(kv sent "$out") Joins from the real address in $secs s among" \
    "$(grep -o 'sent=[0-9]*' "$TOPO_DIR/churn.log") spoofed ones: $answers answered"
e2e_check "C: the real source got no more than its rate ($answers <= $bound; it was 1000 of 1000)" \
    test "${answers:-999999}" -le "$bound" -a "${answers:-0}" -ge 40

# ---------------------------------------------------------------- D: log flood

sleep 1.5 # the flush of held-back counts comes within a second
l1=$(lines)
churn_secs=$(grep -o 'seconds=[0-9.]*' "$TOPO_DIR/churn.log" | cut -d= -f2)
max=$(awk -v s="${churn_secs:-5}" 'BEGIN { printf "%d", 40 * (s + 3) }')
e2e_info "D: $((l1 - l0)) log lines for about 26,000 Joins (24,000 spoofed, not found or refused)"
e2e_check "D: holepuncherd's log grew by a bounded number of lines ($((l1 - l0)) <= $max)" \
    test $((l1 - l0)) -le "$max"
e2e_check "D: the held-back lines are counted (\"similar suppressed\")" \
    grep -q 'similar suppressed (session not found)' "$hpd_log"

# ---------------------------------------------------------------- aftermath

e2e_check "holepuncherd still running, no sanitizer report in its log" \
    eval "topo_alive hpd && ! grep -q -e 'AddressSanitizer' -e 'runtime error' '$hpd_log'"
topo_kill hpd
stop=$(grep 'stopped on' "$hpd_log" | tail -1)
e2e_info "stop line: ${stop#*: }"
sealed_regs=$(grep -o 'registers [0-9]* (sealed [0-9]*)' <<<"$stop" | grep -o 'sealed [0-9]*' | cut -d' ' -f2)
e2e_check "the stop line counts sealed Registers (sealed ${sealed_regs:-?})" \
    test "${sealed_regs:-0}" -ge 1
cookies=$(grep -o 'cookies_sent [0-9]*' <<<"$stop" | cut -d' ' -f2)
e2e_check "every spoofed sealed request got an HpCookie instead of a signature check ($cookies)" \
    test "${cookies:-0}" -ge 2000
e2e_finish
