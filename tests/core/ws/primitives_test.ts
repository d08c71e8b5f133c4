import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { maskInPlace } from "../../../src/core/ws/mask.ts";
import { Utf8Validator } from "../../../src/core/ws/utf8.ts";
import { base64, base64Decode, sha1 } from "../../../src/core/ws/sha1.ts";
import { prng, randomInt, randomSplits } from "../../_helpers/prng.ts";

const te = new TextEncoder();
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

describe("codec primitives", () => {
  test("maskInPlace matches a byte-wise XOR for any offset, length and phase", () => {
    const rand = prng(5);
    const backing = new Uint8Array(4096);
    const words = new Uint32Array(backing.buffer);
    for (let i = 0; i < 400; i++) {
      const start = randomInt(rand, 0, 100);
      const len = randomInt(rand, 0, 600);
      const phase = randomInt(rand, 0, 7);
      const key = new Uint8Array([
        randomInt(rand, 0, 255),
        randomInt(rand, 0, 255),
        randomInt(rand, 0, 255),
        randomInt(rand, 0, 255),
      ]);
      for (let j = 0; j < backing.length; j++) backing[j] = randomInt(rand, 0, 255);
      const view = backing.subarray(randomInt(rand, 0, 3));
      const expected = view.slice();
      for (let j = 0; j < len; j++) expected[start + j] ^= key[(phase + j) & 3];
      maskInPlace(view, start, start + len, key, 0, phase, i % 2 === 0 ? words : undefined);
      assert.deepEqual(view, expected, `start ${start} len ${len} phase ${phase}`);
    }
  });

  test("Utf8Validator agrees with a fatal TextDecoder on random input in random splits", () => {
    const rand = prng(11);
    const fatal = new TextDecoder("utf-8", { fatal: true });
    const pool = [
      0x41,
      0x7f,
      0x80,
      0xbf,
      0xc0,
      0xc2,
      0xdf,
      0xe0,
      0xa0,
      0xed,
      0x9f,
      0xef,
      0xf0,
      0x90,
      0xf4,
      0x8f,
      0xf5,
      0xff,
    ];
    let valid = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = new Uint8Array(randomInt(rand, 0, 12)).map(() =>
        pool[randomInt(rand, 0, pool.length - 1)]
      );
      let expectOk = true;
      try {
        fatal.decode(bytes);
      } catch {
        expectOk = false;
      }
      const v = new Utf8Validator();
      let ok = true;
      for (const piece of randomSplits(bytes, rand)) {
        if (v.update(piece, 0, piece.length) >= 0) {
          ok = false;
          break;
        }
      }
      ok = ok && v.complete;
      assert.equal(ok, expectOk, `bytes ${toHex(bytes)}`);
      if (ok) valid++;
    }
    assert.ok(valid > 100, "the sample includes valid sequences too");
  });

  test("Utf8Validator accepts every boundary code point", () => {
    for (
      const cp of [0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff]
    ) {
      const bytes = te.encode(String.fromCodePoint(cp));
      const v = new Utf8Validator();
      assert.equal(v.update(bytes, 0, bytes.length), -1);
      assert.ok(v.complete);
    }
  });

  test("sha1 matches FIPS 180 test vectors", () => {
    assert.equal(toHex(sha1(te.encode("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert.equal(toHex(sha1(new Uint8Array(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert.equal(
      toHex(sha1(te.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
      "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    );
    assert.equal(
      toHex(sha1(te.encode("a".repeat(1000)))),
      "291e9a6c66994949b57ba5e650361e98fc36b1ba",
    );
  });

  test("base64 round-trips and rejects malformed input", () => {
    const rand = prng(3);
    for (let n = 0; n < 40; n++) {
      const bytes = new Uint8Array(n).map(() => randomInt(rand, 0, 255));
      assert.deepEqual(base64Decode(base64(bytes)), bytes);
    }
    assert.equal(base64(te.encode("foobar")), "Zm9vYmFy");
    assert.equal(base64(te.encode("fo")), "Zm8=");
    assert.equal(base64Decode("Zm9"), null);
    assert.equal(base64Decode("Zm=v"), null);
    assert.equal(base64Decode("Z!9v"), null);
  });
});
