#!/usr/bin/env bash
# Installs a zonegate .deb on this machine (root), checks what the package promises, verifies the
# unit with systemd-analyze (when present) and purges it again, checking that nothing is left.
# Usage: sudo bash build/deb-install-check.sh dist/zonegate_<version>_<arch>.deb
set -euo pipefail
deb=$(readlink -f "${1:?usage: deb-install-check.sh FILE.deb}")
[ "$(id -u)" -eq 0 ] || { echo "deb-install-check: needs root (installs a package)" >&2; exit 2; }
if dpkg -s zonegate >/dev/null 2>&1; then echo "deb-install-check: zonegate is already installed; not touching it" >&2; exit 2; fi
apt=(apt-get -o DPkg::Lock::Timeout=900 -q -y --no-install-recommends)
fail() { echo "deb-install-check: FAIL: $*" >&2; exit 1; }
say() { echo "deb-install-check: $*"; }

DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$deb" >/dev/null
say "installed $(dpkg-query -W -f='${Package} ${Version} ${Architecture}' zonegate)"
getent passwd zonegate >/dev/null || fail "no system user zonegate"
[ "$(getent passwd zonegate | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the zonegate user has a login shell"
[ "$(stat -c '%a %U:%G' /var/lib/zonegate)" = "700 zonegate:zonegate" ] || fail "/var/lib/zonegate is $(stat -c '%a %U:%G' /var/lib/zonegate)"
[ "$(stat -c '%a %U:%G' /etc/zonegate/gateway.yaml)" = "640 root:zonegate" ] || fail "gateway.yaml is $(stat -c '%a %U:%G' /etc/zonegate/gateway.yaml)"
[ "$(command -v zonegate)" = /usr/bin/zonegate ] || fail "zonegate is not on PATH"
zonegate version | grep -q "^zonegate " || fail "zonegate version"
su -s /bin/sh zonegate -c 'zonegate policy check /etc/zonegate/policy.yaml' >/dev/null || fail "policy check as the zonegate user"
say "on PATH: $(zonegate version)"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/zonegate.service || fail "systemd-analyze verify"
  say "systemd-analyze verify: ok"
else
  say "systemd-analyze not installed: unit not verified"
fi
echo "# edited" >>/etc/zonegate/gateway.yaml
DEBIAN_FRONTEND=noninteractive "${apt[@]}" purge zonegate >/dev/null
for p in /usr/lib/zonegate /usr/bin/zonegate /etc/zonegate /var/lib/zonegate /lib/systemd/system/zonegate.service; do
  [ ! -e "$p" ] || fail "$p is left after purge"
done
dpkg -s zonegate >/dev/null 2>&1 && fail "dpkg still knows zonegate"
say "purged: nothing left (the system user zonegate stays, as Debian does)"
