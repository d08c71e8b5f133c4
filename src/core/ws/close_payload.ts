/**
 * The payload of a close frame (RFC 6455 §5.5.1): a 2-byte status code and a
 * UTF-8 reason, both optional together. One encoder and one parser, shared by
 * the frame reader and writer and the connection state machine, so the rules
 * (§7.4 codes, the 123-byte reason) live in one place.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";
import { type CloseMessage, isValidCloseCode } from "./message.ts";

/** A close reason may take what a control payload (125 bytes) leaves after the code. */
const MAX_REASON_BYTES = 123;
const EMPTY = new Uint8Array(0);

const encoder = new TextEncoder();
const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes the payload of a close frame to send, checking it first.
 *
 * @param code A close code valid on the wire (see `isValidCloseCode`).
 * @param reason A reason of at most 123 UTF-8 bytes.
 * @returns The payload: the code big-endian, then the reason's UTF-8 bytes.
 * @throws {RangeError} When the code is not valid on the wire or the reason is too long.
 * @throws {TypeError} When the reason is not a string.
 *
 * @example Encode "going away"
 * ```ts
 * import { encodeClosePayload } from "@sluice/net/core";
 * console.log(encodeClosePayload(1001, "bye")); // Uint8Array [3, 233, 98, 121, 101]
 * ```
 */
export function encodeClosePayload(code: number, reason: string): Uint8Array {
  if (!isValidCloseCode(code)) {
    throw new RangeError(`close code must be 1000-1003, 1007-1014 or 3000-4999: got ${code}`);
  }
  if (typeof reason !== "string") {
    throw new TypeError(`close reason must be a string: got ${typeof reason}`);
  }
  const reasonBytes = reason === "" ? EMPTY : encoder.encode(reason);
  if (reasonBytes.length > MAX_REASON_BYTES) {
    throw new RangeError(
      `close reason must be at most ${MAX_REASON_BYTES} UTF-8 bytes: got ${reasonBytes.length}`,
    );
  }
  return closePayload(code, reasonBytes);
}

/** Code and reason bytes, unchecked. */
function closePayload(code: number, reasonBytes: Uint8Array): Uint8Array {
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/**
 * Decodes a received close payload. An empty payload means "no status"
 * (1005, RFC 6455 §7.1.5).
 *
 * @param data The close frame's (unmasked) payload.
 * @returns The close message: its code (1005 when there was none) and reason.
 * @throws {ProtocolError} `WS_CLOSE_PAYLOAD_LENGTH` (1002) for a 1-byte payload,
 *   `WS_INVALID_CLOSE_CODE` (1002) for a code not valid on the wire,
 *   `WS_INVALID_UTF8` (1007) for a reason that is not UTF-8.
 *
 * @example Decode a close payload
 * ```ts
 * import { parseClosePayload } from "@sluice/net/core";
 * const close = parseClosePayload(new Uint8Array([0x03, 0xe8, 0x6f, 0x6b]));
 * console.log(close.code, close.reason); // 1000 "ok"
 * ```
 */
export function parseClosePayload(data: Uint8Array): CloseMessage {
  if (data.length === 0) return { type: "close", code: 1005, reason: "" };
  if (data.length === 1) {
    throw new ProtocolError(
      "WS_CLOSE_PAYLOAD_LENGTH",
      1002,
      "close frame payload of 1 byte (RFC 6455 §5.5.1)",
    );
  }
  const code = (data[0]! << 8) | data[1]!;
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(
      "WS_INVALID_CLOSE_CODE",
      1002,
      `invalid close code ${code} (RFC 6455 §7.4)`,
    );
  }
  let reason: string;
  try {
    reason = fatalDecoder.decode(data.subarray(2));
  } catch (cause) {
    throw new ProtocolError(
      "WS_INVALID_UTF8",
      1007,
      "close reason is not valid UTF-8 (RFC 6455 §5.5.1)",
      { cause },
    );
  }
  return { type: "close", code, reason };
}
