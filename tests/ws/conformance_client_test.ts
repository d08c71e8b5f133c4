/**
 * RFC 6455 conformance of the sluice client (connectWebSocket echoing what it
 * receives, as the Autobahn client driver does) against a raw server:
 * Autobahn TestSuite sections 1–5.
 */
import { describe, test } from "node:test";
import { SECTION_1, SECTION_2, SECTION_3, SECTION_4, SECTION_5 } from "./_cases_framing.ts";
import { SECTION_7_1, SECTION_7_3, SECTION_7_CODES } from "./_cases_close.ts";
import { SECTION_6_BASIC } from "./_cases_utf8.ts";
import { caseBytes, caseName, ODD_CHOPS, runClientCase } from "./_conformance.ts";

describe("ws client conformance: framing, pings, reserved bits, opcodes, fragmentation", () => {
  for (const c of [...SECTION_1, ...SECTION_2, ...SECTION_3, ...SECTION_4, ...SECTION_5]) {
    test(caseName(c, "client"), () => runClientCase(c));
  }

  test("sections 1-7: every case under 8 KiB also passes with its writes cut into odd sizes (1, 2, 3, 5, 7, 11, 13 bytes, cycled)", async () => {
    const all = [
      ...SECTION_1, ...SECTION_2, ...SECTION_3, ...SECTION_4, ...SECTION_5,
      ...SECTION_6_BASIC, ...SECTION_7_1, ...SECTION_7_3, ...SECTION_7_CODES,
    ];
    for (const c of all.filter((c) => caseBytes(c) < 8192)) await runClientCase(c, {}, ODD_CHOPS);
  });
});
