/**
 * The manifest check that `npm test` runs (scripts/check_package.ts): the
 * real manifests agree, and each kind of drift between deno.json and
 * package.json is reported.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { manifestProblems } from "../../scripts/check_package.ts";

const root = new URL("../..", import.meta.url);
const read = (f: string) => JSON.parse(readFileSync(new URL(f, root), "utf8"));

describe("deno.json and package.json stay in step", () => {
  test("the committed manifests agree", () => {
    assert.deepEqual(manifestProblems(read("deno.json"), read("package.json")), []);
  });

  test("a version bump in one manifest only is reported", () => {
    const npm = { ...read("package.json"), version: "9.9.9" };
    assert.match(manifestProblems(read("deno.json"), npm).join("\n"), /version: deno.json .* vs package.json 9.9.9/);
  });

  test("an entry point missing from package.json, or pointing elsewhere, is reported", () => {
    const deno = read("deno.json");
    const npm = read("package.json");
    const fewer = { ...npm, exports: { ...npm.exports } };
    delete fewer.exports["./core"];
    assert.match(manifestProblems(deno, fewer).join("\n"), /export keys/);
    const moved = { ...npm, exports: { ...npm.exports, "./core": { ...npm.exports["./core"], import: "./x.js" } } };
    assert.match(manifestProblems(deno, moved).join("\n"), /exports\["\.\/core"\]: expected/);
  });

  test("types after import is reported (types must come first)", () => {
    const npm = read("package.json");
    const { types, ...rest } = npm.exports["."];
    const swapped = { ...npm, exports: { ...npm.exports, ".": { ...rest, types } } };
    assert.match(manifestProblems(read("deno.json"), swapped).join("\n"), /exports\["\."\]: expected/);
  });
});
