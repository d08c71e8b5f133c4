/**
 * The life of one accepted WebSocket on a server: shared by `serveWebSocket`
 * and the node:http adapter, so both treat handlers and shutdowns alike.
 *
 * @module
 */
import type { AcceptedWebSocket } from "./accept.ts";

/**
 * Runs `handler` for `ws`, tracked in `open` while it runs. A server already
 * stopping closes it with 1001 instead. When the handler settles the
 * connection is closed if still open: 1000, or 1011 when it threw (reported
 * to `onError`).
 */
export async function runHandler(
  ws: AcceptedWebSocket,
  handler: (ws: AcceptedWebSocket) => void | Promise<void>,
  open: Set<AcceptedWebSocket>,
  onError: (error: unknown) => void,
  stopping: () => boolean,
): Promise<void> {
  if (stopping()) {
    await ws.close(1001, "server shutting down");
    return;
  }
  open.add(ws);
  try {
    await handler(ws);
    await ws.close(1000);
  } catch (e) {
    onError(e);
    await ws.close(1011).catch(() => {});
  } finally {
    open.delete(ws);
  }
}
