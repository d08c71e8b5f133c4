import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  buildAcceptResponse,
  buildClientHandshake,
  buildRejectResponse,
  computeAccept,
  parseUpgradeRequest,
  validateServerHandshake,
} from "../../../src/core/ws/handshake.ts";
import { parseRequestHead, parseResponseHead } from "../../../src/core/http1/head.ts";
import { HandshakeError, HttpParseError } from "../../../src/core/errors.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const raw = (...lines: string[]) => te.encode(lines.join("\r\n") + "\r\n\r\n");
const fixedKey = (b: Uint8Array) => b.fill(7);

function request(...extra: string[]) {
  return parseRequestHead(raw(
    "GET /chat?room=1 HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...extra,
  ))!;
}

function expectHandshakeError(fn: () => unknown, code: string, status: number): HandshakeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HandshakeError, `expected HandshakeError ${code}, got ${e}`);
    assert.equal(e.code, code);
    assert.equal(e.status, status);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe("WebSocket opening handshake", () => {
  test("computeAccept gives the RFC 6455 §1.3 example", () => {
    assert.equal(computeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  test("buildClientHandshake writes a complete RFC 6455 §4.1 request", () => {
    const hs = buildClientHandshake({
      host: "example.com:8080",
      path: "/feed?x=1",
      protocols: ["v2.feed", "v1"],
      origin: "https://example.com",
      headers: { Authorization: "Bearer abc" },
      random: fixedKey,
    });
    assert.equal(hs.key, "BwcHBwcHBwcHBwcHBwcHBw==");
    assert.equal(hs.expectedAccept, computeAccept(hs.key));
    assert.equal(
      td.decode(hs.request),
      [
        "GET /feed?x=1 HTTP/1.1",
        "Host: example.com:8080",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: BwcHBwcHBwcHBwcHBwcHBw==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: v2.feed, v1",
        "Origin: https://example.com",
        "Authorization: Bearer abc",
        "",
        "",
      ].join("\r\n"),
    );
    const other = buildClientHandshake({ host: "a" });
    assert.notEqual(other.key, buildClientHandshake({ host: "a" }).key, "keys are random");
  });

  test("buildClientHandshake rejects header injection, bad tokens and owned headers", () => {
    assert.throws(
      () => buildClientHandshake({ host: "a", headers: { "X-A": "1\r\nEvil: 1" } }),
      TypeError,
    );
    assert.throws(() => buildClientHandshake({ host: "a\r\nEvil: 1" }), TypeError);
    assert.throws(
      () => buildClientHandshake({ host: "a", headers: [["Bad Name", "1"]] }),
      TypeError,
    );
    assert.throws(
      () => buildClientHandshake({ host: "a", headers: { "sec-websocket-key": "x" } }),
      /set by the WebSocket handshake/,
    );
    assert.throws(
      () => buildClientHandshake({ host: "a", protocols: ["a b"] }),
      /subprotocol must be an HTTP token/,
    );
    assert.throws(() => buildClientHandshake({ host: "a", protocols: ["a", "a"] }), /unique/);
    assert.throws(() => buildClientHandshake({ host: "a", path: "no-slash" }), TypeError);
    assert.throws(() => buildClientHandshake({ host: "a", path: "/a b" }), TypeError);
  });

  test("a full exchange: client request → server checks → 101 → client checks", () => {
    const hs = buildClientHandshake({
      host: "localhost:9001",
      path: "/x",
      protocols: ["chat", "superchat"],
    });
    const req = parseUpgradeRequest(parseRequestHead(hs.request)!);
    assert.equal(req.path, "/x");
    assert.deepEqual(req.protocols, ["chat", "superchat"]);
    const answer = buildAcceptResponse(req, {
      protocol: "superchat",
      headers: { "X-Server": "sluice" },
    });
    const result = validateServerHandshake(parseResponseHead(answer)!, hs);
    assert.deepEqual(result, { protocol: "superchat", extensions: "" });
  });

  test("validateServerHandshake accepts tokens case-insensitively and in lists", () => {
    const hs = buildClientHandshake({ host: "h", random: fixedKey });
    const head = parseResponseHead(raw(
      "HTTP/1.1 101 Switching Protocols",
      "upgrade: WebSocket",
      "connection: keep-alive, UPGRADE",
      `sec-websocket-accept: ${hs.expectedAccept}`,
    ))!;
    assert.deepEqual(validateServerHandshake(head, hs), { protocol: "", extensions: "" });
  });

  test("validateServerHandshake rejects every bad answer with status and headers kept", () => {
    const hs = buildClientHandshake({ host: "h", protocols: ["a"], random: fixedKey });
    const ok = [
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${hs.expectedAccept}`,
    ];
    const check = (status: string, lines: string[], code: string, statusCode: number) => {
      const e = expectHandshakeError(
        () => validateServerHandshake(parseResponseHead(raw(status, ...lines))!, hs),
        code,
        statusCode,
      );
      return e;
    };
    const e = check(
      "HTTP/1.1 403 Forbidden",
      ["X-Why: banned", "Content-Length: 0"],
      "WS_HANDSHAKE_STATUS",
      403,
    );
    assert.equal(e.headers.get("x-why"), "banned");
    assert.match(e.message, /expected status 101, got 403 Forbidden/);
    check(
      "HTTP/1.1 101 OK",
      ok.filter((l) => !l.startsWith("Upgrade")),
      "WS_HANDSHAKE_UPGRADE",
      101,
    );
    check("HTTP/1.1 101 OK", ["Upgrade: h2c", ...ok.slice(1)], "WS_HANDSHAKE_UPGRADE", 101);
    check(
      "HTTP/1.1 101 OK",
      [ok[0], "Connection: keep-alive", ok[2]],
      "WS_HANDSHAKE_CONNECTION",
      101,
    );
    check("HTTP/1.1 101 OK", ok.slice(0, 2), "WS_HANDSHAKE_ACCEPT", 101);
    check(
      "HTTP/1.1 101 OK",
      [...ok.slice(0, 2), "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
      "WS_HANDSHAKE_ACCEPT",
      101,
    );
    check("HTTP/1.1 101 OK", [...ok, "Sec-WebSocket-Protocol: b"], "WS_HANDSHAKE_PROTOCOL", 101);
    check("HTTP/1.1 101 OK", [...ok, "Sec-WebSocket-Protocol: a, a"], "WS_HANDSHAKE_PROTOCOL", 101);
    check(
      "HTTP/1.1 101 OK",
      [...ok, "Sec-WebSocket-Extensions: permessage-deflate"],
      "WS_HANDSHAKE_EXTENSION",
      101,
    );
  });

  test("parseUpgradeRequest answers each bad request with the right status", () => {
    const base = [
      "Host: h",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
    ];
    const without = (prefix: string) => base.filter((l) => !l.startsWith(prefix));
    const check = (start: string, lines: string[], code: string, status: number) =>
      expectHandshakeError(
        () => parseUpgradeRequest(parseRequestHead(raw(start, ...lines))!),
        code,
        status,
      );
    assert.equal(
      check("POST / HTTP/1.1", base, "WS_UPGRADE_METHOD", 405).headers.get("allow"),
      "GET",
    );
    check("GET / HTTP/1.0", base, "WS_UPGRADE_VERSION", 400);
    check("GET / HTTP/1.1", without("Host"), "WS_UPGRADE_HOST", 400);
    check("GET / HTTP/1.1", without("Upgrade"), "WS_UPGRADE_REQUIRED", 426);
    check("GET / HTTP/1.1", [...without("Upgrade"), "Upgrade: h2c"], "WS_UPGRADE_UPGRADE", 400);
    check(
      "GET / HTTP/1.1",
      [...without("Connection"), "Connection: keep-alive"],
      "WS_UPGRADE_CONNECTION",
      400,
    );
    const v = check(
      "GET / HTTP/1.1",
      [...without("Sec-WebSocket-Version"), "Sec-WebSocket-Version: 8"],
      "WS_UPGRADE_WS_VERSION",
      426,
    );
    assert.equal(v.headers.get("sec-websocket-version"), "13");
    check("GET / HTTP/1.1", without("Sec-WebSocket-Version"), "WS_UPGRADE_WS_VERSION", 426);
    check(
      "GET / HTTP/1.1",
      [...without("Sec-WebSocket-Key"), "Sec-WebSocket-Key: c2hvcnQ="],
      "WS_UPGRADE_KEY",
      400,
    );
    check(
      "GET / HTTP/1.1",
      [...without("Sec-WebSocket-Key"), "Sec-WebSocket-Key: !!!"],
      "WS_UPGRADE_KEY",
      400,
    );
    check("GET / HTTP/1.1", without("Sec-WebSocket-Key"), "WS_UPGRADE_KEY", 400);
    check(
      "GET / HTTP/1.1",
      [...base, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="],
      "WS_UPGRADE_KEY",
      400,
    );
    check("GET / HTTP/1.1", [...base, "Sec-WebSocket-Protocol: a b"], "WS_UPGRADE_PROTOCOL", 400);
  });

  test("parseUpgradeRequest exposes path, origin, protocols and extensions", () => {
    const req = parseUpgradeRequest(
      request(
        "Origin: https://app.example",
        "Sec-WebSocket-Protocol: a, b",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
      ),
    );
    assert.equal(req.path, "/chat?room=1");
    assert.equal(req.host, "server.example.com");
    assert.equal(req.origin, "https://app.example");
    assert.deepEqual(req.protocols, ["a", "b"]);
    assert.deepEqual(req.extensions, ["permessage-deflate; client_max_window_bits"]);
    assert.equal(parseUpgradeRequest(request()).origin, null);
  });

  test("buildAcceptResponse writes the RFC 6455 §1.3 answer and refuses a protocol not offered", () => {
    const req = parseUpgradeRequest(request("Sec-WebSocket-Protocol: chat"));
    assert.equal(
      td.decode(buildAcceptResponse(req, { protocol: "chat" })),
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
    );
    assert.throws(() => buildAcceptResponse(req, { protocol: "other" }), /was not offered/);
    assert.throws(
      () => buildAcceptResponse(req, { headers: { "Sec-WebSocket-Accept": "x" } }),
      TypeError,
    );
  });

  test("buildRejectResponse writes a closed, sized text response", () => {
    const bytes = buildRejectResponse(426, {
      headers: { "Sec-WebSocket-Version": "13" },
      body: "only 13",
    });
    const head = parseResponseHead(bytes)!;
    assert.equal(head.status, 426);
    assert.equal(head.reason, "Upgrade Required");
    assert.equal(head.headers.get("connection"), "close");
    assert.equal(head.headers.get("sec-websocket-version"), "13");
    assert.equal(head.headers.get("content-length"), "7");
    assert.equal(td.decode(bytes.subarray(head.headLength)), "only 13");
    assert.throws(() => buildRejectResponse(200), RangeError);
    assert.throws(() => buildRejectResponse(400, { reason: "a\r\nb" }), TypeError);
  });

  test("the upgrade head is bounded: too many or too large header fields fail (431)", () => {
    const many = Array.from({ length: 150 }, (_, i) => `X-${i}: v`);
    assert.throws(
      () => parseRequestHead(raw("GET / HTTP/1.1", "Host: h", ...many)),
      (e) => e instanceof HttpParseError && e.status === 431,
    );
    const big = raw("GET / HTTP/1.1", "Host: h", `X-Big: ${"a".repeat(20_000)}`);
    assert.throws(
      () => parseRequestHead(big),
      (e) => e instanceof HttpParseError && e.status === 431,
    );
    // Still bounded when the terminator has not arrived yet.
    const partial = te.encode("GET / HTTP/1.1\r\nX-Big: " + "a".repeat(20_000));
    assert.throws(
      () => parseRequestHead(partial),
      (e) => e instanceof HttpParseError && e.status === 431,
    );
  });
});
