// SendBudget: a per-identity send budget (acts per minute), decided the same
// way by every reader. Time is the message's stream timestamp (set by the
// server, not the sender), and the decision for a message id is kept, so a
// redelivery — or a second agent reading the same message — gets the same
// answer and is not counted twice.

import { senderKillable, type AgoraConfig } from "../config/config.js";
import type { Envelope } from "../protocol/envelope.js";
import type { ErrorCode } from "../protocol/errors.js";

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

  /** Whether `id` from `sender`, stored at `atMs`, is within its sender's budget. */
  admit(sender: string, id: string, atMs: number): boolean {
    const known = this.decided.get(`${sender}/${id}`);
    if (known !== undefined) return known;
    const limit = this.limitOf(sender);
    let ok = true;
    if (limit !== undefined) {
      const times = this.recent.get(sender) ?? [];
      while (times.length > 0 && times[0]! <= atMs - BUDGET_WINDOW_MS) times.shift();
      ok = times.length < limit;
      if (ok) {
        // Kept in time order even when messages of several channels arrive out of order.
        let i = times.length;
        while (i > 0 && times[i - 1]! > atMs) i--;
        times.splice(i, 0, atMs);
      }
      this.recent.set(sender, times);
    }
    this.decided.set(`${sender}/${id}`, ok);
    if (this.decided.size > REMEMBERED) this.decided.delete(this.decided.keys().next().value!);
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

  constructor(
    private readonly config: AgoraConfig,
    /** Whether the control plane has `name` killed now. */
    private readonly killed: (name: string) => boolean,
  ) {
    this.budget = new SendBudget((name) => config.external.find((e) => e.name === name)?.actsPerMinute);
  }

  /** The refusal of `env`, stored at `atMs` (stream time), if it is refused. */
  of(env: Pick<Envelope, "sender" | "id">, atMs: number): SenderRefusal | undefined {
    if (senderKillable(this.config, env.sender) && this.killed(env.sender)) return "sender_killed";
    if (!this.budget.admit(env.sender, env.id, atMs)) return "over_budget";
    return undefined;
  }
}
