/**
 * Picks the adapter of the running runtime. Adapters are loaded with dynamic
 * `import()` so a runtime only ever evaluates its own adapter's code.
 *
 * @module
 */
import type { Connection, ConnectOptions, Listener, ListenOptions, Transport } from "./types.ts";

/** The runtimes sluice has an adapter for. */
export type RuntimeName = Transport["name"];

/**
 * Tells which runtime is running this code: Deno, then Bun, else Node (and
 * anything Node-compatible).
 *
 * @returns `"deno"`, `"bun"` or `"node"`.
 *
 * @example Log the runtime
 * ```ts
 * import { detectRuntime } from "@sluice/net";
 * console.log(detectRuntime()); // "deno", "bun" or "node"
 * ```
 */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Deno?: { version?: unknown }; Bun?: { version?: unknown } };
  if (typeof g.Deno?.version === "object") return "deno";
  if (typeof g.Bun?.version === "string") return "bun";
  return "node";
}

const loaders: Record<RuntimeName, () => Promise<Transport>> = {
  deno: async () => (await import("./deno.ts")).denoTransport,
  bun: async () => (await import("./bun.ts")).bunTransport,
  node: async () => (await import("./node.ts")).nodeTransport,
};
const loaded = new Map<RuntimeName, Promise<Transport>>();

/**
 * Loads an adapter's module once.
 *
 * @param name Which adapter.
 * @returns The adapter.
 */
export function loadTransport(name: RuntimeName): Promise<Transport> {
  let p = loaded.get(name);
  if (!p) {
    p = loaders[name]().catch((err) => {
      loaded.delete(name);
      throw err;
    });
    loaded.set(name, p);
  }
  return p;
}

/**
 * The running runtime's adapter, loaded once.
 *
 * @returns The adapter for {@link detectRuntime}'s runtime.
 *
 * @example Which adapter runs here
 * ```ts
 * import { defaultTransport } from "@sluice/net";
 * const transport = await defaultTransport();
 * console.log(transport.name);
 * ```
 */
export function defaultTransport(): Promise<Transport> {
  return loadTransport(detectRuntime());
}

/**
 * A {@link Transport} that loads the named adapter's module on first use, so
 * exporting every adapter costs nothing: a runtime never evaluates the code
 * of an adapter it does not use.
 *
 * @param name Which adapter.
 * @returns A transport delegating to the adapter once loaded.
 */
export function lazyTransport(name: RuntimeName): Transport {
  return Object.freeze({
    name,
    connect: async (o: ConnectOptions) => (await loadTransport(name)).connect(o),
    listen: async (o: ListenOptions) => (await loadTransport(name)).listen(o),
  });
}

/**
 * Opens a connection with `options.transport`, or with the running runtime's adapter.
 *
 * @param options Where to connect and how; see {@link ConnectOptions}.
 * @returns The open connection (TLS handshake done when `tls` is set).
 * @throws {ConnectionClosed} `CONNECT_REFUSED`, `CONNECT_DNS_FAILED`, `CONNECT_RESET`
 *   or `CONNECT_FAILED` (retryable), with the runtime's error as `cause`.
 * @throws {TlsError} `TLS_CERT_UNTRUSTED`, `TLS_HOSTNAME_MISMATCH`, `TLS_CERT_EXPIRED`,
 *   `TLS_CLIENT_CERT_REQUIRED`, `TLS_CERT_REJECTED` or `TLS_HANDSHAKE_FAILED`.
 * @throws {TimeoutError} `CONNECT_TIMEOUT` after `connectTimeout` ms.
 * @throws the signal's reason when `signal` aborts first.
 *
 * @example Send a request over TLS
 * ```ts ignore
 * import { connect } from "@sluice/net";
 * const conn = await connect({ hostname: "example.com", port: 443, tls: true });
 * const writer = conn.writable.getWriter();
 * await writer.write(new TextEncoder().encode("HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
 * const { value } = await conn.readable.getReader().read();
 * console.log(new TextDecoder().decode(value));
 * conn.close();
 * ```
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  const transport = options?.transport ?? await defaultTransport();
  return transport.connect(options);
}

/**
 * Binds a listener with `options.transport`, or with the running runtime's adapter.
 *
 * @param options Where to listen and how; see {@link ListenOptions}.
 * @returns The bound listener.
 * @throws {SluiceError} `LISTEN_ADDR_IN_USE` or `LISTEN_FAILED`.
 *
 * @example An echo server
 * ```ts ignore
 * import { listen } from "@sluice/net";
 * const listener = await listen({ port: 8080 });
 * for await (const conn of listener) {
 *   conn.readable.pipeTo(conn.writable).catch(() => conn.close());
 * }
 * ```
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const transport = options?.transport ?? await defaultTransport();
  return transport.listen(options);
}
