#!/usr/bin/env bash
# `npm run package`: the agent for real guests, built offline into dist/package/
# (or --out DIR):
#   vcpuctl-agent.js                  the agent in one file (proto, ws, protobufjs,
#                                     commander, systeminformation inside), Node >= 18
#   vcpuctl-agent_<version>_all.deb   Debian 12 / Ubuntu 24.04 package: Depends nodejs (>= 18)
#   vcpuctl-agent-linux-<arch>        with --sea only: one executable with this
#                                     machine's Node inside (no nodejs needed)
#   bundled-packages.json, copyright  the npm packages inside the bundle (name,
#                                     version, license, engines) and their licenses
# Options: --out DIR, --no-build (use the current build), --sea.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/package
build=1
sea=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --sea) sea=1; shift ;;
    *) echo "package: unknown option $1 (--out DIR, --no-build, --sea)" >&2; exit 2 ;;
  esac
done
[ "$build" = 1 ] && npm run build >/dev/null
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(node -p "require('./packages/guest-agent/package.json').version")
# Same input, same bytes: file times in the archive come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

node packaging/bundle.js "$out"

stage=$(mktemp -d "${TMPDIR:-/tmp}/vcpuctl-deb-XXXXXX")
trap 'rm -rf "$stage"' EXIT
deb=packaging/deb
install -D -m 0644 "$out/vcpuctl-agent.js" "$stage/usr/lib/vcpuctl-agent/vcpuctl-agent.js"
install -D -m 0755 $deb/vcpuctl-agent.launcher "$stage/usr/bin/vcpuctl-agent"
install -D -m 0644 packages/guest-agent/systemd/vcpuctl-agent.service "$stage/usr/lib/systemd/system/vcpuctl-agent.service"
install -D -m 0644 $deb/vcpuctl-agent.default "$stage/etc/default/vcpuctl-agent"
install -D -m 0644 $deb/modules-load.conf "$stage/usr/lib/modules-load.d/vcpuctl-agent.conf"
install -D -m 0644 $deb/udev.rules "$stage/usr/lib/udev/rules.d/60-vcpuctl-agent.rules"
install -D -m 0644 "$out/copyright" "$stage/usr/share/doc/vcpuctl-agent/copyright"
install -d -m 0755 "$stage/DEBIAN"
install -m 0755 $deb/postinst $deb/prerm $deb/postrm "$stage/DEBIAN/"
install -m 0644 $deb/conffiles "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" $deb/control.in >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/vcpuctl-agent_${version}_all.deb" >/dev/null
echo "$out/vcpuctl-agent.js"
echo "$out/vcpuctl-agent_${version}_all.deb"

if [ "$sea" = 1 ]; then
  node packaging/sea.js "$out"
fi
