#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages ruphin-tun, holepuncherd and libruphin-dev (dpkg-buildpackage, packaging/debian).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/package.sh [-o OUTDIR] [--no-deps]
  Builds ruphin-tun, holepuncherd and libruphin-dev .deb files from this tree
  (tracked and untracked files, not ignored ones) with packaging/debian/, in
  build-pkg/src/, and puts them with their .buildinfo and .changes in OUTDIR
  (default build/deb). The version is project(VERSION) of CMakeLists.txt; the
  Debian revision is $DEB_REVISION (default 1).
  -o OUTDIR   where the .deb files go
  --no-deps   do not install missing build dependencies (apt-get, as root)
EOF
}

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUT=build/deb
deps=1
while (($# > 0)); do
    case $1 in
    -o)
        [[ $# -ge 2 ]] || { usage >&2; exit 2; }
        OUT=$2
        shift
        ;;
    --no-deps) deps=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "package.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $OUT in /*) ;; *) OUT=$REPO/$OUT ;; esac

die() { echo "package.sh: $*" >&2; exit 1; }

# ---- version: the one in CMakeLists.txt
VERSION=$(sed -n 's/^project([^)]*VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt | head -n 1)
[[ -n $VERSION ]] || die "no project(... VERSION x.y.z ...) in CMakeLists.txt"
DEB_VERSION=$VERSION-${DEB_REVISION:-1}

# ---- build dependencies (Build-Depends of packaging/debian/control, plus the tools)
BUILD_DEPS=(debhelper dpkg-dev cmake pkg-config libevent-dev libsodium-dev libssl-dev libcjson-dev libmnl-dev libldns-dev libsystemd-dev)
missing=()
for p in "${BUILD_DEPS[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
    if ((deps == 0)) || [[ $(id -u) -ne 0 ]]; then
        die "missing build dependencies: ${missing[*]} (as root: apt-get install ${missing[*]})"
    fi
    echo "package.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -qq update </dev/null
    apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

# ---- a clean source tree with debian/ at its top
WORK=$REPO/build-pkg/src
SRC=$WORK/ruphin-tun-$VERSION
rm -rf "$WORK"
mkdir -p "$SRC"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # What a commit of this tree would hold: tracked and new files, never build output.
    git -C "$REPO" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$SRC"
else
    tar --exclude='./build*' --exclude='./.git' -cf - . | tar -xf - -C "$SRC"
fi
cp -a packaging/debian "$SRC/debian"

# The changelog carries the version; it is written here so that it cannot disagree with
# CMakeLists.txt. Its date is the last commit's, so a rebuild of a commit is the same.
epoch=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH=$epoch
maint=$(sed -n 's/^Maintainer: //p' packaging/debian/control)
cat >"$SRC/debian/changelog" <<EOF
ruphin-tun ($DEB_VERSION) unstable; urgency=medium

  * Release $VERSION; see the git history for the changes.

 -- $maint  $(LC_ALL=C date -u -R -d "@$epoch")
EOF

# ---- build
echo "package.sh: building ruphin-tun $DEB_VERSION in ${SRC#"$REPO"/}"
log=$WORK/build.log
if ! (cd "$SRC" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "dpkg-buildpackage failed; the whole log is $log"
fi

mkdir -p "$OUT"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
debs=()
for p in ruphin-tun holepuncherd libruphin-dev; do
    f=$WORK/${p}_${DEB_VERSION}_$arch.deb
    [[ -f $f ]] || die "dpkg-buildpackage made no $f"
    debs+=("$f")
done
rm -f "$OUT"/*.deb "$OUT"/*.buildinfo "$OUT"/*.changes
mv "${debs[@]}" "$WORK"/ruphin-tun_"${DEB_VERSION}"_"$arch".{buildinfo,changes} "$OUT"/
for f in "$OUT"/*.deb; do echo "$f"; done
