// Admission, as pure decisions shared by every reader that hands messages to an agent — a host's
// runtime and the SDK's inbox: the sender's standing (killed, over budget, a cancelled
// conversation) and whether a verified message is delivered, dropped by a control, or rejected.
// The signature check comes before (verifier.ts); idempotency after, by each reader's processed
// marker. No I/O, so each control is unit-tested alone.
import type { Envelope } from "../protocol/envelope.js";
import type { ErrorCode } from "../protocol/errors.js";
import type { CancelRecord } from "../protocol/records.js";
import type { Verdict } from "./verifier.js";
import type { SenderRefusal } from "./budget.js";

/** Where the sender stands when its message is read: refused for good (killed, over budget), its conversation cancelled. */
export interface Standing {
  sender?: SenderRefusal;
  /** The cancel that ended the message's conversation before the stream stored it. */
  cancel?: CancelRecord;
}

/** What decides a sender's standing (the reader's views of controls, budgets and cancels). */
export interface StandingJudges {
  /** The sender's standing for a message stored at `atMs` (stream time), or undefined when fine. */
  senderRefusal(env: Envelope, atMs: number): SenderRefusal | undefined;
  /** The cancel that ended `env`'s conversation before the stream stored it (at `seq`), if one did. */
  cancelOf(env: Envelope, seq: number): CancelRecord | undefined;
}

/**
 * The standing of a verified message for `agent`, stored at stream sequence `seq` and time `atMs`.
 * `exempt`: messages whose sender is never judged (the agent's own, a host's timer).
 */
export function standing(
  verdict: Verdict,
  at: { agent: string; seq: number; atMs: number; exempt?: boolean },
  judges: StandingJudges,
): Standing {
  if (!verdict.ok) return {};
  const env = verdict.env;
  const sender = at.exempt || env.sender === at.agent ? undefined : judges.senderRefusal(env, at.atMs);
  const cancel = judges.cancelOf(env, at.seq);
  return { ...(sender ? { sender } : {}), ...(cancel ? { cancel } : {}) };
}

export interface AdmitContext {
  /** The hosted agent the message is for. */
  agent: string;
  /** Current time, epoch ms. */
  now: number;
  /** Envelopes older than this are refused: their processed marker may have expired. */
  maxMessageAgeMs: number;
  /** The agent is leaving this host, or the host may no longer hold its lease. */
  leaving: boolean;
  /** The control plane killed the agent. */
  killed: boolean;
  /** The agent is failed, or backing off after a trap. */
  held: boolean;
  /** The sender's own standing: killed by the operator, or over its send budget (see SenderRefusal). */
  sender?: SenderRefusal;
  /** Its conversation was cancelled before it came. */
  cancelled?: boolean;
}

/** What happens to a message: handed to the component, dropped by a control, or rejected with a code. */
export type Admission =
  | { decision: "deliver"; env: Envelope }
  | { decision: "drop"; control: DropReason; env: Envelope }
  | { decision: "reject"; code: ErrorCode; reason: string; env?: Envelope };

/**
 * Why a verified message is not delivered now: the agent's own message (`echo`,
 * acknowledged and recorded), or — handed back for later — the agent is moving
 * to another host (`handover`), killed, or held after a trap — or, for good,
 * refused for its sender (killed, over budget: acknowledged and recorded).
 */
export type DropReason = "echo" | "handover" | "killed" | "held" | "cancelled" | SenderRefusal;

/**
 * Decide one message. Order: the verifier's verdict (signature, shape, channel,
 * grant), self-echo, age, then — last, so nothing starts once it is set — the
 * agent leaving; the sender's standing (refused for good, even while the
 * agent itself is killed or held: a revive of both must not let a killed
 * sender's flood through); a cancelled conversation (for good, too); the
 * kill switch and supervision's hold.
 */
export function admit(verdict: Verdict, ctx: AdmitContext): Admission {
  if (!verdict.ok) return { decision: "reject", code: verdict.code, reason: verdict.reason, env: verdict.env };
  const env = verdict.env;
  if (env.sender === ctx.agent) return { decision: "drop", control: "echo", env };
  if (ctx.now - Date.parse(env.ts) > ctx.maxMessageAgeMs) {
    return {
      decision: "reject",
      code: "AGORA_ERR_TIMESTAMP",
      reason: `older than limits.maxMessageAge (${ctx.maxMessageAgeMs} ms)`,
      env,
    };
  }
  if (ctx.leaving) return { decision: "drop", control: "handover", env };
  if (ctx.sender) return { decision: "drop", control: ctx.sender, env };
  if (ctx.cancelled) return { decision: "drop", control: "cancelled", env };
  if (ctx.killed) return { decision: "drop", control: "killed", env };
  if (ctx.held) return { decision: "drop", control: "held", env };
  return { decision: "deliver", env };
}
