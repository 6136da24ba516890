#!/usr/bin/env bash
# `npm test`: installs and starts what the tests need, builds, then runs every
# suite (unit, agent integration, real libvirt, end-to-end on real guests), so
# it works on a fresh Debian 12 machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/setup-host.sh
npm run build
npx mocha --config test/.mocharc.json "$@"
