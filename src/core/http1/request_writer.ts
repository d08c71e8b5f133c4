/**
 * {@link RequestWriter}: the client's sending half of HTTP/1.1. Builds request
 * bytes (RFC 9112 §3) without I/O.
 *
 * @module
 */
import { TCHAR } from "./chars.ts";
import { assertHeader } from "./headers.ts";
import { writeLatin1 } from "./latin1.ts";

/** Header fields to send: a record, name/value pairs, or a Fetch `Headers`. */
export type HeaderInit = Record<string, string> | Iterable<readonly [string, string]> | Headers;

/** Query parameters; arrays repeat the key, `undefined` values are left out. */
export type QueryInit = Record<
  string,
  string | number | boolean | undefined | readonly (string | number | boolean)[]
>;

/** A request body: text (UTF-8), bytes, a JSON value, or a stream sent chunked. */
export type BodyInit =
  | string
  | Uint8Array
  | { json: unknown }
  | ReadableStream<Uint8Array>;

/** What to send: everything but the method has a default. */
export interface RequestInit {
  /** The path (origin-form), appended to `basePath`; may hold a query. @default "/" */
  path?: string;
  /** Query parameters, percent-encoded and appended to the path. */
  query?: QueryInit;
  /** Header fields, added after the default ones. */
  headers?: HeaderInit;
  /** The body; sets Content-Length (or chunked coding for a stream) and a default Content-Type. */
  body?: BodyInit;
}

/** A request ready to write. */
export interface EncodedRequest {
  /** The request method, for `ResponseReader.expect()`. */
  method: string;
  /** The head, with a fixed-size body appended when it is small (one write). */
  head: Uint8Array;
  /** A large fixed-size body not copied into `head`, to write after it; else null. */
  body: Uint8Array | null;
  /** A body to send after `head` as chunks (`encodeChunk`, then `LAST_CHUNK`); else null. */
  stream: ReadableStream<Uint8Array> | null;
}

/** Options for {@link RequestWriter}. */
export interface RequestWriterOptions {
  /** The Host field value: `host` or `host:port` (RFC 9112 §3.2). */
  host: string;
  /** A path prefix for every request, such as "/api/v1". @default "" */
  basePath?: string | undefined;
  /** Fields sent with every request (validated once, here). @default {} */
  defaultHeaders?: HeaderInit | undefined;
  /** Bodies up to this size are copied behind the head to go out in one write. @default 65536 */
  inlineBodyBytes?: number | undefined;
}

const utf8 = new TextEncoder();
/** Heads up to this many characters are written by a JavaScript loop. */
const SHORT_HEAD = 256;
// Fields whose value the writer computes; callers must not set them.
const FRAMING = new Set(["content-length", "transfer-encoding"]);

function pairs(init: HeaderInit | undefined): [string, string][] {
  if (init === undefined) return [];
  if (init instanceof Headers) {
    // forEach rather than iteration: a user's lib may lack DOM.Iterable.
    const out: [string, string][] = [];
    init.forEach((value, name) => out.push([name, value]));
    return out;
  }
  if (Symbol.iterator in init) return [...(init as Iterable<[string, string]>)].map(([k, v]) => [k, v]);
  return Object.entries(init);
}

/**
 * Field lines for a head being written: every name and value checked (no CR,
 * LF or NUL: nothing can be injected), framing fields refused (the writer sets
 * them from the body), each lower-cased name added to `seen`. Shared by the
 * request and response writers.
 *
 * @throws {TypeError} Naming the bad field.
 */
export function fieldLines(init: HeaderInit | undefined, seen: Set<string>): string {
  let out = "";
  for (const [name, value] of pairs(init)) {
    if (typeof name !== "string" || typeof value !== "string") {
      throw new TypeError(`header ${String(name)} must have a string value: got ${typeof value}`);
    }
    assertHeader(name, value);
    const lower = name.toLowerCase();
    if (FRAMING.has(lower)) {
      throw new TypeError(`header ${name} is set by the writer from the body; remove it`);
    }
    seen.add(lower);
    out += `${name}: ${value.trim()}\r\n`;
  }
  return out;
}

function assertPath(path: string, what: string): void {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      throw new TypeError(
        `${what} must be visible US-ASCII (percent-encode the rest): got ${JSON.stringify(path)}`,
      );
    }
  }
}

// Duck-typed: src/core does not name the ReadableStream global.
function isStream(b: unknown): b is ReadableStream<Uint8Array> {
  return typeof b === "object" && b !== null && typeof (b as { getReader?: unknown }).getReader === "function";
}

function encodeQuery(query: QueryInit): string {
  let out = "";
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    const k = encodeURIComponent(key);
    const list = Array.isArray(value) ? value : [value];
    for (const v of list) out += `${out === "" ? "" : "&"}${k}=${encodeURIComponent(String(v))}`;
  }
  return out;
}

/**
 * Builds HTTP/1.1 requests for one origin. Names and values are validated:
 * a CR, LF or NUL anywhere throws, so nothing can inject fields or requests.
 *
 * @example Encode a JSON POST
 * ```ts
 * import { RequestWriter } from "@sluice/net/core";
 * const writer = new RequestWriter({ host: "api.example.com", basePath: "/v1" });
 * const req = writer.post("/items", { body: { json: { name: "x" } }, query: { dry: true } });
 * console.log(new TextDecoder().decode(req.head).split("\r\n")[0]); // POST /v1/items?dry=true HTTP/1.1
 * ```
 */
export class RequestWriter {
  readonly #base: string;
  readonly #fixed: string;
  readonly #defaults: Set<string>;
  readonly #inline: number;

  /**
   * Creates a writer; validates the host, base path and default fields once.
   *
   * @param options Host, base path and default fields.
   * @throws {TypeError} When the host, base path or a default field is invalid.
   */
  constructor(options: RequestWriterOptions) {
    const host = options?.host;
    if (typeof host !== "string" || host === "" || /[\s/?#@\\]/.test(host) || /[^\x21-\x7e]/.test(host)) {
      throw new TypeError(`host must be "name" or "name:port": got ${JSON.stringify(host)}`);
    }
    const base = (options.basePath ?? "").replace(/\/+$/, "");
    if (base !== "" && !base.startsWith("/")) {
      throw new TypeError(`basePath must start with "/": got ${JSON.stringify(options.basePath)}`);
    }
    assertPath(base, "basePath");
    this.#base = base;
    this.#defaults = new Set(["host"]);
    this.#fixed = `Host: ${host}\r\n` + fieldLines(options.defaultHeaders, this.#defaults);
    const inline = options.inlineBodyBytes ?? 65536;
    if (!Number.isSafeInteger(inline) || inline < 0) {
      throw new RangeError(`inlineBodyBytes must be a non-negative integer: got ${inline}`);
    }
    this.#inline = inline;
  }

  /**
   * Encodes a request.
   *
   * @param method The method token, such as "GET" (case kept).
   * @param init Path, query, fields and body.
   * @returns The bytes to write (and a body stream to send chunked, if any).
   * @throws {TypeError} On an invalid method, path, field or body.
   */
  request(method: string, init: RequestInit = {}): EncodedRequest {
    if (typeof method !== "string" || method === "") throw new TypeError("method must be a token: got \"\"");
    for (let i = 0; i < method.length; i++) {
      const c = method.charCodeAt(i);
      if (c > 0x7f || TCHAR[c] === 0) throw new TypeError(`method must be a token: got ${JSON.stringify(method)}`);
    }
    const path = init.path ?? "/";
    if (!path.startsWith("/") && !(path === "*" && method === "OPTIONS")) {
      throw new TypeError(`path must start with "/": got ${JSON.stringify(path)}`);
    }
    assertPath(path, "path");
    let target = path === "*" ? "*" : this.#base + path;
    if (init.query) {
      const q = encodeQuery(init.query);
      if (q !== "") target += (target.includes("?") ? "&" : "?") + q;
    }
    // Only fieldLines() adds to the set: share the defaults when there are no fields.
    const seen = init.headers === undefined ? this.#defaults : new Set(this.#defaults);
    let head = `${method} ${target} HTTP/1.1\r\n${this.#fixed}${fieldLines(init.headers, seen)}`;

    let body: Uint8Array | null = null;
    let stream: ReadableStream<Uint8Array> | null = null;
    const b = init.body;
    if (b === undefined) {
      // RFC 9110 §8.6: send Content-Length: 0 where a body is expected.
      if (method === "POST" || method === "PUT" || method === "PATCH") head += "Content-Length: 0\r\n";
    } else if (typeof b === "string") {
      body = utf8.encode(b);
      if (!seen.has("content-type")) head += "Content-Type: text/plain;charset=UTF-8\r\n";
    } else if (b instanceof Uint8Array) {
      body = b;
    } else if (isStream(b)) {
      stream = b;
      head += "Transfer-Encoding: chunked\r\n";
    } else if (typeof b === "object" && b !== null && "json" in b) {
      const text = JSON.stringify(b.json);
      if (text === undefined) throw new TypeError("body.json is not serializable to JSON");
      body = utf8.encode(text);
      if (!seen.has("content-type")) head += "Content-Type: application/json\r\n";
    } else {
      throw new TypeError(`body must be a string, Uint8Array, {json}, or ReadableStream: got ${typeof b}`);
    }
    if (body !== null) head += `Content-Length: ${body.length}\r\n`;
    head += "\r\n";

    const inline = body !== null && body.length <= this.#inline;
    const out = new Uint8Array(head.length + (inline ? body!.length : 0));
    // Every character is ≤ 0xFF (validated): one byte each. A short head is
    // copied by a loop, which beats a native encoder call on V8; a long one goes
    // through the native encoder, redone as latin1 when obs-text made UTF-8 longer.
    if (head.length <= SHORT_HEAD) writeLatin1(head, out, 0);
    else {
      const { read, written } = utf8.encodeInto(head, out);
      if (read !== head.length || written !== head.length) writeLatin1(head, out, 0);
    }
    if (inline) out.set(body!, head.length);
    return { method, head: out, body: inline ? null : body, stream };
  }

  /**
   * Encodes a GET.
   *
   * @param path The path, after the base path.
   * @param init Query and fields.
   * @returns The request bytes.
   * @throws {TypeError} On an invalid path or field.
   */
  get(path: string, init: Omit<RequestInit, "path" | "body"> = {}): EncodedRequest {
    return this.request("GET", { ...init, path });
  }

  /**
   * Encodes a HEAD.
   *
   * @param path The path, after the base path.
   * @param init Query and fields.
   * @returns The request bytes.
   * @throws {TypeError} On an invalid path or field.
   */
  head(path: string, init: Omit<RequestInit, "path" | "body"> = {}): EncodedRequest {
    return this.request("HEAD", { ...init, path });
  }

  /**
   * Encodes a DELETE.
   *
   * @param path The path, after the base path.
   * @param init Query, fields and an optional body.
   * @returns The request bytes.
   * @throws {TypeError} On an invalid path, field or body.
   */
  delete(path: string, init: Omit<RequestInit, "path"> = {}): EncodedRequest {
    return this.request("DELETE", { ...init, path });
  }

  /**
   * Encodes a POST.
   *
   * @param path The path, after the base path.
   * @param init Query, fields and body.
   * @returns The request bytes.
   * @throws {TypeError} On an invalid path, field or body.
   */
  post(path: string, init: Omit<RequestInit, "path"> = {}): EncodedRequest {
    return this.request("POST", { ...init, path });
  }

  /**
   * Encodes a PUT.
   *
   * @param path The path, after the base path.
   * @param init Query, fields and body.
   * @returns The request bytes.
   * @throws {TypeError} On an invalid path, field or body.
   */
  put(path: string, init: Omit<RequestInit, "path"> = {}): EncodedRequest {
    return this.request("PUT", { ...init, path });
  }

  /**
   * Encodes a PATCH.
   *
   * @param path The path, after the base path.
   * @param init Query, fields and body.
   * @returns The request bytes.
   * @throws {TypeError} On an invalid path, field or body.
   */
  patch(path: string, init: Omit<RequestInit, "path"> = {}): EncodedRequest {
    return this.request("PATCH", { ...init, path });
  }
}
