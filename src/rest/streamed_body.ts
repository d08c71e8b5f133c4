/**
 * {@link StreamedBody}: a response body read from the connection only as fast
 * as it is consumed (large or unknown-length bodies). Internal to `src/rest`.
 *
 * @module
 */
import type { HttpHeaders } from "../core/http1/head.ts";
import type { ResponseReader } from "../core/http1/response_reader.ts";
import { BodyCollector } from "./body.ts";
import type { Exchange, SendOptions } from "./exchange.ts";
import type { BodySource } from "./response.ts";

/** What a streamed body needs from its connection. */
export interface BodyHost {
  read(opts: SendOptions, owned: boolean): Promise<boolean>;
  owns(view: Uint8Array): boolean;
  finish(keepAlive: boolean, ex: Exchange): void;
  failure(err: unknown, ex: Exchange): unknown;
  abandon(ex: Exchange): void;
  discard(): void;
  /** The size of the last unknown-length body read to its end, or 0. */
  bodySizeHint: number;
}

/** The body of one response, pulled piece by piece from the codec. */
export class StreamedBody implements BodySource {
  readonly length: number | null;
  owned = true;
  trailers: HttpHeaders | null = null;
  readonly #host: BodyHost;
  readonly #ex: Exchange;
  readonly #codec: ResponseReader;
  #queued: Uint8Array[] = [];
  #over = false;
  /** Body bytes returned so far. */
  #total = 0;

  /**
   * @param host The connection.
   * @param ex The exchange the body belongs to.
   * @param codec The connection's codec, just past the head.
   * @param length The Content-Length, or null.
   */
  constructor(host: BodyHost, ex: Exchange, codec: ResponseReader, length: number | null) {
    this.#host = host;
    this.#ex = ex;
    this.#codec = codec;
    this.length = length;
  }

  /**
   * Takes the body bytes that arrived with the head (copied where the codec
   * only lends them).
   *
   * @returns True when that was the whole body.
   */
  drain(): boolean {
    const codec = this.#codec;
    for (let ev = codec.next(); ev !== null; ev = codec.next()) {
      if (ev.type === "data") this.#queued.push(this.#host.owns(ev.data) ? ev.data : ev.data.slice());
      else if (ev.type === "trailers") this.trailers = ev.trailers;
      else if (ev.type === "end") {
        this.#over = true;
        this.#host.finish(ev.keepAlive, this.#ex);
        return true;
      }
    }
    return false;
  }

  /**
   * The body after {@link StreamedBody.drain} found it complete.
   *
   * @returns The joined bytes.
   */
  joined(): Uint8Array {
    const body = new BodyCollector(this.length);
    for (const p of this.#queued) body.add(p, true);
    this.#queued = [];
    return body.finish();
  }

  /** The expected size of an unknown-length body (see `BodyCollector`), or 0. */
  get sizeHint(): number {
    return this.#host.bodySizeHint;
  }

  async next(borrow: boolean): Promise<Uint8Array | null> {
    if (this.#queued.length > 0) {
      this.owned = true;
      const piece = this.#queued.shift()!;
      this.#total += piece.length;
      return piece;
    }
    if (this.#over) return null;
    const codec = this.#codec;
    try {
      for (;;) {
        const ev = codec.next();
        if (ev === null) {
          // Pieces handed out as they are should be fresh transport chunks;
          // pieces the caller copies at once may come through the codec's buffer.
          await this.#host.read(this.#ex.opts, !borrow);
          continue;
        }
        if (ev.type === "data") {
          const owned = this.#host.owns(ev.data);
          this.owned = owned || !borrow;
          this.#total += ev.data.length;
          return owned || borrow ? ev.data : ev.data.slice();
        }
        if (ev.type === "trailers") this.trailers = ev.trailers;
        else if (ev.type === "end") {
          this.#over = true;
          if (this.length === null) this.#host.bodySizeHint = this.#total;
          this.#host.finish(ev.keepAlive, this.#ex);
          return null;
        }
      }
    } catch (e) {
      this.#over = true;
      const err = this.#host.failure(e, this.#ex);
      this.#host.abandon(this.#ex);
      throw err;
    }
  }

  cancel(): void {
    if (this.#over) return;
    this.#over = true;
    this.#host.discard();
    this.#host.abandon(this.#ex);
  }
}
