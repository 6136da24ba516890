/**
 * What a guest's root user could put in place of qemu-guest-agent, for the
 * hostile-guest tests on a real guest (issue 15): it speaks qemu-ga's protocol
 * on its virtio-serial port (JSON commands from libvirt, one JSON reply a
 * line), syncs as libvirt asks, and answers guest-get-vcpus with more vCPUs
 * than any kernel has. Runs INSIDE the test guest, started by the rig helper
 * (POST /qemu-ga/hostile) on the port's device.
 */
import { openSync, read, writeSync } from 'node:fs';

const port = process.argv[2]!;
const fd = openSync(port, 'r+');
// Past every kernel's NR_CPUS (8192): the host must refuse the answer whole, naming it.
const VCPUS = 9000;

function reply(value: unknown, delimited = false): void {
  writeSync(fd, Buffer.concat([Buffer.from(delimited ? [0xff] : []), Buffer.from(`${JSON.stringify({ return: value })}\n`)]));
}

function answer(cmd: { execute?: string; arguments?: { id?: number } }): void {
  switch (cmd.execute) {
    case 'guest-sync':
      return reply(cmd.arguments?.id);
    case 'guest-sync-delimited':
      return reply(cmd.arguments?.id, true);
    case 'guest-ping':
      return reply({});
    case 'guest-get-vcpus':
      return reply(Array.from({ length: VCPUS }, (_, i) => ({ 'logical-id': i, online: true, 'can-offline': i > 0 })));
    default:
      writeSync(fd, `${JSON.stringify({ error: { class: 'CommandNotFound', desc: `\x1b]0;pwned\x07 ${cmd.execute}` } })}\n`);
  }
}

let pending = '';
const buf = Buffer.alloc(65536);
const loop = (): void => {
  read(fd, buf, 0, buf.length, null, (err, n) => {
    if (err) {
      process.stderr.write(`hostile-qemu-ga: ${err.message}\n`);
      process.exit(1);
    }
    // read() returns 0 while no host has the port open (as the agent sees it): look again shortly.
    if (n === 0) return void setTimeout(loop, 100);
    pending += buf.subarray(0, n).toString('latin1').replace(/\xff/g, '');
    // libvirt ends each command with a newline; a command is one JSON object.
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line) continue;
      try {
        answer(JSON.parse(line));
      } catch {
        // not a command: ignored, as qemu-ga does with garbage between syncs
      }
    }
    loop();
  });
};
loop();
