#!/usr/bin/env bash
# `npm run demo`: sets up what is missing (npm dependencies, build, QEMU and
# libvirt from Debian, the daemons) and walks the operator's procedure on a
# disposable real guest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
bash scripts/setup-host.sh
exec node test/dist/e2e/demo.js
