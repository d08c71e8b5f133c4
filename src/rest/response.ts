/**
 * {@link RestResponse}: a response received by the REST client, with its body
 * either already in memory (small bodies) or as a stream (large ones).
 *
 * @module
 */
import { SluiceError } from "../core/errors.ts";
import type { HttpHeaders } from "../core/http1/head.ts";
import { BodyCollector } from "./body.ts";

const utf8 = new TextDecoder();

/**
 * Where a body that was not read with its head comes from: the connection,
 * one piece per call, as fast as it is asked for. Internal to the client.
 */
export interface BodySource {
  /** The Content-Length, or null for a chunked or close-delimited body. */
  readonly length: number | null;
  /**
   * The next piece, or null at the end. With `borrow`, the piece may point
   * into a buffer the connection reuses on the next call (see `owned`);
   * without it, the piece is the caller's.
   */
  next(borrow: boolean): Promise<Uint8Array | null>;
  /** Whether the piece last returned is the caller's to keep. */
  readonly owned: boolean;
  /** The expected size of an unknown-length body, from earlier ones; 0 when unknown. */
  readonly sizeHint: number;
  /** Trailer fields of a chunked body, once it was read to the end. */
  readonly trailers: HttpHeaders | null;
  /** Gives up on the rest (closing the connection). */
  cancel(): void;
}

/**
 * A received HTTP response.
 *
 * Bodies with a known length up to the client's `maxBufferedBodyBytes` (and any
 * body that had fully arrived with its head) are read before the response is
 * returned: `body` holds them, usually as a view of the received bytes. Other
 * bodies are read from the socket only as fast as they are consumed, through
 * `stream` or `bytes()`/`text()`/`json()`; the connection serves the next
 * request only once the body is read to the end (or discarded, which closes
 * the connection).
 *
 * @example Read JSON
 * ```ts ignore
 * import { RestClient } from "@sluice/net";
 * const client = await RestClient.connect("http://127.0.0.1:8080");
 * const res = await client.request({ method: "GET", path: "/items" });
 * if (res.status === 200) console.log(await res.json());
 * await client.close();
 * ```
 */
export class RestResponse {
  /** The status code. */
  readonly status: number;
  /** The reason phrase (often empty or meaningless: prefer `status`). */
  readonly reason: string;
  /** The response fields, case-insensitive, repeats kept. */
  readonly headers: HttpHeaders;
  /** The whole body when it was read with the head; otherwise null (see `stream`). */
  readonly body: Uint8Array | null;
  #source: BodySource | null;
  #stream: ReadableStream<Uint8Array> | null = null;
  #trailers: HttpHeaders | null;
  #used = false;

  /**
   * Internal: built by the client.
   *
   * @param status The status code.
   * @param reason The reason phrase.
   * @param headers The fields.
   * @param body The buffered body, or null.
   * @param source Where a body not read up front comes from, or null.
   * @param trailers The trailers of a buffered chunked body, or null.
   */
  constructor(
    status: number,
    reason: string,
    headers: HttpHeaders,
    body: Uint8Array | null,
    source: BodySource | null,
    trailers: HttpHeaders | null,
  ) {
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.body = body;
    this.#source = source;
    this.#trailers = trailers;
  }

  /**
   * The body as a stream with backpressure when it was not read up front;
   * otherwise null. Created on first access; once `bytes()`, `text()` or
   * `json()` started reading, it is null too.
   */
  get stream(): ReadableStream<Uint8Array> | null {
    const source = this.#source;
    if (source === null || (this.#used && this.#stream === null)) return this.#stream;
    if (this.#stream === null) {
      this.#used = true;
      this.#stream = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          const piece = await source.next(false);
          if (piece === null) controller.close();
          else controller.enqueue(piece);
        },
        cancel: () => source.cancel(),
      }, { highWaterMark: 0 });
    }
    return this.#stream;
  }

  /** True for a 2xx status. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** Trailer fields of a chunked body, once the body has been read; else null. */
  get trailers(): HttpHeaders | null {
    return this.#source === null ? this.#trailers : this.#source.trailers;
  }

  /**
   * Returns the whole body, reading it from the connection when it was not
   * read up front.
   *
   * @returns The body bytes (empty when there is no body).
   * @throws {SluiceError} `BODY_USED` when a streamed body was already read.
   * @throws {ConnectionClosed} When the server closed the connection before
   *   the body ended (the message says how much arrived; `cause`: the
   *   `HTTP_INCOMPLETE_MESSAGE` error).
   * @throws {TimeoutError} `READ_TIMEOUT` when the body stalls.
   */
  async bytes(): Promise<Uint8Array> {
    if (this.body !== null) return this.body;
    const source = this.#source;
    if (source === null) return new Uint8Array(0);
    const body = new BodyCollector(source.length, source.sizeHint);
    if (this.#stream !== null && !this.#stream.locked) {
      // The stream was created but not read: read through it.
      const reader = this.#stream.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) body.add(r.value, true);
      return body.finish();
    }
    if (this.#used) throw new SluiceError("BODY_USED", "the response body was already read");
    this.#used = true;
    // Borrowed pieces are copied into the result at once: one copy per byte
    // at most, none for fresh transport chunks of a chunked body until the join.
    for (let p = await source.next(true); p !== null; p = await source.next(true)) body.add(p, source.owned);
    return body.finish();
  }

  /**
   * Returns the body decoded as UTF-8.
   *
   * @returns The text.
   * @throws {SluiceError} `BODY_USED` when a streamed body was already read.
   */
  async text(): Promise<string> {
    return utf8.decode(await this.bytes());
  }

  /**
   * Returns the body parsed as JSON.
   *
   * @returns The value.
   * @throws {SyntaxError} When the body is not JSON.
   * @throws {SluiceError} `BODY_USED` when a streamed body was already read.
   */
  async json<T = unknown>(): Promise<T> {
    return JSON.parse(await this.text()) as T;
  }

  /**
   * Discards an unread body. This closes the connection, since the rest of
   * the body would otherwise have to be read first.
   *
   * @returns Once discarded.
   */
  async discard(): Promise<void> {
    if (this.#source === null) return;
    if (this.#stream !== null) {
      if (!this.#stream.locked) await this.#stream.cancel();
    } else if (!this.#used) {
      this.#used = true;
      this.#source.cancel();
    }
  }
}
