/**
 * Runs a real vcpuctl-agent (in this process, on a real loopback socket) on a
 * kernel-shaped tree, with a FIFO standing in for /dev/kmsg.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningAgent, ServeOptions, startAgent } from '@vcpuctl/guest-agent';
import { AgentClient } from '@vcpuctl/host';
import { CpuTreeBuilder, TreeSpec } from './cpu-tree-builder';

export const TEST_UUID = '6f1f3d3c-8a39-4a54-9b1e-3c1f8e0c2a11';

export class AgentHarness {
  readonly tree: CpuTreeBuilder;
  readonly dir: string;
  readonly token = 'test-token-0123456789abcdef';
  readonly tokenFile: string;
  readonly kmsgFifo: string;
  readonly log: string[] = [];
  running: RunningAgent | undefined;
  private stopKernel: (() => void) | undefined;
  private fifoWriter: number | undefined;
  private readonly clients: AgentClient[] = [];

  constructor(spec: TreeSpec) {
    this.tree = new CpuTreeBuilder(spec);
    this.tree.setProductUuid(TEST_UUID.toUpperCase());
    this.dir = mkdtempSync(join(tmpdir(), 'vcpuctl-agent-test-'));
    this.tokenFile = join(this.dir, 'token');
    writeFileSync(this.tokenFile, `${this.token}\n`, { mode: 0o600 });
    this.kmsgFifo = join(this.dir, 'kmsg');
    execFileSync('mkfifo', [this.kmsgFifo]);
  }

  async start(opts: { autoOnline?: boolean; pollIntervalMs?: number; readOnly?: boolean; timings?: ServeOptions['timings'] } = {}): Promise<void> {
    this.stopKernel = this.tree.simulateKernel();
    // Hold the FIFO open for writing first, so the agent's open does not wait for a writer.
    this.fifoWriter = openSync(this.kmsgFifo, constants.O_RDWR | constants.O_NONBLOCK);
    this.running = await startAgent({
      host: '127.0.0.1',
      port: 0,
      tokenFile: this.tokenFile,
      tls: undefined,
      sysroot: this.tree.root,
      kmsgPath: this.kmsgFifo,
      pollIntervalMs: opts.pollIntervalMs ?? 10,
      autoOnline: opts.autoOnline ?? true,
      readOnly: opts.readOnly ?? false,
      log: (line) => this.log.push(line),
      timings: opts.timings,
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.running!.address!.port}`;
  }

  /** `null` connects without a token. */
  async connect(token: string | null = this.token): Promise<AgentClient> {
    const c = await AgentClient.connect({ url: this.url, token: token ?? undefined }, { timeoutMs: 3000 });
    this.clients.push(c);
    return c;
  }

  /** Writes a /dev/kmsg record, as the guest kernel would log it. */
  kernelSays(seq: number, message: string, usec = 4717095): void {
    writeSync(this.fifoWriter!, `6,${seq},${usec},-;${message}\n`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await this.running?.close();
    this.stopKernel?.();
    if (this.fifoWriter !== undefined) closeSync(this.fifoWriter);
    this.tree.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves with the first event `pick` accepts, or rejects after `ms`. */
export function waitFor<T>(subscribe: (cb: (v: T) => void) => () => void, pick: (v: T) => boolean, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const off = subscribe((v) => {
      if (!pick(v)) return;
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}
