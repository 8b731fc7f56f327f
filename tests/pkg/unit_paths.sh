#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The units a `cmake --install` with prefix /usr/local puts in place read /etc/ruphin, as README,
# the man pages and the .deb say (not /usr/local/etc/ruphin); ExecStart= names that prefix's sbin.
set -u
REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ruphin-unitpaths.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0
check() { # what, command...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failed=1; fi
}
for prefix in /usr/local /usr; do
    b=$tmp/build${prefix//\//-}
    if ! cmake -S "$REPO" -B "$b" -DCMAKE_INSTALL_PREFIX="$prefix" -DRUPHIN_TESTS=OFF >"$tmp/log" 2>&1; then
        tail -n 20 "$tmp/log"
        echo "FAIL: configure with prefix $prefix"
        exit 1
    fi
    tund=$b/systemd/ruphin-tund@.service
    hp=$b/systemd/holepuncherd.service
    check "$prefix: ruphin-tund@ runs $prefix/sbin/ruphin-tund -c /etc/ruphin/%i.json" \
        grep -qx "ExecStart=$prefix/sbin/ruphin-tund -c /etc/ruphin/%i.json" "$tund"
    check "$prefix: ruphin-tund@ asserts /etc/ruphin/%i.json" \
        grep -qx "AssertPathExists=/etc/ruphin/%i.json" "$tund"
    check "$prefix: holepuncherd runs $prefix/sbin/holepuncherd -c /etc/ruphin/holepuncherd.json" \
        grep -qx "ExecStart=$prefix/sbin/holepuncherd -c /etc/ruphin/holepuncherd.json" "$hp"
    check "$prefix: no unit names $prefix/etc" bash -c "! grep -n '$prefix/etc' '$tund' '$hp'"
done
exit $failed
