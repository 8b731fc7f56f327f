#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Package test: build the .debs, lintian, install them into a clean Debian 12 chroot, run the tunnel from there, purge.
#
#   tests/pkg/test_packages.sh          as root; ends with "test_packages: N checks passed, M failed"
#
# The Debian 12 root is debootstrapped once into $RUPHIN_DEBOOTSTRAP_CACHE (default
# /var/cache/ruphin-debootstrap, about 600 MB with the .debs apt fetched) and reused: every
# run mounts a throw-away overlay on it, so each run starts from the same clean system.
# Everything runs in a private mount namespace, so no mount outlives the test. The daemons
# first run chrooted in the e2e test bed's network namespaces with the privileges their
# units give them (ruphin-tund: root with CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID only;
# holepuncherd: an unprivileged user, no capabilities, no new privileges), then under a
# real systemd: systemd-nspawn boots the root. packaging/README.md lists the steps.
set -u

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${RUPHIN_DEBOOTSTRAP_CACHE:-/var/cache/ruphin-debootstrap}
MIRROR=${RUPHIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${RUPHIN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
# What the cached root holds besides minbase: systemd (the units are verified against it,
# and the maintainer scripts see a system like a real one) and a compiler for the
# libruphin-dev example. Changing this list rebuilds the cache.
CACHE_INCLUDE=systemd,gcc,libc6-dev,pkg-config
CACHE_ROOT=$CACHE/$SUITE-$(dpkg --print-architecture)
PKGS=(ruphin-tun holepuncherd libruphin-dev)
# lintian warnings that packaging/README.md explains; anything else fails the check.
LINTIAN_EXPLAINED='initial-upload-closes-no-bugs'

# The namespace step: re-run in a private mount namespace (mounts vanish with us).
if [[ ${RUPHIN_PKGTEST_NS:-} != 1 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "FAIL: test_packages: needs root (debootstrap, chroot, mounts, network namespaces)"
        echo "test_packages: 0 checks passed, 1 failed"
        exit 1
    fi
    RUPHIN_PKGTEST_NS=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi

# systemd-analyze and systemd-nspawn leave state in /run/systemd: keep it in our namespace.
[[ -d /run/systemd ]] && mount -t tmpfs -o mode=755 tmpfs /run/systemd

E2E_NAME=test_packages
. "$REPO/tests/e2e/lib.sh"
. "$REPO/tests/e2e/tun_lib.sh"

T0=$SECONDS
WORK=
ROOT=
NSPAWN=
phase_t=$SECONDS
phase() {
    e2e_info "$1 ($((SECONDS - phase_t)) s)"
    phase_t=$SECONDS
}

# check MSG CMD...: one PASS/FAIL line.
check() { e2e_check "$@"; }

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
    local rc=$?
    trap '' INT TERM HUP
    trap - EXIT
    if [[ -n ${NSPAWN:-} ]] && kill -0 "$NSPAWN" 2>/dev/null; then
        kill -TERM "$NSPAWN" 2>/dev/null
        wait_for "! kill -0 $NSPAWN 2>/dev/null" 10 || kill -KILL "$NSPAWN" 2>/dev/null
    fi
    topo_down
    if [[ -n $WORK && -d $WORK ]]; then
        # Our namespace is private: these only tidy up before it goes.
        grep -F " $WORK/" /proc/self/mountinfo | awk '{print $5}' | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null; done
        [[ ${KEEP:-0} == 1 ]] || rm -rf -- "$WORK"
    fi
    ((rc == 0 && E2E_FAILURES > 0)) && rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'e2e_fail "$E2E_NAME: interrupted"; exit 130' INT TERM HUP

# ---------------------------------------------------------------- tools

need=()
for t in debootstrap lintian socat; do command -v "$t" >/dev/null 2>&1 || need+=("$t"); done
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
if ((${#need[@]} > 0)); then
    e2e_info "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update </dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 install \
            --no-install-recommends "${need[@]}" </dev/null >/dev/null ||
        e2e_die "cannot install ${need[*]}"
fi

VERSION=$(sed -n 's/^project([^)]*VERSION \([0-9][0-9.]*\).*/\1/p' "$REPO/CMakeLists.txt" | head -n 1)
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
mkdir -p "$REPO/build-pkg" || e2e_die "cannot make $REPO/build-pkg"
WORK=$(mktemp -d "$REPO/build-pkg/pkgtest.XXXXXX") || e2e_die "cannot make a work dir"
chmod 755 "$WORK"
DEBS=$WORK/deb

# ---------------------------------------------------------------- build and inspect

if bash "$REPO/scripts/package.sh" -o "$DEBS" >"$WORK/package.log" 2>&1; then
    e2e_pass "scripts/package.sh builds the packages"
else
    tail -n 30 "$WORK/package.log"
    e2e_die "scripts/package.sh failed"
fi
phase "packages built"
deb() { printf '%s/%s_%s-1_%s.deb\n' "$DEBS" "$1" "$VERSION" "$ARCH"; }
for p in "${PKGS[@]}"; do
    check "$p: .deb version $VERSION-1 (project(VERSION) of CMakeLists.txt)" \
        test "$(dpkg-deb -f "$(deb "$p")" Version 2>/dev/null)" == "$VERSION-1"
done
n_debs=$(find "$DEBS" -name '*.deb' | wc -l)
check "exactly three .deb files (found $n_debs)" test "$n_debs" -eq 3

dep_has() { dpkg-deb -f "$(deb "$1")" Depends | tr ',' '\n' | grep -q "^ *$2\\b"; }
for p in ruphin-tun holepuncherd; do
    check "$p: Depends from shlibdeps (libc6, libevent-core, libcjson1, libsodium23, libssl3)" \
        eval 'dep_has $p libc6 && dep_has $p "libevent-core-2\.1-7" && dep_has $p libcjson1 && dep_has $p libsodium23 && dep_has $p libssl3'
done
check "ruphin-tun: Depends on libmnl0 (its netlink), holepuncherd does not" \
    eval 'dep_has ruphin-tun libmnl0 && ! dep_has holepuncherd libmnl0'
check "ruphin-tun: Depends on libldns3 (its DNS responder), holepuncherd does not" \
    eval 'dep_has ruphin-tun libldns3 && ! dep_has holepuncherd libldns3'
check "libruphin-dev: Depends on libevent-dev, libsodium-dev and libssl-dev (named in ruphin.pc)" \
    eval 'dep_has libruphin-dev libevent-dev && dep_has libruphin-dev libsodium-dev && dep_has libruphin-dev libssl-dev'
conffiles=$(dpkg-deb --ctrl-tarfile "$(deb holepuncherd)" | tar -xOf - ./conffiles 2>/dev/null)
check "holepuncherd: /etc/ruphin/holepuncherd.json is a conffile" test "$conffiles" == /etc/ruphin/holepuncherd.json
for p in "${PKGS[@]}"; do
    check "$p: MIT copyright file" eval \
        "dpkg-deb --fsys-tarfile '$(deb "$p")' | tar -xOf - ./usr/share/doc/$p/copyright | grep -q '^License: MIT'"
done

# lintian runs as nobody: it warns when run as root.
lintian_out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env \
    lintian --pedantic --display-info "$DEBS"/*.changes 2>&1)
lintian_rc=$?
printf '%s\n' "$lintian_out" | sed 's/^/  lintian: /'
lint_errors=$(printf '%s\n' "$lintian_out" | grep -c '^E: ')
lint_unexplained=$(printf '%s\n' "$lintian_out" | grep '^W: ' | grep -cvE ": ($LINTIAN_EXPLAINED)( |$)")
check "lintian: no errors (exit $lintian_rc)" test "$lint_errors" -eq 0 -a "$lintian_rc" -eq 0
check "lintian: every warning is one packaging/README.md explains" test "$lint_unexplained" -eq 0

# Man pages: groff is silent, and they document every key and option the code has.
X=$WORK/extract
for p in "${PKGS[@]}"; do dpkg-deb -x "$(deb "$p")" "$X"; done
man_ok=1
for page in man8/ruphin-tund.8 man8/ruphinctl.8 man5/ruphin-tund.json.5 man8/holepuncherd.8 man5/holepuncherd.json.5; do
    f=$X/usr/share/man/$page.gz
    if [[ ! -f $f ]]; then
        e2e_info "missing $page"
        man_ok=0
        continue
    fi
    w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null)
    [[ -z $w ]] || { e2e_info "$page: $w"; man_ok=0; }
done
check "five man pages, no groff warnings" test "$man_ok" -eq 1
# keys: the string lists of the config parsers; options: the long options of --help.
keys_of() { sed -n "/$2\\[\\] = {/,/};/p" "$REPO/$1" | grep -o '"[a-z_0-9]*"' | tr -d '"'; }
man_text() { zcat "$X/usr/share/man/$1.gz" | sed 's/\\-/-/g; s/\\f[BIRP]//g'; }
missing=()
for k in $(keys_of src/tun/config.c top_keys) $(keys_of src/tun/config.c iface_keys); do
    man_text man5/ruphin-tund.json.5 | grep -q "$k" || missing+=("ruphin-tund.json(5):$k")
done
for k in $(keys_of src/holepuncherd/config.c allowed_keys); do
    man_text man5/holepuncherd.json.5 | grep -q "$k" || missing+=("holepuncherd.json(5):$k")
done
for b in usr/sbin/ruphin-tund usr/sbin/holepuncherd usr/bin/ruphinctl; do
    name=${b##*/}
    for o in $("$X/$b" --help 2>/dev/null | grep -oE '(^|[ ,\[])--[a-z-]+' | tr -d ' ,['); do
        man_text "man8/$name.8" | grep -q -- "$o" || missing+=("$name(8):$o")
    done
done
((${#missing[@]} == 0)) || e2e_info "not in the man pages: ${missing[*]}"
check "man pages name every config key and --help option" test "${#missing[@]}" -eq 0
phase "static checks done"

# ---------------------------------------------------------------- the clean Debian 12 root

# mnt TYPE|bind SRC DST [OPTS]
mnt() {
    if [[ $1 == bind ]]; then
        mount --bind "$2" "$3"
    else
        mount -t "$1" ${4:+-o "$4"} "$2" "$3"
    fi
}

# chroot_mounts ROOT: /proc, /sys, a small /dev (the pseudo devices and /dev/net/tun), /run.
chroot_mounts() {
    local r=$1 d
    mnt proc proc "$r/proc" || return 1
    mnt bind /sys "$r/sys" || return 1
    mnt tmpfs tmpfs "$r/dev" mode=755 || return 1
    for d in null zero full random urandom tty; do
        touch "$r/dev/$d" && mnt bind "/dev/$d" "$r/dev/$d" || return 1
    done
    mkdir -p "$r/dev/net" "$r/dev/pts" "$r/dev/shm" &&
        touch "$r/dev/net/tun" && mnt bind /dev/net/tun "$r/dev/net/tun" || return 1
    ln -s /proc/self/fd "$r/dev/fd"
    ln -s /proc/self/fd/0 "$r/dev/stdin"
    ln -s /proc/self/fd/1 "$r/dev/stdout"
    ln -s /proc/self/fd/2 "$r/dev/stderr"
    mnt tmpfs tmpfs "$r/run" mode=755
}

chroot_umount() {
    grep -F " $1/" /proc/self/mountinfo | awk '{print $5}' | sort -r |
        while read -r m; do umount "$m" || umount -l "$m"; done
}

ROOT_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive)
in_root() { chroot "$ROOT" "${ROOT_ENV[@]}" "$@"; }
# in_root_t SECONDS CMD...: in_root with a time limit.
in_root_t() {
    local t=$1
    shift
    timeout "$t" chroot "$ROOT" "${ROOT_ENV[@]}" "$@"
}

cache_build() {
    local stamp=$CACHE_ROOT.stamp new=$CACHE_ROOT.new t=$SECONDS
    rm -rf -- "$new"
    mkdir -p "$CACHE/archives/partial"
    e2e_info "debootstrap $SUITE ($CACHE_INCLUDE) into $new, once"
    if ! timeout 1200 debootstrap --variant=minbase --include="$CACHE_INCLUDE" \
        --cache-dir="$CACHE/archives" "$SUITE" "$new" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log"
        return 1
    fi
    rm -f "$new"/var/cache/apt/archives/*.deb # kept in $CACHE/archives, mounted there
    rm -f "$new/etc/apt/sources.list"
    cat >"$new/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf -- "$CACHE_ROOT" "$stamp"
    mv -- "$new" "$CACHE_ROOT" && echo "$CACHE_INCLUDE" >"$stamp"
    e2e_info "debootstrap took $((SECONDS - t)) s"
}

# apt-get update in the cache itself once a day, so a run needs no network when apt has
# fetched our dependencies before.
cache_refresh() {
    local lists=$CACHE_ROOT/var/lib/apt/lists
    [[ -n $(find "$lists" -maxdepth 1 -name '*_InRelease' -mmin -1440 2>/dev/null) ]] && return 0
    cp -L /etc/resolv.conf "$CACHE_ROOT/etc/resolv.conf" 2>/dev/null
    chroot_mounts "$CACHE_ROOT" || { chroot_umount "$CACHE_ROOT"; return 1; }
    timeout 300 chroot "$CACHE_ROOT" apt-get -q update >"$WORK/apt-update.log" 2>&1
    local rc=$?
    chroot_umount "$CACHE_ROOT"
    ((rc == 0)) || tail -n 10 "$WORK/apt-update.log"
    return "$rc"
}

mkdir -p "$CACHE"
exec {LOCK}>"$CACHE/.lock"
flock "$LOCK"
if [[ $(cat "$CACHE_ROOT.stamp" 2>/dev/null) != "$CACHE_INCLUDE" || ! -d $CACHE_ROOT ]]; then
    cache_build || e2e_die "debootstrap of $SUITE failed (log above)"
else
    e2e_info "reusing the $SUITE root in $CACHE_ROOT"
fi
cache_refresh || e2e_die "apt-get update in the cached root failed"
flock -s "$LOCK" # others may use the cache with us, nobody rebuilds it under us
phase "clean $SUITE root ready"

ROOT=$WORK/root
mkdir -p "$ROOT" "$WORK/upper" "$WORK/ovl"
mount -t overlay overlay -o "lowerdir=$CACHE_ROOT,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT" ||
    e2e_die "cannot mount an overlay on $CACHE_ROOT"
chroot_mounts "$ROOT" || e2e_die "cannot mount /proc, /sys, /dev, /run in the root"
mnt bind "$CACHE/archives" "$ROOT/var/cache/apt/archives" || e2e_die "cannot share the apt cache"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
check "the root is a clean Debian 12 (none of our packages)" \
    eval "! in_root dpkg-query -W ${PKGS[*]} >/dev/null 2>&1 && grep -q '^12' '$ROOT/etc/debian_version'"

# ---------------------------------------------------------------- install

mkdir -p "$ROOT/tmp/debs"
cp "$DEBS"/*.deb "$ROOT/tmp/debs/"
IN_ROOT_DEBS=()
for p in "${PKGS[@]}"; do IN_ROOT_DEBS+=("/tmp/debs/$(basename "$(deb "$p")")"); done
# dpkg -i stops at the missing libraries; apt-get -f install fetches them and finishes.
in_root dpkg -i "${IN_ROOT_DEBS[@]}" >"$WORK/dpkg-i.log" 2>&1
in_root_t 600 apt-get -q -y -o Dpkg::Use-Pty=0 -f install >"$WORK/apt-f.log" 2>&1
installed() { [[ $(in_root dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }
all_ok=1
for p in "${PKGS[@]}"; do installed "$p" || all_ok=0; done
((all_ok == 1)) || { tail -n 20 "$WORK/dpkg-i.log" "$WORK/apt-f.log"; }
check "dpkg -i, then apt-get -f install: the three packages are installed" test "$all_ok" -eq 1
# systemd-resolved (and the dbus it needs) for the booted root's DNS checks; not a dependency
# of ours, so a root without it (no network for apt) only skips those checks.
if in_root_t 600 apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends systemd-resolved \
    >"$WORK/apt-resolved.log" 2>&1; then
    HAVE_RESOLVED=1
else
    HAVE_RESOLVED=0
    tail -n 5 "$WORK/apt-resolved.log"
    e2e_info "systemd-resolved could not be installed in the root: its checks are skipped"
fi
phase "installed"

in_root_test() { in_root test "$@"; }
files_ok=1
for f in -x:/usr/sbin/ruphin-tund -x:/usr/bin/ruphinctl -x:/usr/sbin/holepuncherd \
    -f:/lib/systemd/system/ruphin-tund@.service -f:/lib/systemd/system/holepuncherd.service \
    -f:/etc/ruphin/holepuncherd.json -d:/etc/ruphin \
    -f:/usr/share/man/man8/ruphin-tund.8.gz -f:/usr/share/man/man8/ruphinctl.8.gz \
    -f:/usr/share/man/man5/ruphin-tund.json.5.gz -f:/usr/share/man/man8/holepuncherd.8.gz \
    -f:/usr/share/man/man5/holepuncherd.json.5.gz \
    -f:/usr/share/doc/ruphin-tun/examples/tund-server.json \
    -f:/usr/share/doc/ruphin-tun/examples/tund-client.json \
    -f:/usr/share/doc/ruphin-tun/copyright -f:/usr/share/doc/holepuncherd/copyright \
    -f:/usr/share/doc/libruphin-dev/copyright \
    -f:/usr/include/ruphin/ruphin.h -f:/usr/lib/$MULTIARCH/libruphin.a \
    -f:/usr/lib/$MULTIARCH/pkgconfig/ruphin.pc; do
    in_root_test "${f%%:*}" "${f#*:}" || { e2e_info "missing or wrong: ${f#*:}"; files_ok=0; }
done
check "files are where they belong (/usr/sbin, /usr/bin, /lib/systemd/system, /etc/ruphin, man, doc, include, lib)" \
    test "$files_ok" -eq 1
check "dpkg registers /etc/ruphin/holepuncherd.json as holepuncherd's conffile" \
    eval "in_root dpkg-query -W -f='\${Conffiles}' holepuncherd | grep -q '/etc/ruphin/holepuncherd.json [0-9a-f]'"
check "postinst enabled holepuncherd.service (deb-systemd-helper)" \
    test -L "$ROOT/etc/systemd/system/multi-user.target.wants/holepuncherd.service"
check "no template instance enabled by the package" \
    eval "! ls '$ROOT'/etc/systemd/system/*.wants/ruphin-tund@* >/dev/null 2>&1"
libs_ok=1
for b in /usr/sbin/ruphin-tund /usr/sbin/holepuncherd /usr/bin/ruphinctl; do
    in_root ldd "$b" | grep -q 'not found' && libs_ok=0
    [[ $(in_root "$b" --version 2>&1) == "${b##*/} $VERSION" ]] || { e2e_info "$b --version: $(in_root "$b" --version 2>&1)"; libs_ok=0; }
done
check "the installed programs find their libraries and print version $VERSION" test "$libs_ok" -eq 1
check "installed holepuncherd.json passes holepuncherd --check" \
    eval "in_root holepuncherd -c /etc/ruphin/holepuncherd.json --check | grep -q ': ok'"

# systemd-analyze verify with the root's own systemd, units and binaries.
verify_out=$(systemd-analyze verify --root="$ROOT" --man=no holepuncherd.service ruphin-tund@office.service 2>&1)
verify_rc=$?
[[ -n $verify_out ]] && printf '%s\n' "$verify_out" | sed 's/^/  verify: /'
check "systemd-analyze verify: holepuncherd.service, ruphin-tund@office.service" \
    test "$verify_rc" -eq 0 -a -z "$verify_out"
for u in holepuncherd.service ruphin-tund@office.service; do
    score=$(systemd-analyze security --offline=yes --root="$ROOT" "$u" 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: //p')
    e2e_info "systemd-analyze security $u: ${score:-?}"
done

# libruphin-dev: the README's example builds with pkg-config alone.
cp "$REPO/tests/pkg/example.c" "$ROOT/tmp/example.c"
build_out=$(in_root sh -c 'cd /tmp && cc -Wall -Wextra -Werror -o example example.c $(pkg-config --cflags --libs ruphin)' 2>&1)
build_rc=$?
[[ -n $build_out ]] && printf '%s\n' "$build_out" | sed 's/^/  cc: /'
check "cc example.c \$(pkg-config --cflags --libs ruphin) builds against libruphin-dev" test "$build_rc" -eq 0
phase "installed files checked"

# ---------------------------------------------------------------- run: the e2e test with the installed binaries

# RUPHIN_BIN for tests/e2e: wrappers that run the installed programs in the root with
# the privileges of their units.
W=$WORK/bin
mkdir -p "$W"
cat >"$W/ruphin-tund" <<EOF
#!/bin/sh
exec chroot '$ROOT' setpriv --inh-caps=-all --bounding-set=-all,+net_admin,+net_bind_service,+setuid,+setgid --no-new-privs /usr/sbin/ruphin-tund "\$@"
EOF
# holepuncherd: no capabilities at all; the e2e test's files are in its own 0700 TOPO_DIR,
# so there it keeps uid 0 (without CAP_DAC_*), and holepuncherd-unit is the unit's nobody.
cat >"$W/holepuncherd" <<EOF
#!/bin/sh
exec chroot '$ROOT' setpriv --inh-caps=-all --bounding-set=-all --no-new-privs /usr/sbin/holepuncherd "\$@"
EOF
cat >"$W/holepuncherd-unit" <<EOF
#!/bin/sh
exec chroot '$ROOT' setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs /usr/sbin/holepuncherd "\$@"
EOF
cat >"$W/ruphinctl" <<EOF
#!/bin/sh
exec chroot '$ROOT' /usr/bin/ruphinctl "\$@"
EOF
chmod 755 "$W"/*

# The e2e test keeps its configs, keys and sockets in TOPO_DIR, which lib.sh makes under
# TMPDIR: E2E_DIR, at the same path inside the root.
E2E_DIR=$WORK/e2e
mkdir -p "$E2E_DIR" "$ROOT$E2E_DIR"
chmod 755 "$E2E_DIR"
mnt bind "$E2E_DIR" "$ROOT$E2E_DIR" || e2e_die "cannot share $E2E_DIR with the root"
E2E_TEST=$REPO/tests/e2e/test_tunnel_basic.sh
e2e_out=$(TMPDIR=$E2E_DIR RUPHIN_BIN=$W TOPO_PREFIX='' timeout --kill-after=10 240 bash "$E2E_TEST" 2>&1 </dev/null)
e2e_rc=$?
printf '%s\n' "$e2e_out" | sed 's/^/  e2e: /'
e2e_sum=$(printf '%s\n' "$e2e_out" | grep 'checks passed' | tail -n 1)
check "tests/e2e/test_tunnel_basic.sh with the installed binaries (${e2e_sum#*: })" test "$e2e_rc" -eq 0
phase "e2e ping-and-transfer done"

# ---------------------------------------------------------------- run: as the units would

# On the test bed, with the installed files: holepuncherd.json as shipped (0.0.0.0:7700 in
# the holepuncher's namespace); the shipped sealed server example, whose holepuncher
# 203.0.113.10 is the test bed's, with a key from the installed ruphinctl; and a plaintext
# instance "lab" beside it that the libruphin example joins. NOTIFY_SOCKET and
# JOURNAL_STREAM as systemd sets them.
topo_up 2 || e2e_die "test bed"
NOTE=$E2E_DIR/notify
mkdir -p "$NOTE"
notify_listen() { # NAME: collect what a daemon sends to $NOTE/NAME.sock, one line per datagram
    topo_spawn "notify-$1" "$NS_HP" "$NOTE/$1.msgs" \
        socat -u "UNIX-RECVFROM:$NOTE/$1.sock,fork,perm=0666" SYSTEM:'cat; echo'
    wait_for "[ -S '$NOTE/$1.sock' ]" 5
}
# Datagrams that arrive together may share a line: match the messages, not the lines.
has_msg() { grep -q "$2" "$NOTE/$1.msgs"; }
count_msg() { grep -o "$2" "$NOTE/$1.msgs" | wc -l; }

notify_listen hpd
topo_spawn hpd-unit "$NS_HP" "$WORK/hpd-unit.log" env NOTIFY_SOCKET="$NOTE/hpd.sock" JOURNAL_STREAM=8:1 \
    "$W/holepuncherd-unit" -c /etc/ruphin/holepuncherd.json
check "holepuncherd (as nobody, no capabilities) sends READY=1 once bound" wait_for "has_msg hpd READY=1" 5
check "holepuncherd logs with journald priorities under JOURNAL_STREAM" \
    grep -q '^<6>holepuncherd .* listening on 0.0.0.0:7700 \[::\]:7700' "$WORK/hpd-unit.log"
kill -HUP "$(topo_pid hpd-unit)"
check "holepuncherd on reload (SIGHUP): RELOADING=1, then READY=1 again" \
    wait_for "has_msg hpd RELOADING=1 && [ \$(count_msg hpd READY=1) -ge 2 ]" 5

in_root ruphinctl genkey /etc/ruphin/office.key 2>/dev/null
check "ruphinctl genkey makes /etc/ruphin/office.key with mode 600" \
    test "$(stat -c %a "$ROOT/etc/ruphin/office.key" 2>/dev/null)" == 600
cp "$ROOT/usr/share/doc/ruphin-tun/examples/tund-server.json" "$ROOT/etc/ruphin/office.json"
check "the shipped tund-server.json, with the key made, passes ruphin-tund --check" \
    eval "in_root ruphin-tund -c /etc/ruphin/office.json --check | grep -q ': ok'"
notify_listen office
topo_spawn tund-office "$NS_PEER1" "$WORK/tund-office.log" env NOTIFY_SOCKET="$NOTE/office.sock" \
    "$W/ruphin-tund" -c /etc/ruphin/office.json
check "ruphin-tund (CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID) sends READY=1 with rph0 up and its socket listening" \
    eval "wait_for 'has_msg office READY=1' 5 && ip -n $NS_PEER1 link show rph0 | grep -q ',UP' && [ -S '$ROOT/run/ruphin/office.sock' ]"
check "ruphinctl status (installed): the sealed server of session office" \
    eval "in_root ruphinctl -s /run/ruphin/office.sock status --json | grep -q '\"session\":\"office\".*\"sealed\":true'"
# The node key: made at the first start in the default state_dir of office.json.
check "ruphin-tund made its node key at first start: /var/lib/ruphin/office/node.key, mode 600 in a 700 directory" \
    eval "[ \"\$(stat -c %a '$ROOT/var/lib/ruphin/office/node.key' 2>/dev/null)\" = 600 ] && [ \"\$(stat -c %a '$ROOT/var/lib/ruphin/office' 2>/dev/null)\" = 700 ]"
office_pk=$(in_root ruphinctl pubkey /var/lib/ruphin/office 2>/dev/null)
check "ruphinctl pubkey /var/lib/ruphin/office (installed) is the public_key ruphinctl status shows" \
    eval "[ -n '$office_pk' ] && in_root ruphinctl -s /run/ruphin/office.sock status --json | grep -qF '\"public_key\":\"$office_pk\"'"

printf '%s\n' '{"holepuncher": "203.0.113.10:7700", "session": "lab", "role": "server",' \
    ' "interface": {"name": "rph1", "address": "10.78.0.1/24"}, "user": "nobody"}' >"$ROOT/etc/ruphin/lab.json"
topo_spawn tund-lab "$NS_PEER1" "$WORK/tund-lab.log" "$W/ruphin-tund" -c /etc/ruphin/lab.json
wait_for "[ -S '$ROOT/run/ruphin/lab.sock' ]" 5
# The libruphin example joins "lab" as a client from behind NAT 2 (plaintext: the README's API).
ex_out=$(timeout 20 ip netns exec "$NS_PEER2" chroot "$ROOT" /tmp/example 203.0.113.10:7700 lab 2>&1)
ex_rc=$?
printf '%s\n' "$ex_out" | sed 's/^/  example: /'
check "the example built on libruphin-dev joins a session of the installed daemons" \
    eval "[ $ex_rc -eq 0 ] && grep -q 'joined session \"lab\"' <<<\"\$ex_out\""
check "a second instance beside the first: ruphinctl sees the example as a peer of lab" \
    eval "in_root ruphinctl -s /run/ruphin/lab.sock status --json | grep -q '\"endpoint\":\"203.0.113.2:'"

kill -TERM "$(topo_pid tund-lab)"
kill -TERM "$(topo_pid tund-office)"
check "ruphin-tund on SIGTERM: STOPPING=1, exit 0, rph0 and its socket removed" \
    eval "wait_for 'has_msg office STOPPING=1' 5 && topo_wait tund-office 5 && ! ip -n $NS_PEER1 link show rph0 >/dev/null 2>&1 && [ ! -e '$ROOT/run/ruphin/office.sock' ]"
topo_wait tund-lab 5
kill -TERM "$(topo_pid hpd-unit)"
check "holepuncherd on SIGTERM: STOPPING=1, exit 0" \
    eval "wait_for 'has_msg hpd STOPPING=1' 5 && topo_wait hpd-unit 5"
topo_down
phase "daemons run as their units would"

# ---------------------------------------------------------------- systemd for real: the root booted

# systemd-nspawn boots the root with systemd as PID 1 inside the holepuncher's namespace of
# a fresh test bed, so the units run as they will on a machine: DynamicUser=, the sandbox,
# Type=notify, reload, the journal. Upgrade, remove and purge then run there too, with
# systemd up, so the maintainer scripts take their systemd paths.
chroot_umount "$ROOT"
topo_up 2 || e2e_die "test bed"
mkdir -p "$ROOT/root/debs"
cp "$DEBS"/*.deb "$ROOT/root/debs/"
BOOT_LOG=$WORK/boot.log
timeout 600 systemd-nspawn -q -D "$ROOT" --register=no --keep-unit --console=passive \
    --network-namespace-path="/run/netns/$NS_HP" --bind=/dev/net/tun --capability=CAP_NET_ADMIN \
    -b >"$BOOT_LOG" 2>&1 </dev/null &
NSPAWN=$!
INIT=
booted() {
    local c g
    if [[ -z $INIT ]]; then
        for c in $(pgrep -P "$NSPAWN"); do
            for g in $(pgrep -P "$c"); do [[ $(cat "/proc/$g/comm" 2>/dev/null) == systemd ]] && INIT=$g; done
        done
    fi
    [[ -n $INIT ]] && nsenter -t "$INIT" -a systemctl is-system-running 2>/dev/null | grep -qE '^(running|degraded)$'
}
# B CMD...: run CMD in the booted root.
B() { nsenter -t "$INIT" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
# pid_status UNIT FIELD: a field of /proc/PID/status of UNIT's main process, in the root.
pid_status() {
    local pid
    pid=$(B systemctl show -P MainPID "$1")
    B sed -n "s/^$2:[[:space:]]*//p" "/proc/$pid/status" | awk '{print $1}'
}

if wait_for booted 60; then
    e2e_pass "the root boots with systemd (systemd-nspawn) in the holepuncher's namespace"
    phase "booted"
    check "holepuncherd.service is enabled and active after boot" \
        eval "B systemctl is-enabled -q holepuncherd && B systemctl is-active -q holepuncherd"
    check "holepuncherd.service runs as a dynamic user with no capabilities" \
        eval "[ \"\$(pid_status holepuncherd Uid)\" != 0 ] && [ \"\$(pid_status holepuncherd CapEff)\" = 0000000000000000 ]"

    check "systemctl enable --now ruphin-tund@lab: active once rph1 is up (Type=notify)" \
        eval "B systemctl enable -q --now ruphin-tund@lab && B systemctl is-active -q ruphin-tund@lab && ip -n $NS_HP link show rph1 | grep -q ',UP'"
    check "ruphin-tund@lab (\"user\": \"nobody\") runs as nobody with no capabilities left" \
        eval "[ \"\$(pid_status ruphin-tund@lab Uid)\" = 65534 ] && [ \"\$(pid_status ruphin-tund@lab CapEff)\" = 0000000000000000 ]"
    check "the journal keeps ruphin-tund's levels (-p warning: the warning, not the info lines)" \
        eval "B journalctl -q -u ruphin-tund@lab -p warning | grep -q 'sealing is off' && ! B journalctl -q -u ruphin-tund@lab -p warning | grep -q 'interface rph1 up'"
    ex_out=$(timeout 20 ip netns exec "$NS_PEER2" chroot "$ROOT" /tmp/example 203.0.113.10:7700 lab 2>&1)
    ex_rc=$?
    printf '%s\n' "$ex_out" | sed 's/^/  example: /'
    check "the libruphin example joins the session of ruphin-tund@lab through NAT 2" \
        eval "[ $ex_rc -eq 0 ] && B ruphinctl -s /run/ruphin/lab.sock status --json | grep -q '\"endpoint\":\"203.0.113.2:'"
    check "systemctl reload holepuncherd re-reads its config and keeps the session of lab" \
        eval "B systemctl reload holepuncherd && B systemctl is-active -q holepuncherd && B journalctl -q -u holepuncherd | grep -q 'reloaded config.*(sessions kept: 1)'"
    check "systemctl enable --now ruphin-tund@office (sealed, the shipped example)" \
        eval "B systemctl enable -q --now ruphin-tund@office && B systemctl is-active -q ruphin-tund@office"
    check "under systemd (StateDirectory=ruphin/%i, 0700) ruphin-tund@office keeps the node key made at its first start" \
        eval "[ \"\$(B stat -c %a /var/lib/ruphin/office)\" = 700 ] && [ \"\$(B ruphinctl pubkey /var/lib/ruphin/office)\" = '$office_pk' ]"
    check "... and ruphinctl status under systemd shows it as public_key" \
        wait_for "B ruphinctl -s /run/ruphin/office.sock status --json 2>/dev/null | grep -qF '\"public_key\":\"$office_pk\"'" 10
    check "ruphin-tund@office (no \"user\") runs as root with CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID only" \
        eval "[ \"\$(pid_status ruphin-tund@office Uid)\" = 0 ] && [ \"\$(pid_status ruphin-tund@office CapEff)\" = 00000000000014c0 ]"
    check "systemctl reload ruphin-tund@office re-reads the config" \
        eval "B systemctl reload ruphin-tund@office && B systemctl is-active -q ruphin-tund@office && B journalctl -q -u ruphin-tund@office | grep -q 'reload: config /etc/ruphin/office.json unchanged'"
    B systemctl stop ruphin-tund@office
    check "stopping one instance leaves the other's socket in /run/ruphin" \
        eval "B test -S /run/ruphin/lab.sock && ! B test -e /run/ruphin/office.sock"
    printf '{"holepuncher": "203.0.113.10:7700"}\n' >"$ROOT/etc/ruphin/bad.json"
    B systemctl start ruphin-tund@bad 2>/dev/null
    sleep 1
    check "a config error fails the instance without restarts (RestartPreventExitStatus=2)" \
        eval "[ \"\$(B systemctl show -P ActiveState ruphin-tund@bad)\" = failed ] && [ \"\$(B systemctl show -P NRestarts ruphin-tund@bad)\" = 0 ]"
    B systemctl reset-failed ruphin-tund@bad
    rm -f "$ROOT/etc/ruphin/bad.json"
    B systemctl start ruphin-tund@office
    check "ruphin-tund@office after a restart: the same node public key" \
        wait_for "B ruphinctl -s /run/ruphin/office.sock status --json 2>/dev/null | grep -qF '\"public_key\":\"$office_pk\"'" 10
    phase "units run under systemd"

    # DNS on the LAN through systemd-resolved: office answers hq.office.lan.arpa on its overlay
    # address, tells resolved (SetLinkDNS, ~office.lan.arpa), and the link's settings go with
    # the unit. Names resolve through resolvectl and through the C library (the root's
    # /etc/resolv.conf is resolved's stub, 127.0.0.53).
    if ((HAVE_RESOLVED == 1)) && wait_for "B systemctl is-active -q systemd-resolved" 10; then
        e2e_pass "systemd-resolved runs in the booted root"
        /usr/bin/python3 - "$ROOT/etc/ruphin/office.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["name"] = "hq"
c["dns"] = {"domain": "office.lan.arpa"}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
        B systemctl restart ruphin-tund@office
        o_addr=$(B ruphinctl -s /run/ruphin/office.sock status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"].split("/")[0])' 2>/dev/null)
        check "ruphin-tund@office with \"dns\" answers on $o_addr port 53" \
            wait_for "B journalctl -q -u ruphin-tund@office | grep -q 'dns: answering for \*.office.lan.arpa on $o_addr port 53'" 10
        check "and told resolved: the link's DNS server is $o_addr, its domain ~office.lan.arpa" \
            wait_for "B resolvectl dns rph0 2>/dev/null | grep -qw '$o_addr' && B resolvectl domain rph0 2>/dev/null | grep -q '~office.lan.arpa'" 10
        check "... and logged it once resolved took it, no call refused" \
            eval "wait_for \"B journalctl -q -u ruphin-tund@office | grep -q 'dns: systemd-resolved sends queries for \*.office.lan.arpa to this daemon on link rph0'\" 10 && ! B journalctl -q -u ruphin-tund@office | grep -q 'systemd-resolved refused'"
        rq=$(B resolvectl query hq.office.lan.arpa 2>&1)
        printf '%s\n' "$rq" | sed 's/^/  resolvectl: /'
        check "resolvectl query hq.office.lan.arpa: $o_addr, through link rph0" \
            eval "grep -q 'hq.office.lan.arpa: $o_addr' <<<\"\$rq\" && grep -q 'link: rph0' <<<\"\$rq\""
        check "getent ahostsv4 hq.office.lan.arpa through the stub 127.0.0.53: $o_addr" \
            eval "B getent ahostsv4 hq.office.lan.arpa | grep -q '^$o_addr '"
        check "an unknown name in the domain does not resolve (NXDOMAIN from the daemon)" \
            eval "! B resolvectl query nobody.office.lan.arpa >/dev/null 2>&1"
        B systemctl stop ruphin-tund@office
        check "systemctl stop ruphin-tund@office: RevertLink, then the link and the domain are gone from resolved" \
            wait_for "B journalctl -q -u ruphin-tund@office | grep -q 'dns: systemd-resolved forgot \*.office.lan.arpa on rph0' && ! B resolvectl dns rph0 >/dev/null 2>&1 && ! B resolvectl status 2>/dev/null | grep -q office.lan.arpa" 10
        check "... and hq.office.lan.arpa no longer resolves" \
            eval "! B resolvectl query hq.office.lan.arpa >/dev/null 2>&1"
        B systemctl start ruphin-tund@office
        check "ruphin-tund@office started again: hq.office.lan.arpa resolves again" \
            wait_for "B resolvectl query hq.office.lan.arpa 2>/dev/null | grep -q '$o_addr'" 15
        phase "names resolved through systemd-resolved"
    else
        e2e_info "systemd-resolved is not running in the booted root: $(B systemctl status systemd-resolved 2>&1 | tail -n 3 | tr '\n' ' ')"
        ((HAVE_RESOLVED == 1)) && e2e_fail "systemd-resolved installed but not running in the booted root"
    fi

    # Upgrade path: an admin's edit of the conffile survives, running daemons restart.
    echo '{"listen": ["0.0.0.0:7700"], "log_level": "debug"}' >"$ROOT/etc/ruphin/holepuncherd.json"
    hpd_pid=$(B systemctl show -P MainPID holepuncherd)
    lab_pid=$(B systemctl show -P MainPID ruphin-tund@lab)
    IN_BOOT_DEBS=()
    for p in "${PKGS[@]}"; do IN_BOOT_DEBS+=("/root/debs/$(basename "$(deb "$p")")"); done
    B dpkg -i "${IN_BOOT_DEBS[@]}" >"$WORK/dpkg-re.log" 2>&1
    re_rc=$?
    check "dpkg -i again (upgrade path) keeps the admin's holepuncherd.json" \
        eval "[ $re_rc -eq 0 ] && grep -q debug '$ROOT/etc/ruphin/holepuncherd.json'"
    check "... and restarts holepuncherd and the running ruphin-tund@ instances" \
        eval "[ \"\$(B systemctl show -P MainPID holepuncherd)\" != $hpd_pid ] && [ \"\$(B systemctl show -P MainPID ruphin-tund@lab)\" != $lab_pid ] && B systemctl is-active -q holepuncherd ruphin-tund@lab ruphin-tund@office"

    timeout 300 nsenter -t "$INIT" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        apt-get -q -y -o Dpkg::Use-Pty=0 remove "${PKGS[@]}" >"$WORK/remove.log" 2>&1
    check "apt-get remove stops holepuncherd and every ruphin-tund@ instance" \
        eval "! B systemctl is-active -q holepuncherd && ! B systemctl is-active -q ruphin-tund@lab && ! B systemctl is-active -q ruphin-tund@office && ! ip -n $NS_HP link show rph1 >/dev/null 2>&1"
    check "apt-get remove: programs gone, conffile kept until purge" \
        eval "[ ! -e '$ROOT/usr/sbin/ruphin-tund' ] && [ ! -e '$ROOT/usr/sbin/holepuncherd' ] && [ -e '$ROOT/etc/ruphin/holepuncherd.json' ]"
    # dpkg, not apt: apt no longer knows libruphin-dev once it is removed (no conffiles left).
    B dpkg --purge "${PKGS[@]}" >"$WORK/purge.log" 2>&1
    check "purge: /run/ruphin removed (postrm)" eval "! B test -e /run/ruphin"
    B systemctl poweroff 2>/dev/null
    wait_for "! kill -0 $NSPAWN 2>/dev/null" 30 || kill "$NSPAWN" 2>/dev/null
    wait "$NSPAWN" 2>/dev/null
else
    tail -n 30 "$BOOT_LOG"
    e2e_fail "the root boots with systemd (systemd-nspawn); removing and purging in the chroot instead"
    kill "$NSPAWN" 2>/dev/null
    wait "$NSPAWN" 2>/dev/null
    chroot_mounts "$ROOT"
    in_root_t 300 apt-get -q -y -o Dpkg::Use-Pty=0 remove "${PKGS[@]}" >"$WORK/remove.log" 2>&1
    in_root_t 300 dpkg --purge "${PKGS[@]}" >"$WORK/purge.log" 2>&1
    chroot_umount "$ROOT"
fi
topo_down

# ---------------------------------------------------------------- what purge leaves

left=$(cd "$ROOT" && find . -xdev \( -iname '*ruphin*' -o -iname '*holepuncher*' -o -path './etc/ruphin/*' \) \
    -not -path './tmp/*' -not -path './root/debs/*' -not -path './var/cache/apt/*' \
    -not -path './var/log/*' -not -path ".$WORK/*" | sed 's/^\.//' | sort)
printf '%s\n' "$left" | sed '/^$/d; s/^/  left after purge: /'
check "purge: nothing of ours left but the admin's files in /etc/ruphin" \
    test "$left" == $'/etc/ruphin\n/etc/ruphin/lab.json\n/etc/ruphin/office.json\n/etc/ruphin/office.key'
check "purge: no enablement links or deb-systemd-helper state (instances included)" \
    eval "! ls -R '$ROOT/etc/systemd/system' '$ROOT/var/lib/systemd/deb-systemd-helper-enabled' 2>/dev/null | grep -qiE 'ruphin|holepuncher'"
all_gone=1
for p in "${PKGS[@]}"; do
    st=$(chroot "$ROOT" dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
    [[ -z $st || $st == not-installed ]] || all_gone=0
done
check "purge: dpkg knows none of the three any more" test "$all_gone" -eq 1
phase "removed and purged"

e2e_info "total $((SECONDS - T0)) s"
e2e_finish
