/**
 * The one place where bytes from a peer become messages. Everything that can
 * go wrong in decoding ends here as a PROTOCOL or TOO_BIG VcpuctlError, so
 * callers answer with an error frame or close cleanly, never crash.
 */
import { vcpuctl } from '../gen/vcpuctl';
import { VcpuctlError } from './errors';
import { checkFrameShape } from './frame-shape';
import { MAX_REPLY_BYTES } from './limits';

export import v1 = vcpuctl.v1;
export type Envelope = vcpuctl.v1.Envelope;
export type EnvelopeInit = vcpuctl.v1.Envelope.$Properties;
export type Body = NonNullable<vcpuctl.v1.Envelope['body']>;

/** Protocol version carried in Hello; peers with another major are refused. */
export const PROTOCOL_VERSION = '1.0';

export function encodeEnvelope(env: EnvelopeInit): Uint8Array {
  return vcpuctl.v1.Envelope.encode(env).finish();
}

export function decodeEnvelope(bytes: Uint8Array, maxBytes: number): Envelope {
  if (bytes.length > maxBytes) {
    throw new VcpuctlError('TOO_BIG', `frame of ${bytes.length} bytes exceeds the ${maxBytes}-byte limit`);
  }
  let env: Envelope;
  try {
    env = vcpuctl.v1.Envelope.decode(bytes);
  } catch (err) {
    throw new VcpuctlError('PROTOCOL', `malformed frame: ${(err as Error).message}`);
  }
  // An unknown oneof member decodes as "no body": a message type this peer
  // does not know (or garbage that happened to parse). The frame itself was
  // well-formed, so a receiver may answer it and keep the connection.
  if (!env.body) {
    throw new VcpuctlError('PROTOCOL', 'frame carries no known message type', { id: env.id, unknownType: true });
  }
  return env;
}

/**
 * Decodes a frame that came from a guest (an agent's reply, event or kernel
 * log): the byte limit, then the repeated-field counts (frame-shape.ts), then
 * protobufjs. What passes still needs guest/guest-input.ts on the host.
 */
export function decodeGuestFrame(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_REPLY_BYTES) {
    throw new VcpuctlError('TOO_BIG', `frame of ${bytes.length} bytes exceeds the ${MAX_REPLY_BYTES}-byte limit`);
  }
  checkFrameShape(bytes);
  return decodeEnvelope(bytes, MAX_REPLY_BYTES);
}

export function protocolMajor(version: string): number {
  return Number.parseInt(version.split('.')[0] ?? '', 10);
}

/** True when a peer speaking `version` can talk to this build. */
export function isCompatible(version: string): boolean {
  return protocolMajor(version) === protocolMajor(PROTOCOL_VERSION);
}
