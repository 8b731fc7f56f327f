#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages ruphin-tun needs (quiet, idempotent, fast when all is there):
#   scripts/deps.sh          to build the programs and run them (and scripts/demo.sh)
#   scripts/deps.sh --test   also what the tests need (scripts/test.sh and .ci/run use this)
set -euo pipefail

# Building (Release, -DRUPHIN_TESTS=OFF) and running: the daemons themselves need only the
# libraries; the rest is what scripts/demo.sh's simulated networks use (ip, nft, ping, socat
# for the data it moves, conntrack for the NATs' state).
PACKAGES=(
    build-essential cmake pkg-config
    libevent-dev libsodium-dev libssl-dev libcjson-dev libmnl-dev libldns-dev libsystemd-dev libnatpmp-dev
    nftables iproute2 iputils-ping socat conntrack procps
)
# Testing: nothing a user of the tunnel needs on their machine.
TEST_PACKAGES=(
    # the unit tests (Criterion) and the e2e tests' tools
    libcriterion-dev iperf3 libcap2-bin jq
    # DNS on the LAN: dig (tests/e2e/test_tunnel_dns.sh)
    bind9-dnsutils
    # packages and their tests
    debhelper lintian debootstrap systemd-container dpkg-dev fakeroot
    # fuzzers: clang and its libFuzzer runtime (only recommended by clang, so named here)
    clang libclang-rt-14-dev
    # an independent Noise implementation for tests/tools/noise_interop.py (/usr/bin/python3)
    python3-dissononce
    # the uplink delay of the NAT test bed (tests/e2e/nat_lib.sh): NFQUEUE for
    # tests/tools/nfq_delay.c, and iptables for its NFQUEUE target (this kernel has no nft queue)
    libnetfilter-queue-dev iptables
)
case ${1:-} in
'') ;;
--test) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
-h | --help)
    sed -n '3,5s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
*)
    echo "deps: unknown option \"$1\" (use --test or nothing)" >&2
    exit 2
    ;;
esac

# One dpkg-query for all: prints "name status" for the packages it knows.
declare -A status=()
while read -r name st; do
    status[${name%%:*}]=$st
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
    [[ ${status[$p]:-} == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt-get -qq update </dev/null
apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" </dev/null >/dev/null
echo "deps: done"
