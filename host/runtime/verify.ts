// Stage 1 — verify: what a delivered message is. The agent's own published bytes are recognised
// without verifying them again (their echo); a message on the agent's timer subject is a
// host-signed `timer_fired` event, handed to the component as an `inform` from that host answering
// the message that set the timer; anything else goes through the verifier (signature, shape,
// channel, sender's grant).
// The stages of a message on a host: verify → standing → admit → claim → call → commit → report
// (see AgentRuntime.handleBatch and docs/architecture.md §2).
import type { JsMsg } from "@nats-io/jetstream";
import type { Envelope } from "../../protocol/envelope.js";
import type { Verdict, Verifier } from "../../trust/verifier.js";

/** A delivery, verified. `own`: the agent's own echo; `timer`: one of its timers firing. */
export interface Received {
  verdict: Verdict;
  own: boolean;
  timer: boolean;
}

/** The agent a delivery is for, as far as verifying it goes. */
export interface Recipient {
  name: string;
  /** Where its timers fire (a message there is a timeout, not a speech act). */
  timerSubject: string;
  /** The envelope when `data` is exactly one this agent published (its echo). */
  echoOf(data: Uint8Array): Envelope | undefined;
}

export async function verify(m: JsMsg, agent: Recipient, verifier: Verifier): Promise<Received> {
  const own = agent.echoOf(m.data);
  if (own) return { verdict: { ok: true, env: own }, own: true, timer: false };
  if (m.subject === agent.timerSubject) return { verdict: timeout(m, agent.name, verifier), own: false, timer: true };
  return { verdict: await verifier.verify(m.data, m.subject), own: false, timer: false };
}

/** A `timer_fired` event, signed by a host, for `agent`: the timeout it hands to the component. */
function timeout(m: JsMsg, agent: string, verifier: Verifier): Verdict {
  const v = verifier.checkEvent(m.data, m.subject);
  if (!v.ok) return v;
  const e = v.event;
  if (e.type !== "timer_fired" || e.agent !== agent)
    return { ok: false, code: "AGORA_ERR_BAD_ENVELOPE", reason: `not a timer of ${agent}` };
  return {
    ok: true,
    env: {
      v: 1,
      id: e.timer,
      channel: e.channel,
      sender: e.host,
      act: "inform",
      body: { timeout: e.tag, due: e.due, set: e.set },
      hop: e.hop,
      ts: e.ts,
      re: e.set,
      ...(e.conv ? { conv: e.conv } : {}),
      sig: e.sig,
    },
  };
}
