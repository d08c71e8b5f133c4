import { describe } from "node:test";
import { nodeTransport } from "../../src/transports/node.ts";
import { transportSuite } from "./suite.ts";

// The node:net adapter runs on every runtime (Deno and Bun implement node:net).
describe("transports: node adapter", () => {
  transportSuite("node", nodeTransport, nodeTransport);
});
