/**
 * TLS behaviour every {@link Transport} must show over loopback, with the
 * test PKI from `tests/_helpers/certs.ts`. Call inside one `describe`.
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionClosed, SluiceError, TlsError } from "../../src/core/errors.ts";
import type {
  ClientTlsOptions,
  Connection,
  ServerTlsOptions,
  Transport,
} from "../../src/transports/types.ts";
import { getTestCerts } from "../_helpers/certs.ts";
import { readExactly, withListener } from "../_helpers/net.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Connects with `clientTls` to a TLS listener with `serverTls`, runs `fn`, closes all. */
async function withTls(
  client: Transport,
  server: Transport,
  serverTls: ServerTlsOptions,
  clientTls: ClientTlsOptions,
  fn: (c: Connection, accepted: Promise<Connection | null>) => Promise<void>,
): Promise<void> {
  await withListener(server, { tls: serverTls }, async (listener) => {
    const accepted = listener.accept();
    const c = await client.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      tls: clientTls,
      connectTimeout: 5_000,
    });
    try {
      await fn(c, accepted);
    } finally {
      c.close();
      const s = await Promise.race([accepted, listener.close().then(() => accepted)]);
      s?.close();
    }
  });
}

/** Sends "ping" from the client, answers "pong" from the server. */
async function pingPong(c: Connection, s: Connection): Promise<void> {
  const cw = c.writable.getWriter();
  await cw.write(enc.encode("ping"));
  assert.equal(dec.decode(await readExactly(s.readable.getReader(), 4)), "ping");
  await s.writable.getWriter().write(enc.encode("pong"));
  assert.equal(dec.decode(await readExactly(c.readable.getReader(), 4)), "pong");
  cw.releaseLock();
}

/** The failure of connecting, or of the first read when TLS 1.3 reports it late. */
async function failureOf(
  client: Transport,
  port: number,
  tls: ClientTlsOptions,
): Promise<unknown> {
  let conn: Connection;
  try {
    conn = await client.connect({ hostname: "127.0.0.1", port, tls, connectTimeout: 5_000 });
  } catch (e) {
    return e;
  }
  try {
    // TLS 1.3: the client finishes its handshake before the server checks the
    // client certificate, so the server's refusal arrives as an alert on read.
    await conn.writable.getWriter().write(enc.encode("hello?"));
    const r = await conn.readable.getReader().read();
    return r.done ? new Error("connection ended without an error") : new Error("got data");
  } catch (e) {
    return e;
  } finally {
    conn.close();
  }
}

/**
 * Declares the shared TLS tests.
 *
 * @param label Prefix of every test name.
 * @param client The adapter that connects.
 * @param server The adapter that listens.
 * @param sniServer An adapter whose listener reports the client's SNI name.
 */
export function tlsSuite(
  label: string,
  client: Transport,
  server: Transport,
  sniServer: Transport,
): void {
  test(`${label}: TLS with the private CA in caCerts verifies 127.0.0.1 and carries data`, async () => {
    const pki = await getTestCerts();
    await withTls(
      client,
      server,
      { cert: pki.serverCert, key: pki.serverKey },
      { caCerts: [pki.caCert] },
      async (c, accepted) => {
        const s = await accepted;
        assert.ok(s);
        await pingPong(c, s);
        assert.equal(c.alpnProtocol, undefined);
      },
    );
  });

  test(`${label}: a certificate from an unknown CA is rejected with TlsError TLS_CERT_UNTRUSTED`, async () => {
    const pki = await getTestCerts();
    await withListener(server, { tls: { cert: pki.serverCert, key: pki.serverKey } }, async (l) => {
      for (const tls of [{ caCerts: [pki.otherCaCert] }, {}]) {
        const err = await failureOf(client, l.addr.port, tls);
        assert.ok(err instanceof TlsError, `${err}`);
        assert.equal(err.code, "TLS_CERT_UNTRUSTED");
        assert.match(err.message, /tls\.caCerts/);
        assert.ok(err.cause !== undefined);
      }
    });
  });

  test(`${label}: a serverName the certificate does not list fails with TLS_HOSTNAME_MISMATCH`, async () => {
    const pki = await getTestCerts();
    await withListener(server, { tls: { cert: pki.serverCert, key: pki.serverKey } }, async (l) => {
      const err = await failureOf(client, l.addr.port, {
        caCerts: [pki.caCert],
        serverName: "wrong.test",
      });
      assert.ok(err instanceof TlsError, `${err}`);
      assert.equal(err.code, "TLS_HOSTNAME_MISMATCH");
    });
  });

  test(`${label}: insecure accepts an untrusted certificate (explicit opt-in only)`, async () => {
    const pki = await getTestCerts();
    await withTls(
      client,
      server,
      { cert: pki.otherServerCert, key: pki.otherServerKey },
      { insecure: true },
      async (c, accepted) => {
        const s = await accepted;
        assert.ok(s);
        await pingPong(c, s);
      },
    );
  });

  test(`${label}: ALPN negotiates the server's choice among the client's offers`, async () => {
    const pki = await getTestCerts();
    await withTls(
      client,
      server,
      { cert: pki.serverCert, key: pki.serverKey, alpnProtocols: ["h2", "http/1.1"] },
      { caCerts: [pki.caCert], alpnProtocols: ["http/1.1", "sluice/1"] },
      async (c, accepted) => {
        const s = await accepted;
        assert.equal(c.alpnProtocol, "http/1.1");
        assert.equal(s?.alpnProtocol, "http/1.1");
      },
    );
  });

  test(`${label}: SNI serverName reaches the server and is verified`, async () => {
    const pki = await getTestCerts();
    await withTls(
      client,
      sniServer,
      { cert: pki.serverCert, key: pki.serverKey },
      { caCerts: [pki.caCert], serverName: "localhost" },
      async (c, accepted) => {
        const s = await accepted;
        assert.ok(s);
        assert.equal(s.serverName, "localhost");
        await pingPong(c, s);
      },
    );
  });

  test(`${label}: mutual TLS, client certificate required and given`, async () => {
    const pki = await getTestCerts();
    await withTls(
      client,
      server,
      { cert: pki.serverCert, key: pki.serverKey, caCerts: [pki.caCert], requireClientCert: true },
      { caCerts: [pki.caCert], cert: pki.clientCert, key: pki.clientKey },
      async (c, accepted) => {
        const s = await accepted;
        assert.ok(s);
        assert.equal(s.peerCertificateAuthorized, true);
        await pingPong(c, s);
      },
    );
  });

  test(`${label}: mutual TLS, client certificate required and missing fails with TlsError`, async () => {
    const pki = await getTestCerts();
    const serverTls = {
      cert: pki.serverCert,
      key: pki.serverKey,
      caCerts: [pki.caCert],
      requireClientCert: true,
    };
    await withListener(server, { tls: serverTls }, async (l) => {
      const err = await failureOf(client, l.addr.port, { caCerts: [pki.caCert] });
      // Some runtimes only see the connection drop after the server's alert.
      assert.ok(err instanceof TlsError || err instanceof ConnectionClosed, `${err}`);
      if (err instanceof TlsError) {
        assert.match((err as SluiceError).code, /^TLS_(CLIENT_CERT_REQUIRED|HANDSHAKE_FAILED|CERT_REJECTED)$/);
      }
    });
  });

  test(`${label}: optional client certificate: accepted without one, marked unauthorized`, async () => {
    const pki = await getTestCerts();
    await withTls(
      client,
      server,
      { cert: pki.serverCert, key: pki.serverKey, caCerts: [pki.caCert], requestClientCert: true },
      { caCerts: [pki.caCert] },
      async (c, accepted) => {
        const s = await accepted;
        assert.ok(s);
        assert.equal(s.peerCertificateAuthorized, false);
        await pingPong(c, s);
      },
    );
  });

  test(`${label}: TLS to a plain server that answers fails with TLS_NOT_TLS, saying "did not answer TLS" first`, async () => {
    await withListener(server, {}, async (l) => {
      const answer = (async () => {
        const s = await l.accept();
        if (!s) return;
        // As an HTTP server does: read the ClientHello, answer 400, then wait for the client to go.
        const r = s.readable.getReader();
        await r.read().catch(() => {});
        const w = s.writable.getWriter();
        await w.write(enc.encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")).catch(() => {});
        await Promise.race([r.read().catch(() => {}), new Promise((res) => setTimeout(res, 2000))]);
        await w.close().catch(() => {});
      })();
      const err = await client.connect({ hostname: "127.0.0.1", port: l.addr.port, tls: true })
        .then((c) => {
          c.close();
          return new Error("connected");
        }, (e) => e);
      await answer;
      assert.ok(err instanceof TlsError, `${err}`);
      assert.equal(err.code, "TLS_NOT_TLS");
      assert.match(err.message, /^the server at 127\.0\.0\.1:\d+ did not answer TLS: is it ws:\/\//);
      assert.ok(err.cause instanceof Error, "the TLS library's own error is the cause");
      assert.equal(err.retryable, false);
    });
  });
}
