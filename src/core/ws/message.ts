/**
 * WebSocket messages as the codec hands them out, and the close codes of
 * RFC 6455 §7.4.
 *
 * @module
 */

/** A complete text message. `data` holds the UTF-8 bytes `text` was decoded from. */
export interface TextMessage {
  /** Discriminant. */
  readonly type: "text";
  /** The decoded text. */
  readonly text: string;
  /** The UTF-8 payload (a borrowed view: see {@link Message}). */
  readonly data: Uint8Array;
}

/** A complete binary message. */
export interface BinaryMessage {
  /** Discriminant. */
  readonly type: "binary";
  /** The payload (a borrowed view: see {@link Message}). */
  readonly data: Uint8Array;
}

/** A ping control frame (RFC 6455 §5.5.2); its payload is at most 125 bytes. */
export interface PingMessage {
  /** Discriminant. */
  readonly type: "ping";
  /** Application data to echo in the pong (a borrowed view). */
  readonly data: Uint8Array;
}

/** A pong control frame (RFC 6455 §5.5.3). */
export interface PongMessage {
  /** Discriminant. */
  readonly type: "pong";
  /** Application data (a borrowed view). */
  readonly data: Uint8Array;
}

/** A close control frame (RFC 6455 §5.5.1). */
export interface CloseMessage {
  /** Discriminant. */
  readonly type: "close";
  /** The status code; 1005 ({@link CloseCode.NoStatus}) when the frame had no payload. */
  readonly code: number;
  /** The UTF-8 reason, possibly empty. */
  readonly reason: string;
}

/**
 * Any message the codec yields, discriminated on `type`.
 *
 * `data` fields are **borrowed**: views into the reader's buffer, valid until
 * the next call on that reader. Use {@link retainMessage} to keep one longer.
 *
 * @example Switch on the type
 * ```ts
 * import type { Message } from "@sluice/net/core";
 * function describe(msg: Message): string {
 *   switch (msg.type) {
 *     case "text": return `text ${msg.text}`;
 *     case "binary": return `binary ${msg.data.length} bytes`;
 *     case "close": return `close ${msg.code} ${msg.reason}`;
 *     default: return msg.type;
 *   }
 * }
 * ```
 */
export type Message = TextMessage | BinaryMessage | PingMessage | PongMessage | CloseMessage;

/**
 * Returns a copy of `message` that owns its bytes, so it stays valid after the
 * reader moves on. Text and close messages copy only what they must.
 *
 * @param message A message borrowed from a reader.
 * @returns The same message with `data` copied into its own buffer.
 *
 * @example Keep messages in an array
 * ```ts
 * import { FrameReader, retainMessage, type Message } from "@sluice/net/core";
 * const reader = new FrameReader({ role: "client" });
 * reader.push(new Uint8Array([0x82, 0x02, 0x01, 0x02]));
 * const kept: Message[] = [];
 * for (let m = reader.next(); m !== null; m = reader.next()) kept.push(retainMessage(m));
 * ```
 */
export function retainMessage<M extends Message>(message: M): M {
  if (message.type === "close") return message;
  // An explicit copy: on Node a Buffer's slice() is a view, not a copy.
  const data = new Uint8Array(message.data.length);
  data.set(message.data);
  return { ...message, data };
}

/**
 * Close status codes (RFC 6455 §7.4.1 and the IANA registry).
 *
 * @example
 * ```ts
 * import { CloseCode } from "@sluice/net/core";
 * console.log(CloseCode.MessageTooBig); // 1009
 * ```
 */
export const CloseCode = {
  /** 1000: the purpose of the connection was fulfilled. */
  Normal: 1000,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GoingAway: 1001,
  /** 1002: a protocol error. */
  ProtocolError: 1002,
  /** 1003: a data type the endpoint cannot accept. */
  UnsupportedData: 1003,
  /** 1005: reserved; reported when a close frame carried no code. Never sent. */
  NoStatus: 1005,
  /** 1006: reserved; reported when the connection closed without a close frame. Never sent. */
  Abnormal: 1006,
  /** 1007: data inconsistent with the message type (invalid UTF-8 in text). */
  InvalidPayload: 1007,
  /** 1008: a message that violates the endpoint's policy. */
  PolicyViolation: 1008,
  /** 1009: a message too big to process. */
  MessageTooBig: 1009,
  /** 1010: the client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** 1011: the server met an unexpected condition. */
  InternalError: 1011,
  /** 1012: the service is restarting. */
  ServiceRestart: 1012,
  /** 1013: try again later. */
  TryAgainLater: 1013,
  /** 1014: the gateway got an invalid response upstream. */
  BadGateway: 1014,
  /** 1015: reserved; reported when the TLS handshake failed. Never sent. */
  TlsHandshake: 1015,
} as const;

/** The type of a named {@link CloseCode} value. */
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4):
 * 1000–1003, 1007–1014, and the 3000–4999 ranges for libraries and
 * applications. 1004, 1005, 1006 and 1015 are reserved and never sent.
 *
 * @param code The status code to check.
 * @returns True when the code is valid on the wire.
 *
 * @example
 * ```ts
 * import { isValidCloseCode } from "@sluice/net/core";
 * isValidCloseCode(1000); // true
 * isValidCloseCode(1005); // false
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}
