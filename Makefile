# zonegate: `make demo` runs the main job end to end, `make test` runs every test.
# Both install what they need (npm ci; Debian packages through build/setup-deps.sh as root).
SHELL := /bin/bash
NODE ?= node

.PHONY: all deps sysdeps build typecheck test soak bench demo run install clean

all: build

# npm ci when node_modules is missing or older than the lock file. Never through a symlinked
# node_modules (a worktree sharing another checkout's install): npm ci would empty the target.
deps:
	@if [ -L node_modules ]; then \
	  [ -f node_modules/.package-lock.json ] || { echo "deps: node_modules links to an empty install; run npm ci where it points" >&2; exit 1; }; \
	elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund --loglevel=error; \
	fi

sysdeps:
	@bash build/setup-deps.sh

build: deps
	@$(NODE) build/bundle.mjs

typecheck: deps
	npx tsc -p tsconfig.json

# The typecheck runs beside the tests (it is one core for ~20 s); either failing fails the target.
test: deps sysdeps build
	@npx tsc -p tsconfig.json & tsc=$$!; $(NODE) build/run-tests.mjs; t=$$?; \
	  if ! wait $$tsc; then echo "make test: the typecheck failed (npx tsc -p tsconfig.json)" >&2; exit 1; fi; exit $$t

# The long loops the suite runs a short version of (not run by CI): 400 kill -9 cycles each for
# the audit log and the policy store, 20,000 random policies against the reference decider, 1,000
# nftables swaps under traffic (200 rounds of five).
soak: deps sysdeps build
	ZG_KILL_ITERATIONS=400 ZG_CRASH_ITERATIONS=400 ZG_POLICIES=20000 ZG_SWAP_ROUNDS=200 ZG_TEST_TIMEOUT_MS=3600000 \
	  ZG_LEARN_CONDUITS=10000 ZG_LEARN_RECORDS=1000000 \
	  $(NODE) build/run-tests.mjs test/audit/crash.test.ts test/store/crash.test.ts test/policy/property.test.ts test/drivers/nftables-netns.test.ts \
	  test/learn/learn-output.test.ts

bench: deps sysdeps build
	$(NODE) build/run-bench.mjs

# make demo BROKER=mqtt://host:port uses that broker instead of a private mosquitto.
demo: deps sysdeps build
	@$(NODE) dist/demo.js $(if $(BROKER),--broker $(BROKER))

# The lab gateway: the loopback copy of the example policy (10.x.y.z -> 127.x.y.z) in state/, so
# that `zonegate lab client --from 127.10.0.5` is the HMI.
run: deps build
	$(NODE) dist/zonegate.js lab policy examples/substation.yaml --out state/substation-lab.yaml
	$(NODE) dist/zonegate.js run --config examples/gateway.yaml

# `zonegate` on PATH: PREFIX/bin/zonegate runs PREFIX/lib/zonegate/zonegate.js with build/node-flags.
PREFIX ?= /usr/local
install: build
	@bash build/install-prefix.sh "$(PREFIX)" "$(DESTDIR)"

clean:
	rm -rf dist .out

# Flashable package per architecture (arm64, armv7, x64) and the arm64 smoke test under qemu.
# make package ARCH=arm64|armv7|x64 [VERSION=0.2.0]: the tarball for over-the-air A/B updates.
# make deb ARCH=amd64|arm64|armhf [VERSION=0.2.0]: the Debian package (dpkg-deb).
.PHONY: package deb smoke-arm64
ARCH ?= x64
package: deps
	@$(NODE) build/package.mjs --arch $(ARCH) $(if $(VERSION),--version $(VERSION))

deb: deps
	@$(NODE) build/deb.mjs --arch $(if $(filter x64,$(ARCH)),amd64,$(if $(filter armv7,$(ARCH)),armhf,$(ARCH))) $(if $(VERSION),--version $(VERSION))

smoke-arm64: deps build
	@bash build/smoke-arm64.sh
