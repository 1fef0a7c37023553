#!/bin/sh
# Installs a zonegate package on a device (run as root from the unpacked package folder, or give
# the tarball): `sudo ./install.sh` or `sudo sh install.sh zonegate-0.1.0-linux-arm64.tar.gz`.
#   /opt/zonegate/slots/a, slots/b   A/B slots (the package goes into the inactive one)
#   /opt/zonegate/current            symlink to the active slot (switched by one atomic rename)
#   /opt/zonegate/boot-check.sh      rollback check, outside the slots
#   /etc/zonegate/gateway.yaml       config (the example is copied only when none exists)
#   /var/lib/zonegate                state: policy store, trust root, audit log, update markers
# Creates the system user `zonegate`, installs and enables zonegate.service. Needs Debian's
# nodejs (>= 18) on the device. Environment: DESTDIR (a root folder for staging images and
# tests; systemctl and useradd are skipped when set), NO_START=1 (enable but do not start).
set -eu
dest=${DESTDIR:-}
opt="$dest/opt/zonegate"
etc="$dest/etc/zonegate"
state="$dest/var/lib/zonegate"
unit="$dest/etc/systemd/system/zonegate.service"

src=$(dirname "$(readlink -f "$0")")
tmp=
if [ $# -ge 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$1" -C "$tmp" --no-same-owner
  src=$tmp
fi
[ -f "$src/zonegate.js" ] && [ -f "$src/VERSION" ] || { echo "install: $src is not an unpacked zonegate package" >&2; exit 1; }
version=$(cat "$src/VERSION")

if [ -z "$dest" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "install: run as root" >&2; exit 1; }
  command -v node >/dev/null 2>&1 || { echo "install: no node on PATH (apt-get install nodejs)" >&2; exit 1; }
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || { echo "install: node $major is too old, zonegate needs >= 18" >&2; exit 1; }
  getent group zonegate >/dev/null || groupadd --system zonegate
  getent passwd zonegate >/dev/null || useradd --system --gid zonegate --home-dir /var/lib/zonegate --no-create-home --shell /usr/sbin/nologin zonegate
  owner=zonegate:zonegate
else
  owner=
fi

mkdir -p "$opt/slots/a" "$opt/slots/b" "$etc" "$state" "$(dirname "$unit")"
# The inactive slot gets the package; on a first install that is slot a.
active=
if [ -L "$opt/current" ]; then active=$(basename "$(readlink "$opt/current")"); fi
case "$active" in a) slot=b ;; *) slot=a ;; esac
rm -rf "$opt/slots/$slot"
mkdir -p "$opt/slots/$slot"
cp -a "$src/." "$opt/slots/$slot/"
ln -sfn "slots/$slot" "$opt/current.tmp-$$"
mv -fT "$opt/current.tmp-$$" "$opt/current"
install -m 0755 "$src/boot-check.sh" "$opt/boot-check.sh"
install -m 0644 "$src/share/zonegate.service" "$unit"
[ -f "$etc/gateway.yaml" ] || install -m 0640 "$src/share/gateway.example.yaml" "$etc/gateway.yaml"
[ -f "$etc/policy.yaml" ] || install -m 0640 "$src/share/policy.example.yaml" "$etc/policy.yaml"
chmod 0700 "$state"
if [ -n "$owner" ]; then
  # The daemon installs updates into the slots and switches `current`: it owns /opt/zonegate.
  chown -R "$owner" "$opt/slots" "$state"
  chown "$owner" "$opt"
  chgrp zonegate "$etc" "$etc/gateway.yaml" "$etc/policy.yaml"
  chmod 0750 "$etc"
fi
if [ -z "$dest" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  systemctl enable zonegate.service
  [ "${NO_START:-}" = 1 ] || systemctl restart zonegate.service
fi
echo "install: zonegate $version in $opt/slots/$slot (current → slots/$slot); config $etc/gateway.yaml"
