/**
 * The RFC 6455 §5.2 frame header: opcodes, the rules its first two bytes must
 * follow, and the extended payload length. Pure functions over bytes, for
 * `FrameReader`; the checks are inline-sized and the errors are built
 * out of line, so the per-frame path stays small.
 *
 * @module
 */
import { ProtocolError } from "../errors.ts";

/** Frame opcodes (RFC 6455 §5.2). */
export const OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2;
/** Control frame opcodes (RFC 6455 §5.5); every opcode from OP_CLOSE up is a control one. */
export const OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa;

/**
 * Checks the first two header bytes: no RSV bits (no extension is
 * negotiated), a known opcode, control frames unfragmented and at most 125
 * bytes, continuations exactly inside a fragmented message, and the mask bit
 * the role requires (RFC 6455 §5.1–§5.5).
 *
 * @param b0 FIN, RSV1-3 and the opcode.
 * @param b1 The mask bit and the 7-bit length.
 * @param server Whether the reader is a server (frames must be masked).
 * @param fragmented Whether a fragmented message is being received.
 * @throws {ProtocolError} With close code 1002, naming the rule broken.
 */
export function checkFrameStart(b0: number, b1: number, server: boolean, fragmented: boolean): void {
  if ((b0 & 0x70) !== 0) throw rsvError(b0);
  const opcode = b0 & 0x0f;
  if (opcode >= OP_CLOSE) {
    if (opcode > OP_PONG || (b0 & 0x80) === 0 || (b1 & 0x7f) > 125) throw controlError(b0, b1);
  } else if (opcode > OP_BINARY || (opcode === OP_CONT) !== fragmented) {
    throw dataError(opcode, fragmented);
  }
  if (((b1 & 0x80) !== 0) !== server) throw maskError(server);
}

/**
 * The payload length of a header whose 7-bit length is `len7`: itself below
 * 126, else the 16- or 64-bit length that follows (RFC 6455 §5.2).
 *
 * @param src The bytes holding the header.
 * @param pos Where the header starts.
 * @param len7 The 7-bit length of byte 1.
 * @returns The payload length in bytes.
 * @throws {ProtocolError} `WS_LENGTH_TOP_BIT` (1002) when a 64-bit length has its top bit set.
 */
export function payloadLength(src: Uint8Array, pos: number, len7: number): number {
  if (len7 < 126) return len7;
  if (len7 === 126) return (src[pos + 2]! << 8) | src[pos + 3]!;
  const hi = ((src[pos + 2]! << 24) | (src[pos + 3]! << 16) | (src[pos + 4]! << 8) |
    src[pos + 5]!) >>> 0;
  const lo = ((src[pos + 6]! << 24) | (src[pos + 7]! << 16) | (src[pos + 8]! << 8) |
    src[pos + 9]!) >>> 0;
  if (hi >= 0x80000000) {
    throw new ProtocolError(
      "WS_LENGTH_TOP_BIT",
      1002,
      "64-bit payload length has its most significant bit set (RFC 6455 §5.2)",
    );
  }
  return hi * 0x100000000 + lo;
}

function rsvError(b0: number): ProtocolError {
  return new ProtocolError(
    "WS_RSV_BITS",
    1002,
    `RSV bits 0x${(b0 & 0x70).toString(16)} set but no extension was negotiated (RFC 6455 §5.2)`,
  );
}

function controlError(b0: number, b1: number): ProtocolError {
  const opcode = b0 & 0x0f;
  if (opcode > OP_PONG) {
    return new ProtocolError(
      "WS_RESERVED_OPCODE",
      1002,
      `reserved control opcode 0x${opcode.toString(16)} (RFC 6455 §5.2)`,
    );
  }
  if ((b0 & 0x80) === 0) {
    return new ProtocolError(
      "WS_FRAGMENTED_CONTROL",
      1002,
      `control frame 0x${opcode.toString(16)} is fragmented (RFC 6455 §5.5)`,
    );
  }
  return new ProtocolError(
    "WS_CONTROL_TOO_LONG",
    1002,
    `control frame payload of ${
      (b1 & 0x7f) === 126 ? "16-bit" : "64-bit"
    } length exceeds 125 bytes (RFC 6455 §5.5)`,
  );
}

function dataError(opcode: number, fragmented: boolean): ProtocolError {
  if (opcode > OP_BINARY) {
    return new ProtocolError(
      "WS_RESERVED_OPCODE",
      1002,
      `reserved data opcode 0x${opcode.toString(16)} (RFC 6455 §5.2)`,
    );
  }
  if (!fragmented) {
    return new ProtocolError(
      "WS_UNEXPECTED_CONTINUATION",
      1002,
      "continuation frame without a message to continue (RFC 6455 §5.4)",
    );
  }
  return new ProtocolError(
    "WS_EXPECTED_CONTINUATION",
    1002,
    `new data frame (opcode 0x${opcode.toString(16)}) inside a fragmented message (RFC 6455 §5.4)`,
  );
}

function maskError(server: boolean): ProtocolError {
  return server
    ? new ProtocolError("WS_UNMASKED_CLIENT_FRAME", 1002, "client frame is not masked (RFC 6455 §5.1)")
    : new ProtocolError("WS_MASKED_SERVER_FRAME", 1002, "server frame is masked (RFC 6455 §5.1)");
}
