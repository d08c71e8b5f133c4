import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { ChaosProxy } from "../_helpers/chaos_proxy.ts";

/** Runs `fn` with a node:net echo server and a chaos proxy in front of it; closes both. */
async function withEchoProxy(fn: (proxy: ChaosProxy) => Promise<void>): Promise<void> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const proxy = await ChaosProxy.start((server.address() as net.AddressInfo).port);
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

interface Client {
  socket: net.Socket;
  received: () => Uint8Array;
  chunks: () => number;
  closed: Promise<{ hadError: boolean }>;
  /** Resolves once `n` bytes have arrived, or rejects after `ms`. */
  waitBytes: (n: number, ms?: number) => Promise<Uint8Array>;
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const parts: Uint8Array[] = [];
    const waiters = new Set<() => void>();
    socket.on("data", (d: Uint8Array) => {
      parts.push(Uint8Array.from(d));
      for (const w of waiters) w();
    });
    socket.on("error", () => {});
    const closed = new Promise<{ hadError: boolean }>((r) => {
      socket.on("close", (hadError: boolean) => {
        for (const w of waiters) w();
        r({ hadError });
      });
    });
    const received = () => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) out.set(p, (o += p.length) - p.length);
      return out;
    };
    const waitBytes = (n: number, ms = 5000) =>
      new Promise<Uint8Array>((res, rej) => {
        const check = () => {
          if (received().length >= n) done(() => res(received()));
          else if (socket.destroyed) done(() => rej(new Error(`closed after ${received().length} bytes`)));
        };
        const timer = setTimeout(() => done(() => rej(new Error(`only ${received().length}/${n} bytes`))), ms);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    socket.once("connect", () =>
      resolve({ socket, received, chunks: () => parts.length, closed, waitBytes })
    );
    socket.once("error", reject);
  });
}

const bytes = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("chaos_proxy", () => {
  test("forwards both directions and counts bytes and connections", async () => {
    await withEchoProxy(async (proxy) => {
      const c = await connect(proxy.port);
      c.socket.write(bytes("hello proxy"));
      assert.equal(str(await c.waitBytes(11)), "hello proxy");
      assert.equal(proxy.stats.accepted, 1);
      assert.equal(proxy.stats.active, 1);
      assert.equal(proxy.stats.bytesUp, 11);
      assert.equal(proxy.stats.bytesDown, 11);
      c.socket.end();
      await c.closed;
    });
  });

  test("resetAll closes every open connection abruptly", async () => {
    await withEchoProxy(async (proxy) => {
      const a = await connect(proxy.port);
      const b = await connect(proxy.port);
      a.socket.write(bytes("x"));
      await a.waitBytes(1);
      proxy.resetAll();
      await Promise.all([a.closed, b.closed]);
      assert.equal(proxy.stats.resets, 2);
      assert.equal(proxy.stats.active, 0);
    });
  });

  test("closeAfter cuts the connection mid-stream after exactly that many bytes", async () => {
    await withEchoProxy(async (proxy) => {
      const c = await connect(proxy.port);
      proxy.closeAfter("down", 5);
      c.socket.write(bytes("0123456789"));
      await c.closed;
      assert.equal(str(c.received()), "01234");
      assert.equal(proxy.stats.resets, 1);
      // The next connection is unaffected: the fault was one-shot.
      const d = await connect(proxy.port);
      d.socket.write(bytes("0123456789"));
      assert.equal(str(await d.waitBytes(10)), "0123456789");
    });
  });

  test("silence swallows data without closing (half-open), and heal resumes forwarding", async () => {
    await withEchoProxy(async (proxy) => {
      const c = await connect(proxy.port);
      proxy.silence();
      c.socket.write(bytes("lost"));
      await delay(100);
      assert.equal(c.received().length, 0);
      assert.equal(c.socket.destroyed, false, "the connection stays open");
      assert.equal(proxy.stats.bytesDropped, 4);
      proxy.heal();
      c.socket.write(bytes("back"));
      assert.equal(str(await c.waitBytes(4)), "back");
    });
  });

  test("trickle delivers the bytes one at a time, in order", async () => {
    await withEchoProxy(async (proxy) => {
      const c = await connect(proxy.port);
      proxy.trickle(5, "down");
      const start = Date.now();
      c.socket.write(bytes("abcdefghij"));
      assert.equal(str(await c.waitBytes(10)), "abcdefghij");
      // Ten bytes five milliseconds apart cannot all arrive together.
      assert.ok(c.chunks() > 1, `arrived in ${c.chunks()} chunks`);
      assert.ok(Date.now() - start >= 20, "delivery was spread out");
      proxy.trickle(0);
      c.socket.write(bytes("fast"));
      assert.equal(str(await c.waitBytes(14)).slice(10), "fast");
    });
  });

  test("corrupt flips the byte at the given offset once", async () => {
    await withEchoProxy(async (proxy) => {
      const c = await connect(proxy.port);
      proxy.corrupt("up", 3);
      c.socket.write(bytes("hello"));
      const got = await c.waitBytes(5);
      assert.deepEqual([...got], [...bytes("hel"), "l".charCodeAt(0) ^ 0xff, "o".charCodeAt(0)]);
      c.socket.write(bytes("hello"));
      assert.equal(str((await c.waitBytes(10)).subarray(5)), "hello");
    });
  });

  test("refuseFor turns new connections away for a while, then accepts again", async () => {
    await withEchoProxy(async (proxy) => {
      const open = await connect(proxy.port);
      proxy.refuseFor(150);
      assert.equal(proxy.refusing, true);
      const refused = await connect(proxy.port).catch(() => null);
      if (refused) await refused.closed;
      assert.equal(proxy.stats.refused, 1);
      // Connections open before the refusal go on.
      open.socket.write(bytes("still"));
      assert.equal(str(await open.waitBytes(5)), "still");
      await delay(200);
      assert.equal(proxy.refusing, false);
      const later = await connect(proxy.port);
      later.socket.write(bytes("ok"));
      assert.equal(str(await later.waitBytes(2)), "ok");
    });
  });

  test("retarget sends new connections to another server", async () => {
    await withEchoProxy(async (proxy) => {
      const other = net.createServer((s) => {
        s.on("error", () => {});
        s.end("other");
      });
      await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
      try {
        proxy.retarget((other.address() as net.AddressInfo).port);
        const c = await connect(proxy.port);
        await c.closed;
        assert.equal(str(c.received()), "other");
      } finally {
        await new Promise<void>((r) => other.close(() => r()));
      }
    });
  });

  test("close destroys open connections and stops listening", async () => {
    let port = 0;
    let client: Client | null = null;
    await withEchoProxy(async (proxy) => {
      port = proxy.port;
      client = await connect(proxy.port);
      proxy.trickle(1000);
      client.socket.write(bytes("pending"));
    });
    await client!.closed;
    await assert.rejects(connect(port));
  });
});
