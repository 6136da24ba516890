/**
 * The libvirt event stream survives its virsh ending (what happens when
 * libvirtd restarts): a stand-in virsh that prints an event, then the
 * error virsh prints on a lost connection, and exits.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainEvent, virshEventStream } from '@vcpuctl/host';

describe('libvirt event stream (virsh event --loop)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcpuctl-events-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is started again when virsh ends, says so, and asks for a re-read once it is back', async () => {
    const fake = join(dir, 'virsh');
    // Counts its starts in a file; each run prints one event and dies as virsh does when libvirtd goes away.
    writeFileSync(
      fake,
      `#!/bin/sh
n=$(cat ${dir}/starts 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${dir}/starts
[ "$*" = "-c test:///x event --all --loop --timestamp" ] || { echo "bad args: $*" >&2; exit 2; }
echo "2026-11-27 23:55:53.411+0000: event 'lifecycle' for domain 'web$n': Started Booted"
sleep 0.3
echo "error: Disconnected from test:///x due to end of file" >&2
exit 1
`,
    );
    chmodSync(fake, 0o755);
    const events: DomainEvent[] = [];
    const lost: [string, number][] = [];
    let reconnected = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${events.length} events, ${lost.length} losses, ${reconnected} reconnects`)), 8000);
      const stream = virshEventStream(
        'test:///x',
        {
          event: (e) => events.push(e),
          lost: (why, ms) => lost.push([why, ms]),
          reconnected: () => {
            reconnected++;
            if (reconnected === 2) {
              stream.close();
              clearTimeout(timer);
              resolve();
            }
          },
        },
        fake,
      );
    });
    assert.deepEqual(
      events.slice(0, 3).map((e) => e.domain),
      ['web1', 'web2', 'web3'],
    );
    assert.deepEqual(
      lost.slice(0, 2),
      [
        ['error: Disconnected from test:///x due to end of file', 250],
        ['error: Disconnected from test:///x due to end of file', 500],
      ],
      'the pause doubles while it keeps failing',
    );
  });
});
