#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two sealed peers behind two NATs: ping both ways (IPv4 and IPv6 inside), a 50 MB TCP transfer
# with its sha256 checked, and the status both sides report.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tun_lib.sh"
e2e_require_root
e2e_require_bin holepuncherd ruphin-tund ruphinctl
e2e_require_cmd socat sha256sum
topo_trap
topo_up 2 || e2e_die "test bed"

tun_start_hpd || e2e_die "holepuncherd did not start"
tun_start_peer 1 server || e2e_die "server peer did not start"
# The client drops to an unprivileged user once its interface is up.
tun_write_peer_config 2 client "$TOPO_DIR/peer2.json" ', "user": "nobody"'
tun_start_peer 2 client || e2e_die "client peer did not start"
if tun_wait_up 2 1 10 && tun_wait_up 1 1 5; then e2e_pass "handshake through both NATs"; else e2e_die "no handshake"; fi

tun_check_pings # both ways, IPv4 and IPv6, single and in bursts of 100
# A full-MTU packet crosses unfragmented: 1400 - 28 bytes of ICMP payload, DF set.
ping_df() { topo_run "$NS_PEER2" ping -q -c 2 -i 0.2 -W 2 -M do -s 1372 10.77.0.1 >/dev/null; }
e2e_check "full-MTU ping with DF" ping_df

# off K FIELD: one counter of peer K's "offload" status.
off() { tun_status "$1" | jq -r ".offload.$2"; }
if r=$(tun_transfer 2 1 50); then
    read -r mb secs <<<"$r"
    e2e_pass "50 MB client -> server, sha256 ok ($(awk -v m="$mb" -v s="$secs" 'BEGIN{printf "%.0f Mbit/s", m*8*1.048576/s}'))"
else
    e2e_fail "50 MB transfer client -> server"
fi
if tun_transfer 1 2 10 >/dev/null; then e2e_pass "10 MB server -> client, sha256 ok"; else e2e_fail "10 MB server -> client"; fi
e2e_check "the IPv4 transfers took the offloaded path (TSO in, GSO out, coalesced in)" \
    test "$(off 2 tso4_in)" -gt 0 -a "$(off 2 gso_sends)" -gt 0 -a "$(off 1 coalesced4_out)" -gt 0
# IPv6 inner packets take the TSO6 split and the IPv6 coalescing paths.
if tun_transfer 2 1 30 6 >/dev/null; then e2e_pass "30 MB client -> server over IPv6 inner packets, sha256 ok"; else e2e_fail "30 MB over IPv6 inner packets"; fi
e2e_check "the IPv6 transfer took the offloaded path (TSO6 in, coalesced IPv6 out)" \
    test "$(off 2 tso6_in)" -gt 0 -a "$(off 1 coalesced6_out)" -gt 0
e2e_check "ruphinctl status shows the offload counters" grep -q "offload: on" <<<"$("$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer2.sock" status)"

e2e_check "the client runs as nobody after setup" grep -Eq "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]" "/proc/$(topo_pid peer2)/status"
e2e_check "with no capabilities left" grep -Eq "^CapEff:[[:space:]]+0+$" "/proc/$(topo_pid peer2)/status"
st=$(tun_status 1)
e2e_check "server status names the client's overlay address" grep -q '"overlay":"10.77.0.2"' <<<"$st"
e2e_check "server status counts received bytes" grep -Eq '"rx_bytes":[1-9][0-9]{7}' <<<"$st"
e2e_check "no spoofed or malformed drops" grep -q '"spoofed_source":0,"no_address":0' <<<"$st"
e2e_check "the tunnel is sealed" grep -q '"sealed":true' <<<"$st"
e2e_check "no authentication failures" jq -e '.drops.auth_failed == 0' <<<"$st"
# The server counts a repeat of an init it already answered as "replayed", and an honest client
# may send its init twice while its first answer is under way (once more when the server's punch
# arrives): a few, not a stream.
e2e_check "no replays beyond the client's own repeated init" jq -e '.drops.replayed <= 3' <<<"$st"
e2e_check "ruphinctl plain status shows the peer" grep -q "peer: 10.77.0.2" <<<"$("$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer1.sock" status)"

# Node keys: made at first start in each state directory, private; each side shows its own
# and, once the handshake proved it, the other's (as `wg show` does).
for k in 1 2; do
    e2e_check "peer $k made its node key at first start: state-peer$k/node.key, mode 600 in a 700 directory" \
        test "$(stat -c %a "$TOPO_DIR/state-peer$k/node.key" 2>/dev/null)" = 600 -a "$(stat -c %a "$TOPO_DIR/state-peer$k" 2>/dev/null)" = 700
done
pk1=$("$RUPHIN_BIN/ruphinctl" pubkey "$TOPO_DIR/state-peer1" 2>/dev/null)
pk2=$("$RUPHIN_BIN/ruphinctl" pubkey "$TOPO_DIR/state-peer2" 2>/dev/null)
e2e_check "ruphinctl pubkey prints each node's public key (44 characters of base64), two different keys" \
    eval "[[ \$pk1 =~ ^[A-Za-z0-9+/]{43}=\$ && \$pk2 =~ ^[A-Za-z0-9+/]{43}=\$ && \$pk1 != \$pk2 ]]"
# WireGuard's format and curve: wg computes the same public key from the file, where installed.
if command -v wg >/dev/null; then
    e2e_check "wg pubkey agrees with ruphinctl pubkey on node.key" \
        eval "[ \"\$(wg pubkey <'$TOPO_DIR/state-peer1/node.key')\" = '$pk1' ]"
fi
e2e_check "status: each side's public_key is the key in its state directory" \
    eval "[ \"\$(tun_status 1 | jq -r .public_key)\" = \"\$pk1\" ] && [ \"\$(tun_status 2 | jq -r .public_key)\" = \"\$pk2\" ]"
# The peer's key comes from the core's handshake (rph_remote.node_pk): never a placeholder.
e2e_check "status: each side shows the other's node public key, proven by the handshake" \
    wait_for "[ \"\$(tun_status 1 | jq -r '.peers[0].public_key')\" = '$pk2' ] && [ \"\$(tun_status 2 | jq -r '.peers[0].public_key')\" = '$pk1' ]" 5
plain1=$("$RUPHIN_BIN/ruphinctl" -s "$TOPO_DIR/peer1.sock" status)
e2e_check "ruphinctl status prints the node's 'public key:' line" grep -qx "  public key: $pk1" <<<"$plain1"
e2e_check "ruphinctl status prints the peer's 'public key:' line" grep -qx "  public key: $pk2" <<<"$plain1"

# SIGTERM: exit 0 and the interface is gone.
topo_kill peer2
e2e_check "client's interface removed after SIGTERM" bash -c "! ip -n $NS_PEER2 link show rph0 >/dev/null 2>&1"
e2e_check "client logged a clean stop" grep -q "removed; bye" "$TOPO_DIR/peer2.log"
e2e_finish
