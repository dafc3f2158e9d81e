// Conversations as the facts show them: every recorded speech act grouped by its
// conversation (`conv`, or its own id when it opened one) and run through the one
// reducer (protocol/conversation.ts). For `agora convs` and the console.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { advance, openConversation, type Conversation } from "../protocol/conversation.js";
import type { Act } from "../protocol/envelope.js";
import { factFiles, readFactsFile } from "./fact-log.js";
import type { Fact } from "./fact.js";

/** One act of a conversation, as its fact has it. */
export interface ConvActFact {
  fact: string;
  seq: number;
  id: string;
  sender: string;
  act: Act;
  channel: string;
  ts: string;
  hop: number;
  re?: string;
  /** accepted, killed (dropped: its sender was killed), cancelled (dropped: after the cancel). */
  status: string;
  body: string;
}

export interface ConversationFacts extends Conversation {
  /** Its acts in stream order (only with `acts`). */
  actList?: ConvActFact[];
}

export interface ConversationQuery {
  /** Only this conversation, with its acts. */
  conv?: string;
  /** Also conversations of a single act that nothing answered (a lone inform). @default false */
  all?: boolean;
  /** The most recently active this many. @default 50 */
  limit?: number;
}

function actOf(f: Fact): ConvActFact | undefined {
  const x = f.fields;
  if (f.type !== "speech-act" || typeof x["envelope-id"] !== "string") return undefined;
  return {
    fact: f.id,
    seq: Number(x.seq),
    id: x["envelope-id"],
    sender: String(x.sender),
    act: String(x.act) as Act,
    channel: String(x.channel),
    ts: String(x.ts),
    hop: Number(x.hop),
    ...(typeof x.re === "string" ? { re: x.re } : {}),
    status: f.status ?? "accepted",
    body: String(x.body ?? "null").slice(0, 2000),
  };
}

/**
 * Conversations from the facts in `dir`, most recently active first. A cancel counts only when the
 * recorder let it take effect (tag `conversation-cancelled`); acts of a killed sender were dropped and do not move it.
 */
export function conversationFacts(dir: string, query: ConversationQuery = {}): ConversationFacts[] {
  const convs = new Map<string, ConversationFacts>();
  for (const file of factFiles(dir)) {
    const text = readFileSync(join(dir, file), "utf8");
    if (query.conv !== undefined && !text.includes(query.conv)) continue;
    for (const f of readFactsFile(text).facts) {
      const a = actOf(f);
      if (!a) continue;
      const conv = typeof f.fields.conv === "string" ? f.fields.conv : a.id;
      if (query.conv !== undefined && conv !== query.conv) continue;
      const c = convs.get(conv);
      if (c) c.actList?.push(a);
      if (a.status === "killed") continue;
      if (a.act === "cancel" && !f.tags?.includes("conversation-cancelled") && a.status !== "cancelled") {
        if (c) c.acts++; // said, but it ended nothing
        continue;
      }
      if (c) advance(c, a);
      else {
        const opened: ConversationFacts = openConversation(conv, a);
        if (query.conv !== undefined) opened.actList = [a];
        convs.set(conv, opened);
      }
    }
  }
  const list = [...convs.values()].filter((c) => query.all || query.conv !== undefined || c.acts + c.dropped > 1);
  list.sort((x, y) => (x.last < y.last ? 1 : x.last > y.last ? -1 : 0));
  return list.slice(0, query.limit ?? 50);
}
