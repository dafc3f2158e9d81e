// Messages between the host thread and the agent worker threads.
import type { Act } from "../../protocol/envelope.js";
import type { Send, StateOp, TimerOp } from "../../protocol/records.js";
import type { WireError } from "../../protocol/errors.js";

export type { Send, StateOp, TimerOp };

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
  /** The agent has no instance at all (its state could not be read, or its current version failed to instantiate): no one version's fault. */
  unplaced?: boolean;
  sends: Send[];
  state: StateOp[];
  /** Timers set or cancelled (absent when none). */
  timers?: TimerOp[];
  /** Channels the component tried to open without a grant. */
  blocked: string[];
  micros: number;
}

export type ToWorker =
  | { type: "load"; digest: string; gluePath: string; modules: Record<string, WebAssembly.Module> }
  | {
      type: "spawn";
      agent: string;
      /** The component of each version: [current] or [current, canary]; they share the agent's state. */
      digests: string[];
      writable: string[];
      state: [string, string][];
      /** Tags of the agent's timers waiting to fire (for limits.maxTimers). */
      timers: string[];
      limits: WorkerLimits;
    }
  | {
      type: "call";
      callId: number;
      agent: string;
      env: ComponentEnvelope;
      /** The host's time for this call (timers.now). */
      now: number;
      /** The tag of the timer this call is the timeout of: it no longer waits. */
      timeout?: string;
      /** Which version handles it (an index into the spawn's digests; 0 when absent). */
      version?: number;
    }
  | { type: "drop"; agent: string }
  /** The worker's call clock, shared with the pool: [id of the call running (0: none), when it started (ms)]. */
  | { type: "clock"; clock: SharedArrayBuffer };

export type FromWorker =
  | { type: "loaded"; digest: string; error?: WireError }
  | { type: "spawned"; agent: string; error?: WireError }
  | { type: "result"; callId: number; result: CallResult };

export interface WorkerLimits {
  maxBodyBytes: number;
  maxSendsPerCall: number;
  maxStateKeyBytes: number;
  maxStateValueBytes: number;
  maxTimers: number;
}
