// Host events: every decision a host (or the bridge) takes, as a discriminated
// union on `type`, and EVENTS — the one table from which the recorded set, the
// fact types, the metrics and the console's counters derive. Adding an event
// is one entry in HostEventFields, one row in EVENTS, and its fact type in
// facts/schemas/agora.yaml (a test checks the schema covers every fact type).
import type { Act } from "./envelope.js";
import { canonicalize } from "./jcs.js";
import type { ErrorCode } from "./errors.js";
import { eventSubject } from "./subjects.js";

interface Base {
  /** The hosted agent the decision concerns. */
  agent: string;
  /** Stream sequence of the input message. */
  seq: number;
}

/** The fields of each event, by type. */
export interface HostEventFields {
  delivered: Base & {
    channel: string;
    id: string;
    sender: string;
    act: Act;
    hop: number;
    /** epoch ms when the call started */ at: number;
  };
  emitted: { agent: string; channel: string; id: string; act: Act; hop: number; re?: string };
  rejected: Base & { channel?: string; id?: string; code: ErrorCode; reason: string };
  /**
   * An agent's own message dropped instead of delivered back to it. Recorded once
   * per (agent, channel) and window (host/echo-tally.ts): `seq` and `id` are the
   * window's first, `count` how many, `lastSeq` the last, `window` when it opened.
   */
  echo_dropped: Base & { channel: string; id: string; count?: number; lastSeq?: number; window?: string };
  hop_exhausted: Base & { channel: string; id: string; dropped: number };
  blocked: Base & { channel: string; id: string; target: string; code: ErrorCode };
  duplicate: Base & { channel: string; id: string };
  /** A message from an external identity the operator killed, dropped (`agent`: the reader). */
  sender_killed: Base & { channel: string; id: string; sender: string };
  /** A message beyond its sender's send budget (acts per minute), dropped (`agent`: the reader). */
  over_budget: Base & { channel: string; id: string; sender: string };
  /** An act of a conversation cancelled before it came (`cancel`: the cancel's id), dropped (`agent`: the reader). */
  cancelled_dropped: Base & { channel: string; id: string; sender: string; conv: string; cancel: string };
  failed: Base & { channel: string; id: string; code: ErrorCode; error: string };
  dead_lettered: Base & { channel: string; id: string; code: ErrorCode; attempts: number };
  agent_failed: { agent: string; code: ErrorCode; reason: string; restarts: number };
  killed: { agent: string; by: string; control: string };
  revived: { agent: string; by: string; control: string };
  webhook_rejected: {
    agent: string;
    code: ErrorCode;
    reason: string;
    delivery?: string;
    /** The address it came from. */
    source?: string;
    /** Refusals this one fact stands for (rate limited), when more than one. */
    count?: number;
  };
  github_failed: {
    agent: string;
    code: ErrorCode;
    status: number;
    repo: string;
    issue: number;
    id: string;
    channel: string;
  };
  /**
   * `digest`: sha256:<hex> of the component's bytes; `component`: its path or registry name@version; `started`: when.
   * During a rollout, `canary` (name@version) runs beside it with digest `canaryDigest` and handles
   * `canaryPercent` % of the conversations (protocol/rollout.ts). Events are flat: scalars only.
   */
  agent_started: {
    agent: string;
    digest: string;
    component: string;
    started: string;
    ms: number;
    canary?: string;
    canaryDigest?: string;
    canaryPercent?: number;
  };
  /**
   * A host stopped routing conversations to `agent`'s canary (`component`, `digest`), which failed its rollout:
   * why, and what each version did (`calls`, `failures`, `traps`: the canary's; `currentCalls`,
   * `currentFailures`: the current version's). Every act of the agent after this fact is the current version's.
   */
  canary_rolled_back: {
    agent: string;
    component: string;
    digest: string;
    reason: string;
    at: string;
    calls: number;
    failures: number;
    traps: number;
    currentCalls: number;
    currentFailures: number;
  };
  agent_refused: { agent: string; code: ErrorCode; reason: string };
  /** A record read from KV was not well-formed and was ignored (`agent`: its owner, or the host that read it). */
  record_refused: { agent: string; bucket: string; key: string; code: ErrorCode; reason: string };
  /** A component set a timer while handling message `id` (committed with the call's other effects). */
  timer_set: Base & { channel: string; id: string; tag: string; timer: string; due: number };
  /** A component cancelled its timer `tag` while handling message `id`. */
  timer_cancelled: Base & { id: string; tag: string };
  /**
   * A timer came due: published on the agent's own subject (`agora.ev.timer_fired.<agent>`,
   * Nats-Msg-Id = `timer`), where the agent's consumer delivers it to the component as a timeout.
   */
  timer_fired: {
    agent: string;
    tag: string;
    timer: string;
    due: number;
    /** The message whose handling set it, and its channel, conversation and hop. */
    set: string;
    channel: string;
    conv?: string;
    hop: number;
  };
  /** Failed sign-ins at the gateway from one address in one window (`agent`: the gateway identity). */
  signin_refused: { agent: string; code: ErrorCode; source: string; count: number; window: string };
}

export type HostEventType = keyof HostEventFields;
export type HostEvent = { [T in HostEventType]: { type: T } & HostEventFields[T] }[HostEventType];
/** The event of one type. */
export type HostEventOf<T extends HostEventType> = Extract<HostEvent, { type: T }>;

/** The status a recorded event's fact carries. */
export type FactStatus = "enforced" | "failed" | "rejected";
/** The `control` label of `agora_drops_total`. */
export type DropControl =
  "echo" | "hop" | "blocked" | "duplicate" | "killed" | "held" | "sender_killed" | "budget" | "cancelled";

export interface EventSpec {
  /** Published signed on `agora.ev.<type>` and recorded as a fact of type `fact` with status `status`. */
  fact?: { type: string; status: FactStatus };
  /** Counted by the operator console (the gateway's watch counters). */
  console?: boolean;
  /** Counted in `agora_drops_total{control}` (by `dropped` when the event has it). */
  drop?: DropControl;
  /** The field that makes two events of one (type, agent, seq) distinct (their Nats-Msg-Id). */
  distinctBy?: "target" | "control" | "key" | "window" | "tag" | "started" | "at";
  /** Published on `agora.ev.<type>.<agent>` instead: also a delivery to that agent. */
  perAgent?: true;
}

/** Every event type and what follows from it. */
export const EVENTS = {
  delivered: {},
  emitted: {},
  rejected: { console: true },
  echo_dropped: { fact: { type: "echo-dropped", status: "enforced" }, console: true, drop: "echo" },
  hop_exhausted: { fact: { type: "hop-exhausted", status: "enforced" }, console: true, drop: "hop" },
  blocked: { fact: { type: "blocked", status: "enforced" }, console: true, drop: "blocked", distinctBy: "target" },
  duplicate: { fact: { type: "duplicate", status: "enforced" }, console: true, drop: "duplicate" },
  sender_killed: { fact: { type: "sender-killed", status: "enforced" }, console: true, drop: "sender_killed" },
  over_budget: { fact: { type: "over-budget", status: "enforced" }, console: true, drop: "budget" },
  cancelled_dropped: { fact: { type: "cancelled-dropped", status: "enforced" }, console: true, drop: "cancelled" },
  failed: { fact: { type: "failed", status: "failed" }, console: true },
  agent_refused: { fact: { type: "agent-refused", status: "enforced" }, console: true },
  killed: { fact: { type: "killed", status: "enforced" }, console: true, distinctBy: "control" },
  revived: { fact: { type: "revived", status: "enforced" }, console: true, distinctBy: "control" },
  webhook_rejected: { fact: { type: "webhook-rejected", status: "rejected" } },
  github_failed: { fact: { type: "github-failed", status: "failed" } },
  dead_lettered: { fact: { type: "dead-lettered", status: "failed" } },
  agent_failed: { fact: { type: "agent-failed", status: "failed" } },
  agent_started: { fact: { type: "agent-started", status: "enforced" }, distinctBy: "started" },
  canary_rolled_back: { fact: { type: "canary-rolled-back", status: "enforced" }, console: true, distinctBy: "at" },
  record_refused: { fact: { type: "record-refused", status: "rejected" }, console: true, distinctBy: "key" },
  signin_refused: { fact: { type: "signin-refused", status: "rejected" }, distinctBy: "window" },
  timer_set: { fact: { type: "timer-set", status: "enforced" }, distinctBy: "tag" },
  timer_cancelled: { fact: { type: "timer-cancelled", status: "enforced" }, distinctBy: "tag" },
  timer_fired: { fact: { type: "timer-fired", status: "enforced" }, perAgent: true },
} as const satisfies Record<HostEventType, EventSpec>;

type Table = typeof EVENTS;
/** Event types that are recorded (published on `agora.ev.<type>`, one fact each). */
export type RecordedEventType = { [T in HostEventType]: Table[T] extends { fact: object } ? T : never }[HostEventType];
/** The fact type of each recorded event. */
export type EventFactType = {
  [T in RecordedEventType]: Table[T] extends { fact: { type: infer F } } ? F : never;
}[RecordedEventType];

export const EVENT_TYPES = Object.keys(EVENTS) as HostEventType[];

/** Enforcement decisions: published on `agora.ev.<type>` and recorded as facts. */
export const RECORDED_EVENTS: ReadonlySet<HostEventType> = new Set(EVENT_TYPES.filter((t) => "fact" in EVENTS[t]));

/** The recorded event types' facts, in table order. */
export const EVENT_FACTS: ReadonlyMap<HostEventType, { type: EventFactType; status: FactStatus }> = new Map(
  EVENT_TYPES.flatMap((t) => {
    const spec: EventSpec = EVENTS[t];
    return spec.fact ? [[t, spec.fact as { type: EventFactType; status: FactStatus }]] : [];
  }),
);

/** The event types the console counts. */
export const CONSOLE_EVENTS: readonly HostEventType[] = EVENT_TYPES.filter((t) => (EVENTS[t] as EventSpec).console);

/** A zero count for every event type. */
export function zeroCounts(): Record<HostEventType, number> {
  return Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<HostEventType, number>;
}

/** What makes a recorded event distinct besides (type, agent, seq): part of its Nats-Msg-Id. */
export function eventDistinction(event: HostEvent): string {
  const by = (EVENTS[event.type] as EventSpec).distinctBy;
  return by ? String((event as unknown as Record<string, unknown>)[by] ?? "") : "";
}

/** The subject a recorded event is published on: `agora.ev.<type>`, or `agora.ev.<type>.<agent>` for a per-agent one. */
export function subjectOfEvent(event: Pick<HostEvent, "type" | "agent">): string {
  return eventSubject(event.type, (EVENTS[event.type] as EventSpec).perAgent ? event.agent : undefined);
}

/** A recorded event on the wire: the event plus host, time and the host's signature. */
export type SignedEvent = HostEvent & { v: 1; host: string; ts: string; sig: string };

/** The bytes a host signs for a recorded event. */
export function eventSigningInput(event: Omit<SignedEvent, "sig"> | SignedEvent): Buffer {
  const { sig: _sig, ...unsigned } = event as SignedEvent;
  return Buffer.from(`agora-event-v1\n${canonicalize(unsigned)}`, "utf8");
}
