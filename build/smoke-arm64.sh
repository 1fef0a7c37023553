#!/usr/bin/env bash
# Arm64 smoke test (`make smoke-arm64`): builds the arm64 package, runs its gateway with Debian
# bookworm's arm64 nodejs 18 under qemu-user-static, and makes one allowed and one denied Modbus
# request through it (mbpoll → arm64 gateway → the host's PLC simulator, all on 127.0.0.1).
# It is also the proof that the bundle runs on Node 18 and that the packaged argon2 binary loads.
# Needs: qemu-user-static (installed when missing and root), mbpoll, apt (the sysroot, cached in
# dist/.cache/sysroot-arm64). Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)
say() { printf 'smoke-arm64: %s\n' "$*"; }

QEMU=$(command -v qemu-aarch64-static || true)
if [ -z "$QEMU" ]; then
  [ "$(id -u)" -eq 0 ] || { say "SKIPPED: qemu-aarch64-static missing and not root (apt-get install qemu-user-static)"; exit 0; }
  say "installing qemu-user-static"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
  QEMU=$(command -v qemu-aarch64-static)
fi
command -v mbpoll >/dev/null || { say "SKIPPED: mbpoll missing (apt-get install mbpoll)"; exit 0; }

sysroot=$PWD/dist/.cache/sysroot-arm64
bash build/smoke/sysroot-arm64.sh "$sysroot"
node build/package.mjs --arch arm64
version=$(node -p 'require("./package.json").version')
pkg=$PWD/dist/zonegate-$version-linux-arm64.tar.gz

work=$(mktemp -d /tmp/zg-smoke-arm64-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The device: install.sh lays the package out under DESTDIR (slots, current, /etc, state).
DESTDIR=$work/device sh build/install.sh "$pkg" >/dev/null
root=$work/device/opt/zonegate
etc=$work/device/etc/zonegate
# The device's node: Debian's arm64 node 18 under qemu (bin/zonegate runs ${ZONEGATE_NODE:-node}).
cat > "$work/node-arm64" <<EOF
#!/bin/sh
exec "$QEMU" -L "$sysroot" "$sysroot/usr/bin/node" "\$@"
EOF
chmod +x "$work/node-arm64"
export ZONEGATE_NODE=$work/node-arm64

arch=$("$ZONEGATE_NODE" -p 'process.version + " " + process.arch')
say "device node: $arch"
case "$arch" in v18.*' arm64') ;; *) say "FAIL: expected node 18 on arm64"; exit 1 ;; esac
"$root/current/bin/zonegate" version
# The packaged argon2 binary is the arm64 one and loads (resolved from the slot's node_modules).
(cd "$root/current" && "$ZONEGATE_NODE" -e '
  const a = require("@node-rs/argon2");
  const h = a.hashSync("zonegate", { memoryCost: 1024, timeCost: 1 });
  if (!a.verifySync(h, "zonegate")) throw new Error("argon2 verify failed");
  console.log("argon2 (arm64 binary):", h.slice(0, 30) + "...");')

# cbor-x without its native part: a bundle signed on the host is decoded and verified on arm64
# node 18 (no cbor-extract in the package; cbor-x falls back to its pure JS decoder).
keys=$work/keys
node dist/zonegate.js fleet keygen --out "$keys" --name root-1 >/dev/null
node dist/zonegate.js fleet keygen --out "$keys" --name policy-1 >/dev/null
node dist/zonegate.js fleet trust init --root-key "$keys/root-1.key" --threshold 1 --policy-key "$keys/policy-1.pub" --out "$work/root.cbor" >/dev/null
node dist/zonegate.js fleet sign examples/substation.yaml --key "$keys/policy-1.key" --version 1 --targets '*' --out "$work/policy.bundle" >/dev/null
verified=$("$root/current/bin/zonegate" bundle verify "$work/policy.bundle" --trust "$work/root.cbor" --json)
echo "$verified" | grep -q '"ok": true' || { echo "$verified"; say "FAIL: the arm64 gateway could not verify a signed bundle"; exit 1; }
say "signed bundle verified on arm64 (cbor-x pure JS decoder, ed25519 via node:crypto)"

freeport() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
plc_port=$(freeport); gw_port=$(freeport)

node dist/zonegate.js lab plc --listen "127.0.0.1:$plc_port" >"$work/plc.log" 2>&1 &
pids+=($!)

cat > "$etc/policy.yaml" <<EOF
site: smoke
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [127.0.0.1] }
conduits:
  - id: hmi-reads-plc
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
tests:
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 6, unit: 1, address: 0 } }, expect: deny }
EOF
cat > "$etc/gateway.yaml" <<EOF
device: gw-smoke
site: smoke
stateDir: $work/device/var/lib/zonegate
policyFile: policy.yaml
listeners:
  - { listen: 127.0.0.1:$gw_port, asset: plc-1, service: modbus, upstream: 127.0.0.1:$plc_port }
log: { level: info, decisions: stdout }
EOF

gw_started=$(date +%s.%N)
"$root/current/bin/zonegate" run --config "$etc/gateway.yaml" >"$work/decisions.log" 2>"$work/gateway.log" &
gw_pid=$!
pids+=($gw_pid)
for _ in $(seq 1 600); do
  grep -q 'running: policy' "$work/gateway.log" 2>/dev/null && break
  kill -0 "$gw_pid" 2>/dev/null || { cat "$work/gateway.log"; say "FAIL: the arm64 gateway exited"; exit 1; }
  sleep 0.1
done
grep -q 'running: policy' "$work/gateway.log" || { cat "$work/gateway.log"; say "FAIL: the arm64 gateway did not start in 60 s"; exit 1; }
say "arm64 gateway enforcing after $(printf '%.1f' "$(echo "$(date +%s.%N) - $gw_started" | bc)") s: $(grep 'running: policy' "$work/gateway.log" | sed 's/^zonegate info: //')"

allowed=$(mbpoll -m tcp -a 1 -0 -r 0 -c 2 -t 4 -1 -o 5 -p "$gw_port" 127.0.0.1 2>&1 || true)
echo "$allowed" | grep -q '^\[0\]:[[:space:]]*1000' || { echo "$allowed"; say "FAIL: the allowed read did not return register 0 = 1000"; exit 1; }
say "allowed read (fc 3, registers 0-1): $(echo "$allowed" | grep -E '^\[[01]\]' | tr -s ' \n' ' ')"
denied=$(mbpoll -m tcp -a 1 -0 -r 0 -t 4 -1 -o 5 -p "$gw_port" 127.0.0.1 7 2>&1 || true)
echo "$denied" | grep -qi 'illegal function' || { echo "$denied"; say "FAIL: the write was not denied with exception 01"; exit 1; }
say "denied write (fc 6, register 0): $(echo "$denied" | grep -i 'illegal' | head -1)"

"$root/current/bin/zonegate" update status --config "$etc/gateway.yaml" --root "$root" | sed 's/^/smoke-arm64: /'
kill -TERM "$gw_pid"; wait "$gw_pid" || true
grep -q '"allow"' "$work/decisions.log" && grep -q '"deny"' "$work/decisions.log" || { cat "$work/decisions.log"; say "FAIL: decisions not logged"; exit 1; }
say "decision log: $(grep -c . "$work/decisions.log") line(s), allow and deny present"
bash build/smoke/deb-arm64.sh
say "PASS in $(printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)") s"
