// Supervision as state, with no I/O: how often an agent may trap before it is
// marked failed, how long it is held after a trap, and how often one message
// may fail before it is dead-lettered.
import { backoffMs } from "../../transport/backoff.js";

export interface SupervisionLimits {
  /** Attempts of a failing message before it is dead-lettered. */
  maxDeliver: number;
  /** Traps allowed within restartWindowMs before the agent is marked failed. */
  maxRestarts: number;
  restartWindowMs: number;
  /** First backoff after a trap (and between attempts of one message), doubled each time. */
  restartBackoffMs: number;
}

/** The longest an agent is held after a trap, or a failing message waits before its next attempt. */
export const MAX_BACKOFF_MS = 30_000;
/** Failing messages whose attempts are remembered (the oldest are forgotten first). */
const MAX_TRACKED = 10_000;

export type TrapOutcome = { failed: true; restarts: number; reason: string } | { failed: false; holdUntil: number };
export type AttemptOutcome =
  { deadLetter: false; attempts: number; retryInMs: number } | { deadLetter: true; attempts: number };

export class Supervision {
  /** Set once the agent trapped too often; cleared by revive(). */
  failed = false;
  /** No call starts before this time (epoch ms): the backoff after a trap. */
  holdUntil = 0;
  private readonly restarts: number[] = [];
  private readonly attempts = new Map<string, number>();

  constructor(private readonly limits: SupervisionLimits) {}

  /** True while no call may start: failed, or backing off after a trap. */
  held(now: number): boolean {
    return this.failed || now < this.holdUntil;
  }

  /** The instance trapped at `now` (code `code`): restart it after a backoff, or give up on the agent. */
  trapped(now: number, code: string): TrapOutcome {
    const { maxRestarts, restartWindowMs, restartBackoffMs } = this.limits;
    this.restarts.push(now);
    while (this.restarts.length > 0 && this.restarts[0]! < now - restartWindowMs) this.restarts.shift();
    if (this.restarts.length > maxRestarts) {
      this.failed = true;
      return {
        failed: true,
        restarts: this.restarts.length,
        reason: `${this.restarts.length} restarts within ${restartWindowMs} ms (last: ${code})`,
      };
    }
    this.holdUntil = now + backoffMs(this.restarts.length - 1, restartBackoffMs, MAX_BACKOFF_MS);
    return { failed: false, holdUntil: this.holdUntil };
  }

  /** A call on message `id` failed: try it again after a backoff, or dead-letter it at maxDeliver attempts. */
  attemptFailed(id: string): AttemptOutcome {
    const attempts = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, attempts);
    if (this.attempts.size > MAX_TRACKED) this.attempts.delete(this.attempts.keys().next().value!);
    if (attempts < this.limits.maxDeliver) {
      return {
        deadLetter: false,
        attempts,
        retryInMs: backoffMs(attempts - 1, this.limits.restartBackoffMs, MAX_BACKOFF_MS),
      };
    }
    return { deadLetter: true, attempts };
  }

  /** Message `id` is dead-lettered (its marker written): forget its attempts. */
  deadLettered(id: string): void {
    this.attempts.delete(id);
  }

  /** Message `id` was handled: forget its failed attempts. */
  succeeded(id: string): void {
    this.attempts.delete(id);
  }

  /** A revive: the agent may run again with a fresh restart budget. */
  revive(): void {
    this.failed = false;
    this.restarts.length = 0;
  }
}
