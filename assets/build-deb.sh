#!/usr/bin/env bash
# Build the Debian package in one command:
#
#   bash assets/build-deb.sh [cargo-deb options, e.g. --output DIR]
#
# The release binary is built, then asked for its own man pages and shell completions
# (generated from its clap definitions, into target/assets/), and `cargo deb --no-build`
# packs them with the example configuration and the systemd units
# ([package.metadata.deb] in Cargo.toml). Needs cargo-deb (cargo install cargo-deb
# --locked) and gzip. Prints the .deb's path as cargo-deb does.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "error: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 2
fi

cargo build --release --locked
target_dir=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/validator-failover"

# Crate-relative, as the asset paths in Cargo.toml name them.
out=target/assets
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
"$bin" man --out-dir "$out/man" >/dev/null
gzip -9 -n "$out"/man/*.1
"$bin" completions bash >"$out/completions/validator-failover.bash"
"$bin" completions zsh >"$out/completions/_validator-failover"
"$bin" completions fish >"$out/completions/validator-failover.fish"

# --strip: [profile.release] keeps line tables for the benches; the package does not.
cargo deb --no-build --strip "$@"
