import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseResponseHead } from "../../../src/core/http1/head.ts";
import { ResponseReader } from "../../../src/core/http1/response_reader.ts";
import { buildResponseHead, isBodylessStatus } from "../../../src/core/http1/response_writer.ts";
import { encodeChunk, LAST_CHUNK } from "../../../src/core/http1/chunked.ts";
import { collect } from "../../_helpers/http1_raw.ts";

/** One character per byte, so every byte the writer produced is visible. */
const text = (b: Uint8Array): string => String.fromCharCode(...b);
const lines = (...l: string[]): string => l.join("\r\n");

describe("http1 buildResponseHead framing", () => {
  test("a fixed-length body gets Content-Length after the caller's fields", () => {
    const head = buildResponseHead({
      status: 200,
      headers: { "Content-Type": "application/json" },
      body: { length: 11 },
    });
    assert.equal(
      text(head),
      lines("HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: 11", "", ""),
    );
  });

  test("a chunked body gets Transfer-Encoding: chunked and no Content-Length", () => {
    const head = buildResponseHead({ status: 201, body: "chunked" });
    assert.equal(text(head), lines("HTTP/1.1 201 Created", "Transfer-Encoding: chunked", "", ""));
  });

  test("a body until the close has no length and always says Connection: close", () => {
    assert.equal(
      text(buildResponseHead({ status: 200, body: "until-close" })),
      lines("HTTP/1.1 200 OK", "Connection: close", "", ""),
    );
    // keepAlive: false as well: still one Connection field.
    assert.equal(
      text(buildResponseHead({ status: 200, body: "until-close", keepAlive: false })),
      lines("HTTP/1.1 200 OK", "Connection: close", "", ""),
    );
    // keepAlive: true cannot override it: the body's end is the close.
    assert.equal(
      text(buildResponseHead({ status: 200, body: "until-close", keepAlive: true })),
      lines("HTTP/1.1 200 OK", "Connection: close", "", ""),
    );
  });

  test("no body on a 200 says Content-Length: 0 so the client does not wait for the close", () => {
    assert.equal(
      text(buildResponseHead({ status: 200, body: "none" })),
      lines("HTTP/1.1 200 OK", "Content-Length: 0", "", ""),
    );
  });

  test("204, 304 and 1xx carry neither Content-Length nor Transfer-Encoding (RFC 9110 §8.6)", () => {
    assert.equal(text(buildResponseHead({ status: 204, body: "none" })), lines("HTTP/1.1 204 No Content", "", ""));
    assert.equal(
      text(buildResponseHead({ status: 304, headers: { ETag: '"v1"' }, body: "none" })),
      lines("HTTP/1.1 304 Not Modified", 'ETag: "v1"', "", ""),
    );
    assert.equal(text(buildResponseHead({ status: 100, body: "none" })), lines("HTTP/1.1 100 Continue", "", ""));
    assert.equal(
      text(buildResponseHead({ status: 101, headers: { Upgrade: "websocket" }, body: "none" })),
      lines("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "", ""),
    );
  });

  test("keepAlive false adds Connection: close; keepAlive true or absent adds nothing", () => {
    assert.equal(
      text(buildResponseHead({ status: 200, body: { length: 0 }, keepAlive: false })),
      lines("HTTP/1.1 200 OK", "Content-Length: 0", "Connection: close", "", ""),
    );
    assert.equal(
      text(buildResponseHead({ status: 404, body: "chunked", keepAlive: false })),
      lines("HTTP/1.1 404 Not Found", "Transfer-Encoding: chunked", "Connection: close", "", ""),
    );
    assert.equal(
      text(buildResponseHead({ status: 204, body: "none", keepAlive: false })),
      lines("HTTP/1.1 204 No Content", "Connection: close", "", ""),
    );
    for (const keepAlive of [true, undefined]) {
      assert.doesNotMatch(text(buildResponseHead({ status: 200, body: { length: 1 }, keepAlive })), /Connection/i);
    }
  });

  test("a zero length and a large length are written as decimal", () => {
    assert.match(text(buildResponseHead({ status: 200, body: { length: 0 } })), /\r\nContent-Length: 0\r\n\r\n$/);
    const big = Number.MAX_SAFE_INTEGER;
    assert.match(text(buildResponseHead({ status: 200, body: { length: big } })), new RegExp(`Content-Length: ${big}\r\n`));
  });

  test("a chunked head and encodeChunk/LAST_CHUNK read back as the body through ResponseReader", () => {
    const enc = new TextEncoder();
    const head = buildResponseHead({ status: 200, headers: [["X-A", "1"], ["x-a", "2"]], body: "chunked" });
    const wire = new Uint8Array([...head, ...encodeChunk(enc.encode("hello ")), ...encodeChunk(enc.encode("world")), ...LAST_CHUNK]);
    const reader = new ResponseReader();
    reader.expect("GET");
    const events = collect(reader, [wire]);
    assert.equal(events[0]!.type, "head");
    assert.deepEqual((events[0]!.head as { headers: [string, string][] }).headers, [
      ["x-a", "1"],
      ["x-a", "2"],
      ["transfer-encoding", "chunked"],
    ]);
    assert.deepEqual(events.slice(1), [{ type: "body", body: "hello world" }, { type: "end", keepAlive: true }]);
  });

  test("every head it writes parses back with the same status, reason and fields", () => {
    const cases: { status: number; statusText?: string; body: "none" | "chunked" | { length: number } }[] = [
      { status: 200, body: { length: 3 } },
      { status: 418, statusText: "I'm a teapot", body: "none" },
      { status: 599, body: "chunked" },
      { status: 204, body: "none" },
    ];
    for (const c of cases) {
      const head = parseResponseHead(buildResponseHead({ ...c, headers: { "X-Req": "abc  def" } }));
      assert.ok(head, `status ${c.status} parses`);
      assert.equal(head.status, c.status);
      assert.equal(head.headers.get("x-req"), "abc  def");
      if (c.statusText !== undefined) assert.equal(head.reason, c.statusText);
    }
  });
});

describe("http1 buildResponseHead reason phrase", () => {
  test("the standard reason is used by default; unknown statuses get an empty one", () => {
    assert.match(text(buildResponseHead({ status: 413, body: "none" })), /^HTTP\/1\.1 413 Content Too Large\r\n/);
    assert.match(text(buildResponseHead({ status: 431, body: "none" })), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    // RFC 9112 §4: the SP before an empty reason-phrase is still required.
    assert.match(text(buildResponseHead({ status: 299, body: "none" })), /^HTTP\/1\.1 299 \r\n/);
  });

  test("a given reason replaces the standard one; HTAB, SP and obs-text are allowed", () => {
    assert.match(text(buildResponseHead({ status: 200, statusText: "Fine\tThanks", body: "none" })), /^HTTP\/1\.1 200 Fine\tThanks\r\n/);
    assert.match(text(buildResponseHead({ status: 200, statusText: "caf\xe9", body: "none" })), /^HTTP\/1\.1 200 caf\xe9\r\n/);
    assert.match(text(buildResponseHead({ status: 200, statusText: "", body: "none" })), /^HTTP\/1\.1 200 \r\n/);
  });

  test("a reason with CR, LF, NUL, DEL, other controls or non-latin1 text is refused", () => {
    for (const statusText of ["OK\r\nX-Injected: 1", "OK\n", "O\rK", "O\0K", "O\x7fK", "O\x01K", "O\u0100K", "😀"]) {
      assert.throws(
        () => buildResponseHead({ status: 200, statusText, body: "none" }),
        (e: unknown) => e instanceof TypeError && /statusText must be visible text/.test(e.message),
        JSON.stringify(statusText),
      );
    }
  });

  test("a reason that is not a string is refused", () => {
    for (const statusText of [5, {}, true] as unknown as string[]) {
      assert.throws(() => buildResponseHead({ status: 200, statusText, body: "none" }), TypeError, String(statusText));
    }
  });
});

describe("http1 buildResponseHead status", () => {
  test("statuses 100 and 599 are the bounds (RFC 9110 §15: valid codes are 100–599)", () => {
    assert.match(text(buildResponseHead({ status: 100, body: "none" })), /^HTTP\/1\.1 100 /);
    assert.match(text(buildResponseHead({ status: 599, body: "none" })), /^HTTP\/1\.1 599 /);
  });

  test("a status outside 100–599, or not an integer, is a RangeError naming it", () => {
    const bad = [0, 99, 600, 999, 1000, -200, 200.5, NaN, Infinity, "200", null, undefined, 2e3] as unknown as number[];
    for (const status of bad) {
      assert.throws(
        () => buildResponseHead({ status, body: "none" }),
        (e: unknown) => e instanceof RangeError && e.message.includes(`got ${String(status)}`),
        String(status),
      );
    }
  });

  test("a missing init is a RangeError, not a crash on undefined", () => {
    assert.throws(() => buildResponseHead(undefined as unknown as { status: number; body: "none" }), RangeError);
  });
});

describe("http1 buildResponseHead fields (no injection)", () => {
  test("CR, LF or NUL in a value is refused, in a record, pairs and Headers", () => {
    for (const value of ["1\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b", "\r\n\r\nHTTP/1.1 200 OK"]) {
      assert.throws(() => buildResponseHead({ status: 200, headers: { "X-A": value }, body: "none" }), TypeError);
      assert.throws(() => buildResponseHead({ status: 200, headers: [["X-A", value]], body: "none" }), TypeError);
    }
    // Web Headers refuse CR/LF themselves; the writer refuses what gets past them.
    assert.throws(() => buildResponseHead({ status: 200, headers: [["X-A", "\u0100"]], body: "none" }), TypeError);
  });

  test("a name that is not a token is refused", () => {
    for (const name of ["", "X A", "X:A", "X\r\nY", "X\0", "é", "(x)", "a/b", "X\tA"]) {
      assert.throws(
        () => buildResponseHead({ status: 200, headers: [[name, "1"]], body: "none" }),
        TypeError,
        JSON.stringify(name),
      );
    }
  });

  test("a value that is not a string is refused", () => {
    const headers = [["X-N", 5]] as unknown as [string, string][];
    assert.throws(() => buildResponseHead({ status: 200, headers, body: "none" }), TypeError);
  });

  test("framing and connection fields are the writer's: setting them is an error", () => {
    for (const name of ["Content-Length", "transfer-encoding", "CONNECTION"]) {
      const forms = [{ [name]: "x" }, [[name, "x"] as [string, string]], new Headers({ [name]: "x" })];
      for (const headers of forms) {
        assert.throws(
          () => buildResponseHead({ status: 200, headers, body: { length: 1 } }),
          (e: unknown) => e instanceof TypeError && e.message.toLowerCase().includes(name.toLowerCase()),
          `${name} as ${Array.isArray(headers) ? "pairs" : headers instanceof Headers ? "Headers" : "record"}`,
        );
      }
    }
  });

  test("fields from a Headers, a record, pairs and a one-shot iterable are all written", () => {
    const expected = lines("HTTP/1.1 200 OK", "x-a: 1", "x-b: 2", "Content-Length: 0", "", "");
    assert.equal(text(buildResponseHead({ status: 200, headers: new Headers([["X-A", "1"], ["X-B", "2"]]), body: "none" })), expected);
    assert.equal(text(buildResponseHead({ status: 200, headers: { "x-a": "1", "x-b": "2" }, body: "none" })), expected);
    assert.equal(text(buildResponseHead({ status: 200, headers: [["x-a", "1"], ["x-b", "2"]], body: "none" })), expected);
    // Regression: a generator was consumed by the framing-field check, so its fields vanished.
    function* gen(): Generator<[string, string]> {
      yield ["x-a", "1"];
      yield ["x-b", "2"];
    }
    assert.equal(text(buildResponseHead({ status: 200, headers: gen(), body: "none" })), expected);
    const map = new Map([["x-a", "1"], ["x-b", "2"]]);
    assert.equal(text(buildResponseHead({ status: 200, headers: map, body: "none" })), expected);
  });

  test("values are trimmed of surrounding whitespace; inner whitespace and obs-text are kept", () => {
    assert.equal(
      text(buildResponseHead({ status: 200, headers: [["X-A", "  a \t b  "], ["X-B", "caf\xe9"]], body: "none" })),
      lines("HTTP/1.1 200 OK", "X-A: a \t b", "X-B: caf\xe9", "Content-Length: 0", "", ""),
    );
  });

  test("a refused field produces no bytes at all (it throws before anything is returned)", () => {
    let out: Uint8Array | null = null;
    try {
      out = buildResponseHead({ status: 200, headers: [["X-Ok", "1"], ["X-Bad", "a\r\nb"]], body: "none" });
    } catch (e) {
      assert.ok(e instanceof TypeError);
    }
    assert.equal(out, null);
  });
});

describe("http1 buildResponseHead body", () => {
  test("a body on 1xx, 204 or 304 is a TypeError", () => {
    for (const status of [100, 101, 103, 204, 304]) {
      for (const body of [{ length: 0 }, { length: 5 }, "chunked", "until-close"] as const) {
        assert.throws(
          () => buildResponseHead({ status, body }),
          (e: unknown) => e instanceof TypeError && e.message.includes(`${status}`),
          `${status} ${JSON.stringify(body)}`,
        );
      }
    }
  });

  test("a length that is not a non-negative safe integer is a RangeError", () => {
    for (const length of [-1, 1.5, NaN, Infinity, 2 ** 53, "5"] as unknown as number[]) {
      assert.throws(() => buildResponseHead({ status: 200, body: { length } }), RangeError, String(length));
    }
  });

  test("an unknown body kind is a TypeError", () => {
    for (const body of ["close", "", undefined, null, 5] as unknown as "none"[]) {
      assert.throws(() => buildResponseHead({ status: 200, body }), TypeError, String(body));
    }
  });
});

describe("http1 isBodylessStatus", () => {
  test("1xx, 204 and 304 have no body; everything else may (RFC 9110 §6.4.1)", () => {
    for (const s of [100, 101, 102, 103, 199, 204, 304]) assert.equal(isBodylessStatus(s), true, String(s));
    for (const s of [200, 201, 202, 203, 205, 206, 299, 300, 301, 302, 303, 305, 307, 400, 404, 413, 500, 599]) {
      assert.equal(isBodylessStatus(s), false, String(s));
    }
  });
});
