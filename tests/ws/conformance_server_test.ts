/**
 * RFC 6455 conformance of the sluice server (serveWebSocket with an echo
 * handler) against a raw client: Autobahn TestSuite sections 1–5.
 */
import { describe, test } from "node:test";
import { SECTION_1, SECTION_2, SECTION_3, SECTION_4, SECTION_5 } from "./_cases_framing.ts";
import { caseName, runServerCase } from "./_conformance.ts";

describe("ws server conformance: framing, pings, reserved bits, opcodes, fragmentation", () => {
  for (const c of [...SECTION_1, ...SECTION_2, ...SECTION_3, ...SECTION_4, ...SECTION_5]) {
    test(caseName(c, "server"), () => runServerCase(c));
  }
});
