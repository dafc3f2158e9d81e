// HostEvent: every decision the host takes, as a discriminated union on `type`.
import type { Act } from "./envelope.js";
import { canonicalize } from "./jcs.js";
import type { ErrorCode } from "./errors.js";

interface Base {
  /** The hosted agent the decision concerns. */
  agent: string;
  /** Stream sequence of the input message. */
  seq: number;
}

export type HostEvent =
  | (Base & { type: "delivered"; channel: string; id: string; sender: string; act: Act; hop: number; /** epoch ms when the call started */ at: number })
  | { type: "emitted"; agent: string; channel: string; id: string; act: Act; hop: number; re?: string }
  | (Base & { type: "rejected"; channel?: string; id?: string; code: ErrorCode; reason: string })
  | (Base & { type: "echo_dropped"; channel: string; id: string })
  | (Base & { type: "hop_exhausted"; channel: string; id: string; dropped: number })
  | (Base & { type: "blocked"; channel: string; id: string; target: string; code: ErrorCode })
  | (Base & { type: "duplicate"; channel: string; id: string })
  | (Base & { type: "failed"; channel: string; id: string; code: ErrorCode; error: string })
  | (Base & { type: "dead_lettered"; channel: string; id: string; code: ErrorCode; attempts: number })
  | { type: "agent_failed"; agent: string; code: ErrorCode; reason: string; restarts: number }
  | { type: "killed"; agent: string; by: string; control: string }
  | { type: "revived"; agent: string; by: string; control: string }
  | { type: "webhook_rejected"; agent: string; code: ErrorCode; reason: string; delivery?: string }
  | { type: "github_failed"; agent: string; code: ErrorCode; status: number; repo: string; issue: number; id: string; channel: string }
  | { type: "agent_started"; agent: string; digest: string; ms: number }
  | { type: "agent_refused"; agent: string; code: ErrorCode; reason: string };

export type HostEventType = HostEvent["type"];

/** Enforcement decisions: published on `agora.ev.<type>` and recorded as facts. */
export const RECORDED_EVENTS: ReadonlySet<HostEventType> = new Set([
  "echo_dropped",
  "hop_exhausted",
  "blocked",
  "duplicate",
  "failed",
  "agent_refused",
  "killed",
  "revived",
  "webhook_rejected",
  "github_failed",
  "dead_lettered",
  "agent_failed",
]);

/** A recorded event on the wire: the event plus host, time and the host's signature. */
export type SignedEvent = HostEvent & { v: 1; host: string; ts: string; sig: string };

/** The bytes a host signs for a recorded event. */
export function eventSigningInput(event: Omit<SignedEvent, "sig"> | SignedEvent): Buffer {
  const { sig: _sig, ...unsigned } = event as SignedEvent;
  return Buffer.from(`agora-event-v1\n${canonicalize(unsigned)}`, "utf8");
}
