import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpParseError } from "../../../src/core/errors.ts";
import { ResponseReader } from "../../../src/core/http1/response_reader.ts";
import { bytes, chunkings, collect, crlf, type Flat } from "../../_helpers/http1_raw.ts";
import { concat, prng, randomInt } from "../../_helpers/prng.ts";

function reader(methods: string[] = ["GET"], opts = {}): ResponseReader {
  const r = new ResponseReader(opts);
  for (const m of methods) r.expect(m);
  return r;
}

// Every chunking yields the same events as the whole input.
function assertEvents(input: Uint8Array, methods: string[], eof = false, opts = {}): Flat[] {
  const whole = collect(reader(methods, opts), [input], eof);
  for (const c of chunkings(input)) {
    assert.deepEqual(collect(reader(methods, opts), c.pieces, eof), whole, c.name);
  }
  return whole;
}

function assertRejects(input: Uint8Array, code: string, methods = ["GET"], eof = false, opts = {}) {
  for (const c of chunkings(input)) {
    assert.throws(() => collect(reader(methods, opts), c.pieces, eof), (e: unknown) => {
      assert.ok(e instanceof HttpParseError, `${c.name}: ${e}`);
      assert.equal(e.code, code, `${c.name}: ${e.message}`);
      return true;
    });
  }
}

const types = (events: Flat[]) => events.map((e) => e.type);

describe("http1 ResponseReader", () => {
  test("reads two pipelined Content-Length responses on one connection", () => {
    const input = concat([
      crlf("HTTP/1.1 200 OK", "Content-Length: 5", "", "hello"),
      crlf("HTTP/1.1 201 Created", "content-length: 3", "X: y", "", "abc"),
    ]);
    const ev = assertEvents(input, ["GET", "POST"]);
    assert.deepEqual(types(ev), ["head", "body", "end", "head", "body", "end"]);
    assert.equal((ev[0].head as Flat).status, 200);
    assert.equal(ev[0].contentLength, 5);
    assert.equal(ev[0].keepAlive, true);
    assert.equal(ev[1].body, "hello");
    assert.equal((ev[3].head as Flat).status, 201);
    assert.equal(ev[4].body, "abc");
  });

  test("decodes chunked bodies with extensions and trailers, split at every byte boundary", () => {
    const input = crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "5;ext=1;q=\"a b\\\"\"",
      "hello", "A ; name", "0123456789", "0", "Expires: never", "X-Sum: 15", "", "");
    const expected = assertEvents(input, ["GET"]);
    assert.deepEqual(types(expected), ["head", "body", "trailers", "end"]);
    assert.equal(expected[1].body, "hello0123456789");
    assert.deepEqual(expected[2].trailers, [["expires", "never"], ["x-sum", "15"]]);
    for (let i = 1; i < input.length; i++) {
      const got = collect(reader(), [input.subarray(0, i), input.subarray(i)]);
      assert.deepEqual(got, expected, `split at ${i}`);
    }
  });

  test("chunked without trailers ends after the last chunk", () => {
    const ev = assertEvents(crlf("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked", "", "3", "abc",
      "0", "", ""), ["GET"]);
    assert.deepEqual(types(ev), ["head", "body", "end"]);
    assert.equal(ev[0].body, "chunked");
  });

  test("skips interim 1xx responses, reporting them as informational", () => {
    const ev = assertEvents(crlf("HTTP/1.1 100 Continue", "", "HTTP/1.1 103 Early Hints",
      "Link: </a.css>; rel=preload", "", "HTTP/1.1 200 OK", "Content-Length: 2", "", "ok"), ["POST"]);
    assert.deepEqual(types(ev), ["informational", "informational", "head", "body", "end"]);
    assert.equal((ev[1].head as Flat).status, 103);
    assert.equal((ev[2].head as Flat).status, 200);
  });

  test("HEAD, 204 and 304 responses have no body whatever their Content-Length", () => {
    const input = concat([
      crlf("HTTP/1.1 200 OK", "Content-Length: 1000", "", ""),
      crlf("HTTP/1.1 204 No Content", "Content-Length: 7", "", ""),
      crlf("HTTP/1.1 304 Not Modified", "Transfer-Encoding: chunked", "", ""),
      crlf("HTTP/1.1 200 OK", "Content-Length: 2", "", "ok"),
    ]);
    const ev = assertEvents(input, ["HEAD", "GET", "GET", "GET"]);
    assert.deepEqual(types(ev), ["head", "end", "head", "end", "head", "end", "head", "body", "end"]);
    assert.equal(ev[0].body, "none");
    assert.equal(ev[7].body, "ok");
  });

  test("a body without length or chunked coding is read until the connection closes", () => {
    const input = crlf("HTTP/1.1 200 OK", "Content-Type: text/plain", "", "all of this");
    const ev = assertEvents(input, ["GET"], true);
    assert.deepEqual(types(ev), ["head", "body", "end"]);
    assert.equal(ev[0].keepAlive, false);
    assert.equal(ev[1].body, "all of this");
    assert.equal(ev[2].keepAlive, false);
    // A transfer coding other than chunked last is also delimited by close (RFC 9112 §6.3).
    const gz = assertEvents(crlf("HTTP/1.1 200 OK", "Transfer-Encoding: gzip", "", "zz"), ["GET"], true);
    assert.equal(gz[0].body, "close");
  });

  test("persistence: Connection close, HTTP/1.0 default and keep-alive (RFC 9112 §9.3)", () => {
    const ka = (lines: string[]) => collect(reader(), [crlf(...lines, "", "")])[0].keepAlive;
    assert.equal(ka(["HTTP/1.1 200 OK", "Connection: Close", "Content-Length: 0"]), false);
    assert.equal(ka(["HTTP/1.1 200 OK", "Connection: foo, close", "Content-Length: 0"]), false);
    assert.equal(ka(["HTTP/1.0 200 OK", "Content-Length: 0"]), false);
    assert.equal(ka(["HTTP/1.0 200 OK", "Connection: keep-alive", "Content-Length: 0"]), true);
    assert.equal(ka(["HTTP/1.1 200 OK", "Content-Length: 0"]), true);
  });

  test("repeated identical Content-Length values are accepted as one", () => {
    const ev = assertEvents(crlf("HTTP/1.1 200 OK", "Content-Length: 3", "Content-Length: 3, 3", "",
      "abc"), ["GET"]);
    assert.equal(ev[0].contentLength, 3);
  });

  test("rejects conflicting or invalid Content-Length values (RFC 9112 §6.3)", () => {
    assertRejects(crlf("HTTP/1.1 200 OK", "Content-Length: 3", "Content-Length: 4", "", "abcd"),
      "HTTP_CONFLICTING_CONTENT_LENGTH");
    assertRejects(crlf("HTTP/1.1 200 OK", "Content-Length: 3, 4", "", "abcd"),
      "HTTP_CONFLICTING_CONTENT_LENGTH");
    for (const v of ["abc", "-1", "", "1e3", "+5", "0x10", "3 4", "12345678901234567"]) {
      assertRejects(crlf("HTTP/1.1 200 OK", `Content-Length: ${v}`, "", ""), "HTTP_BAD_CONTENT_LENGTH");
    }
  });

  test("rejects Transfer-Encoding together with Content-Length", () => {
    assertRejects(crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 3", "",
      "3", "abc", "0", "", ""), "HTTP_TE_WITH_CL");
    assertRejects(crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, gzip", "", ""),
      "HTTP_BAD_TRANSFER_ENCODING");
    assertRejects(crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked",
      "", ""), "HTTP_BAD_TRANSFER_ENCODING");
  });

  test("rejects bad chunk sizes, missing CRLFs and malformed extensions", () => {
    const head = ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", ""];
    const bad: string[][] = [
      ["zz", "ab", "0", "", ""],
      ["-1", "", ""],
      ["", "", ""],
      [" 5", "hello", "0", "", ""],
      ["0x5", "hello", "0", "", ""],
      ["1234567890abcdef0", "x"],
      ["5", "helloX0", "", ""],
      ["5;", "hello", "0", "", ""],
      ["5;a=", "hello", "0", "", ""],
      ["5;a=\"open", "hello", "0", "", ""],
      ["5 x", "hello", "0", "", ""],
    ];
    for (const lines of bad) assertRejects(crlf(...head, ...lines), "HTTP_BAD_CHUNK");
    assertRejects(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
      "HTTP_BAD_CHUNK");
    assertRejects(concat([crlf(...head, ""), bytes("1;" + "a".repeat(5000) + "\r\n")]), "HTTP_BAD_CHUNK");
  });

  test("bodies over maxBodySize are rejected for every framing, saying the limit", () => {
    const opts = { maxBodySize: 10 };
    assertRejects(crlf("HTTP/1.1 200 OK", "Content-Length: 11", "", ""), "HTTP_BODY_TOO_LARGE",
      ["GET"], false, opts);
    assertRejects(crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "6", "aaaaaa", "6",
      "bbbbbb", "0", "", ""), "HTTP_BODY_TOO_LARGE", ["GET"], false, opts);
    assertRejects(crlf("HTTP/1.1 200 OK", "", "0123456789A"), "HTTP_BODY_TOO_LARGE", ["GET"], true, opts);
    assert.equal(assertEvents(crlf("HTTP/1.1 200 OK", "Content-Length: 10", "", "0123456789"),
      ["GET"], false, opts)[1].body, "0123456789");
    assert.throws(() => collect(reader(["GET"], opts), [crlf("HTTP/1.1 200 OK", "Content-Length: 11", "", "")]),
      { message: "Content-Length 11 exceeds the body limit of 10 bytes" });
    assert.throws(() => collect(reader(["GET"], opts), [crlf("HTTP/1.1 200 OK", "", "0123456789A")]),
      { message: "the body exceeds the limit of 10 bytes" });
  });

  test("a connection closed mid-response is HTTP_INCOMPLETE_MESSAGE", () => {
    for (const input of [
      bytes("HTTP/1.1 200 OK\r\nContent-Le"),
      crlf("HTTP/1.1 200 OK", "Content-Length: 10", "", "short"),
      crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "5", "hel"),
      crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "0", "X: 1", ""),
    ]) {
      assertRejects(input, "HTTP_INCOMPLETE_MESSAGE", ["GET"], true);
    }
    // Closing between responses is not an error.
    assert.deepEqual(types(collect(reader(), [crlf("HTTP/1.1 204 No Content", "", "")], true)),
      ["head", "end"]);
  });

  test("receivedBodyBytes counts the body bytes returned for every framing, whole, byte by byte and in random splits", () => {
    const cases: [string, Uint8Array, number][] = [
      ["length, cut", crlf("HTTP/1.1 200 OK", "Content-Length: 10", "", "short"), 5],
      ["chunked, cut", crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "5", "hello", "4", "wo"), 7],
      ["until close", crlf("HTTP/1.1 200 OK", "", "all of it"), 9],
      ["head only", bytes("HTTP/1.1 200 OK\r\nContent-Le"), 0],
    ];
    for (const [name, input, expected] of cases) {
      for (const c of chunkings(input)) {
        const r = reader();
        let returned = 0;
        for (const piece of c.pieces) {
          r.push(piece);
          for (let ev = r.next(); ev !== null; ev = r.next()) if (ev.type === "data") returned += ev.data.length;
          assert.equal(r.receivedBodyBytes, returned, `${name}, ${c.name}`);
        }
        r.eof();
        try {
          for (let ev = r.next(); ev !== null; ev = r.next()) if (ev.type === "data") returned += ev.data.length;
        } catch (e) {
          assert.ok(e instanceof HttpParseError && e.code === "HTTP_INCOMPLETE_MESSAGE", `${name}: ${e}`);
        }
        assert.equal(r.receivedBodyBytes, expected, `${name}, ${c.name}`);
      }
    }
    // Reset by the next head.
    const r = reader(["GET", "GET"]);
    r.push(crlf("HTTP/1.1 200 OK", "Content-Length: 3", "", "abcHTTP/1.1 200 OK", "Content-Length: 1", "", ""));
    assert.deepEqual([r.next()?.type, r.next()?.type, r.next()?.type], ["head", "data", "end"]);
    assert.equal(r.receivedBodyBytes, 3);
    assert.equal(r.next()?.type, "head");
    assert.equal(r.receivedBodyBytes, 0);
  });

  test("after 101 Switching Protocols, detach() returns the bytes of the new protocol", () => {
    const r = reader();
    r.push(concat([crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
      "Connection: Upgrade", "", ""), new Uint8Array([0x81, 0x00])]));
    const ev = r.next();
    assert.ok(ev?.type === "head" && ev.upgrade && ev.head.status === 101);
    assert.equal(r.next(), null);
    assert.deepEqual([...r.detach()], [0x81, 0x00]);
  });

  test("spare()/filled() feeding gives the same events as push()", () => {
    const input = concat([crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "4", "wiki",
      "0", "", ""), crlf("HTTP/1.1 200 OK", "Content-Length: 20000", "", "x".repeat(20000))]);
    const expected = collect(reader(["GET", "GET"]), [input]);
    const r = reader(["GET", "GET"], { bufferCapacity: 64 });
    const rand = prng(7);
    const got: Flat[] = [];
    let body = "";
    for (let at = 0; at < input.length;) {
      const space = r.spare();
      const n = Math.min(space.length, input.length - at, randomInt(rand, 1, 3000));
      space.set(input.subarray(at, at + n));
      r.filled(n);
      at += n;
      for (let ev = r.next(); ev !== null; ev = r.next()) {
        if (ev.type === "data") body += String.fromCharCode(...ev.data);
        else {
          if (body) got.push({ type: "body", body });
          body = "";
          got.push({ type: ev.type });
        }
      }
    }
    assert.deepEqual(got, expected.map((e) => (e.type === "body" ? e : { type: e.type })));
  });

  test("spare() offers the whole buffer again once everything read was consumed, and moves a small rest to the front", () => {
    const r = reader(["GET"], { bufferCapacity: 8192 });
    const head = crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "");
    let space = r.spare();
    assert.equal(space.length, 8192);
    space.set(head);
    r.filled(head.length);
    assert.equal(r.next()?.type, "head");
    // Everything consumed: a socket read may fill the whole buffer again.
    assert.equal(r.spare().length, 8192);
    // A read that ends inside the next chunk-size line leaves its start ("10") unread.
    const piece = concat([bytes("1000\r\n"), new Uint8Array(0x1000).fill(97), bytes("\r\n10")]);
    space = r.spare();
    space.set(piece);
    r.filled(piece.length);
    const ev = r.next();
    assert.ok(ev?.type === "data");
    assert.equal(ev.data.length, 0x1000);
    assert.equal(r.next(), null);
    space = r.spare();
    assert.equal(space.length, 8192 - 2);
    const tail = bytes("\r\nabcdefghijklmnop\r\n0\r\n\r\n");
    space.set(tail);
    r.filled(tail.length);
    const rest = r.next();
    assert.ok(rest?.type === "data");
    assert.equal(String.fromCharCode(...rest.data), "abcdefghijklmnop");
    assert.equal(r.next()?.type, "end");
  });

  test("a small body pushed whole is a view of the pushed chunk, not a copy", () => {
    const chunk = crlf("HTTP/1.1 200 OK", "Content-Length: 5", "", "hello");
    const r = reader();
    r.push(chunk);
    r.next();
    const ev = r.next();
    assert.ok(ev?.type === "data");
    assert.equal(ev.data.buffer, chunk.buffer);
    assert.equal(ev.data.byteOffset, chunk.length - 5);
  });

  test("after a parse error every call throws the same error", () => {
    const r = reader();
    r.push(crlf("HTTP/1.1 200 OK", "Content-Length: x", "", ""));
    let first: unknown;
    assert.throws(() => r.next(), (e) => (first = e) instanceof HttpParseError);
    assert.throws(() => r.next(), (e) => e === first);
    assert.throws(() => r.push(new Uint8Array(1)), (e) => e === first);
  });

  test("fuzz: mutated responses decode or raise HttpParseError, nothing else", () => {
    const base = concat([
      crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "5;a=b", "hello", "0", "T: 1", "", ""),
      crlf("HTTP/1.1 200 OK", "Content-Length: 3", "", "abc"),
    ]);
    const rand = prng(99);
    for (let n = 0; n < 1500; n++) {
      const input = base.slice();
      for (let k = randomInt(rand, 1, 3); k > 0; k--) {
        input[randomInt(rand, 0, input.length - 1)] = randomInt(rand, 0, 255);
      }
      try {
        collect(reader(["GET", "GET"]), [input], rand() < 0.5);
      } catch (e) {
        assert.ok(e instanceof HttpParseError, `unexpected ${e}`);
      }
    }
  });
});
