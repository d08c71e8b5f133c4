/**
 * One keep-alive HTTP/1.1 connection of the REST client: writes encoded
 * requests in order, reads responses in the same order (pipelining when more
 * than one is in flight), and decides what a failure means for retrying.
 * Internal to `src/rest`.
 *
 * I/O goes through the transport's direct chunk I/O when it has one (no Web
 * Streams promise per chunk): writes that the runtime accepts at once cost no
 * promise, and on Deno responses are read straight into the codec's buffer.
 *
 * @module
 */
import { ConnectionClosed, ConnectionPoisoned, SluiceError } from "../core/errors.ts";
import type { HttpHeaders } from "../core/http1/head.ts";
import type { EncodedRequest } from "../core/http1/request_writer.ts";
import { ResponseReader } from "../core/http1/response_reader.ts";
import type { ChunkIO, Connection } from "../transports/types.ts";
import { takeIo } from "../transports/take_io.ts";
import { BodyCollector } from "./body.ts";
import { type Exchange, newExchange, type RestConnectionOptions, type SendOptions } from "./exchange.ts";
import { classifyFailure } from "./failure.ts";
import { ReadDeadline } from "./io.ts";
import { RestResponse } from "./response.ts";
import { StreamedBody } from "./streamed_body.ts";
import { writeRequest } from "./write.ts";

/** Codec buffer size when the transport reads straight into it (one full socket read). */
const READ_INTO_BYTES = 64 * 1024;

/** What one read gave: a fresh chunk, a byte count read into the codec, or the end. */
type ReadResult = Uint8Array | number | null;

/** One keep-alive connection. */
export class RestConnection {
  readonly #conn: Connection;
  readonly #io: ChunkIO;
  readonly #codec: ResponseReader;
  readonly #opts: RestConnectionOptions;
  readonly #deadline: ReadDeadline;
  #dead: SluiceError | null = null;
  /** Set when a timeout or an abort closed the connection under a pending read. */
  #interrupt: unknown = null;
  #inFlight = 0;
  #completed = 0;
  /** The tail of the writes in progress; null when everything was written. */
  #writing: Promise<void> | null = null;
  /** The exchange whose response is being read, and those waiting behind it. */
  #reading: Exchange | null = null;
  readonly #queue: Exchange[] = [];
  /** The last chunk pushed to the codec (body views into it need no copy). */
  #lastChunk: Uint8Array | null = null;
  /** A read started while idle, to notice the server closing the connection. */
  #idleRead: Promise<ReadResult> | null = null;
  #idleDone = false;
  /** Bytes received for the response being read. */
  #seen = 0;
  /** The last response said the server closes the connection. */
  #closeAnnounced = false;
  /** The size of the last unknown-length body read to its end (sizes the next one's buffer). */
  bodySizeHint = 0;

  /**
   * @param conn An open transport connection nobody has read or written.
   * @param opts Codec limits and body buffering.
   */
  constructor(conn: Connection, opts: RestConnectionOptions) {
    this.#conn = conn;
    this.#io = takeIo(conn);
    // Reads go straight into the codec's buffer where the transport can: make
    // it large enough for a full socket read.
    this.#codec = new ResponseReader(
      this.#io.readInto !== undefined && opts.bufferCapacity === undefined
        ? { ...opts, bufferCapacity: READ_INTO_BYTES }
        : opts,
    );
    this.#opts = opts;
    this.#deadline = new ReadDeadline((err) => this.#interruptWith(err), opts.clock);
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
    this.#deadline.dispose();
    this.#conn.close();
  }

  // A timeout or an abort: closing the socket settles the pending read, which
  // then throws `err` (see #took); requests behind it find the connection dead.
  #interruptWith(err: unknown): void {
    if (this.#interrupt === null) this.#interrupt = err;
    this.#kill(new ConnectionClosed("CONNECTION_CLOSED", "a request timed out or was aborted", {
      cause: err,
      retryable: true,
    }));
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
    const ex = newExchange(opts, this.#completed > 0 && this.#inFlight === 0);
    this.#inFlight++;
    this.#codec.expect(req.method);
    this.#write(req, ex);
    if (this.#reading === null) {
      this.#reading = ex;
      return this.#receive(ex);
    }
    return new Promise<RestResponse>((resolve, reject) => {
      ex.start = () => this.#receive(ex).then(resolve, reject);
      this.#queue.push(ex);
    });
  }

  // Writes at once when nothing is being written (no promise when the runtime
  // takes the bytes), else behind the writes in progress.
  #write(req: EncodedRequest, ex: Exchange): void {
    let p: Promise<void> | undefined;
    const before = this.#writing;
    if (before === null) {
      try {
        p = writeRequest(this.#io, req, this.#dead !== null);
      } catch (e) {
        ex.writeError = e;
        return;
      }
      if (p === undefined) return;
    } else {
      p = before.then(() => writeRequest(this.#io, req, this.#dead !== null));
    }
    ex.written = p;
    const tail = p.then(undefined, () => {});
    this.#writing = tail;
    tail.then(() => {
      if (this.#writing === tail) this.#writing = null;
    });
  }

  // Hands the read side to the next exchange once this one's response is over.
  #end(ex: Exchange): void {
    if (ex.ended) return;
    ex.ended = true;
    if (ex.onAbort !== null) ex.opts.signal!.removeEventListener("abort", ex.onAbort);
    if (this.#reading !== ex) return;
    const next = this.#queue.shift() ?? null;
    this.#reading = next;
    if (next !== null) next.start!();
  }

  /**
   * Classifies a failure of the exchange (see `classifyFailure`), poisons the
   * connection, and returns what to throw: an abort's own reason, else a
   * sluice error saying whether a retry is safe.
   *
   * @param err What went wrong (null: the server closed the connection).
   * @param ex The exchange.
   * @returns The error to throw.
   */
  failure(err: unknown, ex: Exchange): unknown {
    const signal = ex.opts.signal;
    if (signal?.aborted && err === signal.reason) {
      this.#kill(new ConnectionClosed("CONNECTION_ABORTED", "a request was aborted"));
      return err;
    }
    const out = classifyFailure(err, {
      prior: this.#dead,
      seen: this.#seen,
      idleReuse: ex.idleReuse,
      closeAnnounced: this.#closeAnnounced,
      idempotent: ex.opts.idempotent,
      request: `${ex.opts.method} ${ex.opts.path.split("?")[0]}`,
      bodyLength: ex.bodyLength,
      bodyBytes: this.#codec.receivedBodyBytes,
    });
    this.#kill(out);
    return out;
  }

  // One read: straight into the codec's buffer when the transport can (Deno)
  // and the bytes will be copied anyway (heads, bodies joined into a buffer of
  // known size); else a fresh chunk from the transport, parsed in place, whose
  // body views can be handed out without a copy.
  #startRead(owned: boolean): Promise<ReadResult> {
    const io = this.#io;
    return io.readInto !== undefined && !owned ? io.readInto(this.#codec.spare()) : io.read();
  }

  /**
   * Reads once more into the codec, bounded by the request's timeout and signal.
   *
   * @param opts The request's timeout and signal.
   * @param owned Whether body views should be fresh transport chunks (kept, not copied).
   * @returns False at the end of the stream (the codec was told).
   */
  async read(opts: SendOptions, owned = false): Promise<boolean> {
    let r: ReadResult;
    try {
      r = await this.#take(opts, owned);
    } catch (e) {
      throw this.#readFailed(e);
    }
    return this.#took(r);
  }

  // The three steps of read(), also inlined by #receive to save a promise per response.
  #take(opts: SendOptions, owned: boolean): Promise<ReadResult> {
    let p = this.#idleRead;
    this.#idleRead = null;
    p ??= this.#startRead(owned);
    if (opts.readTimeoutMs > 0) this.#deadline.start(opts.readTimeoutMs, opts.idempotent);
    return p;
  }

  #readFailed(e: unknown): unknown {
    this.#deadline.stop();
    return this.#interrupt ?? e;
  }

  #took(r: ReadResult): boolean {
    this.#deadline.stop();
    if (this.#interrupt !== null) throw this.#interrupt;
    if (r === null) {
      this.#codec.eof();
      return false;
    }
    if (typeof r === "number") {
      this.#lastChunk = null;
      this.#seen += r;
      this.#codec.filled(r);
    } else {
      this.#lastChunk = r;
      this.#seen += r.length;
      this.#codec.push(r);
    }
    return true;
  }

  /**
   * Whether a body view may be kept: it points into the last chunk from the
   * transport, not into the codec's reused buffer.
   *
   * @param view A `data` view from the codec.
   * @returns True when no copy is needed.
   */
  owns(view: Uint8Array): boolean {
    return this.#lastChunk !== null && view.buffer === this.#lastChunk.buffer;
  }

  // Watches the request's signal while its response is read.
  #watchSignal(ex: Exchange): void {
    const signal = ex.opts.signal;
    if (signal === undefined) return;
    signal.throwIfAborted();
    ex.onAbort = () => this.#interruptWith(signal.reason);
    signal.addEventListener("abort", ex.onAbort, { once: true });
  }

  async #receive(ex: Exchange): Promise<RestResponse> {
    this.#seen = this.#codec.buffered;
    try {
      if (ex.writeError !== null) throw ex.writeError;
      if (ex.written !== null) await ex.written;
      if (this.#dead) throw this.#closeAnnounced ? null : this.#dead;
      this.#watchSignal(ex);
    } catch (e) {
      this.#release();
      this.#end(ex);
      throw this.failure(e, ex);
    }
    const codec = this.#codec;
    const opts = ex.opts;
    try {
      let head = codec.next();
      while (head === null || head.type === "informational") {
        if (head === null) {
          let r: ReadResult;
          try {
            r = await this.#take(opts, false);
          } catch (e) {
            throw this.#readFailed(e);
          }
          if (!this.#took(r) && codec.next() === null) throw null;
        }
        head = codec.next();
      }
      if (head.type !== "head") throw new SluiceError("HTTP_INTERNAL", `unexpected ${head.type} event`);
      const { status, reason, headers } = head.head;
      const length = head.body === "length" ? head.contentLength : null;
      ex.bodyLength = length;
      if (length !== null && length <= this.#opts.maxBufferedBodyBytes) {
        // Read the whole body before returning, copying only what the codec borrowed.
        const body = new BodyCollector(length);
        let trailers: HttpHeaders | null = null;
        for (;;) {
          const ev = codec.next();
          if (ev === null) {
            await this.read(opts); // at the end of the stream the codec throws incomplete
            continue;
          }
          if (ev.type === "data") body.add(ev.data, this.owns(ev.data));
          else if (ev.type === "trailers") trailers = ev.trailers;
          else if (ev.type === "end") {
            this.finish(ev.keepAlive, ex);
            return new RestResponse(status, reason, headers, body.finish(), null, trailers);
          }
        }
      }
      const streamed = new StreamedBody(this, ex, codec, length);
      if (streamed.drain()) {
        // The whole body arrived with the head.
        return new RestResponse(status, reason, headers, streamed.joined(), null, streamed.trailers);
      }
      return new RestResponse(status, reason, headers, null, streamed, null);
    } catch (e) {
      const err = this.failure(e, ex);
      this.#release();
      this.#end(ex);
      throw err;
    }
  }

  /**
   * A streamed body failed or was given up: frees the slot and the read side.
   *
   * @param ex The exchange.
   */
  abandon(ex: Exchange): void {
    this.#release();
    this.#end(ex);
  }

  /** Discards the rest of a streamed body by closing the connection. */
  discard(): void {
    this.#kill(new ConnectionClosed("CONNECTION_CLOSED", "a response body was discarded"));
  }

  #release(): void {
    this.#inFlight--;
    this.#opts.onSlot();
  }

  /**
   * A response ended: counts it, watches the idle connection or honours
   * `Connection: close`, and hands the read side on.
   *
   * @param keepAlive Whether the connection may carry another response.
   * @param ex The exchange.
   */
  finish(keepAlive: boolean, ex: Exchange): void {
    this.#completed++;
    if (!keepAlive) {
      // The server will close (RFC 9112 §9.6): requests queued behind this one are stale.
      this.#closeAnnounced = true;
      this.#kill(new ConnectionClosed("CONNECTION_CLOSED", "the server closed the connection after a response", {
        retryable: true,
      }));
    } else if (this.#inFlight === 1) this.#watchIdle();
    this.#release();
    this.#end(ex);
  }

  // While idle, keep one read pending so a server closing the idle connection
  // is noticed before the next request is written to a dead socket.
  #watchIdle(): void {
    let p: Promise<ReadResult>;
    try {
      p = this.#startRead(false);
    } catch {
      this.#idleDone = true;
      return;
    }
    this.#idleRead = p;
    this.#idleDone = false;
    p.then(this.#onIdleRead, this.#onIdleFail);
  }

  // Runs before any consumer of the idle read resumes (first handler), so a
  // non-null #idleRead is the read this settles.
  #onIdleRead = (r: ReadResult): void => {
    if (this.#idleRead !== null && (r === null || this.#inFlight === 0)) this.#idleDone = true;
  };

  #onIdleFail = (): void => {
    if (this.#idleRead !== null) this.#idleDone = true;
  };
}
