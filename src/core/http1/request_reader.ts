/**
 * {@link RequestReader}: the server's receiving half of HTTP/1.1, bytes in,
 * request events out, without I/O.
 *
 * @module
 */
import { HttpParseError } from "../errors.ts";
import { contentLength, type Framing, hasConnectionToken, persistent, transferFraming } from "./framing.ts";
import { parseRequestHead, type RequestHead } from "./head.ts";
import {
  type DataEvent,
  type EndEvent,
  type HeadEvent,
  MessageReader,
  type MessageReaderOptions,
  type TrailersEvent,
} from "./message_reader.ts";

/** Everything a {@link RequestReader} yields, discriminated on `type`. */
export type RequestEvent = HeadEvent<RequestHead> | DataEvent | TrailersEvent | EndEvent;

/** Options for {@link RequestReader}. */
export type RequestReaderOptions = MessageReaderOptions;

function frameRequest(head: RequestHead, maxBody: number): Framing {
  const { headers } = head;
  const keepAlive = persistent(head.version, headers);
  // An upgrade is only a request until the server accepts it; the server
  // decides and calls detach(), so framing stays that of a normal request.
  const upgrade = false;
  const te = transferFraming(headers, "request");
  if (te !== null) {
    if (head.version === "1.0") {
      // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing.
      throw new HttpParseError("HTTP_BAD_TRANSFER_ENCODING", "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (te === "other") {
      // RFC 9112 §6.3: without chunked last, the length cannot be determined: 400.
      throw new HttpParseError(
        "HTTP_BAD_TRANSFER_ENCODING",
        `chunked must be the final transfer coding of a request: got ${JSON.stringify(headers.get("transfer-encoding"))}`,
      );
    }
    for (const v of headers.getAll("transfer-encoding")) {
      for (const c of v.split(",")) {
        const name = c.split(";")[0]!.trim().toLowerCase();
        if (name !== "" && name !== "chunked") {
          // RFC 9112 §6.1: a coding the server does not understand gets 501.
          throw new HttpParseError(
            "HTTP_UNSUPPORTED_TRANSFER_CODING",
            `unsupported transfer coding ${JSON.stringify(name)}`,
            { status: 501 },
          );
        }
      }
    }
    return { body: "chunked", length: null, keepAlive, upgrade };
  }
  const length = contentLength(headers.getAll("content-length"), "request", maxBody);
  if (length === null || length === 0) return { body: "none", length, keepAlive, upgrade };
  return { body: "length", length, keepAlive, upgrade };
}

/**
 * Whether a request asks to switch protocols (RFC 9110 §7.8): an Upgrade field
 * and the "upgrade" connection option.
 *
 * @param head A parsed request head.
 * @returns True for an upgrade request such as a WebSocket handshake.
 *
 * @example Detect a WebSocket handshake
 * ```ts
 * import { isUpgradeRequest, parseRequestHead } from "@sluice/net/core";
 * const raw = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
 * console.log(isUpgradeRequest(parseRequestHead(new TextEncoder().encode(raw))!)); // true
 * ```
 */
export function isUpgradeRequest(head: RequestHead): boolean {
  return head.headers.has("upgrade") && hasConnectionToken(head.headers, "upgrade");
}

/**
 * Decodes HTTP/1.1 requests incrementally for a server (RFC 9112): request
 * line and fields, then the body by Content-Length or chunked coding. A request
 * without either has no body. Rejects Transfer-Encoding with Content-Length,
 * conflicting lengths and codings other than chunked, with the
 * {@link HttpParseError} `status` to answer (400, 413, 431, 501, 505).
 *
 * For an upgrade (see {@link isUpgradeRequest}) the server answers 101 and
 * calls {@link RequestReader.detach} to take the bytes that followed.
 *
 * **Borrowing:** as for `ResponseReader`, `data` views are valid until the next call.
 *
 * @example Read a POST
 * ```ts
 * import { RequestReader } from "@sluice/net/core";
 * const reader = new RequestReader({ maxBodySize: 1024 });
 * reader.push(new TextEncoder().encode("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"));
 * for (let ev = reader.next(); ev !== null; ev = reader.next()) {
 *   if (ev.type === "head") console.log(ev.head.method, ev.head.target); // POST /x
 * }
 * ```
 */
export class RequestReader {
  readonly #engine: MessageReader<RequestHead>;

  /**
   * Creates a reader.
   *
   * @param options Head limits, `maxBodySize` and buffer size.
   * @throws {RangeError} When a limit is not a positive integer.
   */
  constructor(options: RequestReaderOptions = {}) {
    this.#engine = new MessageReader<RequestHead>(options, {
      side: "request",
      parse: parseRequestHead,
      frame: frameRequest,
      done: () => {},
    });
  }

  /** Bytes received and not yet returned. */
  get buffered(): number {
    return this.#engine.buffered;
  }

  /**
   * Body bytes of the request being read that were returned as `data` so far
   * (chunk framing excluded): how much of a body arrived when the peer cut it
   * short.
   */
  get receivedBodyBytes(): number {
    return this.#engine.receivedBodyBytes;
  }

  /** True between requests: nothing partial is buffered. */
  get idle(): boolean {
    return this.#engine.idle;
  }

  /**
   * Returns free space to read the socket into; then call {@link RequestReader.filled}.
   *
   * @returns A writable view of at least 4 KiB.
   * @throws {HttpParseError} When the reader has already failed.
   */
  spare(): Uint8Array {
    return this.#engine.spare();
  }

  /**
   * Marks `n` bytes of the last {@link RequestReader.spare} view as received.
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
   * @param chunk Bytes from the client.
   * @throws {HttpParseError} When the reader has already failed.
   */
  push(chunk: Uint8Array): void {
    this.#engine.push(chunk);
  }

  /** Signals the client closed its sending side; a partial request becomes an error. */
  eof(): void {
    this.#engine.eof();
  }

  /**
   * Stops parsing and returns the bytes received after the last consumed
   * message, for the protocol that takes over after an accepted upgrade.
   *
   * @returns The unread bytes (a copy).
   */
  detach(): Uint8Array {
    return this.#engine.detach();
  }

  /**
   * Returns the next event, or null when more bytes are needed.
   *
   * @returns The next event (data borrowed), or null.
   * @throws {HttpParseError} On malformed or over-limit input, with the status to answer.
   */
  next(): RequestEvent | null {
    return this.#engine.nextEvent() as RequestEvent | null;
  }
}
