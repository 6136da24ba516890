/**
 * The e2e suite's guests, booted once and in parallel (booting is most of
 * the suite's time), destroyed when mocha ends, also after failures.
 */
import { TestGuest, removeRigLeftovers } from './rig/guest';
import { setupHost } from '../helpers/libvirt';

interface Guests {
  a: Promise<TestGuest>;
  b: Promise<TestGuest>;
}

let booted: Guests | undefined;
const all: Promise<TestGuest>[] = [];

async function bootReady(opts: Parameters<typeof TestGuest.boot>[0]): Promise<TestGuest> {
  const g = await TestGuest.boot(opts);
  try {
    await g.waitForAgent();
  } catch (err) {
    g.destroy();
    throw err;
  }
  return g;
}

export function guests(): Guests {
  if (!booted) {
    setupHost();
    removeRigLeftovers();
    booted = { a: bootReady({ current: 1, maximum: 2 }), b: bootReady({ current: 1, maximum: 2 }) };
    all.push(booted.a, booted.b);
    for (const p of all) p.catch(() => undefined);
  }
  return booted;
}

let withChannels: Promise<TestGuest> | undefined;

/**
 * The guest-sources suite's guest, booted on first use only: qemu-guest-agent's
 * channel at boot, a virtio-serial controller, no vcpuctl channel (it is
 * attached live), and an agent that serves TCP and, once it appears, the channel.
 */
export function channelGuest(): Promise<TestGuest> {
  if (!withChannels) {
    setupHost();
    removeRigLeftovers();
    withChannels = bootReady({ current: 1, maximum: 3, agentChannel: true, qemuGaChannel: true });
    all.push(withChannels);
    withChannels.catch(() => undefined);
  }
  return withChannels;
}

// A root-level hook (this module is loaded by the e2e specs): runs once after all tests, pass or fail.
after(async function () {
  this.timeout(120_000);
  for (const p of all) {
    const g = await p.catch(() => undefined);
    g?.destroy();
  }
});
