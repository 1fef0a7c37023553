#!/usr/bin/env bash
# Installs the Debian packages that the tests, benchmarks and demo talk to, when the exact
# capability they use is missing (a server import, not `import pymodbus`; a binary on PATH or in
# /usr/sbin). As root it installs them with apt and checks again; otherwise it says what is missing
# and the tests that need it print SKIP with the reason. Exit 0 unless an install left a
# capability missing as root (exit 1, naming it).
# Usage: bash build/setup-deps.sh [--check]   (--check: only report, never install)
set -euo pipefail
py=/usr/bin/python3

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# Each entry: NAME|CHECK (a shell command that succeeds when the capability works)|PACKAGES.
# Keep the check what the tests really run: pymodbus's server needs python3-serial and
# python3-serial-asyncio, which Debian's python3-pymodbus only recommends.
checks=(
  "mosquitto|have mosquitto && have mosquitto_passwd|mosquitto"
  "mosquitto clients|have mosquitto_pub && have mosquitto_sub|mosquitto-clients"
  "nftables|have nft|nftables"
  "mbpoll|have mbpoll|mbpoll"
  "socat|have socat|socat"
  "haproxy|have haproxy|haproxy"
  "iproute2|have ip|iproute2"
  "openssl|have openssl|openssl"
  "prlimit|have prlimit|util-linux"
  "systemd-notify|have systemd-notify|systemd"
  "chromium|have chromium|chromium"
  "nmap modbus-discover|have nmap && [ -f /usr/share/nmap/scripts/modbus-discover.nse ]|nmap nmap-common"
  "strace|have strace|strace"
  "libmodbus-dev (the conformance programs are built against it)|have gcc && have pkg-config && [ -f /usr/include/modbus/modbus.h ]|gcc libc6-dev pkg-config libmodbus-dev"
  "lintian|have lintian|lintian"
  "tshark with the dnp3 dissector and modbus fields (DNP3 oracle, policy learn --pcap)|{ tshark -G protocols 2>/dev/null || true; } | grep -q \$'\\tdnp3\$' && { tshark -G fields 2>/dev/null || true; } | grep -q \$'\\tmodbus.func_code\\t'|tshark"
  "text2pcap and mergecap (tests write captures)|have text2pcap && have mergecap|wireshark-common"
  "pymodbus server and client|$py -c 'from pymodbus.server import StartAsyncTcpServer, StartAsyncSerialServer; from pymodbus.client import ModbusTcpClient; from pymodbus.datastore import ModbusSlaveContext; import serial, serial_asyncio'|python3-pymodbus python3-serial python3-serial-asyncio"
  "scapy with the IEC 60870-5-104 layer (IEC 104 oracle)|$py -c 'import scapy.contrib.scada.iec104'|python3-scapy"
  "PostgreSQL server: initdb and postgres and pg_ctl (the fleet store tests and make demo start their own cluster)|ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/postgres /usr/lib/postgresql/*/bin/pg_ctl|postgresql"
)

check_all() {
  missing_names=(); missing_pkgs=()
  local entry name check pkgs
  for entry in "${checks[@]}"; do
    name=${entry%%|*}; check=${entry#*|}; pkgs=${check##*|}; check=${check%|*}
    if ! (eval "$check") >/dev/null 2>&1; then
      missing_names+=("$name"); read -r -a more <<<"$pkgs"; missing_pkgs+=("${more[@]}")
    fi
  done
}

LIBMODBUS_CACHE=${ZG_LIBMODBUS_CACHE:-/var/cache/zonegate/libmodbus-tests}
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

can_install() { [ "${1:-}" != "--check" ] && [ "$(id -u)" -eq 0 ]; }

check_all
if [ ${#missing_names[@]} -eq 0 ]; then
  if can_install "${1:-}"; then fetch_libmodbus_tests; fi
  exit 0
fi
joined() { local IFS=','; echo "$*" | sed 's/,/, /g'; }
if [ "${1:-}" = "--check" ] || [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: missing $(joined "${missing_names[@]}") (packages: ${missing_pkgs[*]});" \
       "not installing$([ "$(id -u)" -ne 0 ] && echo ' (not root)'): the tests that need them print SKIP" >&2
  exit 0
fi
echo "setup-deps: missing $(joined "${missing_names[@]}"); installing ${missing_pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark's package asks whether non-root users may capture: no (the tests only read pcaps).
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
# Other installs may hold the dpkg lock (a second suite, unattended upgrades): wait for it.
apt=(apt-get -o DPkg::Lock::Timeout=900 -q)
"${apt[@]}" update -qq >/dev/null || true
"${apt[@]}" install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
# Debian starts mosquitto, haproxy and a postgresql cluster as services on install; tests start
# their own on free ports.
for svc in mosquitto haproxy postgresql; do
  systemctl stop "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
check_all
if [ ${#missing_names[@]} -ne 0 ]; then
  echo "setup-deps: still missing after install: $(joined "${missing_names[@]}")" >&2
  exit 1
fi
fetch_libmodbus_tests
echo "setup-deps: done"
