import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TimeoutError } from "../../src/core/errors.ts";
import type { Message } from "../../src/core/ws/message.ts";
import { HandshakerError } from "../../src/client/errors.ts";
import {
  chainHandshakes,
  type HandshakeConnection,
  type HandshakeContext,
  type Handshaker,
  runHandshake,
} from "../../src/client/handshake.ts";
import {
  authHandshake,
  jsonSubscribeReply,
  subscribeHandshake,
} from "../../src/client/handshakers.ts";
import { systemClock } from "../../src/common/clock.ts";
import { ManualClock, settle } from "./_support.ts";

const text = (t: string): Message => ({ type: "text", text: t, data: new TextEncoder().encode(t) });

/**
 * A handshake connection over in-memory streams: what the handshaker sends is
 * recorded, `reply` decides what the "server" answers, and `push` delivers
 * unsolicited messages.
 */
function fakeConnection(reply: (sent: string | Uint8Array) => Message[] = () => []) {
  const incoming = new TransformStream<Message, Message>();
  const writer = incoming.writable.getWriter();
  const reader = incoming.readable.getReader();
  const controller = new AbortController();
  const sent: (string | Uint8Array)[] = [];
  const forwarded: Message[] = [];
  const push = (messages: Message[]) => {
    for (const m of messages) void writer.write(m);
  };
  const record = (m: string | Uint8Array) => {
    sent.push(m);
    push(reply(m));
    return Promise.resolve();
  };
  const connection: HandshakeConnection = {
    signal: controller.signal,
    sendText: record,
    sendBinary: record,
    recv: async () => {
      const r = await reader.read();
      return r.done ? null : r.value;
    },
    forward: (m) => void forwarded.push(m),
  };
  return {
    connection,
    sent,
    forwarded,
    push,
    end: () => void writer.close(),
    drop: (reason: unknown) => controller.abort(reason),
  };
}

const ctx = (clock = systemClock as HandshakeContext["clock"]): HandshakeContext => ({
  attempt: 1,
  connectionId: "c1",
  clock,
});

async function failure(p: Promise<void>): Promise<HandshakerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HandshakerError, `expected HandshakerError, got ${e}`);
    return e;
  }
  assert.fail("expected the handshake to fail");
}

describe("handshake", () => {
  test("authHandshake sends the JSON token and, without a reply classifier, does not wait", async () => {
    const fake = fakeConnection();
    await runHandshake(authHandshake("s3cret"), fake.connection, ctx());
    assert.deepEqual(fake.sent, ['{"type":"auth","token":"s3cret"}']);
  });

  test("authHandshake calls a token function on every connection and supports plain and custom formats", async () => {
    let n = 0;
    const plain = authHandshake(() => Promise.resolve(`t${++n}`), { format: "plain" });
    const a = fakeConnection();
    const b = fakeConnection();
    await runHandshake(plain, a.connection, ctx());
    await runHandshake(plain, b.connection, ctx());
    assert.deepEqual([a.sent, b.sent], [["t1"], ["t2"]]);
    const binary = authHandshake("k", { format: (t) => new TextEncoder().encode(`AUTH ${t}`) });
    const c = fakeConnection();
    await runHandshake(binary, c.connection, ctx());
    assert.ok(c.sent[0] instanceof Uint8Array);
    assert.equal(new TextDecoder().decode(c.sent[0] as Uint8Array), "AUTH k");
  });

  test("authHandshake waits for the accepted reply and forwards unrelated messages", async () => {
    const fake = fakeConnection(() => [text("tick 1"), text("welcome"), text("tick 2")]);
    const auth = authHandshake("t", {
      reply: (m) => (m.type === "text" && m.text === "welcome") || undefined,
    });
    await runHandshake(auth, fake.connection, ctx());
    assert.deepEqual(fake.forwarded.map((m) => m.type === "text" && m.text), ["tick 1"]);
  });

  test("a refusal fails with CLIENT_HANDSHAKE_REJECTED naming the handshaker and its retry delay", async () => {
    const fake = fakeConnection(() => [text('{"error":"bad token"}')]);
    const auth = authHandshake("t", {
      retryDelayMs: 30_000,
      reply: (m) => (m.type === "text" && m.text.includes("error") ? false : undefined),
    });
    const e = await failure(runHandshake(auth, fake.connection, ctx()));
    assert.equal(e.code, "CLIENT_HANDSHAKE_REJECTED");
    assert.equal(e.handshaker, "auth");
    assert.equal(e.retryDelayMs, 30_000);
    assert.equal(e.retryable, true);
    assert.match(e.message, /bad token/);
  });

  test("subscribeHandshake sends the default JSON and waits for one confirmation per message", async () => {
    const fake = fakeConnection((m) => [
      text('{"type":"trade","p":1}'),
      text(JSON.stringify({ type: "subscribed", channel: JSON.parse(m as string).channel })),
    ]);
    const sub = subscribeHandshake(["a", "b"], {
      format: (chs) => chs.map((c) => JSON.stringify({ op: "sub", channel: c })),
      waitConfirmation: true,
    });
    await runHandshake(sub, fake.connection, ctx());
    assert.equal(fake.sent.length, 2);
    assert.equal(fake.forwarded.length, 2, "trades arriving before each confirmation are kept");

    const plain = fakeConnection();
    await runHandshake(subscribeHandshake(["x"]), plain.connection, ctx());
    assert.deepEqual(plain.sent, ['{"type":"subscribe","channels":["x"]}']);
  });

  test("the default reply classifier confirms on subscribed, refuses on error, ignores the rest", async () => {
    assert.equal(jsonSubscribeReply(text('{"event":"subscribed"}')), true);
    assert.equal(jsonSubscribeReply(text('{"type":"error","msg":"no such channel"}')), false);
    assert.equal(jsonSubscribeReply(text('{"type":"trade"}')), undefined);
    assert.equal(jsonSubscribeReply(text("{not json")), undefined);
    assert.equal(jsonSubscribeReply({ type: "binary", data: new Uint8Array(1) }), undefined);
    const fake = fakeConnection(() => [text('{"type":"error"}')]);
    const e = await failure(
      runHandshake(subscribeHandshake(["z"], { waitConfirmation: true }), fake.connection, ctx()),
    );
    assert.equal(e.code, "CLIENT_HANDSHAKE_REJECTED");
  });

  test("channels given as a function are read on every connection", async () => {
    const channels = ["a"];
    const sub = subscribeHandshake(() => channels);
    const first = fakeConnection();
    await runHandshake(sub, first.connection, ctx());
    channels.push("b");
    const second = fakeConnection();
    await runHandshake(sub, second.connection, ctx());
    assert.deepEqual(second.sent, ['{"type":"subscribe","channels":["a","b"]}']);
  });

  test("a handshake that gets no answer times out with CLIENT_HANDSHAKE_TIMEOUT on the injected clock", async () => {
    const clock = new ManualClock();
    const fake = fakeConnection();
    const sub = subscribeHandshake(["a"], {
      waitConfirmation: true,
      timeoutMs: 5000,
      retryDelayMs: 250,
    });
    const running = runHandshake(sub, fake.connection, ctx(clock));
    running.catch(() => {});
    await clock.advance(4999);
    await clock.advance(1);
    const e = await failure(running);
    assert.equal(e.code, "CLIENT_HANDSHAKE_TIMEOUT");
    assert.equal(e.retryDelayMs, 250);
    assert.ok(e.cause instanceof TimeoutError);
    assert.equal(clock.pending, 0);
  });

  test("the connection dropping or closing during a handshake fails with CLIENT_HANDSHAKE_CLOSED", async () => {
    const dropped = fakeConnection();
    const waiting = runHandshake(
      authHandshake("t", { reply: () => true }),
      dropped.connection,
      ctx(),
    );
    await settle(1);
    dropped.drop(new Error("ECONNRESET"));
    const e = await failure(waiting);
    assert.equal(e.code, "CLIENT_HANDSHAKE_CLOSED");
    assert.equal((e.cause as Error).message, "ECONNRESET");

    const closed = fakeConnection(() => [{ type: "close", code: 1008, reason: "go away" }]);
    const c = await failure(
      runHandshake(authHandshake("t", { reply: () => true }), closed.connection, ctx()),
    );
    assert.equal(c.code, "CLIENT_HANDSHAKE_CLOSED");
    assert.match(c.message, /1008 go away/);

    const ended = fakeConnection();
    ended.end();
    const d = await failure(
      runHandshake(subscribeHandshake(["a"], { waitConfirmation: true }), ended.connection, ctx()),
    );
    assert.equal(d.code, "CLIENT_HANDSHAKE_CLOSED");
  });

  test("chainHandshakes runs steps in order and a failure names the step and its retry delay", async () => {
    const ok = fakeConnection((m) => (String(m).includes("auth") ? [text("ok")] : []));
    const chain = chainHandshakes(
      authHandshake("t", { reply: (m) => m.type === "text" && m.text === "ok" }),
      subscribeHandshake(["a"]),
    );
    assert.equal(chain.name, "auth+subscribe");
    await runHandshake(chain, ok.connection, ctx());
    assert.deepEqual(ok.sent, ['{"type":"auth","token":"t"}', '{"type":"subscribe","channels":["a"]}']);

    const refused = fakeConnection((m) =>
      String(m).includes("subscribe") ? [text('{"type":"error"}')] : []
    );
    const failing = chainHandshakes(
      authHandshake("t", { retryDelayMs: 1 }),
      subscribeHandshake(["a"], { waitConfirmation: true, retryDelayMs: 2000 }),
    );
    const e = await failure(runHandshake(failing, refused.connection, ctx()));
    assert.equal(e.handshaker, "subscribe");
    assert.equal(e.retryDelayMs, 2000);
    assert.equal(failing.retryDelayMs, 2000);
  });

  test("a custom handshaker is a plain object; what it throws becomes CLIENT_HANDSHAKE_FAILED", async () => {
    const hello: Handshaker = { name: "hello", run: (c) => c.sendText("hi") };
    const fake = fakeConnection();
    await runHandshake(hello, fake.connection, ctx());
    assert.deepEqual(fake.sent, ["hi"]);
    const broken: Handshaker = {
      name: "broken",
      run: () => {
        throw new Error("boom");
      },
    };
    const e = await failure(runHandshake(broken, fakeConnection().connection, ctx()));
    assert.equal(e.code, "CLIENT_HANDSHAKE_FAILED");
    assert.match(e.message, /"broken" failed: boom/);
  });

  test("options are validated with the bad value in the message", () => {
    assert.throws(() => authHandshake(42 as never), /token must be .*got number/);
    assert.throws(() => authHandshake("t", { format: "xml" as never }), /format .*got xml/);
    assert.throws(() => authHandshake("t", { timeoutMs: 0 }), /timeoutMs .*got 0/);
    assert.throws(() => authHandshake("t", { retryDelayMs: -1 }), /retryDelayMs .*got -1/);
    assert.throws(() => subscribeHandshake([]), /non-empty array/);
    assert.throws(() => subscribeHandshake(["ok", ""]), /non-empty string: got ""/);
    assert.throws(() => chainHandshakes({} as never), /argument 0 is not a Handshaker/);
  });
});

// Compile-time check: a WebSocketConnection provides everything a
// HandshakeConnection needs but the signal and forward().
type _Subset = Pick<
  import("../../src/ws/types.ts").WebSocketConnection,
  "sendText" | "sendBinary" | "recv"
> extends Omit<HandshakeConnection, "signal" | "forward"> ? true : never;
const _isSubset: _Subset = true;
void _isSubset;
