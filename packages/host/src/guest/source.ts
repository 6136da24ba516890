/**
 * What a command needs from the guest, whoever answers: vcpuctl-agent over a
 * WebSocket (TCP) or over the domain's virtio-serial channel, or
 * qemu-guest-agent through libvirt. Commands hold a GuestSession and never
 * know which one it is; the view and the report say how the guest was reached.
 */
import { EventEmitter } from 'node:events';
import { v1 } from '@vcpuctl/proto';

export type GuestReach = 'websocket' | 'channel' | 'qemu-ga';

export interface GuestSessionEvents {
  /** A change the guest pushed (the agent only). */
  event: [v1.CpuEvent];
  /** Kernel lines the guest pushed (the agent only). */
  kernelLog: [v1.KernelLog];
  /** The session ended under the command. */
  close: [Error];
}

export interface GuestSession extends Pick<EventEmitter<GuestSessionEvents>, 'on' | 'off' | 'once'> {
  readonly via: GuestReach;
  /** How a channel's socket on another machine was reached ("ssh to HOST"); absent when local or not a channel. */
  readonly through?: string;
  /** Who answers: product_uuid and hostname where known, and whether the guest onlines hot-added CPUs itself. */
  readonly hello: {
    productUuid?: string | null;
    hostname?: string | null;
    autoOnline?: boolean | null;
    bootId?: string;
    agentStartedAtMs?: number;
    /** When the guest booted, on this host's clock (vcpuctl-agent only). */
    bootedAtMs?: number;
    /** The CPUs the agent keeps offline by the host's intent (vcpuctl-agent only). */
    wantedOffline?: string;
  };
  /**
   * What this source cannot show, for the verdict and the report (undefined:
   * the full view). qemu-guest-agent has no topology, no lscpu view, no
   * kernel lines, and is polled instead of pushing events.
   */
  readonly reduced: string[] | undefined;
  /** How often to ask for a fresh view while waiting for a change, when the source pushes nothing. */
  readonly pollIntervalMs?: number;
  readonly isOpen: boolean;
  /** Pushed frames dropped over the guest's budget in this session (guest/agent-client.ts). */
  readonly droppedFrames?: number;
  /** Closed on purpose to let another vcpuctl use a channel QEMU serves to one host at a time (watch comes back). */
  readonly yielded?: boolean;
  snapshot(timeoutMs?: number): Promise<v1.Snapshot>;
  /** A snapshot, and from then on pushed events where the source has them. */
  subscribe(timeoutMs?: number): Promise<v1.Snapshot>;
  /** Online/offline inside the guest with the agent's guards: all refused before any change, or applied in order. */
  setOnline(cpus: { cpu: number; online: boolean }[], timeoutMs?: number): Promise<v1.SetOnlineReply>;
  /** Tells the guest which CPUs are offline by intent, so it does not online them itself (vcpuctl-agent only). */
  setWantedOffline?(cpus: string, timeoutMs?: number): Promise<{ cpus: string; persisted: boolean }>;
  close(): Promise<void>;
  /** Long-lived sessions: notice a peer that stopped answering (the agent only; qemu-ga is polled anyway). */
  keepalive?(): void;
}
