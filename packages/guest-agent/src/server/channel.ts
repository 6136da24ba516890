/**
 * The agent's virtio-serial channel: finds the port by name, waits for it
 * (a channel can be hot-plugged into a running guest, or come with the
 * virtio_console driver later), reads and writes it without ever blocking
 * (device/), and hands each host connection to the transport as a session
 * (channel-sessions.ts). It knows nothing of the protocol above the bytes.
 *
 * Trust: no token is asked on the channel. Its other end is a unix socket
 * that libvirt creates on the host under /var/lib/libvirt/qemu/channel/,
 * reachable only by root (and QEMU) there; whoever can open it can already
 * change the domain's vCPUs with virsh. Inside the guest the port is a
 * device node only root can open, and only one process at a time.
 */
import { AdaptivePoll, PollPeriods } from '../device/adaptive-poll';
import { DeviceReader } from '../device/device-reader';
import { NonBlockingDevice } from '../device/nonblocking-device';
import { PortRoots, findPort } from '../device/vport';
import { ChannelSessions } from './channel-sessions';
import { ChannelStream } from './channel-stream';

export const DEFAULT_CHANNEL_NAME = 'org.vcpuctl.agent.0';

/**
 * How often the port is read. With no host connected (read() returns 0,
 * nearly all the time) once every `dormantMs`: a new host's first bytes
 * wait up to that long, once per session. With a host connected but quiet,
 * the period doubles from `minMs` to `maxMs`; inside an exchange it is
 * `minMs`. Each poll costs a timer wakeup and one read(), about as much as
 * the wakeup alone (measured in bench/channel-bench.js; README, "Benchmarks").
 */
export const CHANNEL_POLL: PollPeriods = { minMs: 1, maxMs: 100, dormantMs: 250 };

/**
 * How often the agent looks for a port that is not there: a readdir of
 * /sys/class/virtio-ports and a few tiny reads, so idle cost is negligible,
 * and a hot-plugged channel is served within this period.
 */
export const PORT_SCAN_MS = 1000;

/** One read(): the kernel hands out at most what one virtqueue buffer holds (4 KiB pages); 64 KiB is ample. */
const PORT_READ_BYTES = 64 * 1024;

/** Per tick, so a flooding host cannot hold the event loop: four of the largest request frames. */
const MAX_BYTES_PER_TICK = 256 * 1024;

export interface ChannelOptions {
  name: string;
  roots: PortRoots;
  /** Serves one session through the transport's usual path. */
  adopt: (stream: ChannelStream, peer: string) => void;
  log: (line: string) => void;
}

interface Open {
  path: string;
  device: NonBlockingDevice;
  sessions: ChannelSessions;
  reader: DeviceReader;
  poll: AdaptivePoll;
}

export class Channel {
  private open: Open | undefined;
  private scan: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastProblem = '';

  constructor(private readonly opts: ChannelOptions) {}

  /** The device path being served, if any. */
  get portPath(): string | undefined {
    return this.open?.path;
  }

  start(): void {
    this.lookForPort();
  }

  stop(): void {
    this.stopped = true;
    if (this.scan) clearTimeout(this.scan);
    this.scan = undefined;
    this.release('agent shutting down');
  }

  private lookForPort(): void {
    this.scan = undefined;
    if (this.stopped) return;
    const path = findPort(this.opts.name, this.opts.roots);
    if (path) {
      try {
        this.serve(path, NonBlockingDevice.open(path, 'read-write'));
        return;
      } catch (err) {
        this.problem(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; retrying`);
      }
    } else {
      this.problem(`waiting for virtio-serial port ${this.opts.name}`);
    }
    // Unref'd: waiting for a port never keeps the agent alive nor delays its exit.
    this.scan = setTimeout(() => this.lookForPort(), PORT_SCAN_MS);
    this.scan.unref();
  }

  private serve(path: string, device: NonBlockingDevice): void {
    const sessions: ChannelSessions = new ChannelSessions({
      name: this.opts.name,
      port: {
        write: (data) => {
          const n = device.write(data);
          if (n > 0) poll.hurry(); // a reply went out: the host's next request is likely soon
          return n;
        },
        wantFlush: () => poll.hurry(),
      },
      adopt: this.opts.adopt,
      log: this.opts.log,
    });
    const reader = new DeviceReader(device, {
      periods: CHANNEL_POLL,
      readBytes: PORT_READ_BYTES,
      maxBytesPerTick: MAX_BYTES_PER_TICK,
      onData: (chunk) => sessions.data(chunk),
      onEof: () => sessions.hostGone(),
      onError: (err) => {
        // ENODEV: the port was unplugged. Anything else is as fatal to this descriptor.
        queueMicrotask(() => this.lost(`${path}: ${err.code ?? err.message}`));
        return 'stop';
      },
    });
    const poll = new AdaptivePoll(CHANNEL_POLL, () => {
      const read = reader.drain();
      const wrote = this.open?.sessions === sessions ? sessions.flush() : false;
      return wrote || read;
    });
    this.open = { path, device, sessions, reader, poll };
    this.lastProblem = '';
    this.opts.log(`serving channel ${this.opts.name} on ${path}`);
    poll.start();
  }

  private lost(reason: string): void {
    if (!this.open) return;
    this.opts.log(`channel ${this.opts.name}: port lost (${reason}); waiting for it again`);
    this.release('port lost');
    if (!this.stopped) {
      this.scan = setTimeout(() => this.lookForPort(), PORT_SCAN_MS);
      this.scan.unref();
    }
  }

  private release(reason: string): void {
    const o = this.open;
    if (!o) return;
    this.open = undefined;
    o.poll.stop();
    o.reader.stop();
    o.sessions.close(reason);
    o.device.close();
  }

  /** Logs a waiting condition once, not on every scan. */
  private problem(line: string): void {
    if (line === this.lastProblem) return;
    this.lastProblem = line;
    this.opts.log(line);
  }
}
