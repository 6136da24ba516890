#!/usr/bin/env bash
# `npm test`: builds, then runs every test suite (unit, agent integration,
# real libvirt, end-to-end). Suites that need libvirt/QEMU set up what they
# need through scripts/setup-host.sh, so this works on a fresh Debian 12 as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
# Agents under test follow a FIFO standing in for /dev/kmsg with a blocking
# read in a libuv worker; give the in-process agents threads to spare.
export UV_THREADPOOL_SIZE=16
npx mocha --config test/.mocharc.json "$@"
