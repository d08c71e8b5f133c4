/**
 * A raw-TCP WebSocket peer for conformance tests, on `node:net` (so it runs on
 * Deno, Bun and Node alike): it writes exact bytes in chosen chunk sizes, and
 * decodes what comes back with its own tiny frame decoder — not sluice's
 * `FrameReader`, so a bug there cannot hide itself — noting whether and when
 * the other side ended the TCP connection.
 *
 * Two modes: {@link rawClient} speaks to a server under test (the upgrade
 * request written by hand), {@link withRawServer} accepts a client under test
 * (the 101 answer written by hand).
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as net from "node:net";
import { concat } from "./prng.ts";

const enc = new TextEncoder();

/** Opcodes by name (RFC 6455 §5.2). */
export const OP = {
  cont: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** The RFC 6455 §5.7 example mask key, used for every frame the raw client sends. */
export const MASK_KEY: Uint8Array = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** One frame to send, described field by field (anything may be wrong on purpose). */
export interface FrameSpec {
  /** The opcode, 0–15. */
  opcode: number;
  /** The payload; strings are UTF-8 encoded. @default empty */
  payload?: Uint8Array | string;
  /** The FIN bit. @default true */
  fin?: boolean;
  /** RSV1–3 as a 3-bit number (4 = RSV1). @default 0 */
  rsv?: number;
}

/**
 * Encodes one frame. The payload length uses the shortest form.
 *
 * @param spec The frame.
 * @param mask A 4-byte mask key (client frames), or null (server frames).
 * @returns The frame bytes.
 */
export function encodeFrame(spec: FrameSpec, mask: Uint8Array | null): Uint8Array {
  const payload = typeof spec.payload === "string"
    ? enc.encode(spec.payload)
    : spec.payload ?? new Uint8Array(0);
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + ext + (mask ? 4 : 0);
  const out = new Uint8Array(head + len);
  out[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) & 7) << 4 | (spec.opcode & 0xf);
  out[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) {
    out[2] = len >>> 8;
    out[3] = len & 0xff;
  } else if (ext === 8) {
    // Lengths here stay below 2^32: the upper four bytes are zero.
    out[6] = len >>> 24;
    out[7] = (len >>> 16) & 0xff;
    out[8] = (len >>> 8) & 0xff;
    out[9] = len & 0xff;
  }
  if (mask) {
    out.set(mask, head - 4);
    for (let i = 0; i < len; i++) out[head + i] = payload[i] ^ mask[i & 3];
  } else out.set(payload, head);
  return out;
}

/**
 * Encodes several frames into one byte string.
 *
 * @param frames The frames, in order.
 * @param mask The mask key for every frame, or null.
 * @returns Their concatenation.
 */
export function encodeFrames(frames: readonly FrameSpec[], mask: Uint8Array | null): Uint8Array {
  return concatBytes(frames.map((f) => encodeFrame(f, mask)));
}

/**
 * A close frame payload: the code (big-endian) and the reason.
 *
 * @param code The status code (any 16-bit value, valid or not).
 * @param reason The reason text or raw bytes.
 * @returns The payload.
 */
export function closePayload(code: number, reason: string | Uint8Array = ""): Uint8Array {
  const r = typeof reason === "string" ? enc.encode(reason) : reason;
  const out = new Uint8Array(2 + r.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

/** A frame as decoded by {@link FrameDecoder}: fields as on the wire, payload unmasked. */
export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** The close code of a close frame, 1005 when it has no payload. */
export function closeCodeOf(frame: RawFrame): number {
  if (frame.payload.length < 2) return 1005;
  return (frame.payload[0] << 8) | frame.payload[1];
}

/** The UTF-8 reason of a close frame. */
export function closeReasonOf(frame: RawFrame): string {
  return new TextDecoder().decode(frame.payload.subarray(2));
}

/**
 * An independent, deliberately simple frame decoder: no limits, no UTF-8, no
 * state across frames — it reports frames exactly as they are on the wire.
 */
export class FrameDecoder {
  #buf: Uint8Array = new Uint8Array(0);

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    this.#buf = this.#buf.length === 0 ? chunk.slice() : concatBytes([this.#buf, chunk]);
  }

  /** Bytes received and not yet decoded as a frame. */
  get pending(): number {
    return this.#buf.length;
  }

  /** The next complete frame, or null when more bytes are needed. */
  next(): RawFrame | null {
    const b = this.#buf;
    if (b.length < 2) return null;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return null;
      len = (b[2] << 8) | b[3];
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      len = 0;
      for (let i = 2; i < 10; i++) len = len * 256 + b[i];
      at = 10;
    }
    const keyAt = at;
    if (masked) at += 4;
    if (b.length < at + len) return null;
    const payload = b.slice(at, at + len);
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[keyAt + (i & 3)];
    this.#buf = b.subarray(at + len);
    return {
      fin: (b[0] & 0x80) !== 0,
      rsv: (b[0] >> 4) & 7,
      opcode: b[0] & 0x0f,
      masked,
      payload,
    };
  }
}

/** How bytes are cut into socket writes. */
export type Chop = "whole" | "bytes" | number | readonly number[];

/** Options of {@link RawPeer.send}. */
export interface SendOptions {
  /** How to cut the bytes into writes: whole, one byte each, N bytes each, or these sizes (cycled). @default "whole" */
  chop?: Chop;
  /** Pause between writes, ms, so each write leaves as its own TCP segment. @default 0 */
  delayMs?: number;
}

/**
 * Cuts `bytes` into pieces as `chop` says.
 *
 * @param bytes The input.
 * @param chop The rule.
 * @returns The pieces (views).
 */
export function chopBytes(bytes: Uint8Array, chop: Chop = "whole"): Uint8Array[] {
  if (chop === "whole" || bytes.length === 0) return [bytes];
  const sizes = chop === "bytes" ? [1] : typeof chop === "number" ? [chop] : chop;
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How the TCP connection ended, seen from the raw peer. */
export type TcpEnd = "fin" | "reset" | "timeout";

/**
 * One side of a WebSocket connection driven by hand over a `node:net` socket.
 * Received bytes are decoded as they arrive; frames wait in an inbox.
 */
export class RawPeer {
  /** The socket (allowHalfOpen: our side stays writable after the peer's FIN). */
  readonly socket: net.Socket;
  /** Every frame received so far, in order (also those taken by `nextFrame`). */
  readonly received: RawFrame[] = [];
  /** When the other side ended TCP (FIN or reset), as `performance.now()`; null while open. */
  peerEndedAt: number | null = null;
  /** True when the other side reset the connection rather than ending it. */
  peerReset = false;
  /** When this side ended or destroyed the socket; null while not. */
  selfEndedAt: number | null = null;
  /** Bytes that did not decode, if the peer sent garbage. */
  decodeError: Error | null = null;

  readonly #decoder = new FrameDecoder();
  #taken = 0;
  #wake: (() => void) | null = null;

  /**
   * Wraps a connected socket; `leftover` are bytes already read past a handshake head.
   *
   * @param socket The socket.
   * @param leftover Bytes already received.
   */
  constructor(socket: net.Socket, leftover: Uint8Array = new Uint8Array(0)) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (d: Uint8Array) => this.#onData(d));
    socket.on("end", () => this.#onEnd(false));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNRESET" || e.code === "EPIPE") this.#onEnd(true);
      else this.#onEnd(false);
    });
    socket.on("close", () => this.#onEnd(false));
    if (leftover.length > 0) this.#onData(leftover);
  }

  #onData(d: Uint8Array): void {
    this.#decoder.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    for (;;) {
      const f = this.#decoder.next();
      if (f === null) break;
      this.received.push(f);
    }
    this.#notify();
  }

  #onEnd(reset: boolean): void {
    if (this.peerEndedAt === null && this.selfEndedAt === null) {
      this.peerEndedAt = performance.now();
      this.peerReset = reset;
    } else if (this.peerEndedAt === null && (this.socket.readableEnded || reset)) {
      this.peerEndedAt = performance.now();
      this.peerReset = reset;
    }
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** True once the other side ended (or reset) the TCP connection. */
  get peerEnded(): boolean {
    return this.peerEndedAt !== null;
  }

  /** Frames received and not yet taken with {@link RawPeer.nextFrame}. */
  get unread(): RawFrame[] {
    return this.received.slice(this.#taken);
  }

  /**
   * Waits until `cond()` holds, data arrives, or the time is up.
   *
   * @returns Whether `cond()` held.
   */
  async #until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - performance.now();
      if (left <= 0 || this.socket.destroyed && this.peerEnded) return cond();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return true;
  }

  /**
   * The next frame received, or null when the peer ended TCP without sending one.
   *
   * @param timeoutMs How long to wait.
   * @returns The frame, or null.
   * @throws {Error} When nothing arrived in time.
   */
  async nextFrame(timeoutMs = 3000): Promise<RawFrame | null> {
    const ok = await this.#until(
      () => this.received.length > this.#taken || this.peerEnded,
      timeoutMs,
    );
    if (this.received.length > this.#taken) return this.received[this.#taken++];
    if (ok) return null;
    throw new Error(
      `no frame within ${timeoutMs} ms (${this.#decoder.pending} undecoded bytes, ${this.received.length} frames so far)`,
    );
  }

  /**
   * Waits for the other side to end the TCP connection.
   *
   * @param timeoutMs How long to wait.
   * @returns "fin", "reset", or "timeout".
   */
  async waitPeerEnd(timeoutMs = 3000): Promise<TcpEnd> {
    await this.#until(() => this.peerEnded, timeoutMs);
    if (!this.peerEnded) return "timeout";
    return this.peerReset ? "reset" : "fin";
  }

  /**
   * Waits `ms` and reports whether anything (a frame, or the TCP end) arrived meanwhile.
   *
   * @param ms How long to listen.
   * @returns True when nothing arrived.
   */
  async quietFor(ms: number): Promise<boolean> {
    const frames = this.received.length;
    await this.#until(() => this.received.length > frames || this.peerEnded, ms);
    return this.received.length === frames && !this.peerEnded;
  }

  /**
   * Writes bytes as `options.chop` says, waiting for each write to be taken.
   * Errors after the other side went away are swallowed (returns false).
   *
   * @param bytes What to send.
   * @param options Chopping and pacing.
   * @returns True when every piece was written.
   */
  async send(bytes: Uint8Array, options: SendOptions = {}): Promise<boolean> {
    const pieces = chopBytes(bytes, options.chop);
    for (let i = 0; i < pieces.length; i++) {
      if (this.socket.destroyed || this.socket.writableEnded) return false;
      if (i > 0 && options.delayMs) await sleep(options.delayMs);
      const ok = await new Promise<boolean>((resolve) => {
        this.socket.write(pieces[i], (err) => resolve(!err));
      });
      if (!ok) return false;
    }
    return true;
  }

  /** Sends FIN (half close). */
  end(): void {
    this.selfEndedAt ??= performance.now();
    this.socket.end();
  }

  /** Destroys the socket (no more reads or writes). */
  destroy(): void {
    this.selfEndedAt ??= performance.now();
    this.socket.destroy();
  }
}

/** Concatenates byte arrays (the shared test helper, under this file's older name). */
export const concatBytes: (parts: readonly Uint8Array[]) => Uint8Array = concat;

/** An HTTP head read by hand. */
export interface RawHead {
  /** The first line ("HTTP/1.1 101 Switching Protocols" or "GET / HTTP/1.1"). */
  startLine: string;
  /** Header fields, names lower-cased, repeated fields joined with ", ". */
  headers: Map<string, string>;
}

const CRLFCRLF = [13, 10, 13, 10];

function findHeadEnd(buf: Uint8Array): number {
  outer: for (let i = 0; i + 4 <= buf.length; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== CRLFCRLF[j]) continue outer;
    return i + 4;
  }
  return -1;
}

function parseHead(text: string): RawHead {
  const lines = text.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { startLine: lines[0], headers };
}

/**
 * Reads an HTTP head off `socket`, then hands the socket (and any bytes past
 * the head) to `take` in the same turn, so no data event is missed.
 */
function readRawHead<T>(
  socket: net.Socket,
  timeoutMs: number,
  take: (head: RawHead, rest: Uint8Array) => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buf: Uint8Array = new Uint8Array(0);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no complete HTTP head within ${timeoutMs} ms (${buf.length} bytes)`));
    }, timeoutMs);
    const onData = (d: Uint8Array) => {
      buf = concatBytes([buf, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)]);
      const end = findHeadEnd(buf);
      if (end < 0) return;
      cleanup();
      const head = parseHead(new TextDecoder().decode(buf.subarray(0, end - 4)));
      try {
        resolve(take(head, buf.slice(end)));
      } catch (e) {
        reject(e);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`connection ended before the HTTP head (${buf.length} bytes)`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onEnd);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onEnd);
  });
}

/** The RFC 6455 §1.3 example key and the accept value it must produce. */
export const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** A raw client connected to a server under test, past the opening handshake. */
export interface RawClient extends RawPeer {
  /** The server's 101 response head. */
  readonly response: RawHead;
}

/** Options of {@link rawClient}. */
export interface RawClientOptions {
  /** The request target. @default "/" */
  path?: string;
  /** Extra header lines, e.g. `["Sec-WebSocket-Protocol: chat"]`. */
  headers?: string[];
  /** Frames to send in the same write as the request (pipelined). */
  early?: Uint8Array;
  /** How long to wait for the response head. @default 3000 */
  timeoutMs?: number;
}

function connectSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * Connects to a server under test, sends an upgrade request written by hand
 * (with the RFC 6455 sample key) and checks the 101 answer, including
 * `Sec-WebSocket-Accept` against the RFC's own example value.
 *
 * @param port The server's port on 127.0.0.1.
 * @param options Path, extra headers, pipelined bytes.
 * @returns The raw client, ready to send frames.
 * @throws {Error} When the answer is not a valid 101.
 */
export async function rawClient(port: number, options: RawClientOptions = {}): Promise<RawClient> {
  const socket = await connectSocket(port);
  const request = [
    `GET ${options.path ?? "/"} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
    "Sec-WebSocket-Version: 13",
    ...(options.headers ?? []),
    "",
    "",
  ].join("\r\n");
  const headDone = readRawHead(socket, options.timeoutMs ?? 3000, (head, rest) => {
    const peer = new RawPeer(socket, rest) as RawPeer & { response: RawHead };
    peer.response = head;
    return peer;
  });
  socket.write(options.early ? concatBytes([enc.encode(request), options.early]) : enc.encode(request));
  let peer: RawClient;
  try {
    peer = await headDone;
  } catch (e) {
    socket.destroy();
    throw e;
  }
  const { startLine, headers } = peer.response;
  if (!/^HTTP\/1\.1 101 /.test(startLine) || headers.get("sec-websocket-accept") !== SAMPLE_ACCEPT) {
    peer.destroy();
    throw new Error(`not a valid 101 answer: ${startLine} ${JSON.stringify([...headers])}`);
  }
  return peer;
}

/**
 * Opens a plain TCP connection (no handshake) to a server under test.
 *
 * @param port The port on 127.0.0.1.
 * @returns A raw peer over the socket.
 */
export async function rawTcp(port: number): Promise<RawPeer> {
  return new RawPeer(await connectSocket(port));
}

/** A client under test accepted by the raw server, past the opening handshake. */
export interface AcceptedRawPeer extends RawPeer {
  /** The client's upgrade request head. */
  readonly request: RawHead;
}

/** Options of {@link RawServer.accept}. */
export interface AcceptOptions {
  /**
   * The answer: "101" (a valid one, computed here with node:crypto), raw bytes
   * to send instead (a refusal, a broken 101), or "none" to stay silent.
   * @default "101"
   */
  respond?: "101" | "none" | Uint8Array;
  /** Frames to send in the same write as the 101 answer. */
  early?: Uint8Array;
  /** How long to wait for a connection and its request. @default 5000 */
  timeoutMs?: number;
}

/** A listening raw server. */
export interface RawServer {
  /** The port on 127.0.0.1. */
  readonly port: number;
  /** The `ws://` URL of the server. */
  readonly url: string;
  /**
   * Takes the next connection, reads its request and answers it.
   *
   * @returns The raw peer.
   */
  accept(options?: AcceptOptions): Promise<AcceptedRawPeer>;
}

/**
 * The `Sec-WebSocket-Accept` value for `key` (RFC 6455 §4.2.2), computed with
 * node:crypto rather than sluice's own SHA-1.
 *
 * @param key The client's key.
 * @returns The accept value.
 */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

/**
 * Runs `fn` with a raw server on an ephemeral loopback port, then closes the
 * server and destroys every socket it accepted.
 *
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export async function withRawServer<T>(fn: (server: RawServer) => Promise<T>): Promise<T> {
  const queue: net.Socket[] = [];
  const all: net.Socket[] = [];
  let wake: (() => void) | null = null;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    all.push(socket);
    queue.push(socket);
    const w = wake;
    wake = null;
    w?.();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const accept = async (options: AcceptOptions = {}): Promise<AcceptedRawPeer> => {
    const timeoutMs = options.timeoutMs ?? 5000;
    const deadline = performance.now() + timeoutMs;
    while (queue.length === 0) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no connection within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
    const socket = queue.shift()!;
    return await readRawHead(socket, timeoutMs, (head, rest) => {
      const peer = new RawPeer(socket, rest) as RawPeer & { request: RawHead };
      peer.request = head;
      const respond = options.respond ?? "101";
      if (respond === "101") {
        const key = head.headers.get("sec-websocket-key") ?? "";
        const answer = enc.encode(
          [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            `Sec-WebSocket-Accept: ${acceptFor(key)}`,
            "",
            "",
          ].join("\r\n"),
        );
        socket.write(options.early ? concatBytes([answer, options.early]) : answer);
      } else if (respond !== "none") socket.write(respond);
      return peer;
    });
  };
  try {
    return await fn({ port, url: `ws://127.0.0.1:${port}/`, accept });
  } finally {
    for (const s of all) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
