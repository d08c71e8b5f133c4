/**
 * The conformance runner shared by the server-role and client-role tests: a
 * case (from the Autobahn TestSuite descriptions, see `_cases_*.ts`) is a list
 * of byte-exact steps plus what must come back, and runs in either role:
 *
 * - server role: {@link runServerCase} drives sluice's `serveWebSocket` echo
 *   server with a raw client (masked frames);
 * - client role: {@link runClientCase} drives sluice's `connectWebSocket`
 *   echo client (as the Autobahn client driver does) from a raw server.
 *
 * The raw side decodes with its own decoder (`tests/_helpers/raw_peer.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ProtocolError } from "../../src/core/errors.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import type { AcceptedWebSocket } from "../../src/server/accept.ts";
import type { ServeWebSocketOptions } from "../../src/server/serve.ts";
import { connectWebSocket, type ConnectWebSocketOptions } from "../../src/ws/client.ts";
import type { CloseInfo, WebSocketConnection } from "../../src/ws/types.ts";
import { firstDifference } from "../_helpers/net.ts";
import {
  type Chop,
  chopBytes,
  closeCodeOf,
  concatBytes,
  encodeFrame,
  MASK_KEY,
  OP,
  type FrameSpec,
  type RawFrame,
  type RawPeer,
  rawClient,
  withRawServer,
} from "../_helpers/raw_peer.ts";

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the peer under test must send back, in order. */
export type Expect =
  | { type: "text"; payload: Uint8Array | string }
  | { type: "binary"; payload: Uint8Array }
  | { type: "pong"; payload: Uint8Array | string };

/** One step of a case: frames to send, and how. */
export interface Step {
  /** The frames, encoded for the role (masked when the raw side is the client). */
  frames: FrameSpec[];
  /** How to cut this step's bytes into writes. @default "whole" */
  chop?: Chop;
  /** Send each frame as its own write. @default false */
  frameWise?: boolean;
  /** Pause between writes, ms. @default 0 */
  delayMs?: number;
  /**
   * Send only part of the (single) frame: payload bytes [from, to); the header
   * goes with the part that starts at 0.
   */
  part?: [number, number];
  /** After this step, nothing may come back for this long (ms): not failed too early. */
  quietMs?: number;
  /** Replies that must come back right after this step, before the next one is sent. */
  replies?: Expect[];
}

/** How a case must end. */
export type Outcome =
  /** Echoes arrive; the raw side then closes with 1000 and gets 1000 back. */
  | { kind: "echo" }
  /** The raw side's own close (in the steps) is answered with one of `codes` (1005 = empty). */
  | { kind: "reply"; codes: number[]; sentCode: number }
  /**
   * The peer under test fails the connection with close code `code`. With
   * `failFastAfterStep`, the close must arrive before later steps are sent.
   */
  | { kind: "fail"; code: number; failFastAfterStep?: number };

/** One conformance case. */
export interface Case {
  /** The Autobahn case number, e.g. "5.6". */
  id: string;
  /** What the peer under test does, for the test name ("echoes …", "fails … with 1002"). */
  does: string;
  steps: Step[];
  expect: Expect[];
  outcome: Outcome;
}

function bytesOf(p: Uint8Array | string): Uint8Array {
  return typeof p === "string" ? enc.encode(p) : p;
}

function hexPreview(b: Uint8Array): string {
  const head = Array.from(b.subarray(0, 24), (x) => x.toString(16).padStart(2, "0")).join("");
  return `${b.length} bytes ${head}${b.length > 24 ? "…" : ""}`;
}

/**
 * Asserts two byte strings are equal, naming the first differing byte.
 *
 * @param actual What came back.
 * @param expected What should have.
 * @param what Label for the message.
 */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const at = firstDifference(actual, expected);
  if (at >= 0) {
    assert.fail(
      `${what}: differs at byte ${at}: got ${hexPreview(actual)}, want ${hexPreview(expected)}`,
    );
  }
}

/** Sends one step's bytes. */
async function sendStep(
  peer: RawPeer,
  step: Step,
  mask: Uint8Array | null,
  rechop: Chop | undefined,
): Promise<void> {
  const chop = step.chop ?? rechop;
  if (step.part) {
    const [from, to] = step.part;
    const whole = encodeFrame(step.frames[0], mask);
    const payloadLen = bytesOf(step.frames[0].payload ?? "").length;
    const header = whole.length - payloadLen;
    // A masked part must be masked at its own payload offset: slice the encoded frame.
    const bytes = whole.subarray(from === 0 ? 0 : header + from, header + to);
    await peer.send(bytes, { chop, delayMs: step.delayMs });
    return;
  }
  const encoded = step.frames.map((f) => encodeFrame(f, mask));
  if (step.frameWise) {
    for (let i = 0; i < encoded.length; i++) {
      if (i > 0 && step.delayMs) await sleep(step.delayMs);
      await peer.send(encoded[i], { chop, delayMs: step.delayMs });
    }
    return;
  }
  await peer.send(concatBytes(encoded), { chop, delayMs: step.delayMs });
}

/** Reads one message (joining fragments) or control frame. */
async function nextMessage(
  peer: RawPeer,
  wantMasked: boolean,
  label: string,
  timeoutMs: number,
): Promise<RawFrame | null> {
  const first = await peer.nextFrame(timeoutMs);
  if (first === null) return null;
  assert.equal(first.masked, wantMasked, `${label}: frame masked=${first.masked}`);
  assert.equal(first.rsv, 0, `${label}: RSV bits set on a frame from the peer under test`);
  if (first.opcode >= 8 || first.fin) return first;
  const parts = [first.payload];
  for (;;) {
    const f = await peer.nextFrame(timeoutMs);
    assert.ok(f, `${label}: TCP ended inside a fragmented message`);
    assert.equal(f.masked, wantMasked, `${label}: fragment masked=${f.masked}`);
    if (f.opcode >= 8) assert.fail(`${label}: control frames inside echoed fragments are unexpected here`);
    assert.equal(f.opcode, OP.cont, `${label}: continuation expected`);
    parts.push(f.payload);
    if (f.fin) break;
  }
  let n = 0;
  for (const p of parts) n += p.length;
  const payload = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    payload.set(p, n);
    n += p.length;
  }
  return { ...first, fin: true, payload };
}

const OPCODE_OF = { text: OP.text, binary: OP.binary, pong: OP.pong } as const;
const NAME_OF: Record<number, string> = {
  0: "continuation",
  1: "text",
  2: "binary",
  8: "close",
  9: "ping",
  10: "pong",
};

function describeFrame(f: RawFrame): string {
  const name = NAME_OF[f.opcode] ?? `opcode ${f.opcode}`;
  return f.opcode === OP.close ? `close ${closeCodeOf(f)}` : `${name} (${hexPreview(f.payload)})`;
}

/** Timeouts of the runner, generous for a loaded machine. */
const FRAME_TIMEOUT_MS = 5000;
const TCP_END_TIMEOUT_MS = 3000;

async function expectReplies(
  peer: RawPeer,
  replies: readonly Expect[],
  wantMasked: boolean,
  label: string,
): Promise<void> {
  for (const [j, want] of replies.entries()) {
    const got = await nextMessage(peer, wantMasked, `${label} reply ${j}`, FRAME_TIMEOUT_MS);
    assert.ok(got, `${label}: TCP ended before reply ${j} (${want.type})`);
    assert.equal(
      NAME_OF[got.opcode] ?? got.opcode,
      NAME_OF[OPCODE_OF[want.type]],
      `${label} reply ${j}: got ${describeFrame(got)}, want ${want.type}`,
    );
    assertBytes(got.payload, bytesOf(want.payload), `${label} reply ${j} (${want.type})`);
  }
}

/**
 * Runs a case's steps and checks everything that comes back, up to and
 * including the close frame. Returns the close frame.
 */
async function drive(
  c: Case,
  peer: RawPeer,
  mask: Uint8Array | null,
  wantMasked: boolean,
  rechop: Chop | undefined,
): Promise<RawFrame> {
  const label = `case ${c.id}`;
  const failFastAt = c.outcome.kind === "fail" ? c.outcome.failFastAfterStep : undefined;
  for (let i = 0; i < c.steps.length; i++) {
    const step = c.steps[i];
    await sendStep(peer, step, mask, rechop);
    if (step.quietMs) {
      assert.ok(
        await peer.quietFor(step.quietMs),
        `${label}: something came back (or TCP ended) after step ${i}, before the message was complete: ${
          peer.unread.map(describeFrame).join(", ")
        }`,
      );
    }
    if (step.replies) await expectReplies(peer, step.replies, wantMasked, `${label} step ${i}`);
    if (failFastAt === i) {
      // Fail fast (RFC 6455 §8.1): the close must come before the rest is sent.
      const f = await peer.nextFrame(FRAME_TIMEOUT_MS);
      assert.ok(f, `${label}: TCP ended without a close frame`);
      assert.equal(describeFrame(f), `close ${(c.outcome as { code: number }).code}`, label);
      return f;
    }
  }
  await expectReplies(peer, c.expect, wantMasked, label);
  if (c.outcome.kind === "echo") {
    await peer.send(encodeFrame({ opcode: OP.close, payload: Uint8Array.of(0x03, 0xe8) }, mask));
  }
  const close = await nextMessage(peer, wantMasked, `${label} close`, FRAME_TIMEOUT_MS);
  assert.ok(close, `${label}: TCP ended without a close frame`);
  const codes = c.outcome.kind === "echo"
    ? [1000]
    : c.outcome.kind === "reply"
    ? c.outcome.codes
    : [c.outcome.code];
  assert.ok(
    close.opcode === OP.close && codes.includes(closeCodeOf(close)),
    `${label}: got ${describeFrame(close)}, want close ${codes.join(" or ")}`,
  );
  return close;
}

/** Checks the CloseInfo of the connection under test against the outcome. */
function checkCloseInfo(c: Case, info: CloseInfo): void {
  const label = `case ${c.id} CloseInfo`;
  if (c.outcome.kind === "fail") {
    assert.equal(info.wasClean, false, label);
    assert.equal(info.initiatedBy, "local", label);
    assert.ok(info.error instanceof ProtocolError, `${label}: error ${info.error}`);
    assert.equal(info.error.closeCode, c.outcome.code, label);
    assert.equal(info.code, c.outcome.code, label);
  } else {
    const sent = c.outcome.kind === "echo" ? 1000 : c.outcome.sentCode;
    assert.deepEqual(
      { code: info.code, wasClean: info.wasClean, initiatedBy: info.initiatedBy, error: info.error },
      { code: sent, wasClean: true, initiatedBy: "remote", error: undefined },
      label,
    );
  }
}

/** Resolves with the value, or rejects naming `what` after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

/** The echo loop of examples/echo_server.ts and the Autobahn client driver. */
export async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) {
    if (msg.type === "text") await ws.sendText(msg.text);
    else if (msg.type === "binary") await ws.sendBinary(msg.data);
  }
}

/** A running echo server and the connections it accepted. */
export interface EchoServer {
  readonly port: number;
  /** The next accepted connection (in accept order). */
  next(): Promise<AcceptedWebSocket>;
  /** Errors the server reported (handler errors, failed handshakes). */
  readonly errors: unknown[];
}

/**
 * Runs `fn` with a sluice echo server (as in examples/echo_server.ts), then closes it.
 *
 * @param options Extra serve options.
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export async function withEchoServer<T>(
  options: Partial<ServeWebSocketOptions>,
  fn: (server: EchoServer) => Promise<T>,
): Promise<T> {
  const accepted: AcceptedWebSocket[] = [];
  let wake: (() => void) | null = null;
  const errors: unknown[] = [];
  const server = await serveWebSocket({
    port: 0,
    onError: (e) => errors.push(e),
    handler: (ws) => {
      accepted.push(ws);
      wake?.();
      return echo(ws);
    },
    ...options,
  });
  let taken = 0;
  const next = async () => {
    const deadline = performance.now() + FRAME_TIMEOUT_MS;
    while (accepted.length <= taken) {
      assert.ok(performance.now() < deadline, "the server accepted no WebSocket in time");
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
    return accepted[taken++];
  };
  try {
    return await fn({ port: server.addr.port, next, errors });
  } finally {
    await within(server.close(), 10_000, "server.close()");
  }
}

/**
 * Server role: a raw client runs the case against a sluice echo server.
 *
 * @param c The case.
 * @param options Extra serve options (limits).
 * @param rechop How to cut steps that name no chop of their own.
 */
export async function runServerCase(
  c: Case,
  options: Partial<ServeWebSocketOptions> = {},
  rechop?: Chop,
): Promise<void> {
  await withEchoServer(options, async (server) => {
    const peer = await rawClient(server.port);
    try {
      const ws = await server.next();
      await drive(c, peer, MASK_KEY, false, rechop);
      // The server ends TCP first (RFC 6455 §7.1.1), after its close frame.
      const end = await peer.waitPeerEnd(TCP_END_TIMEOUT_MS);
      if (c.outcome.kind === "fail") {
        assert.notEqual(end, "timeout", `case ${c.id}: the server did not close TCP`);
      } else {
        assert.equal(end, "fin", `case ${c.id}: the server did not end TCP cleanly`);
      }
      assert.equal(peer.selfEndedAt, null, `case ${c.id}: the raw client had to end TCP`);
      assert.equal(
        peer.unread.length,
        0,
        `case ${c.id}: frames after the close: ${peer.unread.map(describeFrame).join(", ")}`,
      );
      checkCloseInfo(c, await within(ws.closed, TCP_END_TIMEOUT_MS, `case ${c.id} ws.closed`));
    } finally {
      peer.destroy();
    }
  });
}

/** A sluice client echoing everything it receives, and how its loop ended. */
export interface EchoClient {
  readonly ws: WebSocketConnection;
  /** Resolves with the error the echo loop ended with, or null after a clean close. */
  readonly done: Promise<unknown>;
}

/**
 * Connects a sluice client that echoes every message (the Autobahn client driver's loop).
 *
 * @param url The server URL.
 * @param options Client options.
 * @returns The client.
 */
export async function echoClient(
  url: string,
  options: ConnectWebSocketOptions = {},
): Promise<EchoClient> {
  const ws = await connectWebSocket(url, options);
  const done = echo(ws).then(() => null, (e: unknown) => e);
  return { ws, done };
}

/**
 * Client role: a raw server runs the case against a sluice echo client.
 *
 * @param c The case.
 * @param options Extra client options (limits).
 * @param rechop How to cut steps that name no chop of their own.
 */
export async function runClientCase(
  c: Case,
  options: ConnectWebSocketOptions = {},
  rechop?: Chop,
): Promise<void> {
  await withRawServer(async (server) => {
    const connecting = echoClient(server.url, options);
    const peer = await server.accept();
    const client = await connecting;
    try {
      await drive(c, peer, null, true, rechop);
      if (c.outcome.kind === "fail") {
        // The client failed the connection but still leaves ending TCP to the server.
        const err = await within(client.done, TCP_END_TIMEOUT_MS, `case ${c.id} echo loop`);
        assert.ok(err instanceof ProtocolError, `case ${c.id}: echo loop ended with ${err}`);
        assert.equal(peer.peerEnded, false, `case ${c.id}: the client ended TCP before the server`);
        peer.end();
        assert.equal(await peer.waitPeerEnd(TCP_END_TIMEOUT_MS), "fin", `case ${c.id}`);
        checkCloseInfo(c, await within(client.ws.closed, TCP_END_TIMEOUT_MS, `case ${c.id} closed`));
      } else {
        // The client waits for the server to end TCP (RFC 6455 §7.1.1): it has not yet.
        assert.equal(peer.peerEnded, false, `case ${c.id}: the client ended TCP before the server`);
        peer.end();
        assert.equal(await peer.waitPeerEnd(TCP_END_TIMEOUT_MS), "fin", `case ${c.id}`);
        checkCloseInfo(c, await within(client.ws.closed, TCP_END_TIMEOUT_MS, `case ${c.id}`));
        assert.equal(await client.done, null, `case ${c.id}: echo loop ended with an error`);
      }
      assert.equal(
        peer.unread.length,
        0,
        `case ${c.id}: frames after the close: ${peer.unread.map(describeFrame).join(", ")}`,
      );
    } finally {
      peer.destroy();
      await client.ws.close().catch(() => {});
    }
  });
}

/** The test name of a case in a role. */
export function caseName(c: Case, role: "server" | "client"): string {
  return `${c.id}: ${role} ${c.does}`;
}

/** Chopping helper re-exported for case tables. */
export { chopBytes, OP };

/** Odd write sizes, cycled, for re-running cases with every write cut differently. */
export const ODD_CHOPS: readonly number[] = [1, 2, 3, 5, 7, 11, 13];

/** Total bytes a case sends (for keeping odd-chop re-runs small). */
export function caseBytes(c: Case): number {
  let n = 0;
  for (const step of c.steps) {
    for (const f of step.frames) n += bytesOf(f.payload ?? "").length + 14;
  }
  return n;
}
