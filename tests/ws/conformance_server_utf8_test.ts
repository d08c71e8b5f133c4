/**
 * RFC 6455 §8.1 conformance of the sluice server (serveWebSocket echo handler) against a raw client: Autobahn TestSuite section 6 (UTF-8
 * handling, fail-fast included).
 */
import { describe, test } from "node:test";
import { groupCases, SECTION_6_BASIC, SECTION_6_TABLE } from "./_cases_utf8.ts";
import { caseName, runServerCase } from "./_conformance.ts";

describe("ws server conformance: UTF-8 handling", () => {
  for (const c of SECTION_6_BASIC) {
    test(caseName(c, "server"), () => runServerCase(c));
  }
  for (const group of SECTION_6_TABLE) {
    const valid = group.cases.filter((c) => c.valid).length;
    const invalid = group.cases.length - valid;
    const what = [
      valid ? `echoes the ${valid} valid ones byte-exact` : "",
      invalid ? `fails each of the ${invalid} invalid ones with 1007` : "",
    ].filter(Boolean).join(" and ");
    test(`${group.id}.x: server gets ${group.title} in one text frame and ${what}`, async () => {
      for (const c of groupCases(group)) await runServerCase(c);
    });
  }
});
