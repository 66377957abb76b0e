/**
 * Serial delivery of watch events: a handler may be async, and the next event is only handed over
 * once the previous call settled, so consumers see revisions strictly in order. A handler that
 * throws does not stop the stream; the error goes to `onHandlerError` (default: stderr) because the
 * store cannot know how the consumer wants to recover.
 */
import type { WatchEvent, WatchHandler } from "./types.js";

export class EventPump {
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  lastRevision = 0;

  constructor(
    private readonly handler: WatchHandler,
    private readonly onHandlerError: (err: unknown) => void = (err) => process.stderr.write(`tortie: watch handler failed: ${String((err as Error)?.stack ?? err)}\n`),
  ) {}

  /** Queues an event; the returned promise settles when it was handled (or skipped after stop). */
  push(ev: WatchEvent): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await this.handler(ev);
      } catch (err) {
        this.onHandlerError(err);
      }
      this.lastRevision = ev.revision;
    });
    return this.chain;
  }

  /** Resolves when everything queued so far was delivered. */
  idle(): Promise<void> {
    return this.chain;
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.chain;
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
