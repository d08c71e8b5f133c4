/**
 * The life of one accepted WebSocket on a server: shared by `serveWebSocket`
 * and the node:http adapter, so both treat handlers and shutdowns alike.
 *
 * @module
 */
import type { Message } from "../core/ws/message.ts";
import type { CloseInfo } from "../ws/types.ts";
import type { AcceptedWebSocket } from "./accept.ts";
import type { ClosedHook, ServerWebSocket } from "./server_socket.ts";

const ignore = (): void => {};

/**
 * Callbacks for each WebSocket, named as in `Bun.serve`: the lightest way to
 * serve many sockets (no coroutine and no pending promise per connection).
 */
export interface WebSocketCallbacks {
  /** The socket is open: subscribe it, greet it. A returned promise delays reading until it settles. @default none */
  open?: ((ws: AcceptedWebSocket) => void | Promise<void>) | undefined;
  /**
   * A data message arrived (borrowed: valid while the call runs, or until its
   * promise settles; no other message is handed over meanwhile). Throwing or
   * rejecting closes the socket with 1011 and goes to `onError`.
   * @default ignore messages (the socket is still read: pings answered, closes seen)
   */
  message?: ((ws: AcceptedWebSocket, message: Message) => void | Promise<void>) | undefined;
  /** The socket has closed (either side, or it failed). @default none */
  close?: ((ws: AcceptedWebSocket, info: CloseInfo) => void) | undefined;
}

/** Whether `options` asks for callbacks rather than a handler. */
export function usesCallbacks(options: WebSocketCallbacks): boolean {
  return options.open !== undefined || options.message !== undefined || options.close !== undefined;
}

/**
 * Runs a server's callbacks for each of its sockets: `open`, then `message`
 * for each data message through {@link ServerWebSocket.listen}, then `close`.
 * One runner per server: a socket costs no closure of its own here.
 */
export class CallbackRunner implements ClosedHook {
  readonly #callbacks: WebSocketCallbacks;
  readonly #open: Set<AcceptedWebSocket>;
  readonly #onError: (error: unknown) => void;
  readonly #stopping: () => boolean;
  readonly #done: () => void;
  readonly #message: (msg: Message, ws: ServerWebSocket) => void | Promise<void>;

  /**
   * @param callbacks The server's callbacks.
   * @param open Where open sockets are tracked.
   * @param onError Told about callback errors.
   * @param stopping Whether the server is shutting down.
   * @param done Called once per socket, after it closed.
   */
  constructor(
    callbacks: WebSocketCallbacks,
    open: Set<AcceptedWebSocket>,
    onError: (error: unknown) => void,
    stopping: () => boolean,
    done: () => void,
  ) {
    this.#callbacks = callbacks;
    this.#open = open;
    this.#onError = onError;
    this.#stopping = stopping;
    this.#done = done;
    const message = callbacks.message;
    this.#message = message === undefined ? ignore : (msg, ws) => message(ws, msg);
  }

  /** Runs `open` and starts reading `ws`. */
  start(ws: ServerWebSocket): void {
    this.#open.add(ws);
    ws.whenClosed(this);
    if (this.#stopping()) {
      ws.close(1001, "server shutting down").catch(ignore);
      return;
    }
    let opened: void | Promise<void>;
    try {
      opened = this.#callbacks.open?.(ws);
    } catch (e) {
      this.#failed(ws, e);
      return;
    }
    if (opened !== undefined && typeof (opened as { then?: unknown }).then === "function") {
      (opened as Promise<void>).then(() => this.#listen(ws), (e) => this.#failed(ws, e));
    } else this.#listen(ws);
  }

  #listen(ws: ServerWebSocket): void {
    ws.listen(this.#message, this.#onError);
  }

  #failed(ws: ServerWebSocket, e: unknown): void {
    this.#onError(e);
    ws.close(1011).catch(ignore);
  }

  /** {@link ClosedHook}: the socket has closed. */
  closed(ws: ServerWebSocket, info: CloseInfo): void {
    this.#open.delete(ws);
    try {
      this.#callbacks.close?.(ws, info);
    } catch (e) {
      this.#onError(e);
    }
    this.#done();
  }
}

/**
 * Runs `handler` for `ws`, tracked in `open` while it runs. A server already
 * stopping closes it with 1001 instead. When the handler settles the
 * connection is closed if still open: 1000, or 1011 when it threw (reported
 * to `onError`); then `done` is called, once.
 *
 * A chain of two reactions rather than an async function: an idle connection
 * keeps one pending promise here instead of a suspended frame.
 */
export function runHandler(
  ws: AcceptedWebSocket,
  handler: (ws: AcceptedWebSocket) => void | Promise<void>,
  open: Set<AcceptedWebSocket>,
  onError: (error: unknown) => void,
  stopping: () => boolean,
  done: () => void,
): void {
  if (stopping()) {
    ws.close(1001, "server shutting down").then(done, done);
    return;
  }
  open.add(ws);
  const finish = () => {
    open.delete(ws);
    done();
  };
  const failed = (e: unknown) => {
    onError(e);
    ws.close(1011).catch(ignore).then(finish);
  };
  let result: void | Promise<void>;
  try {
    result = handler(ws);
  } catch (e) {
    failed(e);
    return;
  }
  Promise.resolve(result).then(() => ws.close(1000).then(finish, finish), failed);
}

/**
 * Counts a server's connections in flight (handshaking or open) and tells
 * when none are left, without a promise per connection.
 */
export class InFlight {
  #count = 0;
  #idle: (() => void)[] = [];

  /** Connections in flight now. */
  get count(): number {
    return this.#count;
  }

  /** One more connection. */
  enter(): void {
    this.#count++;
  }

  /** One connection is done (a function value, to pass as a callback). */
  readonly leave = (): void => {
    if (--this.#count === 0) for (const wake of this.#idle.splice(0)) wake();
  };

  /** Resolves once no connection is in flight. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
