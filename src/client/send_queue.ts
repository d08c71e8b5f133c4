/**
 * The resilient client's outgoing queue: bounded in messages and in bytes,
 * kept across reconnects, and accountable. Every accepted message settles
 * exactly once: it resolves when its frame is handed to a socket, or rejects
 * (shutdown, give-up, timeout, abort). Nothing disappears silently.
 *
 * Its {@link WriteLedger} counts what was written since the last confirmed
 * point. The connection loop drains it with {@link SendQueue.wait},
 * {@link SendQueue.take} and {@link SendQueue.written}; when a connection
 * drops, {@link SendQueue.requeueInFlight} puts the messages it took but did
 * not write back at the front, in order.
 *
 * @module
 */
import { TimeoutError } from "../core/errors.ts";
import { abortReason, type Clock, systemClock } from "../common/clock.ts";
import { ClientErrorCode, NotConnected, QueueFull } from "./errors.ts";
import { type MessageCount, type Outgoing, payloadBytes, WriteLedger } from "./ledger.ts";

/** Options of {@link SendQueue}. */
export interface SendQueueOptions {
  /** Most messages held at once (queued plus being written). @default 1024 */
  maxMessages?: number;
  /** Most payload bytes held at once (UTF-8 length for text). @default 1048576 */
  maxBytes?: number;
  /** While disconnected, new sends wait in the queue (`buffer`) or fail at once (`reject`). @default "buffer" */
  whileDisconnected?: "buffer" | "reject";
  /** The clock for {@link SendQueue.sendTimeout}. @default systemClock */
  clock?: Clock;
}

/** Options of one send. */
export interface SendOptions {
  /** Withdraws the message while it waits for room or in the queue; a frame already being written is not recalled. */
  signal?: AbortSignal;
}

/** A message as the connection loop takes it from the queue. */
export interface QueueEntry {
  /** The message to write. */
  readonly message: Outgoing;
  /** Its payload size in bytes. */
  readonly bytes: number;
}

type State = "waiting" | "queued" | "inFlight" | "settled";

interface Entry extends QueueEntry {
  state: State;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Set when a timeout or abort hits an in-flight entry: applied if it comes back. */
  cancelReason?: unknown;
  cleanup?: () => void;
}

/**
 * A bounded, byte-aware FIFO of outgoing messages with a promise per message.
 *
 * @example Producer and connection loop
 * ```ts
 * import { SendQueue } from "@sluice/net";
 * const queue = new SendQueue({ maxMessages: 100 });
 * queue.setConnected(true);
 * const sent = queue.send("hello");
 * const entry = queue.take()!;
 * // ... write entry.message to the socket, then:
 * queue.written(entry);
 * await sent;
 * ```
 */
export class SendQueue {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #rejectWhileDisconnected: boolean;
  readonly #clock: Clock;
  #waiting: Entry[] = [];
  #queue: Entry[] = [];
  #head = 0;
  #inFlight: Entry[] = [];
  #messages = 0;
  #bytes = 0;
  #connected = false;
  #closedWith: { error: unknown } | null = null;
  #wakeTaker: (() => void) | null = null;
  /** What was written, confirmed and rejected through this queue. */
  readonly ledger: WriteLedger = new WriteLedger();

  /**
   * Creates an empty queue, disconnected.
   *
   * @param options Capacity, disconnected policy and clock.
   * @throws {RangeError} When a capacity is not a positive integer or the policy is unknown.
   */
  constructor(options: SendQueueOptions = {}) {
    this.#maxMessages = options.maxMessages ?? 1024;
    this.#maxBytes = options.maxBytes ?? 1_048_576;
    for (const [name, v] of [["maxMessages", this.#maxMessages], ["maxBytes", this.#maxBytes]]) {
      if (!Number.isSafeInteger(v) || (v as number) < 1) {
        throw new RangeError(`${name} must be a positive integer: got ${v}`);
      }
    }
    const policy = options.whileDisconnected ?? "buffer";
    if (policy !== "buffer" && policy !== "reject") {
      throw new RangeError(`whileDisconnected must be "buffer" or "reject": got ${policy}`);
    }
    this.#rejectWhileDisconnected = policy === "reject";
    this.#clock = options.clock ?? systemClock;
  }

  /** Messages held (waiting for room not included): queued plus being written. */
  get messages(): number {
    return this.#messages;
  }

  /** Payload bytes held: queued plus being written. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Sends waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Messages taken by the connection loop and not yet written or put back. */
  get inFlight(): number {
    return this.#inFlight.length;
  }

  /** True once {@link SendQueue.close} was called. */
  get closed(): boolean {
    return this.#closedWith !== null;
  }

  /**
   * Tells the queue whether a connection is ready; under the `reject` policy
   * sends made while not connected fail at once.
   *
   * @param connected Whether messages can flow now.
   */
  setConnected(connected: boolean): void {
    this.#connected = connected;
    if (connected) this.#wake();
  }

  /**
   * Queues a message, waiting for room if the queue is full.
   *
   * @param message Text or bytes; do not modify bytes until the promise settles.
   * @param options A signal to withdraw the message before it is written.
   * @returns Resolves when the frame is handed to a socket.
   * @throws {NotConnected} (rejects) While disconnected under the `reject` policy.
   * @throws {ClientClosed} (rejects) When the queue is closed before the write.
   * @throws {RangeError} (rejects) When the message alone exceeds `maxBytes`.
   */
  send(message: Outgoing, options: SendOptions = {}): Promise<void> {
    try {
      return this.#accept(message, options.signal, true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Queues a message only if there is room now.
   *
   * @param message Text or bytes; do not modify bytes until the promise settles.
   * @returns Resolves when the frame is handed to a socket (its rejection is
   *   pre-handled, so ignoring it cannot crash the process).
   * @throws {QueueFull} At once, when the queue has no room or sends are already waiting for it.
   * @throws {NotConnected} At once, while disconnected under the `reject` policy.
   * @throws {ClientClosed} At once, when the queue is closed.
   * @throws {RangeError} At once, when the message alone exceeds `maxBytes`.
   */
  trySend(message: Outgoing): Promise<void> {
    return this.#accept(message, undefined, false);
  }

  /**
   * Queues a message, rejecting with a `TimeoutError` (code
   * `CLIENT_SEND_TIMEOUT`) unless it is written within `timeoutMs`.
   *
   * @param message Text or bytes.
   * @param timeoutMs Milliseconds from now until the frame must be handed to a socket.
   * @param options A signal to withdraw the message earlier.
   * @returns Resolves when the frame is handed to a socket.
   * @throws {TimeoutError} (rejects) When the time runs out first; a frame being
   *   written when it does is not recalled, and the send then settles with the write.
   */
  sendTimeout(message: Outgoing, timeoutMs: number, options: SendOptions = {}): Promise<void> {
    if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) {
      return Promise.reject(
        new RangeError(`timeoutMs must be a finite number >= 0: got ${timeoutMs}`),
      );
    }
    const controller = new AbortController();
    const outer = options.signal;
    const onOuterAbort = () => controller.abort(abortReason(outer!));
    if (outer?.aborted) onOuterAbort();
    else outer?.addEventListener("abort", onOuterAbort, { once: true });
    const timer = this.#clock.setTimeout(() => {
      controller.abort(
        new TimeoutError(ClientErrorCode.SendTimeout, `send not written within ${timeoutMs} ms`, {
          retryable: true,
        }),
      );
    }, timeoutMs);
    const done = () => {
      this.#clock.clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    };
    const sent = this.send(message, { signal: controller.signal });
    sent.then(done, done);
    return sent;
  }

  /**
   * Waits until a message can be taken or the queue closes.
   *
   * @param signal Stops waiting (rejects with its reason).
   * @returns Resolves when {@link SendQueue.take} has something or the queue is closed.
   */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.#queuedCount() > 0 || this.closed) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#wakeTaker = null;
        reject(abortReason(signal!));
      };
      this.#wakeTaker?.();
      this.#wakeTaker = () => {
        this.#wakeTaker = null;
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Takes the oldest queued message for writing; it stays counted against
   * capacity until {@link SendQueue.written} or {@link SendQueue.requeueInFlight}.
   *
   * @returns The entry, or null when nothing is queued.
   */
  take(): QueueEntry | null {
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head++]!;
      if (entry.state !== "queued") continue;
      entry.state = "inFlight";
      this.#inFlight.push(entry);
      this.#compact();
      return entry;
    }
    this.#compact();
    return null;
  }

  /**
   * Marks a taken message as handed to the socket: its send resolves and it
   * counts as written but unconfirmed.
   *
   * @param entry An entry returned by {@link SendQueue.take}.
   * @throws {Error} When the entry is not in flight (a bug in the caller).
   */
  written(entry: QueueEntry): void {
    const e = entry as Entry;
    const i = this.#inFlight.indexOf(e);
    if (i < 0 || e.state !== "inFlight") throw new Error("written(): entry is not in flight");
    this.#inFlight.splice(i, 1);
    this.ledger.written(e.bytes);
    this.#settle(e, null);
  }

  /**
   * Puts every taken-but-unwritten message back at the front, in the order
   * taken. Entries whose timeout or abort fired meanwhile are rejected instead,
   * and after {@link SendQueue.close} all of them are.
   *
   * @returns How many went back to the queue.
   */
  requeueInFlight(): number {
    const back: Entry[] = [];
    for (const e of this.#inFlight) {
      if (this.#closedWith) this.#settle(e, this.#closedWith);
      else if (e.cancelReason !== undefined) this.#settle(e, { error: e.cancelReason });
      else {
        e.state = "queued";
        back.push(e);
      }
    }
    this.#inFlight = [];
    this.#queue = back.concat(this.#queue.slice(this.#head));
    this.#head = 0;
    if (back.length > 0) this.#wake();
    return back.length;
  }

  /**
   * Rejects every waiting and queued message with `error`, and every later
   * send; in-flight ones settle with their write or on requeue.
   *
   * @param error The rejection, usually a `ClientClosed`.
   * @returns The messages and bytes rejected now.
   */
  close(error: unknown): MessageCount {
    if (this.#closedWith) return { messages: 0, bytes: 0 };
    this.#closedWith = { error };
    const before = this.ledger.totalRejected;
    for (const e of this.#waiting.splice(0)) this.#settle(e, this.#closedWith);
    for (const e of this.#queue.slice(this.#head)) {
      if (e.state === "queued") this.#settle(e, this.#closedWith);
    }
    this.#queue = [];
    this.#head = 0;
    this.#wake();
    const after = this.ledger.totalRejected;
    return { messages: after.messages - before.messages, bytes: after.bytes - before.bytes };
  }

  #accept(message: Outgoing, signal: AbortSignal | undefined, mayWait: boolean): Promise<void> {
    if (this.#closedWith) throw this.#closedWith.error;
    if (signal?.aborted) throw abortReason(signal);
    const bytes = payloadBytes(message);
    if (bytes > this.#maxBytes) {
      throw new RangeError(
        `message of ${bytes} bytes exceeds the queue's maxBytes ${this.#maxBytes}`,
      );
    }
    if (this.#rejectWhileDisconnected && !this.#connected) {
      throw new NotConnected("not connected, and the send policy is reject");
    }
    const roomNow = this.#waiting.length === 0 && this.#fits(bytes);
    if (!roomNow && !mayWait) {
      throw new QueueFull({
        queuedMessages: this.#messages,
        queuedBytes: this.#bytes,
        maxMessages: this.#maxMessages,
        maxBytes: this.#maxBytes,
      });
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    const entry: Entry = { message, bytes, state: "waiting", resolve, reject };
    if (signal) {
      const onAbort = () => this.#cancel(entry, abortReason(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      entry.cleanup = () => signal.removeEventListener("abort", onAbort);
    }
    if (roomNow) this.#enqueue(entry);
    else this.#waiting.push(entry);
    return promise;
  }

  #fits(bytes: number): boolean {
    return this.#messages + 1 <= this.#maxMessages && this.#bytes + bytes <= this.#maxBytes;
  }

  #enqueue(entry: Entry): void {
    entry.state = "queued";
    this.#messages += 1;
    this.#bytes += entry.bytes;
    this.#queue.push(entry);
    this.#wake();
  }

  /** Moves waiting sends into the queue, oldest first, while they fit. */
  #admit(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      this.#enqueue(this.#waiting.shift()!);
    }
  }

  #cancel(entry: Entry, reason: unknown): void {
    if (entry.state === "inFlight") entry.cancelReason = reason;
    else if (entry.state === "waiting") {
      this.#waiting.splice(this.#waiting.indexOf(entry), 1);
      this.#settle(entry, { error: reason });
    } else if (entry.state === "queued") this.#settle(entry, { error: reason });
  }

  /** Settles an entry once: `null` resolves, `{ error }` rejects. Frees its room. */
  #settle(entry: Entry, failure: { error: unknown } | null): void {
    const held = entry.state === "queued" || entry.state === "inFlight";
    entry.state = "settled";
    entry.cleanup?.();
    if (held) {
      this.#messages -= 1;
      this.#bytes -= entry.bytes;
    }
    if (failure) {
      this.ledger.rejected(entry.bytes);
      entry.reject(failure.error);
    } else entry.resolve();
    if (!this.#closedWith) this.#admit();
  }

  #queuedCount(): number {
    return this.#messages - this.#inFlight.length;
  }

  #wake(): void {
    if (this.#wakeTaker && (this.#queuedCount() > 0 || this.closed)) this.#wakeTaker();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
