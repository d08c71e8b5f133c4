import { describe } from "node:test";
import { nodeTransport } from "../../src/transports/node.ts";
import { tlsSuite } from "./tls_suite.ts";

// node:tls on every runtime (Deno and Bun implement it).
describe("transports: TLS on the node adapter", () => {
  tlsSuite("node tls", nodeTransport, nodeTransport, nodeTransport);
});
