import { describe } from "node:test";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import { transportSuite } from "./suite.ts";

// The running runtime's own adapter: Deno's native sockets on Deno, Bun's on
// Bun, node:net on Node.
const native = lazyTransport(detectRuntime());

describe("transports: native adapter of the running runtime", () => {
  transportSuite(`native(${detectRuntime()})`, native, native);
});
