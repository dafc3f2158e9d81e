// Where a conversation stands, derived from its acts in stream order. One reducer for the
// recorder's view (`agora convs`, the console) and the SDK's: a conversation is every
// message carrying the same `conv` (the id of the message that opened it), plus that opening.
import type { Act } from "./envelope.js";

/**
 * requested → agreed / refused → done / failed / cancelled (a request);
 * cfp → proposals → awarded → done / failed / cancelled (a contract net);
 * proposed → done (a proposal put to a vote or answered);
 * open: a conversation of informs, which no act ends except cancel.
 */
export type ConvState =
  | "open"
  | "requested"
  | "agreed"
  | "cfp"
  | "proposals"
  | "proposed"
  | "awarded"
  | "refused"
  | "done"
  | "failed"
  | "cancelled";

/** States no act but a cancel's refusal leaves. */
export const ENDED: ReadonlySet<ConvState> = new Set(["refused", "done", "failed", "cancelled"]);

/** The acts that ask something of others: a conversation opened by one is `requested`. */
const ASKS: ReadonlySet<Act> = new Set([
  "request",
  "request-when",
  "request-whenever",
  "query-if",
  "query-ref",
  "subscribe",
  "propagate",
  "proxy",
]);
const ANSWERS: ReadonlySet<Act> = new Set(["inform", "inform-if", "inform-ref", "confirm", "disconfirm"]);

/** One act of a conversation as the reducer needs it. */
export interface ConvAct {
  id: string;
  sender: string;
  act: Act;
  channel: string;
  ts: string;
  re?: string;
}

export interface Conversation {
  /** The conversation id: the id of the message that opened it. */
  conv: string;
  state: ConvState;
  /** Who opened it (the sender of its first act seen), and may cancel it with the operator. */
  initiator: string;
  opened: string;
  last: string;
  acts: number;
  /** Acts that came after it was cancelled (dropped by every reader; recorded). */
  dropped: number;
  participants: string[];
  channels: string[];
  /** The id of the cancel that ended it, when one did. */
  cancelledBy?: string;
}

/** A conversation's first act. */
export function openConversation(conv: string, first: ConvAct): Conversation {
  const c: Conversation = {
    conv,
    state: "open",
    initiator: first.sender,
    opened: first.ts,
    last: first.ts,
    acts: 0,
    dropped: 0,
    participants: [],
    channels: [],
  };
  return advance(c, first);
}

/** Whether `sender` may cancel `c`: its initiator, or an operator (`controllers`). */
export function mayCancel(c: Pick<Conversation, "initiator">, sender: string, controllers: readonly string[]): boolean {
  return sender === c.initiator || controllers.includes(sender);
}

/**
 * The conversation after `a` (mutated in place and returned). A cancel must be checked
 * with mayCancel first; once cancelled, further acts count as dropped.
 */
export function advance(c: Conversation, a: ConvAct): Conversation {
  if (c.state === "cancelled") {
    c.dropped++;
    return c;
  }
  c.acts++;
  c.last = a.ts;
  if (!c.participants.includes(a.sender)) c.participants.push(a.sender);
  if (!c.channels.includes(a.channel)) c.channels.push(a.channel);
  c.state = next(c.state, a.act, c.acts === 1);
  if (c.state === "cancelled") c.cancelledBy = a.id;
  return c;
}

function next(s: ConvState, act: Act, first: boolean): ConvState {
  if (act === "cancel") return "cancelled";
  if (ENDED.has(s)) return s;
  if (first) {
    if (ASKS.has(act)) return "requested";
    if (act === "cfp") return "cfp";
    if (act === "propose") return "proposed";
    return "open";
  }
  switch (act) {
    case "cfp":
      return "cfp";
    case "propose":
      return s === "cfp" || s === "proposals" ? "proposals" : s;
    case "accept-proposal":
      return "awarded";
    case "agree":
      return s === "requested" ? "agreed" : s;
    case "refuse":
      // A bidder declining a call, or a voter voting no, does not end it; a refused request does.
      return s === "requested" || s === "agreed" ? "refused" : s;
    case "failure":
      return s === "open" ? s : "failed";
    case "not-understood":
      return s === "requested" ? "failed" : s;
    default:
      return ANSWERS.has(act) && s !== "open" && s !== "cfp" && s !== "proposals" ? "done" : s;
  }
}
