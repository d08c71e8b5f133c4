/**
 * Accounting of outgoing messages: what was written to a socket, what the
 * peer has since confirmed (a pong, a new connection), and what was rejected
 * to the caller. This is what lets a `disconnected` event say how many
 * messages may have been lost on the wire.
 *
 * @module
 */

/** What can be sent: a string goes as a text message, bytes as a binary one. */
export type Outgoing = string | Uint8Array;

/** Cumulative counts of messages and their payload bytes. */
export interface MessageCount {
  /** Messages. */
  readonly messages: number;
  /** Payload bytes (UTF-8 length for text). */
  readonly bytes: number;
}

/**
 * The UTF-8 length of a string, without encoding it.
 *
 * @param text The string.
 * @returns Its length in UTF-8 bytes (a lone surrogate counts 3, as U+FFFD does).
 *
 * @example
 * ```ts
 * import { utf8Length } from "@sluice/net";
 * console.log(utf8Length("€1")); // 4
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The payload size of an outgoing message.
 *
 * @param message Text or bytes.
 * @returns Its size in bytes.
 * @throws {TypeError} When `message` is neither a string nor a `Uint8Array`.
 */
export function payloadBytes(message: Outgoing): number {
  if (typeof message === "string") return utf8Length(message);
  if (message instanceof Uint8Array) return message.byteLength;
  throw new TypeError(`message must be a string or a Uint8Array: got ${typeof message}`);
}

/**
 * Counts written, confirmed and rejected messages. Confirmation works by
 * checkpoint: take one when sending a ping, confirm it when the pong arrives
 * (a WebSocket is ordered, so the peer has read everything before the ping).
 *
 * @example Messages written after a ping stay unconfirmed after its pong
 * ```ts
 * import { WriteLedger } from "@sluice/net";
 * const ledger = new WriteLedger();
 * ledger.written(10);
 * const atPing = ledger.checkpoint();
 * ledger.written(5);
 * ledger.confirm(atPing);
 * console.log(ledger.unconfirmed); // { messages: 1, bytes: 5 }
 * ```
 */
export class WriteLedger {
  #written = { messages: 0, bytes: 0 };
  #confirmed: MessageCount = { messages: 0, bytes: 0 };
  #rejected = { messages: 0, bytes: 0 };

  /**
   * Records one message handed to a socket.
   *
   * @param bytes Its payload size.
   */
  written(bytes: number): void {
    this.#written.messages += 1;
    this.#written.bytes += bytes;
  }

  /**
   * Records one message rejected to its caller.
   *
   * @param bytes Its payload size.
   */
  rejected(bytes: number): void {
    this.#rejected.messages += 1;
    this.#rejected.bytes += bytes;
  }

  /** Everything written so far, as a point to confirm later. */
  checkpoint(): MessageCount {
    return { ...this.#written };
  }

  /**
   * Marks everything written up to `checkpoint` (default: now) as confirmed.
   * An older checkpoint never moves confirmation back.
   *
   * @param checkpoint A value from {@link WriteLedger.checkpoint}.
   */
  confirm(checkpoint: MessageCount = this.checkpoint()): void {
    this.#confirmed = {
      messages: Math.max(this.#confirmed.messages, checkpoint.messages),
      bytes: Math.max(this.#confirmed.bytes, checkpoint.bytes),
    };
  }

  /** Written since the last confirmed point. */
  get unconfirmed(): MessageCount {
    return {
      messages: this.#written.messages - this.#confirmed.messages,
      bytes: this.#written.bytes - this.#confirmed.bytes,
    };
  }

  /** Written in total. */
  get totalWritten(): MessageCount {
    return { ...this.#written };
  }

  /** Rejected in total. */
  get totalRejected(): MessageCount {
    return { ...this.#rejected };
  }
}
