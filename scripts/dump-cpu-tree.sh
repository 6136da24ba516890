#!/usr/bin/env bash
# Copies the files lscpu and vcpuctl-agent read (CPU and NUMA sysfs, /proc/cpuinfo)
# into DIR, so `lscpu --sysroot DIR` and `vcpuctl-agent snapshot --sysroot DIR`
# can be run on them elsewhere: a fixture for tests, or evidence for a bug report.
set -euo pipefail
dest=${1:?usage: dump-cpu-tree.sh DIR [ROOT]}
root=${2:-}
cpu=$root/sys/devices/system/cpu
node=$root/sys/devices/system/node
copy() { # copy FILE if it is a readable regular file
  local f=$1
  [ -f "$f" ] && [ -r "$f" ] || return 0
  mkdir -p "$dest/$(dirname "${f#"$root"}")"
  cat "$f" > "$dest/${f#"$root"}" 2>/dev/null || rm -f "$dest/${f#"$root"}"
}
for f in possible present online offline kernel_max; do copy "$cpu/$f"; done
for f in "$cpu"/vulnerabilities/*; do copy "$f"; done
for d in "$cpu"/cpu[0-9]*; do
  copy "$d/online"
  for f in "$d"/topology/*; do copy "$f"; done
  for f in "$d"/cache/index*/{level,type,size,id,shared_cpu_list,shared_cpu_map,coherency_line_size,ways_of_associativity,number_of_sets}; do copy "$f"; done
  mkdir -p "$dest/${d#"$root"}"
done
for d in "$node"/node[0-9]*; do for f in cpulist cpumap; do copy "$d/$f"; done; done
for f in online possible has_cpu; do copy "$node/$f"; done
# SMBIOS processor information: lscpu's "BIOS Vendor ID" and "BIOS Model name".
for f in "$root"/sys/firmware/dmi/entries/4-*/raw; do copy "$f"; done
mkdir -p "$dest/proc"
cat "$root/proc/cpuinfo" > "$dest/proc/cpuinfo"
