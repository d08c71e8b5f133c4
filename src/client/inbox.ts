/**
 * The resilient client's one stable readable: every message of every
 * connection, in order, held in a bounded buffer for whoever reads. When the
 * buffer is full the client stops reading the socket, so backpressure runs
 * from the reader all the way to TCP; nothing is dropped.
 *
 * @module
 */
import type { Message } from "../core/ws/message.ts";

/**
 * A pull-based `ReadableStream<Message>` that connections push into. `push`
 * returns a promise while the buffer is full: the pushing connection waits
 * (and reads no more from its socket) until the reader takes a message.
 */
export class Inbox {
  /** The stream the application reads; it outlives every connection. */
  readonly readable: ReadableStream<Message>;
  #controller!: ReadableStreamDefaultController<Message>;
  #room: (() => void) | null = null;
  #ended = false;

  /**
   * Creates the inbox.
   *
   * @param maxBufferedMessages Messages held before `push` makes its caller wait.
   * @param onCancel Called once when the reader cancels the stream (the client closes).
   */
  constructor(maxBufferedMessages: number, onCancel: (reason: unknown) => void) {
    this.readable = new ReadableStream<Message>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#wake(),
      cancel: (reason) => {
        this.#ended = true;
        this.#wake();
        onCancel(reason);
      },
    }, new CountQueuingStrategy({ highWaterMark: maxBufferedMessages }));
  }

  /** True while the buffer is full and the reader has not caught up. */
  get full(): boolean {
    return !this.#ended && (this.#controller.desiredSize ?? 0) <= 0;
  }

  /**
   * Hands a message to the reader.
   *
   * @param message An owned message (nothing else refers to its bytes).
   * @returns Undefined while there is room; otherwise a promise that settles
   *   when the reader made room or the stream ended.
   */
  push(message: Message): Promise<void> | undefined {
    if (this.#ended) return undefined;
    this.#controller.enqueue(message);
    if ((this.#controller.desiredSize ?? 0) > 0) return undefined;
    return new Promise<void>((resolve) => (this.#room = resolve));
  }

  /** Ends the stream after what it holds: the client stopped. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#controller.close();
    } catch { /* cancelled */ }
    this.#wake();
  }

  #wake(): void {
    const room = this.#room;
    this.#room = null;
    room?.();
  }
}
