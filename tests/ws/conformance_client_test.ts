/**
 * RFC 6455 conformance of the sluice client (connectWebSocket echoing what it
 * receives, as the Autobahn client driver does) against a raw server:
 * Autobahn TestSuite sections 1–5.
 */
import { describe, test } from "node:test";
import { SECTION_1, SECTION_2, SECTION_3, SECTION_4, SECTION_5 } from "./_cases_framing.ts";
import { caseName, runClientCase } from "./_conformance.ts";

describe("ws client conformance: framing, pings, reserved bits, opcodes, fragmentation", () => {
  for (const c of [...SECTION_1, ...SECTION_2, ...SECTION_3, ...SECTION_4, ...SECTION_5]) {
    test(caseName(c, "client"), () => runClientCase(c));
  }
});
