/**
 * Extensions of the resilient client: lifecycle hooks and per-connection
 * message transforms, plus two built-ins — logging and a status view.
 *
 * Stream pieces are single-use, so an extension gives a *factory*: the client
 * asks for a fresh `TransformStream` on every connection and pipes incoming
 * messages through each extension's in the order given. A transform may
 * change a message, pass it on, or drop it (by not enqueueing it).
 *
 * @module
 */
import type { Message } from "../core/ws/message.ts";
import { type Clock, systemClock } from "../common/clock.ts";
import type { DisconnectedEvent } from "./events.ts";
import { type Outgoing, payloadBytes } from "./ledger.ts";

/** The connection a hook or transform is about. */
export interface ConnectionInfo {
  /** The connection's id. */
  readonly id: string;
  /** The URL it is connected to. */
  readonly url: string;
  /** The attempt that opened it. */
  readonly attempt: number;
  /** When it completed its handshakes, in ms since the epoch. */
  readonly at: number;
}

/** What ended a connection: the `disconnected` event without its `type`. */
export type DisconnectInfo = Omit<DisconnectedEvent, "type">;

/** Where an error happened. */
export interface ErrorInfo {
  /** The attempt during which it happened. */
  readonly attempt: number;
  /** When, in ms since the epoch. */
  readonly at: number;
}

/**
 * A client extension. Every member is optional but `name`; hooks are called
 * synchronously in extension order, and one that throws is reported as an
 * `error` event without stopping the others.
 */
export interface Extension {
  /** A short name for logs and errors. */
  readonly name: string;
  /** A connection completed its handshakes. */
  onConnect?(info: ConnectionInfo): void;
  /** An established connection ended. */
  onDisconnect?(info: DisconnectInfo): void;
  /** An attempt failed, or something else went wrong. */
  onError?(error: unknown, info: ErrorInfo): void;
  /** A message was handed to the socket (observation only). */
  onSend?(message: Outgoing): void;
  /** A fresh transform for the incoming messages of one connection. */
  incoming?(info: ConnectionInfo): TransformStream<Message, Message>;
}

type Hook = "onConnect" | "onDisconnect" | "onError" | "onSend";
type HookArgs<H extends Hook> = Parameters<NonNullable<Extension[H]>>;

/**
 * Calls one hook on every extension that has it, in order; an exception in
 * one does not stop the rest.
 *
 * @param extensions The extensions.
 * @param hook Which hook.
 * @param args Its arguments.
 * @returns The errors thrown, each wrapped with the extension's name, for the caller to report.
 */
export function callHooks<H extends Hook>(
  extensions: readonly Extension[],
  hook: H,
  ...args: HookArgs<H>
): Error[] {
  const errors: Error[] = [];
  for (const ext of extensions) {
    const fn = ext[hook] as ((...a: HookArgs<H>) => void) | undefined;
    if (!fn) continue;
    try {
      fn.apply(ext, args);
    } catch (cause) {
      errors.push(new Error(`extension "${ext.name}" threw in ${hook}`, { cause }));
    }
  }
  return errors;
}

/**
 * Pipes `source` through every extension's fresh `incoming` transform, in order.
 *
 * @param source The connection's messages (owned, not borrowed: the
 *   transforms' queues may hold them past the next read).
 * @param extensions The extensions.
 * @param info The connection, passed to each factory.
 * @returns The transformed stream (`source` itself when no extension transforms).
 */
export function applyIncoming(
  source: ReadableStream<Message>,
  extensions: readonly Extension[],
  info: ConnectionInfo,
): ReadableStream<Message> {
  let stream = source;
  for (const ext of extensions) {
    const transform = ext.incoming?.(info);
    if (transform) stream = stream.pipeThrough(transform);
  }
  return stream;
}

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of {@link loggingExtension}. */
export interface LoggingOptions {
  /** The least severe level written; messages are logged at `debug`. @default "info" */
  level?: LogLevel;
  /** Include message bodies (text, or a hex prefix of bytes) in message lines. @default false */
  bodies?: boolean;
  /** Longest body shown, in characters. @default 200 */
  maxBodyChars?: number;
  /** Put before every line. @default "[sluice]" */
  prefix?: string;
  /** Where lines go. @default console.debug / info / warn / error */
  sink?: (level: LogLevel, line: string) => void;
}

function describeBody(message: Outgoing | Message, max: number): string {
  if (typeof message === "string") return JSON.stringify(message.slice(0, max));
  if (message instanceof Uint8Array) return hex(message, max);
  if (message.type === "text") return JSON.stringify(message.text.slice(0, max));
  if (message.type === "close") return `${message.code} ${JSON.stringify(message.reason)}`;
  return hex(message.data, max);
}

function hex(data: Uint8Array, max: number): string {
  const n = Math.min(data.length, Math.floor(max / 2));
  let s = "";
  for (let i = 0; i < n; i++) s += data[i]!.toString(16).padStart(2, "0");
  return n < data.length ? `${s}…` : s;
}

/**
 * Logs connects, disconnects and errors, and at `debug` every message in and
 * out (sizes, and bodies when asked).
 *
 * @param options Level, bodies, prefix and sink.
 * @returns The extension.
 * @throws {RangeError} When `level` or `maxBodyChars` is out of range.
 *
 * @example Collect lines in an array
 * ```ts
 * import { loggingExtension } from "@sluice/net";
 * const lines: string[] = [];
 * const logging = loggingExtension({ level: "debug", bodies: true, sink: (_l, line) => lines.push(line) });
 * ```
 */
export function loggingExtension(options: LoggingOptions = {}): Extension {
  const level = options.level ?? "info";
  if (!(level in RANK)) {
    throw new RangeError(`level must be debug, info, warn or error: got ${level}`);
  }
  const max = options.maxBodyChars ?? 200;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new RangeError(`maxBodyChars must be an integer >= 0: got ${max}`);
  }
  const prefix = options.prefix ?? "[sluice]";
  const sink = options.sink ?? ((l: LogLevel, line: string) => console[l](line));
  const bodies = options.bodies ?? false;
  const log = (l: LogLevel, text: string) => {
    if (RANK[l] >= RANK[level]) sink(l, `${prefix} ${text}`);
  };
  const line = (dir: string, m: Outgoing | Message) => {
    const kind = typeof m === "string" ? "text" : m instanceof Uint8Array ? "binary" : m.type;
    const size = typeof m === "string" || m instanceof Uint8Array
      ? payloadBytes(m)
      : m.type === "close"
      ? 0
      : m.data.length;
    return `${dir} ${kind} ${size} B${bodies ? ` ${describeBody(m, max)}` : ""}`;
  };
  const debug = RANK[level] === 0;
  return Object.freeze({
    name: "logging",
    onConnect: (i: ConnectionInfo) =>
      log("info", `connected ${i.id} to ${i.url} (attempt ${i.attempt})`),
    onDisconnect: (i: DisconnectInfo) =>
      log(
        i.wasClean ? "info" : "warn",
        `disconnected ${i.id}: ${i.reason} (code ${i.code}, up ${
          Math.round(i.connectedForMs)
        } ms, ` +
          `${i.unconfirmedMessages} unconfirmed)`,
      ),
    onError: (e: unknown, i: ErrorInfo) =>
      log("error", `error on attempt ${i.attempt}: ${e instanceof Error ? e.message : String(e)}`),
    // Message hooks only at debug: absent otherwise, so sends and reads skip them.
    ...(debug
      ? {
        onSend: (m: Outgoing) => log("debug", line("send", m)),
        incoming: () =>
          new TransformStream<Message, Message>({
            transform(m, controller) {
              log("debug", line("recv", m));
              controller.enqueue(m);
            },
          }),
      }
      : {}),
  });
}

/** A summary of the client's activity, from {@link statusExtension}. */
export interface StatusView {
  /** Whether a connection is up. */
  readonly connected: boolean;
  /** The current (or last) connection id, or null. */
  readonly connectionId: string | null;
  /** How long the current connection has been up, in ms (0 when down). */
  readonly uptimeMs: number;
  /** Connections established. */
  readonly connectionCount: number;
  /** Messages received (that reached this extension's transform). */
  readonly messagesIn: number;
  /** Messages handed to the socket. */
  readonly messagesOut: number;
  /** Payload bytes received. */
  readonly bytesIn: number;
  /** Payload bytes sent. */
  readonly bytesOut: number;
  /** The last error reported, or undefined. */
  readonly lastError: unknown;
}

/** An extension that keeps a {@link StatusView}. */
export interface StatusExtension extends Extension {
  /** The activity summary now. */
  status(): StatusView;
}

/**
 * Counts connections and traffic for a status line. Put it first among the
 * extensions to count messages before any other transform drops them.
 *
 * @param clock The time source for uptime. @default systemClock
 * @returns The extension, with a `status()` method.
 *
 * @example
 * ```ts
 * import { statusExtension } from "@sluice/net";
 * const status = statusExtension();
 * console.log(status.status().connected); // false
 * ```
 */
export function statusExtension(clock: Clock = systemClock): StatusExtension {
  let since: number | null = null;
  let id: string | null = null;
  const c = { connections: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  let lastError: unknown = undefined;
  return Object.freeze({
    name: "status",
    onConnect(info: ConnectionInfo) {
      since = clock.now();
      id = info.id;
      c.connections++;
    },
    onDisconnect() {
      since = null;
    },
    onError(error: unknown) {
      lastError = error;
    },
    onSend(message: Outgoing) {
      c.messagesOut++;
      c.bytesOut += payloadBytes(message);
    },
    incoming: () =>
      new TransformStream<Message, Message>({
        transform(m, controller) {
          c.messagesIn++;
          if (m.type !== "close") c.bytesIn += m.data.length;
          controller.enqueue(m);
        },
      }),
    status: (): StatusView => ({
      connected: since !== null,
      connectionId: id,
      uptimeMs: since === null ? 0 : Math.max(0, clock.now() - since),
      connectionCount: c.connections,
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      lastError,
    }),
  });
}
