#!/usr/bin/env bash
# `npm run package`: the agent for real guests and the controller for hosts,
# built offline into dist/package/ (or --out DIR):
#   vcpuctl-agent.js                  the agent in one file (proto, ws, protobufjs,
#                                     commander, systeminformation inside), Node >= 18
#   vcpuctl-agent_<version>_all.deb   Debian 12 / Ubuntu 24.04 package: Depends nodejs (>= 18)
#   vcpuctl-agent-<version>-1.noarch.rpm  the same files for RHEL 8/9 and kin: Requires nodejs >= 18
#   vcpuctl.js                        the controller in one file (proto, ws, protobufjs,
#                                     commander, prom-client, yaml, bcryptjs inside), Node >= 18
#   vcpuctl_<version>_all.deb         the host package: /usr/bin/vcpuctl, vcpuctl-exporter.service,
#                                     /etc/vcpuctl/hosts, man page, bash completion
#   vcpuctl-<version>-1.noarch.rpm    the same files for RHEL-family hosts
#   cockpit-vcpuctl_<version>_all.deb  the host's Cockpit page (packages/cockpit/dist, built by
#   cockpit-vcpuctl-<version>-1.noarch.rpm  npm run build) in /usr/share/cockpit/vcpuctl: Depends on
#                                     vcpuctl of the same version and cockpit-bridge (>= 219)
#   vcpuctl.1, vcpuctl-agent.8,       generated from the commander definitions
#   vcpuctl.bash-completion           (packaging/man.js, packaging/completion.js)
#   bundled-packages.json, copyright  the npm packages inside the agent's bundle (name,
#                                     version, license, engines) and their licenses;
#                                     vcpuctl.bundled-packages.json, vcpuctl.copyright: the controller's;
#                                     cockpit-vcpuctl.bundled-packages.json, cockpit-vcpuctl.copyright: the page's
# With --sea only (about 25 s more, and it needs Node's official build, see packaging/sea.js):
#   vcpuctl-agent-linux-<arch>        one executable with this machine's Node inside
#                                     (no nodejs needed), and its .copyright
#   vcpuctl-agent-static_<version>_<debarch>.deb,   that executable packaged for guests whose
#   vcpuctl-agent-static-<version>-1.<rpmarch>.rpm  nodejs is older than 18, for this
#                                     machine's architecture; Provides and Conflicts vcpuctl-agent
# The .debs are built by dpkg-deb, the .rpms by rpmbuild (Debian's `rpm`
# package; scripts/setup-host.sh installs it), from one staged tree each.
# Options: --out DIR, --no-build (use the current build), --sea, and
# --host-version V / --agent-version V (the packages' versions, e.g. to build an upgrade in tests).
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/package
build=1
sea=0
host_version=
agent_version=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --sea) sea=1; shift ;;
    --host-version) host_version=$2; shift 2 ;;
    --agent-version) agent_version=$2; shift 2 ;;
    *) echo "package: unknown option $1 (--out DIR, --no-build, --sea, --host-version V, --agent-version V)" >&2; exit 2 ;;
  esac
done
[ "$build" = 1 ] && npm run build >/dev/null
mkdir -p "$out"
out=$(cd "$out" && pwd)
command -v rpmbuild >/dev/null || { echo "package: rpmbuild not found (apt-get install rpm, or bash scripts/setup-host.sh)" >&2; exit 1; }
version=${agent_version:-$(node -p "require('./packages/guest-agent/package.json').version")}
host_version=${host_version:-$(node -p "require('./packages/host/package.json').version")}
# Same input, same bytes: file times in the archive come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

node packaging/bundle.js "$out" agent
node packaging/bundle.js "$out" vcpuctl
node packaging/bundle.js "$out" cockpit
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

# Control file, md5sums, modes and times, then the .deb:
# build_deb STAGE SCRIPTS_DIR CONTROL_IN VERSION OUT.deb XZ_LEVEL [sed expression for CONTROL_IN...]
build_deb() {
  local stage=$1 scripts=$2 control=$3 v=$4 file=$5 level=$6 size
  shift 6
  local subst=()
  for e in "$@"; do subst+=(-e "$e"); done
  install -d -m 0755 "$stage/DEBIAN"
  # Maintainer scripts and conffiles where the package has them (the Cockpit page has none).
  for script in postinst prerm postrm; do
    [ ! -f "$scripts/$script" ] || install -m 0755 "$scripts/$script" "$stage/DEBIAN/"
  done
  [ ! -f "$scripts/conffiles" ] || install -m 0644 "$scripts/conffiles" "$stage/DEBIAN/conffiles"
  size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s/@VERSION@/$v/g" -e "s/@INSTALLED_SIZE@/$size/" "${subst[@]}" "$control" >"$stage/DEBIAN/control"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz -z"$level" --build "$stage" "$file" >/dev/null
}

# The same staged tree as an .rpm, into $out (the spec says which files,
# modes and scriptlets): build_rpm SPEC STAGE VERSION [rpmbuild option...]
build_rpm() {
  local spec=$1 stage=$2 v=$3 top
  shift 3
  top=$(mktemp -d "${TMPDIR:-/tmp}/vcpuctl-rpm-XXXXXX")
  stages+=("$top")
  rpmbuild -bb --quiet \
    --define "_topdir $top" --define "_tmppath $top/tmp" --define "_rpmdir $out" \
    --define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
    --define "pkg_version $v" --define "stage $stage" "$@" "$spec" >/dev/null
}

# What both agents ship besides the program: the unit (given), the defaults,
# the module and udev rule, the man page, and the copyright as DOC/copyright:
# stage_agent_files UNIT COPYRIGHT DOC
stage_agent_files() {
  local deb=packaging/deb
  install -D -m 0644 "$1" "$stage/usr/lib/systemd/system/vcpuctl-agent.service"
  install -D -m 0644 $deb/vcpuctl-agent.default "$stage/etc/default/vcpuctl-agent"
  install -D -m 0644 $deb/modules-load.conf "$stage/usr/lib/modules-load.d/vcpuctl-agent.conf"
  install -D -m 0644 $deb/udev.rules "$stage/usr/lib/udev/rules.d/60-vcpuctl-agent.rules"
  install -D -m 0644 "$2" "$stage/usr/share/doc/$3/copyright"
  install_man "$out/vcpuctl-agent.8" "$stage/usr/share/man/man8/vcpuctl-agent.8.gz"
}

# The agent, for guests with nodejs >= 18.
new_stage
install -D -m 0644 "$out/vcpuctl-agent.js" "$stage/usr/lib/vcpuctl-agent/vcpuctl-agent.js"
install -D -m 0755 packaging/deb/vcpuctl-agent.launcher "$stage/usr/bin/vcpuctl-agent"
stage_agent_files packages/guest-agent/systemd/vcpuctl-agent.service "$out/copyright" vcpuctl-agent
build_deb "$stage" packaging/deb packaging/deb/control.in "$version" "$out/vcpuctl-agent_${version}_all.deb" 6
build_rpm packaging/rpm/vcpuctl-agent.spec "$stage" "$version"

# The controller, for hosts.
new_stage
deb=packaging/deb-host
install -D -m 0644 "$out/vcpuctl.js" "$stage/usr/lib/vcpuctl/vcpuctl.js"
# /usr/bin/vcpuctl runs start.js, which runs the bundle from V8's code cache in /var/cache/vcpuctl.
install -D -m 0644 packaging/start.js "$stage/usr/lib/vcpuctl/start.js"
install -d -m 0755 "$stage/var/cache/vcpuctl"
install -D -m 0755 $deb/vcpuctl.launcher "$stage/usr/bin/vcpuctl"
install -D -m 0644 $deb/vcpuctl-exporter.service "$stage/usr/lib/systemd/system/vcpuctl-exporter.service"
install -D -m 0644 $deb/vcpuctl-exporter.default "$stage/etc/default/vcpuctl-exporter"
install -D -m 0644 $deb/hosts "$stage/etc/vcpuctl/hosts"
install -D -m 0644 "$out/vcpuctl.bash-completion" "$stage/usr/share/bash-completion/completions/vcpuctl"
install_man "$out/vcpuctl.1" "$stage/usr/share/man/man1/vcpuctl.1.gz"
install -D -m 0644 "$out/vcpuctl.copyright" "$stage/usr/share/doc/vcpuctl/copyright"
build_deb "$stage" $deb $deb/control.in "$host_version" "$out/vcpuctl_${host_version}_all.deb" 6
build_rpm packaging/rpm/vcpuctl.spec "$stage" "$host_version"

# The Cockpit page, for hosts: where Cockpit's bridge looks for system packages.
new_stage
deb=packaging/deb-cockpit
[ -f packages/cockpit/dist/manifest.json ] || { echo "package: the Cockpit page is not built (npm run build)" >&2; exit 1; }
install -d -m 0755 "$stage/usr/share/cockpit"
cp -r packages/cockpit/dist "$stage/usr/share/cockpit/vcpuctl"
find "$stage/usr/share/cockpit/vcpuctl" -type f -exec chmod 0644 {} +
install -D -m 0644 "$out/cockpit-vcpuctl.copyright" "$stage/usr/share/doc/cockpit-vcpuctl/copyright"
build_deb "$stage" $deb $deb/control.in "$host_version" "$out/cockpit-vcpuctl_${host_version}_all.deb" 9
build_rpm packaging/rpm/cockpit-vcpuctl.spec "$stage" "$host_version"

echo "$out/vcpuctl-agent.js"
echo "$out/vcpuctl-agent_${version}_all.deb"
echo "$out/vcpuctl-agent-${version}-1.noarch.rpm"
echo "$out/vcpuctl.js"
echo "$out/vcpuctl_${host_version}_all.deb"
echo "$out/vcpuctl-${host_version}-1.noarch.rpm"
echo "$out/cockpit-vcpuctl_${host_version}_all.deb"
echo "$out/cockpit-vcpuctl-${host_version}-1.noarch.rpm"

if [ "$sea" = 1 ]; then
  exe=$(node packaging/sea.js "$out")
  echo "$exe"
  case "$(node -p process.arch)" in
    x64) debarch=amd64 rpmarch=x86_64 ;;
    arm64) debarch=arm64 rpmarch=aarch64 ;;
    *) echo "package: no package architecture for Node's $(node -p process.arch)" >&2; exit 1 ;;
  esac
  # The newest glibc symbol version Node's executable links to (2.28 for
  # Node 18 to 22's official builds), for the .deb's Depends; rpmbuild finds
  # the same from the ELF itself.
  glibc=$(LC_ALL=C grep -aoE 'GLIBC_2\.[0-9]+' "$exe" | sed 's/^GLIBC_//' | sort -uV | tail -n 1)
  # The same unit, run by the executable instead of node and the bundle.
  unit=$(mktemp "${TMPDIR:-/tmp}/vcpuctl-static-unit-XXXXXX")
  stages+=("$unit")
  sed 's|^ExecStart=/usr/bin/node /usr/lib/vcpuctl-agent/vcpuctl-agent\.js |ExecStart=/usr/bin/vcpuctl-agent |' packages/guest-agent/systemd/vcpuctl-agent.service >"$unit"
  grep -q '^ExecStart=/usr/bin/vcpuctl-agent run ' "$unit" || { echo "package: the agent's unit has no ExecStart to run the executable with" >&2; exit 1; }
  new_stage
  install -D -m 0755 "$exe" "$stage/usr/bin/vcpuctl-agent"
  stage_agent_files "$unit" "$exe.copyright" vcpuctl-agent-static
  # xz -1: ~100 MB of executable; -6 takes 52 s for 24 MB, -1 8 s for 27 MB.
  build_deb "$stage" packaging/deb packaging/deb-static/control.in "$version" "$out/vcpuctl-agent-static_${version}_${debarch}.deb" 1 \
    "s/@ARCH@/$debarch/" "s/@GLIBC@/$glibc/"
  build_rpm packaging/rpm/vcpuctl-agent.spec "$stage" "$version" --with static --target "$rpmarch"
  echo "$out/vcpuctl-agent-static_${version}_${debarch}.deb"
  echo "$out/vcpuctl-agent-static-${version}-1.${rpmarch}.rpm"
fi
