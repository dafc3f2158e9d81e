// Messages between the host thread and the agent worker threads.
import type { Act } from "../../protocol/envelope.js";
import type { Send, StateOp } from "../../protocol/records.js";
import type { WireError } from "../../protocol/errors.js";

export type { Send, StateOp };

/** What a component sees of a delivered envelope (body as JSON text). */
export interface ComponentEnvelope {
  v: number;
  id: string;
  channel: string;
  sender: string;
  act: Act;
  body: string;
  hop: number;
  ts: string;
  re: string | null;
  conv: string | null;
  sig: string;
}

/** The effects of one `handle` call, committed by the host only when `ok`. */
export interface CallResult {
  ok: boolean;
  /** Why the call failed; crosses the thread boundary as `{ code, message }`. */
  error?: WireError;
  trapped?: boolean;
  /** Not this agent's fault (its worker was restarted for another agent): try again. */
  retry?: boolean;
  sends: Send[];
  state: StateOp[];
  /** Channels the component tried to open without a grant. */
  blocked: string[];
  micros: number;
}

export type ToWorker =
  | { type: "load"; digest: string; gluePath: string; modules: Record<string, WebAssembly.Module> }
  | {
      type: "spawn";
      agent: string;
      digest: string;
      writable: string[];
      state: [string, string][];
      limits: WorkerLimits;
    }
  | { type: "call"; callId: number; agent: string; env: ComponentEnvelope }
  | { type: "drop"; agent: string };

export type FromWorker =
  | { type: "loaded"; digest: string; error?: WireError }
  | { type: "spawned"; agent: string; error?: WireError }
  | { type: "started"; callId: number }
  | { type: "result"; callId: number; result: CallResult };

export interface WorkerLimits {
  maxBodyBytes: number;
  maxSendsPerCall: number;
  maxStateKeyBytes: number;
  maxStateValueBytes: number;
}
