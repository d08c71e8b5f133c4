/**
 * The subset of Bun's native socket API (`Bun.connect` / `Bun.listen`) the
 * Bun adapter uses, typed locally (bun-types is not loaded by the project's
 * tsconfig), and the wrapper that turns a native socket into a {@link Connection}.
 *
 * Bun delivers reads to a `data` handler (push), but its sockets can
 * `pause()`/`resume()`: the wrapper pauses once the readable's queue holds
 * 64 KiB and resumes in `pull()`, so a slow reader stalls the peer. Each
 * `data` call gets a fresh buffer, enqueued without a copy.
 *
 * Bun's `write()` does not buffer: it returns how many bytes the kernel took.
 * The sink keeps only the rest of the current chunk and writes it on `drain`,
 * so a write resolves exactly when the runtime has accepted all its bytes.
 *
 * @module
 */
import { closedError, type ErrorContext, streamErrorOf } from "./error_map.ts";
import { byteStrategy } from "./options.ts";
import type { ChunkIO, Connection, NetAddr } from "./types.ts";
import { ChunkQueue } from "./chunk_queue.ts";
import { StreamEnds } from "./lifecycle.ts";

/** The parts of Bun's `Socket` used here. */
export interface BunSocket {
  data: BunConnection | undefined;
  write(data: Uint8Array): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly alpnProtocol: string | false | null;
  readonly authorized: boolean;
  getServername?(): string | undefined;
}

/** Native socket event handlers, shared by all sockets of a listener. */
export interface BunHandlers {
  binaryType: "uint8array";
  open?(s: BunSocket): void;
  handshake?(s: BunSocket, success: boolean, authorizationError: Error | null): void;
  data(s: BunSocket, chunk: Uint8Array): void;
  drain(s: BunSocket): void;
  end(s: BunSocket): void;
  close(s: BunSocket, err?: Error): void;
  error(s: BunSocket, err: Error): void;
  connectError?(s: BunSocket, err: Error): void;
}

function family(f: string): NetAddr["family"] {
  return f === "IPv6" ? "IPv6" : f === "IPv4" ? "IPv4" : undefined;
}

/** One native socket as a {@link Connection}; attached to `socket.data`. */
export class BunConnection implements Connection {
  localAddr: NetAddr = { hostname: "", port: 0 };
  remoteAddr: NetAddr = { hostname: "", port: 0 };
  alpnProtocol?: string;
  serverName?: string;
  peerCertificateAuthorized?: boolean;
  readonly closed: Promise<void>;
  #socket: BunSocket | null = null;
  #ctx: ErrorContext;
  #tls: boolean;
  readonly #ends = new StreamEnds();
  #closing = false;
  #gone = false;
  #paused = false;
  #failure: Error | null = null;
  #drained: (() => void) | null = null;
  #resolveClosed!: () => void;
  /** Direct chunk reads (takeChunkIO), bypassing the readable. */
  #io: ChunkQueue | null = null;

  constructor(ctx: ErrorContext, tls: boolean) {
    this.#ctx = ctx;
    this.#tls = tls;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  // The streams are made on first use: a connection taken over by chunk I/O
  // (every WebSocket and REST connection) never pays for them.
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      start: (c) => this.#ends.startRead(c),
      pull: () => {
        if (this.#paused && !this.#gone) {
          this.#paused = false;
          this.#socket?.resume();
        }
      },
      cancel: () => {
        this.#ends.readCancelled();
        this.#destroy();
      },
    }, byteStrategy);
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      start: (c) => this.#ends.startWrite(c),
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#ends.writeEnded();
        if (this.#gone) throw this.#failure ?? closedError(this.#ctx, "by the peer");
        this.#socket!.shutdown();
      },
      abort: () => {
        this.#ends.writeEnded();
        this.#destroy();
      },
    }, byteStrategy);
  }

  /** Binds the connected (and, for TLS, handshaken) socket. */
  attach(socket: BunSocket, noDelay: boolean): void {
    this.#socket = socket;
    socket.setNoDelay(noDelay);
    this.localAddr = Object.freeze({
      hostname: socket.localAddress,
      port: socket.localPort,
      family: family(socket.localFamily),
    });
    this.remoteAddr = Object.freeze({
      hostname: socket.remoteAddress,
      port: socket.remotePort,
      family: family(socket.remoteFamily),
    });
    if (typeof socket.alpnProtocol === "string" && socket.alpnProtocol) {
      this.alpnProtocol = socket.alpnProtocol;
    }
  }

  /** `data` handler. */
  onData(chunk: Uint8Array): void {
    if (this.#io !== null) {
      this.#io.push(chunk);
      return;
    }
    if (!this.#ends.enqueue(chunk) && !this.#paused) {
      this.#paused = true;
      this.#socket?.pause();
    }
  }

  /** `drain` handler. */
  onDrain(): void {
    const d = this.#drained;
    this.#drained = null;
    d?.();
  }

  /** `end` handler: the peer sent FIN (or TLS close_notify). */
  onEnd(): void {
    this.#io?.end(null);
    this.#ends.endRead(null);
  }

  /** `error` handler. */
  onError(err: Error): void {
    this.#failure ??= streamErrorOf(err, this.#ctx, this.#tls);
  }

  /** `close` handler: the socket is gone. */
  onClose(err?: Error): void {
    if (err) this.onError(err);
    this.#gone = true;
    const failure = this.#failure;
    this.#io?.end(failure ?? (this.#closing ? null : closedError(this.#ctx, "by the peer")));
    // Bun skips the `end` handler when the peer's FIN arrives after our own
    // shutdown() and reports only `close`; without an error that is a clean end.
    this.#ends.endRead(failure ?? null);
    this.#ends.endWrite(failure ?? closedError(this.#ctx, this.#closing ? "locally" : "by the peer"));
    this.onDrain();
    this.#resolveClosed();
  }

  /** Writes what the socket takes now; undefined when it took everything, else waits for drains. */
  #writeNow(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#gone || this.#closing) {
      return Promise.reject(
        this.#failure ?? closedError(this.#ctx, this.#closing ? "locally" : "by the peer"),
      );
    }
    const n = this.#socket!.write(chunk);
    if (n === chunk.byteLength) return undefined;
    if (n < 0) return Promise.reject(this.#failure ?? closedError(this.#ctx, "by the peer"));
    return this.#write(chunk.subarray(n));
  }

  /**
   * Direct chunk I/O for an exclusive owner (see {@link Connection.takeChunkIO}).
   *
   * @returns Reads and writes, or null when already taken or a stream is locked.
   */
  takeChunkIO(): ChunkIO | null {
    if (this.#io !== null || this.#readable?.locked || this.#writable?.locked) return null;
    const ctl = this.#ends.readController;
    let legacy = null;
    if (ctl !== null) {
      // Chunks the readable already queued come first, through a reader of its own.
      const pending = () => (ctl.desiredSize ?? 0) < byteStrategy.highWaterMark!;
      if (pending() || this.#ends.readDone) legacy = { reader: this.readable.getReader(), pending };
    }
    const pausable = {
      pause: () => {
        this.#paused = true;
        this.#socket?.pause();
      },
      resume: () => {
        if (this.#paused && !this.#gone) {
          this.#paused = false;
          this.#socket?.resume();
        }
      },
    };
    const io = new ChunkQueue(pausable, legacy, this.#paused);
    this.#io = io;
    if (ctl === null) {
      // No readable was made: what arrived so far waits in the stream ends.
      for (const chunk of this.#ends.takeEarly()) io.push(chunk);
      if (this.#ends.readDone) io.end(this.#failure ?? this.#ends.earlyEndError);
    } else if (this.#gone) io.end(this.#failure);
    return {
      read: () => io.read(),
      readWith: (sink) => io.readWith(sink),
      write: (chunk) => this.#writeNow(chunk),
      // Bun's write() copies into the kernel (or TLS) at once and says how
      // much it took; only the rest of a partial write is held, until drained.
      releasesChunks: true,
    };
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`a Connection accepts Uint8Array chunks: got ${typeof chunk}`);
    }
    let rest = chunk;
    // Each round finishes the chunk, throws, or waits for a drain (which the
    // socket's close also releases), so the loop ends with the socket at the latest.
    while (true) {
      if (this.#gone || this.#closing) {
        throw this.#failure ?? closedError(this.#ctx, this.#closing ? "locally" : "by the peer");
      }
      const n = this.#socket!.write(rest);
      if (n === rest.byteLength) return;
      if (n < 0) throw this.#failure ?? closedError(this.#ctx, "by the peer");
      rest = rest.subarray(n);
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
  }

  #destroy(): void {
    if (!this.#gone) this.#socket?.terminate();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#io?.end(null);
    this.#ends.endRead(null);
    this.#ends.endWrite(closedError(this.#ctx, "locally"));
    this.onDrain();
    // Every resolved write is in the kernel already (Bun does not buffer), so
    // ending now loses nothing: end() sends FIN (close_notify for TLS) and frees the socket.
    if (!this.#gone) this.#socket?.end();
  }
}

/**
 * Handlers that route every native event to the {@link BunConnection} in `socket.data`.
 *
 * @param extra Handlers to add (open, handshake, connectError).
 * @returns The handler object for `Bun.connect` / `Bun.listen`.
 */
export function bunHandlers(extra: Partial<BunHandlers> = {}): BunHandlers {
  return {
    binaryType: "uint8array",
    data: (s, chunk) => s.data?.onData(chunk),
    drain: (s) => s.data?.onDrain(),
    end: (s) => s.data?.onEnd(),
    error: (s, err) => s.data?.onError(err),
    close: (s, err) => s.data?.onClose(err),
    ...extra,
  };
}
