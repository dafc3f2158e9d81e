// Delivery status of one message: for each agent that may read its channel,
// whether it was handled, is being handled, was dropped (echo, hop, duplicate,
// blocked), failed, was dead-lettered or rejected, or is still pending — and
// by which fact. Facts come from a facts directory when there is one
// (facts/trace.ts); processed markers (hosted and external agents write them)
// are the source otherwise.
import type { AgoraConfig } from "../config/config.js";
import { consumerName, markerKey, REFUSED_MARKER, STREAM } from "../protocol/subjects.js";
import type { Infrastructure } from "./infrastructure.js";

/** What a fact is made of, as far as a trace reads it. */
export interface TraceFact {
  id: string;
  type: string;
  tags: string[];
  fields: Record<string, string | number>;
}

export type DeliveryStatus = "handled" | "handling" | "dropped" | "failed" | "dead-lettered" | "rejected" | "pending";

export interface RecipientStatus {
  agent: string;
  kind: "hosted" | "external";
  status: DeliveryStatus;
  /** Why it was dropped, failed or rejected (a fact type or an error code). */
  reason?: string;
  /** The facts about this message and this agent (decisions, dead letters). */
  facts: string[];
  /** Its answers: [envelope id, fact id]. */
  replies: [string, string][];
}

export interface Trace {
  id: string;
  channel?: string;
  sender?: string;
  act?: string;
  seq?: number;
  /** The message's own fact: a speech act, or the recorder's refusal. */
  fact?: string;
  /** Set when the message failed verification (nobody received it). */
  rejected?: { code: string; fact: string };
  recipients: RecipientStatus[];
}

/** Decisions that dropped the message itself (hop-exhausted and blocked concern what its handling emitted). */
const DROPS = new Set(["echo-dropped", "duplicate", "sender-killed", "over-budget"]);

/** The error code a decision's fact carries (in its event), if any. */
function codeOf(f: TraceFact): string | undefined {
  if (f.fields.code !== undefined) return String(f.fields.code);
  try {
    return (JSON.parse(String(f.fields.event ?? "{}")) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

/**
 * Whether a hosted agent's claim (`marker`: the stream sequence it claimed) is finished: a host
 * claims a message before its call and acknowledges it only once its effects are published and
 * written, so "handled" waits for the consumer's ack floor to pass that sequence (conservative: an
 * earlier message still pending holds it back). Unknown (the consumer cannot be read, as an
 * external identity may not): the marker's word.
 */
async function acknowledged(infra: Infrastructure, agent: string, channel: string, marker: string): Promise<boolean> {
  if (!/^\d+$/.test(marker)) return true; // done:<seq>, or a marker of before claims held a sequence
  try {
    const info = await infra.jsm.consumers.info(STREAM, consumerName(agent, channel));
    return info.ack_floor.stream_seq >= Number(marker);
  } catch {
    return true;
  }
}

/**
 * Where `id` stands for each agent that may read its channel. `facts` (from
 * traceFacts) add the message itself and the decisions; without them, `channel`
 * must be given and the processed markers tell handled, handling and dead-lettered.
 */
export async function traceMessage(
  config: AgoraConfig,
  infra: Infrastructure,
  id: string,
  options: { facts?: TraceFact[]; channel?: string; sender?: string } = {},
): Promise<Trace> {
  const facts = options.facts ?? [];
  const own = facts.find((f) => f.fields["envelope-id"] === id && (f.type === "speech-act" || f.type === "rejected"));
  const trace: Trace = { id, recipients: [] };
  if (own) {
    trace.fact = own.id;
    trace.seq = Number(own.fields.seq);
    if (own.type === "rejected") {
      trace.rejected = { code: codeOf(own) ?? "rejected", fact: own.id };
    } else {
      trace.channel = String(own.fields.channel);
      trace.sender = String(own.fields.sender);
      trace.act = String(own.fields.act);
    }
  }
  trace.channel ??= options.channel;
  trace.sender ??= options.sender;
  if (!trace.channel) return trace;
  const channel = trace.channel;
  const readers = [
    ...config.agents.filter((a) => a.read.includes(channel)).map((a) => ({ agent: a.name, kind: "hosted" as const })),
    ...config.external
      .filter((e) => e.read.includes(channel))
      .map((e) => ({ agent: e.name, kind: "external" as const })),
  ].filter((r) => r.agent !== trace.sender);
  for (const { agent, kind } of readers) {
    const mine = facts.filter(
      (f) => f.fields.agent === agent && f.fields["envelope-id"] === id && f.type !== "speech-act",
    );
    const replies = facts
      .filter((f) => f.type === "speech-act" && f.fields.re === id && f.fields.sender === agent)
      .map((f): [string, string] => [String(f.fields["envelope-id"]), f.id]);
    const r: RecipientStatus = { agent, kind, status: "pending", facts: mine.map((f) => f.id), replies };
    const marker = await infra.processed.get(markerKey(agent, id)).catch(() => null);
    const value = marker?.operation === "PUT" ? marker.string() : undefined;
    const decided = mine.filter((f) => DROPS.has(f.type) || f.type === "failed" || f.type === "dead-lettered").at(-1);
    if (trace.rejected) Object.assign(r, { status: "rejected", reason: trace.rejected.code });
    else if (value?.startsWith(REFUSED_MARKER))
      Object.assign(r, { status: "rejected", reason: value.slice(REFUSED_MARKER.length) });
    else if (value?.startsWith("dlq:") || decided?.type === "dead-lettered")
      Object.assign(r, { status: "dead-lettered", reason: decided && codeOf(decided) });
    // An attempt that failed leaves its marker "inflight" while it is retried: the failure says more.
    else if (decided?.type === "failed" && (value === undefined || value === "inflight"))
      Object.assign(r, { status: "failed", reason: codeOf(decided) });
    else if (value === "inflight") r.status = "handling";
    else if (value !== undefined)
      r.status = kind === "hosted" && !(await acknowledged(infra, agent, channel, value)) ? "handling" : "handled";
    else if (decided && DROPS.has(decided.type)) Object.assign(r, { status: "dropped", reason: decided.type });
    if (r.reason === undefined) delete r.reason;
    trace.recipients.push(r);
  }
  return trace;
}
