#!/usr/bin/env bash
# Installs the Debian packages that the tests, benchmarks and demo talk to, when they are missing.
# Only as root (apt); otherwise it says what is missing and the tests that need them skip and say so.
set -euo pipefail
want=(mosquitto:mosquitto mosquitto_pub:mosquitto-clients nft:nftables mbpoll:mbpoll socat:socat
      haproxy:haproxy ip:iproute2 openssl:openssl chromium:chromium)
missing=()
for pair in "${want[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || missing+=(python3-pymodbus)
# policy learn --pcap reads Modbus/TCP fields through tshark; its test writes captures with text2pcap/mergecap (wireshark-common).
{ tshark -G fields 2>/dev/null || true; } | grep $'\tmodbus.func_code\t' >/dev/null || missing+=(tshark)
command -v text2pcap >/dev/null 2>&1 && command -v mergecap >/dev/null 2>&1 || missing+=(wireshark-common)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: not root, cannot install: ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts mosquitto and haproxy as services on install; tests start their own on loopback ports.
for svc in mosquitto haproxy; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
  pkill -x "$svc" >/dev/null 2>&1 || true
done
echo "setup-deps: done"
