/**
 * The connection state machine fed by a real FrameReader: close, ping and pong
 * frames as bytes, whole, byte by byte and in seeded random splits, and what
 * the state says to send back, down to the reply frames' bytes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionState } from "../../../src/core/ws/connection_state.ts";
import { FrameReader } from "../../../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../../../src/core/ws/frame_writer.ts";
import { WriteBuf } from "../../../src/core/ws/write_buf.ts";
import { ProtocolError } from "../../../src/core/errors.ts";
import { concat } from "../../_helpers/prng.ts";
import { chunkings, hex } from "../../_helpers/ws_frames.ts";

type Role = "client" | "server";
type State = ConnectionState<string>;
const te = new TextEncoder();
const KEY = [0x37, 0xfa, 0x21, 0x3d];
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** A writer for `role` whose mask key is always 37fa213d, so client frames are fixed bytes. */
function writer(role: Role): FrameWriter {
  return new FrameWriter({ role, random: (b) => b.forEach((_, i) => (b[i] = KEY[i & 3]!)) });
}

/** The frames the peer of `role` sends (masked when the peer is a client). */
function peerFrames(role: Role, build: (w: FrameWriter) => Uint8Array[]): Uint8Array {
  return concat(build(writer(role === "server" ? "client" : "server")));
}

/**
 * Feeds `pieces` to a reader of `role` and everything it yields to `state`;
 * returns what the state said, one line per step. A ProtocolError from either
 * goes to `state.fail()`, as the I/O shell does.
 */
function drive(role: Role, state: State, pieces: Uint8Array[], via: "push" | "spare"): string[] {
  const reader = new FrameReader({ role });
  const out: string[] = [];
  let now = 1000;
  try {
    for (const piece of pieces) {
      if (via === "push") reader.push(piece.slice());
      else {
        for (let off = 0; off < piece.length;) {
          const space = reader.spare();
          const n = Math.min(space.length, piece.length - off);
          space.set(piece.subarray(off, off + n));
          reader.filled(n);
          off += n;
        }
      }
      for (let m = reader.next(); m !== null; m = reader.next()) {
        now += 10;
        if (m.type === "ping") {
          const pong = state.receivePing(m.data);
          out.push(pong === null ? "no pong" : `pong ${toHex(pong)}`);
        } else if (m.type === "pong") {
          const r = state.receivePong(m.data, now);
          out.push(
            r === null
              ? "unsolicited pong"
              : `answered ${r.answered.map((a) => `${a.ping.tag}@${a.rttMs}`).join(",")}`,
          );
        } else if (m.type === "close") {
          const r = state.receiveClose(m);
          out.push(
            r === null
              ? "ignored close"
              : `close ${r.code} "${r.reason}" reply ${
                r.reply ? toHex(r.reply) : "none"
              } then ${r.transport}`,
          );
        } else out.push(`${m.type} ${m.data.length}`);
      }
    }
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    const payload = state.fail(e);
    out.push(`fail ${e.code} send ${payload ? toHex(payload.subarray(0, 2)) : "nothing"}`);
  }
  return out;
}

/** Asserts the same transcript in every chunking, for a fresh state made by `setup`. */
function expectTranscript(
  role: Role,
  bytes: Uint8Array,
  expected: string[],
  setup: (s: State) => void = () => {},
  check: (s: State) => void = () => {},
): void {
  for (const [name, pieces, via] of chunkings(bytes, SEEDS)) {
    const state: State = new ConnectionState({ role });
    setup(state);
    assert.deepEqual(drive(role, state, pieces, via), expected, `${role}, ${name}`);
    check(state);
  }
}

const transportFor = (role: Role) => (role === "server" ? "close" : "await-peer");

describe("ConnectionState fed by FrameReader", () => {
  for (const role of ["client", "server"] as const) {
    test(`${role}: pings are answered, pongs matched, the peer's close echoed, the rest ignored`, () => {
      const bytes = peerFrames(role, (w) => [
        w.ping(te.encode("hi")),
        w.binary(new Uint8Array(300)),
        w.pong(te.encode("p2")), // answers p2 and, implicitly, p1
        w.pong(te.encode("zz")), // unsolicited
        w.close(1001, "bye"),
        w.ping(te.encode("late")), // after the close: the reader drops it
      ]);
      expectTranscript(
        role,
        bytes,
        [
          "pong 6869",
          "binary 300",
          "answered p1@1030,p2@1020",
          "unsolicited pong",
          `close 1001 "bye" reply 03e9 then ${transportFor(role)}`,
        ],
        (s) => {
          s.ping(te.encode("p1"), 0, "p1");
          s.ping(te.encode("p2"), 10, "p2");
          s.ping(te.encode("p3"), 20, "p3");
        },
        (s) => {
          assert.deepEqual(s.pendingPings.map((p) => p.tag), ["p3"]);
          assert.equal(s.lastRttMs, 1020);
          assert.deepEqual(s.transportClosed(), {
            code: 1001,
            reason: "bye",
            wasClean: true,
            initiatedBy: "remote",
          });
        },
      );
    });

    test(`${role}: after our close, the peer's pings get no pong and its close completes the handshake`, () => {
      const bytes = peerFrames(role, (w) => [w.ping(te.encode("x")), w.close(1000)]);
      expectTranscript(
        role,
        bytes,
        ["no pong", `close 1000 "" reply none then ${transportFor(role)}`],
        (s) => assert.deepEqual(s.close(4001, "done"), concat([hex("0fa1"), te.encode("done")])),
        (s) => {
          assert.equal(s.droppedPongs, 1);
          assert.equal(s.handshakeDone, true);
          assert.equal(s.transportClosed().initiatedBy, "local");
        },
      );
    });

    test(`${role}: an empty close frame is answered with 1000`, () => {
      expectTranscript(role, peerFrames(role, (w) => [w.close()]), [
        `close 1005 "" reply 03e8 then ${transportFor(role)}`,
      ]);
    });

    test(`${role}: a close payload of 1 byte fails the connection with 1002`, () => {
      expectTranscript(
        role,
        closeFrame(role, hex("03")),
        ["fail WS_CLOSE_PAYLOAD_LENGTH send 03ea"],
        () => {},
        (s) => {
          assert.equal(s.phase, "errored");
          assert.equal(s.closeInfo?.code, 1002);
        },
      );
    });

    test(`${role}: an invalid UTF-8 close reason fails with 1007, a reserved code with 1002`, () => {
      expectTranscript(role, closeFrame(role, hex("03e8 c0af")), [
        "fail WS_INVALID_UTF8 send 03ef",
      ]);
      expectTranscript(role, closeFrame(role, hex("03ed")), [
        "fail WS_INVALID_CLOSE_CODE send 03ea",
      ]);
    });

    test(`${role}: a protocol error from the reader after our close sends nothing more`, () => {
      const bytes = concat([peerFrames(role, (w) => [w.ping(te.encode("a"))]), hex("c1 00")]); // RSV1 set
      expectTranscript(
        role,
        bytes,
        ["no pong", "fail WS_RSV_BITS send nothing"],
        (s) => void s.close(),
        (s) => assert.equal(s.closeInfo?.initiatedBy, "local"),
      );
    });
  }

  test("the replies it asks for, framed: exact bytes for both roles", () => {
    const cases: [Role, Uint8Array, string][] = [
      ["server", peerFrames("server", (w) => [w.ping(te.encode("hi"))]), "8a026869"],
      ["client", peerFrames("client", (w) => [w.ping(te.encode("hi"))]), "8a8237fa213d5f93"],
      ["server", peerFrames("server", (w) => [w.close()]), "880203e8"],
      ["client", peerFrames("client", (w) => [w.close(1001)]), "888237fa213d3413"],
    ];
    for (const [role, bytes, expected] of cases) {
      const state: State = new ConnectionState({ role });
      const reader = new FrameReader({ role });
      reader.push(bytes.slice());
      const batch = new WriteBuf(64);
      const w = writer(role);
      for (let m = reader.next(); m !== null; m = reader.next()) {
        if (m.type === "ping") w.appendFrame(batch, "pong", state.receivePing(m.data)!);
        if (m.type === "close") w.appendFrame(batch, "close", state.receiveClose(m)!.reply!);
      }
      assert.equal(toHex(batch.payload()), expected, `${role} ${expected}`);
    }
  });
});

/**
 * A close frame from the peer of `role` with any payload, framed by hand (no
 * writer makes invalid ones): masked with the fixed key when the peer is a client.
 */
function closeFrame(role: Role, payload: Uint8Array): Uint8Array {
  if (role === "client") return concat([Uint8Array.of(0x88, payload.length), payload]);
  const masked = payload.map((b, i) => b ^ KEY[i & 3]!);
  return concat([Uint8Array.of(0x88, 0x80 | payload.length), Uint8Array.from(KEY), masked]);
}
