// pullLoop: bounded pulls (fetch with expiry) instead of an endless consume(), so
// a closing host never leaves a pull request open that the server would keep
// filling into a dead inbox (those messages would wait out ack_wait).
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { sleep } from "./backoff.js";
import { timeSlice } from "./time-slice.js";

export interface PullLoopOptions {
  /** Messages per pull. @default 64 */
  batch?: number;
  /** How long one pull may wait for messages, in ms. @default 1000 */
  expiresMs?: number;
  /** True once the owner is closing: remaining messages are handed back (nak). */
  closing(): boolean;
  /** While true, no new pull is made (a killed agent); `resumed` resolves when it turns false. */
  paused?(): boolean;
  resumed?(): Promise<void>;
  /** Called when a pull fails (e.g. while NATS reconnects); the loop retries. */
  onError?(err: unknown): void;
}

export async function pullLoop(
  consumer: Consumer,
  handle: (m: JsMsg) => Promise<void>,
  options: PullLoopOptions,
): Promise<void> {
  const batch = options.batch ?? 64;
  const expires = options.expiresMs ?? 1000;
  while (!options.closing()) {
    if (options.paused?.()) {
      await options.resumed?.();
      continue;
    }
    try {
      const messages = await consumer.fetch({ max_messages: batch, expires });
      const turn = timeSlice(); // a batch already buffered would otherwise be handled as one task
      for await (const m of messages) {
        if (options.closing()) m.nak();
        else await handle(m);
        await turn();
      }
    } catch (err) {
      if (options.closing()) break;
      options.onError?.(err);
      await sleep(250);
    }
  }
}
