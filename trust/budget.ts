// SendBudget: a per-identity send budget (acts per minute), decided the same
// way by every reader. Time is the message's stream timestamp (set by the
// server, not the sender), and the decision for a message id is kept, so a
// redelivery — or a second agent reading the same message — gets the same
// answer and is not counted twice.

import { senderKillable, type AgoraConfig } from "../config/config.js";
import type { Envelope } from "../protocol/envelope.js";
import type { ErrorCode } from "../protocol/errors.js";
import type { ControlState } from "../protocol/control.js";

/** The budget window. */
export const BUDGET_WINDOW_MS = 60_000;
/** Decisions remembered, by message id (oldest forgotten first). */
const REMEMBERED = 50_000;

export class SendBudget {
  /** Stream times of each sender's admitted acts inside the window, oldest first. */
  private readonly recent = new Map<string, number[]>();
  private readonly decided = new Map<string, boolean>();

  constructor(
    /** The sender's budget in acts per minute; undefined for no budget. */
    private readonly limitOf: (sender: string) => number | undefined,
  ) {}

  /** `sender`'s budget in acts per minute, if it has one. */
  limit(sender: string): number | undefined {
    return this.limitOf(sender);
  }

  /** Whether `id` from `sender`, stored at `atMs`, is within its sender's budget (decided once per id). */
  admit(sender: string, id: string, atMs: number): boolean {
    if (this.limitOf(sender) === undefined) return true; // nothing to count, nothing to remember
    const known = this.decided.get(`${sender}/${id}`);
    if (known !== undefined) return known;
    const ok = this.spend(sender, atMs);
    this.decided.set(`${sender}/${id}`, ok);
    if (this.decided.size > REMEMBERED) this.decided.delete(this.decided.keys().next().value!);
    return ok;
  }

  /**
   * Spend one act of `sender`'s budget at `atMs` if every 60 s window that
   * would hold it keeps within the limit — judged by the stored times, so a
   * message that arrives late (another channel lagged) cannot squeeze past
   * (not remembered per id: a sender asking itself before signing).
   */
  spend(sender: string, atMs: number): boolean {
    const limit = this.limitOf(sender);
    if (limit === undefined) return true;
    const times = this.recent.get(sender) ?? [];
    let at = times.length; // where atMs goes in the sorted list
    while (at > 0 && times[at - 1]! > atMs) at--;
    // The windows (s − 60 s, s] that hold atMs end at atMs or at an admitted time less than 60 s after it:
    // each must hold fewer than `limit` admitted acts before this one joins.
    let ok = true;
    let lo = 0;
    let hi = at;
    for (let s = atMs; ok; s = times[hi]!) {
      while (hi < times.length && times[hi]! <= s) hi++; // admitted times ≤ s: [0, hi)
      while (lo < hi && times[lo]! <= s - BUDGET_WINDOW_MS) lo++;
      if (hi - lo >= limit) ok = false;
      if (hi >= times.length || times[hi]! >= atMs + BUDGET_WINDOW_MS) break;
    }
    if (ok) times.splice(at, 0, atMs);
    // Forget what no window can reach any more (two windows behind the newest).
    const horizon = times.length > 0 ? times[times.length - 1]! - 2 * BUDGET_WINDOW_MS : -Infinity;
    while (times.length > 0 && times[0]! <= horizon) times.shift();
    if (times.length > 0) this.recent.set(sender, times);
    return ok;
  }
}

/** Why a verified message is refused for its sender, whoever reads it: killed, or beyond its send budget. */
export type SenderRefusal = "sender_killed" | "over_budget";

/** The error code of each sender refusal. */
export const SENDER_REFUSAL_CODES = {
  sender_killed: "AGORA_ERR_KILLED",
  over_budget: "AGORA_ERR_SEND_BUDGET",
} as const satisfies Record<SenderRefusal, ErrorCode>;

/**
 * A sender's standing, the same for every reader (hosts, SDK inboxes): an
 * external identity (or the bridge) the operator killed is refused, and so is
 * what it sends beyond its budget (`external.<name>.actsPerMinute`).
 */
export class SenderStanding {
  private readonly budget: SendBudget;
  /** The senders a kill stops, looked up once: this runs for every message. */
  private readonly killable: ReadonlySet<string>;

  constructor(
    config: AgoraConfig,
    /** The signed controls: who is killed now, and who was when. */
    private readonly controls: Pick<ControlState, "killed" | "killedAt">,
  ) {
    this.killable = new Set(config.external.map((e) => e.name).filter((n) => senderKillable(config, n)));
    const limits = new Map(config.external.flatMap((e) => (e.actsPerMinute ? [[e.name, e.actsPerMinute]] : [])));
    this.budget = new SendBudget((name) => limits.get(name));
  }

  /** The refusal of `env`, stored at `atMs` (stream time), if it is refused. */
  of(env: Pick<Envelope, "sender" | "id">, atMs: number): SenderRefusal | undefined {
    // Killed now (a backlog queued before the kill is dropped too), or killed when it was stored (a revive
    // does not let through what was sent while killed).
    const { sender } = env;
    if (this.killable.has(sender) && (this.controls.killed(sender) || this.controls.killedAt(sender, atMs)))
      return "sender_killed";
    if (!this.budget.admit(sender, env.id, atMs)) return "over_budget";
    return undefined;
  }
}
