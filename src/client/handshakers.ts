/**
 * The built-in handshakers — {@link authHandshake} and
 * {@link subscribeHandshake} — and the helpers they are made of, which
 * custom handshakers can use too.
 *
 * @module
 */
import type { Message } from "../core/ws/message.ts";
import { ClientErrorCode, HandshakerError } from "./errors.ts";
import type { HandshakeConnection, Handshaker } from "./handshake.ts";
import type { Outgoing } from "./ledger.ts";

/** Options shared by the built-in handshakers. */
export interface HandshakerOptions {
  /** The handshaker's name in events and errors. */
  name?: string;
  /** Time allowed, in ms. @default 10000 */
  timeoutMs?: number;
  /** The least wait before the next attempt after a failure, in ms. @default 0 */
  retryDelayMs?: number;
}

function checkOptions(options: HandshakerOptions): void {
  const { timeoutMs, retryDelayMs } = options;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) {
    throw new RangeError(`timeoutMs must be a number > 0 or Infinity: got ${timeoutMs}`);
  }
  if (retryDelayMs !== undefined && !(retryDelayMs >= 0 && Number.isFinite(retryDelayMs))) {
    throw new RangeError(`retryDelayMs must be a finite number >= 0: got ${retryDelayMs}`);
  }
}

/**
 * Sends one message as text or binary by its type.
 *
 * @param connection The connection.
 * @param message A string (text) or bytes (binary).
 */
export function sendOutgoing(connection: HandshakeConnection, message: Outgoing): Promise<void> {
  return typeof message === "string"
    ? connection.sendText(message)
    : connection.sendBinary(message);
}

/** Classifies a reply: `true` it is the awaited answer, `false` a refusal, `undefined` unrelated. */
export type ReplyClassifier = (message: Message) => boolean | undefined;

/**
 * Reads until `classify` has accepted `count` replies. Unrelated data
 * messages are forwarded to the application; control frames are skipped.
 *
 * @param connection The connection.
 * @param classify Recognises answers and refusals.
 * @param count How many answers to wait for.
 * @param name The handshaker's name, for errors.
 * @throws {HandshakerError} On a refusal or when the connection ends.
 */
export async function awaitReplies(
  connection: HandshakeConnection,
  classify: ReplyClassifier,
  count: number,
  name: string,
): Promise<void> {
  for (let got = 0; got < count;) {
    const message = await connection.recv();
    if (message === null || message.type === "close") {
      throw new HandshakerError(
        ClientErrorCode.HandshakeClosed,
        `connection closed during handshake "${name}"` +
          (message?.type === "close" ? `: ${message.code} ${message.reason}` : ""),
        { handshaker: name },
      );
    }
    if (message.type === "ping" || message.type === "pong") continue;
    const verdict = classify(message);
    if (verdict === true) got++;
    else if (verdict === false) {
      const shown = message.type === "text"
        ? message.text.slice(0, 120)
        : `${message.data.length} bytes`;
      throw new HandshakerError(
        ClientErrorCode.HandshakeRejected,
        `handshake "${name}" refused by the server: ${shown}`,
        { handshaker: name },
      );
    } else connection.forward(message);
  }
}

/** A token, or a function that fetches a fresh one for every connection. */
export type TokenSource = string | (() => string | Promise<string>);

/** Options of {@link authHandshake}. */
export interface AuthHandshakeOptions extends HandshakerOptions {
  /**
   * How the token goes on the wire: `plain` (the token as a text message),
   * `json` (`{"type":"auth","token":…}`), or a function returning the message.
   * @default "json"
   */
  format?: "plain" | "json" | ((token: string) => Outgoing);
  /** When given, wait for a reply it classifies: `true` accepted, `false` refused, `undefined` unrelated (forwarded). */
  reply?: ReplyClassifier;
}

/**
 * Sends an authentication token on every connection, optionally waiting for
 * the server's answer.
 *
 * @param token The token, or a function called on every connection (for tokens that expire).
 * @param options Wire format, reply classifier, name, timeout and retry delay.
 * @returns A handshaker named `"auth"` unless renamed.
 * @throws {TypeError} When `token` or `format` has the wrong type.
 * @throws {RangeError} When `timeoutMs` or `retryDelayMs` is out of range.
 *
 * @example Wait for `{"type":"authenticated"}`
 * ```ts
 * import { authHandshake } from "@sluice/net";
 * const auth = authHandshake(() => "fresh-token", {
 *   format: "json",
 *   reply: (m) => m.type === "text" ? (m.text.includes("authenticated") || undefined) : undefined,
 * });
 * ```
 */
export function authHandshake(token: TokenSource, options: AuthHandshakeOptions = {}): Handshaker {
  if (typeof token !== "string" && typeof token !== "function") {
    throw new TypeError(`token must be a string or a function: got ${typeof token}`);
  }
  const format = options.format ?? "json";
  if (format !== "plain" && format !== "json" && typeof format !== "function") {
    throw new TypeError(`format must be "plain", "json" or a function: got ${String(format)}`);
  }
  checkOptions(options);
  const name = options.name ?? "auth";
  const reply = options.reply;
  return Object.freeze({
    name,
    timeoutMs: options.timeoutMs,
    retryDelayMs: options.retryDelayMs,
    async run(connection: HandshakeConnection): Promise<void> {
      const value = typeof token === "function" ? await token() : token;
      if (typeof value !== "string") {
        throw new TypeError(`the token function must return a string: got ${typeof value}`);
      }
      const message = format === "plain"
        ? value
        : format === "json"
        ? JSON.stringify({ type: "auth", token: value })
        : format(value);
      await sendOutgoing(connection, message);
      if (reply) await awaitReplies(connection, reply, 1, name);
    },
  });
}

/** Options of {@link subscribeHandshake}. */
export interface SubscribeHandshakeOptions extends HandshakerOptions {
  /**
   * The subscribe message(s) for the channels; several messages each need a
   * confirmation when `waitConfirmation` is set.
   * @default (channels) => JSON.stringify({ type: "subscribe", channels })
   */
  format?: (channels: readonly string[]) => Outgoing | Outgoing[];
  /** Wait for one confirmation per message sent. @default false */
  waitConfirmation?: boolean;
  /**
   * Classifies replies: `true` a confirmation, `false` a refusal, `undefined`
   * unrelated (forwarded to the application).
   * @default JSON text whose `type` or `event` is "subscribed" confirms; "error" refuses
   */
  match?: ReplyClassifier;
}

/**
 * The default subscription reply classifier: a JSON text message whose
 * `type` (or `event`) is `"subscribed"` confirms and `"error"` refuses.
 *
 * @param message A received message.
 * @returns `true`, `false`, or `undefined` for anything else.
 */
export function jsonSubscribeReply(message: Message): boolean | undefined {
  if (message.type !== "text" || !message.text.startsWith("{")) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.text);
  } catch {
    return undefined;
  }
  const o = parsed as { type?: unknown; event?: unknown };
  const kind = o?.type ?? o?.event;
  return kind === "subscribed" ? true : kind === "error" ? false : undefined;
}

/**
 * Subscribes to channels on every connection, optionally waiting for the
 * server's confirmation. Messages that arrive meanwhile and are not replies
 * are passed on to the application, not lost.
 *
 * @param channels The channels, or a function giving the current set on every connection.
 * @param options Message format, confirmation, name, timeout and retry delay.
 * @returns A handshaker named `"subscribe"` unless renamed.
 * @throws {TypeError} When `channels` is not a non-empty list of non-empty strings.
 * @throws {RangeError} When `timeoutMs` or `retryDelayMs` is out of range.
 *
 * @example One message per channel, each confirmed
 * ```ts
 * import { subscribeHandshake } from "@sluice/net";
 * const subscribe = subscribeHandshake(["trades.BTC", "trades.ETH"], {
 *   format: (channels) => channels.map((c) => JSON.stringify({ op: "sub", channel: c })),
 *   waitConfirmation: true,
 * });
 * ```
 */
export function subscribeHandshake(
  channels: readonly string[] | (() => readonly string[]),
  options: SubscribeHandshakeOptions = {},
): Handshaker {
  const check = (list: readonly string[]) => {
    if (!Array.isArray(list) || list.length === 0) {
      throw new TypeError(`channels must be a non-empty array: got ${JSON.stringify(list)}`);
    }
    for (const c of list) {
      if (typeof c !== "string" || c === "") {
        throw new TypeError(`every channel must be a non-empty string: got ${JSON.stringify(c)}`);
      }
    }
    return list;
  };
  const fixed = typeof channels === "function" ? null : Object.freeze([...check(channels)]);
  checkOptions(options);
  const name = options.name ?? "subscribe";
  const format = options.format ??
    ((list: readonly string[]) => JSON.stringify({ type: "subscribe", channels: list }));
  const match = options.match ?? jsonSubscribeReply;
  const wait = options.waitConfirmation ?? false;
  return Object.freeze({
    name,
    timeoutMs: options.timeoutMs,
    retryDelayMs: options.retryDelayMs,
    async run(connection: HandshakeConnection): Promise<void> {
      const list = fixed ?? check((channels as () => readonly string[])());
      const formatted = format(list);
      const messages = Array.isArray(formatted) ? formatted : [formatted];
      for (const m of messages) await sendOutgoing(connection, m);
      if (wait) await awaitReplies(connection, match, messages.length, name);
    },
  });
}
