/**
 * Writing one encoded request through {@link ChunkIO}: synchronous while the
 * runtime accepts the bytes at once, so the common small request costs no
 * promise. Internal to `src/rest`.
 *
 * @module
 */
import { encodeChunk, LAST_CHUNK } from "../core/http1/chunked.ts";
import type { EncodedRequest } from "../core/http1/request_writer.ts";
import type { ChunkIO } from "../transports/types.ts";

/** Thrown when the connection died before the request's turn to be written. */
export const NOT_SENT: unique symbol = Symbol("not sent");

/**
 * Writes a request: head, then a large fixed body or a chunked stream.
 *
 * @param io The connection's chunk I/O.
 * @param req The encoded request.
 * @param dead Whether the connection already failed (nothing is written).
 * @returns Undefined when everything was accepted at once, else a promise
 *   settling once the last byte was handed over.
 * @throws {typeof NOT_SENT} When `dead`; any write failure the transport throws.
 */
export function writeRequest(io: ChunkIO, req: EncodedRequest, dead: boolean): Promise<void> | undefined {
  if (dead) throw NOT_SENT;
  const first = io.write(req.head);
  if (req.body === null && req.stream === null) return first;
  return writeRest(io, req, first);
}

async function writeRest(io: ChunkIO, req: EncodedRequest, first: Promise<void> | undefined): Promise<void> {
  if (first) await first;
  if (req.body) await io.write(req.body);
  if (req.stream) {
    const source = req.stream.getReader();
    for (;;) {
      const { value, done } = await source.read();
      if (done) break;
      const framed = encodeChunk(value);
      if (framed.length > 0) await io.write(framed);
    }
    await io.write(LAST_CHUNK);
  }
}
