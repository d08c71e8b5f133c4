/**
 * Loopback helpers for transport-level tests: a listener and a connected pair
 * that are always closed (try/finally), byte patterns, and readers.
 *
 * @module
 */
import type {
  Connection,
  Listener,
  ListenOptions,
  Transport,
} from "../../src/transports/types.ts";
import { concat } from "./prng.ts";

/**
 * Runs `fn` with a listener bound to an ephemeral loopback port, then closes it.
 *
 * @param transport The adapter to listen with.
 * @param options Listen options (port defaults to 0, hostname to 127.0.0.1).
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export async function withListener<T>(
  transport: Transport,
  options: Partial<ListenOptions>,
  fn: (listener: Listener) => Promise<T>,
): Promise<T> {
  const listener = await transport.listen({ port: 0, ...options });
  try {
    return await fn(listener);
  } finally {
    await listener.close();
  }
}

/** A connected client/server pair over loopback. */
export interface Pair {
  readonly client: Connection;
  readonly server: Connection;
}

/**
 * Runs `fn` with a connected pair (client from `clientTransport`, server from
 * `serverTransport`), then closes both and waits for their `closed`.
 *
 * @param clientTransport The adapter that connects.
 * @param serverTransport The adapter that listens.
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export function withPair<T>(
  clientTransport: Transport,
  serverTransport: Transport,
  fn: (pair: Pair) => Promise<T>,
): Promise<T> {
  return withListener(serverTransport, {}, async (listener) => {
    const [client, server] = await Promise.all([
      clientTransport.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
    try {
      if (!server) throw new Error("listener closed before accepting");
      return await fn({ client, server });
    } finally {
      client.close();
      server?.close();
      await Promise.all([client.closed, server?.closed]);
    }
  });
}

/**
 * Deterministic pseudo-random bytes (xorshift32), so a corrupted or
 * reordered transfer is caught.
 *
 * @param length How many bytes.
 * @param seed Any non-zero 32-bit seed.
 * @returns The bytes.
 */
export function pattern(length: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Reads until the stream closes, at most `limit` bytes.
 *
 * @param readable The stream to drain.
 * @param limit Throw past this many bytes.
 * @returns Everything read, as one array.
 */
export async function readAll(
  readable: ReadableStream<Uint8Array>,
  limit = 64 * 1024 * 1024,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = readable.getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      total += r.value.byteLength;
      if (total > limit) throw new Error(`readAll: more than ${limit} bytes`);
      chunks.push(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  return concat(chunks);
}

/**
 * Reads exactly `n` bytes from a reader.
 *
 * @param reader A reader of the connection's readable.
 * @param n How many bytes.
 * @returns The bytes.
 * @throws {Error} if the stream ends first.
 */
export async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended after ${at} of ${n} bytes`);
    if (at + value.byteLength > n) throw new Error(`read past ${n} bytes`);
    out.set(value, at);
    at += value.byteLength;
  }
  return out;
}

/**
 * Resolves once `value()` stops changing for `quietMs`, polling every 20 ms, or
 * after `maxMs` in total. Used to wait for a transfer to stall, never to assert speed.
 *
 * @param value Reads the quantity watched.
 * @param quietMs How long it must stay unchanged.
 * @param maxMs Upper bound of the wait.
 * @returns The settled value.
 */
export async function settled(value: () => number, quietMs = 300, maxMs = 10_000): Promise<number> {
  let last = value();
  let quietSince = Date.now();
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const v = value();
    if (v !== last) {
      last = v;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) break;
  }
  return last;
}

/**
 * A loopback port with nothing listening on it (bound, then released).
 *
 * @param transport The adapter used to find the port.
 * @returns A port that refuses connections, barring a race with another process.
 */
export async function closedPort(transport: Transport): Promise<number> {
  const listener = await transport.listen({ port: 0 });
  const { port } = listener.addr;
  await listener.close();
  return port;
}

/**
 * Index of the first byte where `a` and `b` differ (a length difference counts
 * at the shorter length), or -1 when equal.
 *
 * @param a One array.
 * @param b The other.
 * @returns The index, or -1.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : n;
}
