/**
 * Codec throughput: sluice's FrameReader/FrameWriter beside ws's Receiver and
 * Sender, in the same process, interleaved, on whatever runtime runs this file.
 *
 *   node --import tsx bench/codec.ts        bun bench/codec.ts        deno run -A bench/codec.ts
 *   options: --quick (shorter runs), --sizes 16,1024
 *
 * Decoding: one call feeds a chunk holding N whole frames (N × size ≈ 256 KiB,
 * at least 1) and drains every message. Masked frames are unmasked in place by
 * both libraries, so each call first restores the chunk from a template (the
 * same memcpy for both). Encoding: one call encodes N messages.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { FrameReader } from "../src/core/ws/frame_reader.ts";
import { FrameWriter } from "../src/core/ws/frame_writer.ts";
import { WriteBuf } from "../src/core/ws/write_buf.ts";
import { compare, runtimeVersion, type Stats } from "./_harness.ts";

interface WsReceiver {
  on(event: "message", fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  write(chunk: Buffer): boolean;
}
interface WsFrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}
// Load ws's own files by path: Bun replaces the bare "ws" import with a shim of its
// own whose Receiver is not implemented, and we want to measure the real ws everywhere.
const require = createRequire(import.meta.url);
const wsModule = {
  Receiver: require("../node_modules/ws/lib/receiver.js"),
  Sender: require("../node_modules/ws/lib/sender.js"),
} as {
  Receiver: new (o: { isServer: boolean; maxPayload: number }) => WsReceiver;
  Sender: { frame(data: Buffer, o: WsFrameOptions): Buffer[] };
};

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const sizesArg = args.indexOf("--sizes");
const SIZES = sizesArg >= 0
  ? args[sizesArg + 1].split(",").map(Number)
  : [16, 125, 1024, 16384, 1 << 20];
const RUN = { durationMs: quick ? 150 : 400, repeats: quick ? 3 : 5, warmup: 10 };
const CHUNK_TARGET = 256 * 1024;

function payload(size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Row {
  what: string;
  size: number;
  masked: boolean;
  stats: Stats[];
}

const rows: Row[] = [];
let sink = 0; // keeps results observable so no engine drops the work

async function decode(size: number, masked: boolean): Promise<void> {
  const n = Math.max(1, Math.floor(CHUNK_TARGET / (size + 14)));
  // Masked frames come from a client and are read by a server, unmasked the other way round.
  const writer = new FrameWriter({ role: masked ? "client" : "server" });
  const data = payload(size);
  const template = concat(Array.from({ length: n }, () => writer.binary(data)));
  const work = new Uint8Array(template.length);
  const workBuf = Buffer.from(work.buffer, work.byteOffset, work.length);

  const reader = new FrameReader({ role: masked ? "server" : "client", maxMessageSize: 2 << 20 });
  const receiver = new wsModule.Receiver({ isServer: masked, maxPayload: 2 << 20 });
  let wsCount = 0;
  receiver.on("message", (d) => {
    wsCount++;
    sink += d.length;
  });
  receiver.on("error", (e) => {
    throw e;
  });

  const stats = await compare([
    {
      name: "sluice FrameReader",
      opsPerCall: n,
      fn: () => {
        work.set(template);
        reader.push(work);
        let got = 0;
        for (let m = reader.next(); m !== null; m = reader.next()) {
          got++;
          if (m.type === "binary") sink += m.data.length;
        }
        if (got !== n) throw new Error(`sluice decoded ${got} of ${n}`);
      },
    },
    {
      name: "ws Receiver",
      opsPerCall: n,
      fn: () => {
        work.set(template);
        wsCount = 0;
        receiver.write(workBuf);
        if (wsCount !== n) throw new Error(`ws decoded ${wsCount} of ${n}`);
      },
    },
  ], RUN);
  rows.push({ what: "decode", size, masked, stats });
}

async function encode(size: number, masked: boolean): Promise<void> {
  const n = Math.max(1, Math.floor(CHUNK_TARGET / (size + 14)));
  const writer = new FrameWriter({ role: masked ? "client" : "server" });
  const data = payload(size);
  const dataBuf = Buffer.from(data.buffer, data.byteOffset, data.length);
  // readOnly: true tells ws the payload must not be modified (so it copies before masking),
  // the same contract as sluice's binary().
  const wsOpts: WsFrameOptions = {
    fin: true,
    rsv1: false,
    opcode: 2,
    mask: masked,
    readOnly: true,
  };
  const cases = [
    {
      name: "sluice FrameWriter",
      opsPerCall: n,
      fn: () => {
        for (let i = 0; i < n; i++) sink += writer.binary(data).length;
      },
    },
    {
      name: "ws Sender.frame",
      opsPerCall: n,
      fn: () => {
        for (let i = 0; i < n; i++) sink += wsModule.Sender.frame(dataBuf, wsOpts).length;
      },
    },
  ];
  const batch = new WriteBuf(n * (size + 14));
  cases.push({
    // How sluice's connection sends: frames queued in one turn appended to one batch, one write.
    name: "sluice appendFrame (batched)",
    opsPerCall: n,
    fn: () => {
      batch.clear();
      for (let i = 0; i < n; i++) writer.appendFrame(batch, "binary", data);
      sink += batch.length;
    },
  });
  if (!masked) {
    // The vectored path: header alone, payload written as it is (what ws returns unmasked).
    cases.push({
      name: "sluice header()+payload",
      opsPerCall: n,
      fn: () => {
        for (let i = 0; i < n; i++) {
          sink += writer.header("binary", data.length).length + data.length;
        }
      },
    });
  }
  const stats = await compare(cases, RUN);
  rows.push({ what: "encode", size, masked, stats });
}

function fmt(n: number, digits = 1): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(digits)} k`;
  return n.toFixed(digits);
}

function label(size: number): string {
  return size >= 1 << 20 ? `${size >> 20} MiB` : size >= 1024 ? `${size >> 10} KiB` : `${size} B`;
}

for (const size of SIZES) {
  for (const masked of [false, true]) {
    await decode(size, masked);
    await encode(size, masked);
  }
}

console.log(
  `\nsluice codec vs ws ${"(ws Receiver/Sender, pure JS: no bufferutil/utf-8-validate installed)"} — ${runtimeVersion()}`,
);
console.log(
  "| op | size | masked | sluice msgs/s | sluice MB/s | ws msgs/s | ws MB/s | sluice/ws |",
);
console.log("|---|---:|:---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const ws = r.stats.find((s) => s.name.startsWith("ws"))!;
  for (const s of r.stats.filter((x) => x.name.startsWith("sluice"))) {
    const mbs = (ops: number) => (ops * r.size) / 1e6;
    const name = s.name.includes("header")
      ? `${r.what} header()+payload`
      : s.name.includes("batched")
      ? `${r.what} batched`
      : `${r.what} ${r.what === "encode" ? "binary()" : ""}`.trim();
    console.log(
      `| ${name} | ${label(r.size)} | ${r.masked ? "yes" : "no"} | ${fmt(s.opsPerSec)} | ${
        fmt(mbs(s.opsPerSec))
      } | ` +
        `${fmt(ws.opsPerSec)} | ${fmt(mbs(ws.opsPerSec))} | ${
          (s.opsPerSec / ws.opsPerSec).toFixed(2)
        }x |`,
    );
  }
}
if (sink === 42) console.log("");
