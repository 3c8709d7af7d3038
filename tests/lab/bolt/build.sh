#!/usr/bin/env bash
# Builds vf-bolt (qrysm's validator.db through the real bbolt library) offline,
# statically, into a cache keyed by the source's sha256, and prints its path.
#
#   tests/lab/bolt/build.sh [OUT]    OUT: also copy the binary there
#
# Needs Go and bbolt's source: apt-get install -y golang-go golang-github-coreos-bbolt-dev
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/vf-bolt.go"
out="${1:-}"
gocode=/usr/share/gocode

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: go is not installed (apt-get install -y golang-go golang-github-coreos-bbolt-dev)" >&2
    exit 2
fi
if [ ! -f "$gocode/src/go.etcd.io/bbolt/db.go" ]; then
    echo "build.sh: bbolt's source is missing from $gocode/src/go.etcd.io/bbolt (apt-get install -y golang-go golang-github-coreos-bbolt-dev)" >&2
    exit 2
fi

sha="$(sha256sum "$src" | cut -c1-16)"
cache="${VF_BOLT_CACHE:-/var/cache/validator-failover/bolt}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
    cache="${TMPDIR:-/tmp}/validator-failover-bolt"
    mkdir -p "$cache"
fi
bin="$cache/vf-bolt-$sha"

if [ ! -x "$bin" ]; then
    gp="$(mktemp -d "$cache/gopath.XXXXXX")"
    trap 'rm -rf "$gp"' EXIT
    mkdir -p "$gp/src/vfbolt"
    cp "$src" "$gp/src/vfbolt/"
    (
        cd "$gp/src/vfbolt"
        GO111MODULE=off GOPATH="$gp:$gocode" GOFLAGS= CGO_ENABLED=0 \
            GOCACHE="$cache/gocache" go build -trimpath -o "$gp/vf-bolt" .
    ) >&2 || { echo "build.sh: go build of vf-bolt failed" >&2; exit 1; }
    mv -f "$gp/vf-bolt" "$bin"
fi

if [ -n "$out" ]; then
    cp -f "$bin" "$out"
    echo "$out"
else
    echo "$bin"
fi
