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
  const lines = text
    .split('\n')
    .filter((l) => /^\w+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  const directives = new Map(lines);
  const allOf = (key: string) => lines.filter(([k]) => k === key).map(([, v]) => v);

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
    assert.deepEqual(allOf('DeviceAllow'), ['/dev/kmsg r', 'char-virtio-portsdev rw'], 'reads /dev/kmsg, opens the virtio-serial ports');
    assert.equal(directives.get('DevicePolicy'), 'closed');
    assert.equal(directives.get('CapabilityBoundingSet'), 'CAP_SYSLOG');
    assert.equal(directives.get('User'), 'root');
  });

  it('serves the virtio-serial channel by default; TCP (with a token) only through /etc/default/vcpuctl-agent', () => {
    assert.equal(directives.get('EnvironmentFile'), '-/etc/default/vcpuctl-agent');
    const execStart = directives.get('ExecStart') ?? '';
    assert.match(execStart, /^\/usr\/bin\/node \/usr\/lib\/vcpuctl-agent\/vcpuctl-agent\.js run --channel \$VCPUCTL_AGENT_CHANNEL /);
    // No address, port or token written in the unit: the default opens no network socket.
    assert.doesNotMatch(execStart, /--listen|--token-file|--insecure-no-auth/);
    assert.match(execStart, /\$VCPUCTL_AGENT_LISTEN/);
  });
});
