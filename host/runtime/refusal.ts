// Stage 3 — admit: the decision is trust/admission.ts's (shared with the SDK's inbox); what a host
// does with a message it does not deliver is here. Rejected and refused ones are reported and
// acknowledged (a genuine one marked with its code, for its trace); the agent's own echo is
// acknowledged; one the agent cannot take now (handed over, killed, held) is handed back.
import type { JsMsg } from "@nats-io/jetstream";
import type { HostEvent } from "../../protocol/events.js";
import type { CancelRecord } from "../../protocol/records.js";
import type { Admission } from "../../trust/admission.js";
import { SENDER_REFUSAL_CODES } from "../../trust/budget.js";
import { REFUSED_MARKER } from "../../protocol/subjects.js";
import type { Commits } from "./commit.js";

/** What acting on a refusal needs of the runtime. */
export interface RefusalContext {
  agent: string;
  commits: Pick<Commits, "refuse" | "unclaim">;
  report(event: HostEvent): Promise<void>;
  /** Counts the drops handed back for later (killed, held). */
  dropped(control: string): void;
}

export async function refuse(
  m: JsMsg,
  admission: Exclude<Admission, { decision: "deliver" }>,
  /** `genuine`: it passed verification; `cancel`: what cancelled its conversation; `claimed`: this host claimed it (its marker may hold its sequence). */
  about: { genuine: boolean; cancel?: CancelRecord; claimed: boolean },
  ctx: RefusalContext,
): Promise<void> {
  const { agent, commits } = ctx;
  const seq = m.seq;
  // Refused for good: its marker says so — over its own claim (this sequence) only, never another copy's.
  const mark = (id: string, code: string) =>
    about.claimed ? commits.unclaim(id, seq, `${REFUSED_MARKER}${code}`) : commits.refuse(id, code);
  if (admission.decision === "reject") {
    // Recorded once by the facts recorder from the stream; here only counted.
    const env = admission.env;
    await ctx.report({
      type: "rejected",
      agent,
      seq,
      channel: env?.channel,
      id: env?.id,
      code: admission.code,
      reason: admission.reason,
    });
    // A genuine message refused (too old) leaves its mark for delivery status. Never one that failed
    // verification: a forgery carrying a real message's id must not pre-claim that id.
    if (about.genuine && env) await mark(env.id, admission.code);
    m.ack();
    return;
  }
  const env = admission.env;
  const base = { agent, seq, channel: env.channel, id: env.id };
  switch (admission.control) {
    case "echo":
      await ctx.report({ type: "echo_dropped", ...base });
      m.ack();
      return;
    case "sender_killed":
    case "over_budget":
      // Refused for good, recorded, and marked so its trace says why.
      await ctx.report({ type: admission.control, ...base, sender: env.sender });
      await mark(env.id, SENDER_REFUSAL_CODES[admission.control]);
      m.ack();
      return;
    case "cancelled":
      // admit drops as cancelled only when there is a cancel.
      await ctx.report({
        type: "cancelled_dropped",
        ...base,
        sender: env.sender,
        conv: about.cancel!.conv,
        cancel: about.cancel!.id,
      });
      await mark(env.id, "AGORA_ERR_CANCELLED");
      m.ack();
      return;
    default:
      // Not now: its marker must not say handled meanwhile.
      if (about.claimed) await commits.unclaim(env.id, seq);
      if (admission.control === "handover")
        m.nak(); // the agent's next host takes it at once
      else {
        ctx.dropped(admission.control);
        m.nak(250);
      }
  }
}
