import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Message } from "../../src/core/ws/message.ts";
import {
  applyIncoming,
  callHooks,
  type ConnectionInfo,
  type DisconnectInfo,
  type Extension,
  type LogLevel,
  loggingExtension,
  statusExtension,
} from "../../src/client/extensions.ts";
import { collect, ManualClock } from "./_support.ts";

const enc = new TextEncoder();
const text = (t: string): Message => ({ type: "text", text: t, data: enc.encode(t) });
const info: ConnectionInfo = { id: "c1", url: "ws://127.0.0.1:9/feed", attempt: 2, at: 0 };
const down: DisconnectInfo = {
  id: "c1",
  reason: "pong timeout",
  code: 1006,
  wasClean: false,
  unconfirmedMessages: 3,
  unconfirmedBytes: 30,
  connectedForMs: 1234.4,
  at: 0,
};

function source(messages: Message[]): ReadableStream<Message> {
  return new ReadableStream({
    start(c) {
      for (const m of messages) c.enqueue(m);
      c.close();
    },
  });
}

const texts = (ms: Message[]) => ms.map((m) => (m.type === "text" ? m.text : m.type));

describe("extensions", () => {
  test("incoming transforms apply in order and may change or drop messages", async () => {
    const upper: Extension = {
      name: "upper",
      incoming: () =>
        new TransformStream({
          transform: (m, c) => c.enqueue(m.type === "text" ? text(m.text.toUpperCase()) : m),
        }),
    };
    const dropHeartbeats: Extension = {
      name: "drop",
      incoming: () =>
        new TransformStream({
          transform: (m, c) => {
            if (!(m.type === "text" && m.text === "HB")) c.enqueue(m);
          },
        }),
    };
    const out = await collect(
      applyIncoming(source([text("a"), text("hb"), text("b")]), [upper, dropHeartbeats], info),
    );
    assert.deepEqual(texts(out), ["A", "B"]);
    // Order matters: dropping before upper-casing no longer matches "HB".
    const reversed = await collect(
      applyIncoming(source([text("hb")]), [dropHeartbeats, upper], info),
    );
    assert.deepEqual(texts(reversed), ["HB"]);
  });

  test("the factory is called afresh for every connection with that connection's info", async () => {
    const seen: string[] = [];
    const ext: Extension = {
      name: "per-connection",
      incoming: (i) => {
        seen.push(i.id);
        return new TransformStream();
      },
    };
    await collect(applyIncoming(source([text("x")]), [ext], info));
    await collect(applyIncoming(source([text("y")]), [ext], { ...info, id: "c2" }));
    assert.deepEqual(seen, ["c1", "c2"]);
    const plain = source([]);
    assert.equal(applyIncoming(plain, [{ name: "hooks-only" }], info), plain);
  });

  test("a transform that throws errors the pipeline", async () => {
    const bad: Extension = {
      name: "bad",
      incoming: () =>
        new TransformStream({
          transform: () => {
            throw new Error("cannot parse");
          },
        }),
    };
    await assert.rejects(collect(applyIncoming(source([text("x")]), [bad], info)), /cannot parse/);
  });

  test("callHooks calls every extension in order and collects what throws", () => {
    const calls: string[] = [];
    const exts: Extension[] = [
      { name: "a", onConnect: (i) => void calls.push(`a:${i.id}`) },
      {
        name: "b",
        onConnect: () => {
          throw new Error("oops");
        },
      },
      { name: "c", onConnect: (i) => void calls.push(`c:${i.id}`) },
      { name: "d" },
    ];
    const errors = callHooks(exts, "onConnect", info);
    assert.deepEqual(calls, ["a:c1", "c:c1"]);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /extension "b" threw in onConnect/);
    assert.equal((errors[0].cause as Error).message, "oops");
  });

  test("logging writes lifecycle lines at their levels with the prefix", () => {
    const lines: [LogLevel, string][] = [];
    const log = loggingExtension({ prefix: "[feed]", sink: (l, s) => lines.push([l, s]) });
    callHooks([log], "onConnect", info);
    callHooks([log], "onDisconnect", down);
    callHooks([log], "onError", new Error("refused"), { attempt: 3, at: 0 });
    callHooks([log], "onSend", "not logged below debug");
    assert.deepEqual(lines, [
      ["info", "[feed] connected c1 to ws://127.0.0.1:9/feed (attempt 2)"],
      ["warn", "[feed] disconnected c1: pong timeout (code 1006, up 1234 ms, 3 unconfirmed)"],
      ["error", "[feed] error on attempt 3: refused"],
    ]);
    assert.equal(log.incoming, undefined, "no per-message work unless debug");
    const quiet: string[] = [];
    const errorsOnly = loggingExtension({ level: "error", sink: (_l, s) => quiet.push(s) });
    callHooks([errorsOnly], "onConnect", info);
    assert.deepEqual(quiet, []);
  });

  test("logging at debug shows message sizes, and bodies only when asked, truncated", async () => {
    const lines: string[] = [];
    const log = loggingExtension({
      level: "debug",
      bodies: true,
      maxBodyChars: 4,
      sink: (_l, s) => lines.push(s),
    });
    callHooks([log], "onSend", "hello world");
    callHooks([log], "onSend", new Uint8Array([1, 2, 3]));
    await collect(applyIncoming(source([text("ok"), { type: "close", code: 1000, reason: "" }]), [log], info));
    assert.deepEqual(lines, [
      '[sluice] send text 11 B "hell"',
      "[sluice] send binary 3 B 0102…",
      '[sluice] recv text 2 B "ok"',
      '[sluice] recv close 0 B 1000 ""',
    ]);
    const sizesOnly: string[] = [];
    const plain = loggingExtension({ level: "debug", sink: (_l, s) => sizesOnly.push(s) });
    callHooks([plain], "onSend", "secret");
    assert.deepEqual(sizesOnly, ["[sluice] send text 6 B"]);
  });

  test("logging options are validated", () => {
    assert.throws(() => loggingExtension({ level: "trace" as never }), /level .*got trace/);
    assert.throws(() => loggingExtension({ maxBodyChars: -1 }), /maxBodyChars .*got -1/);
  });

  test("status counts connections, traffic and uptime on the injected clock", async () => {
    const clock = new ManualClock();
    const status = statusExtension(clock);
    assert.equal(status.status().connected, false);
    callHooks([status], "onConnect", info);
    await clock.advance(2500);
    callHooks([status], "onSend", "héllo");
    await collect(applyIncoming(source([text("a"), text("bc")]), [status], info));
    let view = status.status();
    assert.equal(view.connected, true);
    assert.equal(view.connectionId, "c1");
    assert.equal(view.uptimeMs, 2500);
    assert.equal(view.connectionCount, 1);
    assert.deepEqual(
      [view.messagesIn, view.bytesIn, view.messagesOut, view.bytesOut],
      [2, 3, 1, 6],
    );
    const err = new Error("reset");
    callHooks([status], "onError", err, { attempt: 1, at: 0 });
    callHooks([status], "onDisconnect", down);
    callHooks([status], "onConnect", { ...info, id: "c2" });
    view = status.status();
    assert.equal(view.connectionCount, 2);
    assert.equal(view.connectionId, "c2");
    assert.equal(view.uptimeMs, 0);
    assert.equal(view.lastError, err);
  });
});
