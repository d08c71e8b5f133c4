/**
 * The types shared by a REST connection and the bodies it streams: per-request
 * settings, per-connection settings, and one request's exchange state.
 * Internal to `src/rest`.
 *
 * @module
 */
import type { Clock } from "../common/clock.ts";
import type { ResponseReaderOptions } from "../core/http1/response_reader.ts";

/** Per-request settings the connection needs. */
export interface SendOptions {
  /** The request method, for error messages. */
  method: string;
  /** The request path as given (a query in it is left out of messages). */
  path: string;
  /** Longest wait for any read while a response is due, in ms; 0: no limit. */
  readTimeoutMs: number;
  /** Whether the method may be repeated without harm (decides `retryable`). */
  idempotent: boolean;
  /** Aborts the request; the connection is closed since the exchange is cut short. */
  signal?: AbortSignal | undefined;
}

/** Settings fixed per connection. */
export interface RestConnectionOptions extends ResponseReaderOptions {
  /** Bodies of known length up to this many bytes are read before the response is returned. */
  maxBufferedBodyBytes: number;
  /** The clock behind the read deadline. */
  clock: Clock;
  /** Called whenever a request slot frees up (a response ended or the connection died). */
  onSlot: () => void;
}

/** One request's state while it is exchanged. */
export interface Exchange {
  readonly opts: SendOptions;
  /** Written on an idle connection that had already served a response. */
  readonly idleReuse: boolean;
  /** The write still in progress, or null once written (or failed: see `writeError`). */
  written: Promise<void> | null;
  /** A write that failed at once. */
  writeError: unknown;
  /** Starts reading a queued exchange's response. */
  start: (() => void) | null;
  /** The read side was handed on (the response and its body are over). */
  ended: boolean;
  /** Listens to `opts.signal` while the response is read. */
  onAbort: (() => void) | null;
  /**
   * Undefined until the response head arrived; then its Content-Length, or
   * null for a body of unknown length (chunked: the only such framing a close
   * can cut short).
   */
  bodyLength: number | null | undefined;
}

/**
 * A fresh exchange.
 *
 * @param opts The request's settings.
 * @param idleReuse Whether it goes out on an idle, already used connection.
 * @returns The exchange, not yet written.
 */
export function newExchange(opts: SendOptions, idleReuse: boolean): Exchange {
  return {
    opts,
    idleReuse,
    written: null,
    writeError: null,
    start: null,
    ended: false,
    onAbort: null,
    bodyLength: undefined,
  };
}
