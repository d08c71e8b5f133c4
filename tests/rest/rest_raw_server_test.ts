import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionClosed,
  HttpParseError,
  SluiceError,
} from "../../src/core/errors.ts";
import { RestClient } from "../../src/rest/client.ts";
import { answerEach, withRawServer } from "../_helpers/http_servers.ts";
import { lines } from "./_support.ts";
const OK = lines("HTTP/1.1 200 OK", "Content-Length: 2", "", "ok");

// Each malformed response, then a good one on the reconnected socket.
const MALFORMED: [string, string][] = [
  ["HTTP_CONFLICTING_CONTENT_LENGTH", lines("HTTP/1.1 200 OK", "Content-Length: 2", "Content-Length: 3", "", "abc")],
  ["HTTP_TE_WITH_CL", lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 3", "", "3", "abc", "0", "", "")],
  ["HTTP_OBS_FOLD", lines("HTTP/1.1 200 OK", "X-A: 1", " folded", "Content-Length: 0", "", "")],
  ["HTTP_BAD_CHUNK", lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "xyz", "abc", "0", "", "")],
  ["HTTP_BAD_CHUNK", lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "3", "abcX0", "", "")],
  ["HTTP_BAD_STATUS_LINE", lines("HTTP/1.1 2x0 OK", "Content-Length: 0", "", "")],
  ["HTTP_BARE_CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n"],
  ["HTTP_HEAD_TOO_LARGE", lines("HTTP/1.1 200 OK", "X-Big: " + "a".repeat(20_000), "", "")],
  ["HTTP_TOO_MANY_HEADERS", lines("HTTP/1.1 200 OK", ...Array.from({ length: 150 }, (_, i) => `X-${i}: 1`), "", "")],
  ["HTTP_BODY_TOO_LARGE", lines("HTTP/1.1 200 OK", "Content-Length: 5000", "", "")],
  ["HTTP_BAD_CONTENT_LENGTH", lines("HTTP/1.1 200 OK", "Content-Length: -1", "", "")],
];

describe("rest RestClient (raw TCP server)", () => {
  test("every malformed response fails with its HttpParseError, and the next call reconnects", async () => {
    for (const [code, raw] of MALFORMED) {
      await withRawServer((socket, index) => answerEach(socket, [index === 0 ? raw : OK]), async ({ port, sockets }) => {
        const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxBodyBytes: 4096 });
        try {
          await assert.rejects(client.request({ method: "GET" }), (e: unknown) => {
            assert.ok(e instanceof HttpParseError, `${code}: ${e}`);
            assert.equal(e.code, code);
            return true;
          });
          const res = await client.request({ method: "GET" });
          assert.equal(await res.text(), "ok", code);
          assert.equal(sockets.length, 2, code);
        } finally {
          await client.close();
        }
      });
    }
  });

  test("a server closing mid-body fails the request with ConnectionClosed; a GET is marked retryable", async () => {
    await withRawServer((socket, index) => {
      answerEach(socket, [index === 0 ? (s) => s.end(lines("HTTP/1.1 200 OK", "Content-Length: 10", "", "abc")) : OK]);
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        await assert.rejects(client.request({ method: "GET" }), (e: unknown) => {
          assert.ok(e instanceof ConnectionClosed, String(e));
          assert.equal(e.retryable, true);
          assert.ok(e.cause instanceof HttpParseError);
          assert.equal(e.cause.code, "HTTP_INCOMPLETE_MESSAGE");
          assert.match(e.message, /GET \/: 3 of 10 bytes arrived$/);
          return true;
        });
        assert.equal(await (await client.request({ method: "GET" })).text(), "ok");
      } finally {
        await client.close();
      }
    });
  });

  test("a server closing a fresh connection without answering is ConnectionClosed, retryable only if idempotent", async () => {
    await withRawServer((socket) => answerEach(socket, [(s) => s.end()]), async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        await assert.rejects(client.request({ method: "POST", body: "x" }), (e: unknown) => {
          assert.ok(e instanceof ConnectionClosed, String(e));
          assert.equal(e.retryable, false);
          return true;
        });
        await assert.rejects(client.request({ method: "PUT", body: "x" }), (e: unknown) => {
          assert.ok(e instanceof ConnectionClosed);
          assert.equal(e.retryable, true);
          return true;
        });
      } finally {
        await client.close();
      }
    });
  });

  test("a reused connection closed just as a POST is sent is resent once on a new connection", async () => {
    const posts: number[] = [];
    await withRawServer((socket, index) => {
      if (index === 0) {
        // Answers the first request, then drops the connection on the next
        // one without reading it: the race of an idle timeout.
        answerEach(socket, [OK, (s) => s.destroy()]);
      } else {
        answerEach(socket, [(s) => {
          posts.push(index);
          s.write(OK);
        }]);
      }
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        assert.equal(await (await client.request({ method: "GET" })).text(), "ok");
        const res = await client.request({ method: "POST", body: "once" });
        assert.equal(await res.text(), "ok");
        assert.deepEqual(posts, [1]);
        assert.equal(sockets.length, 2);
      } finally {
        await client.close();
      }
    });
  });

  test("Connection: close is honoured: the next request opens a new connection", async () => {
    await withRawServer((socket) => {
      answerEach(socket, [(s) => s.end(lines("HTTP/1.1 200 OK", "Connection: close", "Content-Length: 2", "", "ok"))]);
    }, async ({ port, sockets }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        for (let i = 0; i < 3; i++) assert.equal(await (await client.request({ method: "GET" })).text(), "ok");
        assert.equal(sockets.length, 3);
      } finally {
        await client.close();
      }
    });
  });

  test("a chunked response with trailers written one byte per write decodes whole", async () => {
    const raw = lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Trailer: X-T", "", "4;a=b", "wiki",
      "6", "pedia ", "0", "X-T: done", "", "");
    await withRawServer((socket) => {
      socket.setNoDelay(true);
      answerEach(socket, [async (s) => {
        for (let i = 0; i < raw.length; i++) {
          s.write(raw[i]);
          if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      }, OK]);
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxBufferedBodyBytes: 0 });
      try {
        const res = await client.request({ method: "GET" });
        assert.equal(await res.text(), "wikipedia ");
        assert.equal(res.trailers?.get("x-t"), "done");
        assert.equal(await (await client.request({ method: "GET" })).text(), "ok");
      } finally {
        await client.close();
      }
    });
  });

  test("a body delimited by close is read to the end", async () => {
    await withRawServer((socket) => {
      answerEach(socket, [(s) => s.end(lines("HTTP/1.1 200 OK", "Content-Type: text/plain", "", "until close"))]);
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`);
      try {
        const res = await client.request({ method: "GET" });
        assert.equal(await res.text(), "until close");
      } finally {
        await client.close();
      }
    });
  });

  test("a failure mid-request poisons the connection for pipelined requests behind it", async () => {
    await withRawServer((socket, index) => {
      answerEach(socket, index === 0
        ? [lines("HTTP/1.1 200 OK", "Content-Length: 1", "Content-Length: 2", "", "ab"), OK]
        : [OK, OK]);
    }, async ({ port }) => {
      const client = await RestClient.connect(`http://127.0.0.1:${port}`, { maxInFlightRequestsPerConnection: 2 });
      try {
        const a = client.request({ method: "GET", path: "/a" });
        const b = client.request({ method: "GET", path: "/b" });
        await assert.rejects(a, HttpParseError);
        await assert.rejects(b, (e: unknown) => {
          assert.ok(e instanceof SluiceError);
          assert.equal(e.code, "CONNECTION_POISONED");
          assert.equal(e.retryable, true);
          return true;
        });
        assert.equal(await (await client.request({ method: "GET" })).text(), "ok");
      } finally {
        await client.close();
      }
    });
  });
});
