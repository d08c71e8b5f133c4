import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeChunk, LAST_CHUNK } from "../../../src/core/http1/chunked.ts";
import { RequestWriter } from "../../../src/core/http1/request_writer.ts";

const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
const w = new RequestWriter({ host: "example.com" });

describe("http1 RequestWriter", () => {
  test("writes a GET with Host and no body framing", () => {
    assert.equal(text(w.get("/").head), ["GET / HTTP/1.1", "Host: example.com", "", ""].join("\r\n"));
  });

  test("string, bytes and JSON bodies get Content-Length and a default Content-Type", () => {
    assert.equal(text(w.post("/s", { body: "héllo" }).head), ["POST /s HTTP/1.1", "Host: example.com",
      "Content-Type: text/plain;charset=UTF-8", "Content-Length: 6", "", "h\xc3\xa9llo"].join("\r\n"));
    assert.equal(text(w.put("/b", { body: new Uint8Array([1, 2]) }).head),
      ["PUT /b HTTP/1.1", "Host: example.com", "Content-Length: 2", "", "\x01\x02"].join("\r\n"));
    assert.equal(text(w.patch("/j", { body: { json: [1] }, headers: { "content-type": "application/merge-patch+json" } }).head),
      ["PATCH /j HTTP/1.1", "Host: example.com", "content-type: application/merge-patch+json",
        "Content-Length: 3", "", "[1]"].join("\r\n"));
    assert.match(text(w.post("/e").head), /Content-Length: 0\r\n\r\n$/);
  });

  test("large bodies are returned apart from the head, not copied", () => {
    const big = new Uint8Array(100_000);
    const req = new RequestWriter({ host: "h", inlineBodyBytes: 1000 }).put("/x", { body: big });
    assert.equal(req.body, big);
    assert.match(text(req.head), /Content-Length: 100000\r\n\r\n$/);
  });

  test("a stream body is sent chunked", () => {
    const stream = new ReadableStream<Uint8Array>();
    const req = w.post("/up", { body: stream });
    assert.equal(req.stream, stream);
    assert.match(text(req.head), /Transfer-Encoding: chunked\r\n\r\n$/);
    assert.equal(text(encodeChunk(new Uint8Array(26).fill(0x61))), `1a\r\n${"a".repeat(26)}\r\n`);
    assert.equal(encodeChunk(new Uint8Array(0)).length, 0);
    assert.equal(text(LAST_CHUNK), "0\r\n\r\n");
  });

  test("query parameters are percent-encoded and appended to an existing query", () => {
    const req = w.get("/p?a=1", { query: { "k y": "v/é", n: 3, b: false } });
    assert.match(text(req.head), /^GET \/p\?a=1&k%20y=v%2F%C3%A9&n=3&b=false HTTP\/1\.1\r\n/);
  });

  test("header names and values with CR, LF or NUL are refused (no injection)", () => {
    const bad: [string, string][] = [["X-A", "1\r\nX-Injected: 1"], ["X-A", "a\nb"], ["X-A", "a\0b"],
      ["X A", "1"], ["X:A", "1"], ["", "1"]];
    for (const [name, value] of bad) {
      assert.throws(() => w.get("/", { headers: { [name]: value } }), TypeError);
    }
    assert.throws(() => new RequestWriter({ host: "h", defaultHeaders: [["A", "\r"]] }), TypeError);
    assert.throws(() => w.get("/a b"), /path must be visible US-ASCII/);
    assert.throws(() => w.get("/a\r\nHost: evil"), TypeError);
    assert.throws(() => w.request("GE T"), /method must be a token/);
    assert.throws(() => new RequestWriter({ host: "h\r\nX: 1" }), /host must be/);
  });

  test("framing fields are the writer's: setting Content-Length is an error", () => {
    assert.throws(() => w.post("/", { body: "x", headers: { "Content-Length": "5" } }),
      /Content-Length is set by the writer/);
    assert.throws(() => w.post("/", { headers: [["transfer-encoding", "chunked"]] }), TypeError);
  });

  test("obs-text header values are written as latin1 bytes", () => {
    const req = w.get("/", { headers: new Headers({ "X-L": "caf\u00e9" }) });
    assert.ok(text(req.head).includes("x-l: caf\u00e9\r\n"));
    assert.equal(req.head.length, "GET / HTTP/1.1\r\nHost: example.com\r\nx-l: café\r\n\r\n".length);
  });
});
