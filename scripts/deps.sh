#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages needed to build and test ruphin-tun (quiet, idempotent, fast when all is there).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    libevent-dev libsodium-dev libssl-dev libcjson-dev libmnl-dev libcriterion-dev
    nftables iproute2 iputils-ping socat iperf3 conntrack libcap2-bin procps jq
    # packages and their tests
    libsystemd-dev debhelper lintian debootstrap systemd-container dpkg-dev fakeroot
    # fuzzers: clang and its libFuzzer runtime (only recommended by clang, so named here)
    clang libclang-rt-14-dev
    # tests: an independent Noise implementation for tests/tools/noise_interop.py (/usr/bin/python3)
    python3-dissononce
    # tests: the uplink delay of the NAT test bed (tests/e2e/nat_lib.sh): NFQUEUE for
    # tests/tools/nfq_delay.c, and iptables for its NFQUEUE target (this kernel has no nft queue)
    libnetfilter-queue-dev iptables
)

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
