#!/usr/bin/env bash
# `npm run package`: the agent for real guests and the controller for hosts,
# built offline into dist/package/ (or --out DIR):
#   vcpuctl-agent.js                  the agent in one file (proto, ws, protobufjs,
#                                     commander, systeminformation inside), Node >= 18
#   vcpuctl-agent_<version>_all.deb   Debian 12 / Ubuntu 24.04 package: Depends nodejs (>= 18)
#   vcpuctl.js                        the controller in one file (proto, ws, protobufjs,
#                                     commander, prom-client, yaml, bcryptjs inside), Node >= 18
#   vcpuctl_<version>_all.deb         the host package: /usr/bin/vcpuctl, vcpuctl-exporter.service,
#                                     /etc/vcpuctl/hosts, man page, bash completion
#   vcpuctl.1, vcpuctl-agent.8,       generated from the commander definitions
#   vcpuctl.bash-completion           (packaging/man.js, packaging/completion.js)
#   vcpuctl-agent-linux-<arch>        with --sea only: one executable with this
#                                     machine's Node inside (no nodejs needed)
#   bundled-packages.json, copyright  the npm packages inside the agent's bundle (name,
#                                     version, license, engines) and their licenses;
#                                     vcpuctl.bundled-packages.json, vcpuctl.copyright: the controller's
# Options: --out DIR, --no-build (use the current build), --sea, and
# --host-version V (the host package's version, e.g. to build an upgrade in tests).
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/package
build=1
sea=0
host_version=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --sea) sea=1; shift ;;
    --host-version) host_version=$2; shift 2 ;;
    *) echo "package: unknown option $1 (--out DIR, --no-build, --sea, --host-version V)" >&2; exit 2 ;;
  esac
done
[ "$build" = 1 ] && npm run build >/dev/null
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(node -p "require('./packages/guest-agent/package.json').version")
host_version=${host_version:-$(node -p "require('./packages/host/package.json').version")}
# Same input, same bytes: file times in the archive come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

node packaging/bundle.js "$out" agent
node packaging/bundle.js "$out" vcpuctl
# Man pages and completion from the same commander definitions as --help.
node packaging/man.js vcpuctl-agent "$out/vcpuctl-agent.8"
node packaging/man.js vcpuctl "$out/vcpuctl.1"
node packaging/completion.js vcpuctl "$out/vcpuctl.bash-completion"

stages=()
trap 'rm -rf "${stages[@]}"' EXIT

# A new empty staging root, its path in $stage.
new_stage() {
  stage=$(mktemp -d "${TMPDIR:-/tmp}/vcpuctl-deb-XXXXXX")
  stages+=("$stage")
}

# A man page as Debian ships it: gzip -9, no name or time inside.
install_man() {
  install -d -m 0755 "$(dirname "$2")"
  gzip -9nc "$1" >"$2"
  chmod 0644 "$2"
}

# Control file, md5sums, modes and times, then the .deb: build_deb STAGE DEBDIR VERSION OUT.deb
build_deb() {
  local stage=$1 deb=$2 v=$3 file=$4 size
  install -d -m 0755 "$stage/DEBIAN"
  install -m 0755 "$deb/postinst" "$deb/prerm" "$deb/postrm" "$stage/DEBIAN/"
  install -m 0644 "$deb/conffiles" "$stage/DEBIAN/conffiles"
  size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s/@VERSION@/$v/" -e "s/@INSTALLED_SIZE@/$size/" "$deb/control.in" >"$stage/DEBIAN/control"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$file" >/dev/null
}

# The agent, for guests.
new_stage
deb=packaging/deb
install -D -m 0644 "$out/vcpuctl-agent.js" "$stage/usr/lib/vcpuctl-agent/vcpuctl-agent.js"
install -D -m 0755 $deb/vcpuctl-agent.launcher "$stage/usr/bin/vcpuctl-agent"
install -D -m 0644 packages/guest-agent/systemd/vcpuctl-agent.service "$stage/usr/lib/systemd/system/vcpuctl-agent.service"
install -D -m 0644 $deb/vcpuctl-agent.default "$stage/etc/default/vcpuctl-agent"
install -D -m 0644 $deb/modules-load.conf "$stage/usr/lib/modules-load.d/vcpuctl-agent.conf"
install -D -m 0644 $deb/udev.rules "$stage/usr/lib/udev/rules.d/60-vcpuctl-agent.rules"
install -D -m 0644 "$out/copyright" "$stage/usr/share/doc/vcpuctl-agent/copyright"
install_man "$out/vcpuctl-agent.8" "$stage/usr/share/man/man8/vcpuctl-agent.8.gz"
build_deb "$stage" $deb "$version" "$out/vcpuctl-agent_${version}_all.deb"

# The controller, for hosts.
new_stage
deb=packaging/deb-host
install -D -m 0644 "$out/vcpuctl.js" "$stage/usr/lib/vcpuctl/vcpuctl.js"
install -D -m 0755 $deb/vcpuctl.launcher "$stage/usr/bin/vcpuctl"
install -D -m 0644 $deb/vcpuctl-exporter.service "$stage/usr/lib/systemd/system/vcpuctl-exporter.service"
install -D -m 0644 $deb/vcpuctl-exporter.default "$stage/etc/default/vcpuctl-exporter"
install -D -m 0644 $deb/hosts "$stage/etc/vcpuctl/hosts"
install -D -m 0644 "$out/vcpuctl.bash-completion" "$stage/usr/share/bash-completion/completions/vcpuctl"
install_man "$out/vcpuctl.1" "$stage/usr/share/man/man1/vcpuctl.1.gz"
install -D -m 0644 "$out/vcpuctl.copyright" "$stage/usr/share/doc/vcpuctl/copyright"
build_deb "$stage" $deb "$host_version" "$out/vcpuctl_${host_version}_all.deb"

echo "$out/vcpuctl-agent.js"
echo "$out/vcpuctl-agent_${version}_all.deb"
echo "$out/vcpuctl.js"
echo "$out/vcpuctl_${host_version}_all.deb"

if [ "$sea" = 1 ]; then
  node packaging/sea.js "$out"
fi
