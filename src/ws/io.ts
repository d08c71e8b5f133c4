/**
 * Chunk I/O for the WebSocket layer: the transport's direct fast path when it
 * has one, else its Web Streams. Taken once per connection, before the opening
 * handshake, so no byte can be stranded between the handshake and the frames.
 *
 * @module
 */
import type { ChunkIO, Connection } from "../transports/types.ts";

/**
 * Takes exclusive chunk I/O on `conn`.
 *
 * @param conn A transport connection nobody has read or written yet.
 * @returns Reads and writes for its whole life.
 */
export function takeIo(conn: Connection): ChunkIO {
  const direct = conn.takeChunkIO?.();
  if (direct) return direct;
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  return {
    read: () => reader.read().then((r) => (r.done ? null : r.value)),
    write: (chunk) => writer.write(chunk),
  };
}
