import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { TlsError } from "../../src/core/errors.ts";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import { nodeTransport } from "../../src/transports/node.ts";
import type { Transport } from "../../src/transports/types.ts";
import { getTestCerts } from "../_helpers/certs.ts";
import { within } from "../ws/_interop.ts";

// Regression: the Bun adapter sent "127.0.0.1" as the TLS server name when
// connecting to an IP address, which RFC 6066 §3 forbids ("Literal IPv4 and
// IPv6 addresses are not permitted in HostName").

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(" ")}: ${stderr || err.message}`));
      else resolve();
    });
  });
}

/** A CA and a server certificate for DNS:localhost only (no IP address). */
async function nameOnlyPki(): Promise<{ ca: string; cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-sni-"));
  try {
    const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl([
      "req",
      "-x509",
      ...key,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=sni test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ], dir); // deno-fmt-ignore
    writeFileSync(
      join(dir, "leaf.ext"),
      "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n",
    );
    await openssl([
      "req",
      ...key,
      "-keyout",
      "leaf.key",
      "-out",
      "leaf.csr",
      "-subj",
      "/CN=localhost",
    ], dir);
    await openssl([
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      "7",
      "-days",
      "1",
      "-extfile",
      "leaf.ext",
      "-out",
      "leaf.crt",
    ], dir); // deno-fmt-ignore
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return { ca: read("ca.crt"), cert: read("leaf.crt"), key: read("leaf.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A node:tls server that records the SNI name of each client; closed after `fn`. */
async function withSniRecorder(
  cert: string,
  key: string,
  fn: (port: number, firstName: Promise<string | false | undefined>) => Promise<void>,
): Promise<void> {
  let record!: (name: string | false | undefined) => void;
  const firstName = new Promise<string | false | undefined>((resolve) => (record = resolve));
  const server = tls.createServer({ cert, key }, (s) => {
    record((s as { servername?: string | false }).servername);
    s.end();
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn((server.address() as AddressInfo).port, firstName);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function sniCases(label: string, client: Transport): void {
  test(`${label}: connecting to an IP address sends no SNI and verifies the IP against the certificate`, async () => {
    const pki = await getTestCerts();
    await withSniRecorder(pki.serverCert, pki.serverKey, async (port, firstName) => {
      const conn = await client.connect({
        hostname: "127.0.0.1",
        port,
        tls: { caCerts: [pki.caCert] },
      });
      try {
        const name = await within(firstName, 5_000, "the server's secureConnection");
        assert.ok(!name, `no server name expected for an IP literal, got ${JSON.stringify(name)}`);
      } finally {
        conn.close();
        await conn.closed;
      }
    });
  });

  test(`${label}: a certificate without the IP address fails an IP connection with TLS_HOSTNAME_MISMATCH`, async () => {
    const pki = await nameOnlyPki();
    await withSniRecorder(pki.cert, pki.key, async (port) => {
      const err = await client.connect({ hostname: "127.0.0.1", port, tls: { caCerts: [pki.ca] } })
        .then(
          (c) => {
            c.close();
            return null;
          },
          (e: unknown) => e,
        );
      assert.ok(err instanceof TlsError, `expected a TlsError, got ${String(err)}`);
      assert.equal(err.code, "TLS_HOSTNAME_MISMATCH");
    });
  });
}

describe("transports: TLS server name for IP-address hosts (RFC 6066 §3)", () => {
  sniCases("node", nodeTransport);
  const rt = detectRuntime();
  if (rt !== "node") sniCases(rt, lazyTransport(rt));
});
