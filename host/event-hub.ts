// EventHub: fan-out of HostEvents to any number of AsyncIterable subscribers.
import type { HostEvent } from "../protocol/events.js";

/** Subscribers that fall behind by more than this lose the oldest events. @default 10000 */
export const DEFAULT_SUBSCRIBER_BUFFER = 10_000;

interface Sub {
  queue: HostEvent[];
  wake?: () => void;
  closed: boolean;
  limit: number;
}

export class EventHub {
  private readonly subs = new Set<Sub>();

  emit(event: HostEvent): void {
    for (const s of this.subs) {
      if (s.queue.length >= s.limit) s.queue.shift();
      s.queue.push(event);
      s.wake?.();
    }
  }

  /** Every event from now on, until the iterator is returned or the hub closes. */
  subscribe(options: { buffer?: number } = {}): AsyncIterableIterator<HostEvent> {
    const sub: Sub = { queue: [], closed: false, limit: options.buffer ?? DEFAULT_SUBSCRIBER_BUFFER };
    this.subs.add(sub);
    const iterator: AsyncIterableIterator<HostEvent> = {
      next: async () => {
        while (sub.queue.length === 0 && !sub.closed) await new Promise<void>((r) => (sub.wake = r));
        sub.wake = undefined;
        if (sub.queue.length > 0) return { value: sub.queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      return: async () => {
        sub.closed = true;
        this.subs.delete(sub);
        sub.wake?.();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  close(): void {
    for (const s of this.subs) {
      s.closed = true;
      s.wake?.();
    }
    this.subs.clear();
  }
}
