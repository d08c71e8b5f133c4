import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpParseError } from "../../../src/core/errors.ts";
import {
  HttpHeaders,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "../../../src/core/http1/head.ts";
import { bytes, chunkings, crlf } from "../../_helpers/http1_raw.ts";
import { concat, prng, randomInt } from "../../_helpers/prng.ts";

type Parse<T> = (buf: Uint8Array) => T | null;

// Feeds growing prefixes the way a reader would; returns the first head parsed.
function feed<T>(parse: Parse<T>, pieces: Uint8Array[]): T | null {
  const all = concat(pieces);
  let filled = 0;
  for (const p of pieces) {
    filled += p.length;
    const head = parse(all.subarray(0, filled));
    if (head !== null) return head;
  }
  return null;
}

function plain(h: RequestHead | ResponseHead): unknown {
  return { ...h, headers: [...h.headers] };
}

// Every chunking gives the same head as the whole input.
function assertParses<T extends RequestHead | ResponseHead>(parse: Parse<T>, input: Uint8Array): T {
  const whole = parse(input);
  assert.ok(whole !== null, "whole input should parse");
  for (const c of chunkings(input)) {
    const got = feed(parse, c.pieces);
    assert.ok(got !== null, c.name);
    assert.deepEqual(plain(got), plain(whole), c.name);
  }
  return whole;
}

// Every chunking throws the same code (and status) as the whole input.
function assertRejects(
  parse: Parse<unknown>,
  input: Uint8Array,
  code: string,
  status?: number,
): void {
  for (const c of chunkings(input)) {
    assert.throws(() => feed(parse, c.pieces), (e: unknown) => {
      assert.ok(e instanceof HttpParseError, `${c.name}: ${e}`);
      assert.equal(e.code, code, `${c.name}: ${e.message}`);
      if (status !== undefined) assert.equal(e.status, status, c.name);
      return true;
    });
  }
}

const req = (b: Uint8Array) => parseRequestHead(b);
const res = (b: Uint8Array) => parseResponseHead(b);

describe("http1 head", () => {
  test("parseRequestHead reads method, target, version and fields, leaving the body", () => {
    const input = crlf("POST /api/items?x=1&y=%20 HTTP/1.1", "Host: example.com",
      "Content-Type: application/json", "Content-Length: 2", "", "{}");
    const head = assertParses(req, input);
    assert.equal(head.method, "POST");
    assert.equal(head.target, "/api/items?x=1&y=%20");
    assert.equal(head.version, "1.1");
    assert.equal(head.headers.get("content-type"), "application/json");
    assert.equal(head.headLength, input.length - 2);
    assert.equal(parseRequestHead(input.subarray(0, head.headLength - 1)), null);
  });

  test("parseResponseHead keeps repeated fields in order; set-cookie get() gives the first", () => {
    const input = crlf("HTTP/1.1 200 OK", "Vary: a", "Set-Cookie: s=1", "X-Empty:",
      "vary:   b  ", "set-cookie: t=2", "Content-Length: 5", "", "hello");
    const head = assertParses(res, input);
    assert.equal(head.status, 200);
    assert.equal(head.reason, "OK");
    assert.equal(head.headers.size, 6);
    assert.equal(head.headers.get("VARY"), "a, b");
    assert.deepEqual(head.headers.getAll("Vary"), ["a", "b"]);
    assert.equal(head.headers.get("set-cookie"), "s=1");
    assert.equal(head.headers.get("x-empty"), "");
    assert.equal(head.headers.get("missing"), null);
    assert.ok(head.headers.has("Content-Length"));
    assert.deepEqual([...head.headers].map(([n]) => n),
      ["vary", "set-cookie", "x-empty", "vary", "set-cookie", "content-length"]);
    const h = head.headers.toHeaders();
    assert.equal(h.get("vary"), "a, b");
    assert.deepEqual(h.getSetCookie(), ["s=1", "t=2"]);
  });

  test("a status line may omit the reason phrase and its space", () => {
    for (const line of ["HTTP/1.1 204", "HTTP/1.1 204 "]) {
      const head = assertParses(res, crlf(line, "", ""));
      assert.equal(head.status, 204);
      assert.equal(head.reason, "");
    }
    assert.equal(assertParses(res, crlf("HTTP/1.0 599 Odd, but fine", "", "")).version, "1.0");
  });

  test("obs-text in values decodes as latin1, not windows-1252", () => {
    const head = assertParses(res, bytes("HTTP/1.1 200 \xe9t\xe9\r\nX-A: caf\xe9 \x80\x9f\xff\r\n\r\n"));
    assert.equal(head.headers.get("x-a"), "caf\u00e9 \u0080\u009f\u00ff");
    assert.equal(head.reason, "\u00e9t\u00e9");
  });

  test("bare LF ends lines in responses but is rejected in requests (RFC 9112 §2.2)", () => {
    const head = assertParses(res, bytes("HTTP/1.1 200 OK\nA: 1\r\nB: 2\n\nbody"));
    assert.equal(head.headers.get("b"), "2");
    assert.equal(head.headLength, "HTTP/1.1 200 OK\nA: 1\r\nB: 2\n\n".length);
    assertRejects(req, bytes("GET / HTTP/1.1\nHost: a\r\n\r\n"), "HTTP_BARE_LF", 400);
    assertRejects(req, bytes("GET / HTTP/1.1\r\nHost: a\r\n\n"), "HTTP_BARE_LF", 400);
  });

  test("CR not followed by LF is rejected anywhere", () => {
    for (const s of ["GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", "GET /\r HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nA\r: x\r\n\r\n", "GET / HTTP/1.1\r\nA: 1\r\r\n\r\n", "\rGET / HTTP/1.1\r\n\r\n"]) {
      assertRejects(req, bytes(s), "HTTP_BARE_CR", 400);
    }
    assertRejects(res, bytes("HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n"), "HTTP_BARE_CR", 502);
    assertRejects(res, bytes("HTTP/1.1 200 O\rK\r\n\r\n"), "HTTP_BARE_CR", 502);
  });

  test("obsolete line folding and whitespace before the first field are rejected", () => {
    assertRejects(req, crlf("GET / HTTP/1.1", "A: 1", " 2", "", ""), "HTTP_OBS_FOLD", 400);
    assertRejects(req, crlf("GET / HTTP/1.1", "A: 1", "\t2", "", ""), "HTTP_OBS_FOLD", 400);
    assertRejects(req, crlf("GET / HTTP/1.1", " A: 1", "", ""), "HTTP_OBS_FOLD", 400);
    assertRejects(res, crlf("HTTP/1.1 200 OK", "A: 1", " 2", "", ""), "HTTP_OBS_FOLD", 502);
  });

  test("field names must be tokens followed directly by a colon (RFC 9112 §5.1)", () => {
    assertRejects(req, crlf("GET / HTTP/1.1", "Host : a", "", ""), "HTTP_BAD_HEADER_NAME");
    assertRejects(req, crlf("GET / HTTP/1.1", "Ho(st: a", "", ""), "HTTP_BAD_HEADER_NAME");
    assertRejects(req, crlf("GET / HTTP/1.1", ": a", "", ""), "HTTP_BAD_HEADER_NAME");
    assertRejects(req, crlf("GET / HTTP/1.1", "NoColon", "", ""), "HTTP_BAD_HEADER");
    assertRejects(req, bytes("GET / HTTP/1.1\r\nA\x00b: 1\r\n\r\n"), "HTTP_BAD_HEADER_NAME");
    assertRejects(req, bytes("GET / HTTP/1.1\r\nH\xe9: 1\r\n\r\n"), "HTTP_BAD_HEADER_NAME");
  });

  test("NUL and control bytes in field values are rejected", () => {
    for (const s of ["A: x\x00y", "A: x\x01", "A: \x7f", "A: x\x1by"]) {
      assertRejects(req, bytes(`GET / HTTP/1.1\r\n${s}\r\n\r\n`), "HTTP_BAD_HEADER_VALUE", 400);
    }
    assert.equal(parseRequestHead(bytes("GET / HTTP/1.1\r\nA: \tx\ty\t\r\n\r\n"))!
      .headers.get("a"), "x\ty");
  });

  test("malformed request lines are rejected with the right code", () => {
    const cases: [string, string][] = [
      ["GET  / HTTP/1.1", "HTTP_BAD_REQUEST_LINE"],
      ["GET / HTTP/1.1 ", "HTTP_BAD_REQUEST_LINE"],
      ["GET /", "HTTP_BAD_REQUEST_LINE"],
      ["GET / http/1.1", "HTTP_BAD_REQUEST_LINE"],
      ["GET / HTTP/1", "HTTP_BAD_REQUEST_LINE"],
      [" GET / HTTP/1.1", "HTTP_BAD_REQUEST_LINE"],
      ["G(T / HTTP/1.1", "HTTP_BAD_METHOD"],
      ["GET /a\x7fb HTTP/1.1", "HTTP_BAD_TARGET"],
      ["GET /\xe9 HTTP/1.1", "HTTP_BAD_TARGET"],
      ["GET\t/ HTTP/1.1", "HTTP_BAD_METHOD"],
    ];
    for (const [line, code] of cases) {
      assertRejects(req, bytes(line + "\r\nHost: a\r\n\r\n"), code, 400);
    }
  });

  test("versions: 1.x above 1.1 reads as 1.1, other majors get 505 (RFC 9112 §2.3)", () => {
    assert.equal(parseRequestHead(crlf("GET / HTTP/1.0", "", ""))!.version, "1.0");
    assert.equal(parseRequestHead(crlf("GET / HTTP/1.9", "", ""))!.version, "1.1");
    assertRejects(req, crlf("GET / HTTP/2.0", "", ""), "HTTP_VERSION_NOT_SUPPORTED", 505);
    assertRejects(res, crlf("HTTP/2.0 200 OK", "", ""), "HTTP_VERSION_NOT_SUPPORTED", 502);
  });

  test("malformed status lines are rejected", () => {
    for (const line of ["HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 abc OK", "HTTP/1.1 099 X",
      "HTTP/1.1  200 OK", "HTTP/1.1", "", "ICY 200 OK", "HTTP/1.1 200 A\x00B", "HTTP/1.1 200\tOK"]) {
      assertRejects(res, bytes(line + "\r\nA: 1\r\n\r\n"), "HTTP_BAD_STATUS_LINE", 502);
    }
  });

  test("empty lines before a request line are skipped (RFC 9112 §2.2)", () => {
    const input = crlf("", "", "GET / HTTP/1.1", "Host: a", "", "");
    const head = assertParses(req, input);
    assert.equal(head.method, "GET");
    assert.equal(head.headLength, input.length);
  });

  test("an over-long head is rejected before its end arrives (431)", () => {
    const endless = bytes("GET /" + "a".repeat(20_000));
    assertRejects(req, endless, "HTTP_HEAD_TOO_LARGE", 431);
    const manyLines = bytes("HTTP/1.1 200 OK\r\n" + `X: ${"1".repeat(999)}\r\n`.repeat(20));
    assertRejects(res, manyLines, "HTTP_HEAD_TOO_LARGE");
    // The limit counts the final CRLFCRLF: a head of exactly max bytes parses, one more fails.
    const head = crlf("GET / HTTP/1.1", "A: " + "b".repeat(100), "", "");
    assert.ok(parseRequestHead(head, { maxHeaderBytes: head.length }));
    assert.throws(() => parseRequestHead(head, { maxHeaderBytes: head.length - 1 }),
      (e: unknown) => e instanceof HttpParseError && e.code === "HTTP_HEAD_TOO_LARGE");
    // A buffer of exactly max bytes without the terminator can never become valid.
    assert.throws(() => parseRequestHead(head.subarray(0, 40), { maxHeaderBytes: 40 }),
      (e: unknown) => e instanceof HttpParseError && e.status === 431);
    assert.equal(parseRequestHead(head.subarray(0, 39), { maxHeaderBytes: 40 }), null);
  });

  test("too many fields are rejected before the head ends (431)", () => {
    const lines = ["GET / HTTP/1.1"];
    for (let i = 0; i < 101; i++) lines.push(`X-${i}: ${i}`);
    assertRejects(req, crlf(...lines, ""), "HTTP_TOO_MANY_HEADERS", 431);
    assert.equal(parseRequestHead(crlf(...lines.slice(0, 101), "", ""))!.headers.size, 100);
    assert.throws(() => parseRequestHead(crlf("GET / HTTP/1.1", "A: 1", "B: 2", "", ""),
      { maxHeaderCount: 1 }), (e: unknown) => e instanceof HttpParseError && e.status === 431);
  });

  test("invalid limits are a RangeError naming the value", () => {
    assert.throws(() => parseRequestHead(new Uint8Array(0), { maxHeaderBytes: -1 }),
      /maxHeaderBytes must be .*got -1/);
    assert.throws(() => parseResponseHead(new Uint8Array(0), { maxHeaderCount: 1.5 }),
      /maxHeaderCount must be .*got 1.5/);
  });

  test("HttpHeaders validates pairs given to its constructor", () => {
    const h = new HttpHeaders([["Accept", "a"], ["accept", "b"]]);
    assert.equal(h.get("ACCEPT"), "a, b");
    assert.throws(() => new HttpHeaders([["Bad Name", "x"]]), TypeError);
    assert.throws(() => new HttpHeaders([["X", "a\r\nInjected: 1"]]), TypeError);
  });

  test("fuzz: mutated heads parse or raise HttpParseError, nothing else", () => {
    const base = crlf("HTTP/1.1 200 OK", "Content-Length: 3", "Vary: a", "", "abc");
    const baseReq = crlf("PUT /x HTTP/1.1", "Host: h", "Content-Length: 3", "", "abc");
    const alphabet = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x7f, 0xff, 0x41, 0x31];
    const rand = prng(42);
    for (let n = 0; n < 2000; n++) {
      const input = (n % 2 === 0 ? base : baseReq).slice();
      for (let k = randomInt(rand, 1, 3); k > 0; k--) {
        input[randomInt(rand, 0, input.length - 1)] = rand() < 0.7
          ? alphabet[randomInt(rand, 0, alphabet.length - 1)]
          : randomInt(rand, 0, 255);
      }
      for (const parse of [req, res]) {
        try {
          const head = parse(input);
          if (head) assert.ok(head.headLength <= input.length);
        } catch (e) {
          assert.ok(e instanceof HttpParseError, `unexpected ${e}`);
        }
      }
    }
  });
});
