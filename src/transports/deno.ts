/**
 * The Deno adapter, on `Deno.connect` / `Deno.startTls` / `Deno.connectTls`
 * and `Deno.listen` / `Deno.listenTls` (rustls).
 *
 * What Deno's native TLS cannot express is delegated to Deno's own `node:tls`
 * (through the node adapter), which supports it:
 * - `tls.insecure` (Deno has no per-connection "accept any certificate");
 * - a client certificate together with a `serverName` other than the host
 *   (`Deno.startTls` takes no client certificate, `Deno.connectTls` no SNI name);
 * - listening with `requestClientCert` / `requireClientCert` (`Deno.listenTls`
 *   cannot ask for client certificates).
 *
 * `tls.caCerts` are added to Deno's default roots (Node and Bun replace them).
 * Deno does not report the SNI name a TLS client sent, so `serverName` is
 * undefined on connections accepted by a native Deno TLS listener.
 *
 * @module
 */
import { connectErrorOf, type ErrorContext } from "./error_map.ts";
import { denoApi, type DenoConn, type DenoListener, wrapDenoConn } from "./deno_conn.ts";
import { guardConnect, QueueListener } from "./lifecycle.ts";
import { normalizeConnect, normalizeListen } from "./options.ts";
import { SluiceError } from "../core/errors.ts";
import type { Connection, ConnectOptions, Listener, ListenOptions, Transport } from "./types.ts";

/** A server-side handshake that takes longer than this is dropped. */
const SERVER_HANDSHAKE_LIMIT_MS = 10_000;
/** Handshakes running at once on one listener; past it, accepting waits. */
const SERVER_HANDSHAKES_IN_FLIGHT = 64;

/** Loaded only when an option needs it, so plain Deno use never loads node:tls. */
async function nodeFallback(): Promise<Transport> {
  return (await import("./node.ts")).nodeTransport;
}

function closeQuietly(conn: DenoConn | null): void {
  try {
    conn?.close();
  } catch { /* already closed */ }
}

function connect(options: ConnectOptions): Promise<Connection> {
  const o = normalizeConnect(options);
  const t = o.tls;
  if (t && (t.insecure || (t.cert !== undefined && t.serverName !== undefined))) {
    return nodeFallback().then((node) => node.connect(options));
  }
  const deno = denoApi();
  const serverName = t?.serverName ?? o.hostname;
  const ctx: ErrorContext = { hostname: o.hostname, port: o.port, serverName };
  const abortTcp = new AbortController();
  let current: DenoConn | null = null;
  const attempt = (async () => {
    let conn: DenoConn;
    let alpn: string | null = null;
    if (t?.cert !== undefined) {
      // mTLS: only connectTls takes a client certificate. It resolves after
      // TCP connect; the handshake below is where certificates are checked.
      conn = current = await deno.connectTls({
        hostname: o.hostname,
        port: o.port,
        caCerts: t.caCerts,
        alpnProtocols: t.alpnProtocols,
        cert: t.cert,
        key: t.key,
      });
      conn.setNoDelay?.(o.noDelay);
    } else {
      conn = current = await deno.connect({
        hostname: o.hostname,
        port: o.port,
        signal: abortTcp.signal,
      });
      conn.setNoDelay?.(o.noDelay);
      if (t) {
        conn = current = await deno.startTls(conn, {
          hostname: serverName,
          caCerts: t.caCerts,
          alpnProtocols: t.alpnProtocols,
        });
      }
    }
    if (t) alpn = (await conn.handshake!()).alpnProtocol;
    return wrapDenoConn(conn, ctx, t !== null, alpn);
  })().catch((err) => {
    closeQuietly(current);
    throw connectErrorOf(err, ctx, t !== null);
  });
  return guardConnect({
    attempt,
    cancel: () => {
      abortTcp.abort();
      closeQuietly(current);
    },
    discard: (c) => c.close(),
    timeoutMs: o.connectTimeout,
    signal: o.signal,
    ctx,
    tls: t !== null,
  });
}

function bindError(err: unknown, hostname: string, port: number): SluiceError {
  const name = (err as { name?: string }).name ?? "";
  if (name === "AddrInUse") {
    return new SluiceError(
      "LISTEN_ADDR_IN_USE",
      `${hostname}:${port} is already in use: pick another port, or 0 for a free one`,
      { cause: err },
    );
  }
  return new SluiceError("LISTEN_FAILED", `could not listen on ${hostname}:${port} (${err})`, {
    cause: err,
  });
}

/** Handshakes (TLS) one accepted conn and hands it to the listener; failures drop it. */
async function admit(
  conn: DenoConn,
  tls: boolean,
  noDelay: boolean,
  listener: QueueListener,
): Promise<void> {
  const remote = conn.remoteAddr;
  const ctx: ErrorContext = { hostname: remote.hostname, port: remote.port };
  conn.setNoDelay?.(noDelay);
  let alpn: string | null = null;
  if (tls) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("handshake timed out")),
          SERVER_HANDSHAKE_LIMIT_MS,
        );
      });
      alpn = (await Promise.race([conn.handshake!(), limit])).alpnProtocol;
    } catch {
      // The client's failure (bad certificate, plain HTTP on a TLS port…): drop it.
      closeQuietly(conn);
      return;
    } finally {
      clearTimeout(timer);
    }
  }
  listener.push(wrapDenoConn(conn, ctx, tls, alpn));
}

async function acceptLoop(
  native: DenoListener,
  tls: boolean,
  noDelay: boolean,
  listener: QueueListener,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  // Ends when the native listener is closed (accept rejects).
  while (!listener.isClosed) {
    let conn: DenoConn;
    try {
      conn = await native.accept();
    } catch (e) {
      if (listener.isClosed) break;
      // One connection that died in the accept queue (reset before it was
      // accepted): take the next one at once. Waiting here would let a client
      // that connects and resets stall every other accept.
      const name = (e as { name?: unknown } | null)?.name;
      if (name === "NotConnected" || name === "ConnectionReset" || name === "ConnectionAborted") continue;
      // EMFILE and the like: back off briefly instead of spinning.
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const p = admit(conn, tls, noDelay, listener).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= SERVER_HANDSHAKES_IN_FLIGHT) await Promise.race(inFlight);
  }
}

function listen(options: ListenOptions): Promise<Listener> {
  const o = normalizeListen(options);
  const t = o.tls;
  if (t?.requestClientCert) return nodeFallback().then((node) => node.listen(options));
  const deno = denoApi();
  let native: DenoListener;
  try {
    native = t
      ? deno.listenTls({
        hostname: o.hostname,
        port: o.port,
        cert: t.cert,
        key: t.key,
        alpnProtocols: t.alpnProtocols,
      })
      : deno.listen({ hostname: o.hostname, port: o.port });
  } catch (err) {
    return Promise.reject(bindError(err, o.hostname, o.port));
  }
  const addr = native.addr;
  let loop: Promise<void> = Promise.resolve();
  const listener = new QueueListener(
    {
      hostname: addr.hostname,
      port: addr.port,
      family: addr.hostname.includes(":") ? "IPv6" : "IPv4",
    },
    async () => {
      try {
        native.close();
      } catch { /* already closed */ }
      await loop;
    },
    o.signal,
  );
  loop = acceptLoop(native, t !== null, o.noDelay, listener);
  return Promise.resolve(listener);
}

/**
 * The transport built on Deno's native `Deno.connect`/`Deno.listen` family.
 * Only usable on Deno.
 *
 * @example Connect with Deno's native sockets
 * ```ts ignore
 * import { denoTransport } from "@sluice/net";
 * const conn = await denoTransport.connect({ hostname: "127.0.0.1", port: 8080 });
 * conn.close();
 * ```
 */
export const denoTransport: Transport = Object.freeze({ name: "deno", connect, listen });
