/**
 * Real HTTP peers on 127.0.0.1 for the REST client tests, each started and
 * stopped by a `with…(fn)` helper (try/finally): a `node:http` server, a
 * raw `node:net` server for malformed responses, and nginx from the system.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running node:http server and what it saw. */
export interface NodeServer {
  /** The bound port. */
  port: number;
  /** The server itself (set keepAliveTimeout etc.). */
  server: http.Server;
  /** Every TCP connection accepted, in order. */
  sockets: net.Socket[];
}

/**
 * Runs `fn` against a node:http server on an ephemeral loopback port.
 *
 * @param handler The request handler.
 * @param fn The test body.
 * @param setup Adjusts the server before it listens.
 * @returns What `fn` returned.
 */
export async function withNodeServer<T>(
  handler: http.RequestListener,
  fn: (s: NodeServer) => Promise<T>,
  setup?: (server: http.Server) => void,
): Promise<T> {
  const server = http.createServer(handler);
  const sockets: net.Socket[] = [];
  server.on("connection", (s) => sockets.push(s));
  setup?.(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await fn({ port, server, sockets });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A running raw TCP server. */
export interface RawServer {
  /** The bound port. */
  port: number;
  /** Every connection accepted, in order. */
  sockets: net.Socket[];
}

/**
 * Runs `fn` against a raw TCP server whose every connection is handed to
 * `onSocket`, for responses no real HTTP server would send.
 *
 * @param onSocket Called for each accepted connection.
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export async function withRawServer<T>(
  onSocket: (socket: net.Socket, index: number) => void,
  fn: (s: RawServer) => Promise<T>,
): Promise<T> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    onSocket(s, sockets.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await fn({ port, sockets });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Replies to each request head received on `socket` with the next of
 * `responses` (raw bytes or strings); a function reply gets the socket.
 *
 * @param socket The accepted connection.
 * @param responses One reply per request, in order.
 */
export function answerEach(
  socket: net.Socket,
  responses: (string | Uint8Array | ((s: net.Socket) => unknown))[],
): void {
  let buffered = "";
  let i = 0;
  socket.on("data", (d: Uint8Array) => {
    buffered += String.fromCharCode(...d);
    for (let end = buffered.indexOf("\r\n\r\n"); end !== -1; end = buffered.indexOf("\r\n\r\n")) {
      const head = buffered.slice(0, end);
      const len = /content-length: *(\d+)/i.exec(head);
      const total = end + 4 + (len ? Number(len[1]) : 0);
      if (buffered.length < total) return;
      buffered = buffered.slice(total);
      const r = responses[i++];
      if (r === undefined) continue;
      if (typeof r === "function") r(socket);
      else socket.write(r);
    }
  });
}

/** Finds a free loopback port by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const NGINX = "/usr/sbin/nginx";

/** Whether the system nginx is installed. */
export function nginxInstalled(): boolean {
  return existsSync(NGINX);
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nginx did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Runs `fn` against the system nginx, started in the foreground on a free
 * port with its own config, pid file, logs and temp paths in a temp dir, and
 * stopped by PID afterwards. The docroot has `/json` (100-byte JSON),
 * `/big.bin` (1 MiB), `/gz.txt` (gzip, so chunked) and `/empty` (204).
 *
 * @param fn The test body, given the port and the docroot.
 * @returns What `fn` returned, or "skipped" when nginx is not installed.
 */
export async function withNginx<T>(fn: (port: number, root: string) => Promise<T>): Promise<T | "skipped"> {
  if (!nginxInstalled()) return "skipped";
  const dir = mkdtempSync(join(tmpdir(), "sluice-nginx-"));
  const root = join(dir, "www");
  mkdirSync(root);
  writeFileSync(join(root, "json"), JSON.stringify({ ok: true, pad: "x".repeat(87) }));
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  writeFileSync(join(root, "big.bin"), big);
  writeFileSync(join(root, "gz.txt"), "sluice ".repeat(20_000));
  const port = await freePort();
  const runAsRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const conf = `
${runAsRoot ? "user root;" : ""}
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 300ms;
  keepalive_requests 10000;
  types { application/json json; text/plain txt; application/octet-stream bin; }
  server {
    listen 127.0.0.1:${port};
    root ${root};
    add_header X-Connection $connection always;
    location = /json { default_type application/json; }
    location = /gz.txt { gzip on; gzip_types text/plain; gzip_min_length 0; }
    location = /empty { return 204; }
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const child = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  try {
    await Promise.race([
      waitForPort(port, 5000),
      exited.then(() => {
        throw new Error(`nginx exited at start: ${stderr}`);
      }),
    ]);
    return await fn(port, root);
  } finally {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
