#!/usr/bin/env bash
# `npm run demo`: sets up what is missing (npm dependencies, build, QEMU and
# libvirt from Debian, the daemons) and walks the operator's procedure on a
# disposable real guest.
# `npm run demo -- --record FILE` also writes what it prints to FILE as plain
# text (docs/demo-transcript.txt is one); a relative FILE is taken from the
# directory npm was started in.
set -euo pipefail
export VCPUCTL_DEMO_CWD="${INIT_CWD:-$PWD}"
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
bash scripts/setup-host.sh
exec node test/dist/e2e/demo.js "$@"
