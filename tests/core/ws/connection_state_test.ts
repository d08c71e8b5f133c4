import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionState } from "../../../src/core/ws/connection_state.ts";
import { ConnectionClosed, ProtocolError } from "../../../src/core/errors.ts";
import { hex } from "../../_helpers/ws_frames.ts";

type Role = "client" | "server";
type State = ConnectionState<string>;
const ROLES: Role[] = ["client", "server"];
const te = new TextEncoder();

/** A close payload: the code big-endian, then the reason (a string, or raw bytes). */
function closeBytes(code: number, reason: string | Uint8Array = ""): Uint8Array {
  const r = typeof reason === "string" ? te.encode(reason) : reason;
  const out = new Uint8Array(2 + r.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

/** The codes RFC 6455 §7.4 (and the IANA registry) let an endpoint put on the wire. */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

const protocolError = () => new ProtocolError("WS_RSV_BITS", 1002, "RSV bits set");
const ioError = new Error("socket reset");

/** Every state a connection can be in, built through the public API only. */
const STATES: Record<string, (role: Role) => State> = {
  "open": (role) => new ConnectionState({ role }),
  "closing (local)": (role) => {
    const s: State = new ConnectionState({ role });
    s.close(1000, "bye");
    return s;
  },
  "closing (remote)": (role) => {
    const s: State = new ConnectionState({ role });
    s.receiveClose(closeBytes(1001, "away"));
    return s;
  },
  "closing (handshake done)": (role) => {
    const s: State = new ConnectionState({ role });
    s.close(1000, "bye");
    s.receiveClose(closeBytes(1000, "ok"));
    return s;
  },
  "closed (clean)": (role) => {
    const s = STATES["closing (handshake done)"]!(role);
    s.transportClosed();
    return s;
  },
  "closed (abnormal)": (role) => {
    const s: State = new ConnectionState({ role });
    s.transportClosed();
    return s;
  },
  "errored (protocol)": (role) => {
    const s: State = new ConnectionState({ role });
    s.fail(protocolError());
    return s;
  },
  "errored (local failure)": (role) => {
    const s: State = new ConnectionState({ role });
    s.fail(ioError);
    return s;
  },
  "errored (aborted)": (role) => {
    const s: State = new ConnectionState({ role });
    s.abort("gone");
    return s;
  },
};
const NAMES = Object.keys(STATES);
const isErrored = (name: string) => name.startsWith("errored");
const isClosed = (name: string) => name.startsWith("closed");

/** Runs `check` on a fresh state of every kind, in both roles. */
function everyState(check: (s: State, name: string, role: Role) => void): void {
  for (const role of ROLES) {
    for (const name of NAMES) check(STATES[name]!(role), `${name} ${role}`, role);
  }
}

/** Asserts `fn` throws exactly the connection's cause (the same object). */
function throwsCause(s: State, fn: () => unknown, msg: string): void {
  const cause = s.error;
  assert.ok(cause !== null, msg);
  assert.throws(fn, (e: unknown) => e === cause, msg);
}

const throwsClosed = (fn: () => unknown, msg: string) =>
  assert.throws(fn, (e: unknown) => e instanceof ConnectionClosed && e.code === "WS_CLOSED", msg);

describe("ConnectionState transitions", () => {
  test("the built states are what their names say", () => {
    const phases: Record<string, string> = {
      "open": "open",
      "closing (local)": "closing",
      "closing (remote)": "closing",
      "closing (handshake done)": "closing",
      "closed (clean)": "closed",
      "closed (abnormal)": "closed",
    };
    everyState((s, name) => {
      const base = name.replace(/ (client|server)$/, "");
      assert.equal(s.phase, phases[base] ?? "errored", name);
      assert.equal(s.canSend, base === "open", name);
      assert.equal(s.receiving, base === "open" || base === "closing (local)", name);
      assert.equal(s.closeInfo === null, !isClosed(base) && !isErrored(base), name);
    });
  });

  test("close(): open sends a close frame; closing and closed send nothing; errored throws its cause", () => {
    everyState((s, name) => {
      if (isErrored(name)) return throwsCause(s, () => s.close(1000), name);
      const before = s.phase;
      const payload = s.close(1000, "x");
      if (name.startsWith("open")) {
        assert.deepEqual(payload, closeBytes(1000, "x"), name);
        assert.equal(s.phase, "closing", name);
        assert.equal(s.initiatedBy, "local", name);
        assert.equal(s.closeSent, true, name);
      } else {
        assert.equal(payload, null, name);
        assert.equal(s.phase, before, name);
      }
    });
  });

  test("receiveClose(): echoes before our close, completes after it, ignores a second one", () => {
    everyState((s, name, role) => {
      if (isErrored(name)) return throwsCause(s, () => s.receiveClose(closeBytes(1000)), name);
      const peer = s.receiveClose(closeBytes(3001, "app"));
      const transport = role === "server" ? "close" : "await-peer";
      if (name.startsWith("open")) {
        assert.deepEqual(
          peer,
          { code: 3001, reason: "app", reply: closeBytes(3001), transport },
          name,
        );
        assert.equal(s.initiatedBy, "remote", name);
        assert.equal(s.handshakeDone, true, name);
      } else if (name.startsWith("closing (local)")) {
        assert.deepEqual(peer, { code: 3001, reason: "app", reply: null, transport }, name);
        assert.equal(s.initiatedBy, "local", name);
        assert.equal(s.handshakeDone, true, name);
      } else assert.equal(peer, null, name); // the peer's close came already, or the end
    });
  });

  test("receivePing(): a pong while open; dropped (and counted) after our close; ignored after the peer's", () => {
    everyState((s, name) => {
      const ping = te.encode("hi");
      if (isErrored(name)) return throwsCause(s, () => s.receivePing(ping), name);
      const pong = s.receivePing(ping);
      if (name.startsWith("open")) assert.equal(pong, ping, name);
      else assert.equal(pong, null, name);
      assert.equal(s.droppedPongs, name.startsWith("closing (local)") ? 1 : 0, name);
    });
  });

  test("receivePong(): answers while frames count, null when unsolicited or ignored", () => {
    everyState((s, name) => {
      if (isErrored(name)) return throwsCause(s, () => s.receivePong(hex("01"), 0), name);
      assert.equal(s.receivePong(hex("01"), 0), null, name); // nothing pending anywhere
    });
  });

  test("ping() and assertCanSend(): only while open; ConnectionClosed once closing; the cause once errored", () => {
    everyState((s, name) => {
      if (isErrored(name)) {
        throwsCause(s, () => s.ping(undefined, 0), name);
        throwsCause(s, () => s.assertCanSend(), name);
      } else if (name.startsWith("open")) {
        s.assertCanSend();
        assert.equal(s.ping(undefined, 0, "t").tag, "t", name);
      } else {
        throwsClosed(() => s.ping(undefined, 0), name);
        throwsClosed(() => s.assertCanSend(), name);
      }
    });
  });

  test("fail(ProtocolError): a close frame only when none was sent; closed and errored keep theirs", () => {
    everyState((s, name) => {
      const before = s.error;
      const info = s.closeInfo;
      const e = protocolError();
      const payload = s.fail(e);
      if (name.startsWith("open")) {
        assert.deepEqual(payload, closeBytes(1002, "RSV bits set"), name);
        assert.deepEqual(s.closeInfo, {
          code: 1002,
          reason: "",
          wasClean: false,
          initiatedBy: "local",
          error: e,
        }, name);
      } else assert.equal(payload, null, name);
      if (isClosed(name)) {
        assert.equal(s.phase, "closed", name);
        assert.equal(s.closeInfo, info, name);
      } else if (isErrored(name)) assert.equal(s.error, before, name);
      else {
        assert.equal(s.phase, "errored", name);
        assert.equal(s.error, e, name);
        assert.equal(s.closeInfo?.code, 1002, name);
      }
    });
  });

  test("fail(Error) and abort(): errored with 1006 and nothing to send, unless already closed or errored", () => {
    everyState((s, name) => {
      const first = s.error;
      const initiator = s.initiatedBy;
      assert.equal(s.fail(ioError), null, name);
      s.abort("later");
      if (isClosed(name)) return assert.equal(s.phase, "closed", name);
      assert.equal(s.phase, "errored", name);
      if (isErrored(name)) return assert.equal(s.error, first, name);
      assert.equal(s.error, ioError, name);
      assert.deepEqual(s.closeInfo, {
        code: 1006,
        reason: "",
        wasClean: false,
        initiatedBy: initiator,
        error: ioError,
      }, name);
    });
    for (const role of ROLES) {
      const s: State = new ConnectionState({ role });
      s.abort("user");
      assert.equal(s.phase, "errored");
      assert.ok(s.error instanceof ConnectionClosed && s.error.code === "WS_ABORTED");
      assert.equal(s.error.cause, "user");
      assert.equal(s.closeInfo?.initiatedBy, "local");
      assert.equal(s.closeInfo?.code, 1006);
    }
  });

  test("transportClosed(): clean after both close frames, 1006 otherwise, errored keeps its failure", () => {
    const expected: Record<string, [number, string, boolean, string]> = {
      "open": [1006, "", false, "none"],
      "closing (local)": [1006, "", false, "local"],
      "closing (remote)": [1001, "away", true, "remote"],
      "closing (handshake done)": [1000, "ok", true, "local"],
      "closed (clean)": [1000, "ok", true, "local"],
      "closed (abnormal)": [1006, "", false, "none"],
    };
    everyState((s, name) => {
      const base = name.replace(/ (client|server)$/, "");
      const before = s.closeInfo;
      const info = s.transportClosed();
      assert.equal(s.transportClosed(), info, `${name}: the same object every time`);
      if (isErrored(base)) {
        assert.equal(s.phase, "errored", name);
        assert.equal(info, before, name);
        return;
      }
      assert.equal(s.phase, "closed", name);
      const [code, reason, wasClean, initiatedBy] = expected[base]!;
      assert.deepEqual(
        [info.code, info.reason, info.wasClean, info.initiatedBy],
        [code, reason, wasClean, initiatedBy],
        name,
      );
      if (isClosed(base)) assert.equal(info, before, name);
      if (!wasClean) {
        assert.ok(info.error instanceof ConnectionClosed, name);
        assert.equal((info.error as ConnectionClosed).code, "WS_ABNORMAL_CLOSURE", name);
      } else assert.equal("error" in info, false, name);
    });
    const timeout = new Error("close timed out");
    const s: State = new ConnectionState({ role: "client" });
    s.close();
    assert.equal(s.transportClosed(timeout).error, timeout, "the cause given is kept");
  });
});

describe("ConnectionState close codes (RFC 6455 §7.4)", () => {
  test("close() sends exactly 1000-1003, 1007-1014 and 3000-4999 (0..5000 and beyond)", () => {
    const codes = [...Array(5002).keys(), -1, 1.5, NaN, Infinity, 65535, 65536, 70000];
    for (const code of codes) {
      const s: State = new ConnectionState({ role: "client" });
      if (sendable(code)) {
        assert.deepEqual(s.close(code), closeBytes(code), `code ${code}`);
        continue;
      }
      assert.throws(() => s.close(code), RangeError, `code ${code}`);
      assert.equal(s.phase, "open", `code ${code}: nothing changed`);
      assert.deepEqual(s.close(1000), closeBytes(1000), `code ${code}: still closable`);
    }
  });

  test("never sends the reserved 1004, 1005, 1006, 1015 and names the bad value", () => {
    for (const code of [1004, 1005, 1006, 1015, 999, 1016, 2999, 5000]) {
      assert.throws(
        () => new ConnectionState({ role: "server" }).close(code),
        new RegExp(`got ${code}$`),
      );
    }
  });

  test("a received code is accepted exactly when sendable and echoed; any other fails with 1002", () => {
    const codes = [...Array(5002).keys(), 0x7fff, 0x8000, 0xfffe, 0xffff];
    for (const role of ROLES) {
      for (const code of codes) {
        const s: State = new ConnectionState({ role });
        if (sendable(code)) {
          assert.deepEqual(
            s.receiveClose(closeBytes(code))?.reply,
            closeBytes(code),
            `code ${code}`,
          );
          continue;
        }
        assert.throws(
          () => s.receiveClose(closeBytes(code)),
          (e: unknown) =>
            e instanceof ProtocolError && e.code === "WS_INVALID_CLOSE_CODE" &&
            e.closeCode === 1002,
          `code ${code}`,
        );
        assert.equal(s.phase, "errored", `code ${code}`);
      }
    }
  });

  test("an empty close payload is 'no status' (1005), answered with 1000", () => {
    for (const role of ROLES) {
      const s: State = new ConnectionState({ role });
      const peer = s.receiveClose(new Uint8Array(0));
      assert.equal(peer?.code, 1005);
      assert.deepEqual(peer?.reply, hex("03e8"));
      assert.equal(s.transportClosed().code, 1005);
      // The same from a FrameReader's message.
      const m: State = new ConnectionState({ role });
      assert.deepEqual(
        m.receiveClose({ type: "close", code: 1005, reason: "" })?.reply,
        hex("03e8"),
      );
    }
  });

  test("a 1-byte close payload fails with 1002 (RFC 6455 §5.5.1)", () => {
    const s: State = new ConnectionState({ role: "client" });
    assert.throws(
      () => s.receiveClose(hex("03")),
      (e: unknown) =>
        e instanceof ProtocolError && e.code === "WS_CLOSE_PAYLOAD_LENGTH" && e.closeCode === 1002,
    );
  });

  test("a CloseMessage with a code never valid on the wire fails with 1002", () => {
    for (const code of [1004, 1006, 1015, 0, 999, 5000]) {
      const s: State = new ConnectionState({ role: "server" });
      assert.throws(
        () => s.receiveClose({ type: "close", code, reason: "" }),
        (e: unknown) => e instanceof ProtocolError && e.code === "WS_INVALID_CLOSE_CODE",
      );
    }
  });

  test("reasons: 123 UTF-8 bytes is the limit for close(), in 1-, 2- and 4-byte characters", () => {
    const fits = ["a".repeat(123), "é".repeat(61) + "a", "😀".repeat(30) + "abc"];
    const over = ["a".repeat(124), "é".repeat(62), "😀".repeat(31)];
    for (const reason of fits) {
      const payload = new ConnectionState({ role: "client" }).close(1000, reason);
      assert.equal(payload?.length, 125);
      assert.equal(new TextDecoder().decode(payload!.subarray(2)), reason);
    }
    for (const reason of over) {
      assert.throws(
        () => new ConnectionState({ role: "client" }).close(1000, reason),
        /at most 123 UTF-8 bytes: got 124/,
      );
    }
    assert.throws(() => new ConnectionState({ role: "client" }).close(1000, 7 as never), TypeError);
  });

  test("a received reason of 123 bytes is kept; invalid UTF-8 fails with 1007", () => {
    const s: State = new ConnectionState({ role: "client" });
    assert.equal(s.receiveClose(closeBytes(1000, "r".repeat(123)))?.reason, "r".repeat(123));
    const bad = ["ff", "c0af", "eda080", "f4908080", "e282", "f09f98"]; // invalid, overlong, surrogate, > U+10FFFF, truncated
    for (const h of bad) {
      const t: State = new ConnectionState({ role: "server" });
      assert.throws(
        () => t.receiveClose(closeBytes(1000, hex(h))),
        (e: unknown) =>
          e instanceof ProtocolError && e.code === "WS_INVALID_UTF8" && e.closeCode === 1007,
        h,
      );
      assert.deepEqual(t.fail(t.error!)?.subarray(0, 2), hex("03ef"), `${h}: close with 1007`);
    }
  });
});

describe("ConnectionState failures", () => {
  test("an errored connection throws the same cause object from every action, every time", () => {
    for (
      const make of [
        () => protocolError(),
        () => new Error("reset"),
      ]
    ) {
      const s: State = new ConnectionState({ role: "server" });
      const cause = make();
      s.fail(cause);
      for (let round = 0; round < 3; round++) {
        for (
          const fn of [
            () => s.close(),
            () => s.close(4000, "x"),
            () => s.close(1005), // even a bad argument: the failure comes first
            () => s.ping(undefined, 1),
            () => s.assertCanSend(),
            () => s.receiveClose(closeBytes(1000)),
            () => s.receivePing(hex("00")),
            () => s.receivePong(hex("00"), 1),
          ]
        ) assert.throws(fn, (e: unknown) => e === cause);
        assert.equal(s.fail(new Error("second")), null);
        assert.equal(s.error, cause);
      }
    }
  });

  test("a protocol error thrown by receiveClose errors the state; fail() with it gives the close frame once", () => {
    const s: State = new ConnectionState({ role: "client" });
    let thrown: unknown;
    try {
      s.receiveClose(hex("03"));
    } catch (e) {
      thrown = e;
    }
    assert.ok(thrown instanceof ProtocolError);
    assert.equal(s.error, thrown);
    assert.deepEqual(s.closeInfo?.initiatedBy, "local");
    const payload = s.fail(thrown);
    assert.deepEqual(payload, closeBytes(1002, "close frame payload of 1 byte (RFC 6455 §5.5.1)"));
    assert.equal(s.fail(thrown), null, "sent once");
    assert.equal(s.closeSent, true);
  });

  test("fail() reasons: the message when it fits in 123 bytes, else none; unsendable codes send nothing", () => {
    const long = new ProtocolError("WS_MESSAGE_TOO_BIG", 1009, "m".repeat(124));
    assert.deepEqual(new ConnectionState({ role: "server" }).fail(long), hex("03f1"));
    const fits = new ProtocolError("WS_MESSAGE_TOO_BIG", 1009, "m".repeat(123));
    assert.equal(new ConnectionState({ role: "server" }).fail(fits)?.length, 125);
    const odd = new ProtocolError("X", 1006, "odd");
    const s: State = new ConnectionState({ role: "server" });
    assert.equal(s.fail(odd), null);
    assert.equal(s.closeInfo?.code, 1006);
  });

  test("control payloads over 125 bytes fail with 1002 (RFC 6455 §5.5)", () => {
    for (const receive of ["ping", "pong"] as const) {
      const s: State = new ConnectionState({ role: "server" });
      const big = new Uint8Array(126);
      assert.throws(
        () => receive === "ping" ? s.receivePing(big) : s.receivePong(big, 0),
        (e: unknown) => e instanceof ProtocolError && e.code === "WS_CONTROL_TOO_LONG",
      );
      assert.equal(s.phase, "errored");
    }
  });

  test("rejects a bad role", () => {
    assert.throws(
      () => new ConnectionState({ role: "peer" as Role }),
      /role must be "client" or "server": got peer/,
    );
  });
});

describe("ConnectionState pings and pongs", () => {
  test("ping() ids are unique 8-byte counters; given payloads are copied and bounded by 125 bytes", () => {
    const s: State = new ConnectionState({ role: "client" });
    assert.deepEqual(s.ping(undefined, 0).data, hex("0000000000000001"));
    assert.deepEqual(s.ping(undefined, 0).data, hex("0000000000000002"));
    const mine = te.encode("abc");
    const p = s.ping(mine, 5, "tag");
    mine[0] = 0x7a;
    assert.deepEqual(p.data, te.encode("abc"));
    assert.equal(p.sentAtMs, 5);
    assert.equal(s.ping(new Uint8Array(125), 0).data.length, 125);
    assert.throws(() => s.ping(new Uint8Array(126), 0), /at most 125 bytes .*got 126/);
    assert.throws(() => s.ping(undefined, NaN), /nowMs must be a finite number/);
    assert.equal(s.pendingPings.length, 4);
  });

  test("a pong answers its ping and, implicitly, every earlier one (RFC 6455 §5.5.3)", () => {
    const s: State = new ConnectionState({ role: "server" });
    const a = s.ping(te.encode("a"), 10, "A");
    const b = s.ping(te.encode("b"), 20, "B");
    const c = s.ping(te.encode("c"), 30, "C");
    const r = s.receivePong(te.encode("b"), 50);
    assert.deepEqual(r, { answered: [{ ping: a, rttMs: 40 }, { ping: b, rttMs: 30 }], rttMs: 30 });
    assert.equal(s.lastRttMs, 30);
    assert.deepEqual(s.pendingPings, [c]);
    assert.deepEqual(s.receivePong(te.encode("c"), 31)?.answered.map((x) => x.ping.tag), ["C"]);
    assert.equal(s.lastRttMs, 1);
  });

  test("unsolicited pongs answer nothing and change nothing", () => {
    const s: State = new ConnectionState({ role: "client" });
    assert.equal(s.receivePong(te.encode("x"), 1), null, "no ping pending");
    s.ping(te.encode("a"), 0);
    assert.equal(s.receivePong(te.encode("b"), 1), null);
    assert.equal(s.receivePong(te.encode("aa"), 1), null);
    assert.equal(s.receivePong(new Uint8Array(0), 1), null);
    assert.equal(s.pendingPings.length, 1);
    assert.ok(Number.isNaN(s.lastRttMs));
  });

  test("equal payloads are answered oldest first", () => {
    const s: State = new ConnectionState({ role: "client" });
    s.ping(te.encode("same"), 0, "first");
    s.ping(te.encode("same"), 1, "second");
    assert.deepEqual(s.receivePong(te.encode("same"), 2)?.answered.map((x) => x.ping.tag), [
      "first",
    ]);
    assert.deepEqual(s.pendingPings.map((p) => p.tag), ["second"]);
  });

  test("dropPing() removes one ping (a timeout); failPings() takes them all", () => {
    const s: State = new ConnectionState({ role: "client" });
    const a = s.ping(te.encode("a"), 0, "A");
    s.ping(te.encode("b"), 0, "B");
    s.ping(te.encode("c"), 0, "C");
    assert.equal(s.dropPing(a), true);
    assert.equal(s.dropPing(a), false);
    assert.equal(s.receivePong(te.encode("a"), 5), null, "a dropped ping's pong is unsolicited");
    s.fail(ioError);
    assert.deepEqual(s.pendingPings.map((p) => p.tag), ["B", "C"], "kept for the caller to fail");
    assert.deepEqual(s.failPings().map((p) => p.tag), ["B", "C"]);
    assert.deepEqual(s.failPings(), []);
    assert.equal(s.dropPing(a), false);
  });

  test("pongs still answer pings while our close waits; none count after the peer's close", () => {
    const s: State = new ConnectionState({ role: "client" });
    s.ping(te.encode("1"), 0);
    s.ping(te.encode("2"), 0);
    s.close();
    assert.equal(s.receivePong(te.encode("1"), 4)?.rttMs, 4);
    s.receiveClose(closeBytes(1000));
    assert.equal(s.receivePong(te.encode("2"), 5), null);
    assert.equal(s.pendingPings.length, 1);
  });

  test("with autoPong false pings are left to the caller and no pong is counted as dropped", () => {
    const s: State = new ConnectionState({ role: "server", autoPong: false });
    assert.equal(s.receivePing(te.encode("p")), null);
    s.close();
    assert.equal(s.receivePing(te.encode("p")), null);
    assert.equal(s.droppedPongs, 0);
  });
});
