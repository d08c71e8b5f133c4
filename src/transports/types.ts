/**
 * The runtime-neutral contract of the transports layer: a byte connection as
 * a pair of Web Streams, the options to open one, and a listener that accepts
 * them. Every adapter (`deno.ts`, `bun.ts`, `node.ts`) implements
 * {@link Transport}; nothing above this layer names a runtime.
 *
 * @module
 */

/**
 * A socket address.
 *
 * @example Format an address
 * ```ts
 * import type { NetAddr } from "@sluice/net";
 * const addr: NetAddr = { hostname: "127.0.0.1", port: 8080, family: "IPv4" };
 * console.log(`${addr.hostname}:${addr.port}`);
 * ```
 */
export interface NetAddr {
  /** The IP address (or host name when the runtime reports no address). */
  hostname: string;
  /** The port number. */
  port: number;
  /** The address family, when the runtime reports it. */
  family?: "IPv4" | "IPv6" | undefined;
}

/**
 * An open byte connection (TCP, or TLS over TCP) as a pair of Web Streams.
 *
 * Ownership of written chunks passes to the runtime: do not modify a
 * `Uint8Array` after handing it to `writable`, even once the write resolved,
 * because the runtime may still hold it until the kernel takes the bytes.
 * Chunks read from `readable` are fresh and owned by the reader.
 *
 * @example Send a question, read one reply, close
 * ```ts
 * import type { Connection } from "@sluice/net";
 * async function ask(conn: Connection, question: Uint8Array): Promise<Uint8Array | undefined> {
 *   const writer = conn.writable.getWriter();
 *   await writer.write(question);
 *   writer.releaseLock();
 *   const reader = conn.readable.getReader();
 *   const { value } = await reader.read();
 *   reader.releaseLock();
 *   conn.close();
 *   await conn.closed;
 *   return value;
 * }
 * ```
 */
export interface Connection {
  /**
   * Bytes received. Pull-based: a slow reader stops the runtime reading the
   * socket, so the peer's writes stall (TCP flow control). Closes when the
   * peer ends its side (FIN, or TLS close_notify) or after `close()`; errors
   * with a `ConnectionClosed` (or `TlsError`) on a socket failure.
   * Connections are half-open capable: after the peer ended, `writable` stays
   * usable until it is closed or `close()` is called, so close when done.
   */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * Bytes to send. A write resolves once the runtime accepted the bytes and
   * waits for the socket to drain first when its buffer is full. Closing it
   * sends FIN (half close); aborting it destroys the socket.
   */
  readonly writable: WritableStream<Uint8Array>;
  /** The local address of the socket. */
  readonly localAddr: NetAddr;
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** The ALPN protocol negotiated by TLS, or undefined when none (or plain TCP). */
  readonly alpnProtocol?: string;
  /**
   * On a TLS server connection: the SNI server name the client sent, when the
   * runtime reports it (Node and Bun do; Deno does not).
   */
  readonly serverName?: string;
  /**
   * On a TLS server connection: whether the client presented a certificate that
   * verified against `caCerts`. Undefined when unknown or when none was asked for.
   */
  readonly peerCertificateAuthorized?: boolean;
  /**
   * Closes the connection in both directions and frees the socket. Bytes the
   * runtime already accepted are still flushed; the readable closes (queued
   * chunks stay readable) and later writes reject. Idempotent.
   */
  close(): void;
  /** Settles once the socket is fully closed, whichever side closed it. Never rejects. */
  readonly closed: Promise<void>;
  /**
   * Optional fast path for a layer that owns the connection exclusively:
   * direct chunk reads and writes without the Web Streams machinery (whose
   * per-chunk promises dominate small-message latency on Node). Returns null
   * when taken before or when a stream is locked; after it, `readable` and
   * `writable` must not be used. Chunks already queued in `readable` are
   * delivered first.
   */
  takeChunkIO?(): ChunkIO | null;
}

/**
 * Direct chunk I/O on a {@link Connection}, with the same backpressure as its
 * streams: reading stops the socket when 64 KiB are queued unread, and
 * `write` returns a promise only when the socket's buffer is full.
 */
export interface ChunkIO {
  /** The next chunk (owned by the caller), or null at the end of the stream; rejects with the stream's error. */
  read(): Promise<Uint8Array | null>;
  /** Writes a chunk (ownership passes to the runtime); undefined when accepted at once, else a promise settling on drain. */
  write(chunk: Uint8Array): Promise<void> | undefined;
  /**
   * Pull-based transports only (Deno): reads straight into `buf` — e.g. a
   * codec's `spare()` — with no copy. Resolves with the byte count (≥ 1), or
   * null at the end of the stream. Don't mix with a pending `read()`.
   */
  readInto?(buf: Uint8Array): Promise<number | null>;
  /**
   * Push-based transports only (Node, Bun): the next chunk, handed to `sink`
   * without a promise — at once when one is queued, else from the socket's
   * data event. One read at a time; don't mix with a pending `read()`.
   */
  readWith?(sink: ChunkSink): void;
  /**
   * True when `write` holds a chunk no longer than it has to: after a write
   * that returned undefined every byte is gone to the kernel, and a write
   * that returned a promise holds the chunk only until the promise settles.
   * The caller may then reuse the chunk's memory (Bun). Without it, a written
   * chunk belongs to the runtime for good (Node may keep it in its buffer).
   */
  readonly releasesChunks?: boolean;
}

/**
 * Receives one result of {@link ChunkIO.readWith}. Called synchronously,
 * possibly from inside `readWith` itself, so it must not throw.
 *
 * @example Count the bytes of the next chunk without a promise per read
 * ```ts
 * import type { ChunkIO, ChunkSink } from "@sluice/net";
 * declare const io: ChunkIO;
 * let total = 0;
 * const sink: ChunkSink = {
 *   chunk: (data) => {
 *     if (data !== null) total += data.length;
 *   },
 *   error: (reason) => console.error("read failed:", reason),
 * };
 * io.readWith?.(sink);
 * ```
 */
export interface ChunkSink {
  /** The next chunk (owned by the sink), or null at the end of the stream. */
  chunk(data: Uint8Array | null): void;
  /** The stream failed. */
  error(reason: unknown): void;
}

/**
 * TLS options of a client connection.
 *
 * @example Trust a private CA and send a client certificate
 * ```ts
 * import type { ClientTlsOptions } from "@sluice/net";
 * declare const caPem: string, certPem: string, keyPem: string;
 * const tls: ClientTlsOptions = { caCerts: [caPem], cert: certPem, key: keyPem, alpnProtocols: ["http/1.1"] };
 * ```
 */
export interface ClientTlsOptions {
  /** Extra trusted root certificates (PEM), e.g. a private CA. @default the runtime's roots */
  caCerts?: string[] | undefined;
  /** Client certificate chain (PEM) for mutual TLS; needs `key`. @default none */
  cert?: string | undefined;
  /** Private key (PEM) of `cert`. @default none */
  key?: string | undefined;
  /** Server name to send as SNI and to verify the certificate against. @default hostname */
  serverName?: string | undefined;
  /** ALPN protocols to offer, most preferred first. @default none */
  alpnProtocols?: string[] | undefined;
  /**
   * Accept any server certificate. Only for tests against throwaway servers:
   * it removes all protection against a man in the middle. @default false
   */
  insecure?: boolean | undefined;
}

/**
 * Options of {@link Transport.connect}.
 *
 * @example Give up after two seconds
 * ```ts
 * import type { ConnectOptions } from "@sluice/net";
 * const options: ConnectOptions = { hostname: "localhost", port: 8443, tls: true, connectTimeout: 2_000 };
 * ```
 */
export interface ConnectOptions {
  /** Host name or IP address to connect to. */
  hostname: string;
  /** Port to connect to (1–65535). */
  port: number;
  /** `true` or TLS options to connect over TLS. @default false */
  tls?: boolean | ClientTlsOptions | undefined;
  /** Disable Nagle's algorithm so small writes go out at once. @default true */
  noDelay?: boolean | undefined;
  /** Limit in milliseconds for TCP connect plus TLS handshake. @default 10_000 */
  connectTimeout?: number | undefined;
  /** Aborts the connect (and TLS handshake); has no effect once connected. @default none */
  signal?: AbortSignal | undefined;
  /** The adapter to use instead of the running runtime's. @default detected */
  transport?: Transport | undefined;
}

/**
 * TLS options of a listener.
 *
 * @example Require client certificates from a private CA
 * ```ts
 * import type { ServerTlsOptions } from "@sluice/net";
 * declare const certPem: string, keyPem: string, caPem: string;
 * const tls: ServerTlsOptions = { cert: certPem, key: keyPem, caCerts: [caPem], requireClientCert: true };
 * ```
 */
export interface ServerTlsOptions {
  /** Server certificate chain (PEM). */
  cert: string;
  /** Private key (PEM) of `cert`. */
  key: string;
  /** Roots (PEM) that client certificates must chain to. @default the runtime's roots */
  caCerts?: string[] | undefined;
  /** Ask clients for a certificate but accept them without one. @default false */
  requestClientCert?: boolean | undefined;
  /** Ask clients for a certificate and refuse them without a valid one. @default false */
  requireClientCert?: boolean | undefined;
  /** ALPN protocols the server accepts, most preferred first. @default none */
  alpnProtocols?: string[] | undefined;
}

/**
 * Options of {@link Transport.listen}.
 *
 * @example An ephemeral loopback port
 * ```ts
 * import type { ListenOptions } from "@sluice/net";
 * const options: ListenOptions = { hostname: "127.0.0.1", port: 0 };
 * ```
 */
export interface ListenOptions {
  /** Address to bind. @default "127.0.0.1" */
  hostname?: string | undefined;
  /** Port to bind; 0 picks a free ephemeral port (see `Listener.addr`). */
  port: number;
  /** TLS options to serve TLS. @default plain TCP */
  tls?: ServerTlsOptions | undefined;
  /** Disable Nagle's algorithm on accepted connections. @default true */
  noDelay?: boolean | undefined;
  /** Closes the listener when aborted. @default none */
  signal?: AbortSignal | undefined;
  /** The adapter to use instead of the running runtime's. @default detected */
  transport?: Transport | undefined;
}

/**
 * A bound listening socket. Iterate it (or call `accept()`) to take incoming
 * connections; iteration ends once the listener is closed.
 *
 * @example Serve until closed
 * ```ts
 * import type { Connection, Listener } from "@sluice/net";
 * async function serve(listener: Listener, handle: (c: Connection) => Promise<void>) {
 *   for await (const conn of listener) handle(conn).finally(() => conn.close());
 * }
 * ```
 */
export interface Listener extends AsyncIterable<Connection> {
  /** The bound address, with the real port when 0 was asked for. */
  readonly addr: NetAddr;
  /** The next incoming connection, or null once the listener is closed. */
  accept(): Promise<Connection | null>;
  /**
   * Stops listening. Connections already accepted stay open; ones accepted by
   * the runtime but not yet taken with `accept()` are closed. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * A runtime adapter: opens and accepts {@link Connection}s.
 *
 * @example Pick an adapter per call
 * ```ts
 * import { connect, type Transport } from "@sluice/net";
 * async function dial(transport: Transport, port: number) {
 *   return await connect({ hostname: "127.0.0.1", port, transport });
 * }
 * ```
 */
export interface Transport {
  /** Which runtime API the adapter is built on. */
  readonly name: "deno" | "bun" | "node";
  /** Opens a connection; see {@link ConnectOptions}. */
  connect(options: ConnectOptions): Promise<Connection>;
  /** Binds a listener; see {@link ListenOptions}. */
  listen(options: ListenOptions): Promise<Listener>;
}
