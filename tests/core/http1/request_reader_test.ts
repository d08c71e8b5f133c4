import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpParseError } from "../../../src/core/errors.ts";
import { isUpgradeRequest, RequestReader } from "../../../src/core/http1/request_reader.ts";
import { RequestWriter } from "../../../src/core/http1/request_writer.ts";
import { chunkings, collect, crlf, type Flat } from "../../_helpers/http1_raw.ts";
import { concat } from "../../_helpers/prng.ts";

function assertEvents(input: Uint8Array, opts = {}, eof = false): Flat[] {
  const whole = collect(new RequestReader(opts), [input], eof);
  for (const c of chunkings(input)) {
    assert.deepEqual(collect(new RequestReader(opts), c.pieces, eof), whole, c.name);
  }
  return whole;
}

function assertRejects(input: Uint8Array, code: string, status: number, opts = {}, eof = false) {
  for (const c of chunkings(input)) {
    assert.throws(() => collect(new RequestReader(opts), c.pieces, eof), (e: unknown) => {
      assert.ok(e instanceof HttpParseError, `${c.name}: ${e}`);
      assert.equal(e.code, code, `${c.name}: ${e.message}`);
      assert.equal(e.status, status, c.name);
      return true;
    });
  }
}

const types = (events: Flat[]) => events.map((e) => e.type);

describe("http1 RequestReader", () => {
  test("reads pipelined requests: no body, Content-Length and chunked with trailers", () => {
    const input = concat([
      crlf("GET /a HTTP/1.1", "Host: h", "", ""),
      crlf("POST /b HTTP/1.1", "Host: h", "Content-Length: 4", "", "data"),
      crlf("PUT /c HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", "", "3;x=y", "abc", "0",
        "Digest: z", "", ""),
    ]);
    const ev = assertEvents(input);
    assert.deepEqual(types(ev),
      ["head", "end", "head", "body", "end", "head", "body", "trailers", "end"]);
    assert.equal((ev[0].head as Flat).target, "/a");
    assert.equal(ev[0].body, "none");
    assert.equal(ev[3].body, "data");
    assert.equal(ev[6].body, "abc");
    assert.deepEqual(ev[7].trailers, [["digest", "z"]]);
  });

  test("a request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3)", () => {
    const ev = assertEvents(crlf("POST / HTTP/1.1", "Host: h", "", ""), {}, true);
    assert.deepEqual(types(ev), ["head", "end"]);
  });

  test("rejects Transfer-Encoding with Content-Length, with status 400", () => {
    assertRejects(crlf("POST / HTTP/1.1", "Host: h", "Content-Length: 3", "Transfer-Encoding: chunked",
      "", "3", "abc", "0", "", ""), "HTTP_TE_WITH_CL", 400);
  });

  test("rejects codings other than chunked (501) and chunked not last (400)", () => {
    assertRejects(crlf("POST / HTTP/1.1", "Transfer-Encoding: gzip, chunked", "", ""),
      "HTTP_UNSUPPORTED_TRANSFER_CODING", 501);
    assertRejects(crlf("POST / HTTP/1.1", "Transfer-Encoding: chunked, gzip", "", ""),
      "HTTP_BAD_TRANSFER_ENCODING", 400);
    assertRejects(crlf("POST / HTTP/1.1", "Transfer-Encoding: gzip", "", ""),
      "HTTP_BAD_TRANSFER_ENCODING", 400);
    assertRejects(crlf("POST / HTTP/1.0", "Transfer-Encoding: chunked", "", ""),
      "HTTP_BAD_TRANSFER_ENCODING", 400);
  });

  test("answers statuses for limits: 413 body, 431 head, 505 version", () => {
    assertRejects(crlf("POST / HTTP/1.1", "Content-Length: 100", "", ""), "HTTP_BODY_TOO_LARGE", 413,
      { maxBodySize: 99 });
    assertRejects(crlf("POST / HTTP/1.1", "Transfer-Encoding: chunked", "", "64", "x".repeat(100)),
      "HTTP_BODY_TOO_LARGE", 413, { maxBodySize: 99 });
    assertRejects(crlf("GET / HTTP/1.1", "X: " + "a".repeat(200), "", ""), "HTTP_HEAD_TOO_LARGE", 431,
      { maxHeaderBytes: 100 });
    assertRejects(crlf("GET / HTTP/3.0", "", ""), "HTTP_VERSION_NOT_SUPPORTED", 505);
    assertRejects(crlf("POST / HTTP/1.1", "Content-Length: 1", "Content-Length: 2", "", "ab"),
      "HTTP_CONFLICTING_CONTENT_LENGTH", 400);
  });

  test("a client closing mid-request is HTTP_INCOMPLETE_MESSAGE", () => {
    assertRejects(crlf("POST / HTTP/1.1", "Content-Length: 10", "", "abc"), "HTTP_INCOMPLETE_MESSAGE",
      400, {}, true);
  });

  test("Connection: close ends the stream of requests", () => {
    const ev = assertEvents(concat([crlf("GET / HTTP/1.1", "Connection: close", "", ""),
      crlf("GET /ignored HTTP/1.1", "", "")]));
    assert.deepEqual(types(ev), ["head", "end"]);
    assert.equal(ev[1].keepAlive, false);
  });

  test("an upgrade request is detected and detach() hands over the following bytes", () => {
    const r = new RequestReader();
    r.push(concat([crlf("GET /ws HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", ""),
    new Uint8Array([0x81, 0x80, 1, 2, 3, 4])]));
    const ev = r.next();
    assert.ok(ev?.type === "head");
    assert.ok(isUpgradeRequest(ev.head));
    assert.deepEqual([...r.detach()], [0x81, 0x80, 1, 2, 3, 4]);
    assert.equal(r.next(), null);
  });

  test("reads back exactly what RequestWriter wrote", () => {
    const w = new RequestWriter({ host: "h:8080", basePath: "/v1/", defaultHeaders: { "X-A": "1" } });
    const input = concat([
      w.get("/items", { query: { q: "a b&c", tag: ["x", "y"], skip: undefined } }).head,
      w.post("/items", { body: { json: { n: 1 } } }).head,
      w.delete("/items/1").head,
    ]);
    const ev = assertEvents(input);
    assert.deepEqual(types(ev), ["head", "end", "head", "body", "end", "head", "end"]);
    const get = ev[0].head as Flat;
    assert.equal(get.target, "/v1/items?q=a%20b%26c&tag=x&tag=y");
    assert.deepEqual(get.headers, [["host", "h:8080"], ["x-a", "1"]]);
    assert.equal(ev[3].body, '{"n":1}');
    assert.deepEqual((ev[2].head as Flat).headers, [["host", "h:8080"], ["x-a", "1"],
      ["content-type", "application/json"], ["content-length", "7"]]);
  });
});
