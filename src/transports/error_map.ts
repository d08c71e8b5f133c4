/**
 * Turns the runtimes' socket and TLS errors into sluice errors with stable
 * codes. Node and Bun report OpenSSL/BoringSSL and libuv codes (`ECONNREFUSED`,
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`…); Deno reports rustls messages
 * (`invalid peer certificate: UnknownIssuer`) on `Deno.errors.*` classes, so
 * both the `code` and the message are inspected. Runtime-neutral.
 *
 * @module
 */
import { ConnectionClosed, SluiceError, TimeoutError, TlsError } from "../core/errors.ts";

/** Where an error happened, for the message. */
export interface ErrorContext {
  /** Host and port as the caller gave them. */
  readonly hostname: string;
  readonly port: number;
  /** The name the certificate was checked against, when TLS. */
  readonly serverName?: string | undefined;
}

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
]);
const EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);
const MISMATCH = new Set(["ERR_TLS_CERT_ALTNAME_INVALID", "HOSTNAME_MISMATCH"]);
const REFUSED = new Set(["ECONNREFUSED", "ConnectionRefused"]);
const DNS = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "DNS_ENOTFOUND"]);
const RESET = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "ConnectionReset",
  "ConnectionAborted",
  "BrokenPipe",
  "UnexpectedEof",
]);

function codeOf(err: unknown): string {
  if (typeof err !== "object" || err === null) return "";
  const e = err as { code?: unknown; name?: unknown };
  if (typeof e.code === "string" && e.code) return e.code;
  return typeof e.name === "string" ? e.name : "";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function where(ctx: ErrorContext): string {
  return `${ctx.hostname}:${ctx.port}`;
}

/** Maps a TLS failure to a {@link TlsError}, or returns null when `err` is not about TLS. */
export function tlsErrorOf(err: unknown, ctx: ErrorContext): TlsError | null {
  if (err instanceof SluiceError) return err instanceof TlsError ? err : null;
  const code = codeOf(err);
  const msg = messageOf(err);
  const detail = code && !msg.includes(code) ? `${code}: ${msg}` : msg;
  const name = ctx.serverName ?? ctx.hostname;
  // A TLS stream cut without close_notify is a dropped connection, not a TLS
  // failure (rustls words it "peer closed connection without sending TLS close_notify").
  if (/close_notify|unexpected eof/i.test(msg)) return null;
  if (
    UNTRUSTED.has(code) || /UnknownIssuer|self[- ]signed|unknown ca|unable to get/i.test(msg)
  ) {
    return new TlsError(
      "TLS_CERT_UNTRUSTED",
      `the TLS certificate of ${where(ctx)} is not trusted (${detail}): ` +
        "pass the PEM of the CA that issued it in tls.caCerts",
      { cause: err },
    );
  }
  if (
    MISMATCH.has(code) ||
    /NotValidForName|not valid for name|altname|hostname.*(match|mismatch)/i.test(msg)
  ) {
    return new TlsError(
      "TLS_HOSTNAME_MISMATCH",
      `the TLS certificate of ${where(ctx)} is not valid for "${name}" (${detail}): ` +
        "connect with a name the certificate lists, or set tls.serverName to one",
      { cause: err },
    );
  }
  if (EXPIRED.has(code) || /\bExpired\b|NotValidYet|not yet valid|has expired/i.test(msg)) {
    return new TlsError(
      "TLS_CERT_EXPIRED",
      `the TLS certificate of ${where(ctx)} has expired or is not yet valid (${detail}): ` +
        "renew it, or check this machine's clock",
      { cause: err },
    );
  }
  if (/CERTIFICATE_REQUIRED|CertificateRequired|peer did not return a certificate/i.test(detail)) {
    return new TlsError(
      "TLS_CLIENT_CERT_REQUIRED",
      `${where(ctx)} requires a client certificate (${detail}): pass tls.cert and tls.key`,
      { cause: err },
    );
  }
  if (/BAD_CERTIFICATE|BadCertificate|UNKNOWN_CA|UnknownCA|certificate unknown/i.test(detail)) {
    return new TlsError(
      "TLS_CERT_REJECTED",
      `the TLS peer at ${where(ctx)} rejected the certificate it was given (${detail}): ` +
        "use a certificate issued by a CA the peer trusts",
      { cause: err },
    );
  }
  // Plain bytes where a TLS record was due (OpenSSL/BoringSSL "wrong version
  // number", rustls "InvalidContentType"): usually wss:// or https:// pointed
  // at a plain port. Say that first; the library's own text stays as the cause.
  if (/wrong.version.number|InvalidContentType|packet length too long|http request/i.test(detail)) {
    return new TlsError(
      "TLS_NOT_TLS",
      `the server at ${where(ctx)} did not answer TLS: is it ws:// or http:// rather than ` +
        `wss:// or https://? (it sent bytes that are not a TLS record: ${detail})`,
      { cause: err },
    );
  }
  if (
    code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code.startsWith("SSL_") ||
    /\bTLS\b|\bSSL\b|handshake|alert|certificate|wrong version number|InvalidContentType/i
      .test(msg)
  ) {
    return new TlsError(
      "TLS_HANDSHAKE_FAILED",
      `the TLS handshake with ${where(ctx)} failed (${detail}): check that the port serves ` +
        "TLS and that both sides share a protocol version, cipher and ALPN protocol",
      { cause: err },
    );
  }
  return null;
}

/** Maps a failure while connecting (TCP connect or TLS handshake). */
export function connectErrorOf(err: unknown, ctx: ErrorContext, tls: boolean): SluiceError {
  if (err instanceof SluiceError) return err;
  if (tls) {
    const t = tlsErrorOf(err, ctx);
    if (t) return t;
  }
  const code = codeOf(err);
  const msg = messageOf(err);
  if (REFUSED.has(code) || /refused/i.test(msg)) {
    return new ConnectionClosed(
      "CONNECT_REFUSED",
      `connection to ${where(ctx)} was refused: is a server listening on that port?`,
      { cause: err, retryable: true },
    );
  }
  if (DNS.has(code) || /getaddrinfo|name resolution|not known|dns/i.test(msg)) {
    return new ConnectionClosed(
      "CONNECT_DNS_FAILED",
      `could not resolve "${ctx.hostname}" (${code || msg}): check the host name`,
      { cause: err, retryable: true },
    );
  }
  if (RESET.has(code)) {
    return new ConnectionClosed(
      "CONNECT_RESET",
      `connection to ${where(ctx)} was reset while connecting (${code})` +
        (tls ? ": the server may not speak TLS, or refused the handshake" : ""),
      { cause: err, retryable: true },
    );
  }
  return new ConnectionClosed(
    "CONNECT_FAILED",
    `could not connect to ${where(ctx)} (${code ? `${code}: ` : ""}${msg})`,
    { cause: err, retryable: true },
  );
}

/** Maps a failure of an established connection (read or write side). */
export function streamErrorOf(err: unknown, ctx: ErrorContext, tls: boolean): SluiceError {
  if (err instanceof SluiceError) return err;
  if (tls) {
    const t = tlsErrorOf(err, ctx);
    if (t) return t;
  }
  const code = codeOf(err);
  if (RESET.has(code)) {
    return new ConnectionClosed(
      "CONNECTION_RESET",
      `connection with ${where(ctx)} was reset by the peer (${code})`,
      { cause: err, retryable: true },
    );
  }
  return new ConnectionClosed(
    "CONNECTION_ERROR",
    `connection with ${where(ctx)} failed (${code ? `${code}: ` : ""}${messageOf(err)})`,
    { cause: err, retryable: true },
  );
}

/** The error later writes get once the connection is closed. */
export function closedError(ctx: ErrorContext, by: "locally" | "by the peer"): ConnectionClosed {
  return new ConnectionClosed(
    "CONNECTION_CLOSED",
    `connection with ${where(ctx)} was closed ${by}`,
    { retryable: true },
  );
}

/** The connect deadline error. */
export function connectTimeoutError(ctx: ErrorContext, ms: number, tls: boolean): TimeoutError {
  return new TimeoutError(
    "CONNECT_TIMEOUT",
    `connecting to ${where(ctx)} timed out after ${ms} ms` +
      (tls ? " (TCP connect plus TLS handshake)" : "") +
      ": check that the host is reachable, or raise connectTimeout",
    { retryable: true },
  );
}
