// The controls as pure decisions, with no I/O: whether a verified message is
// delivered to an agent's component, dropped by a control, or rejected (admit),
// and what a call's sends become (stamp) — so each control is unit-tested alone.
// The signature check comes before (trust/verifier.ts); idempotency is the
// processed-marker claim in the commit (commit.ts), the only control needing KV.
import type { Envelope, UnsignedEnvelope } from "../../protocol/envelope.js";
import type { ErrorCode } from "../../protocol/errors.js";
import { emittedId } from "../../protocol/ids.js";
import type { Send } from "../../protocol/records.js";
import type { Verdict } from "../../trust/verifier.js";
import type { SenderRefusal } from "../../trust/budget.js";

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

/**
 * What a call's sends become: envelopes stamped by the host, or dropped because
 * the hop budget is spent — all of them (`hopExhausted` alone), or those
 * answering a message already at hop 0 (`envelopes` and `hopExhausted`).
 */
export type Emission = { envelopes: UnsignedEnvelope[]; hopExhausted?: number } | { hopExhausted: number };

/**
 * Stamp what `agent` sent while handling `parent`: the host sets sender, id
 * (derived from agent, input id and index, so a re-run republishes the same
 * ids), hop = parent.hop − 1, ts and conv. Sent while handling a hop-0 message,
 * everything is dropped. A send answering (`re`) a message whose hop is known
 * (`hopOf`) gets a hop below that one's too — the rule every reader enforces —
 * so a timeout answering proposals that came after the timer was set stays
 * within their budget; one answering a hop-0 message is dropped.
 */
export function stamp(
  agent: string,
  parent: Envelope,
  sends: readonly Send[],
  ts: string,
  /** The agent's seed, which keys the derived ids. */
  idSecret: string,
  /** The hop of a message this host has seen, by id. */
  hopOf: (id: string) => number | undefined = () => undefined,
): Emission {
  if (sends.length === 0) return { envelopes: [] };
  if (parent.hop === 0) return { hopExhausted: sends.length };
  const envelopes: UnsignedEnvelope[] = [];
  let exhausted = 0;
  for (const [i, s] of sends.entries()) {
    const answered = s.re ? hopOf(s.re) : undefined;
    const hop = answered === undefined ? parent.hop - 1 : Math.min(parent.hop - 1, answered - 1);
    if (hop < 0) {
      exhausted++;
      continue;
    }
    envelopes.push({
      v: 1,
      id: emittedId(idSecret, agent, parent.id, i),
      channel: s.channel,
      sender: agent,
      act: s.act,
      body: JSON.parse(s.body) as unknown,
      hop,
      ts,
      ...(s.re ? { re: s.re } : {}),
      conv: parent.conv ?? parent.id,
    });
  }
  if (envelopes.length === 0) return { hopExhausted: exhausted };
  return exhausted > 0 ? { envelopes, hopExhausted: exhausted } : { envelopes };
}
