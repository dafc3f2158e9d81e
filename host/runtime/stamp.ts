// What a call's sends become (stamp): the host stamps identity, ids and hops — pure, unit-tested
// alone. What comes in is decided by trust/admission.ts (shared with the SDK's inbox).
import type { Envelope, UnsignedEnvelope } from "../../protocol/envelope.js";
import { emittedId } from "../../protocol/ids.js";
import type { Send } from "../../protocol/records.js";

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
