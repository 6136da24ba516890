/**
 * The shipped unit, checked by systemd's own tools (no running systemd is
 * needed for `verify` and `security --offline`).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const UNIT = join(__dirname, '../../../packages/guest-agent/systemd/vcpuctl-agent.service');

describe('systemd unit', () => {
  const text = readFileSync(UNIT, 'utf8');
  const directives = new Map(text.split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

  it('passes systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '');
  });

  it('is hardened (systemd-analyze security exposure at most 5.0) yet can do its two jobs', () => {
    const out = execFileSync('systemd-analyze', ['security', '--offline=true', UNIT], { encoding: 'utf8' });
    const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(out)?.[1]);
    assert.ok(exposure <= 5.0, `exposure ${exposure}`);
    // Writing /sys/devices/system/cpu/cpuN/online and reading /dev/kmsg must stay possible:
    assert.equal(directives.get('ProtectKernelTunables'), undefined, 'would make /sys read-only');
    assert.equal(directives.get('ProtectKernelLogs'), undefined, 'would hide /dev/kmsg');
    assert.equal(directives.get('PrivateDevices'), undefined, 'would hide /dev/kmsg');
    assert.equal(directives.get('DeviceAllow'), '/dev/kmsg r');
    assert.equal(directives.get('CapabilityBoundingSet'), 'CAP_SYSLOG');
    assert.equal(directives.get('User'), 'root');
    assert.match(directives.get('ExecStart') ?? '', /vcpuctl-agent\.js run .*--token-file \/etc\/vcpuctl\/agent\.token/);
  });
});
