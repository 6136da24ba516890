/**
 * A disposable real Linux guest on the real libvirt/QEMU of this machine,
 * running the checkout's vcpuctl-agent. Boot, talk to it through
 * 127.0.0.1-only forwards, destroy: unique names and ports, so a leftover of
 * a killed run never collides with the next.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '@vcpuctl/host';
import { removeDomain, removeLeftovers, virsh } from '../../helpers/libvirt';
import { buildInitramfs } from './initramfs';

export const RIG_PREFIX = 'vcpuctl-e2e';
const REPO = join(__dirname, '../../../..');
const RIG_DIR = '/var/tmp/vcpuctl-rig';

export interface GuestOptions {
  current: number;
  maximum: number;
  /** Give the domain qemu-guest-agent's channel (org.qemu.guest_agent.0); the helper starts qemu-ga on request. */
  qemuGaChannel?: boolean;
  autoOnline?: boolean;
  memoryMiB?: number;
  /** Run the agent with --channel as well (it then also serves the virtio-serial port, once there is one). */
  agentChannel?: boolean;
  /** Give the domain the agent's channel at boot (otherwise it can be hot-plugged: channelXml()). */
  channelAtBoot?: boolean;
  /**
   * The guest's hostname, set before the agent starts (written to
   * /proc/sys/kernel/hostname, which takes any bytes but a newline, up to
   * 64): what a guest's root user can make the agent report, hostile
   * strings included.
   */
  hostname?: string;
  /**
   * The whole script the guest runs (its /bin/sh reads it through 9p), in
   * place of the rig helper and the checkout's agent; the options above that
   * only the helper reads (autoOnline, agentChannel) then do nothing.
   */
  runScript?: (g: { name: string; dir: string; tokenFile: string }) => string;
}

/** The agent channel's default name (the contract with the host side). */
export const AGENT_CHANNEL = 'org.vcpuctl.agent.0';

/** A virtio-serial channel whose host socket libvirt creates and names in the live XML. */
export function channelXml(name = AGENT_CHANNEL): string {
  return `<channel type='unix'><source mode='bind'/><target type='virtio' name='${name}'/></channel>`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function domainXml(g: { name: string; dir: string; agentPort: number; helperPort: number }, opts: GuestOptions, boot: { kernel: string; initrd: string }): string {
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${g.name}</name>
  <memory unit='MiB'>${opts.memoryMiB ?? 768}</memory>
  <vcpu placement='static' current='${opts.current}'>${opts.maximum}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${boot.kernel}</kernel>
    <initrd>${boot.initrd}</initrd>
    <cmdline>console=ttyS0 vcpuctl.run=${join(g.dir, 'guest-run.sh')} vcpuctl.hostname=${g.name}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/'/>
      <target dir='hostroot'/>
      <readonly/>
    </filesystem>
    <controller type='virtio-serial' index='0'/>${
      opts.channelAtBoot
        ? `
    ${channelXml()}`
        : ''
    }
    <serial type='file'><source path='${join(g.dir, 'console.log')}'/><target port='0'/></serial>
    <console type='file'><source path='${join(g.dir, 'console.log')}'/><target type='serial' port='0'/></console>
    ${opts.qemuGaChannel ? "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>" : ''}
  </devices>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=hn0,restrict=on,hostfwd=tcp:127.0.0.1:${g.agentPort}-:7643,hostfwd=tcp:127.0.0.1:${g.helperPort}-:7644'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=hn0,bus=pcie.0,addr=0x10'/>
  </qemu:commandline>
</domain>
`;
}

export class TestGuest {
  readonly token = randomBytes(24).toString('base64url');
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly agentPort: number,
    readonly helperPort: number,
  ) {}

  get agentUrl(): string {
    return `ws://127.0.0.1:${this.agentPort}`;
  }

  get tokenFile(): string {
    return join(this.dir, 'token');
  }

  get consoleLog(): string {
    return join(this.dir, 'console.log');
  }

  /** An agents file for vcpuctl naming this guest's agent. */
  get agentsFile(): string {
    return join(this.dir, 'agents.json');
  }

  get uuid(): string {
    return virsh('domuuid', this.name).trim();
  }

  static async boot(opts: GuestOptions): Promise<TestGuest> {
    const name = `${RIG_PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const dir = join(RIG_DIR, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const g = new TestGuest(name, dir, await freePort(), await freePort());
    writeFileSync(g.tokenFile, `${g.token}\n`, { mode: 0o600 });
    writeFileSync(g.agentsFile, JSON.stringify({ domains: { [name]: { url: g.agentUrl, tokenFile: g.tokenFile } } }));
    // What the guest runs (as its systemd unit would run the agent), read through 9p.
    const helper = join(REPO, 'test/dist/e2e/rig/guest-helper.js');
    const agentBin = join(REPO, 'packages/guest-agent/bin/vcpuctl-agent.js');
    if (opts.hostname !== undefined) writeFileSync(join(dir, 'hostname'), opts.hostname);
    const setHostname = opts.hostname !== undefined ? `cat ${join(dir, 'hostname')} >/proc/sys/kernel/hostname\n` : '';
    writeFileSync(
      join(dir, 'guest-run.sh'),
      opts.runScript?.(g) ??
        `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/run
${setHostname}exec ${process.execPath} ${helper} --repo ${REPO} --agent-bin ${agentBin} --token-file ${g.tokenFile}${opts.autoOnline === false ? ' --no-auto-online' : ''}${opts.agentChannel ? ' --channel' : ''}
`,
      { mode: 0o755 },
    );
    const boot = buildInitramfs(RIG_DIR);
    const xmlFile = join(dir, 'domain.xml');
    writeFileSync(xmlFile, domainXml(g, opts, boot));
    try {
      virsh('define', xmlFile);
      virsh('start', name);
    } catch (err) {
      g.destroy();
      throw err;
    }
    return g;
  }

  /** Waits until the agent inside answers with its hello. */
  async waitForAgent(timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const c = await AgentClient.connect({ url: this.agentUrl, token: this.token }, { timeoutMs: 3000 });
        await c.close();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`agent in ${this.name} did not answer within ${timeoutMs / 1000} s: ${(err as Error).message}\n--- console ---\n${this.consoleTail(40)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** A channel's element in the live domain XML (what `virsh detach-device` must be given), or undefined. */
  liveChannel(name = AGENT_CHANNEL): string | undefined {
    const xml = virsh('dumpxml', this.name);
    return [...xml.matchAll(/<channel type='unix'>[\s\S]*?<\/channel>/g)].map((m) => m[0]).find((c) => c.includes(`name='${name}'`));
  }

  /** The host end of a virtio-serial channel, as the live domain XML names it, or undefined while there is none. */
  channelSocket(name = AGENT_CHANNEL): string | undefined {
    const channel = this.liveChannel(name);
    return channel === undefined ? undefined : /<source mode='bind' path='([^']+)'/.exec(channel)?.[1];
  }

  /** ws's URL for a unix socket: the host's AgentClient speaks to the channel through it. */
  static channelUrl(socketPath: string): string {
    return `ws+unix:${socketPath}:/`;
  }

  /** Talks to the rig helper inside the guest. */
  helper(method: 'GET' | 'POST', path: string): Promise<string> {
    return this.helperRaw(method, path).then((b) => b.toString('utf8'));
  }

  helperRaw(method: 'GET' | 'POST', path: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.helperPort, method, path, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res
          .on('data', (d: Buffer) => chunks.push(d))
          .on('end', () => {
            const body = Buffer.concat(chunks);
            if (res.statusCode === 200) resolve(body);
            else reject(new Error(`${path}: ${res.statusCode} ${body.toString('utf8')}`));
          });
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
      req.end();
    });
  }

  consoleTail(lines: number): string {
    return existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no console log)';
  }

  console(): string {
    return existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8') : '';
  }

  destroy(): void {
    removeDomain(this.name);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Domains and rig dirs of killed runs (their pid is gone). */
export function removeRigLeftovers(): void {
  removeLeftovers(RIG_PREFIX, (name) => rmSync(join(RIG_DIR, name), { recursive: true, force: true }));
  // A run killed before its domain was defined, or after it was removed, leaves only files: a guest's
  // directory here, a test's build directory (vcpuctl-e2e-sea-PID-...) in the temp directory.
  for (const [dir, prefix] of [
    [RIG_DIR, `${RIG_PREFIX}-`],
    [tmpdir(), `${RIG_PREFIX}-sea-`],
  ] as const) {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const pid = name.startsWith(prefix) ? /^(\d+)-/.exec(name.slice(prefix.length))?.[1] : undefined;
      if (pid !== undefined && !alive(Number(pid))) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
