/**
 * Takes over a socket that a `node:http` / `node:https` server hands to its
 * `'upgrade'` listeners and wraps it as a {@link Connection}, so the WebSocket
 * layer can run on it like on any accepted connection. Runs wherever
 * `node:http` does (Node, and Deno and Bun through their Node compatibility).
 *
 * Node's HTTP parser has already read the request head and possibly the first
 * bytes after it (the listener's `head` argument); the caller passes whatever
 * must be read before the socket's own bytes as `initial`, and it is put back
 * in front of the socket's read buffer (`socket.unshift`, as the `ws` package
 * does), so nothing is copied on the way through.
 *
 * @module
 */
import type { Socket } from "node:net";
import { wrapNodeSocket } from "./node_socket.ts";
import type { Connection } from "./types.ts";

/**
 * The socket an `'upgrade'` listener receives, typed structurally (Node types
 * it as `stream.Duplex`; it is a `net.Socket`, or a `tls.TLSSocket` on an
 * HTTPS server), so callers need not import `node:*` types.
 */
export interface UpgradeSocket {
  /** True once the socket is destroyed. */
  readonly destroyed: boolean;
  /** Frees the socket. */
  destroy(error?: Error): unknown;
  /** Puts bytes back at the front of the read buffer. */
  unshift(chunk: Uint8Array): void;
  /** Queues bytes for writing. */
  write(chunk: Uint8Array): boolean;
}

/** Options for {@link wrapUpgradeSocket}. */
export interface UpgradeSocketOptions {
  /** Bytes to read before the socket's own: what Node's HTTP parser consumed that still matters. @default none */
  initial?: Uint8Array | undefined;
  /** Disable Nagle's algorithm on the socket. @default true */
  noDelay?: boolean | undefined;
}

/** The TLS facts a `tls.TLSSocket` carries (absent on plain sockets). */
interface TlsFacts {
  encrypted?: boolean;
  servername?: string | false | null;
  authorized?: boolean;
  getPeerCertificate?: () => object | null;
  /** The tls.Server that accepted the socket. */
  server?: { requestCert?: boolean } | null;
}

/**
 * Wraps the socket of an HTTP `'upgrade'` event as a {@link Connection}. Call
 * it synchronously in the listener: Node removes its own error handler from
 * the socket before emitting `'upgrade'`, and the wrapper installs one.
 *
 * @param socket The listener's `socket` argument.
 * @param options Bytes to read first and the Nagle setting.
 * @returns The connection; it owns the socket from now on.
 * @throws {TypeError} When `socket` is not a `node:net` socket (or lookalike).
 *
 * @example Echo raw bytes on an upgraded socket
 * ```ts ignore
 * import http from "node:http";
 * import { wrapUpgradeSocket } from "./node_upgrade.ts";
 * const server = http.createServer();
 * server.on("upgrade", (_req, socket, head) => {
 *   const conn = wrapUpgradeSocket(socket, { initial: head });
 *   void conn.readable.pipeTo(conn.writable);
 * });
 * ```
 */
export function wrapUpgradeSocket(
  socket: UpgradeSocket,
  options: UpgradeSocketOptions = {},
): Connection {
  const s = socket as unknown as Socket & TlsFacts;
  if (
    typeof s?.write !== "function" || typeof s.unshift !== "function" ||
    typeof s.pause !== "function" || typeof s.resume !== "function"
  ) {
    throw new TypeError("wrapUpgradeSocket needs the node:net socket of an 'upgrade' event");
  }
  // The HTTP server may have set an idle timeout meant for requests (server.timeout).
  s.setTimeout?.(0);
  s.setNoDelay?.(options.noDelay ?? true);
  // Half-open capable like every other Connection (node:http servers already
  // set this on their sockets; an https server's TLS sockets may not).
  (s as { allowHalfOpen: boolean }).allowHalfOpen = true;
  const initial = options.initial;
  if (initial !== undefined && initial.length > 0) s.unshift(initial);
  const tls = s.encrypted === true;
  let peerCertificateAuthorized: boolean | undefined;
  if (tls) {
    // `authorized` is false both for a bad certificate and for none asked
    // for: report it only when the server asked (tls.Server keeps its
    // `requestCert`), or else when a certificate was presented anyway.
    if (s.server?.requestCert === true) peerCertificateAuthorized = s.authorized === true;
    else if (s.authorized === true) peerCertificateAuthorized = true;
    else {
      const cert = s.getPeerCertificate?.();
      if (cert && Object.keys(cert).length > 0) peerCertificateAuthorized = false;
    }
  }
  return wrapNodeSocket(s, {
    ctx: { hostname: s.remoteAddress ?? "", port: s.remotePort ?? 0 },
    tls,
    serverName: tls && typeof s.servername === "string" && s.servername ? s.servername : undefined,
    peerCertificateAuthorized,
  });
}
