/**
 * Drives the sluice client through the Autobahn TestSuite fuzzing server
 * (`wstest -m fuzzingserver`): asks for the number of cases, runs each case
 * by echoing every message until the server closes, then asks the server to
 * write its reports. Runs as written on every runtime:
 *
 *   deno run -A examples/autobahn_client.ts --url ws://127.0.0.1:9001 --agent sluice-deno
 *   bun examples/autobahn_client.ts --url ws://127.0.0.1:9001 --agent sluice-bun
 *   node --import tsx examples/autobahn_client.ts --url ws://127.0.0.1:9001 --agent sluice-node
 *
 * The fuzzing server protocol: `/getCaseCount` sends one text message with
 * the count; `/runCase?case=N&agent=A` runs case N (1-based) against us;
 * `/updateReports?agent=A` writes the reports. Exits with status 0 once the
 * reports are updated (case verdicts are in the server's reports, not here).
 *
 * @module
 */
import process from "node:process";
import { connectWebSocket, type WebSocketConnection } from "../mod.ts";
import { parseFlags } from "./_args.ts";

const flags = parseFlags({ url: "ws://127.0.0.1:9001", agent: "sluice" });
const base = flags.url.replace(/\/+$/, "");
const agent = encodeURIComponent(flags.agent);
const options = { maxMessageSize: 64 * 1024 * 1024, closeTimeout: 2000, handshakeTimeout: 10_000 };

/** Echoes every message until the peer closes; protocol failures are the case's business. */
async function echo(ws: WebSocketConnection): Promise<void> {
  for await (const msg of ws) {
    if (msg.type === "text") await ws.sendText(msg.text);
    else if (msg.type === "binary") await ws.sendBinary(msg.data);
  }
}

async function caseCount(): Promise<number> {
  const ws = await connectWebSocket(`${base}/getCaseCount`, options);
  const msg = await ws.recv();
  await ws.close();
  const count = msg?.type === "text" ? Number(msg.text) : NaN;
  if (!Number.isInteger(count) || count < 0) {
    throw new Error(`getCaseCount answered ${msg?.type === "text" ? JSON.stringify(msg.text) : msg?.type}`);
  }
  return count;
}

const count = await caseCount();
console.log(`${count} cases`);
for (let n = 1; n <= count; n++) {
  const started = performance.now();
  let outcome = "done";
  try {
    const ws = await connectWebSocket(`${base}/runCase?case=${n}&agent=${agent}`, options);
    try {
      await echo(ws);
      const info = await ws.closed;
      outcome = `closed ${info.code}${info.wasClean ? "" : " (unclean)"}`;
    } catch (e) {
      // We failed the connection (the case's expected outcome for bad input).
      const info = await ws.closed;
      outcome = `failed ${info.code}: ${e instanceof Error ? e.message : e}`;
    }
  } catch (e) {
    outcome = `could not connect: ${e instanceof Error ? e.message : e}`;
  }
  console.log(`case ${n}/${count}: ${outcome} in ${(performance.now() - started).toFixed(0)} ms`);
}

const reports = await connectWebSocket(`${base}/updateReports?agent=${agent}`, options);
await echo(reports).catch(() => {});
await reports.closed;
console.log("reports updated");
process.exit(0);
