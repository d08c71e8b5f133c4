import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionClosed,
  HandshakeError,
  ProtocolError,
  SluiceError,
  TimeoutError,
} from "../../src/core/errors.ts";

describe("errors", () => {
  test("ProtocolError carries its code, close code and fault side", () => {
    const e = new ProtocolError("WS_RESERVED_OPCODE", 1002, "reserved opcode 0x3");
    assert.equal(e.code, "WS_RESERVED_OPCODE");
    assert.equal(e.closeCode, 1002);
    assert.equal(e.remote, true);
    assert.equal(e.name, "ProtocolError");
    assert.ok(e instanceof ProtocolError);
    assert.ok(e instanceof SluiceError);
    assert.ok(e instanceof Error);
    assert.ok(!(e instanceof HandshakeError));
  });

  test("instanceof works across copies through the Symbol.for brand", () => {
    // A plain object branded the way another loaded copy would brand its errors.
    const foreign = Object.assign(new Error("x"), {
      [Symbol.for("@sluice/net.error")]: true,
      [Symbol.for("@sluice/net.error.kind")]: ["TimeoutError", "SluiceError"],
    });
    assert.ok(foreign instanceof TimeoutError);
    assert.ok(foreign instanceof SluiceError);
    assert.ok(!(foreign instanceof ConnectionClosed));
    assert.ok(!(new Error("plain") instanceof SluiceError));
  });

  test("retryable and cause are kept", () => {
    const cause = new Error("ECONNRESET");
    const e = new ConnectionClosed("CONNECTION_CLOSED", "closed", { cause, retryable: true });
    assert.equal(e.retryable, true);
    assert.equal(e.cause, cause);
    assert.equal(new TimeoutError("T", "t").retryable, false);
  });

  test("HandshakeError defaults status, headers and body start", () => {
    const e = new HandshakeError("WS_HANDSHAKE_STATUS", "expected 101, got nothing");
    assert.equal(e.status, 0);
    assert.equal(e.bodyStart.length, 0);
    assert.equal([...e.headers].length, 0);
  });
});
