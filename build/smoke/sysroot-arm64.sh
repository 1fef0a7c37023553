#!/usr/bin/env bash
# Builds an arm64 sysroot holding Debian bookworm's nodejs 18 and the libraries it links, from
# Debian packages (apt-get download, dpkg-deb -x), for running the packaged gateway under
# qemu-user-static. Usage: build/smoke/sysroot-arm64.sh SYSROOT_DIR. Cached: a sysroot that
# already holds usr/bin/node is reused. Needs root the first time (dpkg --add-architecture).
set -euo pipefail
sysroot=${1:?usage: sysroot-arm64.sh SYSROOT_DIR}
if [ -x "$sysroot/usr/bin/node" ]; then exit 0; fi

# nodejs → libnode108 → these (apt-cache show libnode108:arm64, bookworm). The node-* packages are
# architecture "all" JS that Debian's node loads from /usr/share/nodejs (acorn, cjs-module-lexer,
# undici for fetch); xtend and busboy are their dependencies.
pkgs=(nodejs:arm64 libnode108:arm64 libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libbrotli1:arm64
      libc-ares2:arm64 libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libuv1:arm64 zlib1g:arm64
      node-acorn node-cjs-module-lexer node-undici node-xtend node-busboy)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  [ "$(id -u)" -eq 0 ] || { echo "sysroot-arm64: need root to add the arm64 architecture" >&2; exit 1; }
  dpkg --add-architecture arm64
  apt-get update -qq
fi
if ! apt-cache show nodejs:arm64 >/dev/null 2>&1; then apt-get update -qq; fi

debs="$sysroot.debs"
mkdir -p "$debs"
( cd "$debs" && apt-get download -qq "${pkgs[@]}" )
mkdir -p "$sysroot"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
# Debian's libraries live under usr/lib/aarch64-linux-gnu; qemu -L makes the loader find them.
[ -x "$sysroot/usr/bin/node" ] || { echo "sysroot-arm64: no usr/bin/node after extraction" >&2; exit 1; }
echo "sysroot-arm64: $(du -sh "$sysroot" | cut -f1) in $sysroot"
