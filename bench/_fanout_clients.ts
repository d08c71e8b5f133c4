/**
 * The load generator of bench/fanout.ts: a separate process holding many
 * raw upgraded WebSocket sockets (node:net, no WebSocket library), driven by
 * JSON lines on stdin and answering JSON lines on stdout.
 *
 *   {"cmd":"open","port":P,"count":N,"inflight":200} → {"ok":true,"ms":…,"failed":0}
 *   {"cmd":"expect","bytes":B}  every socket must receive B more bytes
 *                               → {"armed":true} at once, then {"ok":true,"ms":…}
 *   {"cmd":"close"}             destroys every socket → {"ok":true}
 *
 * Every wait is bounded. Each server listens on a fresh port, so the
 * ephemeral ports of one run's clients never collide with an earlier run's
 * TIME_WAIT sockets.
 *
 * @module
 */
import * as net from "node:net";
import process from "node:process";

const REQUEST = new TextEncoder().encode(
  "GET /fanout HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
);
const WAIT_LIMIT_MS = 120_000;

interface Client {
  socket: net.Socket;
  /** Bytes received after the 101 head. */
  received: number;
}

const clients: Client[] = [];
let expectTarget = 0;
let pendingExpect: (() => void) | null = null;
let below = 0;

function reply(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function openOne(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    // No explicit local address: connect() picks ports per destination (and may
    // reuse TIME_WAIT ones on loopback), where bind() before connect would scan
    // a port table that earlier runs filled with TIME_WAIT sockets.
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setNoDelay(true);
    const client: Client = { socket, received: 0 };
    let head = "";
    let upgraded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("handshake timed out"));
    }, WAIT_LIMIT_MS);
    socket.once("connect", () => socket.write(REQUEST));
    socket.on("data", (chunk: Uint8Array) => {
      if (upgraded) {
        const before = client.received;
        client.received += chunk.length;
        if (pendingExpect !== null && before < expectTarget && client.received >= expectTarget) {
          if (--below === 0) pendingExpect();
        }
        return;
      }
      head += new TextDecoder("latin1").decode(chunk);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      if (!head.startsWith("HTTP/1.1 101")) {
        socket.destroy();
        reject(new Error(`refused: ${head.slice(0, head.indexOf("\r\n"))}`));
        return;
      }
      upgraded = true;
      client.received = head.length - end - 4;
      resolve(client);
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function open(port: number, count: number, inflight: number): Promise<void> {
  const started = performance.now();
  let next = 0;
  let failed = 0;
  let firstError = "";
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        clients.push(await openOne(port));
      } catch (e) {
        failed++;
        firstError ||= String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
  reply({ ok: true, ms: performance.now() - started, failed, firstError, open: clients.length });
}

function expect(bytes: number): void {
  const started = performance.now();
  // Each socket's target is where it is now plus `bytes` (they all started even).
  const base = clients.reduce((m, c) => Math.min(m, c.received), Infinity);
  expectTarget = base + bytes;
  below = clients.filter((c) => c.received < expectTarget).length;
  reply({ armed: true });
  const timer = setTimeout(() => {
    pendingExpect = null;
    reply({ ok: false, error: `${below} of ${clients.length} sockets still short after ${WAIT_LIMIT_MS} ms` });
  }, WAIT_LIMIT_MS);
  const done = () => {
    clearTimeout(timer);
    pendingExpect = null;
    reply({ ok: true, ms: performance.now() - started });
  };
  if (below === 0) done();
  else pendingExpect = done;
}

let input = "";
process.stdin.on("data", (d: Uint8Array) => {
  input += new TextDecoder().decode(d);
  for (let nl = input.indexOf("\n"); nl >= 0; nl = input.indexOf("\n")) {
    const line = input.slice(0, nl);
    input = input.slice(nl + 1);
    const msg = JSON.parse(line) as { cmd: string; port?: number; count?: number; inflight?: number; bytes?: number };
    if (msg.cmd === "open") void open(msg.port!, msg.count!, msg.inflight ?? 200);
    else if (msg.cmd === "expect") expect(msg.bytes!);
    else if (msg.cmd === "close") {
      for (const c of clients.splice(0)) c.socket.destroy();
      reply({ ok: true });
    } else if (msg.cmd === "exit") process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
reply({ ready: true });
