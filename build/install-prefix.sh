#!/usr/bin/env bash
# `make install [PREFIX=/usr/local] [DESTDIR=]`: the built bundle (dist/zonegate.js and its code,
# dist/chunks/) and the @node-rs/argon2 loader and binary of this machine under PREFIX/lib/zonegate, and a `zonegate`
# wrapper in PREFIX/bin that runs it with the gateway's node flags (build/node-flags).
# DESTDIR stages the files elsewhere (packaging); the wrapper still names PREFIX.
set -euo pipefail
prefix=${1:?usage: install-prefix.sh PREFIX [DESTDIR]}
destdir=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$root/dist/zonegate.js" ] && [ -f "$root/dist/chunks/main.js" ] || { echo "install: dist/zonegate.js is not built (make build)" >&2; exit 1; }
case "$prefix" in /*) ;; *) echo "install: PREFIX must be absolute, got '$prefix'" >&2; exit 2 ;; esac
lib="$destdir$prefix/lib/zonegate"
bin="$destdir$prefix/bin"
mkdir -p "$bin" "$(dirname "$lib")"
rm -rf "$lib.new"
mkdir -p "$lib.new/node_modules/@node-rs"
cp "$root/dist/zonegate.js" "$lib.new/"
cp -R "$root/dist/chunks" "$lib.new/"
for d in "$root"/node_modules/@node-rs/argon2*; do cp -RL "$d" "$lib.new/node_modules/@node-rs/"; done
rm -rf "$lib"
mv "$lib.new" "$lib"
flags=$(tr -s ' \n' ' ' <"$root/build/node-flags" | sed 's/ *$//')
cat >"$bin/zonegate.new" <<WRAPPER
#!/bin/sh
# zonegate, installed by make install: the bundle with the gateway's node flags (Node >= 18).
exec "\${ZONEGATE_NODE:-node}" $flags "$prefix/lib/zonegate/zonegate.js" "\$@"
WRAPPER
chmod 0755 "$bin/zonegate.new"
mv "$bin/zonegate.new" "$bin/zonegate"
echo "installed $prefix/bin/zonegate -> $prefix/lib/zonegate/zonegate.js${destdir:+ (staged in $destdir)}"
