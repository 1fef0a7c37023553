#!/usr/bin/env bash
# Installs the Debian packages that the tests, benchmarks and demo talk to, when they are missing.
# Only as root (apt); otherwise it says what is missing and the tests that need them skip and say so.
set -euo pipefail
want=(mosquitto:mosquitto mosquitto_pub:mosquitto-clients nft:nftables mbpoll:mbpoll socat:socat
      haproxy:haproxy ip:iproute2 openssl:openssl chromium:chromium nmap:nmap strace:strace gcc:gcc)
missing=()
for pair in "${want[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || missing+=(python3-pymodbus)
# libmodbus's conformance programs are built against the installed library (test/drivers/libmodbus-suite.test.ts).
[ -f /usr/include/modbus/modbus.h ] || missing+=(libmodbus-dev pkg-config)
# nmap's modbus-discover script (Debian ships it in nmap-common).
[ -f /usr/share/nmap/scripts/modbus-discover.nse ] || missing+=(nmap-common)
LIBMODBUS_CACHE=${ZG_LIBMODBUS_CACHE:-/var/cache/zonegate/libmodbus-tests}
[ ${#missing[@]} -eq 0 ] && [ -f "$LIBMODBUS_CACHE/unit-test-client.c" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: not root, cannot install: ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
# libmodbus's own test programs (tests/unit-test-*.c of the version Debian ships) come from Debian's
# source package, fetched once into a cache folder outside the work tree (the sources stay
# LGPL/BSD files of their own, with their licence beside them, and are never committed).
fetch_libmodbus_tests() {
  [ -f "$LIBMODBUS_CACHE/unit-test-client.c" ] && return 0
  local list=/etc/apt/sources.list.d/zonegate-deb-src.sources
  if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Mirror the machine's deb sources as deb-src (same URIs, suites and keys).
    sed -n '/^Types:.*deb\b/,/^$/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | sed 's/^Types:.*/Types: deb-src/' > "$list" || true
    [ -s "$list" ] || rm -f "$list"
    apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null || true
  fi
  command -v dpkg-source >/dev/null 2>&1 || apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends dpkg-dev >/dev/null
  local work; work=$(mktemp -d)
  if (cd "$work" && apt-get source -qq libmodbus >/dev/null 2>&1); then
    local src; src=$(find "$work" -maxdepth 1 -type d -name 'libmodbus-*' | head -1)
    mkdir -p "$LIBMODBUS_CACHE"
    cp "$src"/tests/unit-test.h.in "$src"/tests/unit-test-client.c "$src"/tests/unit-test-server.c "$LIBMODBUS_CACHE"/
    for f in "$src"/tests/LICENSE "$src"/COPYING.LESSER; do [ -f "$f" ] && cp "$f" "$LIBMODBUS_CACHE"/; done
    basename "$src" > "$LIBMODBUS_CACHE/VERSION"
  else
    echo "setup-deps: apt-get source libmodbus failed (no deb-src?): the libmodbus suite will skip" >&2
  fi
  rm -rf "$work"
}

echo "setup-deps: installing ${missing[*]:-libmodbus test sources}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
[ ${#missing[@]} -eq 0 ] || apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts mosquitto and haproxy as services on install; tests start their own on loopback ports.
for svc in mosquitto haproxy; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
  pkill -x "$svc" >/dev/null 2>&1 || true
done
fetch_libmodbus_tests
echo "setup-deps: done"
