/**
 * The `node:net` / `node:tls` adapter. It is the default on Node and also runs
 * on Deno and Bun through their `node:` compatibility layers (the Bun adapter
 * builds on it: see `bun.ts`).
 *
 * TLS note: `tls.caCerts` replaces node's default roots (node's `ca` option),
 * which pins a connection to a private CA.
 *
 * Reads: plain TCP client sockets on Node read through node's `onread` option
 * into slabs of the adapter's own (see `SlabReader`); every other socket uses
 * 'data' events.
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { SluiceError } from "../core/errors.ts";
import { connectErrorOf, type ErrorContext } from "./error_map.ts";
import { guardConnect, QueueListener } from "./lifecycle.ts";
import { SlabReader, wrapNodeSocket } from "./node_socket.ts";
import { normalizeConnect, normalizeListen } from "./options.ts";
import type { Connection, ConnectOptions, Listener, ListenOptions, Transport } from "./types.ts";

/**
 * Makes a connected socket half-open capable (the peer's FIN ends only our
 * readable). Set after the TLS handshake rather than as a constructor option:
 * node leaks a TLS socket whose handshake the peer aborts when allowHalfOpen
 * is set from the start (the socket never closes, `server.close()` hangs).
 */
function halfOpen(socket: net.Socket): void {
  (socket as { allowHalfOpen: boolean }).allowHalfOpen = true;
}

/** Real Node, not another runtime's node:net. */
const isNode = typeof (globalThis as { Deno?: unknown }).Deno === "undefined" &&
  typeof (globalThis as { Bun?: unknown }).Bun === "undefined";

function connect(options: ConnectOptions): Promise<Connection> {
  const o = normalizeConnect(options);
  const t = o.tls;
  // RFC 6066 §3: SNI carries host names only, never IP literals.
  const serverName = t?.serverName ?? (net.isIP(o.hostname) ? undefined : o.hostname);
  const ctx: ErrorContext = { hostname: o.hostname, port: o.port, serverName };
  let socket: net.Socket;
  // Node's own `onread` only: Bun's node:net hands over chunks of its own,
  // longer than the buffer, and keeps reading after a pause (oven-sh/bun#33382).
  const reads = t === null && isNode ? new SlabReader() : undefined;
  const attempt = new Promise<Connection>((resolve, reject) => {
    const ready = () => {
      socket.off("error", reject);
      halfOpen(socket);
      socket.setNoDelay(o.noDelay);
      resolve(wrapNodeSocket(socket, { ctx, tls: t !== null, reads }));
    };
    if (t) {
      socket = tls.connect({
        host: o.hostname,
        port: o.port,
        servername: serverName,
        ca: t.caCerts,
        cert: t.cert,
        key: t.key,
        ALPNProtocols: t.alpnProtocols,
        // Verification (chain, then the name: serverName or else the dialed
        // host) stays on unless the caller explicitly asked for insecure.
        rejectUnauthorized: !t.insecure,
      }, ready);
    } else {
      socket = net.connect({
        host: o.hostname,
        port: o.port,
        allowHalfOpen: true,
        onread: reads?.onread,
      } as net.NetConnectOpts, ready);
    }
    socket.once("error", reject);
  }).catch((err) => {
    throw connectErrorOf(err, ctx, t !== null);
  });
  return guardConnect({
    attempt,
    cancel: () => socket.destroy(),
    discard: (c) => c.close(),
    timeoutMs: o.connectTimeout,
    signal: o.signal,
    ctx,
    tls: t !== null,
  });
}

function listenError(err: unknown, hostname: string, port: number): SluiceError {
  const code = (err as { code?: string }).code ?? "";
  if (code === "EADDRINUSE") {
    return new SluiceError(
      "LISTEN_ADDR_IN_USE",
      `${hostname}:${port} is already in use: pick another port, or 0 for a free one`,
      { cause: err },
    );
  }
  return new SluiceError(
    "LISTEN_FAILED",
    `could not listen on ${hostname}:${port} (${code || String(err)})`,
    { cause: err },
  );
}

async function listen(options: ListenOptions): Promise<Listener> {
  const o = normalizeListen(options);
  const t = o.tls;
  let server: net.Server;
  let listener: QueueListener | null = null;
  const take = (
    socket: net.Socket,
    info: { serverName?: string | undefined; authorized?: boolean | undefined },
  ) => {
    socket.setNoDelay(o.noDelay);
    const ctx = { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    listener!.push(wrapNodeSocket(socket, {
      ctx,
      tls: t !== null,
      serverName: info.serverName,
      peerCertificateAuthorized: info.authorized,
    }));
  };
  if (t) {
    server = tls.createServer({
      cert: t.cert,
      key: t.key,
      ca: t.caCerts,
      requestCert: t.requestClientCert,
      rejectUnauthorized: t.requireClientCert,
      ALPNProtocols: t.alpnProtocols,
    }, (s: tls.TLSSocket) => {
      halfOpen(s);
      const name = (s as { servername?: string | false }).servername;
      take(s, {
        serverName: typeof name === "string" && name ? name : undefined,
        authorized: t.requestClientCert ? s.authorized : undefined,
      });
    });
    // A client that fails the handshake is the client's problem, not the listener's.
    server.on("tlsClientError", (_err, s) => s.destroy());
  } else {
    server = net.createServer({ allowHalfOpen: true }, (s) => take(s, {}));
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: o.hostname, port: o.port }, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err) => {
    throw listenError(err, o.hostname, o.port);
  });
  // Errors after binding (EMFILE on accept…) must not crash the process.
  server.on("error", () => {});
  const a = server.address() as net.AddressInfo;
  listener = new QueueListener(
    { hostname: a.address, port: a.port, family: a.family === "IPv6" ? "IPv6" : "IPv4" },
    // server.close() stops listening at once; its callback would also wait for
    // every accepted connection to end, which listener.close() must not do.
    () => {
      server.close();
      return Promise.resolve();
    },
    o.signal,
  );
  return listener;
}

/**
 * The transport built on `node:net` and `node:tls`. Works on Node, and on Deno
 * and Bun through their Node compatibility.
 *
 * @example Echo one message over loopback
 * ```ts
 * import { nodeTransport } from "@sluice/net";
 * const listener = await nodeTransport.listen({ port: 0 });
 * const client = await nodeTransport.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = (await listener.accept())!;
 * await client.writable.getWriter().write(new TextEncoder().encode("hi"));
 * const { value } = await server.readable.getReader().read();
 * console.log(new TextDecoder().decode(value)); // "hi"
 * client.close();
 * server.close();
 * await listener.close();
 * ```
 */
export const nodeTransport: Transport = Object.freeze({ name: "node", connect, listen });
