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
  /**
   * Not started: an earlier call of its batch ended the batch (it failed, or wrote state the host
   * must commit first), or the agent was halted (killed) before it. The host hands it over again.
   */
  notRun?: boolean;
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
      /** Int32 set to 1 by the host while the agent is halted (killed): no call of it starts then. */
      halt: SharedArrayBuffer;
    }
  | {
      /**
       * Calls of one agent, run in order. The batch ends after a call that failed or wrote state or
       * timers (the host commits it before the next call may see it), or once the agent is halted;
       * the calls after that come back `notRun`.
       */
      type: "calls";
      batch: number;
      agent: string;
      calls: Call[];
    }
  | { type: "drop"; agent: string }
  /** The worker's call clock, shared with the pool: [batch running (0: none), when its current call started (ms), that call's index]. */
  | { type: "clock"; clock: SharedArrayBuffer };

export type FromWorker =
  | { type: "loaded"; digest: string; error?: WireError }
  | { type: "spawned"; agent: string; error?: WireError }
  /** One result per call of the batch, in its order. */
  | { type: "results"; batch: number; results: CallResult[] };

/** One call of a batch: `handle(env)` at host time `now`. */
export interface Call {
  env: ComponentEnvelope;
  /** The host's time for this call (timers.now). */
  now: number;
  /** The tag of the timer this call is the timeout of: it no longer waits. */
  timeout?: string;
  /** Which version handles it (an index into the spawn's digests; 0 when absent). */
  version?: number;
}

/** The result of a call its batch did not start (see CallResult.notRun). */
export const NOT_RUN: CallResult = { ok: false, notRun: true, sends: [], state: [], blocked: [], micros: 0 };

/** Whether a batch may go on after this result: the call succeeded and changed nothing the next call sees. */
export function sendsOnly(r: CallResult): boolean {
  return r.ok && r.state.length === 0 && !r.timers;
}

export interface WorkerLimits {
  maxBodyBytes: number;
  maxSendsPerCall: number;
  maxStateKeyBytes: number;
  maxStateValueBytes: number;
  maxTimers: number;
}
