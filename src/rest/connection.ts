/**
 * One keep-alive HTTP/1.1 connection of the REST client: writes encoded
 * requests in order, reads responses in the same order (pipelining when more
 * than one is in flight), and decides what a failure means for retrying.
 * Internal to `src/rest`.
 *
 * @module
 */
import {
  ConnectionClosed,
  ConnectionPoisoned,
  ConnectionStale,
  HttpParseError,
  SluiceError,
  TimeoutError,
} from "../core/errors.ts";
import { encodeChunk, LAST_CHUNK } from "../core/http1/chunked.ts";
import type { HttpHeaders } from "../core/http1/head.ts";
import type { EncodedRequest } from "../core/http1/request_writer.ts";
import { ResponseReader, type ResponseReaderOptions } from "../core/http1/response_reader.ts";
import type { Connection } from "../transports/mod.ts";
import { concat, ioError, withDeadline } from "./io.ts";
import { type BodySource, RestResponse } from "./response.ts";

/** Per-request settings the connection needs. */
export interface SendOptions {
  /** Longest wait for any read while a response is due, in ms; 0 disables. */
  readTimeout: number;
  /** Whether the method may be repeated without harm (decides `retryable`). */
  idempotent: boolean;
  /** Aborts the request; the connection is closed since the exchange is cut short. */
  signal?: AbortSignal;
}

/** Settings fixed per connection. */
export interface RestConnectionOptions extends ResponseReaderOptions {
  /** Bodies of known length up to this size are read before the response is returned. */
  bufferBodyBytes: number;
  /** Called whenever a request slot frees up (a response ended or the connection died). */
  onSlot: () => void;
}

type ReadResult = ReadableStreamReadResult<Uint8Array>;

/** One request's state while it is exchanged. */
interface Exchange {
  opts: SendOptions;
  /** Written on an idle connection that had already served a response. */
  idleReuse: boolean;
}

// Thrown by #write when the connection died before this request's turn.
const NOT_SENT = Symbol("not sent");

/** One keep-alive connection. */
export class RestConnection {
  readonly #conn: Connection;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #codec: ResponseReader;
  readonly #opts: RestConnectionOptions;
  #dead: SluiceError | null = null;
  #inFlight = 0;
  #completed = 0;
  #writeChain: Promise<unknown> = Promise.resolve();
  #readChain: Promise<unknown> = Promise.resolve();
  #lastChunk: Uint8Array | null = null;
  /** A read started while idle, to notice the server closing the connection. */
  #idleRead: Promise<ReadResult> | null = null;
  #idleDone = false;
  /** Bytes pushed to the codec for the response being read. */
  #seen = 0;
  /** The last response said the server closes the connection. */
  #closeAnnounced = false;

  /**
   * @param conn An open transport connection.
   * @param opts Codec limits and body buffering.
   */
  constructor(conn: Connection, opts: RestConnectionOptions) {
    this.#conn = conn;
    this.#writer = conn.writable.getWriter();
    this.#reader = conn.readable.getReader();
    this.#codec = new ResponseReader(opts);
    this.#opts = opts;
    // Keep promise rejections from surfacing as unhandled when nobody waits.
    this.#writer.closed.catch(() => {});
    this.#reader.closed.catch(() => {});
  }

  /** Requests written or queued whose response has not ended. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Responses fully read on this connection. */
  get completed(): number {
    return this.#completed;
  }

  /** False once the connection failed, was closed, or the server closed it while idle. */
  get alive(): boolean {
    return this.#dead === null && !this.#idleDone;
  }

  /** Closes the socket; requests in flight fail with `ConnectionPoisoned`. */
  close(): void {
    this.#kill(new ConnectionClosed("CONNECTION_CLOSED", "the client closed the connection"));
  }

  /** Settles when the socket is closed. */
  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  #kill(err: SluiceError): void {
    if (this.#dead === null) this.#dead = err;
    this.#conn.close();
  }

  /**
   * Sends a request and resolves with its response head (body buffered or
   * streamed). Requests are written and answered in call order.
   *
   * @param req The encoded request.
   * @param opts Timeout, idempotency and abort signal.
   * @returns The response.
   */
  send(req: EncodedRequest, opts: SendOptions): Promise<RestResponse> {
    if (this.#dead) {
      return Promise.reject(
        new ConnectionPoisoned("CONNECTION_POISONED", "the connection failed earlier", {
          cause: this.#dead,
          retryable: true,
        }),
      );
    }
    // Only a request written on an idle, already used connection can meet a
    // connection the server closed for idleness (RFC 9112 §9.3.1).
    const idleReuse = this.#completed > 0 && this.#inFlight === 0;
    this.#inFlight++;
    this.#codec.expect(req.method);
    const written = this.#writeChain.then(() => this.#write(req));
    this.#writeChain = written.catch(() => {});
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const ex: Exchange = { opts, idleReuse };
    const response = this.#readChain.then(() => this.#receive(written, ex, finished));
    this.#readChain = done;
    response.catch(() => finished());
    return response;
  }

  async #write(req: EncodedRequest): Promise<void> {
    if (this.#dead) throw NOT_SENT;
    await this.#writer.write(req.head);
    if (req.body) await this.#writer.write(req.body);
    if (req.stream) {
      const source = req.stream.getReader();
      for (;;) {
        const { value, done } = await source.read();
        if (done) break;
        const framed = encodeChunk(value);
        if (framed.length > 0) await this.#writer.write(framed);
      }
      await this.#writer.write(LAST_CHUNK);
    }
  }

  // Classifies a failure of the exchange, poisons the connection, and returns what to throw.
  #failure(err: unknown, ex: Exchange): unknown {
    const { opts } = ex;
    const prior = this.#dead;
    let out: SluiceError;
    if (opts.signal?.aborted && err === opts.signal.reason) {
      this.#kill(new ConnectionClosed("CONNECTION_ABORTED", "a request was aborted"));
      return err;
    }
    if (prior !== null && err === prior) {
      // An earlier exchange broke the connection after this request was sent.
      out = new ConnectionPoisoned("CONNECTION_POISONED", "the connection failed during an earlier exchange", {
        cause: prior,
        retryable: opts.idempotent,
      });
    } else if (err instanceof TimeoutError || err instanceof HttpParseError) out = err;
    else if (err === NOT_SENT || (this.#seen === 0 && (ex.idleReuse || this.#closeAnnounced))) {
      // Nothing was sent, or nothing of the response arrived on a connection
      // the server had closed while idle or had announced it would close
      // (RFC 9112 §9.6): the request was not processed, so resending is safe.
      out = new ConnectionStale(
        "CONNECTION_STALE",
        err === NOT_SENT
          ? "the connection failed before the request was sent"
          : "the server closed the connection before answering",
        { cause: err === NOT_SENT ? prior : err ?? undefined, retryable: true },
      );
    } else if (prior !== null) {
      out = new ConnectionPoisoned("CONNECTION_POISONED", "the connection failed during an earlier exchange", {
        cause: prior,
        retryable: opts.idempotent,
      });
    } else if (err === null) {
      out = new ConnectionClosed(
        "CONNECTION_CLOSED",
        this.#seen === 0 ? "the server closed the connection without answering" : "the server closed the connection mid-response",
        { retryable: opts.idempotent },
      );
    } else out = ioError(err, opts.idempotent);
    this.#kill(out);
    return out;
  }

  async #read(opts: SendOptions): Promise<boolean> {
    let p = this.#idleRead;
    this.#idleRead = null;
    p ??= this.#reader.read();
    const r = opts.readTimeout > 0 || opts.signal ? await withDeadline(p, opts) : await p;
    if (r.done) {
      this.#codec.eof();
      return false;
    }
    this.#lastChunk = r.value;
    this.#seen += r.value.length;
    this.#codec.push(r.value);
    return true;
  }

  // Copies a body view only when it points into the codec's own buffer.
  #own(view: Uint8Array): Uint8Array {
    return this.#lastChunk !== null && view.buffer === this.#lastChunk.buffer ? view : view.slice();
  }

  async #receive(
    written: Promise<void>,
    ex: Exchange,
    finished: () => void,
  ): Promise<RestResponse> {
    const opts = ex.opts;
    this.#seen = this.#codec.buffered;
    try {
      await written;
      if (this.#dead) throw this.#closeAnnounced ? null : this.#dead;
    } catch (e) {
      this.#release();
      throw this.#failure(e, ex);
    }
    const codec = this.#codec;
    let trailers: HttpHeaders | null = null;
    try {
      let head = codec.next();
      while (head === null || head.type === "informational") {
        if (head === null && !(await this.#read(opts)) && codec.next() === null) {
          throw null;
        }
        head = codec.next();
      }
      if (head.type !== "head") throw new SluiceError("HTTP_INTERNAL", `unexpected ${head.type} event`);
      const { status, reason, headers } = head.head;
      // Drain what already arrived; if the body is complete, return it whole.
      const pieces: Uint8Array[] = [];
      let size = 0;
      let ended = false;
      const drain = (): boolean => {
        for (let ev = codec.next(); ev !== null; ev = codec.next()) {
          if (ev.type === "data") {
            pieces.push(this.#own(ev.data));
            size += ev.data.length;
          } else if (ev.type === "trailers") trailers = ev.trailers;
          else if (ev.type === "end") {
            this.#finish(ev.keepAlive);
            return true;
          }
        }
        return false;
      };
      ended = drain();
      const buffer = head.body === "length" && head.contentLength! <= this.#opts.bufferBodyBytes;
      while (!ended && buffer) {
        if (!(await this.#read(opts))) ended = drain(); // eof: the codec throws incomplete
        else ended = drain();
      }
      if (ended) {
        finished();
        return new RestResponse(status, reason, headers, concat(pieces, size), null, () => trailers);
      }
      const queued = pieces;
      let over = false;
      const source: BodySource = {
        length: head.body === "length" ? head.contentLength : null,
        next: async () => {
          if (queued.length > 0) return queued.shift()!;
          if (over) return null;
          try {
            for (;;) {
              const ev = codec.next();
              if (ev === null) {
                await this.#read(opts);
                continue;
              }
              if (ev.type === "data") return this.#own(ev.data);
              if (ev.type === "trailers") trailers = ev.trailers;
              else if (ev.type === "end") {
                over = true;
                this.#finish(ev.keepAlive);
                finished();
                return null;
              }
            }
          } catch (e) {
            over = true;
            const err = this.#failure(e, ex);
            this.#release();
            finished();
            throw err;
          }
        },
        cancel: () => {
          if (over) return;
          over = true;
          this.#kill(new ConnectionClosed("CONNECTION_CLOSED", "a response body was discarded"));
          this.#release();
          finished();
        },
      };
      return new RestResponse(status, reason, headers, null, source, () => trailers);
    } catch (e) {
      const err = this.#failure(e, ex);
      this.#release();
      throw err;
    }
  }

  #release(): void {
    this.#inFlight--;
    this.#opts.onSlot();
  }

  #finish(keepAlive: boolean): void {
    this.#completed++;
    if (!keepAlive) {
      // The server will close (RFC 9112 §9.6): requests queued behind this one are stale.
      this.#closeAnnounced = true;
      this.#kill(new ConnectionClosed("CONNECTION_CLOSED", "the server closed the connection after a response", {
        retryable: true,
      }));
    } else if (this.#inFlight === 1) this.#watchIdle();
    this.#release();
  }

  // While idle, keep one read pending so a server closing the idle connection
  // is noticed before the next request is written to a dead socket.
  #watchIdle(): void {
    const p = this.#reader.read();
    this.#idleRead = p;
    this.#idleDone = false;
    p.then((r) => {
      if (this.#idleRead === p && (r.done || this.#inFlight === 0)) this.#idleDone = true;
    }, () => {
      if (this.#idleRead === p) this.#idleDone = true;
    });
  }
}
