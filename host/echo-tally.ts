// EchoTally: an agent reading a channel it writes gets each of its own messages
// back, and the host drops it (self-echo) — routine, one per message sent. Those
// drops are counted per (agent, channel) and recorded as one `echo_dropped`
// event per window, with the count and the first and last stream sequence: each
// drop can be derived from the stream (the agent's own messages on that channel),
// so one fact each only made the log a third longer. Every other enforcement
// decision stays one fact each. The in-process event (counters, metrics, the
// event hub) is still one per drop.
import type { HostEventOf } from "../protocol/events.js";

/** How long self-echo drops are counted before their one event is recorded. */
export const ECHO_WINDOW_MS = 1000;

type EchoDropped = HostEventOf<"echo_dropped">;

interface Tally {
  first: EchoDropped;
  firstSeq: number;
  lastSeq: number;
  count: number;
  since: number;
}

export class EchoTally {
  private readonly open = new Map<string, Tally>();
  private timer?: NodeJS.Timeout;

  constructor(
    /** Record one window's summary. */
    private readonly record: (summary: EchoDropped) => void,
    private readonly windowMs = ECHO_WINDOW_MS,
  ) {}

  /** Count one drop; the window's summary is recorded when it closes. */
  add(e: EchoDropped, now = Date.now()): void {
    const key = `${e.agent} ${e.channel}`;
    const t = this.open.get(key);
    if (t) {
      t.count++;
      if (e.seq < t.firstSeq) {
        t.first = e; // a late arrival: the window's first is the lowest sequence, with its id
        t.firstSeq = e.seq;
      }
      t.lastSeq = Math.max(t.lastSeq, e.seq);
    } else this.open.set(key, { first: e, firstSeq: e.seq, lastSeq: e.seq, count: 1, since: now });
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
    }
  }

  /** Record every open window now (on a timer, and when the host closes). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const t of this.open.values()) {
      this.record({
        ...t.first,
        seq: t.firstSeq,
        count: t.count,
        lastSeq: t.lastSeq,
        window: new Date(t.since).toISOString(),
      });
    }
    this.open.clear();
  }
}
