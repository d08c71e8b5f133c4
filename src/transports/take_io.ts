/**
 * {@link takeIo}: exclusive chunk I/O on a {@link Connection} for a protocol
 * layer that owns it (WebSocket, REST): the transport's direct fast path when
 * it has one, else its Web Streams. Taken once per connection, before anything
 * is read or written, so no byte is stranded between two readers.
 *
 * @module
 */
import type { ChunkIO, Connection } from "./types.ts";

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
