/**
 * Error classes shared by every layer of sluice.
 *
 * Every error sluice throws on purpose is a {@link SluiceError} with a stable
 * string `code` that tests and callers can switch on. `instanceof` works across
 * two loaded copies of the library because each class checks a
 * `Symbol.for` brand rather than prototype identity.
 *
 * @module
 */

const BRAND = Symbol.for("@sluice/net.error");
const KIND = Symbol.for("@sluice/net.error.kind");

type Branded = { [BRAND]?: true; [KIND]?: readonly string[] };
// Brand names by class; kept out of the public surface.
// deno-lint-ignore ban-types
const KINDS = new Map<Function, string>();

function hasKind(value: unknown, kind: string): boolean {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Branded;
  return v[BRAND] === true && (v[KIND]?.includes(kind) ?? false);
}

/** Options accepted by every {@link SluiceError} constructor. */
export interface SluiceErrorOptions {
  /** The underlying error, if any (a socket error, a parse failure…). */
  cause?: unknown;
  /** Whether retrying the same operation may succeed. @default false */
  retryable?: boolean | undefined;
}

/**
 * Base class of every error sluice raises on purpose.
 *
 * @example Switch on the stable code
 * ```ts
 * import { SluiceError } from "@sluice/net/core";
 * try {
 *   throw new SluiceError("WS_EXAMPLE", "something went wrong");
 * } catch (e) {
 *   if (e instanceof SluiceError) console.log(e.code); // "WS_EXAMPLE"
 * }
 * ```
 */
export class SluiceError extends Error {
  /** A stable machine-readable code such as `"WS_UNMASKED_CLIENT_FRAME"`. */
  readonly code: string;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;

  /**
   * Creates an error with a stable code.
   *
   * @param code A stable machine-readable code.
   * @param message A human explanation that says what to do.
   * @param options The cause and whether a retry may help.
   */
  constructor(code: string, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    (this as Branded)[BRAND] = true;
    const kinds: string[] = [];
    for (let p = new.target.prototype; p && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
      const kind = KINDS.get(p.constructor);
      if (kind && !kinds.includes(kind)) kinds.push(kind);
    }
    (this as Branded)[KIND] = kinds;
    this.name = KINDS.get(new.target) ?? new.target.name;
  }

  /** Cross-copy `instanceof`: true for any error made by any copy of this class. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    const kind = KINDS.get(this);
    return kind !== undefined && hasKind(value, kind);
  }
}

/** Options for {@link ProtocolError}. */
export interface ProtocolErrorOptions extends SluiceErrorOptions {
  /** Whether the fault is the remote peer's (`true`, default) or a local misuse. */
  remote?: boolean | undefined;
}

/**
 * A violation of RFC 6455 (or of a negotiated limit) by either side. Carries the
 * WebSocket close code that should be sent to the peer.
 *
 * @example Close with the code the error carries
 * ```ts
 * import { FrameReader, ProtocolError } from "@sluice/net/core";
 * const reader = new FrameReader({ role: "server" });
 * reader.push(new Uint8Array([0x81, 0x00])); // unmasked client frame
 * try {
 *   reader.next();
 * } catch (e) {
 *   if (e instanceof ProtocolError) console.log(e.closeCode); // 1002
 * }
 * ```
 */
export class ProtocolError extends SluiceError {
  /** The close code to send to the peer (RFC 6455 §7.4.1). */
  readonly closeCode: number;
  /** True when the peer broke the protocol, false when local code misused the API. */
  readonly remote: boolean;

  /**
   * Creates a protocol error that carries the close code to send.
   *
   * @param code A stable code such as `"WS_RESERVED_OPCODE"`.
   * @param closeCode The WebSocket close code to send.
   * @param message What went wrong, with the offending values.
   * @param options Cause, and whether the peer is at fault.
   */
  constructor(
    code: string,
    closeCode: number,
    message: string,
    options: ProtocolErrorOptions = {},
  ) {
    super(code, message, options);
    this.closeCode = closeCode;
    this.remote = options.remote ?? true;
  }
}

/**
 * A malformed HTTP/1.1 message (status line, header, chunk) or one over a limit.
 *
 * @example
 * ```ts
 * import { HttpParseError } from "@sluice/net/core";
 * const err = new HttpParseError("HTTP_BAD_STATUS_LINE", "bad status line: got \"HTP/1.1\"");
 * console.log(err.code);
 * ```
 */
export class HttpParseError extends SluiceError {
  /** The HTTP status a server should answer with for this error (400, 413, 431…). */
  readonly status: number;

  /**
   * Creates an HTTP parse error with the status a server would answer.
   *
   * @param code A stable code such as `"HTTP_HEADER_TOO_LARGE"`.
   * @param message What went wrong, with the offending values.
   * @param options Cause, and the status a server would answer with.
   */
  constructor(
    code: string,
    message: string,
    options: SluiceErrorOptions & { status?: number | undefined } = {},
  ) {
    super(code, message, options);
    this.status = options.status ?? 400;
  }
}

/** What is known of a failed opening handshake's HTTP response. */
export interface HandshakeErrorDetails extends SluiceErrorOptions {
  /** The HTTP status of the response, or 0 when none was received. */
  status?: number | undefined;
  /** The response headers, lower-cased names. */
  headers?: Headers | undefined;
  /** The first bytes of the response body, if any were read. */
  bodyStart?: Uint8Array | undefined;
}

/**
 * The opening handshake failed: the server refused the upgrade or answered
 * something that is not a valid RFC 6455 §4.2.2 response.
 *
 * @example
 * ```ts
 * import { HandshakeError } from "@sluice/net/core";
 * const err = new HandshakeError("WS_HANDSHAKE_STATUS", "expected 101, got 403", { status: 403 });
 * console.log(err.status); // 403
 * ```
 */
export class HandshakeError extends SluiceError {
  /** The HTTP status, or 0 when no response was received. */
  readonly status: number;
  /** The response headers. */
  readonly headers: Headers;
  /** The first bytes of the response body (possibly empty). */
  readonly bodyStart: Uint8Array;

  /**
   * Creates a handshake error from what is known of the response.
   *
   * @param code A stable code such as `"WS_HANDSHAKE_STATUS"`.
   * @param message What went wrong.
   * @param details Status, headers, first body bytes and cause.
   */
  constructor(code: string, message: string, details: HandshakeErrorDetails = {}) {
    super(code, message, details);
    this.status = details.status ?? 0;
    this.headers = details.headers ?? new Headers();
    this.bodyStart = details.bodyStart ?? new Uint8Array(0);
  }
}

/**
 * A TLS failure: certificate verification, handshake or configuration.
 *
 * @example
 * ```ts
 * import { TlsError } from "@sluice/net/core";
 * const err = new TlsError("TLS_CERT_UNTRUSTED", "certificate signed by an unknown CA");
 * console.log(err.code);
 * ```
 */
export class TlsError extends SluiceError {}

/**
 * A wait exceeded its limit (connect, handshake, read, close, send).
 *
 * @example
 * ```ts
 * import { TimeoutError } from "@sluice/net/core";
 * const err = new TimeoutError("CONNECT_TIMEOUT", "connect timed out after 5000 ms", { retryable: true });
 * console.log(err.retryable); // true
 * ```
 */
export class TimeoutError extends SluiceError {}

/**
 * The connection was closed (by the peer, by the network, or locally) while an
 * operation needed it.
 *
 * @example
 * ```ts
 * import { ConnectionClosed } from "@sluice/net/core";
 * const err = new ConnectionClosed("CONNECTION_CLOSED", "peer closed the connection", { retryable: true });
 * console.log(err instanceof ConnectionClosed);
 * ```
 */
export class ConnectionClosed extends SluiceError {}

/**
 * A reused keep-alive connection turned out to be closed before anything was
 * sent on it; retrying is always safe.
 *
 * @example
 * ```ts
 * import { ConnectionStale } from "@sluice/net/core";
 * const err = new ConnectionStale("CONNECTION_STALE", "idle connection was closed by the server", { retryable: true });
 * console.log(err.retryable);
 * ```
 */
export class ConnectionStale extends SluiceError {}

/**
 * An earlier failure left the connection unusable; every later call fails at
 * once with this error, whose `cause` is the original failure.
 *
 * @example
 * ```ts
 * import { ConnectionPoisoned } from "@sluice/net/core";
 * const err = new ConnectionPoisoned("CONNECTION_POISONED", "connection failed earlier", { cause: new Error("reset") });
 * console.log(err.cause);
 * ```
 */
export class ConnectionPoisoned extends SluiceError {}

// Explicit names (not `cls.name`) so a minifier that renames classes keeps the brand.
// deno-lint-ignore ban-types
const brands: [Function, string][] = [
  [SluiceError, "SluiceError"],
  [ProtocolError, "ProtocolError"],
  [HttpParseError, "HttpParseError"],
  [HandshakeError, "HandshakeError"],
  [TlsError, "TlsError"],
  [TimeoutError, "TimeoutError"],
  [ConnectionClosed, "ConnectionClosed"],
  [ConnectionStale, "ConnectionStale"],
  [ConnectionPoisoned, "ConnectionPoisoned"],
];
for (const [cls, kind] of brands) KINDS.set(cls, kind);
