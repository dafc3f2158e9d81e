// Answers: every request() in flight on a channel shares one core subscription.
// Each message on the channel is looked at once — its `re` against the requests
// waiting — and only an answer to one of them is verified, once, however many
// requests are in flight (a subscription per request verified every message
// once per request, and made a server round trip to register before each send).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Envelope } from "../protocol/envelope.js";
import { channelSubject } from "../protocol/subjects.js";
import type { Verdict } from "../trust/verifier.js";

/** How long a channel's subscription outlives its last request, in ms. @default 5000 */
export const ANSWERS_LINGER_MS = 5000;

/** A request waiting for its answers. */
interface Waiter {
  answer(env: Envelope): void;
  /** The subscription ended (the connection closed): stop waiting. */
  end(): void;
}

interface Listening {
  sub: Subscription;
  /** Resolves once the server has the subscription: an answer sent after it cannot be missed. */
  ready: Promise<void>;
  waiting: Map<string, Waiter>;
  linger?: NodeJS.Timeout;
}

export class Answers {
  private readonly channels = new Map<string, Listening>();
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly nc: NatsConnection,
    /** Verify a message published on `subject` (the agent's verifier). */
    private readonly verify: (data: Uint8Array, subject: string) => Promise<Verdict>,
  ) {}

  /**
   * Wait for answers to `id` on `channel`: resolves once the subscription is in
   * place (send the request after that); `waiter` hears every verified answer.
   * Call the returned `done` when the request ends.
   */
  async listen(channel: string, id: string, waiter: Waiter): Promise<() => void> {
    const l = this.channels.get(channel) ?? this.open(channel);
    clearTimeout(l.linger);
    l.linger = undefined;
    l.waiting.set(id, waiter);
    const done = () => {
      l.waiting.delete(id);
      if (l.waiting.size > 0 || this.channels.get(channel) !== l) return;
      l.linger = setTimeout(() => this.drop(channel, l), ANSWERS_LINGER_MS);
      l.linger.unref?.();
    };
    try {
      await l.ready;
    } catch (err) {
      done();
      throw err;
    }
    return done;
  }

  private open(channel: string): Listening {
    const waiting = new Map<string, Waiter>();
    const sub = this.nc.subscribe(channelSubject(channel), {
      callback: (err, m) => {
        if (err) {
          for (const w of waiting.values()) w.end();
          return;
        }
        const re = this.answerTo(m.data);
        if (re === undefined || !waiting.has(re)) return;
        void this.verify(m.data, m.subject).then((v) => {
          if (v.ok && v.env.re === re) waiting.get(re)?.answer(v.env);
        });
      },
    });
    void sub.closed.then(() => {
      for (const w of waiting.values()) w.end();
    });
    const l: Listening = { sub, ready: this.nc.flush(), waiting };
    this.channels.set(channel, l);
    return l;
  }

  /** The `re` of a message, read without validating it (only an answer someone waits for is verified). */
  private answerTo(data: Uint8Array): string | undefined {
    try {
      const re = (JSON.parse(this.decoder.decode(data)) as { re?: unknown } | null)?.re;
      return typeof re === "string" ? re : undefined;
    } catch {
      return undefined;
    }
  }

  private drop(channel: string, l: Listening): void {
    if (l.waiting.size > 0 || this.channels.get(channel) !== l) return;
    this.channels.delete(channel);
    l.sub.unsubscribe();
  }

  /** Stop listening everywhere (the agent closes). */
  close(): void {
    for (const [channel, l] of this.channels) {
      clearTimeout(l.linger);
      this.channels.delete(channel);
      l.sub.unsubscribe();
      for (const w of l.waiting.values()) w.end();
    }
  }
}
