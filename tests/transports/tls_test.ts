import { describe } from "node:test";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import { nodeTransport } from "../../src/transports/node.ts";
import { tlsSuite } from "./tls_suite.ts";

// TLS through the running runtime's own adapter, client and server. The SNI
// test's server is the node adapter, whose listener reports the SNI name on
// every runtime (Deno's native TLS listener does not).
const native = lazyTransport(detectRuntime());

describe("transports: TLS on the native adapter of the running runtime", () => {
  tlsSuite(`native(${detectRuntime()}) tls`, native, native, nodeTransport);
});
