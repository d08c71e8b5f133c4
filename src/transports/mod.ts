/**
 * Runtime transports: TCP and TLS connections as Web Streams on Deno, Bun and
 * Node, behind one {@link Transport} contract. The adapter objects exported
 * here load their runtime code on first use; import `./node.ts`, `./deno.ts`
 * or `./bun.ts` directly to get one adapter alone.
 *
 * Notes for the layers built on top:
 * - Chunks read are fresh (Node and Bun hand their own buffers, Deno hands
 *   over its read buffer for reads of 16 KiB or more and copies smaller ones):
 *   keep them without copying. Written chunks belong to the runtime once
 *   written: never reuse a buffer after passing it to `writable`.
 * - A write resolves when the runtime took the bytes; write headers and
 *   payloads as separate chunks rather than concatenating them.
 * - Connections are half-open capable: when `readable` ends, close the
 *   connection (or `writable`) yourself. `close()` drops bytes still queued in
 *   `writable`; `await writer.close()` first to send everything.
 * - A TLS peer that drops the connection without close_notify makes
 *   `readable` error with `ConnectionClosed` on Deno (rustls), where Node and
 *   Bun just end it.
 * - TLS 1.3: a server that refuses the client certificate is only noticed on
 *   the first read (`TlsError` `TLS_CLIENT_CERT_REQUIRED`, or a reset), not by
 *   `connect()`.
 *
 * @module
 */
import { lazyTransport } from "./detect.ts";
import type { Transport } from "./types.ts";

export type {
  ChunkIO,
  ChunkSink,
  ClientTlsOptions,
  Connection,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  ServerTlsOptions,
  Transport,
} from "./types.ts";
export { connect, defaultTransport, detectRuntime, listen } from "./detect.ts";
export type { RuntimeName } from "./detect.ts";

/**
 * The `node:net`/`node:tls` adapter (runs on Node, Deno and Bun), loaded on first use.
 *
 * @example Force the node:net adapter
 * ```ts ignore
 * import { connect, nodeTransport } from "@sluice/net";
 * const conn = await connect({ hostname: "127.0.0.1", port: 8080, transport: nodeTransport });
 * conn.close();
 * ```
 */
export const nodeTransport: Transport = lazyTransport("node");

/**
 * The native Deno adapter (`Deno.connect`, `Deno.listen`, rustls TLS), loaded on
 * first use; only usable on Deno.
 *
 * @example Force the native Deno adapter
 * ```ts ignore
 * import { connect, denoTransport } from "@sluice/net";
 * const conn = await connect({ hostname: "127.0.0.1", port: 8080, transport: denoTransport });
 * conn.close();
 * ```
 */
export const denoTransport: Transport = lazyTransport("deno");

/**
 * The native Bun adapter (`Bun.connect`, `Bun.listen`), loaded on first use;
 * only usable on Bun.
 *
 * @example Force the native Bun adapter
 * ```ts ignore
 * import { bunTransport, connect } from "@sluice/net";
 * const conn = await connect({ hostname: "127.0.0.1", port: 8080, transport: bunTransport });
 * conn.close();
 * ```
 */
export const bunTransport: Transport = lazyTransport("bun");
