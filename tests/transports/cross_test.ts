import { describe } from "node:test";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import { nodeTransport } from "../../src/transports/node.ts";
import { transportSuite } from "./suite.ts";

// The running runtime's native client against a node:net server: the two
// adapters must interoperate byte for byte (on Node both sides are node:net).
const native = lazyTransport(detectRuntime());

describe("transports: native client against the node adapter's listener", () => {
  transportSuite(`native(${detectRuntime()})->node`, native, nodeTransport);
});
