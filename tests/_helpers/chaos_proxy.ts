/**
 * A fault-injecting TCP proxy on 127.0.0.1 for resilience tests, built on
 * `node:net` so it runs on Deno, Bun and Node alike.
 *
 * It forwards both directions between each accepted client and a fresh
 * connection to the target, and can be told at any time to:
 * reset every connection (abrupt close), close one mid-stream after N bytes,
 * go silent (stop forwarding without closing: a half-open peer), trickle
 * bytes one at a time with a delay, corrupt the byte at an offset, or refuse
 * new connections for a while. Byte and connection counters show what passed.
 *
 * Fault offsets count the bytes *read* in a direction from the moment the
 * fault is armed, across connections: with one connection open, "the 10th
 * byte from now".
 *
 * @module
 */
import net from "node:net";

/** `up`: client to target; `down`: target to client. */
export type Direction = "up" | "down";
type Which = Direction | "both";

/** Counters of what the proxy saw. */
export interface ChaosStats {
  /** Connections accepted and forwarded. */
  accepted: number;
  /** Connections refused while refusing. */
  refused: number;
  /** Pairs open now. */
  active: number;
  /** Bytes forwarded client → target. */
  bytesUp: number;
  /** Bytes forwarded target → client. */
  bytesDown: number;
  /** Bytes swallowed while silent. */
  bytesDropped: number;
  /** Connections closed abruptly by a fault. */
  resets: number;
}

const MAX_TRICKLE_BACKLOG = 64 * 1024;

interface Side {
  from: net.Socket;
  to: net.Socket;
  dir: Direction;
  backlog: Uint8Array[];
  timer: ReturnType<typeof setTimeout> | null;
  /** The source sent FIN; pass it on once the backlog is written. */
  ended: boolean;
}

class Pair {
  closed = false;
  /** A `closeAfter` cut point was reached: nothing more is forwarded while the reset is pending. */
  cut = false;
  readonly client: net.Socket;
  readonly server: net.Socket;
  readonly up: Side;
  readonly down: Side;
  constructor(client: net.Socket, server: net.Socket) {
    this.client = client;
    this.server = server;
    this.up = { from: client, to: server, dir: "up", backlog: [], timer: null, ended: false };
    this.down = { from: server, to: client, dir: "down", backlog: [], timer: null, ended: false };
  }
}

function abort(socket: net.Socket): void {
  const s = socket as net.Socket & { resetAndDestroy?: () => void };
  try {
    // RST where the runtime supports it; a plain destroy (FIN) elsewhere.
    if (typeof s.resetAndDestroy === "function" && !s.destroyed) s.resetAndDestroy();
    else s.destroy();
  } catch {
    s.destroy();
  }
}

/** The fault-injecting proxy; create with {@link ChaosProxy.start}. */
export class ChaosProxy {
  readonly stats: ChaosStats = {
    accepted: 0,
    refused: 0,
    active: 0,
    bytesUp: 0,
    bytesDown: 0,
    bytesDropped: 0,
    resets: 0,
  };
  #server: net.Server;
  #target: { host: string; port: number };
  #pairs = new Set<Pair>();
  #read = { up: 0, down: 0 };
  #silent = { up: false, down: false };
  #trickleMs = { up: 0, down: 0 };
  #corruptAt: { up: number[]; down: number[] } = { up: [], down: [] };
  #closeAt: { up: number | null; down: number | null } = { up: null, down: null };
  #refuseUntil = 0;
  #refuseTimer: ReturnType<typeof setTimeout> | null = null;

  /** Use {@link ChaosProxy.start}, which also listens. */
  constructor(server: net.Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  /** Starts a proxy on an ephemeral loopback port forwarding to `targetPort`. */
  static start(targetPort: number, targetHost = "127.0.0.1"): Promise<ChaosProxy> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true });
      const proxy = new ChaosProxy(server, { host: targetHost, port: targetPort });
      server.on("connection", (socket) => proxy.#accept(socket));
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(proxy));
    });
  }

  /** The proxy's port on 127.0.0.1. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Points new connections at another target port (e.g. a restarted server). */
  retarget(port: number): void {
    this.#target = { ...this.#target, port };
  }

  /** Closes every open connection abruptly (RST where supported). */
  resetAll(): void {
    for (const pair of [...this.#pairs]) this.#kill(pair);
  }

  /** Abruptly closes the connection carrying the `bytes`th byte from now in `dir`, after forwarding the bytes before it. */
  closeAfter(dir: Direction, bytes: number): void {
    this.#closeAt[dir] = this.#read[dir] + bytes;
  }

  /** Stops (or resumes) forwarding in `dir` without closing anything: data and FINs are swallowed. */
  silence(on = true, dir: Which = "both"): void {
    for (const d of this.#dirs(dir)) this.#silent[d] = on;
  }

  /** Delivers one byte every `delayMs` in `dir` (0 turns trickling off). */
  trickle(delayMs: number, dir: Which = "both"): void {
    for (const d of this.#dirs(dir)) this.#trickleMs[d] = Math.max(0, delayMs);
  }

  /** Flips every bit of the byte `offset` bytes from now in `dir` (0 = the next byte). */
  corrupt(dir: Direction, offset: number): void {
    this.#corruptAt[dir].push(this.#read[dir] + offset);
  }

  /** Refuses new connections (accepts and resets them) for `ms` milliseconds. */
  refuseFor(ms: number): void {
    if (this.#refuseTimer) clearTimeout(this.#refuseTimer);
    this.#refuseUntil = Date.now() + ms;
    this.#refuseTimer = setTimeout(() => this.#refuseTimer = null, ms);
  }

  /** Whether new connections are being refused now. */
  get refusing(): boolean {
    return Date.now() < this.#refuseUntil;
  }

  /** Clears every fault; open connections go on. */
  heal(): void {
    this.#silent = { up: false, down: false };
    this.#trickleMs = { up: 0, down: 0 };
    this.#corruptAt = { up: [], down: [] };
    this.#closeAt = { up: null, down: null };
    this.#refuseUntil = 0;
    if (this.#refuseTimer) clearTimeout(this.#refuseTimer);
    this.#refuseTimer = null;
    for (const pair of this.#pairs) for (const side of [pair.up, pair.down]) this.#pump(pair, side);
  }

  /** Stops listening, destroys every connection and clears every timer. */
  close(): Promise<void> {
    this.heal();
    for (const pair of [...this.#pairs]) this.#kill(pair, false);
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #dirs(which: Which): Direction[] {
    return which === "both" ? ["up", "down"] : [which];
  }

  #accept(client: net.Socket): void {
    client.on("error", () => {});
    if (this.refusing) {
      this.stats.refused++;
      abort(client);
      return;
    }
    this.stats.accepted++;
    const server = net.connect({ ...this.#target, allowHalfOpen: true });
    server.on("error", () => {});
    const pair = new Pair(client, server);
    this.#pairs.add(pair);
    this.stats.active++;
    for (const side of [pair.up, pair.down]) {
      side.from.on("data", (chunk: Uint8Array) => this.#onData(pair, side, chunk));
      side.from.on("end", () => {
        // While silent the other side must not learn of the FIN: half-open.
        if (this.#silent[side.dir]) return;
        side.ended = true;
        if (side.backlog.length === 0) side.to.end();
      });
      side.from.on("close", (hadError: boolean) => {
        if (hadError && !this.#silent[side.dir]) this.#kill(pair, false);
      });
    }
    const forget = () => {
      if (pair.closed || !client.destroyed || !server.destroyed) return;
      this.#drop(pair);
    };
    client.on("close", forget);
    server.on("close", forget);
  }

  #onData(pair: Pair, side: Side, chunk: Uint8Array): void {
    if (pair.closed || pair.cut) return;
    if (this.#silent[side.dir]) {
      this.stats.bytesDropped += chunk.length;
      return;
    }
    const dir = side.dir;
    const start = this.#read[dir];
    this.#read[dir] += chunk.length;
    let data = chunk;
    const hits = this.#corruptAt[dir].filter((at) => at >= start && at < start + chunk.length);
    if (hits.length > 0) {
      data = Uint8Array.from(chunk);
      for (const at of hits) data[at - start] ^= 0xff;
      this.#corruptAt[dir] = this.#corruptAt[dir].filter((at) => !hits.includes(at));
    }
    const closeAt = this.#closeAt[dir];
    if (closeAt !== null && closeAt < start + data.length) {
      this.#closeAt[dir] = null;
      // Some runtimes (Deno's node:net) call the write callback after more
      // data arrived: forward nothing past the cut meanwhile, either way.
      pair.cut = true;
      const head = data.subarray(0, Math.max(0, closeAt - start));
      if (head.length === 0) return this.#kill(pair);
      this.#count(side, head.length);
      // Let the head reach the peer's socket before the reset.
      side.to.write(head, () => this.#kill(pair));
      return;
    }
    if (this.#trickleMs[dir] > 0 || side.backlog.length > 0) {
      side.backlog.push(data);
      if (this.#backlogBytes(side) > MAX_TRICKLE_BACKLOG) side.from.pause();
      this.#pump(pair, side);
      return;
    }
    this.#forward(side, data);
  }

  #count(side: Side, bytes: number): void {
    if (side.dir === "up") this.stats.bytesUp += bytes;
    else this.stats.bytesDown += bytes;
  }

  #forward(side: Side, data: Uint8Array): void {
    if (data.length === 0) return;
    this.#count(side, data.length);
    if (!side.to.write(data)) {
      side.from.pause();
      side.to.once("drain", () => side.from.resume());
    }
  }

  #backlogBytes(side: Side): number {
    return side.backlog.reduce((n, c) => n + c.length, 0);
  }

  /** Writes the backlog: one byte per tick while trickling, all at once otherwise. */
  #pump(pair: Pair, side: Side): void {
    if (side.timer || pair.closed) return;
    if (side.backlog.length === 0) {
      if (side.ended) side.to.end();
      return;
    }
    const delay = this.#trickleMs[side.dir];
    if (delay === 0) {
      for (const chunk of side.backlog.splice(0)) this.#forward(side, chunk);
      side.from.resume();
      if (side.ended) side.to.end();
      return;
    }
    side.timer = setTimeout(() => {
      side.timer = null;
      const first = side.backlog[0];
      if (pair.closed || first === undefined) return;
      this.#forward(side, first.subarray(0, 1));
      if (first.length > 1) side.backlog[0] = first.subarray(1);
      else side.backlog.shift();
      if (this.#backlogBytes(side) <= MAX_TRICKLE_BACKLOG / 2) side.from.resume();
      this.#pump(pair, side);
    }, delay);
  }

  #kill(pair: Pair, countAsReset = true): void {
    if (pair.closed) return;
    if (countAsReset) this.stats.resets++;
    this.#drop(pair);
    abort(pair.client);
    abort(pair.server);
  }

  #drop(pair: Pair): void {
    if (pair.closed) return;
    pair.closed = true;
    for (const side of [pair.up, pair.down]) {
      if (side.timer) clearTimeout(side.timer);
      side.timer = null;
      side.backlog = [];
    }
    this.#pairs.delete(pair);
    this.stats.active--;
  }
}
