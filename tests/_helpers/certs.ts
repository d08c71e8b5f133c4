/**
 * Test certificates made at test time with the `openssl` CLI (through
 * `node:child_process`, so it works on Deno, Bun and Node), once per process,
 * in a temporary directory that is removed when the process exits.
 *
 * - `caCert`: a test root CA ("sluice test CA").
 * - `serverCert`/`serverKey`: issued by that CA for DNS `localhost` and IP
 *   `127.0.0.1` (subjectAltName), serverAuth.
 * - `clientCert`/`clientKey`: issued by that CA for CN `sluice test client`,
 *   clientAuth, for mutual TLS.
 * - `otherCaCert`/`otherServerCert`/`otherServerKey`: an unrelated CA and a
 *   `localhost` server certificate it issued, for "unknown CA" tests.
 *
 * All keys are EC P-256 in PKCS #8 PEM, which every runtime's TLS accepts.
 *
 * @example Serve TLS with the test server certificate
 * ```ts
 * import { getTestCerts } from "./certs.ts";
 * const { serverCert, serverKey, caCert } = await getTestCerts();
 * // listen({ port: 0, tls: { cert: serverCert, key: serverKey } })
 * // connect({ hostname: "localhost", port, tls: { caCerts: [caCert] } })
 * ```
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** PEM strings of the test PKI. */
export interface TestCerts {
  /** The test root CA certificate. */
  readonly caCert: string;
  /** Server certificate for `localhost` and `127.0.0.1`, issued by `caCert`. */
  readonly serverCert: string;
  /** Private key of `serverCert`. */
  readonly serverKey: string;
  /** Client certificate (clientAuth) issued by `caCert`. */
  readonly clientCert: string;
  /** Private key of `clientCert`. */
  readonly clientKey: string;
  /** A CA unrelated to `caCert`. */
  readonly otherCaCert: string;
  /** Server certificate for `localhost` and `127.0.0.1` issued by `otherCaCert`. */
  readonly otherServerCert: string;
  /** Private key of `otherServerCert`. */
  readonly otherServerKey: string;
  /** A client certificate issued by `otherCaCert` (untrusted by servers trusting `caCert`). */
  readonly otherClientCert: string;
  /** Private key of `otherClientCert`. */
  readonly otherClientKey: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(" ")} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl([
    "req", "-x509", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.crt`,
    "-days", "3", "-subj", `/CN=${cn}`, "-sha256",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ], dir); // deno-fmt-ignore
}

async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  cn: string,
  ext: string,
  serial: number,
): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), ext);
  await openssl(["req", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
  await openssl([
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`,
    "-set_serial", String(serial), "-days", "3", "-sha256", "-extfile", `${name}.ext`,
    "-out", `${name}.crt`,
  ], dir); // deno-fmt-ignore
}

const SERVER_EXT = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
  "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n" +
  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
const CLIENT_EXT = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
  "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

async function generate(): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-certs-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  await Promise.all([
    makeCa(dir, "ca", "sluice test CA"),
    makeCa(dir, "other-ca", "sluice unrelated test CA"),
  ]);
  await Promise.all([
    makeLeaf(dir, "server", "ca", "localhost", SERVER_EXT, 2),
    makeLeaf(dir, "client", "ca", "sluice test client", CLIENT_EXT, 3),
    makeLeaf(dir, "other-server", "other-ca", "localhost", SERVER_EXT, 4),
    makeLeaf(dir, "other-client", "other-ca", "sluice other client", CLIENT_EXT, 5),
  ]);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return Object.freeze({
    caCert: read("ca.crt"),
    serverCert: read("server.crt"),
    serverKey: read("server.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    otherCaCert: read("other-ca.crt"),
    otherServerCert: read("other-server.crt"),
    otherServerKey: read("other-server.key"),
    otherClientCert: read("other-client.crt"),
    otherClientKey: read("other-client.key"),
  });
}

let cached: Promise<TestCerts> | undefined;

/**
 * The test PKI, generated on first call and cached for the process.
 *
 * @returns PEM strings; see {@link TestCerts}.
 * @throws {Error} when the `openssl` CLI is missing or fails.
 */
export function getTestCerts(): Promise<TestCerts> {
  cached ??= generate().catch((err) => {
    cached = undefined;
    throw err;
  });
  return cached;
}
