#!/usr/bin/env bash
# The arm64 Debian package installed for real (part of `make smoke-arm64`): an arm64 root made of
# Debian bookworm's arm64 packages (libc, dash, coreutils, dpkg, perl-base, adduser, passwd,
# nodejs 18 and the libraries they link), entered with chroot through qemu-user-static's binfmt
# handler; dpkg inside it installs zonegate_VERSION_arm64.deb (its postinst creates the zonegate
# system user), the gateway runs as that user, and the package purges cleanly.
# The root's own packages are extracted with dpkg-deb, not registered in its dpkg database, so the
# install passes --force-depends: the Depends line itself is checked by lintian and by the amd64
# install in build/deb-install-check.sh.
# Usage: build/smoke/deb-arm64.sh  (as root; prints SKIPPED with the reason otherwise)
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { printf 'deb-arm64: %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { say "SKIPPED: needs root (chroot, binfmt_misc)"; exit 0; }
handler=/usr/libexec/qemu-binfmt/aarch64-binfmt-P
[ -x "$handler" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
binfmt=/proc/sys/fs/binfmt_misc
[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || { say "SKIPPED: binfmt_misc cannot be mounted here"; exit 0; }
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  # The F flag opens the handler now, so that it also runs inside the chroot.
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register" || { say "SKIPPED: cannot register the aarch64 binfmt handler"; exit 0; }
fi

cache=$PWD/dist/.cache/debroot-arm64
pkgs=(libc6:arm64 libc-bin:arm64 dash:arm64 coreutils:arm64 dpkg:arm64 tar:arm64 sed:arm64 grep:arm64
      findutils:arm64 diffutils:arm64 perl-base:arm64 adduser passwd:arm64 libselinux1:arm64
      libpcre2-8-0:arm64 libacl1:arm64 libattr1:arm64 libzstd1:arm64 liblzma5:arm64 libbz2-1.0:arm64
      zlib1g:arm64 libmd0:arm64 libaudit1:arm64 libcap-ng0:arm64 libsemanage2:arm64 libsepol2:arm64
      libpam0g:arm64 libcrypt1:arm64 libgmp10:arm64
      nodejs:arm64 libnode108:arm64 libgcc-s1:arm64 libstdc++6:arm64 libbrotli1:arm64 libc-ares2:arm64
      libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libuv1:arm64
      node-acorn node-cjs-module-lexer node-undici node-xtend node-busboy)
if [ ! -x "$cache/root/usr/bin/node" ]; then
  say "building the arm64 root in $cache (once)"
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
  rm -rf "$cache"; mkdir -p "$cache/debs" "$cache/root"
  (cd "$cache/debs" && apt-get download -qq "${pkgs[@]}" 2>/dev/null)
  for deb in "$cache/debs"/*.deb; do dpkg-deb -x "$deb" "$cache/root"; done
  r=$cache/root
  mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers" "$r/var/log" "$r/run" "$r/tmp" "$r/root"
  touch "$r/var/lib/dpkg/status" "$r/var/lib/dpkg/available"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
  printf 'root:x:0:\n' > "$r/etc/group"
  printf 'root:*:19000:0:99999:7:::\n' > "$r/etc/shadow"
  printf 'root:*::\n' > "$r/etc/gshadow"
  chmod 640 "$r/etc/shadow" "$r/etc/gshadow"; chmod 1777 "$r/tmp"
fi

work=$(mktemp -d /tmp/zg-deb-arm64-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$cache/root" "$work/root"
node build/deb.mjs --arch arm64 --out-dir "$work/root/tmp" | sed 's/^/deb-arm64: /'
deb=$(cd "$work/root/tmp" && ls zonegate_*_arm64.deb)
in_root() { chroot "$work/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

arch=$(in_root uname -m)
[ "$arch" = aarch64 ] || { say "FAIL: the root runs as $arch, not aarch64"; exit 1; }
in_root dpkg --force-depends -i "/tmp/$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; say "FAIL: dpkg -i $deb"; exit 1; }
status=$(in_root dpkg-query -W -f '${Status} ${Version} ${Architecture}' zonegate)
[[ "$status" == "install ok installed "*" arm64" ]] || { say "FAIL: dpkg says '$status'"; exit 1; }
say "installed under qemu: $status"
user=$(in_root getent passwd zonegate) || { say "FAIL: postinst made no zonegate user"; exit 1; }
say "system user: $user"
mode=$(in_root stat -c "%a %U" /var/lib/zonegate)
[ "$mode" = "700 zonegate" ] || { say "FAIL: /var/lib/zonegate is $mode, want 700 zonegate"; exit 1; }
say "/var/lib/zonegate: $mode"
version=$(chroot --userspec=zonegate:zonegate "$work/root" /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/zonegate version 2>/dev/null)
case "$version" in *arm64*) say "as the zonegate user: $version" ;; *) say "FAIL: zonegate version printed '$version'"; exit 1 ;; esac
checked=$(chroot --userspec=zonegate:zonegate "$work/root" /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/zonegate policy check /etc/zonegate/policy.yaml 2>/dev/null) || { say "FAIL: the zonegate user cannot check the shipped /etc/zonegate/policy.yaml"; exit 1; }
say "policy check of the shipped /etc/zonegate/policy.yaml (read through the zonegate group): $(echo "$checked" | head -1)"
in_root dpkg --purge --force-depends zonegate >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; say "FAIL: dpkg --purge"; exit 1; }
for gone in /var/lib/zonegate /usr/bin/zonegate /etc/zonegate/gateway.yaml; do
  [ ! -e "$work/root$gone" ] || { say "FAIL: $gone is still there after purge"; exit 1; }
done
say "purged: state, binary and conffiles gone (the system user stays, Debian practice)"
say PASS
