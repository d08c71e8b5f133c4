/**
 * {@link RestResponse}: a response received by the REST client, with its body
 * either already in memory (small bodies) or as a stream (large ones).
 *
 * @module
 */
import { SluiceError } from "../core/errors.ts";
import type { HttpHeaders } from "../core/http1/head.ts";

const utf8 = new TextDecoder();

/**
 * A received HTTP response.
 *
 * Bodies with a known length up to the client's `bufferBodyBytes` (and any
 * body that had fully arrived with its head) are read before the response is
 * returned: `body` holds them, usually as a view of the received bytes. Other
 * bodies arrive through `stream`, read from the socket only as fast as it is
 * consumed; the connection serves the next request only once the stream is
 * read to the end (or cancelled, which closes the connection).
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
  /** The body as a stream when it was not read up front; otherwise null. */
  readonly stream: ReadableStream<Uint8Array> | null;
  #trailers: () => HttpHeaders | null;
  #used = false;

  /**
   * Internal: built by the client.
   *
   * @param status The status code.
   * @param reason The reason phrase.
   * @param headers The fields.
   * @param body The buffered body, or null.
   * @param stream The streamed body, or null.
   * @param trailers Returns the trailers once the body has been read.
   */
  constructor(
    status: number,
    reason: string,
    headers: HttpHeaders,
    body: Uint8Array | null,
    stream: ReadableStream<Uint8Array> | null,
    trailers: () => HttpHeaders | null,
  ) {
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.body = body;
    this.stream = stream;
    this.#trailers = trailers;
  }

  /** True for a 2xx status. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** Trailer fields of a chunked body, once the body has been read; else null. */
  get trailers(): HttpHeaders | null {
    return this.#trailers();
  }

  /**
   * Returns the whole body, reading the stream to its end when there is one.
   *
   * @returns The body bytes (empty when there is no body).
   * @throws {SluiceError} `BODY_USED` when a streamed body was already read.
   */
  async bytes(): Promise<Uint8Array> {
    if (this.body !== null) return this.body;
    if (this.stream === null) return new Uint8Array(0);
    if (this.#used || this.stream.locked) {
      throw new SluiceError("BODY_USED", "the response body stream was already read");
    }
    this.#used = true;
    const parts: Uint8Array[] = [];
    let total = 0;
    const reader = this.stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
      total += value.length;
    }
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
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
   * Discards an unread streamed body. Cancelling closes the connection, since
   * the rest of the body would otherwise have to be read first.
   *
   * @returns Once discarded.
   */
  async discard(): Promise<void> {
    if (this.stream !== null && !this.stream.locked && !this.#used) {
      this.#used = true;
      await this.stream.cancel();
    }
  }
}
