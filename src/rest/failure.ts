/**
 * What a failed exchange means for retrying: the REST client's error
 * classification, kept apart from the connection's I/O. Internal to `src/rest`.
 *
 * @module
 */
import {
  ConnectionClosed,
  ConnectionPoisoned,
  ConnectionStale,
  HttpParseError,
  type SluiceError,
  TimeoutError,
} from "../core/errors.ts";
import { ioError } from "./io.ts";
import { NOT_SENT } from "./write.ts";

/** What the connection knew when the exchange failed. */
export interface FailureFacts {
  /** The error that had already killed the connection, or null. */
  prior: SluiceError | null;
  /** Bytes of the response received. */
  seen: number;
  /** The request went out on an idle connection that had served a response before. */
  idleReuse: boolean;
  /** An earlier response said the server would close the connection. */
  closeAnnounced: boolean;
  /** The method may be repeated without harm. */
  idempotent: boolean;
  /** The request as "GET /items" (no query), for messages. */
  request: string;
  /** Undefined before the response head; then its Content-Length, or null for a chunked body. */
  bodyLength: number | null | undefined;
  /** Body bytes of the response received. */
  bodyBytes: number;
}

/**
 * Says how far the response got when the server closed the connection.
 *
 * @param f What the connection knew.
 * @returns The message of the `ConnectionClosed`.
 */
function cutShort(f: FailureFacts): string {
  const { request, bodyLength, bodyBytes } = f;
  if (bodyLength === undefined) {
    return f.seen === 0
      ? `the server closed the connection without answering ${request}`
      : `the server closed the connection during the response head of ${request}: ${f.seen} bytes arrived`;
  }
  return `the server closed the connection during the response body of ${request}: ` + (bodyLength === null
    ? `${bodyBytes} bytes of a chunked body arrived`
    : `${bodyBytes} of ${bodyLength} bytes arrived`);
}

/**
 * Turns a failure into the error to throw, with `retryable` saying whether
 * sending the request again is safe.
 *
 * @param err What went wrong: an error, `NOT_SENT`, or null when the server closed the connection.
 * @param f What the connection knew.
 * @returns `TimeoutError` and `HttpParseError` as they are, except that a
 *   response cut short (`HTTP_INCOMPLETE_MESSAGE`) is a `ConnectionClosed`
 *   with the parse error as its cause; `ConnectionStale` when the server
 *   cannot have processed the request; `ConnectionPoisoned` after an earlier
 *   exchange broke the connection; `ConnectionClosed`; else `IO_ERROR`.
 */
export function classifyFailure(err: unknown, f: FailureFacts): SluiceError {
  const { prior, idempotent } = f;
  if (prior !== null && err === prior) {
    // An earlier exchange broke the connection after this request was sent.
    return new ConnectionPoisoned("CONNECTION_POISONED", "the connection failed during an earlier exchange", {
      cause: prior,
      retryable: idempotent,
    });
  }
  if (err instanceof HttpParseError && err.code === "HTTP_INCOMPLETE_MESSAGE") {
    // The server closed the connection in the middle of the response: a
    // connection failure, not a malformed message.
    return new ConnectionClosed("CONNECTION_CLOSED", cutShort(f), { cause: err, retryable: idempotent });
  }
  if (err instanceof TimeoutError || err instanceof HttpParseError) return err;
  if (err === NOT_SENT || (f.seen === 0 && (f.idleReuse || f.closeAnnounced))) {
    // Nothing was sent, or nothing of the response arrived on a connection
    // the server had closed while idle or had announced it would close
    // (RFC 9112 §9.6): the request was not processed, so resending is safe.
    return new ConnectionStale(
      "CONNECTION_STALE",
      err === NOT_SENT
        ? "the connection failed before the request was sent"
        : "the server closed the connection before answering",
      { cause: err === NOT_SENT ? prior : err ?? undefined, retryable: true },
    );
  }
  if (prior !== null) {
    return new ConnectionPoisoned("CONNECTION_POISONED", "the connection failed during an earlier exchange", {
      cause: prior,
      retryable: idempotent,
    });
  }
  if (err === null) return new ConnectionClosed("CONNECTION_CLOSED", cutShort(f), { retryable: idempotent });
  return ioError(err, idempotent);
}
