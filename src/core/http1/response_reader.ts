/**
 * {@link ResponseReader}: the client's receiving half of HTTP/1.1, bytes in,
 * response events out, without I/O.
 *
 * @module
 */
import {
  contentLength,
  type Framing,
  persistent,
  transferFraming,
} from "./framing.ts";
import { parseResponseHead, type ResponseHead } from "./head.ts";
import {
  type DataEvent,
  type EndEvent,
  type HeadEvent,
  MessageReader,
  type MessageReaderOptions,
  type TrailersEvent,
} from "./message_reader.ts";

export type { DataEvent, EndEvent, HeadEvent, MessageReaderOptions, TrailersEvent };

/** An interim 1xx response (RFC 9110 §15.2); the final response follows. */
export interface InformationalEvent {
  /** Discriminant. */
  readonly type: "informational";
  /** The interim head (100 Continue, 103 Early Hints…). */
  readonly head: ResponseHead;
}

/** Everything a {@link ResponseReader} yields, discriminated on `type`. */
export type ResponseEvent =
  | InformationalEvent
  | HeadEvent<ResponseHead>
  | DataEvent
  | TrailersEvent
  | EndEvent;

/** Options for {@link ResponseReader}. */
export type ResponseReaderOptions = MessageReaderOptions;

/**
 * Decides how a response body is delimited (RFC 9112 §6.3).
 */
function frameResponse(head: ResponseHead, method: string, maxBody: number): Framing | null {
  const { status, headers } = head;
  if (status < 200) {
    // 101 hands the connection to another protocol; other 1xx are interim.
    if (status !== 101) return null;
    return { body: "none", length: null, keepAlive: false, upgrade: true };
  }
  const keepAlive = persistent(head.version, headers);
  if (method === "CONNECT" && status < 300) {
    return { body: "none", length: null, keepAlive: false, upgrade: true };
  }
  if (method === "HEAD" || status === 204 || status === 304) {
    return { body: "none", length: null, keepAlive, upgrade: false };
  }
  const te = transferFraming(headers, "response");
  if (te === "chunked") return { body: "chunked", length: null, keepAlive, upgrade: false };
  if (te === "other") return { body: "close", length: null, keepAlive: false, upgrade: false };
  const length = contentLength(headers.getAll("content-length"), "response", maxBody);
  if (length === null) return { body: "close", length: null, keepAlive: false, upgrade: false };
  return { body: length === 0 ? "none" : "length", length, keepAlive, upgrade: false };
}

/**
 * Decodes HTTP/1.1 responses incrementally (RFC 9112): status line and
 * fields, then the body by Content-Length, chunked coding (extensions and
 * trailers included) or until the connection closes. Interim 1xx responses
 * are reported as `informational` and skipped over; HEAD responses, 204 and
 * 304 have no body.
 *
 * Tell the reader each request's method with {@link ResponseReader.expect}
 * (in order, for pipelining); without it, GET is assumed.
 *
 * **Borrowing:** `data` views point into the chunk given to `push` (never
 * written to) or into the reader's buffer, valid until the next call.
 *
 * Malformed input throws an {@link HttpParseError}; afterwards every call
 * throws the same error and the connection must be closed.
 *
 * @example Read one response
 * ```ts
 * import { ResponseReader } from "@sluice/net/core";
 * const reader = new ResponseReader();
 * reader.expect("GET");
 * reader.push(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
 * for (let ev = reader.next(); ev !== null; ev = reader.next()) {
 *   if (ev.type === "head") console.log(ev.head.status); // 200
 *   if (ev.type === "data") console.log(new TextDecoder().decode(ev.data)); // "hi"
 * }
 * ```
 */
export class ResponseReader {
  readonly #engine: MessageReader<ResponseHead>;
  readonly #methods: string[] = [];

  /**
   * Creates a reader.
   *
   * @param options Head limits, `maxBodySize` and buffer size.
   * @throws {RangeError} When a limit is not a positive integer.
   */
  constructor(options: ResponseReaderOptions = {}) {
    const methods = this.#methods;
    this.#engine = new MessageReader<ResponseHead>(options, {
      side: "response",
      parse: parseResponseHead,
      frame: (head, maxBody) => frameResponse(head, methods[0] ?? "GET", maxBody),
      done: () => void methods.shift(),
    });
  }

  /**
   * Records the method of the next request sent, so its response is framed
   * right (a HEAD response has no body). Call once per request, in order.
   *
   * @param method The request method.
   */
  expect(method: string): void {
    this.#methods.push(method.toUpperCase());
  }

  /** Bytes received and not yet returned. */
  get buffered(): number {
    return this.#engine.buffered;
  }

  /**
   * Body bytes of the response being read that were returned as `data` so far
   * (chunk framing excluded): how much of a body arrived when the peer cut it
   * short.
   */
  get receivedBodyBytes(): number {
    return this.#engine.receivedBodyBytes;
  }

  /** True between responses: nothing partial is buffered. */
  get idle(): boolean {
    return this.#engine.idle;
  }

  /** Requests announced with `expect()` whose response has not ended yet. */
  get pending(): number {
    return this.#methods.length;
  }

  /**
   * Returns free space to read the socket into; then call
   * {@link ResponseReader.filled}.
   *
   * @returns A writable view of at least 4 KiB.
   * @throws {HttpParseError} When the reader has already failed.
   */
  spare(): Uint8Array {
    return this.#engine.spare();
  }

  /**
   * Marks `n` bytes of the last {@link ResponseReader.spare} view as received.
   *
   * @param n Bytes written.
   * @throws {RangeError} When `n` exceeds the spare space.
   */
  filled(n: number): void {
    this.#engine.filled(n);
  }

  /** Moves unread bytes to the front of the buffer. */
  compact(): void {
    this.#engine.compact();
  }

  /**
   * Adds received bytes (parsed in place when nothing is buffered).
   *
   * @param chunk Bytes from the server.
   * @throws {HttpParseError} When the reader has already failed.
   */
  push(chunk: Uint8Array): void {
    this.#engine.push(chunk);
  }

  /**
   * Signals the server closed the connection: ends a close-delimited body,
   * and turns a partial response into `HTTP_INCOMPLETE_MESSAGE`.
   */
  eof(): void {
    this.#engine.eof();
  }

  /**
   * After a 101 (or CONNECT 2xx) head: stops parsing and returns the bytes
   * that followed it, which belong to the new protocol.
   *
   * @returns The unread bytes (a copy).
   */
  detach(): Uint8Array {
    return this.#engine.detach();
  }

  /**
   * Returns the next event, or null when more bytes are needed.
   *
   * @returns The next event (data borrowed: see the class docs), or null.
   * @throws {HttpParseError} On malformed or over-limit input.
   */
  next(): ResponseEvent | null {
    return this.#engine.nextEvent() as ResponseEvent | null;
  }
}
