// TimerClock: the timers of the agents this host runs, fired when due.
//
// A timer is a record in agora-timers, written by the commit of the call that
// set it (with its other effects, under the WAL). The host holding the agent's
// placement lease schedules it; when it is due, the host publishes a signed
// `timer_fired` event on the agent's own subject (Nats-Msg-Id = the timer's id)
// and then deletes the record — at that revision only, so a timer set again
// meanwhile stays. The agent's consumer delivers the event like any message:
// the processed marker of the timer's id makes its handling exactly-once, so a
// timer fired twice (a crash between publish and delete, a lease moving) is
// handled once. The next host of the agent loads its timers from KV.
import type { KV } from "@nats-io/kv";
import type { TimerRecord } from "../../protocol/records.js";
import { timerKey } from "../../protocol/subjects.js";
import type { HostEventOf } from "../../protocol/events.js";
import { isWrongRevision } from "../../transport/jetstream-errors.js";

/** A firing that failed (NATS away) is tried again after this. */
const RETRY_MS = 1000;
/** setTimeout's longest delay; a timer further out is re-armed when this passes. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export interface TimerClockOptions {
  kv: KV;
  /** Publish the timer's firing (signed, on the agent's subject, Nats-Msg-Id = timer.id); retried until it is stored. */
  fire(event: HostEventOf<"timer_fired">, msgId: string): Promise<void>;
  /** Resolves once `agent` can receive a firing (its timer consumer exists); awaited before each. */
  ready(agent: string): Promise<void>;
  /** Whether this host may still act for `agent` (holds its lease). */
  holds(agent: string): boolean;
  log(line: string): void;
}

interface Armed {
  timer: TimerRecord;
  /** The record's KV revision, when known: it is deleted at that revision only. */
  revision?: number;
  handle?: NodeJS.Timeout;
}

export class TimerClock {
  private readonly agents = new Map<string, Map<string, Armed>>();
  private readonly firing = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: TimerClockOptions) {}

  /** Start scheduling `agent`'s timers (read from KV as it starts here). */
  load(agent: string, timers: readonly { timer: TimerRecord; revision?: number }[]): void {
    this.drop(agent);
    const armed = new Map<string, Armed>();
    this.agents.set(agent, armed);
    for (const t of timers) this.arm(armed, t.timer, t.revision);
  }

  /** A commit set `timer` (written at `revision`). */
  set(timer: TimerRecord, revision?: number): void {
    const armed = this.agents.get(timer.agent);
    if (armed) this.arm(armed, timer, revision);
  }

  /** A commit cancelled `agent`'s timer `tag`. */
  cancel(agent: string, tag: string): void {
    const armed = this.agents.get(agent);
    const a = armed?.get(tag);
    if (!a) return;
    clearTimeout(a.handle);
    armed!.delete(tag);
  }

  /** Stop scheduling `agent`'s timers here (it left this host); they stay in KV for its next host. */
  drop(agent: string): void {
    for (const a of this.agents.get(agent)?.values() ?? []) clearTimeout(a.handle);
    this.agents.delete(agent);
  }

  /** Stop every timer; firings under way finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const agent of [...this.agents.keys()]) this.drop(agent);
    await Promise.allSettled([...this.firing]);
  }

  private arm(armed: Map<string, Armed>, timer: TimerRecord, revision?: number): void {
    const previous = armed.get(timer.tag);
    if (previous) clearTimeout(previous.handle);
    const a: Armed = { timer, revision };
    armed.set(timer.tag, a);
    const wait = () => {
      const delay = timer.due - Date.now();
      if (delay > MAX_DELAY_MS) {
        a.handle = setTimeout(wait, MAX_DELAY_MS);
        return;
      }
      a.handle = setTimeout(() => this.fire(armed, a), Math.max(0, delay));
    };
    wait();
  }

  private fire(armed: Map<string, Armed>, a: Armed): void {
    const { timer } = a;
    if (this.closed || armed.get(timer.tag) !== a || !this.options.holds(timer.agent)) return;
    armed.delete(timer.tag);
    const firing = (async () => {
      await this.options.ready(timer.agent);
      await this.options.fire(
        {
          type: "timer_fired",
          agent: timer.agent,
          tag: timer.tag,
          timer: timer.id,
          due: timer.due,
          set: timer.set,
          channel: timer.channel,
          ...(timer.conv ? { conv: timer.conv } : {}),
          hop: timer.hop,
        },
        timer.id,
      );
      // Fired: the record goes — unless the timer was set again since (another revision, or another id).
      const key = timerKey(timer.agent, timer.tag);
      if (a.revision !== undefined) await this.options.kv.delete(key, { previousSeq: a.revision });
      else {
        const e = await this.options.kv.get(key);
        if (e?.operation === "PUT" && e.json<TimerRecord>().id === timer.id)
          await this.options.kv.delete(key, { previousSeq: e.revision });
      }
    })()
      .catch((err: unknown) => {
        if (isWrongRevision(err)) return; // set again meanwhile: the new timer stays
        this.options.log(`timer ${timer.tag} of ${timer.agent}: ${String(err)}; trying again in ${RETRY_MS} ms`);
        if (!this.closed && !armed.has(timer.tag))
          this.arm(armed, { ...timer, due: Date.now() + RETRY_MS }, a.revision);
      })
      .finally(() => this.firing.delete(firing));
    this.firing.add(firing);
  }
}
