/**
 * Option validation shared by every adapter: checked once, up front, with
 * messages that name the bad value, then frozen into a normalized shape.
 * Runtime-neutral (no runtime globals).
 *
 * @module
 */
import type { ClientTlsOptions, ConnectOptions, ListenOptions, ServerTlsOptions } from "./types.ts";

/** High-water mark, in bytes, of every connection's readable and writable. */
export const STREAM_HIGH_WATER_BYTES = 64 * 1024;

/** Default limit of TCP connect plus TLS handshake. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Accepted connections held for `accept()` at most; more are closed at once. */
export const ACCEPT_QUEUE_LIMIT = 128;

/** Counts a chunk's bytes, so the streams' limits are in bytes, not chunks. */
export const byteStrategy: QueuingStrategy<Uint8Array> = Object.freeze({
  highWaterMark: STREAM_HIGH_WATER_BYTES,
  size: (chunk: Uint8Array) => chunk.byteLength,
});

/** {@link ConnectOptions} after validation. */
export interface NormalizedConnect {
  readonly hostname: string;
  readonly port: number;
  readonly tls: Readonly<ClientTlsOptions> | null;
  readonly noDelay: boolean;
  readonly connectTimeout: number;
  readonly signal: AbortSignal | undefined;
}

/** {@link ListenOptions} after validation. */
export interface NormalizedListen {
  readonly hostname: string;
  readonly port: number;
  readonly tls: Readonly<ServerTlsOptions> | null;
  readonly noDelay: boolean;
  readonly signal: AbortSignal | undefined;
}

/**
 * Whether a host is an IP address literal (dotted IPv4, or IPv6 without
 * brackets), which must not be sent as the TLS server name (RFC 6066 §3).
 *
 * @param hostname A host as given to `connect`.
 * @returns True for an IP literal.
 */
export function isIpLiteral(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":");
}

function checkPort(port: unknown, allowZero: boolean): number {
  const min = allowZero ? 0 : 1;
  if (typeof port !== "number" || !Number.isInteger(port) || port < min || port > 65535) {
    throw new RangeError(`port must be an integer in ${min}–65535: got ${String(port)}`);
  }
  return port;
}

function checkHostname(hostname: unknown): string {
  if (typeof hostname !== "string" || hostname.length === 0) {
    throw new TypeError(`hostname must be a non-empty string: got ${String(hostname)}`);
  }
  // "[::1]" is how URLs spell IPv6 hosts; sockets want the bare address.
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

function checkPemList(name: string, list: unknown): string[] | undefined {
  if (list === undefined) return undefined;
  if (
    !Array.isArray(list) || list.some((s) => typeof s !== "string" || !s.includes("-----BEGIN"))
  ) {
    throw new TypeError(`${name} must be an array of PEM strings: got ${String(list)}`);
  }
  return [...list];
}

function checkStringList(name: string, list: unknown): string[] | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string" || s.length === 0)) {
    throw new TypeError(`${name} must be an array of non-empty strings: got ${String(list)}`);
  }
  return [...list];
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (typeof signal !== "object" || signal === null || !("aborted" in signal)) {
    throw new TypeError(`signal must be an AbortSignal: got ${String(signal)}`);
  }
  return signal as AbortSignal;
}

function checkClientTls(tls: ConnectOptions["tls"]): Readonly<ClientTlsOptions> | null {
  if (tls === undefined || tls === false) return null;
  if (tls === true) return Object.freeze({});
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError(`tls must be a boolean or an options object: got ${String(tls)}`);
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError("tls.cert and tls.key must be given together (mutual TLS)");
  }
  if (tls.serverName !== undefined && (typeof tls.serverName !== "string" || !tls.serverName)) {
    throw new TypeError(`tls.serverName must be a non-empty string: got ${String(tls.serverName)}`);
  }
  return Object.freeze({
    caCerts: checkPemList("tls.caCerts", tls.caCerts),
    cert: tls.cert,
    key: tls.key,
    serverName: tls.serverName,
    alpnProtocols: checkStringList("tls.alpnProtocols", tls.alpnProtocols),
    insecure: tls.insecure === true,
  });
}

/**
 * Validates and normalizes connect options.
 *
 * @throws {TypeError|RangeError} naming the first bad value.
 */
export function normalizeConnect(options: ConnectOptions): NormalizedConnect {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`connect options must be an object: got ${String(options)}`);
  }
  const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (typeof timeout !== "number" || !(timeout > 0) || !Number.isFinite(timeout)) {
    throw new RangeError(`connectTimeout must be a positive number of ms: got ${String(timeout)}`);
  }
  return Object.freeze({
    hostname: checkHostname(options.hostname),
    port: checkPort(options.port, false),
    tls: checkClientTls(options.tls),
    noDelay: options.noDelay ?? true,
    connectTimeout: timeout,
    signal: checkSignal(options.signal),
  });
}

/**
 * Validates and normalizes listen options.
 *
 * @throws {TypeError|RangeError} naming the first bad value.
 */
export function normalizeListen(options: ListenOptions): NormalizedListen {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`listen options must be an object: got ${String(options)}`);
  }
  let tls: Readonly<ServerTlsOptions> | null = null;
  if (options.tls !== undefined) {
    const t = options.tls;
    if (typeof t?.cert !== "string" || typeof t.key !== "string") {
      throw new TypeError("tls.cert and tls.key (PEM strings) are required to listen with TLS");
    }
    tls = Object.freeze({
      cert: t.cert,
      key: t.key,
      caCerts: checkPemList("tls.caCerts", t.caCerts),
      requestClientCert: t.requestClientCert === true || t.requireClientCert === true,
      requireClientCert: t.requireClientCert === true,
      alpnProtocols: checkStringList("tls.alpnProtocols", t.alpnProtocols),
    });
  }
  return Object.freeze({
    hostname: checkHostname(options.hostname ?? "127.0.0.1"),
    port: checkPort(options.port, true),
    tls,
    noDelay: options.noDelay ?? true,
    signal: checkSignal(options.signal),
  });
}
