// Watch frames: what /api/watch streams, a discriminated union on `type`.
import type { Envelope } from "../protocol/envelope.js";
import type { ErrorCode } from "../protocol/errors.js";
import type { SignedEvent } from "../protocol/events.js";
import type { AgentStatus } from "../protocol/records.js";

export type { AgentStatus };

export interface AgentView {
  name: string;
  kind: "hosted" | "external";
  status: AgentStatus;
  host?: string;
  since?: string;
  reason?: string;
  read: readonly string[];
  write: readonly string[];
  /** An external identity a kill stops (not the operator's own). */
  killable?: boolean;
}

/** Envelope and event frames replayed from the backlog to a new client carry `replay: true`. */
export type WatchFrame =
  | { type: "hello"; role: string; channels: string[]; agents: AgentView[]; counters: Record<string, number> }
  | { type: "envelope"; seq: number; channel: string; ok: true; envelope: Envelope; replay?: true }
  | {
      type: "envelope";
      seq: number;
      channel: string;
      ok: false;
      code: ErrorCode;
      reason: string;
      envelope?: Envelope;
      replay?: true;
    }
  | { type: "event"; seq: number; event: SignedEvent; replay?: true }
  | { type: "agent"; agent: AgentView }
  | { type: "counters"; counters: Record<string, number> }
  /** Frames the gateway had to drop because this client was too slow. */
  | { type: "dropped"; count: number };
