/**
 * Reading an HTTP head off a transport during the opening handshake: bounded
 * in bytes (by the head parser's limits) and in time.
 *
 * @module
 */
import { ConnectionClosed, HandshakeError, HttpParseError, TimeoutError } from "../core/errors.ts";
import type { HeadLimits } from "../core/http1/head.ts";
import type { ChunkIO } from "../transports/types.ts";

/** A parsed head and the bytes that arrived after it. */
export interface HeadRead<H> {
  head: H;
  /** Bytes past the head (the first frames, or a body), possibly empty. */
  rest: Uint8Array;
  /** Everything read: the head's bytes, then `rest`. */
  bytes: Uint8Array;
}

/**
 * Reads chunks until `parse` finds a complete head (`abort` is called on
 * timeout to end the pending read). Parse errors (including
 * heads over the limits) become {@link HandshakeError}s with status 400/431.
 *
 * @throws {TimeoutError} When the head does not arrive within `timeoutMs`.
 * @throws {ConnectionClosed} When the stream ends first.
 */
export async function readHead<H extends { headLength: number }>(
  io: ChunkIO,
  abort: () => void,
  parse: (buf: Uint8Array, limits?: Partial<HeadLimits>) => H | null,
  timeoutMs: number,
  what: string,
  limits?: Partial<HeadLimits>,
): Promise<HeadRead<H>> {
  let buf: Uint8Array = EMPTY;
  let len = 0;
  const maxBytes = limits?.maxHeaderBytes ?? 16384;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  if (timeoutMs > 0 && timeoutMs !== Infinity) {
    timer = setTimeout(() => {
      timedOut = true;
      abort();
    }, timeoutMs);
  }
  try {
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        chunk = await io.read();
      } catch (e) {
        if (timedOut) throw timeoutError(what, timeoutMs);
        throw e;
      }
      if (timedOut) throw timeoutError(what, timeoutMs);
      if (chunk === null) {
        throw new ConnectionClosed(
          "WS_HANDSHAKE_EOF",
          `the connection closed before the ${what} was complete (${len} bytes received)`,
          { retryable: true },
        );
      }
      if (len === 0 && chunk.length <= maxBytes && hasBlankLine(chunk, 0, chunk.length)) {
        // The usual case: the whole head in the first chunk. Parse it where it
        // is, without copying it into a buffer of our own.
        const head = parseOrRefuse(parse, chunk, limits, what);
        if (head !== null) return { head, rest: chunk.subarray(head.headLength), bytes: chunk };
      }
      if (len + chunk.length > buf.length) {
        let cap = Math.max(1024, buf.length * 2);
        while (cap < len + chunk.length) cap *= 2;
        const next = new Uint8Array(cap);
        next.set(buf.subarray(0, len));
        buf = next;
      }
      buf.set(chunk, len);
      const scanFrom = Math.max(0, len - 3);
      len += chunk.length;
      // Parse only when the head can be complete (a blank line arrived) or is
      // over its limit: re-parsing every trickled byte would be quadratic.
      // The first chunk is parsed anyway, so garbage is refused at once.
      if (scanFrom > 0 && !hasBlankLine(buf, scanFrom, len) && len <= maxBytes) continue;
      const view = buf.subarray(0, len);
      const head = parseOrRefuse(parse, view, limits, what);
      if (head !== null) return { head, rest: view.subarray(head.headLength), bytes: view };
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

const EMPTY = new Uint8Array(0);

/** Parses `view`; a parse error becomes a {@link HandshakeError} with the status to answer. */
function parseOrRefuse<H>(
  parse: (buf: Uint8Array, limits?: Partial<HeadLimits>) => H | null,
  view: Uint8Array,
  limits: Partial<HeadLimits> | undefined,
  what: string,
): H | null {
  try {
    return parse(view, limits);
  } catch (e) {
    if (e instanceof HttpParseError) {
      // Garbled bytes may come from anything on the path (a proxy, a server
      // mid-restart): a fresh attempt may well get a good answer.
      throw new HandshakeError("WS_HANDSHAKE_MALFORMED", `malformed ${what}: ${e.message}`, {
        status: e.status,
        cause: e,
        retryable: true,
      });
    }
    throw e;
  }
}

/** Whether `buf[from, end)` holds LF LF or LF CR LF: the end of a head (bare LF allowed). */
function hasBlankLine(buf: Uint8Array, from: number, end: number): boolean {
  for (let i = from; i < end; i++) {
    if (buf[i] !== 0x0a) continue;
    if (i + 1 < end && buf[i + 1] === 0x0a) return true;
    if (i + 2 < end && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return true;
  }
  return false;
}

function timeoutError(what: string, ms: number): TimeoutError {
  return new TimeoutError(
    "HANDSHAKE_TIMEOUT",
    `the ${what} did not arrive within ${ms} ms (handshakeTimeout)`,
    { retryable: true },
  );
}
