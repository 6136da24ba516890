#!/usr/bin/env bash
# Prints the path of a Node 18 binary for testing the agent on the oldest Node
# it supports, installing it first if needed: the npm registry's
# node-linux-<arch> package (the binary the `node` package itself installs),
# kept in /var/tmp/vcpuctl-node18 and never put on PATH, so the system's node
# is untouched. 18.19.1 is Ubuntu 24.04's nodejs; Debian 12 ships 18.20.
set -euo pipefail
version=${VCPUCTL_NODE18_VERSION:-18.19.1}
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "node18: no registry build for $(uname -m)" >&2; exit 1 ;;
esac
dir=${VCPUCTL_NODE18_DIR:-/var/tmp/vcpuctl-node18}/$version
bin=$dir/node_modules/node-linux-$arch/bin/node
if ! [ -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-$arch@$version" >&2
fi
"$bin" --version >/dev/null
echo "$bin"
